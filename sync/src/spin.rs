//! The internal lock: a test-and-test-and-set spin lock that also masks interrupts.
//!
//! Held only for a handful of instructions (linking a callback node, flipping a state),
//! never across a wait or a user callback, so spinning beats sleeping. Masking interrupts
//! on the holder's core is what makes it safe to take the same lock from an interrupt
//! handler that signals a fence (Linux's `spin_lock_irqsave`).

use crate::shim::UnsafeCell;
use crate::shim::atomic::{AtomicBool, Ordering};
#[cfg(not(loom))]
use core::ops::{Deref, DerefMut};
use dmasync_hal::platform;

/// A spin lock protecting `T`, with interrupt masking from platform `P`.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

impl<T: core::fmt::Debug> core::fmt::Debug for SpinLock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpinLock")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

// SAFETY: the lock serialises all access to `value`, so sharing the lock between threads
// is as safe as sending `T` between them.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the `T` it owns.
unsafe impl<T: Send> Send for SpinLock<T> {}

#[allow(dead_code)] // used by the primitives as they land
impl<T> SpinLock<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Masks interrupts, then spins until the lock is ours.
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let saved = platform::interrupts_disable();
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.locked.load(Ordering::Relaxed) {
                platform::relax();
            }
        }
        SpinGuard { lock: self, saved }
    }
}

/// Proof that the lock is held; unlocks and restores the interrupt mask on drop.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    saved: usize,
}

#[allow(dead_code)]
impl<T> SpinGuard<'_, T> {
    /// Runs `f` on the protected value. Loom checks this access for races.
    pub(crate) fn with<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: holding the guard means we own the lock, so no other reference to the
        // value exists for the duration of `f`.
        self.lock.value.with_mut(|p| f(unsafe { &mut *p }))
    }
}

#[cfg(not(loom))]
impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard owns the lock; the reference cannot outlive the guard.
        self.lock.value.with(|p| unsafe { &*p })
    }
}

#[cfg(not(loom))]
impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard owns the lock exclusively; the reference cannot outlive it.
        self.lock.value.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
        platform::interrupts_restore(self.saved);
    }
}
