//! A read of an address no translation table entry maps must end in the data abort report:
//! taken in ABT mode from SYS mode, DFSR 0x005 decoded as a level-1 translation fault on a
//! read, DFAR the address, exit code 3. The lines and the code are written once, in
//! board.toml `[tests.data_abort]`. (Without the MMU QEMU's Exynos4 machines would return 0:
//! they ignore accesses to unmapped physical addresses.)
#![no_std]
#![no_main]

use dmasync_exynos4::arch::{exit_code, println, semihosting};

/// Above the 1 GiB of DRAM (0x4000_0000..0x8000_0000): no mapping.
const TARGET: usize = 0x9000_0000;

#[dmasync_armv7a::entry]
fn main() -> ! {
    let _board = dmasync_exynos4::init();
    println!("data_abort: reading unmapped address {TARGET:#x}");
    let value: u32;
    // SAFETY: this test's point is the fault: the address is unmapped, so the load aborts
    // before it reads anything; the abort handler reports and ends the program.
    unsafe {
        core::arch::asm!("ldr {v}, [{a}]", v = out(reg) value, a = in(reg) TARGET, options(nostack));
    }
    println!("data_abort: the load returned {value:#x} instead of aborting");
    semihosting::exit(exit_code::TEST_FAILED)
}
