//! The sync-set watchdog on the board: a periodic check of every registered sync domain
//! ([`dmasync_sync::syncset::Watchdog`], which says why interrupt context is safe for it), so
//! a holder past its deadline is expired even when nobody waits in `lock`.
//!
//! It runs from the MCT local-timer tick ([`crate::ticks`]) of the core that calls
//! [`start`], at the shortest period the registered domains ask for. That core's tick is the
//! watchdog's from then on (a program that also counts ticks on it sees them at that
//! period).

use core::sync::atomic::{AtomicU32, Ordering};

use dmasync_armv7a::cpu;
use dmasync_sync::syncset::Watchdog;

use crate::ticks::{self, TickError};

pub use dmasync_sync::syncset::Watched;

static WATCHDOG: Watchdog = Watchdog::new();
/// Core running the watchdog, + 1 (0: none).
static CORE: AtomicU32 = AtomicU32::new(0);

/// Why the watchdog could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchdogError {
    /// Already running on another core (one core runs the watchdog).
    OtherCore(usize),
    /// The tick could not be started at the period.
    Tick(TickError),
}

impl core::fmt::Display for WatchdogError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WatchdogError::OtherCore(c) => write!(f, "the watchdog already runs on cpu {c}"),
            WatchdogError::Tick(e) => write!(f, "the watchdog's MCT tick: {e:?}"),
        }
    }
}

fn check() {
    WATCHDOG.poll();
}

/// Registers `domain` and makes sure the watchdog runs on this core, every
/// `domain.config().watchdog_poll` (the shortest of all registered domains). The caller
/// unmasks IRQs on this core.
pub fn start(domain: &'static dyn Watched) -> Result<(), WatchdogError> {
    let me = cpu::core_number();
    if let Err(c) = CORE.compare_exchange(0, me as u32 + 1, Ordering::AcqRel, Ordering::Acquire)
        && c as usize - 1 != me
    {
        return Err(WatchdogError::OtherCore(c as usize - 1));
    }
    let period = WATCHDOG.watch(domain);
    let ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
    ticks::start_on_this_core(ns).map_err(WatchdogError::Tick)?;
    ticks::set_hook_on_this_core(Some(check)).map_err(WatchdogError::Tick)
}

/// Stops the periodic check (on the core running it) and forgets every domain.
pub fn stop() -> Result<(), WatchdogError> {
    ticks::set_hook_on_this_core(None).map_err(WatchdogError::Tick)?;
    ticks::stop_on_this_core().map_err(WatchdogError::Tick)?;
    WATCHDOG.clear();
    CORE.store(0, Ordering::Release);
    Ok(())
}

/// Runs the check once for every registered domain, now, from the caller's context.
/// Returns how many holders expired.
pub fn poll() -> usize {
    WATCHDOG.poll()
}

/// How many checks have run (tick and [`poll`]).
pub fn runs() -> u64 {
    WATCHDOG.runs()
}

/// How many holders the watchdog has expired.
pub fn expired() -> u64 {
    WATCHDOG.expired()
}
