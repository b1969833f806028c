//! The Cortex-A9 MPCore global timer: a 64-bit up-counter shared by all cores at
//! PERIPHBASE + 0x200, the monotonic clock behind `dmasync_firmware`'s counter and
//! `DelayNs` (Cortex-A9 MPCore TRM r4p1, 4.4 "Global timer"; QEMU hw/timer/a9gtimer.c).
//!
//! Registers: counter low 0x00 and high 0x04, control 0x08 (bit 0 timer enable, bits 15:8
//! prescaler), interrupt status 0x0C, comparator 0x10/0x14, auto-increment 0x18. The count
//! rate is PERIPHCLK / (prescaler + 1): a board fact (QEMU's model counts every 10 ns, i.e.
//! 100 MHz, at prescaler 0).

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dmasync_hal::clock::TickScale;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields![u32,
    CONTROL [
        TIMER_ENABLE OFFSET(0) NUMBITS(1) [],
        PRESCALER OFFSET(8) NUMBITS(8) []
    ]
];

register_structs! {
    /// The global timer's register block.
    pub GlobalTimerRegisters {
        (0x00 => counter_lo: ReadOnly<u32>),
        (0x04 => counter_hi: ReadOnly<u32>),
        (0x08 => control: ReadWrite<u32, CONTROL::Register>),
        (0x0c => _rest),
        (0x20 => @END),
    }
}

static REGS: AtomicUsize = AtomicUsize::new(0);
static HZ: AtomicU64 = AtomicU64::new(0);
/// `TickScale::raw` of the rate (0 before `init`).
static SCALE: AtomicU64 = AtomicU64::new(0);

/// Starts the global timer (prescaler 0) and makes it the counter ([`crate::clock`]).
///
/// # Safety
///
/// `regs` must be this core cluster's global timer block, mapped as device memory for the
/// rest of the program; `hz` its count rate at prescaler 0.
pub unsafe fn init(regs: *const GlobalTimerRegisters, hz: u64) {
    // SAFETY: the caller guarantees `regs` is the mapped timer block.
    let r = unsafe { &*regs };
    r.control
        .write(CONTROL::TIMER_ENABLE::SET + CONTROL::PRESCALER.val(0));
    HZ.store(hz, Ordering::Relaxed);
    SCALE.store(TickScale::new(hz).raw(), Ordering::Relaxed);
    REGS.store(regs as usize, Ordering::Release);
    crate::clock::select(crate::clock::Source::GlobalTimer, hz);
}

/// The counter value (0 before [`init`]). Reads high, low, high until the high word is
/// stable, the TRM's procedure for a consistent 64-bit value.
pub fn counter() -> u64 {
    let p = REGS.load(Ordering::Acquire);
    if p == 0 {
        return 0;
    }
    // SAFETY: only `init` stores a non-zero value, the mapped register block.
    let r = unsafe { &*(p as *const GlobalTimerRegisters) };
    loop {
        let hi = r.counter_hi.get();
        let lo = r.counter_lo.get();
        if r.counter_hi.get() == hi {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// The count rate in Hz (0 before [`init`]).
pub fn frequency() -> u64 {
    HZ.load(Ordering::Relaxed)
}

/// The counter in nanoseconds (0 before [`init`]), converted without a division
/// ([`TickScale`]: the A9 has no divide instruction).
pub fn now_ns() -> u64 {
    TickScale::from_raw(SCALE.load(Ordering::Relaxed)).ticks_to_ns(counter())
}

/// `embedded_hal::delay::DelayNs` on the global timer; never returns early.
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
