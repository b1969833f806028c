//! What every software device does per memory access of a job: refuse once the job's set
//! was expired by the watchdog or the job was abandoned by a reset.

use dmasync_hal::dma::MemorySystem;
use dmasync_hal::dma::{BusAddr, DeviceId};
use dmasync_sync::fence::{Fence, FenceError};
use dmasync_sync::syncset::Locked;

use crate::queue::{ABANDONED, RunGuard};
use dmasync_engine::dma::Span;
use dmasync_engine::error::EngineError;
use dmasync_engine::surface::Need;

/// Runs `f` (one bounded burst of memory accesses for a job) unless the submitting set's
/// `done` fence has signalled — the watchdog took the buffers back, `Err(Timeout)` — or a
/// reset abandoned the job (`Err(DeviceError(ABANDONED))`).
///
/// `lock_done` is the set's [`Locked::done_fence`], taken before the set was handed to
/// `unlock_after` with the job's fence: it can signal before the job's own fence only by
/// expiry.
pub fn job_access<R>(
    guard: &RunGuard<'_>,
    lock_done: &Fence,
    f: impl FnOnce() -> R,
) -> Result<R, FenceError> {
    if lock_done.is_signalled() {
        return Err(FenceError::Timeout);
    }
    guard.access(f).ok_or(FenceError::DeviceError(ABANDONED))
}

/// Checks that `locked` holds `span`'s buffer for `device` with an access allowing `need`,
/// that the span is not empty and lies inside the registered range; returns its bus
/// address. `what` names the span in an `OutOfBounds` error.
pub fn resolve_span<M: MemorySystem>(
    locked: &Locked<'_, M>,
    device: DeviceId,
    span: &Span<'_>,
    need: Need,
    what: &'static str,
) -> Result<BusAddr, EngineError> {
    let buffer = span.buffer.name();
    let wanted = match need {
        Need::Read => "read",
        Need::Write => "write",
        Need::ReadWrite => "read+write",
    };
    let not_locked = EngineError::NotLockedFor { buffer, wanted };
    let guard = match locked.dma(span.buffer, device) {
        Ok(g) => g,
        Err(dmasync_sync::syncset::SyncError::Expired) => {
            return Err(EngineError::Sync(dmasync_sync::syncset::SyncError::Expired));
        }
        Err(_) => return Err(not_locked),
    };
    let a = guard.access();
    let allowed = match need {
        Need::Read => a.reads(),
        Need::Write => a.writes(),
        Need::ReadWrite => a.reads() && a.writes(),
    };
    if !allowed {
        return Err(not_locked);
    }
    if span.len == 0 {
        return Err(EngineError::Empty);
    }
    let (range_bus, range_len) = guard.bus_range()?;
    let base = span.buffer.region().bus().0;
    let start = (range_bus.0 - base) as usize;
    let end = start + range_len;
    let inside =
        span.offset >= start && matches!(span.offset.checked_add(span.len), Some(e) if e <= end);
    if !inside {
        return Err(EngineError::OutOfBounds { buffer, what });
    }
    Ok(BusAddr(base + span.offset as u64))
}
