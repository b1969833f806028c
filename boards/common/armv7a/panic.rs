//! Shared by the ARMv7-A boards (exynos4, qemu-virt-a15): each board's `tests/panic.rs` names
//! its board crate `board` and makes this file its module (`#[path]`), so the body is written
//! once. A board provides `init()`, `Board`, `release_secondary(entry)` (exynos4 through its
//! park, qemu-virt-a15 through PSCI `CPU_ON`) and `arch` (dmasync-armv7a, whose `clock` is the
//! counter the board started).
//!
//! Panic path under contention: cpu 1 panics while cpu 0 holds the console forever, in the
//! middle of a defmt frame. The panic handler must take the console over after its bounded
//! wait (100 ms), close the half-written frame (0xFF 0x12 0x34, which the host reports as
//! malformed) with 0x00, print the panic in plain text and exit with the panic exit code.
//! The lines and the exit code xtask requires are written once, in board.toml
//! `[tests.panic]`.

use core::sync::atomic::{AtomicBool, Ordering};

use board::arch::console;

static HOLDING: AtomicBool = AtomicBool::new(false);

fn panicker(_core: usize) -> ! {
    while !HOLDING.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    panic!("deliberate panic while cpu 0 holds the console");
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let _board = board::init();
    board::release_secondary(panicker);
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
