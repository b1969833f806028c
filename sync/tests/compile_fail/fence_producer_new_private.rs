// A context is a capability: nothing public makes a producer from another's context, so a
// "later" fence on someone else's timeline (which a reservation object would let replace
// the pending one) cannot be forged.
use dmasync_sync::fence::Timeline;
use dmasync_sync::FenceProducer;

fn main() {
    let holder = Timeline::new();
    let victim = holder.next_fence().fence();
    let forged = FenceProducer::new(victim.context(), victim.seqno() + 1);
    forged.signal();
}
