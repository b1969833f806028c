//! The EL1 physical timer interrupt on every core: counts ticks, checks none fires before
//! its deadline, and re-arms in periodic mode. Board-independent (the board names the
//! interrupt ID of its controller, from its device tree or its SoC's fixed map); every AArch64 board's
//! bring-up and `timer` test use it.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::cpu::{self, MAX_CPUS};
use crate::irq::{self, IrqError};
use crate::timer::{self, PhysicalTimer};

/// Interrupt priority of the timer (lower is more urgent; GIC priorities are 8 bits, the
/// BCM2836 local controller has none).
pub const TIMER_PRIORITY: u8 = 0x80;

static INTID: AtomicU32 = AtomicU32::new(0);
static COUNT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static PERIOD: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Largest (counter at handler entry - deadline), per core.
static MAX_LATENESS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Set if a handler ever ran before its deadline (an interrupt controller or timer
/// programming bug).
static EARLY: AtomicBool = AtomicBool::new(false);

fn on_tick(_intid: u32) {
    let now = timer::counter();
    let deadline = PhysicalTimer.deadline();
    let i = cpu::cpu_index().unwrap_or(0);
    if now < deadline {
        EARLY.store(true, Ordering::Relaxed);
    }
    MAX_LATENESS[i].fetch_max(now.saturating_sub(deadline), Ordering::Relaxed);
    COUNT[i].fetch_add(1, Ordering::Release);
    match PERIOD[i].load(Ordering::Relaxed) {
        0 => PhysicalTimer.disarm(),
        p => PhysicalTimer.arm_at(deadline.saturating_add(p).max(now + 1)),
    }
}

/// Registers the tick handler for `intid` and enables it on the calling core.
pub fn install(intid: u32) -> Result<(), IrqError> {
    PhysicalTimer.disarm();
    INTID.store(intid, Ordering::Relaxed);
    irq::register_handler(intid, on_tick)?;
    enable_on_this_core()
}

/// Enables the timer interrupt on the calling core (each core's PPI is separate).
pub fn enable_on_this_core() -> Result<(), IrqError> {
    PhysicalTimer.disarm();
    irq::enable_private(INTID.load(Ordering::Relaxed), TIMER_PRIORITY)
}

/// Ticks handled so far on logical core `index`.
pub fn count_on(index: usize) -> u64 {
    COUNT.get(index).map_or(0, |c| c.load(Ordering::Acquire))
}

/// Ticks handled so far on the calling core.
pub fn count() -> u64 {
    count_on(cpu::cpu_index().unwrap_or(0))
}

/// Largest observed delivery lateness (ticks after the deadline) on the calling core.
pub fn max_lateness() -> u64 {
    MAX_LATENESS[cpu::cpu_index().unwrap_or(0)].load(Ordering::Relaxed)
}

/// Whether any tick was ever handled before its deadline.
pub fn ever_early() -> bool {
    EARLY.load(Ordering::Relaxed)
}

/// Starts periodic ticks every `period` counter ticks on the calling core.
pub fn start_periodic(period: u64) {
    PERIOD[cpu::cpu_index().unwrap_or(0)].store(period.max(1), Ordering::Relaxed);
    PhysicalTimer.arm_in(period.max(1));
}

/// Stops the calling core's ticks.
pub fn stop() {
    PERIOD[cpu::cpu_index().unwrap_or(0)].store(0, Ordering::Relaxed);
    PhysicalTimer.disarm();
}
