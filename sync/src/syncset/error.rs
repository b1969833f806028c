//! What can go wrong with a sync set, each with the detail a user needs to fix it.

use core::fmt;

use crate::fence::FenceError;
use dmasync_hal::dma::DmaRegion;

/// A sync-set error. Every variant leaves the set and its buffers consistent: nothing was
/// locked, or everything that was locked has been released.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// The buffer is already registered in this set (register it once, with the access
    /// that covers everything the task does: e.g. `ReadWrite`).
    Duplicate {
        /// The buffer's name.
        buffer: &'static str,
    },
    /// The set would exceed its configured maximum number of buffers.
    TooManyBuffers {
        /// The configured maximum.
        max: usize,
    },
    /// The buffer is not registered in this set.
    NotRegistered {
        /// The buffer's name.
        buffer: &'static str,
    },
    /// The buffer belongs to another sync domain (another cache/memory configuration).
    ForeignBuffer {
        /// The buffer's name.
        buffer: &'static str,
    },
    /// The region given to [`SyncDomain::buffer`](super::SyncDomain::buffer) is not memory
    /// of that domain's memory system (a region of another simulator, say).
    ForeignRegion {
        /// The name the buffer was to have.
        buffer: &'static str,
    },
    /// The declared byte range is empty or outside the buffer.
    BadRange {
        /// The buffer's name.
        buffer: &'static str,
        /// The declared range.
        range: (usize, usize),
        /// The buffer's length.
        len: usize,
    },
    /// Locking an empty set: there is nothing to synchronize.
    Empty,
    /// A guard asked for an access the buffer was not registered with (e.g. a CPU write
    /// guard for a buffer registered for CPU read, or a DMA guard for another device).
    WrongAccess {
        /// The buffer's name.
        buffer: &'static str,
        /// What was asked for.
        wanted: &'static str,
    },
    /// A second CPU guard for the same buffer while a writer guard is alive, or a writer
    /// guard while any guard is alive: that would alias a `&mut [u8]`.
    GuardBusy {
        /// The buffer's name.
        buffer: &'static str,
    },
    /// The previous holder's work on a buffer completed with an error (a device error, or
    /// the watchdog expired it): its data may be incomplete. This lock attempt was
    /// released; the buffer is free again for the next attempt.
    Predecessor {
        /// The buffer's name.
        buffer: &'static str,
        /// How the previous work ended.
        error: FenceError,
    },
    /// The watchdog took the buffers from this holder after its deadline: its guards no
    /// longer give access and waiters were released with a timeout error.
    Expired,
    /// A buffer has no room for another fence (too many unfinished users at once).
    Congested {
        /// The buffer's name.
        buffer: &'static str,
    },
    /// The lock waited its wait limit ([`SyncConfig::wait_limit`](super::SyncConfig::
    /// wait_limit)) and an earlier user of this buffer had still not finished (a device job
    /// whose fence never signals, say). The lock attempt left nothing behind: no fence of it
    /// is pending, no maintenance ran and the coherency state is unchanged; lock again later.
    WaitTimeout {
        /// The buffer whose earlier user was still running.
        buffer: &'static str,
        /// How long the lock had waited.
        waited: core::time::Duration,
    },
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Duplicate { buffer } => {
                write!(f, "buffer '{buffer}' is already in this sync set")
            }
            SyncError::TooManyBuffers { max } => {
                write!(f, "a sync set holds at most {max} buffers")
            }
            SyncError::NotRegistered { buffer } => {
                write!(f, "buffer '{buffer}' is not in this sync set")
            }
            SyncError::ForeignBuffer { buffer } => {
                write!(f, "buffer '{buffer}' belongs to another sync domain")
            }
            SyncError::ForeignRegion { buffer } => write!(
                f,
                "buffer '{buffer}': its region is not memory of this domain's memory system"
            ),
            SyncError::BadRange {
                buffer,
                range: (s, e),
                len,
            } => {
                write!(
                    f,
                    "range {s}..{e} is empty or outside buffer '{buffer}' ({len} bytes)"
                )
            }
            SyncError::Empty => write!(f, "the sync set has no buffers to lock"),
            SyncError::WrongAccess { buffer, wanted } => {
                write!(f, "buffer '{buffer}' was not registered for {wanted}")
            }
            SyncError::GuardBusy { buffer } => {
                write!(
                    f,
                    "buffer '{buffer}' already has a guard that conflicts with this one"
                )
            }
            SyncError::Predecessor { buffer, error } => {
                write!(
                    f,
                    "the previous user of buffer '{buffer}' ended with {error:?}"
                )
            }
            SyncError::Expired => write!(
                f,
                "the watchdog expired this holder: its buffers were taken back"
            ),
            SyncError::Congested { buffer } => {
                write!(f, "buffer '{buffer}' has no free fence slot")
            }
            SyncError::WaitTimeout { buffer, waited } => write!(
                f,
                "gave up after {} ms: an earlier user of buffer '{buffer}' is still running",
                waited.as_millis()
            ),
        }
    }
}

impl core::error::Error for SyncError {}

/// [`SyncDomain::buffer`](super::SyncDomain::buffer) refused a region: why, and the region
/// itself, handed back so that its memory is not lost (give it to the right domain, or back
/// to its allocator).
#[derive(Debug, PartialEq, Eq)]
pub struct RegionRefused {
    /// Why ([`SyncError::ForeignRegion`] or [`SyncError::BadRange`]).
    pub error: SyncError,
    /// The region, unchanged.
    pub region: DmaRegion,
}

impl fmt::Display for RegionRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl core::error::Error for RegionRefused {}

/// For `?` in code that reports a refusal as a [`SyncError`] (and lets the region go: it
/// is leaked, never handed out twice).
impl From<RegionRefused> for SyncError {
    fn from(r: RegionRefused) -> SyncError {
        r.error
    }
}
