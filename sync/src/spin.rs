//! The internal lock: a test-and-test-and-set spin lock that also masks interrupts.
//!
//! Held only for a handful of instructions (linking a callback node, flipping a state),
//! never across a wait or a user callback, so spinning beats sleeping. Masking interrupts
//! on the holder's core is what makes it safe to take the same lock from an interrupt
//! handler that signals a fence (Linux's `spin_lock_irqsave`).

use core::marker::PhantomData;
#[cfg(not(loom))]
use core::ops::{Deref, DerefMut};

use crate::platform::Platform;
use crate::shim::UnsafeCell;
use crate::shim::atomic::{AtomicBool, Ordering};

/// A spin lock protecting `T`, with interrupt masking from platform `P`.
pub(crate) struct SpinLock<T, P: Platform> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
    _platform: PhantomData<fn() -> P>,
}

impl<T: core::fmt::Debug, P: Platform> core::fmt::Debug for SpinLock<T, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpinLock")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

// SAFETY: the lock serialises all access to `value`, so sharing the lock between threads
// is as safe as sending `T` between them.
unsafe impl<T: Send, P: Platform> Sync for SpinLock<T, P> {}
// SAFETY: moving the lock moves the `T` it owns.
unsafe impl<T: Send, P: Platform> Send for SpinLock<T, P> {}

#[allow(dead_code)] // used by the primitives as they land
impl<T, P: Platform> SpinLock<T, P> {
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
            _platform: PhantomData,
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
            _platform: PhantomData,
        }
    }

    /// Masks interrupts, then spins until the lock is ours.
    pub(crate) fn lock(&self) -> SpinGuard<'_, T, P> {
        let saved = P::interrupts_disable();
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.locked.load(Ordering::Relaxed) {
                P::relax();
            }
        }
        SpinGuard { lock: self, saved }
    }
}

/// Proof that the lock is held; unlocks and restores the interrupt mask on drop.
pub(crate) struct SpinGuard<'a, T, P: Platform> {
    lock: &'a SpinLock<T, P>,
    saved: usize,
}

#[allow(dead_code)]
impl<T, P: Platform> SpinGuard<'_, T, P> {
    /// Runs `f` on the protected value. Loom checks this access for races.
    pub(crate) fn with<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: holding the guard means we own the lock, so no other reference to the
        // value exists for the duration of `f`.
        self.lock.value.with_mut(|p| f(unsafe { &mut *p }))
    }
}

#[cfg(not(loom))]
impl<T, P: Platform> Deref for SpinGuard<'_, T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard owns the lock; the reference cannot outlive the guard.
        self.lock.value.with(|p| unsafe { &*p })
    }
}

#[cfg(not(loom))]
impl<T, P: Platform> DerefMut for SpinGuard<'_, T, P> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard owns the lock exclusively; the reference cannot outlive it.
        self.lock.value.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T, P: Platform> Drop for SpinGuard<'_, T, P> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
        P::interrupts_restore(self.saved);
    }
}
