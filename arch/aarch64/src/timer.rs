//! The Arm generic timer: the system counter as a monotonic clock, busy-wait delays, and the
//! EL1 physical timer (CNTP_*) as an interrupt source (Arm ARM D11 "The Generic Timer").

use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTPCT_EL0, Readable, Writeable,
};
use dmasync_hal::clock::ns_to_ticks;

/// Current value of the physical system counter. An `isb` first, so the read is not hoisted
/// above earlier instructions (Arm ARM D11.2.2: counter reads may be speculated).
#[inline]
pub fn counter() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTPCT_EL0.get()
}

/// Counter frequency in Hz from CNTFRQ_EL0 (set by firmware; QEMU virt: 62.5 MHz). Never 0:
/// a firmware that left it unset would make every conversion divide by zero, so 1 is reported.
#[inline]
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// `TickScale::raw` of CNTFRQ_EL0, computed on first use (0: not yet). Firmware sets CNTFRQ
/// once before the OS (here: QEMU or the boot loader) starts, so it never changes under us.
static SCALE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The counter in nanoseconds, converted without a division (`TickScale`; the `u128`
/// division of `ticks_to_ns` is a library call of ~100 instructions here).
pub fn now_ns() -> u64 {
    use core::sync::atomic::Ordering;
    use dmasync_hal::clock::TickScale;
    let mut raw = SCALE.load(Ordering::Relaxed);
    if raw == 0 {
        // Racing cores compute the same value; any of their stores is right.
        raw = TickScale::new(counter_frequency()).raw();
        SCALE.store(raw, Ordering::Relaxed);
    }
    TickScale::from_raw(raw).ticks_to_ns(counter())
}

/// The generic timer of the calling core: its counter (the clock behind the board's
/// `platform::now`) and `embedded_hal`'s [`DelayNs`](embedded_hal::delay::DelayNs). A zero-sized handle: every core has its own
/// counter view and they all agree (the system counter is shared).
#[derive(Clone, Copy, Debug, Default)]
pub struct GenericTimer;

impl GenericTimer {
    /// Current counter value ([`counter`]).
    pub fn ticks(&self) -> u64 {
        counter()
    }

    /// Counter frequency in Hz ([`counter_frequency`]).
    pub fn frequency_hz(&self) -> u64 {
        counter_frequency()
    }

    /// Busy-waits at least `ticks` counter ticks.
    ///
    /// The first counter read may happen just before the counter increments, so a difference
    /// of `n` between two reads only proves `n - 1` full ticks passed; we wait for `ticks + 1`.
    pub fn delay_ticks(&self, ticks: u64) {
        if ticks == 0 {
            return;
        }
        let start = counter();
        let need = ticks.saturating_add(1);
        while counter().wrapping_sub(start) < need {
            core::hint::spin_loop();
        }
    }
}

impl embedded_hal::delay::DelayNs for GenericTimer {
    /// Never returns early: nanoseconds are converted to ticks rounding up, plus one tick for
    /// the phase of the first read.
    fn delay_ns(&mut self, ns: u32) {
        self.delay_ticks(ns_to_ticks(u64::from(ns), counter_frequency()));
    }

    fn delay_us(&mut self, us: u32) {
        self.delay_ticks(ns_to_ticks(u64::from(us) * 1_000, counter_frequency()));
    }

    fn delay_ms(&mut self, ms: u32) {
        self.delay_ticks(ns_to_ticks(u64::from(ms) * 1_000_000, counter_frequency()));
    }
}

/// The calling core's EL1 physical timer (CNTP_CTL_EL0 / CNTP_CVAL_EL0). Its interrupt is a
/// PPI whose number the device tree gives (INTID 30 on QEMU virt).
#[derive(Clone, Copy, Debug, Default)]
pub struct PhysicalTimer;

impl PhysicalTimer {
    /// Fires the timer interrupt when the counter reaches `deadline` (absolute ticks).
    pub fn arm_at(&self, deadline: u64) {
        CNTP_CVAL_EL0.set(deadline);
        CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
    }

    /// Fires the timer interrupt `ticks` from now; returns the deadline.
    pub fn arm_in(&self, ticks: u64) -> u64 {
        let deadline = counter().saturating_add(ticks);
        self.arm_at(deadline);
        deadline
    }

    /// Stops the timer (its interrupt deasserts).
    pub fn disarm(&self) {
        CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::CLEAR + CNTP_CTL_EL0::IMASK::SET);
    }

    /// The programmed deadline.
    pub fn deadline(&self) -> u64 {
        CNTP_CVAL_EL0.get()
    }

    /// Whether the timer condition is met (counter >= deadline) and the timer enabled.
    pub fn is_pending(&self) -> bool {
        CNTP_CTL_EL0.matches_all(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::ISTATUS::SET)
    }
}
