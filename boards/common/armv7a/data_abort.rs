//! Shared by the ARMv7-A boards (exynos4, qemu-virt-a15): each board's `tests/data_abort.rs` names
//! its board crate `board` and makes this file its module (`#[path]`), so the body is written
//! once. A board provides `init()`, `Board`, `release_secondary(entry)` (exynos4 through its
//! park, qemu-virt-a15 through PSCI `CPU_ON`) and `arch` (dmasync-armv7a, whose `clock` is the
//! counter the board started).
//!
//! A read of an address no translation table entry maps must end in the data abort report:
//! taken in ABT mode from SYS mode, DFSR 0x005 decoded as a level-1 translation fault on a
//! read, DFAR the address, exit code 3. The lines and the code are written once, in
//! board.toml `[tests.data_abort]`. (Without the MMU QEMU's Exynos4 machines would return 0:
//! they ignore accesses to unmapped physical addresses; on virt it would be a bus error.)

use board::arch::{exit_code, println, semihosting};

/// Above the RAM of every ARMv7-A board (exynos4: 1 GiB from 0x4000_0000; qemu-virt-a15:
/// 128 MiB from 0x4000_0000) and above their MMIO windows: no mapping.
const TARGET: usize = 0x9000_0000;

#[dmasync_armv7a::entry]
fn main() -> ! {
    let _board = board::init();
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
