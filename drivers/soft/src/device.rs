//! What every software device does per memory access of a job: bracket it as one use of
//! the job's set (so the watchdog's expiry waits for it), and refuse once the set was
//! expired by the watchdog or the job was abandoned by a reset.

use dmasync_hal::dma::MemorySystem;
use dmasync_hal::dma::{BusAddr, DeviceId};
use dmasync_sync::fence::FenceError;
use dmasync_sync::syncset::{DeviceLease, Locked};

use crate::queue::{ABANDONED, RunGuard};
use dmasync_engine::dma::Span;
use dmasync_engine::error::EngineError;
use dmasync_engine::surface::Need;

/// Runs `f` (one bounded burst of memory accesses for a job) inside the job's access gate
/// and as one burst of its set's lease: a reset waits for it before it signals the job's
/// fence, and the watchdog's expiry waits for it before it hands the buffers on. Refused,
/// `f` not run, once a reset abandoned the job (`Err(DeviceError(ABANDONED))`) or the
/// watchdog started taking the buffers back (`Err(Timeout)`); `Err(Timeout)` also when the
/// expiry started while `f` ran (its accesses landed, but the job must stop).
///
/// `lease` is what [`Locked::unlock_after_leased`] returned for the job's fence.
pub fn job_access<R>(
    guard: &RunGuard<'_>,
    lease: &DeviceLease,
    f: impl FnOnce() -> R,
) -> Result<R, FenceError> {
    guard
        .access(|| lease.burst(f))
        .ok_or(FenceError::DeviceError(ABANDONED))?
}

/// The checks every DMA engine makes of a copy before it writes a register: equal lengths,
/// no overlap within one buffer, the source held for `device`'s read and the destination for
/// its write (read+write when both spans are in one buffer, which must be held for both),
/// each inside its registered range. Returns (destination, source) bus addresses.
pub fn resolve_copy<M: MemorySystem>(
    locked: &Locked<'_, M>,
    device: DeviceId,
    dst: &Span<'_>,
    src: &Span<'_>,
) -> Result<(BusAddr, BusAddr), EngineError> {
    let buffer = dst.buffer.name();
    if dst.len != src.len {
        return Err(EngineError::BadSurface {
            buffer,
            why: "copy destination and source differ in length",
        });
    }
    let same = core::ptr::eq(dst.buffer, src.buffer);
    if same
        && dst.offset < src.offset.saturating_add(src.len)
        && src.offset < dst.offset.saturating_add(dst.len)
    {
        return Err(EngineError::BadSurface {
            buffer,
            why: "copy source and destination overlap",
        });
    }
    let dst_need = if same { Need::ReadWrite } else { Need::Write };
    let d = resolve_span(locked, device, dst, dst_need, "copy destination")?;
    let s = resolve_span(locked, device, src, Need::Read, "copy source")?;
    Ok((d, s))
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
