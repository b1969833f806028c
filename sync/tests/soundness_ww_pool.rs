//! The pool of ww owner records (issue #15): an idle context's record is reused by the
//! next `AcquireCtx::new`, but a record that a leaked guard's mutex may still name must
//! never be: a later context carrying it would be taken for the leaked lock's holder
//! (`lock` would say `Already`, and dropping that context would hand the leaked lock's
//! record to yet another context).
//!
//! Each scenario leaks guards (`mem::forget`, a forgotten `LockSet`), ends contexts in odd
//! orders (dropped, forgotten, boxed, on other threads), then churns through more contexts
//! than the pool has slots, on several threads, and checks every one of them sees the
//! leaked mutexes held by someone else: `try_lock` says `WouldBlock` (never `Ok`, never
//! `Already`), and a younger Wait-Die context that holds a lock gets `Deadlock`.
//!
//! The leaks are the point (forgotten guards, a forgotten `LockSet` and contexts), so Miri
//! runs this file as it runs every `soundness_*` attack: with its leak check off
//! (`MIRIFLAGS=-Zmiri-ignore-leaks`, xtask's Miri step). Nothing blocks on a leaked lock.
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use std::boxed::Box;
use std::mem;
use std::thread;

use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WoundWait, WwClass, WwError, WwMutex};

/// More contexts than the pool holds records (8 slots), so every pooled record is taken
/// and returned several times.
const CHURN: usize = if cfg!(miri) { 24 } else { 200 };

/// Runs `f` on a thread of its own (the misuse checks allow one live context per thread
/// and class).
fn on_own_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    thread::scope(|s| s.spawn(f).join().unwrap())
}

/// `leaked` are held by dead contexts: a fresh context of class `C` must see each held by
/// someone else, whichever record it got from the pool.
fn check_held_by_others<C: WwClass>(leaked: &[&'static WwMutex<u32, C>]) {
    let ctx = AcquireCtx::<C>::new();
    for m in leaked {
        assert!(m.is_locked());
        assert_eq!(
            ctx.try_lock(m).err(),
            Some(WwError::WouldBlock),
            "a new context (stamp {}) must not hold or get a leaked lock",
            ctx.stamp()
        );
        assert!(m.try_lock().is_none());
    }
    assert_eq!(ctx.acquired(), 0);
}

/// Churns `CHURN` contexts on this thread and on two others at once, each locking and
/// unlocking `free` (so records go round the pool) and checking `leaked`.
fn churn<C: WwClass>(leaked: &[&'static WwMutex<u32, C>], free: &'static WwMutex<u32, C>) {
    let work = || {
        for i in 0..CHURN {
            {
                let ctx = AcquireCtx::<C>::new();
                // `free` may be held for a moment by the other churning threads.
                if let Ok(mut g) = ctx.lock(free) {
                    *g += 1;
                }
            }
            if i % 4 == 0 {
                check_held_by_others(leaked);
            }
        }
    };
    thread::scope(|s| {
        s.spawn(work);
        s.spawn(work);
        work();
    });
    check_held_by_others(leaked);
}

#[test]
fn leaked_guard_record_is_never_reused_wait_die() {
    static A: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static B: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static FREE: WwMutex<u32, WaitDie> = WwMutex::new(0);
    // Idle contexts first, so the pool holds records when the leaking one is made.
    for _ in 0..4 {
        drop(AcquireCtx::<WaitDie>::new());
    }
    let dead = on_own_thread(|| {
        let ctx = AcquireCtx::<WaitDie>::new();
        mem::forget(ctx.lock(&A).unwrap());
        mem::forget(ctx.lock(&B).unwrap());
        let stamp = ctx.stamp();
        drop(ctx);
        stamp
    });
    churn(&[&A, &B], &FREE);
    // A younger context holding a lock dies against the dead (older) holder's stamp: the
    // record it reads is the leaked one, intact.
    on_own_thread(|| {
        let young = AcquireCtx::<WaitDie>::new();
        assert!(dead < young.stamp());
        let g = young.lock(&FREE).unwrap();
        assert_eq!(young.lock(&A).err(), Some(WwError::Deadlock));
        drop(g);
    });
}

#[test]
fn leaked_guard_record_is_never_reused_wound_wait() {
    static A: WwMutex<u32, WoundWait> = WwMutex::new(0);
    static FREE: WwMutex<u32, WoundWait> = WwMutex::new(0);
    for _ in 0..4 {
        drop(AcquireCtx::<WoundWait>::new());
    }
    on_own_thread(|| {
        let ctx = AcquireCtx::<WoundWait>::new();
        mem::forget(ctx.lock(&A).unwrap());
        // Moved into a box and dropped there: the record stays with the leaked lock.
        let boxed = Box::new(ctx);
        assert_eq!(boxed.try_lock(&A).err(), Some(WwError::Already));
        drop(boxed);
    });
    churn(&[&A], &FREE);
}

#[test]
fn leaked_lockset_and_odd_drop_orders() {
    static A: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static B: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static C: WwMutex<u32, WoundWait> = WwMutex::new(0);
    static D: WwMutex<u32, WoundWait> = WwMutex::new(0);
    static FREE_WD: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static FREE_WW: WwMutex<u32, WoundWait> = WwMutex::new(0);
    on_own_thread(|| {
        // Two classes live on one thread, ended in the reverse order of their creation,
        // with an idle context of each class made and dropped in between.
        let wd = AcquireCtx::<WaitDie>::new();
        let ww = AcquireCtx::<WoundWait>::new();
        let mut set = LockSet::new(&wd);
        set.lock_all(|s| {
            s.lock(&A)?;
            s.lock(&B)?;
            Ok::<(), WwError>(())
        })
        .unwrap();
        // The whole set (and its guards) is leaked.
        mem::forget(set);
        assert_eq!(wd.acquired(), 2);
        mem::forget(ww.lock(&C).unwrap());
        // Unlock-before-drop of another lock of the same context: still one leaked.
        let g = ww.lock(&D).unwrap();
        drop(g);
        assert_eq!(ww.acquired(), 1);
        drop(ww);
        drop(wd);
    });
    on_own_thread(|| {
        // A context forgotten holding nothing: its record is neither pooled nor freed
        // (harmless), and the pool still serves the next ones.
        let idle = AcquireCtx::<WaitDie>::new();
        mem::forget(idle);
    });
    thread::scope(|s| {
        s.spawn(|| churn(&[&A, &B], &FREE_WD));
        s.spawn(|| churn(&[&C], &FREE_WW));
    });
    assert!(!D.is_locked());
    // D was released before its context dropped; it is free for anyone.
    let ctx = AcquireCtx::<WoundWait>::new();
    assert!(ctx.lock(&D).is_ok());
}

#[test]
fn pooled_records_start_fresh() {
    // Stamps keep rising across reuse, and a reused record is never wounded or ready for
    // another thread's unparker: a context that was wounded, then released everything
    // and was dropped, hands on a clean record.
    static A: WwMutex<u32, WoundWait> = WwMutex::new(0);
    let mut last = 0;
    for _ in 0..CHURN {
        let ctx = AcquireCtx::<WoundWait>::new();
        assert!(ctx.stamp() > last);
        last = ctx.stamp();
        assert!(!ctx.is_wounded());
        let g = ctx.lock(&A).unwrap();
        assert_eq!(ctx.lock(&A).err(), Some(WwError::Already));
        drop(g);
    }
    // Records made on other threads are reused here (and the other way round).
    for _ in 0..4 {
        on_own_thread(|| {
            for _ in 0..4 {
                let ctx = AcquireCtx::<WoundWait>::new();
                assert!(!ctx.is_wounded());
                assert!(ctx.lock(&A).is_ok());
            }
        });
        let ctx = AcquireCtx::<WoundWait>::new();
        assert!(ctx.stamp() > last);
        last = ctx.stamp();
        assert!(ctx.lock(&A).is_ok());
    }
}

/// A reused record must not carry its last owner's unparker: a wounder wakes a parked
/// context through the record, so a stale one would wake a finished thread and leave the
/// wounded context asleep (this test would hang). Each round runs on fresh threads, whose
/// contexts take the records the previous round's parked and wounded contexts gave back.
#[test]
fn reused_record_wakes_its_new_owner() {
    static M1: WwMutex<u32, WoundWait> = WwMutex::new(0);
    static M2: WwMutex<u32, WoundWait> = WwMutex::new(0);
    let rounds = if cfg!(miri) { 2 } else { 8 };
    for _ in 0..rounds {
        let (older_tx, older_rx) = std::sync::mpsc::channel::<()>();
        let (young_tx, young_rx) = std::sync::mpsc::channel::<()>();
        thread::scope(|s| {
            s.spawn(move || {
                let older = AcquireCtx::<WoundWait>::new();
                let g2 = older.lock(&M2).unwrap();
                older_tx.send(()).unwrap();
                // The younger context holds M1 and is about to wait for M2.
                young_rx.recv().unwrap();
                if !cfg!(miri) {
                    // Let it park first (only makes the stale-unparker case likely; the
                    // outcome is the same either way).
                    thread::sleep(std::time::Duration::from_millis(5));
                }
                // Wounds the younger holder of M1 and waits for it to back off.
                let g1 = older.lock(&M1).unwrap();
                drop((g1, g2));
            });
            s.spawn(move || {
                older_rx.recv().unwrap();
                let young = AcquireCtx::<WoundWait>::new();
                let g1 = young.lock(&M1).unwrap();
                young_tx.send(()).unwrap();
                assert_eq!(young.lock(&M2).err(), Some(WwError::Deadlock));
                drop(g1);
                let g2 = young.lock_slow(&M2).unwrap();
                drop(g2);
            });
        });
    }
    assert!(!M1.is_locked() && !M2.is_locked());
}
