//! The calling core: who it is, its interrupt mask, waiting for events.

use core::arch::asm;

use aarch32_cpu::register::Mpidr;

/// How many cores the armv7a glue keeps per-core state for (Cortex-A9 MPCore: up to 4).
pub const MAX_CPUS: usize = 4;

/// MPIDR's affinity bits (Aff2..Aff0); bit 31 (the "multiprocessing extensions" flag) and
/// the U bit are dropped so the value names the core only.
pub fn mpidr() -> u32 {
    Mpidr::read().0 & 0x00ff_ffff
}

/// The core number within the cluster (MPIDR.Aff0): on a Cortex-A9 MPCore, 0..=3.
pub fn core_number() -> usize {
    (mpidr() & 0xff) as usize
}

/// CPSR's I and F bits: what [`mask_irqs`] saves and [`restore_irqs`] puts back.
const IF_BITS: u32 = 0xc0;

/// Masks IRQ and FIQ on this core; returns the previous I/F bits for [`restore_irqs`].
#[inline]
pub fn mask_irqs() -> u32 {
    let cpsr: u32;
    // SAFETY: reading CPSR and setting its I and F mask bits (`cpsid if`) only delays
    // interrupts on this core; no memory is touched.
    unsafe {
        asm!("mrs {}, cpsr", "cpsid if", out(reg) cpsr, options(nomem, nostack, preserves_flags))
    };
    cpsr & IF_BITS
}

/// Restores the I/F bits from [`mask_irqs`].
#[inline]
pub fn restore_irqs(saved: u32) {
    if saved & 0x80 == 0 {
        // SAFETY: the caller had IRQs unmasked when it called `mask_irqs`; the vector table is
        // in place before any interrupt source is enabled.
        unsafe { asm!("cpsie i", options(nomem, nostack, preserves_flags)) };
    }
    if saved & 0x40 == 0 {
        // SAFETY: as above, for FIQs.
        unsafe { asm!("cpsie f", options(nomem, nostack, preserves_flags)) };
    }
}

/// Unmasks IRQs on this core.
#[inline]
pub fn enable_irqs() {
    // SAFETY: the vector table is installed by the start-up code before `kmain`.
    unsafe { aarch32_cpu::asm::irq_enable() };
}

/// The current CPSR.
pub fn cpsr() -> u32 {
    let cpsr: u32;
    // SAFETY: reading CPSR has no side effects.
    unsafe { asm!("mrs {}, cpsr", out(reg) cpsr, options(nomem, nostack, preserves_flags)) };
    cpsr
}

/// Waits for an event (SEV from another core, an interrupt) or returns at once if one is
/// latched.
#[inline]
pub fn wait_for_event() {
    aarch32_cpu::asm::wfe();
}

/// Wakes every core waiting in WFE, after making earlier stores visible to them.
#[inline]
pub fn send_event() {
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::sev();
}

/// Makes earlier stores visible to other cores and devices (`dsb`), e.g. before a doorbell.
#[inline]
pub fn send_event_barrier() {
    aarch32_cpu::asm::dsb();
}

/// Masks interrupts and waits for one forever-ish: the parking loop of a core with nothing
/// left to do.
pub fn wait_for_interrupt_masked() {
    mask_irqs();
    aarch32_cpu::asm::wfi();
}
