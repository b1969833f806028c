//! Small per-core facts and primitives: affinity, exception level, interrupt masking.

use aarch64_cpu::registers::{CurrentEL, DAIF, MPIDR_EL1, Readable, Writeable};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Most cores this crate supports (stacks, tables, redistributor lookup).
pub const MAX_CPUS: usize = 8;

/// The affinity fields of MPIDR_EL1 (Aff3 in bits 39:32, Aff2..Aff0 in bits 23:0), which is also
/// the form the device tree's `/cpus/cpu@N/reg` and PSCI `CPU_ON` use.
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// The calling core's affinity (MPIDR_EL1 without the U/MT flag bits).
#[inline]
pub fn mpidr() -> u64 {
    MPIDR_EL1.get() & MPIDR_AFFINITY_MASK
}

/// A non-zero token naming the calling core, used as the owner value of spin locks.
#[inline]
pub fn owner_token() -> u64 {
    mpidr() + 1
}

/// The current exception level (0..=3).
pub fn current_el() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

static CPU_MPIDRS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];

/// Records the logical numbering of the cores (index = position in the device tree's
/// `/cpus`), so reports can say "cpu N".
pub fn set_cpu_table(mpidrs: &[u64]) {
    for (slot, m) in CPU_MPIDRS.iter().zip(mpidrs) {
        slot.store(*m & MPIDR_AFFINITY_MASK, Ordering::Relaxed);
    }
}

/// Logical index of the calling core (from [`set_cpu_table`]), or `None` before the table
/// exists or for a core it does not list.
pub fn cpu_index() -> Option<usize> {
    let me = mpidr();
    CPU_MPIDRS
        .iter()
        .position(|m| m.load(Ordering::Relaxed) == me)
}

static ATOMICS_READY: AtomicBool = AtomicBool::new(false);

/// Whether exclusive loads/stores (CAS) may be used: only once this core's MMU maps RAM as
/// Normal cacheable memory. With the MMU off every data access is Device-nGnRnE, where
/// load/store-exclusive is not guaranteed to work on real hardware (Arm ARM B2.9.3,
/// "Load-Exclusive and Store-Exclusive instruction usage restrictions"). Before that only the
/// primary core runs, so the locks can skip the atomic part.
#[inline]
pub fn atomics_ready() -> bool {
    ATOMICS_READY.load(Ordering::Acquire)
}

/// Called by [`crate::mmu`] once the primary's MMU and caches are on.
pub(crate) fn mark_atomics_ready() {
    ATOMICS_READY.store(true, Ordering::Release);
}

/// Masks IRQ and FIQ on this core; returns the previous DAIF value for [`restore_irqs`].
#[inline]
pub fn mask_irqs() -> u64 {
    let saved = DAIF.get();
    // SAFETY: setting the I and F mask bits only delays interrupts on this core.
    unsafe { asm!("msr daifset, #3", options(nomem, nostack, preserves_flags)) };
    saved
}

/// Restores a DAIF value from [`mask_irqs`].
#[inline]
pub fn restore_irqs(saved: u64) {
    DAIF.set(saved);
}

/// Unmasks IRQs on this core.
#[inline]
pub fn enable_irqs() {
    // SAFETY: clearing the I bit lets pending IRQs be taken; the vector table is installed
    // by the boot code before any interrupt source is enabled.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack, preserves_flags)) };
}

/// Sleeps until an interrupt (or event); interrupts stay as they are.
#[inline]
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// Sleeps until an event: an interrupt, an SEV from another core, or the timer event stream
/// ([`crate::platform::enable_event_stream`], every ~100 us). Use this, not
/// [`wait_for_interrupt`], in a wait that has a deadline: WFI sleeps until an interrupt that
/// may never come, so the deadline would never be checked.
#[inline]
pub fn wait_for_event() {
    aarch64_cpu::asm::wfe();
}

/// Masks interrupts and sleeps: the end of the line for a core with nothing left to do.
pub fn wait_for_interrupt_masked() {
    mask_irqs();
    aarch64_cpu::asm::wfi();
}
