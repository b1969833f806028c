//! Aggregate fences: all-of and any-of over a dynamic number of children.
//!
//! `alloc` is used here because the number of children is only known at run time: one
//! allocation for the aggregate's own fence and one for its per-child callback nodes,
//! both made when the aggregate is built (never on a signal path).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr;

use super::callback::Node;
use super::{
    Fence, FenceContext, FenceError, FenceInner, FenceResult, decode_result, encode_error,
};
use crate::shim::Arc;
use crate::shim::UnsafeCell;
use crate::shim::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A fence that signals when **all** `children` have signalled — with the error of the
/// first child that failed (in signalling order), else success. An empty set is
/// signalled at once.
///
/// The aggregate is signalled from the last child's signalling context, but never under
/// any lock: child callbacks run after the child's lock is released and only update
/// atomics (this is what Linux needed `irq_work` for in `dma_fence_array`).
pub fn all_of<'a>(children: impl IntoIterator<Item = &'a Fence>) -> Fence {
    build(children.into_iter().collect(), false)
}

/// A fence that signals when **any** child signals, with that child's outcome (the first
/// child to signal decides, error or not). An empty set is signalled at once (success):
/// a fence that can never signal is not allowed.
pub fn any_of<'a>(children: impl IntoIterator<Item = &'a Fence>) -> Fence {
    build(children.into_iter().collect(), true)
}

struct Aggregate {
    out: Arc<FenceInner>,
    /// Children still to complete before `out` signals (n for all-of, 1 for any-of).
    pending: AtomicUsize,
    /// Registrations not yet finished, plus one for the builder. The last one releases
    /// the reference that keeps the nodes alive.
    outstanding: AtomicUsize,
    /// First child error (encoded), 0 if none: all-of only.
    first_error: AtomicU64,
    any: bool,
    nodes: Box<[AggNode]>,
}

// SAFETY: an aggregate is reached from every child's signalling context (any core or an
// interrupt handler). Its shared state is atomics and the `Arc`'d output fence, which are
// thread-safe; each node's `agg` pointer is written once by the builder before the node is
// queued on its child (the child's lock publishes it to the signaller) and only read after;
// `Node` itself is the callback-list node whose cross-thread protocol callback.rs argues.
unsafe impl Send for Aggregate {}
// SAFETY: as for `Send`: every access through `&Aggregate` is atomic or to a write-once cell
// published before it is read.
unsafe impl Sync for Aggregate {}

#[repr(C)]
struct AggNode {
    node: Node,
    /// Set once before the node is queued; read by `run`.
    agg: UnsafeCell<*const Aggregate>,
}

impl Aggregate {
    fn child_done(&self, result: FenceResult) {
        if self.any {
            if self.pending.swap(0, Ordering::AcqRel) == 1 {
                self.out.signal(result.err());
            }
            return;
        }
        if let Err(e) = result {
            let _ = self.first_error.compare_exchange(
                0,
                encode_error(e),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        // AcqRel: the last child sees every earlier child's error.
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let error: Option<FenceError> =
                decode_result(self.first_error.load(Ordering::Relaxed)).err();
            self.out.signal(error);
        }
    }

    /// # Safety
    /// `this` is the pointer from `Arc::into_raw` in `build`; each registration and the
    /// builder call this exactly once.
    unsafe fn release_one(this: *const Aggregate) {
        // SAFETY: alive until the last release below.
        if unsafe { (*this).outstanding.fetch_sub(1, Ordering::AcqRel) } == 1 {
            // SAFETY: the registrations' shared reference, taken in `build`.
            drop(unsafe { Arc::from_raw(this) });
        }
    }

    /// # Safety
    /// `node` is the node of an `AggNode` inside a live aggregate, owned by the caller.
    unsafe fn run(node: *const Node, result: FenceResult) {
        // SAFETY: per the contract; `agg` was written before the node was queued.
        let agg = unsafe { (*node.cast::<AggNode>()).agg.with(|p| *p) };
        // Nobody removes aggregate nodes, so marking it first is fine; the node memory
        // stays alive until `release_one` below drops the last registration.
        // SAFETY: node valid.
        unsafe { Node::mark_ran(node) };
        // SAFETY: the registration's reference keeps the aggregate alive until released.
        unsafe {
            (*agg).child_done(result);
            Self::release_one(agg);
        }
    }
}

fn build(children: Vec<&Fence>, any: bool) -> Fence {
    let n = children.len();
    if n == 0 {
        return Fence::signalled(Ok(()));
    }
    let out = Arc::new(FenceInner::new(FenceContext::new().id(), 1, None));
    let nodes: Box<[AggNode]> = (0..n)
        .map(|_| AggNode {
            node: Node::new(Aggregate::run),
            agg: UnsafeCell::new(ptr::null()),
        })
        .collect();
    let agg = Arc::new(Aggregate {
        out: out.clone(),
        pending: AtomicUsize::new(if any { 1 } else { n }),
        outstanding: AtomicUsize::new(n + 1),
        first_error: AtomicU64::new(0),
        any,
        nodes,
    });
    let raw = Arc::into_raw(agg);
    // SAFETY: `raw` stays valid until the last `release_one`, the builder's being last
    // here; nodes live in a boxed slice that never moves.
    unsafe {
        for (i, child) in children.into_iter().enumerate() {
            let an: *const AggNode = &(&(*raw).nodes)[i];
            (*an).agg.with_mut(|p| *p = raw);
            // SAFETY: the node is valid and stays put until it ran (nobody removes it).
            if let Err(result) = child.inner.add_node(an.cast::<Node>()) {
                (*raw).child_done(result);
                Aggregate::release_one(raw);
            }
        }
        Aggregate::release_one(raw);
    }
    Fence { inner: out }
}
