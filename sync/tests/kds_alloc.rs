//! The grant path does not allocate: release, cancel and the grants they cause (including
//! queueing a callback) use capacity reserved at enqueue, and a steady enqueue/release cycle
//! reuses its slot's memory. Counted with a per-thread counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dmasync_sync::kds::{CancelOutcome, Completion, KdsDomain, Sharing};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and frees made by this thread while running `f`.
fn heap_ops<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    (r, ALLOCS.with(Cell::get) - before)
}

#[test]
fn release_and_the_grants_it_causes_do_not_touch_the_heap() {
    let d = KdsDomain::new();
    let rs: Vec<_> = (0..4).map(|_| d.new_resource().unwrap()).collect();
    let list: Vec<_> = rs.iter().map(|&r| (r, Sharing::Exclusive)).collect();
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    // The one heap operation allowed below is freeing the callback's box after it ran (its
    // capture, an Arc clone, is only decremented: the test still holds `fired`).
    let holder = d.enqueue(&list, Completion::None).unwrap();
    let waiter = d
        .enqueue(
            &list,
            Completion::direct(move |_| {
                f.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    let (r, ops) = heap_ops(|| holder.release());
    r.unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert!(waiter.is_granted());
    assert!(
        ops <= 1,
        "release + grant + callback: {ops} heap operations (1 = the callback box)"
    );
    let (outcome, ops) = heap_ops(|| waiter.cancel());
    assert_eq!(outcome, CancelOutcome::Released { callback_ran: true });
    assert_eq!(ops, 0, "cancel of a granted request");
}

#[test]
fn a_steady_enqueue_release_cycle_does_not_touch_the_heap() {
    let d = KdsDomain::new();
    let rs: Vec<_> = (0..16).map(|_| d.new_resource().unwrap()).collect();
    let list: Vec<_> = rs
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            (
                r,
                if i % 3 == 0 {
                    Sharing::Exclusive
                } else {
                    Sharing::Shared
                },
            )
        })
        .collect();
    // Warm up: slots, queue capacity and run queues reach their steady size.
    for _ in 0..3 {
        let a = d.enqueue(&list, Completion::None).unwrap();
        let b = d.enqueue(&list, Completion::None).unwrap();
        a.release().unwrap();
        b.release().unwrap();
    }
    let ((), ops) = heap_ops(|| {
        for _ in 0..100 {
            let a = d.enqueue(&list, Completion::None).unwrap();
            let b = d.enqueue(&list, Completion::None).unwrap();
            assert!(a.is_granted() && !b.is_granted());
            a.release().unwrap();
            assert!(b.is_granted());
            assert_eq!(
                b.cancel(),
                CancelOutcome::Released {
                    callback_ran: false
                }
            );
        }
    });
    assert_eq!(ops, 0);
}
