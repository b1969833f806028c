//! Stacks: threads run on SP_EL0, exceptions on a separate per-core SP_EL1 stack, and the
//! lowest page of every thread stack is a guard page left out of the identity map.
//!
//! With one stack for both, a stack overflow faults, and the exception entry then pushes its
//! frame onto the same overflowed stack and faults again, forever. Running threads on SP_EL0
//! (EL1t) and taking exceptions on SP_EL1 (EL1h, PSTATE.SP is set on exception entry, Arm ARM
//! D1.3.2) gives the handler a good stack whatever the thread did, and IRQ handlers never eat
//! into a thread's stack.

use aarch64_rt::Stack;

use crate::cpu::MAX_CPUS;

/// Per-core exception (and IRQ) stack size, in 4 KiB pages.
pub const EXCEPTION_STACK_PAGES: usize = 4;

#[unsafe(link_section = ".stack.dmasync_exception")]
static mut EXCEPTION_STACKS: [Stack<EXCEPTION_STACK_PAGES>; MAX_CPUS] =
    [const { Stack::new() }; MAX_CPUS];

unsafe extern "C" {
    /// Start of the boot core's stack (aarch64-rt image.ld).
    static boot_stack_begin: u8;
}

/// Page size of the guard pages.
pub const GUARD_PAGE: usize = 4096;

/// Guard page of the boot core's stack (its lowest page).
pub fn boot_stack_guard() -> usize {
    (&raw const boot_stack_begin) as usize
}

/// Moves the calling code onto SP_EL0 (keeping the current stack: same address, other
/// register) and points SP_EL1, used from now on by exceptions, at core `index`'s exception
/// stack, and records `index` for the platform's per-context words. Every core calls it once,
/// before enabling interrupts.
///
/// # Panics
///
/// If `index >= MAX_CPUS`.
pub fn use_separate_exception_stack(index: usize) {
    assert!(index < MAX_CPUS, "core index {index} out of range");
    // The two stacks are the two execution contexts of the core: name their context words.
    crate::platform::set_core_index(index);
    // SAFETY: `index` is in range; each core passes its own index, so each exception stack
    // has one user. Its end (the stack grows down) is 4 KiB aligned.
    let top = unsafe {
        (&raw mut EXCEPTION_STACKS)
            .cast::<Stack<EXCEPTION_STACK_PAGES>>()
            .add(index + 1)
    };
    // SAFETY: the current SP value is copied into SP_EL0 before selecting it, so code keeps
    // using the same stack memory; SP_EL1 is then set while selected, without any stack
    // access in between, to memory reserved for this core's exceptions.
    unsafe {
        core::arch::asm!(
            "mov {tmp}, sp",
            "msr sp_el0, {tmp}",
            "msr spsel, #0",
            "msr spsel, #1",
            "mov sp, {top}",
            "msr spsel, #0",
            tmp = out(reg) _,
            top = in(reg) top,
            options(nostack, preserves_flags),
        );
    }
}

/// Whether `addr` lies in one of the guard pages, and if so whose: `Some(None)` for the boot
/// core's stack, `Some(Some(i))` for secondary core `i`'s.
pub fn guard_page_owner(addr: usize) -> Option<Option<usize>> {
    let boot = boot_stack_guard();
    if (boot..boot + GUARD_PAGE).contains(&addr) {
        return Some(None);
    }
    crate::smp::secondary_stack_guards()
        .find(|&(_, g)| (g..g + GUARD_PAGE).contains(&addr))
        .map(|(i, _)| Some(i))
}

/// Every guard page (boot stack first, then secondaries), for the board's identity map.
pub fn guard_pages() -> impl Iterator<Item = usize> {
    core::iter::once(boot_stack_guard()).chain(crate::smp::secondary_stack_guards().map(|(_, g)| g))
}
