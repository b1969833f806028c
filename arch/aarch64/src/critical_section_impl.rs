//! `critical-section` for SMP Cortex-A: mask IRQ/FIQ on this core, then take one global spin
//! lock. The lock is re-entrant per core (keyed by the core's MPIDR), as `critical-section`
//! allows nested `acquire`s; the restore state says whether this acquisition was the
//! outermost one and what DAIF to restore.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::cpu;

struct SmpCriticalSection;
critical_section::set_impl!(SmpCriticalSection);

static OWNER: AtomicU64 = AtomicU64::new(0);

/// Bit in the restore state: this acquisition took the lock and must release it.
const OUTERMOST: u64 = 1 << 63;
/// DAIF's I and F bits (and A, D), which is all `mask_irqs` returns.
const DAIF_MASK: u64 = 0x3c0;

// SAFETY: `acquire` masks interrupts on this core and then holds a machine-wide lock until the
// matching `release`, so no two cores (and no interrupt handler on this core) run a critical
// section at the same time. Nested acquisitions on the owning core are tracked in the
// restore state and release nothing.
unsafe impl critical_section::Impl for SmpCriticalSection {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        let daif = cpu::mask_irqs() & DAIF_MASK;
        if !cpu::atomics_ready() {
            // Single core with the MMU off (early boot): masking is enough, and exclusives
            // are not usable yet (see `cpu::atomics_ready`).
            return daif;
        }
        let me = cpu::owner_token();
        if OWNER.load(Ordering::Relaxed) == me {
            return daif;
        }
        while OWNER
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        daif | OUTERMOST
    }

    unsafe fn release(state: critical_section::RawRestoreState) {
        if state & OUTERMOST != 0 {
            OWNER.store(0, Ordering::Release);
        }
        cpu::restore_irqs(state & DAIF_MASK);
    }
}
