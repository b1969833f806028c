//! What a submission can be refused for, and the set that comes back with the refusal.

use core::fmt;

use dmasync_sync::syncset::SyncError;

/// Why an engine or display refused a submission or a control request. Every variant names
/// what was wrong; a refused submission queued nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The sync set has no access for `buffer` on this device, or one that does not allow
    /// what the command does (`wanted`: "read", "write", "read+write").
    NotLockedFor {
        /// The buffer's name.
        buffer: &'static str,
        /// The access the command needs.
        wanted: &'static str,
    },
    /// A rectangle or span does not lie inside the buffer's registered range.
    OutOfBounds {
        /// The buffer's name.
        buffer: &'static str,
        /// What was out of bounds ("fill rect", "blit source", "framebuffer", ...).
        what: &'static str,
    },
    /// A surface description is inconsistent (stride smaller than a row, zero size).
    BadSurface {
        /// The buffer's name.
        buffer: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// The engine cannot do this (operation, pixel format or size beyond its capabilities).
    Unsupported(&'static str),
    /// The command queue is full; submit again after earlier work completes.
    QueueFull,
    /// The submission is empty.
    Empty,
    /// The device refused a display mode (`width` x `height`).
    ModeRefused {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// A flip was requested before any mode was set.
    NoMode,
    /// The framebuffer is smaller than the current mode needs.
    FramebufferTooSmall {
        /// The buffer's name.
        buffer: &'static str,
        /// Bytes the mode needs.
        need: usize,
        /// Bytes the surface has.
        have: usize,
    },
    /// The sync set refused (e.g. the watchdog expired the lock).
    Sync(SyncError),
    /// The device reported an error.
    Device(&'static str),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotLockedFor { buffer, wanted } => {
                write!(
                    f,
                    "buffer `{buffer}` is not locked for {wanted} by this device"
                )
            }
            Self::OutOfBounds { buffer, what } => {
                write!(f, "{what} lies outside buffer `{buffer}`")
            }
            Self::BadSurface { buffer, why } => write!(f, "surface on `{buffer}`: {why}"),
            Self::Unsupported(what) => write!(f, "not supported by this engine: {what}"),
            Self::QueueFull => f.write_str("command queue full"),
            Self::Empty => f.write_str("empty submission"),
            Self::ModeRefused { width, height } => {
                write!(f, "the display refused mode {width}x{height}")
            }
            Self::NoMode => f.write_str("no display mode set"),
            Self::FramebufferTooSmall { buffer, need, have } => write!(
                f,
                "framebuffer `{buffer}` has {have} bytes, the mode needs {need}"
            ),
            Self::Sync(e) => write!(f, "sync set: {e}"),
            Self::Device(what) => write!(f, "device error: {what}"),
        }
    }
}

impl From<SyncError> for EngineError {
    fn from(e: SyncError) -> Self {
        Self::Sync(e)
    }
}

/// A refused submission: the error, and the sync set (or other owned input) handed back
/// unchanged, so the caller still holds its buffers and decides what to do.
#[derive(Debug)]
pub struct Rejected<T> {
    /// Why.
    pub error: EngineError,
    /// What the caller passed in, returned.
    pub returned: T,
}

impl<T> Rejected<T> {
    /// Pairs an error with the input it refused.
    pub fn new(error: EngineError, returned: T) -> Self {
        Self { error, returned }
    }
}
