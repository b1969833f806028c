//! The misuse checks (feature `misuse-checks`, on in this crate's tests), after the ww_mutex
//! cases of Linux's locking-selftest (two contexts, a lock after `ww_acquire_done`, `done`
//! twice, a wrong lock after -EDEADLK, a plain lock of a mutex the context holds) and the
//! back-off of test-ww_mutex's ABBA case, written from the semantics.
//!
//! Each misuse panics naming both places; the `expected` fragments carry both `file:line`s
//! (so moving a call in this file means updating its fragment). Each misuse test has a
//! correct-use twin that must not panic.
#![cfg(all(feature = "misuse-checks", debug_assertions, not(loom)))]
#![forbid(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;

use dmasync_sync::ww::{
    AcquireCtx, DeadlockInjection, LockSet, WaitDie, WoundWait, WwClass, WwError, WwMutex,
};

/// Injection at every eligible lock: the second lock of a transaction backs off, on one
/// thread and deterministically.
const EVERY_LOCK: DeadlockInjection = DeadlockInjection {
    interval: 1,
    seed: 3,
};

/// A class of its own, to show that the context check is per class.
struct ScanoutClass;
impl WwClass for ScanoutClass {
    const WAIT_DIE: bool = true;
}

// (a) A second acquire context on one thread (locking-selftest's "two contexts").

#[test]
#[should_panic(
    expected = "ww_misuse.rs:42:19, while the one created at sync/tests/ww_misuse.rs:41:18"
)]
fn a_second_context_on_one_thread_panics() {
    let _first = AcquireCtx::<WaitDie>::new();
    let _second = AcquireCtx::<WaitDie>::new();
}

#[test]
#[should_panic(
    expected = "ww_misuse.rs:53:19, while the one created at sync/tests/ww_misuse.rs:51:17"
)]
fn a_second_context_panics_while_the_first_holds_locks() {
    let m = WwMutex::<u32, WoundWait>::new(0);
    let first = AcquireCtx::<WoundWait>::new();
    let _g = first.lock(&m).unwrap();
    let _second = AcquireCtx::<WoundWait>::with_deadlock_injection(EVERY_LOCK);
}

#[test]
fn contexts_one_after_another_on_one_thread_are_fine() {
    let m = WwMutex::<u32, WaitDie>::new(0);
    for i in 0..3 {
        let ctx = AcquireCtx::<WaitDie>::new();
        *ctx.lock(&m).unwrap() += i;
    }
    assert_eq!(*m.lock(), 3);
}

#[test]
fn contexts_of_different_classes_on_one_thread_are_fine() {
    // Linux's "diff class": each class has its own acquire key.
    let a = WwMutex::<u32, WaitDie>::new(1);
    let b = WwMutex::<u32, ScanoutClass>::new(2);
    let ca = AcquireCtx::<WaitDie>::new();
    let cb = AcquireCtx::<ScanoutClass>::new();
    let ga = ca.lock(&a).unwrap();
    let gb = cb.lock(&b).unwrap();
    assert_eq!(*ga + *gb, 3);
}

#[test]
fn contexts_on_two_threads_are_fine() {
    let m = WwMutex::<u32, WaitDie>::new(0);
    let _mine = AcquireCtx::<WaitDie>::new();
    thread::scope(|s| {
        s.spawn(|| {
            let theirs = AcquireCtx::<WaitDie>::new();
            *theirs.lock(&m).unwrap() = 5;
        });
    });
    assert_eq!(*m.lock(), 5);
}

#[test]
fn a_context_moved_after_creation_is_still_the_one_that_lives() {
    // The record is keyed by the context's heap record, not its stack slot: moving the
    // context and dropping it from the box frees the thread for the next one.
    let boxed = Box::new(AcquireCtx::<WaitDie>::new());
    drop(boxed);
    let _next = AcquireCtx::<WaitDie>::new();
}

// (b) A plain lock of a mutex the same thread's context holds (it would wait for itself).

#[test]
#[should_panic(
    expected = "ww_misuse.rs:110:16 of a mutex this thread's AcquireCtx holds (locked at sync/tests/ww_misuse.rs:109:18"
)]
fn plain_lock_of_a_mutex_the_threads_context_holds_panics() {
    let m = WwMutex::<u32, WaitDie>::new(0);
    let ctx = AcquireCtx::<WaitDie>::new();
    let _g = ctx.lock(&m).unwrap();
    let _p = m.lock();
}

#[test]
#[should_panic(
    expected = "ww_misuse.rs:128:20 of a mutex this thread's AcquireCtx holds (locked at sync/tests/ww_misuse.rs:123:15"
)]
fn plain_lock_of_a_mutex_locked_by_a_lockset_panics() {
    let ms: Vec<WwMutex<u32, WoundWait>> = (0..3).map(WwMutex::new).collect();
    let ctx = AcquireCtx::<WoundWait>::new();
    let mut set = LockSet::new(&ctx);
    set.lock_all(|s| {
        for m in &ms {
            s.lock(m)?;
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    let _p = ms[1].lock();
}

#[test]
fn plain_locks_beside_a_context_are_fine_when_it_does_not_hold_the_mutex() {
    let a = WwMutex::<u32, WaitDie>::new(1);
    let b = WwMutex::<u32, WaitDie>::new(2);
    let ctx = AcquireCtx::<WaitDie>::new();
    let ga = ctx.lock(&a).unwrap();
    // Another mutex: not held by the context.
    assert_eq!(*b.lock(), 2);
    drop(ga);
    // Released: a plain lock of it is fine again.
    *a.lock() += 1;
    assert_eq!(*ctx.lock(&a).unwrap(), 2);
}

#[test]
fn a_plain_lock_on_another_thread_waits_for_the_context_instead_of_panicking() {
    let m = WwMutex::<u32, WaitDie>::new(0);
    let released = AtomicBool::new(false);
    let ctx = AcquireCtx::<WaitDie>::new();
    let mut g = ctx.lock(&m).unwrap();
    thread::scope(|s| {
        let (started_tx, started_rx) = mpsc::channel();
        let released = &released;
        let m = &m;
        let t = s.spawn(move || {
            started_tx.send(()).unwrap();
            let p = m.lock();
            // Only after the context let go.
            assert!(released.load(Ordering::SeqCst));
            *p
        });
        started_rx.recv().unwrap();
        *g = 7;
        released.store(true, Ordering::SeqCst);
        drop(g);
        assert_eq!(t.join().unwrap(), 7);
    });
}

// (c) After a Deadlock back-off, the first lock must be the contended mutex (Linux:
// ww_mutex_lock after -EDEADLK must be ww_mutex_lock_slow on the contended lock).

/// `ctx` locks `a`, gets an injected `Deadlock` on `b`, and releases `a`: the back-off is
/// done, and `b` is the contended mutex.
fn back_off_from_b<'a, C: WwClass>(
    ctx: &'a AcquireCtx<C>,
    a: &'a WwMutex<u32, C>,
    b: &'a WwMutex<u32, C>,
) {
    let ga = ctx.lock(a).unwrap();
    assert_eq!(ctx.lock(b).err(), Some(WwError::Deadlock));
    drop(ga);
    assert!(!ctx.must_back_off());
}

#[test]
#[should_panic(
    expected = "ww_misuse.rs:196:19, the Deadlock was returned at sync/tests/ww_misuse.rs:194:20"
)]
fn first_lock_after_a_back_off_of_another_mutex_panics() {
    let (a, b, c) = (WwMutex::new(0), WwMutex::new(0), WwMutex::new(0));
    let ctx = AcquireCtx::<WaitDie>::with_deadlock_injection(EVERY_LOCK);
    let ga = ctx.lock(&a).unwrap();
    assert_eq!(ctx.lock(&b).err(), Some(WwError::Deadlock));
    drop(ga);
    let _gc = ctx.lock(&c);
}

#[test]
#[should_panic(
    expected = "ww_misuse.rs:208:19, the Deadlock was returned at sync/tests/ww_misuse.rs:181:20"
)]
fn first_try_lock_after_a_back_off_of_another_mutex_panics() {
    let (a, b) = (WwMutex::new(0), WwMutex::new(0));
    let ctx = AcquireCtx::<WoundWait>::with_deadlock_injection(EVERY_LOCK);
    back_off_from_b(&ctx, &a, &b);
    // Even the mutex the context held before the back-off is the wrong one.
    let _ga = ctx.try_lock(&a);
}

#[test]
fn first_lock_after_a_back_off_of_the_contended_mutex_is_fine() {
    // lock_slow (the documented way) and plain `lock` of the contended mutex both end the
    // back-off; afterwards any mutex may be locked.
    for slow in [true, false] {
        let (a, b, c) = (WwMutex::new(0), WwMutex::new(0), WwMutex::new(0));
        let ctx = AcquireCtx::<WaitDie>::with_deadlock_injection(EVERY_LOCK);
        back_off_from_b(&ctx, &a, &b);
        let gb = if slow {
            ctx.lock_slow(&b).unwrap()
        } else {
            ctx.lock(&b).unwrap()
        };
        assert_eq!(ctx.acquired(), 1);
        drop(gb);
        // Nothing is pending any more: a first lock of another mutex is fine (a context
        // holding nothing is never given an injected back-off).
        drop(ctx.lock(&c).unwrap());
        drop(ctx.lock(&a).unwrap());
    }
}

#[test]
fn locks_while_still_holding_after_a_back_off_get_deadlock_not_a_panic() {
    // Linux's "edeadlk no unlock": here every lock says Deadlock again until the context
    // has released everything, which is the documented answer, not misuse.
    let (a, b, c) = (WwMutex::new(0), WwMutex::new(0), WwMutex::new(0));
    let ctx = AcquireCtx::<WaitDie>::with_deadlock_injection(EVERY_LOCK);
    let ga = ctx.lock(&a).unwrap();
    assert_eq!(ctx.lock(&b).err(), Some(WwError::Deadlock));
    assert_eq!(ctx.lock(&c).err(), Some(WwError::Deadlock));
    assert_eq!(ctx.try_lock(&c).err(), Some(WwError::Deadlock));
    assert_eq!(ctx.lock_slow(&b).err(), Some(WwError::LocksHeld));
    drop(ga);
    drop(ctx.lock_slow(&b).unwrap());
}

#[test]
fn lock_slow_of_the_wrong_mutex_is_an_error_not_a_panic() {
    let (a, b) = (WwMutex::new(0), WwMutex::new(0));
    let ctx = AcquireCtx::<WaitDie>::with_deadlock_injection(EVERY_LOCK);
    back_off_from_b(&ctx, &a, &b);
    assert_eq!(ctx.lock_slow(&a).err(), Some(WwError::NotContended));
    drop(ctx.lock_slow(&b).unwrap());
}

#[test]
fn a_real_abba_back_off_then_a_wrong_first_lock_panics_naming_both_places() {
    // test-ww_mutex's ABBA: the older context holds `a` and waits for `b`, the younger holds
    // `b` and asks for `a`: under Wait-Die the younger dies. It then releases `b` and, wrongly,
    // locks `c` first.
    let (a, b, c) = (
        WwMutex::<u32, WaitDie>::new(0),
        WwMutex::<u32, WaitDie>::new(0),
        WwMutex::<u32, WaitDie>::new(0),
    );
    let old = AcquireCtx::<WaitDie>::new();
    let ga = old.lock(&a).unwrap();
    let lines = thread::scope(|s| {
        s.spawn(|| {
            let young = AcquireCtx::<WaitDie>::new();
            let gb = young.lock(&b).unwrap();
            let deadlock_line = line!() + 1;
            assert_eq!(young.lock(&a).err(), Some(WwError::Deadlock));
            drop(gb);
            let wrong_line = line!() + 1;
            let r = catch_unwind(AssertUnwindSafe(|| young.lock(&c).map(drop)));
            let msg = *r.unwrap_err().downcast::<String>().unwrap();
            (msg, deadlock_line, wrong_line)
        })
        .join()
        .unwrap()
    });
    let (msg, deadlock_line, wrong_line) = lines;
    let file = file!();
    assert!(
        msg.contains(&format!("lock at {file}:{wrong_line}:")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "the Deadlock was returned at {file}:{deadlock_line}:"
        )),
        "{msg}"
    );
    drop(ga);
}

#[test]
fn lock_all_backs_off_through_the_contended_mutex_without_panicking() {
    // LockSet's retry loop is the correct use: after each back-off it locks the contended
    // mutex first (lock_slow), then runs the closure again.
    let ms: Vec<WwMutex<u32, WaitDie>> = (0..8).map(WwMutex::new).collect();
    let ctx = AcquireCtx::<WaitDie>::with_deadlock_injection(DeadlockInjection {
        interval: 2,
        seed: 11,
    });
    let mut set = LockSet::new(&ctx);
    set.lock_all(|s| {
        for m in &ms {
            s.lock(m)?;
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    assert!(
        set.rollbacks() > 0,
        "the injection must have made it back off"
    );
    assert_eq!(set.len(), ms.len());
    ctx.done();
    assert_eq!(set.iter().sum::<u32>(), (0..8).sum());
}

// (d) A lock after the context declared its acquire phase done (ww_acquire_done).

#[test]
#[should_panic(
    expected = "ww_misuse.rs:336:19 after AcquireCtx::done() at sync/tests/ww_misuse.rs:335:9"
)]
fn lock_after_done_panics() {
    let (a, b) = (WwMutex::new(0), WwMutex::new(0));
    let ctx = AcquireCtx::<WaitDie>::new();
    let _ga = ctx.lock(&a).unwrap();
    ctx.done();
    let _gb = ctx.lock(&b);
}

#[test]
#[should_panic(
    expected = "ww_misuse.rs:347:19 after AcquireCtx::done() at sync/tests/ww_misuse.rs:346:9"
)]
fn try_lock_after_done_panics() {
    let a = WwMutex::new(0);
    let ctx = AcquireCtx::<WoundWait>::new();
    ctx.done();
    let _ga = ctx.try_lock(&a);
}

#[test]
#[should_panic(
    expected = "ww_misuse.rs:361:15 after AcquireCtx::done() at sync/tests/ww_misuse.rs:357:9"
)]
fn lock_all_after_done_panics() {
    let ms: Vec<WwMutex<u32, WaitDie>> = (0..2).map(WwMutex::new).collect();
    let ctx = AcquireCtx::<WaitDie>::new();
    ctx.done();
    let mut set = LockSet::new(&ctx);
    let _ = set.lock_all(|s| {
        for m in &ms {
            s.lock(m)?;
        }
        Ok::<_, WwError>(())
    });
}

#[test]
#[should_panic(
    expected = "ww_misuse.rs:374:9 called again (first at sync/tests/ww_misuse.rs:373:9"
)]
fn done_twice_panics() {
    let ctx = AcquireCtx::<WaitDie>::new();
    ctx.done();
    ctx.done();
}

#[test]
fn done_then_use_and_release_is_fine() {
    let (a, b) = (WwMutex::new(1u32), WwMutex::new(2u32));
    let ctx = AcquireCtx::<WaitDie>::new();
    let mut ga = ctx.lock(&a).unwrap();
    let gb = ctx.lock(&b).unwrap();
    ctx.done();
    *ga += *gb;
    drop((ga, gb));
    assert_eq!(ctx.acquired(), 0);
    assert_eq!(*a.lock(), 3);
}
