//! Deadline hints (Linux's `dma_fence_set_deadline`, drivers/dma-buf/dma-fence.c, "deadline
//! hints"; semantics only): a waiter says by when it needs a fence, and the producer (a
//! driver choosing what to run next, or how fast) can read the earliest deadline asked for.
//!
//! The hint lives in the fence's timestamp word, which is unused until the signal overwrites
//! it (Linux's cb_list/timestamp union idea): a deadline costs the fence no byte, and signal,
//! wait and add-callback no instruction. It is read and lowered only under the fence lock,
//! so a reader never mistakes a timestamp for a deadline. Once signalled a fence has no
//! deadline. Setting one on an aggregate or chain node forwards it to every child that is
//! still pending, through any depth of nesting, iteratively.

#![forbid(unsafe_code)]

use alloc::vec::Vec;

use super::{Fence, FenceInner, FenceProducer, NO_DEADLINE, SIGNALLED};
use crate::shim::Arc;
use crate::shim::atomic::Ordering;
use dmasync_hal::platform::Instant;

impl FenceInner {
    /// Lowers the pending fence's deadline to `at`; `true` if it did (it was later or unset),
    /// `false` if the fence has signalled or already had one at least as early.
    fn lower_deadline(&self, at: u64) -> bool {
        let g = self.lock();
        if g.state & SIGNALLED != 0 {
            return false;
        }
        let cur = self.timestamp.load(Ordering::Relaxed);
        if at >= cur {
            return false;
        }
        self.timestamp.store(at, Ordering::Relaxed);
        drop(g);
        true
    }

    /// The earliest deadline asked for while pending; `None` if none or signalled.
    fn deadline(&self) -> Option<Instant> {
        let g = self.lock();
        if g.state & SIGNALLED != 0 {
            return None;
        }
        let cur = self.timestamp.load(Ordering::Relaxed);
        drop(g);
        (cur != NO_DEADLINE).then_some(Instant(cur))
    }

    // An associated function, not `self: &Arc<Self>`: loom's `Arc` is no receiver type.
    fn set_deadline(this: &Arc<Self>, at: Instant) {
        if !this.lower_deadline(at.0) || !this.is_container() {
            return;
        }
        // A child that already had this deadline or an earlier one got it forwarded to its
        // own children then: its subtree is skipped (so a shared child is visited once).
        let mut work: Vec<Arc<FenceInner>> = alloc::vec![this.clone()];
        while let Some(f) = work.pop() {
            let Some(agg) = f.aggregate() else { continue };
            for c in agg.kept_children() {
                if c.lower_deadline(at.0) && c.is_container() {
                    work.push(c.clone());
                }
            }
            if let Some(link) = &agg.chain
                && let Some(prev) = link.prev(&f)
                && prev.lower_deadline(at.0)
                && prev.is_container()
            {
                work.push(prev);
            }
        }
    }
}

impl Fence {
    /// Asks for the fence to be signalled by `at` (platform clock): a hint, never a
    /// guarantee. The earliest of all deadlines set wins; one in the past means "as soon as
    /// possible". On an aggregate or chain node it reaches every pending child (and, in a
    /// chain, every earlier point). Does nothing on a signalled fence. Takes each fence's
    /// lock briefly; allocates a work list only for aggregates and chains.
    pub fn set_deadline(&self, at: Instant) {
        FenceInner::set_deadline(&self.inner, at);
    }

    /// The earliest deadline set on this pending fence (directly or through an aggregate or
    /// chain that contains it); `None` if none was set or it has signalled.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline()
    }
}

impl FenceProducer {
    /// The earliest deadline a waiter asked for (see [`Fence::set_deadline`]): what a driver
    /// reads to decide what to run first. `None` if no waiter set one, or once signalled.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline()
    }
}
