//! The ARM generic timer through CP15 (ARM ARM v7-A, chapter B8 "The Generic Timer"; the
//! registers are `aarch32-cpu`'s): the physical count CNTPCT as the monotonic clock
//! ([`crate::clock`]), its rate from CNTFRQ, and the PL1 physical timer (CNTP_CTL,
//! CNTP_CVAL) as a per-core periodic tick through the GIC ([`ticks`]).
//!
//! Cores that have it: Cortex-A7, A15, A17 (the Virtualization Extensions' cores), not the A9,
//! which has the memory-mapped global timer instead ([`crate::global_timer`]). CNTFRQ is
//! written by boot firmware; QEMU presets it (62.5 MHz for cortex-a15, target/arm/cpu.h
//! GTIMER_DEFAULT_HZ's legacy value for cores before Armv8.6).

use aarch32_cpu::register::{CntPct, Cntfrq, CntpCtl, CntpCval};

/// Why the generic timer cannot be the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerError {
    /// CNTFRQ reads 0: boot firmware did not program it, so the rate is unknown.
    NoFrequency,
}

/// Makes the generic timer's physical count the clock at CNTFRQ's rate.
pub fn init() -> Result<u64, TimerError> {
    let hz = u64::from(Cntfrq::read().0);
    if hz == 0 {
        return Err(TimerError::NoFrequency);
    }
    crate::clock::select(crate::clock::Source::GenericTimer, hz);
    Ok(hz)
}

/// CNTFRQ: the count rate in Hz as boot firmware set it.
pub fn frequency() -> u64 {
    u64::from(Cntfrq::read().0)
}

/// CNTPCT, after an ISB so the read is not hoisted above earlier instructions (B8.1.2: reads
/// of CNTPCT may be made out of order).
pub fn counter() -> u64 {
    aarch32_cpu::asm::isb();
    CntPct::read().0
}

/// Arms this core's physical timer to fire when CNTPCT reaches `compare`, interrupt unmasked.
pub fn arm_at(compare: u64) {
    CntpCval::write(CntpCval(compare));
    CntpCtl::write(
        CntpCtl::new_with_raw_value(0)
            .with_enable(true)
            .with_imask(false),
    );
    aarch32_cpu::asm::isb();
}

/// Stops this core's physical timer (its interrupt deasserts).
pub fn stop() {
    CntpCtl::write(CntpCtl::new_with_raw_value(0));
    aarch32_cpu::asm::isb();
}

/// This core's physical timer condition (CNTP_CTL.ISTATUS).
pub fn condition_met() -> bool {
    CntpCtl::read().istatus()
}

/// A periodic tick per core on the physical timer: each tick re-arms the compare value one
/// period after the previous deadline, counts, and records whether it came early.
pub mod ticks {
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use crate::cpu::{self, MAX_CPUS};
    use crate::gic::{self, GicError};

    /// Priority of the timer interrupt (lower is more urgent; the GIC's middle).
    pub const TIMER_PRIORITY: u8 = 0x80;

    struct PerCore {
        period: AtomicU64,
        deadline: AtomicU64,
        count: AtomicU64,
        early: AtomicBool,
    }

    static CORES: [PerCore; MAX_CPUS] = [const {
        PerCore {
            period: AtomicU64::new(0),
            deadline: AtomicU64::new(0),
            count: AtomicU64::new(0),
            early: AtomicBool::new(false),
        }
    }; MAX_CPUS];

    fn mine() -> Option<&'static PerCore> {
        CORES.get(cpu::core_number())
    }

    fn on_tick(_intid: u32) {
        let Some(c) = mine() else {
            super::stop();
            return;
        };
        let now = super::counter();
        let deadline = c.deadline.load(Ordering::Relaxed);
        if now < deadline {
            c.early.store(true, Ordering::Relaxed);
        }
        c.count.fetch_add(1, Ordering::Release);
        let period = c.period.load(Ordering::Relaxed);
        if period == 0 {
            super::stop();
            return;
        }
        // From the previous deadline, so ticks do not drift; past ones are not replayed.
        let mut next = deadline + period;
        if next <= now {
            next = now + period;
        }
        c.deadline.store(next, Ordering::Relaxed);
        super::arm_at(next);
    }

    /// Registers the tick handler for `intid` (the board's physical-timer PPI) and enables
    /// the PPI on the calling core; [`start`] then starts this core's ticks. Each core that
    /// wants ticks calls it (a PPI is banked per core).
    pub fn install(intid: u32) -> Result<(), GicError> {
        gic::register_handler(intid, on_tick)?;
        gic::enable_private(intid, TIMER_PRIORITY)
    }

    /// Why ticks could not start.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TickError {
        /// A period of 0 ticks would fire continuously.
        ZeroPeriod,
        /// The calling core's number is beyond what the driver keeps state for.
        CoreOutOfRange(usize),
    }

    /// Starts this core's ticks every `period` counter ticks.
    pub fn start(period: u64) -> Result<(), TickError> {
        let c = mine().ok_or(TickError::CoreOutOfRange(cpu::core_number()))?;
        if period == 0 {
            return Err(TickError::ZeroPeriod);
        }
        let deadline = super::counter() + period;
        c.period.store(period, Ordering::Relaxed);
        c.deadline.store(deadline, Ordering::Relaxed);
        super::arm_at(deadline);
        Ok(())
    }

    /// Stops this core's ticks.
    pub fn stop() {
        if let Some(c) = mine() {
            c.period.store(0, Ordering::Relaxed);
        }
        super::stop();
    }

    /// Ticks this core has taken.
    pub fn count() -> u64 {
        mine().map_or(0, |c| c.count.load(Ordering::Acquire))
    }

    /// Ticks core `core` has taken.
    pub fn count_of(core: usize) -> u64 {
        CORES
            .get(core)
            .map_or(0, |c| c.count.load(Ordering::Acquire))
    }

    /// Whether any tick of core `core` ran before its deadline.
    pub fn came_early(core: usize) -> bool {
        CORES
            .get(core)
            .is_some_and(|c| c.early.load(Ordering::Relaxed))
    }
}
