//! Each core's periodic timer interrupt: MCT local timer n for core n, through the external
//! GIC (SPI 74 to core 0, SPI 80 to core 1), counted per core.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dmasync_armv7a::cpu;
use dmasync_armv7a::gic::{self, GicError};
use dmasync_armv7a::spin::SpinLock;
use dmasync_exynos_mct::{LocalTimer, MctError};
use dmasync_hal::lock::IrqSpinLock;

use crate::memory_map;

/// Interrupt priority of the tick (lower is more urgent).
pub const TICK_PRIORITY: u8 = 0x80;

const CORES: usize = 2;

static TIMERS: [SpinLock<Option<LocalTimer<'static>>>; CORES] =
    [const { SpinLock::new(None) }; CORES];
static TAKEN: [AtomicBool; CORES] = [const { AtomicBool::new(false) }; CORES];
static COUNT: [AtomicU64; CORES] = [const { AtomicU64::new(0) }; CORES];
/// Run on every tick of its core (the sync-set watchdog's check). The lock masks IRQs, so
/// the tick never finds it held by the code it interrupted.
static HOOKS: [HookSlot; CORES] = [const { IrqSpinLock::new(None) }; CORES];
type HookSlot = IrqSpinLock<Option<fn()>>;

/// Why the tick could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickError {
    /// The calling core has no MCT local timer.
    NoTimerForCore(usize),
    /// The GIC refused the interrupt.
    Gic(GicError),
    /// The MCT refused the period or a write.
    Mct(MctError),
}

fn on_tick(intid: u32) {
    let Some(core) = memory_map::MCT_LOCAL_IRQ.iter().position(|&i| i == intid) else {
        return;
    };
    if let Some(t) = TIMERS[core].lock().as_mut() {
        // Level-triggered: clearing the status lowers the line before EOI.
        t.acknowledge();
    }
    COUNT[core].fetch_add(1, Ordering::Release);
    let hook = *HOOKS[core].lock();
    if let Some(hook) = hook {
        hook();
    }
}

/// Runs `hook` on every tick of the calling core (`None`: nothing), from the tick's
/// interrupt: it must not block.
pub fn set_hook_on_this_core(hook: Option<fn()>) -> Result<(), TickError> {
    let core = cpu::core_number();
    let slot = HOOKS.get(core).ok_or(TickError::NoTimerForCore(core))?;
    *slot.lock() = hook;
    Ok(())
}

/// Starts the calling core's tick every `period_ns` (rounded up to what the MCT can count);
/// returns the programmed period in ns. The caller unmasks IRQs.
pub fn start_on_this_core(period_ns: u64) -> Result<u64, TickError> {
    let core = cpu::core_number();
    if core >= CORES {
        return Err(TickError::NoTimerForCore(core));
    }
    let intid = memory_map::MCT_LOCAL_IRQ[core];
    let mut slot = TIMERS[core].lock();
    if slot.is_none() {
        if TAKEN[core].swap(true, Ordering::AcqRel) {
            return Err(TickError::NoTimerForCore(core));
        }
        // SAFETY: local timer `core` is taken once (TAKEN), here.
        *slot = Some(unsafe { memory_map::mct_local_timer(core) });
        gic::register_handler(intid, on_tick).map_err(TickError::Gic)?;
        gic::enable_shared(intid, TICK_PRIORITY, false, 1 << core).map_err(TickError::Gic)?;
    }
    let clocks = (u128::from(period_ns) * u128::from(memory_map::MCT_TCLK_HZ))
        .div_ceil(1_000_000_000) as u64;
    let timer = slot.as_mut().expect("just set");
    let period = timer.start_periodic(clocks).map_err(TickError::Mct)?;
    Ok((u128::from(period) * 1_000_000_000 / u128::from(memory_map::MCT_TCLK_HZ)) as u64)
}

/// Stops the calling core's tick.
pub fn stop_on_this_core() -> Result<(), TickError> {
    let core = cpu::core_number();
    match TIMERS
        .get(core)
        .and_then(|t| t.lock().as_mut().map(|t| t.stop()))
    {
        Some(r) => r.map_err(TickError::Mct),
        None => Ok(()),
    }
}

/// Ticks taken so far on core `core`.
pub fn count_on(core: usize) -> u64 {
    COUNT.get(core).map_or(0, |c| c.load(Ordering::Acquire))
}
