//! Shared by every AArch64 board: each board's `tests/stack_overflow.rs` names its board crate
//! `board` and makes this file its module (`#[path]`), so the body is written once.
//!
//! Stack overflow: cpu 1 recurses until it runs into the unmapped guard page below its
//! stack. The fault is taken on the core's separate exception stack (SP_EL1), so the report
//! comes out and names the guard page. The lines and the exit code xtask requires are written
//! once, in board.toml `[tests.stack_overflow]` (doc/testing.md).

use board::arch::{exit_code, println, semihosting, timer};

dmasync_aarch64::entry!(main, 40);

/// Uses 512 bytes of stack per level and cannot be turned into a loop (the result depends on
/// the frame's contents after the call).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 512];
    frame[(depth % 512) as usize] = depth as u8;
    core::hint::black_box(&mut frame);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(frame[(depth % 512) as usize])
}

fn overflower(index: usize) -> ! {
    if index == 1 {
        println!("stack_overflow: cpu 1 recurses into its guard page");
        let r = recurse(0);
        println!("test stack_overflow ... FAILED: recursion returned {r}");
        println!(
            "{}",
            dmasync_protocol::verdict::Verdict {
                failed: 1,
                cases: 1
            }
        );
        semihosting::exit(exit_code::TEST_FAILED);
    }
    loop {
        board::arch::cpu::wait_for_interrupt_masked();
    }
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = board::init(x0);
    if board.cpu_count() < 2 {
        println!("test stack_overflow ... FAILED: needs at least 2 CPUs");
        println!(
            "{}",
            dmasync_protocol::verdict::Verdict {
                failed: 1,
                cases: 1
            }
        );
        semihosting::exit(exit_code::TEST_FAILED);
    }
    if let Err(e) = board::start_secondaries(&board, overflower) {
        println!("test stack_overflow ... FAILED: starting secondaries: {e:?}");
        println!(
            "{}",
            dmasync_protocol::verdict::Verdict {
                failed: 1,
                cases: 1
            }
        );
        semihosting::exit(exit_code::TEST_FAILED);
    }
    // cpu 1 ends the run; if its report never comes, say so instead of hanging.
    let hz = timer::counter_frequency();
    let give_up = timer::counter() + 5 * hz;
    while timer::counter() < give_up {
        core::hint::spin_loop();
    }
    println!("test stack_overflow ... FAILED: no exception report from cpu 1 within 5 s");
    println!(
        "{}",
        dmasync_protocol::verdict::Verdict {
            failed: 1,
            cases: 1
        }
    );
    semihosting::exit(exit_code::TEST_FAILED)
}
