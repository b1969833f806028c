// Signalling consumes the producer: a fence cannot be signalled twice.
use dmasync::fence::FenceContext;
use dmasync::platform::StdPlatform;
use dmasync::FenceProducer;

fn main() {
    let p = FenceProducer::<StdPlatform>::new(FenceContext::new(), 1);
    p.signal();
    p.signal();
}
