//! Memory-backed fences: the seqno lives in a DMA-visible word.

use core::fmt;

use super::{FenceContext, FenceInner, FenceProducer, seqno32_passed};
use crate::shim::atomic::{AtomicU32, AtomicU64, Ordering};

/// A timeline whose progress is a 32-bit seqno word in memory that a device writes when
/// it finishes work (e.g. a DMA engine's final "store immediate" into a semaphore word),
/// or that a device polls to wait (an engine that can wait on memory instead of taking an
/// interrupt) — the historic Linux `seqno_fence`.
///
/// Fences from [`MemTimeline::next_fence`] are ordinary fences (status, waits, callbacks,
/// futures, aggregates, reservation objects) with two additions:
/// - CPU waiters also read the word: a blocking wait polls it every few tens of
///   microseconds, and [`Fence::status`](super::Fence::status) signals the fence as soon
///   as it sees the word has reached the fence's seqno. Callbacks and futures run when the
///   producer signals or when a CPU observes the word (call [`MemTimeline::poll_fence`]
///   from a timer tick if nobody else looks).
/// - When the CPU signals (success, error, or the producer being dropped), it also
///   advances the word to the fence's seqno, so hardware polling the word is released.
///
/// The word is 32 bits because that is what the engines on our SoCs can write and compare;
/// the comparison is wrap-safe (`word - seqno` as `i32 >= 0`), valid while fewer than 2^31
/// fences of the timeline are outstanding. The word must be in memory the device and the
/// CPUs see coherently (a non-cacheable mapping on non-coherent SoCs). Devices must write
/// the word in increasing seqno order.
pub struct MemTimeline {
    context: FenceContext,
    word: &'static AtomicU32,
    last: AtomicU64,
}

impl fmt::Debug for MemTimeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemTimeline")
            .field("context", &self.context)
            .field("word", &self.word.load(Ordering::Relaxed))
            .field("last_seqno", &self.last.load(Ordering::Relaxed))
            .finish()
    }
}

impl MemTimeline {
    /// A timeline on a fresh context whose progress is `word`. Seqnos continue from the
    /// word's current value (the first fence is `word + 1`).
    pub fn new(word: &'static AtomicU32) -> Self {
        MemTimeline {
            context: FenceContext::new(),
            word,
            last: AtomicU64::new(u64::from(word.load(Ordering::Relaxed))),
        }
    }

    /// The timeline's context.
    pub fn context(&self) -> FenceContext {
        self.context
    }

    /// The memory word (program its bus address into the device).
    pub fn word(&self) -> &'static AtomicU32 {
        self.word
    }

    /// The seqno the device has reached, as last written to the word.
    pub fn completed(&self) -> u32 {
        self.word.load(Ordering::Acquire)
    }

    /// A new memory-backed fence with the next seqno; its low 32 bits are what the device
    /// writes to (or waits for in) the word.
    pub fn next_fence(&self) -> FenceProducer {
        let seqno = self.last.fetch_add(1, Ordering::Relaxed) + 1;
        FenceProducer::from_inner(FenceInner::new(self.context.id(), seqno, Some(self.word)))
    }

    /// Re-reads the word for `fence` (which must be from this timeline) and signals it if
    /// the device is done, running its callbacks here. Returns `true` if it is signalled.
    pub fn poll_fence(&self, fence: &super::Fence) -> bool {
        fence.status().is_signalled()
    }

    /// `true` if the word has reached `seqno`.
    pub fn is_completed(&self, seqno: u64) -> bool {
        seqno32_passed(self.completed(), seqno as u32)
    }
}
