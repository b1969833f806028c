//! Unit tests of the wound/wait rules, written from the semantics (Linux's ww-mutex design
//! document and the issue), small enough for Miri.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::vec::Vec;

use super::*;

type WdMutex<T> = WwMutex<T, WaitDie>;
type WwoMutex<T> = WwMutex<T, WoundWait>;
type WdCtx = AcquireCtx<WaitDie>;
type WwCtx = AcquireCtx<WoundWait>;

/// Spins (yielding) until `f` holds; the tests only use it for conditions that must become
/// true, and the test harness's own timeout catches a hang.
fn wait_until(f: impl Fn() -> bool) {
    while !f() {
        thread::yield_now();
    }
}

/// Waits until `m` has a queued waiter (the state word's WAITERS flag).
fn wait_for_waiter<T, C: WwClass>(m: &WwMutex<T, C>) {
    wait_until(|| m.has_waiters());
}

#[test]
fn uncontended_lock_counts_and_gives_data() {
    let a = WdMutex::new(1u32);
    let b = WdMutex::new(2u32);
    let ctx = WdCtx::new();
    {
        let mut ga = ctx.lock(&a).unwrap();
        let mut gb = ctx.lock(&b).unwrap();
        assert_eq!(ctx.acquired(), 2);
        assert!(a.is_locked() && b.is_locked());
        *ga += 10;
        *gb += 20;
    }
    assert_eq!(ctx.acquired(), 0);
    assert!(!a.is_locked() && !b.is_locked());
    assert_eq!(*a.lock(), 11);
    assert_eq!(*b.lock(), 22);
}

#[test]
fn stamps_grow_with_creation_order() {
    let a = WdCtx::new();
    let b = WwCtx::new();
    assert!(a.stamp() < b.stamp());
}

#[test]
fn relocking_through_same_context_is_already() {
    let a = WdMutex::new(());
    let ctx = WdCtx::new();
    let _g = ctx.lock(&a).unwrap();
    assert_eq!(ctx.lock(&a).err(), Some(WwError::Already));
    assert_eq!(ctx.try_lock(&a).err(), Some(WwError::Already));
    // `Already` is not a back-off: the context may go on.
    let b = WdMutex::new(());
    assert!(ctx.lock(&b).is_ok());
    assert_eq!(ctx.acquired(), 1); // the guard for `b` was dropped at once
}

#[test]
fn try_lock_would_block_on_other_holders() {
    let a = WdMutex::new(());
    let c1 = WdCtx::new();
    let _g = c1.lock(&a).unwrap();
    // The other transaction runs on its own thread: one live context per thread and class.
    thread::scope(|s| {
        s.spawn(|| {
            let c2 = WdCtx::new();
            assert_eq!(c2.try_lock(&a).err(), Some(WwError::WouldBlock));
            assert!(a.try_lock().is_none());
            assert_eq!(c2.acquired(), 0);
        });
    });
}

#[test]
fn plain_lock_excludes_contexts() {
    let a = WdMutex::new(5);
    let g = a.lock();
    let ctx = WdCtx::new();
    assert_eq!(ctx.try_lock(&a).err(), Some(WwError::WouldBlock));
    drop(g);
    assert_eq!(*ctx.try_lock(&a).unwrap(), 5);
}

#[test]
fn get_mut_without_lock() {
    let mut a = WdMutex::new(3);
    *a.get_mut() = 4;
    assert_eq!(*a.lock(), 4);
}

#[test]
fn lock_slow_rules() {
    let a = WdMutex::new(());
    let b = WdMutex::new(());
    let ctx = WdCtx::new();
    // No back-off pending.
    assert_eq!(ctx.lock_slow(&a).err(), Some(WwError::NotContended));
    drop(ctx);
    let inj = WdCtx::with_deadlock_injection(DeadlockInjection {
        interval: 1,
        seed: 7,
    });
    let g = inj.lock(&a).unwrap();
    // Interval 1: the next lock with a lock held is a spurious back-off.
    assert_eq!(inj.lock(&b).err(), Some(WwError::Deadlock));
    assert!(inj.must_back_off());
    assert_eq!(inj.injected_backoffs(), 1);
    // Must back off: every lock says Deadlock until everything is released.
    assert_eq!(inj.lock(&b).err(), Some(WwError::Deadlock));
    assert_eq!(inj.try_lock(&b).err(), Some(WwError::Deadlock));
    // Still holding `a`.
    assert_eq!(inj.lock_slow(&b).err(), Some(WwError::LocksHeld));
    drop(g);
    assert!(!inj.must_back_off());
    // Wrong mutex.
    assert_eq!(inj.lock_slow(&a).err(), Some(WwError::NotContended));
    let gb = inj.lock_slow(&b).unwrap();
    assert_eq!(inj.acquired(), 1);
    // The contended mark is consumed.
    drop(gb);
    assert_eq!(inj.lock_slow(&b).err(), Some(WwError::NotContended));
}

#[test]
fn context_with_no_locks_never_gets_deadlock() {
    // Even with injection at every eligible call, a context holding nothing locks fine.
    let ms: Vec<WdMutex<()>> = (0..4).map(|_| WdMutex::new(())).collect();
    let inj = WdCtx::with_deadlock_injection(DeadlockInjection {
        interval: 1,
        seed: 1,
    });
    for m in &ms {
        let g = inj.lock(m).unwrap();
        drop(g);
    }
    assert_eq!(inj.injected_backoffs(), 0);
}

#[test]
fn injection_is_deterministic_per_seed() {
    fn pattern(seed: u64) -> Vec<bool> {
        let ms: Vec<WdMutex<()>> = (0..40).map(|_| WdMutex::new(())).collect();
        let ctx = WdCtx::with_deadlock_injection(DeadlockInjection { interval: 4, seed });
        let first = ctx.lock(&ms[0]).unwrap();
        let mut out = Vec::new();
        let mut held = Vec::new();
        for m in &ms[1..] {
            match ctx.lock(m) {
                Ok(g) => {
                    out.push(false);
                    held.push(g);
                }
                Err(WwError::Deadlock) => {
                    out.push(true);
                    held.clear();
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        drop(held);
        drop(first);
        out
    }
    let a = pattern(42);
    assert_eq!(a, pattern(42));
    assert!(a.contains(&true), "interval 4 must inject within 39 locks");
    assert!(a.len() <= 4, "the first gap is at most the interval");
}

#[test]
fn wait_die_younger_holding_locks_dies_on_older_holder() {
    let a = WdMutex::new(());
    let b = WdMutex::new(());
    let old = WdCtx::new();
    let _ga = old.lock(&a).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            let young = WdCtx::new();
            let _gb = young.lock(&b).unwrap();
            // Young holds `b` and finds `a` held by an older context: dies at once.
            assert_eq!(young.lock(&a).err(), Some(WwError::Deadlock));
            assert!(young.must_back_off());
        });
    });
}

#[test]
fn wait_die_older_waits_for_younger() {
    let a = WdMutex::new(0u32);
    let b = WdMutex::new(0u32);
    let old = WdCtx::new();
    let old_stamp = old.stamp();
    let young_stamp_after = AtomicBool::new(false);
    let go = Barrier::new(2);
    thread::scope(|s| {
        let _ga = old.lock(&a).unwrap();
        s.spawn(|| {
            let young = WdCtx::new();
            assert!(young.stamp() > old_stamp);
            let mut gb = young.lock(&b).unwrap();
            go.wait();
            // Old is now queued on `b`: an older waiter is ahead, so a young request for
            // `a` (held by old) dies rather than waits.
            wait_for_waiter(&b);
            assert_eq!(young.lock(&a).err(), Some(WwError::Deadlock));
            *gb = 7;
            young_stamp_after.store(true, Ordering::SeqCst);
        });
        go.wait();
        // Old (holding `a`) requests `b` held by the younger: waits, then gets it.
        let gb = old.lock(&b).unwrap();
        assert!(young_stamp_after.load(Ordering::SeqCst));
        assert_eq!(*gb, 7);
    });
}

#[test]
fn context_without_locks_waits_instead_of_dying() {
    let a = WdMutex::new(0u32);
    let old = WdCtx::new();
    let released = AtomicBool::new(false);
    thread::scope(|s| {
        let mut g = old.lock(&a).unwrap();
        s.spawn(|| {
            let young = WdCtx::new();
            // Holds nothing: waits for the older holder, never dies.
            let g = young.lock(&a).unwrap();
            assert!(released.load(Ordering::SeqCst));
            assert_eq!(*g, 9);
        });
        wait_for_waiter(&a);
        *g = 9;
        released.store(true, Ordering::SeqCst);
        drop(g);
    });
}

#[test]
fn wait_die_queued_younger_is_woken_to_die_when_older_queues_ahead() {
    let a = WdMutex::new(());
    let b = WdMutex::new(());
    let c = WdMutex::new(());
    let old_created = AtomicBool::new(false);
    let young_queued = AtomicBool::new(false);
    let old_go = AtomicBool::new(false);
    thread::scope(|s| {
        // A plain holder: no age, so context waiters wait for it.
        let plain = a.lock();
        let old_thread = s.spawn(|| {
            let old = WdCtx::new();
            old_created.store(true, Ordering::SeqCst);
            let _gc = old.lock(&c).unwrap();
            wait_until(|| old_go.load(Ordering::SeqCst));
            // Holds `c`, queues on `a` ahead of the younger waiter.
            old.lock(&a).map(|_| ())
        });
        let young_thread = s.spawn(|| {
            wait_until(|| old_created.load(Ordering::SeqCst));
            let young = WdCtx::new();
            let _gb = young.lock(&b).unwrap();
            young_queued.store(true, Ordering::SeqCst);
            // Holds `b`; waits on `a` until an older context queues ahead: then dies.
            young.lock(&a).map(|_| ())
        });
        wait_until(|| young_queued.load(Ordering::SeqCst));
        wait_for_waiter(&a);
        old_go.store(true, Ordering::SeqCst);
        assert_eq!(young_thread.join().unwrap(), Err(WwError::Deadlock));
        drop(plain);
        assert_eq!(old_thread.join().unwrap(), Ok(()));
    });
}

#[test]
fn wound_wait_older_wounds_younger_holder() {
    let a = WwoMutex::new(0u32);
    let b = WwoMutex::new(0u32);
    let old_created = AtomicBool::new(false);
    let young_has_a = AtomicBool::new(false);
    thread::scope(|s| {
        let old_thread = s.spawn(|| {
            let old = WwCtx::new();
            old_created.store(true, Ordering::SeqCst);
            wait_until(|| young_has_a.load(Ordering::SeqCst));
            let _gb = old.lock(&b).unwrap();
            // Wounds the younger holder of `a`, then waits for it.
            let r = old.lock(&a).map(|g| *g);
            (r, old.is_wounded())
        });
        wait_until(|| old_created.load(Ordering::SeqCst));
        let young = WwCtx::new();
        let mut ga = young.lock(&a).unwrap();
        young_has_a.store(true, Ordering::SeqCst);
        wait_until(|| young.is_wounded());
        // Wounded: we notice at our next contention (`b` is held by the old context).
        assert_eq!(young.lock(&b).err(), Some(WwError::Deadlock));
        *ga = 1;
        drop(ga);
        assert!(
            !young.is_wounded(),
            "the wound is cleared once nothing is held"
        );
        assert_eq!(old_thread.join().unwrap(), (Ok(1), false));
    });
}

#[test]
fn wound_wait_younger_requester_waits_for_older_holder() {
    let a = WwoMutex::new(0u32);
    let b = WwoMutex::new(0u32);
    let old = WwCtx::new();
    thread::scope(|s| {
        let mut ga = old.lock(&a).unwrap();
        let h = s.spawn(|| {
            let young = WwCtx::new();
            let _gb = young.lock(&b).unwrap();
            // Holding `b`, requesting `a` held by an older context: waits (no Deadlock).
            let g = young.lock(&a).map(|g| *g);
            (g, young.is_wounded())
        });
        wait_for_waiter(&a);
        *ga = 3;
        drop(ga);
        let (g, wounded) = h.join().unwrap();
        assert_eq!(g, Ok(3));
        assert!(!wounded);
    });
}

#[test]
fn wound_wait_wakes_a_wounded_sleeper() {
    // Young holds `a` and sleeps on `c` (held plain). Old requests `a`: it wounds young,
    // whose sleep on `c` must end in Deadlock even though `c` stays held.
    let a = WwoMutex::new(());
    let c = WwoMutex::new(());
    let old = WwCtx::new();
    let young_has_a = AtomicBool::new(false);
    thread::scope(|s| {
        let plain_c = c.lock();
        let h = s.spawn(|| {
            let young = WwCtx::new();
            let _ga = young.lock(&a).unwrap();
            young_has_a.store(true, Ordering::SeqCst);
            young.lock(&c).err()
        });
        wait_until(|| young_has_a.load(Ordering::SeqCst));
        wait_for_waiter(&c);
        let g = old.lock(&a).unwrap();
        assert_eq!(h.join().unwrap(), Some(WwError::Deadlock));
        drop(g);
        drop(plain_c);
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn plain_lock_mutual_exclusion_threads() {
    let m = WdMutex::new(0usize);
    let inside = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..2000 {
                    let mut g = m.lock();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    *g += 1;
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(*m.lock(), 8000);
}

#[test]
fn plain_lock_small_threads() {
    // The Miri-sized version: two threads, a few rounds, real blocking.
    let m = WdMutex::new(0usize);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..20 {
                    *m.lock() += 1;
                }
            });
        }
    });
    assert_eq!(*m.lock(), 40);
}

#[test]
fn lockset_locks_backs_off_and_retries_under_injection() {
    let ms: Vec<WdMutex<u32>> = (0..12).map(WdMutex::new).collect();
    let ctx = WdCtx::with_deadlock_injection(DeadlockInjection {
        interval: 3,
        seed: 99,
    });
    let mut set = LockSet::new(&ctx);
    let mut passes = 0;
    set.lock_all(|s| {
        passes += 1;
        for m in &ms {
            s.lock(m)?;
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    assert_eq!(set.len(), ms.len());
    assert!(ms.iter().all(|m| set.contains(m) && m.is_locked()));
    assert!(set.rollbacks() > 0, "interval 3 over 12 locks must inject");
    assert_eq!(set.rollbacks() + 1, passes);
    assert_eq!(set.rollbacks(), ctx.injected_backoffs());
    for v in set.iter_mut() {
        *v += 100;
    }
    drop(set);
    assert_eq!(ctx.acquired(), 0);
    for (i, m) in ms.iter().enumerate() {
        assert_eq!(*m.lock(), i as u32 + 100);
    }
}

#[test]
fn lockset_duplicates() {
    let ms: Vec<WdMutex<u32>> = (0..3).map(WdMutex::new).collect();
    let ctx = WdCtx::new();
    let mut strict = LockSet::new(&ctx);
    let r = strict.lock_all(|s| {
        s.lock(&ms[0])?;
        s.lock(&ms[0])?;
        Ok::<_, WwError>(())
    });
    assert_eq!(r, Err(WwError::Already));
    assert!(strict.is_empty(), "an error pass releases everything");
    assert!(!ms[0].is_locked());
    drop(strict);

    let mut lax = LockSet::new(&ctx).ignore_duplicates(true);
    lax.lock_all(|s| {
        *s.lock(&ms[1])? += 1;
        *s.lock(&ms[1])? += 1;
        Ok::<_, WwError>(())
    })
    .unwrap();
    assert_eq!(lax.len(), 1);
    assert_eq!(*lax.get_mut(&ms[1]).unwrap(), 3);
    assert!(lax.get_mut(&ms[2]).is_none());
}

#[test]
fn lockset_user_error_releases_and_propagates() {
    #[derive(Debug, PartialEq)]
    enum MyErr {
        Ww(WwError),
        Full,
    }
    impl From<WwError> for MyErr {
        fn from(e: WwError) -> Self {
            MyErr::Ww(e)
        }
    }
    let ms: Vec<WdMutex<u32>> = (0..3).map(WdMutex::new).collect();
    let ctx = WdCtx::new();
    let mut set = LockSet::new(&ctx);
    let r: Result<(), MyErr> = set.lock_all(|s| {
        s.lock(&ms[0])?;
        s.lock(&ms[1])?;
        Err(MyErr::Full)
    });
    assert_eq!(r, Err(MyErr::Full));
    assert!(set.is_empty());
    assert!(ms.iter().all(|m| !m.is_locked()));
}

#[test]
fn lockset_retries_even_if_closure_swallows_deadlock() {
    let ms: Vec<WdMutex<u32>> = (0..6).map(WdMutex::new).collect();
    let ctx = WdCtx::with_deadlock_injection(DeadlockInjection {
        interval: 2,
        seed: 5,
    });
    let mut set = LockSet::new(&ctx);
    set.lock_all(|s| {
        for m in &ms {
            // Ignores errors: the set still knows a back-off happened and retries.
            let _ = s.lock(m);
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    assert_eq!(set.len(), ms.len());
    assert!(set.rollbacks() > 0);
}

#[test]
fn lockset_lock_slow_fails_if_context_holds_outside_locks() {
    let ms: Vec<WdMutex<u32>> = (0..4).map(WdMutex::new).collect();
    let outside = WdMutex::new(0);
    let ctx = WdCtx::with_deadlock_injection(DeadlockInjection {
        interval: 1,
        seed: 3,
    });
    let _g = ctx.lock(&outside).unwrap();
    let mut set = LockSet::new(&ctx);
    let r = set.lock_all(|s| {
        for m in &ms {
            s.lock(m)?;
        }
        Ok::<_, WwError>(())
    });
    // The set cannot back off properly while the context holds a lock outside it.
    assert_eq!(r, Err(WwError::LocksHeld));
}

#[test]
#[cfg_attr(miri, ignore)] // many threads and rounds; ww_stress.rs does the big version
fn lockset_threads_conserve_a_total() {
    // Transfers between accounts under random-order locking: the total is invariant only
    // if every transaction is exclusive.
    const N: usize = 8;
    let accounts: Vec<WdMutex<i64>> = (0..N).map(|_| WdMutex::new(100)).collect();
    thread::scope(|s| {
        for t in 0..4u64 {
            let accounts = &accounts;
            s.spawn(move || {
                let mut x = t + 1;
                for _ in 0..500 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let from = (x % N as u64) as usize;
                    let to = ((x >> 8) % N as u64) as usize;
                    let ctx = WdCtx::new();
                    let mut set = LockSet::new(&ctx).ignore_duplicates(true);
                    set.lock_all(|s| {
                        s.lock(&accounts[to])?;
                        s.lock(&accounts[from])?;
                        Ok::<_, WwError>(())
                    })
                    .unwrap();
                    *set.get_mut(&accounts[from]).unwrap() -= 1;
                    *set.get_mut(&accounts[to]).unwrap() += 1;
                }
            });
        }
    });
    let total: i64 = accounts.iter().map(|a| *a.lock()).sum();
    assert_eq!(total, 100 * N as i64);
}

#[test]
fn leaked_guard_leaks_the_context_record_and_the_mutex_lock() {
    // A leaked guard leaks the lock; dropping its context then returns and leaks the heap
    // record the mutex names, so contenders still see the leaker as an (older) holder.
    // Statics: the leaked record stays reachable from them, so Miri's leak check passes.
    static A: WdMutex<u32> = WdMutex::new(0);
    static B: WdMutex<u32> = WdMutex::new(0);
    static C: WdMutex<u32> = WdMutex::new(0);
    let ctx = WdCtx::new();
    core::mem::forget(ctx.lock(&A).unwrap());
    drop(ctx.lock(&C).unwrap());
    assert_eq!(ctx.acquired(), 1);
    drop(ctx);
    assert!(A.is_locked());
    // The properly released lock is free.
    assert!(!C.is_locked());
    let young = WdCtx::new();
    assert_eq!(young.try_lock(&A).err(), Some(WwError::WouldBlock));
    let _gb = young.lock(&B).unwrap();
    // Reads the (still valid) leaker's stamp: older holder, so the younger one dies.
    assert_eq!(young.lock(&A).err(), Some(WwError::Deadlock));
}

#[test]
fn sizes() {
    assert!(core::mem::size_of::<WdMutex<()>>() <= 32);
}
