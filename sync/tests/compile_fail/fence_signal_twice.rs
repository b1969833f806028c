// Signalling consumes the producer: a fence cannot be signalled twice.
use dmasync_sync::fence::FenceContext;
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::new(FenceContext::new(), 1);
    p.signal();
    p.signal();
}
