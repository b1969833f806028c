//! Secondary cores on a QEMU ELF boot of an A9 MPCore, where every core starts at the
//! entry point (hardware.md §1.4): `aarch32-rt`'s start-up sends each core other than 0 to
//! `_asm_secondary_core_park` before it touches memory; it waits there, in WFE, until
//! [`release`] publishes the entry function and sends an event. Then the core sets up its
//! own stacks (aarch32-rt's per-core stacks, `_num_cores` copies) and runs
//! `kmain_secondary`, which turns its MMU and caches on with the primary's tables and calls
//! the released function.
//!
//! A core started by PSCI `CPU_ON` ([`crate::psci::start_secondaries`]) enters the same
//! start-up after its release, so it passes the park at once.
//!
//! On real Exynos4 silicon the secondaries never reach the ELF entry: the iROM holds them
//! until the boot core writes the entry to a PMU register and sends an event (doc/boards.md).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Written last by [`release`]: the value the parked cores wait for. A magic value, not a
/// flag, because core 0 zeroes `.bss` while the secondaries already poll it (a garbage word
/// in uninitialised RAM is not mistaken for a release).
#[unsafe(no_mangle)]
static DMASYNC_SECONDARY_RELEASE: AtomicU32 = AtomicU32::new(0);
const RELEASED: u32 = 0x5ec0_4d05;

/// The function each released secondary runs, with its core number.
static ENTRY: AtomicUsize = AtomicUsize::new(0);

core::arch::global_asm!(
    r#"
    .pushsection .text._asm_secondary_core_park
    .arm
    .global _asm_secondary_core_park
    .type _asm_secondary_core_park, %function
    .p2align 2
    _asm_secondary_core_park:
        ldr     r1, =DMASYNC_SECONDARY_RELEASE
        ldr     r2, ={released}
    1:
        ldr     r3, [r1]
        cmp     r3, r2
        beq     2f
        wfe
        b       1b
    2:
        dmb
        bx      lr
    .size _asm_secondary_core_park, . - _asm_secondary_core_park
    .popsection
    "#,
    released = const RELEASED,
);

/// Releases every parked secondary into `entry(core_number)`. Call once, from core 0,
/// after everything the secondaries use is set up.
pub fn release(entry: fn(usize) -> !) {
    ENTRY.store(entry as usize, Ordering::Release);
    DMASYNC_SECONDARY_RELEASE.store(RELEASED, Ordering::Release);
    // The parked cores read both words with their MMU and caches off, so from memory: clean
    // them from this core's data cache to the Point of Coherency (DCCMVAC, ARM ARM B4.2.1).
    for word in [
        ENTRY.as_ptr() as usize,
        DMASYNC_SECONDARY_RELEASE.as_ptr() as usize,
    ] {
        // SAFETY: cleaning the line of a static we own writes back data, it loses none.
        unsafe { core::arch::asm!("mcr p15, 0, {}, c7, c10, 1", in(reg) word, options(nostack)) };
    }
    crate::cpu::send_event();
}

/// Run by aarch32-rt on each released secondary, on its own SYS stack.
#[unsafe(no_mangle)]
extern "C" fn kmain_secondary() -> ! {
    let entry = ENTRY.load(Ordering::Acquire);
    let n = crate::cpu::core_number();
    if entry == 0 {
        // Released without an entry cannot happen through `release`; park for good.
        loop {
            crate::cpu::wait_for_interrupt_masked();
        }
    }
    // SAFETY: we are a secondary with the MMU off; `init_secondary` only enables it once the
    // primary built the tables (else it returns false and we run uncached, as before).
    unsafe { crate::mmu::init_secondary() };
    // SAFETY: `release` stores only `fn(usize) -> !` pointers.
    let f: fn(usize) -> ! = unsafe { core::mem::transmute::<usize, fn(usize) -> !>(entry) };
    f(n)
}
