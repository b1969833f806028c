// A point found in a chain is a waiter's handle: it cannot signal the chain, nor the fence
// the point was added with.
use dmasync_sync::fence::FenceChain;
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::one_off();
    let mut chain = FenceChain::new();
    chain.add(&p.fence(), 1);
    let point = chain.find_seqno(1).unwrap();
    point.signal();
}
