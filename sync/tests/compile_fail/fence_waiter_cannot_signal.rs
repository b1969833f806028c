// The shareable `Fence` handle has no way to signal: only the producer does.
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::one_off();
    let f = p.fence();
    f.signal();
}
