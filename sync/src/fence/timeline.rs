//! Timelines: a context id plus a monotonic seqno.

use core::fmt;

use super::FenceProducer;
use crate::shim::atomic::{AtomicU64, Ordering};

/// Global context allocator. A plain `core` atomic even under loom: it only hands out
/// unique ids and is not part of any modelled protocol (loom atomics cannot be statics).
static NEXT_CONTEXT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// A timeline id. All fences of one context are totally ordered by seqno and a later seqno
/// implies the earlier ones (the producer's contract: signal in seqno order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FenceContext(u64);

impl FenceContext {
    /// A fresh, globally unique context.
    #[allow(clippy::new_without_default)] // `default()` creating a unique id would surprise
    pub fn new() -> Self {
        FenceContext(NEXT_CONTEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed))
    }

    /// `n` consecutive fresh contexts (e.g. one per engine ring); returns the first.
    /// Ids are `u64` and never wrap in practice.
    pub fn new_range(n: u64) -> Self {
        FenceContext(NEXT_CONTEXT.fetch_add(n, core::sync::atomic::Ordering::Relaxed))
    }

    /// The `i`-th context of a range created with [`FenceContext::new_range`].
    pub const fn nth(self, i: u64) -> Self {
        FenceContext(self.0 + i)
    }

    /// The numeric id.
    pub const fn id(self) -> u64 {
        self.0
    }

    pub(crate) const fn from_id(id: u64) -> Self {
        FenceContext(id)
    }
}

/// A software timeline: a context and a seqno counter that hands out fences in order.
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
        Self::with_context(FenceContext::new())
    }

    /// A timeline on a given context (e.g. one of [`FenceContext::new_range`]).
    pub fn with_context(context: FenceContext) -> Self {
        Timeline {
            context,
            last: AtomicU64::new(0),
        }
    }

    /// The timeline's context.
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
