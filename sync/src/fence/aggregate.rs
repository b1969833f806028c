//! Aggregate fences: all-of and any-of over a dynamic number of children.
//!
//! `alloc` is used here because the number of children is only known at run time: one
//! allocation for the aggregate's own fence, one for its bookkeeping and one for its
//! per-child callback nodes, all made when the aggregate is built (never on a signal path).
//!
//! The bookkeeping belongs to the output fence (`FenceInner::aggregate()`) and every child
//! node still queued holds a reference to that fence, so the nodes live as long as anyone
//! can run them, and they are freed with the output fence's last reference. That is the last
//! handle, which the user drops, not the last child's signal: the signal path frees nothing
//! unless every handle of the aggregate is already gone.

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
/// atomics (this is what Linux needed `irq_work` for in `dma_fence_array`). Its own
/// callbacks are deferred like any nested signal's, so nesting depth costs no stack.
pub fn all_of<'a>(children: impl IntoIterator<Item = &'a Fence>) -> Fence {
    build(children.into_iter().collect(), false)
}

/// A fence that signals when **any** child signals, with that child's outcome (the first
/// child to signal decides, error or not). An empty set is signalled at once (success):
/// a fence that can never signal is not allowed.
pub fn any_of<'a>(children: impl IntoIterator<Item = &'a Fence>) -> Fence {
    build(children.into_iter().collect(), true)
}

/// An aggregate's bookkeeping, owned by its output fence.
pub(crate) struct Aggregate {
    /// Children still to complete before the output signals (n for all-of, 1 for any-of).
    pending: AtomicUsize,
    /// First child error (encoded), 0 if none: all-of only.
    first_error: AtomicU64,
    any: bool,
    nodes: Box<[AggNode]>,
}

#[repr(C)]
struct AggNode {
    node: Node,
    /// The output fence, set once before the node is queued (the child's lock publishes it
    /// to the signaller); read by `run`. The queued node owns one reference to it.
    out: UnsafeCell<*const FenceInner>,
}

// SAFETY: an aggregate is reached from every child's signalling context (any core or an
// interrupt handler). Its shared state is atomics; each node's `out` pointer is written
// once by the builder before the node is queued on its child (the child's lock publishes it
// to the signaller) and only read after; `Node` itself is the callback-list node whose
// cross-thread protocol callback.rs argues.
unsafe impl Send for Aggregate {}
// SAFETY: as for `Send`: every access through `&Aggregate` is atomic or to a write-once cell
// published before it is read.
unsafe impl Sync for Aggregate {}

impl Aggregate {
    fn child_done(&self, out: &FenceInner, result: FenceResult) {
        if self.any {
            if self.pending.swap(0, Ordering::AcqRel) == 1 {
                out.signal(result.err());
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
            out.signal(error);
        }
    }

    /// A child finished (signalled, or was already signalled at build time): count it,
    /// then drop the registration's reference to the output fence.
    ///
    /// # Safety
    /// `out` is a registration's reference (`Arc::into_raw`) to an aggregate's output fence;
    /// each registration calls this once.
    unsafe fn finish(out: *const FenceInner, result: FenceResult) {
        // SAFETY: the registration's reference, handed to us (the contract).
        let out = unsafe { Arc::from_raw(out) };
        if let Some(agg) = out.aggregate() {
            agg.child_done(&out, result);
        }
        // Frees the fence (nodes included) only if every handle has gone already.
        drop(out);
    }

    /// # Safety
    /// `node` is the node of an `AggNode` of a live aggregate, owned by the caller.
    unsafe fn run(node: *const Node, result: FenceResult) {
        // SAFETY: per the contract; `out` was written before the node was queued.
        let out = unsafe { (*node.cast::<AggNode>()).out.with(|p| *p) };
        // Nobody removes aggregate nodes, so marking it first is fine; the node memory
        // stays alive through the reference `finish` drops.
        // SAFETY: node valid.
        unsafe { Node::mark_ran(node) };
        // SAFETY: the queued node owned that reference; this run is its one use.
        unsafe { Self::finish(out, result) };
    }
}

fn build(children: Vec<&Fence>, any: bool) -> Fence {
    let n = children.len();
    if n == 0 {
        return Fence::signalled(Ok(()));
    }
    let nodes: Box<[AggNode]> = (0..n)
        .map(|_| AggNode {
            node: Node::new(Aggregate::run),
            out: UnsafeCell::new(ptr::null()),
        })
        .collect();
    let out = Arc::new(FenceInner::new_aggregate(
        FenceContext::new().id(),
        Box::new(Aggregate {
            pending: AtomicUsize::new(if any { 1 } else { n }),
            first_error: AtomicU64::new(0),
            any,
            nodes,
        }),
    ));
    let Some(agg) = out.aggregate() else {
        unreachable!("set above")
    };
    for (an, child) in agg.nodes.iter().zip(children) {
        let an: *const AggNode = an;
        // The registration's reference, owned by the queued node (released in `run`).
        let reg = Arc::into_raw(out.clone());
        // SAFETY: the node is not queued yet, so nobody else reads `out`.
        unsafe { (*an).out.with_mut(|p| *p = reg) };
        // SAFETY: the node is valid, on no list, and stays put until it ran: it lives in the
        // output fence's boxed slice, which the reference just taken keeps alive, and nobody
        // removes aggregate nodes.
        if let Err(result) = unsafe { child.inner.add_node(an.cast::<Node>()) } {
            // SAFETY: not queued, so the reference is still ours to release.
            unsafe { Aggregate::finish(reg, result) };
        }
    }
    Fence { inner: out }
}
