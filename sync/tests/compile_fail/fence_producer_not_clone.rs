// There is exactly one producer per fence.
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::one_off();
    let q = p.clone();
    q.signal();
}
