//! The sync-set watchdog of every AArch64 board: a periodic `check_deadlines` for every
//! registered sync domain, so a holder past its deadline is expired even when nobody waits in
//! `lock`. One file, a module of each board crate (`#[path]` in qemu-virt's and imx8mp-evk's
//! src/lib.rs): it needs `dmasync_sync`, which `arch/` sits below, and nothing of a board but
//! the virtual timer's INTID, which the board passes to [`start`].
//!
//! It runs from the **EL1 virtual timer** interrupt of the core that calls [`start`] (cpu 0
//! in the demo and the tests). The virtual timer (CNTV_*, Arm ARM D11) is a separate
//! comparator from the physical one that `dmasync_aarch64::ticks` owns, so the watchdog and
//! the tick counter never fight over a deadline or a handler. Where its PPI comes from is the
//! board's business: qemu-virt reads it from the device tree (`Board::virtual_timer_intid`),
//! imx8mp-evk has it in its memory map; INTID 27 on both.
//!
//! The registry of domains and the counts are the portable
//! [`dmasync_sync::syncset::Watchdog`], which says why interrupt context is safe for the check.
//!
//! ```ignore
//! static DOMAIN: ... = ...;             // a `&'static SyncDomain`
//! board::watchdog::start(board.virtual_timer_intid(), domain)?;
//! ```
//!
//! [`poll`] runs the same check from a main loop, for code that prefers no interrupt.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

use dmasync_aarch64::irq::{self, IrqError};
use dmasync_aarch64::timer;
use dmasync_hal::clock::ns_to_ticks;
use dmasync_sync::syncset::Watchdog;

pub use dmasync_sync::syncset::Watched;

/// Interrupt priority of the watchdog (below the tick's, so ticks are never delayed by it).
pub const WATCHDOG_PRIORITY: u8 = 0xa0;

/// Why the watchdog could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchdogError {
    /// The board knows no virtual-timer interrupt (qemu-virt: its device tree's arch timer
    /// lists no third PPI).
    NoVirtualTimerInterrupt,
    /// Already running on another core (one core runs the watchdog).
    OtherCore(usize),
    /// A period of zero ticks, or one too long for the counter.
    BadPeriod(Duration),
    /// Registering or enabling the interrupt failed.
    Irq(IrqError),
}

impl core::fmt::Display for WatchdogError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WatchdogError::NoVirtualTimerInterrupt => f.write_str(
                "the board knows no virtual-timer interrupt (the device tree's arch timer lists no third PPI)",
            ),
            WatchdogError::OtherCore(c) => write!(f, "the watchdog already runs on cpu {c}"),
            WatchdogError::BadPeriod(d) => write!(f, "watchdog period {d:?} is not usable"),
            WatchdogError::Irq(e) => write!(f, "watchdog interrupt set-up failed: {e:?}"),
        }
    }
}

static WATCHDOG: Watchdog = Watchdog::new();
/// Period in counter ticks (0: not running).
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// Core running the watchdog, + 1 (0: none).
static CORE: AtomicU32 = AtomicU32::new(0);

/// Registers `domain` and makes sure the watchdog runs on this core, every
/// `domain.config().watchdog_poll` (the shortest period of all registered domains), from the
/// virtual timer's interrupt `virtual_timer_intid` (the board's; `None`:
/// [`WatchdogError::NoVirtualTimerInterrupt`]). Registering more domains later is fine;
/// registering one twice checks it twice.
pub fn start(
    virtual_timer_intid: Option<u32>,
    domain: &'static dyn Watched,
) -> Result<(), WatchdogError> {
    let me = dmasync_aarch64::cpu::cpu_index().unwrap_or(0);
    match CORE.load(Ordering::Acquire) {
        0 => {}
        c if c as usize - 1 == me => {}
        c => return Err(WatchdogError::OtherCore(c as usize - 1)),
    }
    let hz = timer::counter_frequency();
    let period_d = domain.poll_period();
    let period = u64::try_from(period_d.as_nanos())
        .ok()
        .map(|ns| ns_to_ticks(ns, hz))
        .filter(|&t| t > 0 && t < u64::MAX / 4)
        .ok_or(WatchdogError::BadPeriod(period_d))?;
    let intid = virtual_timer_intid.ok_or(WatchdogError::NoVirtualTimerInterrupt)?;
    // Every registered domain's period passed the check above, so the shortest one is a
    // usable tick count too.
    let shortest = WATCHDOG.watch(domain);
    PERIOD.store(
        ns_to_ticks(shortest.as_nanos() as u64, hz)
            .max(1)
            .min(period),
        Ordering::Relaxed,
    );
    if CORE
        .compare_exchange(0, me as u32 + 1, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        disarm();
        irq::register_handler(intid, on_virtual_timer).map_err(WatchdogError::Irq)?;
        irq::enable_private(intid, WATCHDOG_PRIORITY).map_err(WatchdogError::Irq)?;
        arm_in(PERIOD.load(Ordering::Relaxed));
    }
    Ok(())
}

/// Stops the periodic check (on the core running it) and forgets every domain.
pub fn stop() {
    PERIOD.store(0, Ordering::Relaxed);
    disarm();
    WATCHDOG.clear();
    CORE.store(0, Ordering::Release);
}

/// Runs the check once for every registered domain, now, from the caller's context (a main
/// loop that prefers polling to the interrupt, or a test). Returns how many holders expired.
pub fn poll() -> usize {
    WATCHDOG.poll()
}

/// How many checks have run (interrupt and [`poll`]).
pub fn runs() -> u64 {
    WATCHDOG.runs()
}

/// How many holders the watchdog (interrupt and [`poll`]) has expired.
pub fn expired() -> u64 {
    WATCHDOG.expired()
}

/// CNTV_CTL_EL0: ENABLE bit 0, IMASK bit 1 (Arm ARM D19, "CNTV_CTL_EL0").
const CTL_ENABLE: u64 = 1;
const CTL_IMASK: u64 = 2;

/// Fires the virtual timer `period` ticks from now (virtual counter, CNTVCT_EL0).
fn arm_in(period: u64) {
    let now: u64;
    // SAFETY: reading the virtual counter has no side effect; `isb` keeps the read in order.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) now, options(nomem, nostack, preserves_flags))
    };
    let cval = now.saturating_add(period);
    // SAFETY: CNTV_CVAL_EL0 / CNTV_CTL_EL0 are this core's virtual timer, owned by this
    // module alone (ticks uses the physical timer).
    unsafe {
        core::arch::asm!(
            "msr cntv_cval_el0, {cval}",
            "msr cntv_ctl_el0, {ctl}",
            "isb",
            cval = in(reg) cval,
            ctl = in(reg) CTL_ENABLE,
            options(nostack, preserves_flags)
        )
    };
}

/// Stops the virtual timer (its interrupt deasserts).
fn disarm() {
    // SAFETY: as in `arm_in`: this core's virtual timer, owned by this module.
    unsafe {
        core::arch::asm!("msr cntv_ctl_el0, {}", "isb", in(reg) CTL_IMASK, options(nostack, preserves_flags))
    };
}

fn on_virtual_timer(_intid: u32) {
    let period = PERIOD.load(Ordering::Relaxed);
    if period == 0 {
        disarm();
        return;
    }
    // Stop the timer first (deasserts the level-sensitive PPI), check, then re-arm relative
    // to the end of the check: the interrupted code always gets a whole period between two
    // checks, even when a check overruns the period (a vCPU the host deschedules mid-check,
    // many holders), and a late interrupt causes no burst of catch-up checks.
    disarm();
    poll();
    arm_in(period);
}
