//! `critical-section` for SMP Arm cores: mask IRQ/FIQ on this core, then take one global spin
//! lock. The lock is re-entrant per core (keyed by the core token, `Arch::core_token`), as `critical-section`
//! allows nested `acquire`s; the restore state says whether this acquisition was the
//! outermost one and what interrupt mask to restore.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch;

struct SmpCriticalSection;
critical_section::set_impl!(SmpCriticalSection);

static OWNER: AtomicUsize = AtomicUsize::new(0);

/// Bit in the restore state: this acquisition took the lock and must release it (the
/// architecture's mask bits never use it, see `Arch::mask_irqs`).
const OUTERMOST: usize = 1 << (usize::BITS - 1);

// SAFETY: `acquire` masks interrupts on this core and then holds a machine-wide lock until the
// matching `release`, so no two cores (and no interrupt handler on this core) run a critical
// section at the same time. Nested acquisitions on the owning core are tracked in the
// restore state and release nothing.
unsafe impl critical_section::Impl for SmpCriticalSection {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        let mask = arch::mask_irqs();
        if !arch::atomics_ready() {
            // Single core with the MMU off (early boot): masking is enough, and exclusives
            // are not usable yet (see `Arch::atomics_ready`).
            return mask;
        }
        let me = arch::core_token();
        if OWNER.load(Ordering::Relaxed) == me {
            return mask;
        }
        while OWNER
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        mask | OUTERMOST
    }

    unsafe fn release(state: critical_section::RawRestoreState) {
        if state & OUTERMOST != 0 {
            OWNER.store(0, Ordering::Release);
        }
        arch::restore_irqs(state & !OUTERMOST);
    }
}
