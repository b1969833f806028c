// A chain cannot be made to continue from someone else's node: its head is private, and
// `FenceChain::add` is the only way to make nodes (always after its own head).
use dmasync_sync::fence::FenceChain;
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::one_off();
    let mut alice = FenceChain::new();
    let head = alice.add(&p.fence(), 1);
    let _mallory = FenceChain { head: Some(head) };
}
