//! Sync sets: dmabuf-sync's sync object, done right.
//!
//! A task registers buffers with an access type, locks them all at once, accesses them
//! through guards, and unlocks; the cache maintenance each access needs is derived from the
//! access before it ([`policy`]).

mod buffer;
mod domain;
mod error;
mod holder;
mod lineset;
pub mod policy;
mod set;

pub use buffer::SyncBuffer;
pub use domain::{SyncConfig, SyncDomain, SyncStats};
pub use error::SyncError;
pub use policy::{Access, Agent, CoherencyTracker, Mode, Plan, RangeError};
pub use set::{CpuRead, CpuWrite, DmaAccess, Locked, SyncSet};
