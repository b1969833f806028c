//! The signal path does not touch the heap: signalling a fence, running its callbacks (user
//! callbacks, aggregates, nested aggregates and callbacks that signal further producers),
//! and waiting on or polling an already-signalled fence neither allocate nor free (a free
//! under a locking allocator is as IRQ-unsafe as an allocation). An aggregate's bookkeeping
//! belongs to its output fence and is freed when its last handle drops, not by the last
//! child's signal. Counted with a per-thread counting global allocator (this test binary
//! only).
#![cfg(not(loom))]
#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dmasync_sync::fence::{FenceCallback, Timeline, all_of, any_of};
use dmasync_sync::{FenceError, FenceProducer};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static FREES: Cell<usize> = const { Cell::new(0) };
}

// Everything but the allocator shim is safe code (`deny(unsafe_code)`; `forbid` could not be
// lifted for the `unsafe impl GlobalAlloc` this module needs).
#[allow(unsafe_code)]
mod shim {
    use super::*;

    // SAFETY: forwards every call unchanged to the system allocator; only counts.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCS.with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as our caller's.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            FREES.with(|c| c.set(c.get() + 1));
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap operations made by this thread while running `f`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ops {
    allocs: usize,
    frees: usize,
}

const NONE: Ops = Ops {
    allocs: 0,
    frees: 0,
};

fn heap_ops<R>(f: impl FnOnce() -> R) -> (R, Ops) {
    let (a, d) = (ALLOCS.with(Cell::get), FREES.with(Cell::get));
    let r = f();
    let ops = Ops {
        allocs: ALLOCS.with(Cell::get) - a,
        frees: FREES.with(Cell::get) - d,
    };
    (r, ops)
}

fn producer(t: &Timeline) -> FenceProducer {
    t.next_fence()
}

#[test]
fn signal_with_callbacks_allocates_nothing() {
    let t = Timeline::new();
    let p = producer(&t);
    let f = p.fence();
    let hits = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (hits.clone(), hits.clone());
    let mut a = pin!(FenceCallback::new(move |r| {
        assert_eq!(r, Ok(()));
        h1.fetch_add(1, Ordering::Relaxed);
    }));
    let mut b = pin!(FenceCallback::new(move |r| {
        assert_eq!(r, Ok(()));
        h2.fetch_add(10, Ordering::Relaxed);
    }));
    f.add_callback(a.as_mut()).unwrap();
    f.add_callback(b.as_mut()).unwrap();
    let ((), ops) = heap_ops(|| p.signal());
    assert_eq!(hits.load(Ordering::Relaxed), 11, "both callbacks ran");
    assert_eq!(ops, NONE, "signal + 2 callbacks");
}

#[test]
fn error_signal_allocates_nothing() {
    let t = Timeline::new();
    let p = producer(&t);
    let f = p.fence();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let mut cb = pin!(FenceCallback::new(move |r| {
        assert_eq!(r, Err(FenceError::DeviceError(7)));
        s.fetch_add(1, Ordering::Relaxed);
    }));
    f.add_callback(cb.as_mut()).unwrap();
    let ((), ops) = heap_ops(|| p.signal_error(FenceError::DeviceError(7)));
    assert_eq!(seen.load(Ordering::Relaxed), 1);
    assert_eq!(ops, NONE, "error signal + callback");
}

#[test]
fn aggregates_signal_without_allocating() {
    let t = Timeline::new();
    let ps: Vec<FenceProducer> = (0..4).map(|_| producer(&t)).collect();
    let fs: Vec<_> = ps.iter().map(FenceProducer::fence).collect();
    let all = all_of(&fs);
    let any = any_of(&fs[2..]);
    let outer = all_of([&all, &any]);
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let mut cb = pin!(FenceCallback::new(move |r| {
        assert_eq!(r, Err(FenceError::Cancelled));
        s.fetch_add(1, Ordering::Relaxed);
    }));
    outer.add_callback(cb.as_mut()).unwrap();
    let mut ps: Vec<Option<FenceProducer>> = ps.into_iter().map(Some).collect();
    let p0 = ps[0].take().unwrap();
    let ((), ops) = heap_ops(|| p0.signal_error(FenceError::Cancelled));
    assert_eq!(ops, NONE, "first child of all_of");
    let ((), ops) = heap_ops(|| {
        for p in ps.iter_mut() {
            if let Some(p) = p.take() {
                p.signal();
            }
        }
    });
    // The last child of each aggregate drops its registration's reference to the output
    // fence, but the handles kept here own the bookkeeping: nothing is freed.
    assert_eq!(ops, NONE, "remaining children, any_of, outer all_of");
    assert!(all.is_signalled() && any.is_signalled() && outer.is_signalled());
    assert_eq!(outer.status().result(), Some(Err(FenceError::Cancelled)));
    assert_eq!(seen.load(Ordering::Relaxed), 1);
    // An aggregate holds its children (for `children()`, unwrap and deadlines), and the
    // callback queued on `outer` holds `outer`: dropping our `any` handle frees nothing.
    let ((), ops) = heap_ops(|| drop(any));
    assert_eq!(ops, NONE, "`outer` still holds the any_of");
    // The bookkeeping is freed with the last handle (fence, bookkeeping, node array) once
    // every registration has run: an any_of over signalled children is ours alone.
    let lone = any_of(&fs[2..]);
    let ((), ops) = heap_ops(|| drop(lone));
    assert_eq!(ops.allocs, 0);
    assert_eq!(
        ops.frees, 3,
        "the any_of's last handle frees its bookkeeping"
    );
}

/// Depth of the nestings below (Miri is slow; the path is the same at any depth).
const DEPTH: usize = if cfg!(miri) { 20 } else { 1_000 };

#[test]
fn deep_nesting_signals_without_allocating() {
    let t = Timeline::new();
    let p = producer(&t);
    let mut levels = vec![p.fence()];
    for i in 0..DEPTH {
        let next = all_of([&levels[i]]);
        levels.push(next);
    }
    let ((), ops) = heap_ops(|| p.signal());
    assert_eq!(ops, NONE, "{DEPTH}-deep all_of chain");
    assert!(levels.iter().all(|f| f.status().result() == Some(Ok(()))));
}

#[test]
fn callbacks_that_signal_the_next_producer_allocate_nothing() {
    // Each callback signals the next producer in a chain; producers live in slots the
    // callbacks take from (a taken `Option` is not a heap operation).
    let t = Timeline::new();
    let producers: Vec<_> = (0..DEPTH + 1).map(|_| producer(&t)).collect();
    let fences: Vec<_> = producers.iter().map(FenceProducer::fence).collect();
    let mut producers = producers.into_iter();
    let first = producers.next().unwrap();
    let mut cbs: Vec<_> = producers
        .map(|next| {
            let mut slot = Some(next);
            Box::pin(FenceCallback::new(move |r| {
                if let Some(p) = slot.take() {
                    match r {
                        Ok(()) => p.signal(),
                        Err(e) => p.signal_error(e),
                    }
                }
            }))
        })
        .collect();
    for (f, cb) in fences.iter().zip(cbs.iter_mut()) {
        f.add_callback(cb.as_mut()).unwrap();
    }
    let ((), ops) = heap_ops(|| first.signal_error(FenceError::Timeout));
    assert_eq!(ops, NONE, "{DEPTH}-long producer chain");
    assert!(
        fences
            .iter()
            .all(|f| f.status().result() == Some(Err(FenceError::Timeout)))
    );
}

#[test]
fn waiting_on_a_signalled_fence_allocates_nothing() {
    let t = Timeline::new();
    let p = producer(&t);
    let f = p.fence();
    p.signal();
    let (r, ops) = heap_ops(|| f.wait());
    assert_eq!(r, Ok(()));
    assert_eq!(ops, NONE, "wait on a signalled fence");
    let (st, ops) = heap_ops(|| f.wait_timeout(Duration::from_secs(1)));
    assert!(st.is_signalled());
    assert_eq!(ops, NONE, "wait_timeout on a signalled fence");
    let (st, ops) = heap_ops(|| f.wait_timeout(Duration::ZERO));
    assert!(st.is_signalled());
    assert_eq!(ops, NONE, "zero-timeout poll of a signalled fence");
    let (st, ops) = heap_ops(|| f.status());
    assert!(st.is_signalled());
    assert_eq!(ops, NONE, "status of a signalled fence");
}
