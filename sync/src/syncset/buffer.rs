//! A shared buffer: a DMA region, its reservation object and its coherency state.

use core::fmt;
use core::ptr;

use crate::resv::{ReservationObject, ResvGuard, ResvView, Usage};
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

// SAFETY: the tracker is only reached through `SyncBuffer::tracker`, which takes the
// `ResvGuard` of the buffer's reservation object by `&mut` (checked to be that object's):
// one holder of the ww-mutex at a time, so all access across threads is serialised;
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
        let tracker = CoherencyTracker::new(region.virt(), region.len(), line, region.coherency());
        Self {
            domain,
            id,
            name,
            region,
            resv: ReservationObject::new(),
            tracker: TrackerCell(UnsafeCell::new(tracker)),
        }
    }

    /// Runs `f` on the buffer's coherency tracker. `held` proves that the caller holds
    /// this buffer's reservation ww-mutex, the lock that owns the tracker, for the whole
    /// call; borrowed mutably, it also keeps `f` from reaching the tracker again.
    ///
    /// # Panics
    ///
    /// If `held` is the guard of another reservation object.
    pub(crate) fn tracker<R>(
        &self,
        held: &mut ResvGuard<'_>,
        f: impl FnOnce(&mut CoherencyTracker) -> R,
    ) -> R {
        assert!(
            ptr::eq(held.object(), &self.resv),
            "tracker: {} used with another buffer's reservation guard",
            self.name
        );
        // SAFETY: `held` is a guard of `self.resv` (checked above), and at most one such
        // guard exists at a time (one holder of the ww-mutex, see `ResvGuard`); every access
        // to the cell goes through this function, which borrows that guard mutably until
        // the reference dies with `f`. So no other reference to the tracker exists, on any
        // thread, and the ww-mutex's acquire/release orders the accesses of successive
        // holders.
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

    /// Gives the memory back, for its allocator's `free`: only when the buffer is idle (no
    /// holder, no device or CPU work still pending on it, see [`is_idle`](Self::is_idle)).
    /// Otherwise the buffer comes back unchanged in `Err`, to retry once its work is done.
    ///
    /// Dropping a buffer instead leaks its memory, which is always safe: a device that
    /// still writes there writes memory nobody else will be given.
    // The buffer itself is the error: the caller keeps it to retry. A cold path, and boxing
    // it would allocate to report "busy".
    #[allow(clippy::result_large_err)]
    pub fn into_region(self) -> Result<DmaRegion, SyncBuffer> {
        if self.is_idle() {
            Ok(self.region)
        } else {
            Err(self)
        }
    }

    /// The fences of the buffer's users, by usage: a read-only view of its reservation
    /// object. Only the buffer's sync sets lock that object and publish fences in it: a
    /// way in from outside would let safe code hold the lock beyond the watchdog's reach,
    /// fill the fence slots, or publish a fence that replaces a holder's pending `done`
    /// one, and so get around the sync sets' exclusion.
    pub fn reservation(&self) -> ResvView<'_> {
        self.resv.view()
    }
}
