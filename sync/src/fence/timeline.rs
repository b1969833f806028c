//! Timelines: a context id plus a monotonic seqno.

use core::fmt;

use super::FenceProducer;
use crate::shim::atomic::{AtomicU64, Ordering};

/// Global context allocator. A plain `core` atomic even under loom: it only hands out
/// unique ids and is not part of any modelled protocol (loom atomics cannot be statics).
static NEXT_CONTEXT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// The identifier of a timeline, for comparing fences and for debugging. All fences of one
/// context are totally ordered by seqno and a later seqno implies the earlier ones (the
/// producer's contract: signal in seqno order).
///
/// An identifier is not a capability: nothing public turns a `FenceContext` into a
/// producer. Fences of a context come only from the one [`Timeline`] (or
/// [`MemTimeline`](super::MemTimeline)) that allocated it, or from
/// [`FenceProducer::one_off`]; so nobody else can make a fence that a reservation object
/// would take as "later on the same timeline" and let replace a pending one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FenceContext(u64);

impl FenceContext {
    /// A fresh, globally unique context. Crate-private: whoever calls this must be the only
    /// maker of fences on it.
    pub(crate) fn new() -> Self {
        FenceContext(NEXT_CONTEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed))
    }

    /// The numeric id.
    pub const fn id(self) -> u64 {
        self.0
    }

    pub(crate) const fn from_id(id: u64) -> Self {
        FenceContext(id)
    }
}

/// A software timeline: a freshly allocated context and a seqno counter that hands out
/// fences in order.
///
/// The timeline is the capability to make fences on its context: it is neither `Clone` nor
/// `Copy`, and no constructor takes an existing context, so fences of one context all come
/// from one `Timeline` value and its owner alone decides their order. (Share it by reference
/// or in an `Arc` if several threads must produce on one timeline.)
pub struct Timeline {
    context: FenceContext,
    last: AtomicU64,
}

impl fmt::Debug for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeline")
            .field("context", &self.context)
            .field("last_seqno", &self.last_seqno())
            .finish()
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Timeline {
    /// A timeline on a fresh context; the first fence gets seqno 1.
    pub fn new() -> Self {
        Timeline {
            context: FenceContext::new(),
            last: AtomicU64::new(0),
        }
    }

    /// The timeline's context (an identifier: it makes no fences).
    pub fn context(&self) -> FenceContext {
        self.context
    }

    /// The seqno of the most recent fence created (0 if none).
    pub fn last_seqno(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }

    /// A new fence with the next seqno. The caller must signal fences of one timeline in
    /// seqno order: reservation objects rely on "later implies earlier".
    pub fn next_fence(&self) -> FenceProducer {
        let seqno = self.last.fetch_add(1, Ordering::Relaxed) + 1;
        FenceProducer::new(self.context, seqno)
    }
}
