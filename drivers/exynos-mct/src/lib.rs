//! The Samsung Exynos Multi Core Timer (MCT): one local tick timer per core (L0, L1), the
//! interrupt source Linux uses for each core's tick on Exynos4 (`drivers/clocksource/exynos_mct.c`).
//!
//! Register layout and bits from Linux `exynos_mct.c` and QEMU `hw/timer/exynos4210_mct.c`;
//! our own code. A local timer has two down-counters: TCNT counts TCNTB + 1 timer clocks,
//! and each time it expires ICNT counts down; when ICNT has counted ICNTB + 1 of those the
//! timer raises its interrupt (INT_CSTAT bit 0, if INT_ENB bit 0) and, in interval mode,
//! starts again. So one period is (TCNTB + 1) x (ICNTB + 1) clocks of TCLK = the MCT's
//! source clock / ((prescaler + 1) x divider) (MCT_CFG; 24 MHz at reset in QEMU, the XXTI
//! crystal on the boards).
//!
//! Every write to a local timer's TCNTB, ICNTB or TCON sets a bit in its WSTAT when the
//! timer domain has taken it; the driver waits for that bit and clears it (writing 1), as
//! Linux's `exynos4_mct_write` does, so no write is lost across the clock domains.
//!
//! Validated by QEMU's device model through the exynos4 board's `timer` test, and on the
//! host against a register model of the write-status handshake (tests below).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    /// One local timer's block (L0 at MCT + 0x300, L1 at + 0x400).
    pub LocalTimerRegisters {
        (0x00 => pub tcntb: ReadWrite<u32>),
        (0x04 => pub tcnto: ReadWrite<u32>),
        (0x08 => pub icntb: ReadWrite<u32>),
        (0x0c => pub icnto: ReadWrite<u32>),
        (0x10 => pub frcntb: ReadWrite<u32>),
        (0x14 => pub frcnto: ReadWrite<u32>),
        (0x18 => _reserved0),
        (0x20 => pub tcon: ReadWrite<u32>),
        (0x24 => _reserved1),
        (0x30 => pub int_cstat: ReadWrite<u32>),
        (0x34 => pub int_enb: ReadWrite<u32>),
        (0x38 => _reserved2),
        (0x40 => pub wstat: ReadWrite<u32>),
        (0x44 => @END),
    }
}

/// Offset of local timer `n`'s block from the MCT base.
pub const fn local_timer_offset(n: usize) -> usize {
    0x300 + 0x100 * n
}

const TCON_TICK_START: u32 = 1 << 0;
const TCON_INT_START: u32 = 1 << 1;
const TCON_INTERVAL_MODE: u32 = 1 << 2;
/// ICNTB bit 31: load the new ICNTB into the counter now, not at the next expiry.
const ICNTB_MANUAL_UPDATE: u32 = 1 << 31;
const INT_CSTAT_INTCNT: u32 = 1 << 0;
const INT_ENB_ICNTEIE: u32 = 1 << 0;
const WSTAT_TCNTB: u32 = 1 << 0;
const WSTAT_ICNTB: u32 = 1 << 1;
const WSTAT_TCON: u32 = 1 << 3;

/// TCNTB the driver programs: each ICNT step is 2 clocks (Linux's `TICK_BASE_CNT`).
const TCNTB: u32 = 1;
/// The smallest ICNTB QEMU's model accepts with that TCNTB (it raises
/// TCNTB x ICNTB to at least 0x100 so interrupts cannot swamp the emulator).
const MIN_ICNTB: u32 = 0x100 / TCNTB;

/// Why a period cannot be programmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MctError {
    /// The period in timer clocks is shorter than the timer can count (clocks asked, minimum).
    PeriodTooShort(u64, u64),
    /// The period does not fit the 31-bit ICNTB (clocks asked, maximum).
    PeriodTooLong(u64, u64),
    /// The timer domain never acknowledged a write (the WSTAT bit named).
    WriteNotTaken(u32),
}

/// One MCT local timer, polled-free: the board takes its interrupt.
pub struct LocalTimer<'a> {
    regs: &'a LocalTimerRegisters,
}

impl core::fmt::Debug for LocalTimer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalTimer")
            .field("regs", &(self.regs as *const LocalTimerRegisters))
            .finish()
    }
}

/// How often a write-status bit is polled before the write counts as lost. The handshake
/// takes a few timer clocks on silicon and nothing in QEMU.
const WSTAT_POLLS: u32 = 1_000_000;

impl<'a> LocalTimer<'a> {
    /// A driver for the local timer block `regs`.
    ///
    /// # Safety
    ///
    /// Nothing else may access `regs` while the driver lives (it may be sent to the core the
    /// timer belongs to).
    pub unsafe fn new(regs: &'a LocalTimerRegisters) -> Self {
        Self { regs }
    }

    fn write_acked(
        &self,
        reg: &ReadWrite<u32>,
        value: u32,
        wstat_bit: u32,
    ) -> Result<(), MctError> {
        reg.set(value);
        for _ in 0..WSTAT_POLLS {
            if self.regs.wstat.get() & wstat_bit != 0 {
                self.regs.wstat.set(wstat_bit);
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(MctError::WriteNotTaken(wstat_bit))
    }

    /// The period closest to `clocks` the timer can count, in timer clocks, and the ICNTB
    /// for it; never shorter than asked (rounded up to whole ICNT steps).
    pub fn period_for(clocks: u64) -> Result<(u64, u32), MctError> {
        let step = u64::from(TCNTB) + 1;
        let min = step * (u64::from(MIN_ICNTB) + 1);
        let max = step * (u64::from(!ICNTB_MANUAL_UPDATE) + 1);
        if clocks < min {
            return Err(MctError::PeriodTooShort(clocks, min));
        }
        if clocks > max {
            return Err(MctError::PeriodTooLong(clocks, max));
        }
        let icntb = clocks.div_ceil(step) - 1;
        Ok((step * (icntb + 1), icntb as u32))
    }

    /// Stops the timer, then starts it in interval mode with its interrupt enabled: an
    /// interrupt every `period_clocks` timer clocks (rounded up, see [`Self::period_for`]).
    /// Returns the programmed period.
    pub fn start_periodic(&mut self, period_clocks: u64) -> Result<u64, MctError> {
        let (period, icntb) = Self::period_for(period_clocks)?;
        self.stop()?;
        self.write_acked(&self.regs.tcntb, TCNTB, WSTAT_TCNTB)?;
        self.write_acked(&self.regs.icntb, icntb | ICNTB_MANUAL_UPDATE, WSTAT_ICNTB)?;
        self.regs.int_enb.set(INT_ENB_ICNTEIE);
        self.write_acked(
            &self.regs.tcon,
            TCON_TICK_START | TCON_INT_START | TCON_INTERVAL_MODE,
            WSTAT_TCON,
        )?;
        Ok(period)
    }

    /// Stops counting and masks the interrupt; clears a pending one.
    pub fn stop(&mut self) -> Result<(), MctError> {
        self.regs.int_enb.set(0);
        let tcon = self.regs.tcon.get();
        if tcon & (TCON_TICK_START | TCON_INT_START) != 0 {
            self.write_acked(
                &self.regs.tcon,
                tcon & !(TCON_TICK_START | TCON_INT_START | TCON_INTERVAL_MODE),
                WSTAT_TCON,
            )?;
        }
        self.acknowledge();
        Ok(())
    }

    /// Whether the timer's interrupt is pending (its count expired since the last
    /// [`Self::acknowledge`]).
    pub fn is_pending(&self) -> bool {
        self.regs.int_cstat.get() & INT_CSTAT_INTCNT != 0
    }

    /// Clears the pending interrupt (write 1 to INT_CSTAT's bit), which lowers the line.
    pub fn acknowledge(&mut self) {
        self.regs.int_cstat.set(INT_CSTAT_INTCNT);
    }
}

// SAFETY: `new`'s contract makes the driver the only accessor of its block.
unsafe impl Send for LocalTimer<'_> {}

#[cfg(test)]
mod tests {
    //! A register block in plain memory: the period arithmetic, the layout, and a timer domain
    //! that never acknowledges (an error, not a hang). Memory cannot play WSTAT's
    //! write-1-to-clear, so the programming sequence itself is validated by QEMU's model in
    //! the exynos4 `timer` test.
    extern crate std;

    use super::*;

    const WORDS: usize = 0x44 / 4;

    fn regs(words: &mut [u32; WORDS]) -> &LocalTimerRegisters {
        // SAFETY: the array has the block's size and alignment, and is only accessed through
        // the returned reference (registers are interior-mutable cells).
        unsafe { &*(words.as_mut_ptr() as *const LocalTimerRegisters) }
    }

    #[test]
    fn layout_matches_linux() {
        assert_eq!(core::mem::size_of::<LocalTimerRegisters>(), 0x44);
        assert_eq!(local_timer_offset(0), 0x300);
        assert_eq!(local_timer_offset(1), 0x400);
    }

    #[test]
    fn periods_round_up_and_are_bounded() {
        // 1 ms at 24 MHz: 24 000 clocks = 2 x 12 000 -> ICNTB 11 999, exact.
        assert_eq!(LocalTimer::period_for(24_000), Ok((24_000, 11_999)));
        // An odd count rounds up to the next whole ICNT step, never down.
        assert_eq!(LocalTimer::period_for(24_001), Ok((24_002, 12_000)));
        assert_eq!(
            LocalTimer::period_for(10),
            Err(MctError::PeriodTooShort(10, 514))
        );
        assert!(matches!(
            LocalTimer::period_for(u64::MAX),
            Err(MctError::PeriodTooLong(..))
        ));
    }

    #[test]
    fn a_write_the_timer_never_takes_is_an_error_not_a_hang() {
        let mut w = Box::new([0u32; WORDS]);
        let r = regs(&mut w);
        // SAFETY: the test owns the block.
        let mut t = unsafe { LocalTimer::new(r) };
        assert_eq!(
            t.start_periodic(24_000),
            Err(MctError::WriteNotTaken(WSTAT_TCNTB))
        );
    }

    #[test]
    fn acknowledge_writes_the_pending_bit() {
        let mut w = Box::new([0u32; WORDS]);
        w[0x30 / 4] = INT_CSTAT_INTCNT;
        let r = regs(&mut w);
        // SAFETY: the test owns the block.
        let mut t = unsafe { LocalTimer::new(r) };
        assert!(t.is_pending());
        t.acknowledge();
        // Write-1-to-clear on hardware; the memory model just shows the bit written.
        assert_eq!(r.int_cstat.get(), INT_CSTAT_INTCNT);
    }

    use std::boxed::Box;
}
