//! Shared by every AArch64 board: each board's `tests/panic.rs` names its board crate
//! `board` and makes this file its module (`#[path]`), so the body is written once.
//!
//! Panic path under contention: cpu 1 panics while cpu 0 holds the console forever, in the
//! middle of a defmt frame. The panic handler must take the console over after its bounded
//! wait (100 ms), close the half-written frame (0xFF 0x12 0x34, which the host reports as
//! malformed) with 0x00, print the panic in plain text and exit with the panic exit code. The
//! lines and the exit code xtask requires are written once, in board.toml `[tests.panic]`
//! (doc/testing.md).

use core::sync::atomic::{AtomicBool, Ordering};

use board::arch::{console, exit_code, println, semihosting};

dmasync_aarch64::entry!(main, 40);

static HOLDING: AtomicBool = AtomicBool::new(false);

fn panicker(index: usize) -> ! {
    if index != 1 {
        // Only cpu 1 panics, so the expected line is the same on every variant.
        loop {
            board::arch::cpu::wait_for_interrupt_masked();
        }
    }
    while !HOLDING.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    panic!("deliberate panic while cpu 0 holds the console");
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = board::init(x0);
    if board.cpu_count() < 2 {
        println!("test panic ... FAILED: needs at least 2 CPUs");
        println!(
            "{}",
            dmasync_protocol::verdict::Verdict {
                failed: 1,
                cases: 1
            }
        );
        semihosting::exit(exit_code::TEST_FAILED);
    }
    if let Err(e) = board::start_secondaries(&board, panicker) {
        println!("test panic ... FAILED: starting secondaries: {e:?}");
        println!(
            "{}",
            dmasync_protocol::verdict::Verdict {
                failed: 1,
                cases: 1
            }
        );
        semihosting::exit(exit_code::TEST_FAILED);
    }
    console::with_console(|c| {
        c.write_bytes(b"panic: cpu 0 holds the console and never lets go\n");
        // Start a defmt frame and never finish it.
        c.write_bytes(&[0xFF, 0x12, 0x34]);
        HOLDING.store(true, Ordering::Release);
        loop {
            core::hint::spin_loop();
        }
    })
}
