//! The one IRQ-safe lock of dmasync: a test-and-test-and-set spin lock that masks
//! interrupts on the holder's core (Linux's `spin_lock_irqsave`).
//!
//! [`IrqSpinLock`] is for short critical sections that an interrupt handler may also enter:
//! linking a fence callback, flipping a queue state, taking a driver's device state. It is
//! held for a handful of instructions, never across a wait, a user callback or a blocking
//! device access, so spinning beats sleeping. Masking interrupts on the holder's core is what
//! makes it safe to take the same lock from an interrupt handler: that handler cannot
//! interrupt the holder on its own core, and on another core it spins until the holder
//! (which runs with interrupts masked, so is never preempted by one) lets go.
//!
//! - [`IrqSpinLock::lock`] masks interrupts (through [`platform::interrupts_disable`]), then
//!   spins: one `compare_exchange_weak` per attempt, plain loads with [`platform::relax`]
//!   while the lock is held (no exclusive-store traffic while waiting).
//! - [`IrqSpinLock::try_lock`] makes one attempt and never waits.
//!   [`IrqSpinLock::try_lock_unmasked`] does the same without masking interrupts, for "one
//!   servicer at a time" sections that are long (a display's `service` waits for its device):
//!   nobody ever spins on such a lock, so an interrupt handler cannot deadlock on it.
//! - The guard gives `&T`/`&mut T` ([`Deref`]/[`DerefMut`]); dropping it releases the lock
//!   (Release) and then restores the interrupt mask it saved.
//!
//! The lock is not re-entrant: locking it again on the core that holds it deadlocks (the
//! interrupt handler case included, which is why interrupts are masked while it is held).
//!
//! Under `--cfg loom` the flag is a loom atomic and the value a loom cell whose exclusive
//! access spans the guard's life, so the sync core's loom models check every protocol built
//! on this lock (lost wake-ups, races on the protected data) as before it moved here.
//! Locks in the architecture crates that must work before atomics are usable or be taken
//! over by a panicking core (the aarch64 console) are deliberately separate; see
//! `doc/architecture.md`, "Locks".

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, Ordering};

#[cfg(not(loom))]
use core::sync::atomic::{AtomicBool, Ordering};

use crate::platform;

/// A spin lock protecting `T` that masks interrupts on the holder's core.
pub struct IrqSpinLock<T> {
    locked: AtomicBool,
    #[cfg(not(loom))]
    value: core::cell::UnsafeCell<T>,
    #[cfg(loom)]
    value: loom::cell::UnsafeCell<T>,
}

impl<T> fmt::Debug for IrqSpinLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrqSpinLock")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

// SAFETY: the lock serialises all access to `value` (only a guard reaches it, and at most one
// guard exists at a time), so sharing the lock between threads is as safe as sending `T`
// from one to another.
unsafe impl<T: Send> Sync for IrqSpinLock<T> {}
// SAFETY: moving the lock moves the `T` it owns; no guard can exist while it moves.
unsafe impl<T: Send> Send for IrqSpinLock<T> {}

impl<T: Default> Default for IrqSpinLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> IrqSpinLock<T> {
    /// A new, unlocked lock owning `value`.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: core::cell::UnsafeCell::new(value),
        }
    }

    /// A new, unlocked lock owning `value` (loom's types are not `const`).
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: loom::cell::UnsafeCell::new(value),
        }
    }

    /// Masks interrupts, then spins until the lock is ours.
    pub fn lock(&self) -> IrqSpinGuard<'_, T> {
        let saved = platform::interrupts_disable();
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Test before the next test-and-set: wait with plain loads.
            while self.locked.load(Ordering::Relaxed) {
                platform::relax();
            }
        }
        IrqSpinGuard::new(self, Some(saved))
    }

    /// One attempt: the guard if the lock was free, `None` (interrupt mask unchanged) if
    /// someone holds it. Never waits.
    pub fn try_lock(&self) -> Option<IrqSpinGuard<'_, T>> {
        let saved = platform::interrupts_disable();
        // A strong CAS: a spurious failure would make a free lock look busy.
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            Some(IrqSpinGuard::new(self, Some(saved)))
        } else {
            platform::interrupts_restore(saved);
            None
        }
    }

    /// Like [`try_lock`](Self::try_lock), but leaves interrupts enabled while the guard
    /// lives: for a long section taken only by whoever gets there first, such as a display
    /// driver's servicer, which waits for its device and signals fences while it holds the
    /// device state (masking interrupts for that long would delay the timer and every other
    /// interrupt by a whole frame's commands).
    ///
    /// Use it only on a lock that nobody takes with [`lock`](Self::lock) from an interrupt
    /// handler: a handler that interrupts this holder and spins on the lock would never get
    /// it. `try_lock`/`try_lock_unmasked` from a handler are fine (they fail at once).
    pub fn try_lock_unmasked(&self) -> Option<IrqSpinGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then(|| IrqSpinGuard::new(self, None))
    }

    /// `true` while someone holds the lock (a snapshot, for assertions and reports).
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }

    /// Exclusive access without locking: `&mut self` proves nobody else can hold it.
    pub fn get_mut(&mut self) -> &mut T {
        #[cfg(not(loom))]
        return self.value.get_mut();
        #[cfg(loom)]
        // SAFETY: `&mut self` excludes every guard, so this is the only access; loom still
        // records it for the duration of the closure.
        return self.value.with_mut(|p| unsafe { &mut *p });
    }

    /// The protected value, consuming the lock.
    #[cfg(not(loom))]
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

/// Proof that the lock is held: derefs to the protected value; unlocks and restores the
/// interrupt mask on drop.
#[must_use = "dropping the guard unlocks at once"]
pub struct IrqSpinGuard<'a, T> {
    lock: &'a IrqSpinLock<T>,
    /// Under loom: the tracked exclusive access to the value, for the guard's whole life
    /// (ended in `drop` before the lock is released).
    #[cfg(loom)]
    access: Option<loom::cell::MutPtr<T>>,
    /// The interrupt mask to restore (`None`: taken with `try_lock_unmasked`).
    saved: Option<usize>,
    /// Not `Send`: the saved interrupt mask belongs to the core that locked.
    _not_send: PhantomData<*mut ()>,
}

impl<'a, T> IrqSpinGuard<'a, T> {
    fn new(lock: &'a IrqSpinLock<T>, saved: Option<usize>) -> Self {
        Self {
            lock,
            #[cfg(loom)]
            access: Some(lock.value.get_mut()),
            saved,
            _not_send: PhantomData,
        }
    }

    /// Runs `f` on the protected value (the same as using `&mut *guard`).
    pub fn with<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        f(self)
    }

    fn ptr(&self) -> *mut T {
        #[cfg(not(loom))]
        return self.lock.value.get();
        #[cfg(loom)]
        return self
            .access
            .as_ref()
            .expect("access ends only in drop")
            .with(|p| p);
    }
}

impl<T: fmt::Debug> fmt::Debug for IrqSpinGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IrqSpinGuard").field(&**self).finish()
    }
}

impl<T> Deref for IrqSpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard owns the lock, so no other reference to the value exists while
        // it lives; the returned reference borrows the guard, so it cannot outlive it.
        unsafe { &*self.ptr() }
    }
}

impl<T> DerefMut for IrqSpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes this the only reference derived
        // from the guard.
        unsafe { &mut *self.ptr() }
    }
}

impl<T> Drop for IrqSpinGuard<'_, T> {
    fn drop(&mut self) {
        // End loom's record of our access before the next holder can begin its own.
        #[cfg(loom)]
        drop(self.access.take());
        // Release: publishes what the holder wrote to the next holder's Acquire.
        self.lock.locked.store(false, Ordering::Release);
        if let Some(saved) = self.saved {
            platform::interrupts_restore(saved);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::vec::Vec;

    #[test]
    fn lock_gives_exclusive_access_and_unlocks_on_drop() {
        let l = IrqSpinLock::new(1u32);
        {
            let mut g = l.lock();
            *g += 1;
            assert!(l.is_locked());
            assert!(l.try_lock().is_none(), "held: try_lock must fail");
            assert!(l.try_lock_unmasked().is_none());
        }
        drop(l.try_lock_unmasked().expect("free"));
        assert!(!l.is_locked());
        assert_eq!(*l.try_lock().expect("free: try_lock succeeds"), 2);
        let mut g = l.lock();
        assert_eq!(g.with(|v| core::mem::replace(v, 7)), 2);
        drop(g);
        assert_eq!(l.into_inner(), 7);
    }

    #[test]
    fn get_mut_and_default() {
        let mut l: IrqSpinLock<Vec<u8>> = IrqSpinLock::default();
        l.get_mut().push(3);
        assert_eq!(*l.lock(), [3]);
        assert!(std::format!("{l:?}").contains("locked: false"));
    }

    #[test]
    fn threads_are_serialised() {
        let threads: u64 = if cfg!(miri) { 3 } else { 4 };
        let rounds = if cfg!(miri) { 50 } else { 10_000 };
        let l = Arc::new(IrqSpinLock::new((0u64, 0u64)));
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for i in 0..rounds {
                        let mut g = if i % 2 == 0 {
                            l.lock()
                        } else {
                            loop {
                                if let Some(g) = l.try_lock() {
                                    break g;
                                }
                                std::thread::yield_now();
                            }
                        };
                        // A torn update would show as the two halves disagreeing.
                        g.0 += 1;
                        std::thread::yield_now();
                        g.1 += 1;
                        assert_eq!(g.0, g.1);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let g = l.lock();
        assert_eq!(*g, (threads * rounds, threads * rounds));
    }
}
