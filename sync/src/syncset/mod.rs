//! Sync sets: dmabuf-sync's sync object, done right.
//!
//! A task registers buffers with an access type, locks them all at once, accesses them
//! through guards, and unlocks; the cache maintenance each access needs is derived from the
//! access before it ([`policy`]).

mod lineset;
pub mod policy;

pub use policy::{Access, Agent, CoherencyTracker, Mode, Plan, RangeError};
