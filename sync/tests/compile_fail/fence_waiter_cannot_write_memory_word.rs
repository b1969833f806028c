// A waiter learns where a memory-backed fence's word is (to program a device that polls
// it), but cannot write it: a store reaching the seqno would complete a fence it does not own.
use core::sync::atomic::{AtomicU32, Ordering};
use dmasync_sync::fence::MemTimeline;

static WORD: AtomicU32 = AtomicU32::new(0);

fn main() {
    let owner = MemTimeline::new(&WORD);
    let p = owner.next_fence();
    let waiter = p.fence();
    let (word, value) = waiter.memory_wait().unwrap();
    word.store(value, Ordering::Release);
    assert!(waiter.is_signalled());
}
