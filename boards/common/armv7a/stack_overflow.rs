//! Shared by the ARMv7-A boards (exynos4, qemu-virt-a15): each board's `tests/stack_overflow.rs` names
//! its board crate `board` and makes this file its module (`#[path]`), so the body is written
//! once (the board provides `init()`, `release_secondary(entry)` and `arch`).
//!
//! cpu 1 recurses without bound: its SYS stack runs into the unmapped guard page below it.
//! The data abort is taken in ABT mode, on cpu 1's own ABT stack, so the report comes out
//! (level-2 translation fault on a write, DFAR named as cpu 1's SYS stack guard page) and
//! the program ends with the exception exit code. Lines and code: board.toml
//! `[tests.stack_overflow]`.

use board::arch::{cpu, println};

/// Uses 512 bytes of stack per level and cannot be turned into a loop (the result depends on
/// the frame's contents after the call); the depth bound is never reached.
#[inline(never)]
fn recurse(depth: u32) -> u32 {
    let mut frame = [0u8; 512];
    frame[(depth % 512) as usize] = depth as u8;
    core::hint::black_box(&mut frame);
    if depth == u32::MAX {
        return 0;
    }
    recurse(depth + 1) + u32::from(frame[(depth % 512) as usize])
}

fn overflow(_core: usize) -> ! {
    let r = recurse(0);
    println!("stack_overflow: recursion returned {r}, which it cannot");
    loop {
        cpu::wait_for_interrupt_masked();
    }
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let _board = board::init();
    println!("stack_overflow: cpu 1 recurses into its guard page");
    board::release_secondary(overflow);
    loop {
        cpu::wait_for_event();
    }
}
