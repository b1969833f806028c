//! Fence chains: a timeline of points, the primitive behind timeline semaphores (Linux's
//! `dma_fence_chain`, drivers/dma-buf/dma-fence-chain.c; semantics only, own code).
//!
//! A node links the previous node, a fence and a seqno. It is itself a fence that signals
//! when its fence **and** every earlier node have signalled (an all-of aggregate of its fence
//! and the previous node, so signalling a chain of any length is iterative like any nested
//! signal), with the first error among them. Rules taken from Linux:
//!
//! - a node whose seqno is above the previous node's reuses the previous node's context and
//!   remembers that seqno as `prev_seqno`; any other node (the first, or one out of order)
//!   gets a fresh context, and an out-of-order seqno is raised to the previous node's, so
//!   seqnos never go down along the chain;
//! - walking ([`walk`]) moves to the previous node and, on the way, unlinks nodes whose fence
//!   has signalled (their point is implied by the nodes before them);
//! - [`find_seqno`] gives the earliest node that still has to signal for point `n`: walking
//!   back from the head while the node's context is the head's and its `prev_seqno` is at
//!   least `n`; a signalled stub if nothing is left to wait for.
//!
//! Unlike Linux, nodes are appended only through the [`FenceChain`] that owns the head:
//! contexts are capabilities here (see [`FenceContext`](super::FenceContext)), and a chain
//! that anyone could extend from any node could branch — two nodes on one context where the
//! later does not imply the earlier, which a reservation object would then let replace it.
//! References point only to nodes that existed before, so no cycle can be made.
//!
//! The link to the previous node is guarded by the node's fence lock (Linux uses RCU): a
//! walker takes a reference under it, and pruning swaps it under it only if unchanged.
//! Dropping a chain frees it iteratively (`aggregate::release`).

use core::fmt;

use super::aggregate::build_inner;
use super::{Fence, FenceContext, FenceInner};
use crate::shim::{Arc, UnsafeCell};

/// A chain node's link to the previous node (kept in its aggregate bookkeeping).
pub(crate) struct ChainLink {
    /// The previous node, or what walking left of it; guarded by the node's lock.
    prev: UnsafeCell<Option<Arc<FenceInner>>>,
    /// The previous node's seqno if this node shares its context, else 0 (Linux's rule).
    pub(super) prev_seqno: u64,
}

impl ChainLink {
    /// Takes the link out, for the owner of the node being freed.
    pub(super) fn take_prev(&mut self) -> Option<Arc<FenceInner>> {
        // SAFETY: `&mut self`: nobody else can reach the cell.
        self.prev.with_mut(|p| unsafe { (*p).take() })
    }

    /// A reference to the previous node; `node` is the node this link belongs to.
    pub(super) fn prev(&self, node: &FenceInner) -> Option<Arc<FenceInner>> {
        let g = node.lock();
        // SAFETY: the node's lock guards the cell; cloning an `Arc` only counts.
        let p = self.prev.with(|p| unsafe { (*p).clone() });
        drop(g);
        p
    }

    /// Replaces the link with `replacement` if it still is `expected`. Returns what the
    /// caller must drop outside the lock (the old link, or the unused replacement).
    fn replace_prev(
        &self,
        node: &FenceInner,
        expected: &Arc<FenceInner>,
        replacement: Option<Arc<FenceInner>>,
    ) -> Option<Arc<FenceInner>> {
        let g = node.lock();
        // SAFETY: the node's lock guards the cell.
        let out = self.prev.with_mut(|p| unsafe {
            if (*p).as_ref().is_some_and(|c| Arc::ptr_eq(c, expected)) {
                core::mem::replace(&mut *p, replacement)
            } else {
                replacement
            }
        });
        drop(g);
        out
    }
}

impl FenceInner {
    /// The chain link of a chain node.
    pub(super) fn chain(&self) -> Option<&ChainLink> {
        self.aggregate().and_then(|a| a.chain.as_ref())
    }

    /// A chain node's fence (the one it was added with).
    fn chain_fence(&self) -> Option<&Arc<FenceInner>> {
        self.aggregate()
            .filter(|a| a.chain.is_some())
            .and_then(|a| a.kept_children().next())
    }
}

/// Moves from chain node `node` to the previous node that still has to signal, unlinking
/// on the way every node whose fence has signalled (`dma_fence_chain_walk`). `None` at the
/// end of the chain, or if `node` is not a chain node.
pub(super) fn walk(node: &Arc<FenceInner>) -> Option<Arc<FenceInner>> {
    let link = node.chain()?;
    loop {
        let prev = link.prev(node)?;
        let replacement = match prev.chain_fence() {
            Some(f) => {
                if !f.status().is_signalled() {
                    return Some(prev);
                }
                prev.chain().and_then(|l| l.prev(&prev))
            }
            // Not a chain node (not made by this module today, but harmless).
            None => {
                if !prev.status().is_signalled() {
                    return Some(prev);
                }
                None
            }
        };
        let unlinked = link.replace_prev(node, &prev, replacement);
        // Outside the lock: dropping may free a run of nodes (iteratively).
        drop(unlinked);
        drop(prev);
    }
}

/// Why [`find_seqno`] found no node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// The fence is not a chain node.
    NotAChain,
    /// The point asked for is later than the chain's head: it does not exist yet.
    FuturePoint {
        /// The point asked for.
        requested: u64,
        /// The head's seqno.
        head: u64,
    },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::NotAChain => f.write_str("the fence is not a chain node"),
            ChainError::FuturePoint { requested, head } => write!(
                f,
                "point {requested} is later than the chain's head (seqno {head})"
            ),
        }
    }
}

/// The earliest node of the chain headed by `head` that still has to signal for point
/// `seqno` to be reached, or an already signalled stub if nothing is left to wait for
/// (`dma_fence_chain_find_seqno`). Point 0 gives `head` itself. Walking prunes signalled
/// links.
///
/// The stub says only that point `seqno` was reached: an error of a fence before it is
/// reported by the chain's nodes (the head signals with it), not by the stub.
pub fn find_seqno(head: &Fence, seqno: u64) -> Result<Fence, ChainError> {
    if seqno == 0 {
        return Ok(head.clone());
    }
    if head.inner.chain().is_none() {
        return Err(ChainError::NotAChain);
    }
    if head.inner.seqno < seqno {
        return Err(ChainError::FuturePoint {
            requested: seqno,
            head: head.inner.seqno,
        });
    }
    let context = head.inner.context;
    let mut at = Some(head.inner.clone());
    while let Some(node) = at {
        let here = match node.chain() {
            Some(l) => node.context != context || l.prev_seqno < seqno,
            None => true,
        };
        if here {
            return Ok(Fence { inner: node });
        }
        at = walk(&node);
    }
    Ok(Fence::signalled(Ok(())))
}

/// The owner of a fence chain: the only way to append to it (see the module docs).
///
/// Not `Clone`: share the chain's points by handing out the [`Fence`]s it returns (each
/// node is a fence), or keep the chain in a lock if several threads append.
#[derive(Default)]
pub struct FenceChain {
    head: Option<Fence>,
}

impl fmt::Debug for FenceChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FenceChain")
            .field("head", &self.head)
            .finish()
    }
}

impl FenceChain {
    /// An empty chain.
    pub const fn new() -> Self {
        FenceChain { head: None }
    }

    /// The newest node.
    pub fn head(&self) -> Option<&Fence> {
        self.head.as_ref()
    }

    /// The head's seqno (0 for an empty chain).
    pub fn last_seqno(&self) -> u64 {
        self.head.as_ref().map_or(0, Fence::seqno)
    }

    /// Appends point `seqno`, reached when `fence` and every earlier point have signalled,
    /// and returns its node (the new head). A `seqno` not above the head's starts a new
    /// context and is raised to the head's (Linux's rule), so [`find_seqno`] stops there.
    /// Allocates (the node, its bookkeeping, two callback nodes).
    pub fn add(&mut self, fence: &Fence, seqno: u64) -> Fence {
        let prev = self.head.as_ref().map(|h| h.inner.clone());
        let (context, seqno, prev_seqno) = match &prev {
            Some(p) if seqno > p.seqno => (p.context, seqno, p.seqno),
            Some(p) => (FenceContext::new().id(), seqno.max(p.seqno), 0),
            None => (FenceContext::new().id(), seqno, 0),
        };
        let link = ChainLink {
            prev: UnsafeCell::new(prev.clone()),
            prev_seqno,
        };
        let mut waits = alloc::vec![(&fence.inner, true)];
        if let Some(p) = &prev {
            waits.push((p, false));
        }
        let node = Fence {
            inner: build_inner(&waits, false, context, seqno, Some(link)),
        };
        self.head = Some(node.clone());
        node
    }

    /// [`find_seqno`] on the head; [`ChainError::FuturePoint`] for an empty chain and any
    /// point but 0, which gives a signalled stub.
    pub fn find_seqno(&self, seqno: u64) -> Result<Fence, ChainError> {
        match &self.head {
            Some(h) => find_seqno(h, seqno),
            None if seqno == 0 => Ok(Fence::signalled(Ok(()))),
            None => Err(ChainError::FuturePoint {
                requested: seqno,
                head: 0,
            }),
        }
    }
}

impl Fence {
    /// `true` if this fence is a node of a [`FenceChain`].
    pub fn is_chain_node(&self) -> bool {
        self.inner.chain().is_some()
    }
}
