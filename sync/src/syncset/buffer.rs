//! A shared buffer: a DMA region, its reservation object and its coherency state.

use core::fmt;

use crate::resv::{ReservationObject, Usage};
use crate::shim::UnsafeCell;
use dmasync_hal::dma::DmaRegion;

use super::policy::CoherencyTracker;

/// A buffer shared between CPUs and devices. Created by
/// [`SyncDomain::buffer`](super::SyncDomain::buffer); accessed only through a
/// [`SyncSet`](super::SyncSet)'s guards.
pub struct SyncBuffer {
    pub(crate) domain: u32,
    pub(crate) id: u32,
    pub(crate) name: &'static str,
    pub(crate) region: DmaRegion,
    pub(crate) resv: ReservationObject,
    /// Read and changed only while `resv`'s ww-mutex is held (see [`SyncBuffer::tracker`]).
    tracker: TrackerCell,
}

/// The coherency state of one buffer, owned by whoever holds the buffer's reservation
/// ww-mutex: that lock (acquire on lock, release on unlock) orders every access, so no
/// second lock is needed.
struct TrackerCell(UnsafeCell<CoherencyTracker>);

// SAFETY: the tracker is only reached through `SyncBuffer::tracker`, whose contract (the
// caller holds the buffer's reservation ww-mutex) serialises all access across threads;
// `CoherencyTracker` itself is `Send`.
unsafe impl Sync for TrackerCell {}

impl fmt::Debug for SyncBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncBuffer")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("resv", &self.resv)
            .finish()
    }
}

impl SyncBuffer {
    pub(crate) fn new(
        domain: u32,
        id: u32,
        name: &'static str,
        region: DmaRegion,
        line: usize,
    ) -> Self {
        Self {
            domain,
            id,
            name,
            region,
            resv: ReservationObject::new(),
            tracker: TrackerCell(UnsafeCell::new(CoherencyTracker::new(
                region.virt(),
                region.len(),
                line,
                region.coherency(),
            ))),
        }
    }

    /// Runs `f` on the buffer's coherency tracker.
    ///
    /// # Safety
    ///
    /// The calling thread holds this buffer's reservation ww-mutex (`self.resv`) for the
    /// whole call, and `f` does not call `tracker` on the same buffer.
    pub(crate) unsafe fn tracker<R>(&self, f: impl FnOnce(&mut CoherencyTracker) -> R) -> R {
        debug_assert!(self.resv.ww_mutex().is_locked());
        // SAFETY: the ww-mutex held by the caller excludes every other access (the
        // contract above), and the reference does not outlive `f`.
        self.tracker.0.with_mut(|t| f(unsafe { &mut *t }))
    }

    /// The name given at creation.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The memory behind the buffer.
    pub fn region(&self) -> &DmaRegion {
        &self.region
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Never true: regions are never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True when no one holds or is still finishing work on the buffer.
    pub fn is_idle(&self) -> bool {
        self.resv.test_signalled(Usage::Bookkeep)
    }

    /// The buffer's reservation object (fences of its users, by usage).
    pub fn reservation(&self) -> &ReservationObject {
        &self.resv
    }
}
