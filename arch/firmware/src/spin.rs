//! A spin lock that masks IRQs on the holder's core and remembers which core holds it.
//!
//! Knowing the owner is what lets the panic and exception paths get the console even when the
//! lock is held: by their own core (the fault happened inside the critical section) at once,
//! by another core after a bounded wait ([`SpinLock::lock_or_steal`]). Linux does the same for
//! its console (`bust_spinlocks` / `console_flush_on_panic`).
//!
//! Why this is not `dmasync_hal::lock::IrqSpinLock`, the lock everything else uses: the owner
//! word (the holder's core) is what stealing and the re-entry panic need, and the portable
//! lock has none; this lock must also work before the MMU is on, when exclusives are not
//! usable yet (it is not touched then, see `Arch::atomics_ready`), and it masks IRQs and FIQs
//! directly instead of through the installed platform, so the console works before
//! `set_platform!`'s functions can be relied on and in exception paths. See
//! `doc/architecture.md`, "Locks".

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch;

const FREE: usize = 0;

/// A spin lock protecting `T`; IRQs and FIQs are masked on the holder's core.
pub struct SpinLock<T> {
    owner: AtomicUsize,
    value: UnsafeCell<T>,
}

impl<T> core::fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpinLock")
            .field("owner", &self.owner.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

// SAFETY: the lock serialises all access to `value` across cores.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the `T` it owns.
unsafe impl<T: Send> Send for SpinLock<T> {}

/// How a guard got the lock, which decides what dropping it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// Normal acquisition: release on drop.
    Acquired,
    /// Single-core phase before the MMU is on: nothing to release.
    EarlyBoot,
    /// Taken over from a core that did not let go: never released (panic/exception paths,
    /// which end the program).
    Stolen,
}

impl<T> SpinLock<T> {
    /// A new unlocked lock.
    pub const fn new(value: T) -> Self {
        Self {
            owner: AtomicUsize::new(FREE),
            value: UnsafeCell::new(value),
        }
    }

    /// Masks IRQs, then spins until the lock is ours.
    ///
    /// # Panics
    ///
    /// If the calling core already holds it (that would deadlock).
    pub fn lock(&self) -> SpinGuard<'_, T> {
        self.acquire(|owner, me, saved| {
            if owner == me {
                arch::restore_irqs(saved);
                panic!("spin lock re-entered on the core that holds it");
            }
            None
        })
    }

    /// Like [`lock`](Self::lock), but for paths that must make progress whatever state the
    /// system is in (panic, exception report): if this core already holds the lock it is taken
    /// over at once; if another core holds it for longer than `patience_ticks` of the generic
    /// counter, it is taken over anyway. A stolen lock is never released.
    ///
    /// # Safety
    ///
    /// A take-over breaks mutual exclusion: the caller must accept that the previous holder may
    /// still be using `T` (for a UART: some bytes interleave) and must not return to code that
    /// relies on the lock afterwards (the callers end the program).
    pub unsafe fn lock_or_steal(&self, patience_ticks: u64) -> SpinGuard<'_, T> {
        let start = arch::counter();
        self.acquire(|owner, me, _| {
            if owner == me {
                return Some(How::Stolen);
            }
            if arch::counter().wrapping_sub(start) > patience_ticks {
                self.owner.store(me, Ordering::Release);
                return Some(How::Stolen);
            }
            None
        })
    }

    /// Masks IRQs and takes the lock; while another owner holds it, `contended(owner, me,
    /// saved_mask)` decides: `None` keeps spinning, `Some(how)` ends the wait with a guard of
    /// that kind. Before the MMU is on only the primary runs and exclusives may not work, so
    /// the lock is not touched at all then.
    fn acquire(
        &self,
        mut contended: impl FnMut(usize, usize, usize) -> Option<How>,
    ) -> SpinGuard<'_, T> {
        let saved = arch::mask_irqs();
        if !arch::atomics_ready() {
            return SpinGuard {
                lock: self,
                saved,
                how: How::EarlyBoot,
            };
        }
        let me = arch::core_token();
        loop {
            match self
                .owner
                .compare_exchange_weak(FREE, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    return SpinGuard {
                        lock: self,
                        saved,
                        how: How::Acquired,
                    };
                }
                // A weak CAS may fail with the lock free (an exclusive store losing its
                // monitor, as QEMU's MTTCG does now and then): try again at once. Waiting below
                // "until the owner changes from FREE" would hang for good once the lock goes
                // quiet; that was the rare `cpu N did not report in` of the SMP tests.
                Err(FREE) => continue,
                Err(owner) => {
                    // Wait with plain loads (no bus-locking CAS) until the owner changes.
                    while self.owner.load(Ordering::Relaxed) == owner {
                        if let Some(how) = contended(owner, me, saved) {
                            return SpinGuard {
                                lock: self,
                                saved,
                                how,
                            };
                        }
                        core::hint::spin_loop();
                    }
                }
            }
        }
    }

    /// Whether the calling core holds the lock (for assertions and reports).
    pub fn held_by_me(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == arch::core_token()
    }
}

/// Proof that the lock is held; unlocks and restores the IRQ mask on drop.
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    saved: usize,
    how: How,
}

impl<T> core::fmt::Debug for SpinGuard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpinGuard")
            .field("how", &self.how)
            .finish_non_exhaustive()
    }
}

impl<T> SpinGuard<'_, T> {
    /// Releases the lock but leaves IRQs masked; returns the interrupt mask to restore later. For
    /// `defmt`'s split `acquire`/`release` API.
    pub fn into_saved_mask(self) -> usize {
        let saved = self.saved;
        if self.how == How::Acquired {
            self.lock.owner.store(FREE, Ordering::Release);
        }
        core::mem::forget(self);
        saved
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held (or, for a stolen lock, the caller of
        // `lock_or_steal` accepted the consequences).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; the guard is unique for this acquisition.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        if self.how == How::Acquired {
            self.lock.owner.store(FREE, Ordering::Release);
        }
        arch::restore_irqs(self.saved);
    }
}
