// There is exactly one producer per fence.
use dmasync_sync::fence::FenceContext;
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::new(FenceContext::new(), 1);
    let q = p.clone();
    q.signal();
}
