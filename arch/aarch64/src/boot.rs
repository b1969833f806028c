//! Boot flow shared by every AArch64 board.
//!
//! `aarch64-rt` (feature `el1`) provides the reset entry: it calls `enable_mmu` (our hook in
//! [`crate::mmu`], a no-op on the cold-booting primary), sets CPACR_EL1.FPEN so FP/SIMD does
//! not trap before any Rust runs, zeroes `.bss`, sets the boot stack and calls the board's
//! `main(x0, x1, x2, x3)` registered with [`entry!`](crate::entry), x0 being the device tree
//! pointer when a Linux-style loader started us.
//!
//! The board's `main` then calls [`early_init`] first thing, builds its identity map
//! ([`crate::mmu::IdentityMap`]), and so on.

/// What the boot core does first in Rust: point VBAR_EL1 at our vector table and move to
/// SP_EL0 with a separate exception stack ([`crate::stacks`]). Returns the exception level we
/// run at. Secondaries do the same in [`crate::smp::start_secondary`].
pub fn early_init() -> u8 {
    crate::exceptions::install_vectors();
    crate::stacks::use_separate_exception_stack(0);
    crate::platform::enable_event_stream();
    crate::cpu::current_el()
}
