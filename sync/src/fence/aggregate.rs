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
//!
//! The bookkeeping also holds a reference to each child (as Linux's `dma_fence_array`
//! does), so [`Fence::children`], `unwrap`/`merge` and deadline hints can reach them. A
//! chain node (`chain.rs`) is an all-of aggregate of its fence and the previous node, with
//! the link to that node kept here too. Freeing nested aggregates and long chains is
//! iterative ([`release`]): no stack grows with depth.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ptr;

use super::callback::Node;
use super::{
    Fence, FenceContext, FenceError, FenceInner, FenceResult, FenceStatus, decode_result,
    encode_error,
};
use crate::shim::UnsafeCell;
use crate::shim::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::shim::{Arc, arc_into_inner};

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
    pub(super) any: bool,
    nodes: Box<[AggNode]>,
    /// For a chain node: the link to the previous node (see `chain.rs`).
    pub(super) chain: Option<super::chain::ChainLink>,
}

#[repr(C)]
struct AggNode {
    node: Node,
    /// The output fence, set once before the node is queued (the child's lock publishes it
    /// to the signaller); read by `run`. The queued node owns one reference to it.
    out: UnsafeCell<*const FenceInner>,
    /// The child this node waits on, kept for [`Fence::children`], unwrap and deadlines;
    /// `None` for a chain node's wait on its previous node (that link lives in `chain`, where
    /// walking may prune it). Written at build, before the aggregate is shared; taken only
    /// by [`release`], which owns the aggregate.
    child: Option<Arc<FenceInner>>,
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
    if children.is_empty() {
        return Fence::signalled(Ok(()));
    }
    let waits: Vec<(&Arc<FenceInner>, bool)> = children.iter().map(|c| (&c.inner, true)).collect();
    Fence {
        inner: build_inner(&waits, any, FenceContext::new().id(), 1, None),
    }
}

/// The output fence of an aggregate at (`context`, `seqno`) waiting on `waits` (each with
/// whether to keep it as a child), at least one. `chain` makes it a chain node.
pub(super) fn build_inner(
    waits: &[(&Arc<FenceInner>, bool)],
    any: bool,
    context: u64,
    seqno: u64,
    chain: Option<super::chain::ChainLink>,
) -> Arc<FenceInner> {
    let n = waits.len();
    debug_assert!(n > 0);
    let nodes: Box<[AggNode]> = waits
        .iter()
        .map(|(c, keep)| AggNode {
            node: Node::new(Aggregate::run),
            out: UnsafeCell::new(ptr::null()),
            child: keep.then(|| Arc::clone(c)),
        })
        .collect();
    let out = Arc::new(FenceInner::new_aggregate(
        context,
        seqno,
        Box::new(Aggregate {
            pending: AtomicUsize::new(if any { 1 } else { n }),
            first_error: AtomicU64::new(0),
            any,
            nodes,
            chain,
        }),
    ));
    let Some(agg) = out.aggregate() else {
        unreachable!("set above")
    };
    for (an, (child, _)) in agg.nodes.iter().zip(waits) {
        let an: *const AggNode = an;
        // The registration's reference, owned by the queued node (released in `run`).
        let reg = Arc::into_raw(out.clone());
        // SAFETY: the node is not queued yet, so nobody else reads `out`.
        unsafe { (*an).out.with_mut(|p| *p = reg) };
        // SAFETY: the node is valid, on no list, and stays put until it ran: it lives in the
        // output fence's boxed slice, which the reference just taken keeps alive, and nobody
        // removes aggregate nodes.
        if let Err(result) = unsafe { child.add_node(an.cast::<Node>()) } {
            // SAFETY: not queued, so the reference is still ours to release.
            unsafe { Aggregate::finish(reg, result) };
        }
    }
    out
}

impl Aggregate {
    /// The children kept (in build order; a chain node's fence, not its previous node).
    pub(super) fn kept_children(&self) -> impl Iterator<Item = &Arc<FenceInner>> {
        self.nodes.iter().filter_map(|n| n.child.as_ref())
    }

    /// Moves every child reference out (the kept children, then a chain's previous node).
    fn take_children(&mut self, mut each: impl FnMut(Arc<FenceInner>)) {
        for n in self.nodes.iter_mut() {
            if let Some(c) = n.child.take() {
                each(c);
            }
        }
        if let Some(link) = &mut self.chain
            && let Some(prev) = link.take_prev()
        {
            each(prev);
        }
    }
}

/// Frees an aggregate's bookkeeping and the children only it still held, iteratively: a
/// child container whose last reference this was is unwrapped here and its own children
/// queued, instead of dropping it (which would recurse once per level). Allocates only when
/// such a container has children; a leaf child is dropped at once (its drop is shallow).
/// Out of line and cold: a plain fence's drop, inlined into the signal and add-callback
/// paths, stays as small as before.
#[cold]
#[inline(never)]
pub(super) fn release(mut agg: Box<Aggregate>) {
    let mut owned: Vec<FenceInner> = Vec::new();
    let dispose = |c: Arc<FenceInner>, owned: &mut Vec<FenceInner>| {
        if c.is_container() {
            // The last reference: we own the container now and empty it below.
            if let Some(inner) = arc_into_inner(c) {
                owned.push(inner);
            }
        } else {
            drop(c);
        }
    };
    agg.take_children(|c| dispose(c, &mut owned));
    drop(agg);
    while let Some(mut inner) = owned.pop() {
        if let Some(a) = inner.aggregate_mut() {
            a.take_children(|c| dispose(c, &mut owned));
        }
        // Its bookkeeping holds no child any more: this drop does not recurse.
        drop(inner);
    }
}

/// An iterator over an aggregate's direct children with their status at the time each is
/// yielded; see [`Fence::children`].
pub struct Children {
    items: alloc::vec::IntoIter<Fence>,
}

impl fmt::Debug for Children {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Children")
            .field("left", &self.items.len())
            .finish()
    }
}

impl Iterator for Children {
    type Item = (Fence, FenceStatus);

    fn next(&mut self) -> Option<Self::Item> {
        let f = self.items.next()?;
        let st = f.status();
        Some((f, st))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

impl Fence {
    /// The direct children of an aggregate ([`all_of`], [`any_of`], [`merge`](super::merge))
    /// with their status, in the order given; of a chain node its fence, then the previous
    /// node it still links (walking prunes signalled ones); nothing for a plain fence.
    /// Nested aggregates are not flattened: [`unwrap`](super::unwrap) does that.
    pub fn children(&self) -> Children {
        let mut items = Vec::new();
        if let Some(agg) = self.inner.aggregate() {
            items.extend(agg.kept_children().map(|c| Fence { inner: c.clone() }));
            if let Some(link) = &agg.chain
                && let Some(prev) = link.prev(&self.inner)
            {
                items.push(Fence { inner: prev });
            }
        }
        Children {
            items: items.into_iter(),
        }
    }

    /// `true` if this fence is an [`all_of`] or [`any_of`] aggregate (a chain node or a
    /// merged fence of several children included).
    pub fn is_aggregate(&self) -> bool {
        self.inner.is_container()
    }
}
