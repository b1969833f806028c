//! The monotonic counter behind `dmasync_firmware`'s clock, the platform's `now` and
//! [`Delay`]: whichever source the board started, the Cortex-A9 global timer
//! ([`crate::global_timer::init`]) or the ARM generic timer ([`crate::generic_timer::init`]).
//! The choice is made once at run time, because one crate serves both kinds of core; until a
//! board picks one, the counter reads 0 and the frequency is 0.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use dmasync_hal::clock::TickScale;

/// Which counter is the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// No source started yet.
    None,
    /// The Cortex-A9 MPCore global timer (memory mapped).
    GlobalTimer,
    /// The ARM generic timer's physical count, CNTPCT (CP15).
    GenericTimer,
}

static SOURCE: AtomicU8 = AtomicU8::new(0);
static HZ: AtomicU64 = AtomicU64::new(0);
/// `TickScale::raw` of the rate (0 before a source is selected).
static SCALE: AtomicU64 = AtomicU64::new(0);

/// Makes `source`, counting at `hz`, the clock. Called by the sources' `init`, which have
/// made the counter readable first.
pub(crate) fn select(source: Source, hz: u64) {
    HZ.store(hz, Ordering::Relaxed);
    SCALE.store(TickScale::new(hz).raw(), Ordering::Relaxed);
    let code = match source {
        Source::None => 0,
        Source::GlobalTimer => 1,
        Source::GenericTimer => 2,
    };
    SOURCE.store(code, Ordering::Release);
}

/// The source in use.
pub fn source() -> Source {
    match SOURCE.load(Ordering::Acquire) {
        1 => Source::GlobalTimer,
        2 => Source::GenericTimer,
        _ => Source::None,
    }
}

/// The counter value (0 before a source is selected).
pub fn counter() -> u64 {
    match source() {
        Source::GlobalTimer => crate::global_timer::counter(),
        Source::GenericTimer => crate::generic_timer::counter(),
        Source::None => 0,
    }
}

/// The count rate in Hz (0 before a source is selected).
pub fn frequency() -> u64 {
    HZ.load(Ordering::Relaxed)
}

/// The counter in nanoseconds, converted without a division ([`TickScale`]: the A9 has no
/// divide instruction).
pub fn now_ns() -> u64 {
    TickScale::from_raw(SCALE.load(Ordering::Relaxed)).ticks_to_ns(counter())
}

/// `embedded_hal::delay::DelayNs` on the selected counter; never returns early.
#[derive(Debug, Default, Clone, Copy)]
pub struct Delay;

impl embedded_hal::delay::DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        let hz = frequency();
        if hz == 0 {
            return;
        }
        // Round up: a delay may be longer than asked, never shorter.
        let ticks = (u128::from(ns) * u128::from(hz)).div_ceil(1_000_000_000) as u64;
        let start = counter();
        // `start` may have been read just before a tick: wait one more so the delay is never
        // short by a partial tick.
        while counter().wrapping_sub(start) <= ticks {
            core::hint::spin_loop();
        }
    }
}
