// The shareable `Fence` handle has no way to signal: only the producer does.
use dmasync::fence::FenceContext;
use dmasync::platform::StdPlatform;
use dmasync::FenceProducer;

fn main() {
    let p = FenceProducer::<StdPlatform>::new(FenceContext::new(), 1);
    let f = p.fence();
    f.signal();
}
