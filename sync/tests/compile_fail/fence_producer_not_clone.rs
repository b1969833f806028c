// There is exactly one producer per fence.
use dmasync::fence::FenceContext;
use dmasync::platform::StdPlatform;
use dmasync::FenceProducer;

fn main() {
    let p = FenceProducer::<StdPlatform>::new(FenceContext::new(), 1);
    let q = p.clone();
    q.signal();
}
