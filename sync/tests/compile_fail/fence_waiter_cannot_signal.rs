// The shareable `Fence` handle has no way to signal: only the producer does.
use dmasync_sync::fence::FenceContext;
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::new(FenceContext::new(), 1);
    let f = p.fence();
    f.signal();
}
