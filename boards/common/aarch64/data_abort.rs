//! Shared by every AArch64 board: each board's `tests/data_abort.rs` names its board crate
//! `board` and makes this file its module (`#[path]`), so the body is written once.
//!
//! Data abort: a read of an address outside every mapping must produce the plain-text
//! exception report and the exception exit code. The lines and the exit code xtask requires
//! are written once, in board.toml `[tests.data_abort]` (doc/testing.md).
//!
//! If the read returns, the test prints a FAILED verdict and exits with 1.

use board::arch::{exit_code, println, semihosting};

dmasync_aarch64::entry!(main, 40);

/// Beyond RAM (which ends at most at 0x4000_0000 + the RAM size; 4 GiB is above every RAM
/// size the test variants use) and above the MMIO window: not in the identity map.
const UNMAPPED: usize = 0x1_0000_0000;

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = board::init(x0);
    if board.idmap.is_mapped(UNMAPPED) {
        println!(
            "test data_abort ... FAILED: {UNMAPPED:#x} is mapped (RAM too large for this test)"
        );
        println!(
            "{}",
            dmasync_protocol::verdict::Verdict {
                failed: 1,
                cases: 1
            }
        );
        semihosting::exit(exit_code::TEST_FAILED);
    }
    println!("data_abort: reading unmapped address {UNMAPPED:#x}");
    // SAFETY: deliberately unsound: the address is not mapped, so the read faults and the
    // exception handler reports and exits; it never returns a value to use.
    let v = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    println!(
        "test data_abort ... FAILED: reading {UNMAPPED:#x} returned {v:#x} instead of faulting"
    );
    println!(
        "{}",
        dmasync_protocol::verdict::Verdict {
            failed: 1,
            cases: 1
        }
    );
    semihosting::exit(exit_code::TEST_FAILED)
}
