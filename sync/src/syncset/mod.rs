//! Sync sets: dmabuf-sync's sync object, done right.
//!
//! A task registers buffers with an access type, locks them all at once, accesses them
//! through guards, and unlocks; the cache maintenance each access needs is derived from the
//! access before it ([`policy`]).

// Unsafe code only in `buffer` (the tracker cell) and `set` (the guards' byte access and
// the cache maintenance).
mod buffer;
#[forbid(unsafe_code)]
mod domain;
#[forbid(unsafe_code)]
mod error;
#[forbid(unsafe_code)]
mod holder;
#[forbid(unsafe_code)]
mod lease;
#[forbid(unsafe_code)]
mod lineset;
#[forbid(unsafe_code)]
pub mod policy;
mod set;
mod watchdog;

#[cfg(test)]
#[forbid(unsafe_code)]
mod tests;

pub use buffer::SyncBuffer;
pub use domain::{SyncConfig, SyncDomain, SyncStats};
pub use error::{RegionRefused, SyncError};
pub use lease::DeviceLease;
pub use policy::{Access, AccessMode, Agent, CoherencyTracker, Plan, RangeError};
pub use set::{CpuRead, CpuWrite, DmaAccess, Locked, SyncSet};
pub use watchdog::{Watchdog, Watched};

/// The holder protocol, exposed only to the loom model checks (`--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_seam {
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    use crate::fence::{FenceProducer, FenceResult};
    use dmasync_hal::platform::Instant;

    use super::SyncError;
    use super::holder::Holder;

    /// A holder with no buffers, for modelling expiry vs use vs unlock.
    #[derive(Debug)]
    pub struct HolderModel(Arc<Holder>);

    impl HolderModel {
        /// A holder due at `deadline` whose release signals `done`.
        pub fn new(deadline: Instant, done: FenceProducer) -> Self {
            Self(Holder::new(1, deadline, Arc::from(Vec::new()), done))
        }
        /// A guard use starts.
        pub fn enter(&self) -> Result<(), SyncError> {
            self.0.enter()
        }
        /// A use ends; whether an expiry had started before it did.
        pub fn leave(&self) -> bool {
            self.0.leave()
        }
        /// The device job that has been one use since `unlock_after` ends with `r`.
        pub fn release_job(&self, r: FenceResult) -> Result<(), SyncError> {
            self.0.release_job(r)
        }
        /// The watchdog at `now`.
        pub fn expire_if_overdue(&self, now: Instant) -> bool {
            self.0.expire_if_overdue(now)
        }
        /// Unlock.
        pub fn release(&self, r: FenceResult) -> Result<(), SyncError> {
            self.0.release(r)
        }
    }

    impl Clone for HolderModel {
        fn clone(&self) -> Self {
            Self(self.0.clone())
        }
    }
}
