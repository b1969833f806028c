//! A device's lease on a holder: how an engine that brackets every memory access makes
//! each burst a use of the holder, so the watchdog's expiry waits for a burst in flight.

use alloc::sync::Arc;
use core::fmt;

use crate::fence::FenceError;

use super::holder::Holder;

/// The hold an engine keeps on a set's buffers after [`Locked::unlock_after_leased`]: each
/// burst of the device's memory accesses runs inside [`DeviceLease::burst`], which makes it
/// a use of the holder exactly like a CPU guard's. The watchdog's expiry then completes only
/// when no burst is in flight (the last burst out completes it), and no burst starts once
/// the expiry (or the release) began.
///
/// `'static` (it shares the holder, not a borrow of the set), so it travels with the job to
/// the engine's worker. It grants nothing by itself: an engine's accesses are sound only
/// inside `burst`, and only if they stay within what the set was validated for.
///
/// [`Locked::unlock_after_leased`]: super::Locked::unlock_after_leased
pub struct DeviceLease {
    holder: Arc<Holder>,
}

impl fmt::Debug for DeviceLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceLease")
            .field("holder", &self.holder)
            .finish()
    }
}

/// Leaves the use if the burst unwinds (host tests), so a pending expiry still completes.
struct InFlight<'a>(Option<&'a Holder>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.leave();
        }
    }
}

impl DeviceLease {
    pub(crate) fn new(holder: Arc<Holder>) -> Self {
        Self { holder }
    }

    /// Runs `f`, one bounded burst of the device's accesses to the leased buffers, as one
    /// use of the holder: while `f` runs, the buffers are not handed to anyone else.
    ///
    /// `Err(Timeout)` when the watchdog had started taking the buffers back (`f` did not
    /// run), or started while `f` ran (`f`'s accesses landed before the buffers were handed
    /// on, but the hold is lost: the job must stop and must not report success).
    /// `Err(Cancelled)` when the holder was already released (its job's fence signalled):
    /// `f` did not run.
    pub fn burst<R>(&self, f: impl FnOnce() -> R) -> Result<R, FenceError> {
        if self.holder.enter().is_err() {
            return Err(if self.holder.is_expiring() {
                FenceError::Timeout
            } else {
                FenceError::Cancelled
            });
        }
        let mut in_flight = InFlight(Some(&self.holder));
        let r = f();
        in_flight.0 = None;
        if self.holder.leave() {
            return Err(FenceError::Timeout);
        }
        Ok(r)
    }

    /// True while a burst may start: the holder is neither expiring nor released.
    pub fn is_live(&self) -> bool {
        self.holder.ensure_live().is_ok()
    }
}
