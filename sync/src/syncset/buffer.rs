//! A shared buffer: a DMA region, its reservation object and its coherency state.

use core::fmt;

use dmasync_hal::dma::DmaRegion;

use crate::platform::Platform;
use crate::resv::{ReservationObject, Usage};
use crate::spin::SpinLock;

use super::policy::CoherencyTracker;

/// A buffer shared between CPUs and devices. Created by
/// [`SyncDomain::buffer`](super::SyncDomain::buffer); accessed only through a
/// [`SyncSet`](super::SyncSet)'s guards.
pub struct SyncBuffer<P: Platform> {
    pub(crate) domain: u32,
    pub(crate) id: u32,
    pub(crate) name: &'static str,
    pub(crate) region: DmaRegion,
    pub(crate) resv: ReservationObject<P>,
    /// Changed only while `resv` is locked; the spin lock only makes that access safe Rust.
    pub(crate) tracker: SpinLock<CoherencyTracker, P>,
}

impl<P: Platform> fmt::Debug for SyncBuffer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncBuffer")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("resv", &self.resv)
            .finish()
    }
}

impl<P: Platform> SyncBuffer<P> {
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
            tracker: SpinLock::new(CoherencyTracker::new(
                region.virt(),
                region.len(),
                line,
                region.coherency(),
            )),
        }
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
    pub fn reservation(&self) -> &ReservationObject<P> {
        &self.resv
    }
}
