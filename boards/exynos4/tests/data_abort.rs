//! An unaligned word load with alignment checking on (SCTLR.A) must end in the data abort
//! report: taken in ABT mode from SYS mode, DFSR 0x001 decoded as an alignment fault on a
//! read, DFAR the address, exit code 3. The lines and the code are written once, in
//! board.toml `[tests.data_abort]`.
//!
//! Why an alignment fault: with the MMU off (not yet on for this board) nothing translates,
//! and QEMU's Exynos4 machines ignore accesses to unmapped addresses instead of aborting.
#![no_std]
#![no_main]

use dmasync_exynos4::arch::{exit_code, println, semihosting};

const TARGET: usize = 0x4000_0001;

#[dmasync_armv7a::entry]
fn main() -> ! {
    let _board = dmasync_exynos4::init();
    println!("data_abort: unaligned word load from {TARGET:#x} with alignment checking on");
    let value: u32;
    // SAFETY: this test's point is the fault. SCTLR.A (bit 1) makes the unaligned LDR abort
    // before it reads anything; the abort handler reports and ends the program, so the
    // load never completes and `value` is never used for real.
    unsafe {
        core::arch::asm!(
            "mrc p15, 0, {t}, c1, c0, 0",
            "orr {t}, {t}, #2",
            "mcr p15, 0, {t}, c1, c0, 0",
            "isb",
            "ldr {v}, [{a}]",
            t = out(reg) _,
            v = out(reg) value,
            a = in(reg) TARGET,
            options(nostack)
        );
    }
    println!("data_abort: the load returned {value:#x} instead of aborting");
    semihosting::exit(exit_code::TEST_FAILED)
}
