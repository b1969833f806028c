//! Issue #10 defect 3: the ww owner record must stay valid whatever safe code does with
//! guards and contexts. A mutex locked through a context names that context's record in its
//! state word; contenders read the holder's stamp (and under Wound-Wait wound it) through
//! it. After `mem::forget` of the guard the lock is leaked, and the context may then be
//! moved, forgotten or dropped: contenders must still see a valid record and follow the
//! class rules against the dead context's stamp.
//!
//! Before the fix the record lived inside the context: moving or forgetting the context
//! left the mutex pointing at a dead stack slot (Miri: use of a dangling pointer), and
//! dropping it parked the thread forever (Miri: deadlock; natively a hang).
//!
//! The mutexes are statics: a leaked lock and its record stay reachable from them, which
//! is what Miri's leak check accepts (the leak is the documented outcome, not an accident).
//! Nothing here blocks on the leaked lock: every call on it returns (`try_lock`, or a lock
//! whose class rules say back off).
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use std::boxed::Box;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread;

use dmasync_sync::ww::{AcquireCtx, WaitDie, WoundWait, WwClass, WwError, WwMutex};

/// What happens to the context after its guard was forgotten.
#[derive(Clone, Copy, Debug)]
enum End {
    /// (a) moved into a `Box` (and used there), then the box is dropped.
    BoxedDrop,
    /// (b) `mem::forget`.
    Forget,
    /// (c) dropped where it is.
    DropInPlace,
}

/// Whether the crate's misuse checks are compiled in (its own dev-dependency turns the
/// feature on; build.rs keeps them to builds with debug assertions).
const CHECKS: bool = cfg!(all(feature = "misuse-checks", debug_assertions));

/// Runs `f` on a thread of its own and returns its result: the misuse checks allow one
/// live context per thread and class, and these scenarios need several at once.
fn on_own_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    thread::scope(|s| s.spawn(f).join().unwrap())
}

/// `lock` is a first lock after a back-off, of a mutex other than the contended one: with
/// the misuse checks on it panics (before touching anything) naming the back-off; without
/// them it locks, and the guard is dropped at once.
fn lock_other_after_backoff(lock: impl FnOnce() -> Result<(), WwError>) {
    let r = catch_unwind(AssertUnwindSafe(lock));
    if CHECKS {
        let msg = r.expect_err("the misuse check must fire");
        let msg = msg.downcast_ref::<String>().expect("a formatted message");
        assert!(msg.contains("not the contended mutex"), "{msg}");
    } else {
        r.expect("no panic without the checks").expect("lockable");
    }
}

/// Locks `m` through a fresh context, forgets the guard, ends the context as `end` says,
/// and returns the dead context's stamp. The context's frame is gone when this returns.
fn leak_lock<C: WwClass>(m: &'static WwMutex<u32, C>, end: End) -> u64 {
    let ctx = AcquireCtx::<C>::new();
    let stamp = ctx.stamp();
    mem::forget(ctx.lock(m).unwrap());
    assert_eq!(ctx.acquired(), 1);
    match end {
        End::BoxedDrop => {
            let boxed = Box::new(ctx);
            // Moved: the mutex must still name this context (its record did not move).
            assert_eq!(boxed.lock(m).err(), Some(WwError::Already));
            assert_eq!(boxed.try_lock(m).err(), Some(WwError::Already));
            drop(boxed);
        }
        End::Forget => mem::forget(ctx),
        End::DropInPlace => drop(ctx),
    }
    stamp
}

/// Wait-Die against a dead holder: a younger context holding a lock dies, anybody's
/// `try_lock` says `WouldBlock`, and the leaked lock stays held.
fn wait_die_after(a: &'static WwMutex<u32, WaitDie>, b: &'static WwMutex<u32, WaitDie>, end: End) {
    let older = AcquireCtx::<WaitDie>::new();
    let dead = on_own_thread(|| leak_lock(a, end));
    assert!(older.stamp() < dead);
    assert!(a.is_locked());
    assert_eq!(older.try_lock(a).err(), Some(WwError::WouldBlock));
    on_own_thread(|| young_wait_die_after(a, b, dead));
}

fn young_wait_die_after(
    a: &'static WwMutex<u32, WaitDie>,
    b: &'static WwMutex<u32, WaitDie>,
    dead: u64,
) {
    let young = AcquireCtx::<WaitDie>::new();
    assert!(dead < young.stamp());
    assert_eq!(young.try_lock(a).err(), Some(WwError::WouldBlock));
    assert!(a.try_lock().is_none());

    let gb = young.lock(b).unwrap();
    // Reads the dead holder's stamp: older than us, and we hold a lock, so we die.
    assert_eq!(young.lock(a).err(), Some(WwError::Deadlock));
    assert!(young.must_back_off());
    drop(gb);
    assert!(!young.must_back_off());
    // The back-off bookkeeping is intact: the contended mutex is `a`; a lock of another
    // mutex is caught by the misuse checks, or (without them) still works.
    assert_eq!(young.lock_slow(b).err(), Some(WwError::NotContended));
    lock_other_after_backoff(|| young.lock(b).map(drop));
    assert!(a.is_locked() && !b.is_locked());
}

/// Wound-Wait against a dead holder: an older context's `try_lock` says `WouldBlock`; a
/// younger context that an older one wounded, and that holds a lock, backs off at its
/// contention on the leaked lock instead of waiting there.
fn wound_wait_after(
    a: &'static WwMutex<u32, WoundWait>,
    b: &'static WwMutex<u32, WoundWait>,
    end: End,
) {
    let older = AcquireCtx::<WoundWait>::new();
    let dead = on_own_thread(|| leak_lock(a, end));
    assert!(older.stamp() < dead);
    assert_eq!(older.try_lock(a).err(), Some(WwError::WouldBlock));
    assert!(a.try_lock().is_none());
    on_own_thread(|| young_wound_wait_after(a, b, dead));
}

fn young_wound_wait_after(
    a: &'static WwMutex<u32, WoundWait>,
    b: &'static WwMutex<u32, WoundWait>,
    dead: u64,
) {
    // A helper thread's context `wounder` (older than `young`) waits for `b`, which
    // `young` holds: it wounds `young` and sleeps until `young` releases `b`.
    let (stamp_tx, stamp_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let helper = thread::spawn(move || {
        let wounder = AcquireCtx::<WoundWait>::new();
        stamp_tx.send(wounder.stamp()).unwrap();
        go_rx.recv().unwrap();
        let mut g = wounder.lock(b).unwrap();
        *g += 1;
    });
    let wounder_stamp = stamp_rx.recv().unwrap();
    let young = AcquireCtx::<WoundWait>::new();
    assert!(wounder_stamp < young.stamp() && dead < young.stamp());
    let gb = young.lock(b).unwrap();
    go_tx.send(()).unwrap();
    while !young.is_wounded() {
        thread::yield_now();
    }
    // Looks at the dead holder's record, then backs off: wounded while holding `b`.
    assert_eq!(young.lock(a).err(), Some(WwError::Deadlock));
    assert!(young.must_back_off());
    drop(gb);
    helper.join().unwrap();
    lock_other_after_backoff(|| young.lock(b).map(drop));
    // `young` does not hold `b`: a plain lock on its thread is no misuse.
    assert_eq!(*b.lock(), 1);
    assert!(a.is_locked());
}

#[test]
fn wait_die_forgotten_guard_then_context_boxed_and_dropped() {
    static A: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static B: WwMutex<u32, WaitDie> = WwMutex::new(0);
    wait_die_after(&A, &B, End::BoxedDrop);
}

#[test]
fn wait_die_forgotten_guard_then_context_forgotten() {
    static A: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static B: WwMutex<u32, WaitDie> = WwMutex::new(0);
    wait_die_after(&A, &B, End::Forget);
}

#[test]
fn wait_die_forgotten_guard_then_context_dropped_in_place() {
    static A: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static B: WwMutex<u32, WaitDie> = WwMutex::new(0);
    wait_die_after(&A, &B, End::DropInPlace);
}

#[test]
fn wound_wait_forgotten_guard_then_context_boxed_and_dropped() {
    static A: WwMutex<u32, WoundWait> = WwMutex::new(0);
    static B: WwMutex<u32, WoundWait> = WwMutex::new(0);
    wound_wait_after(&A, &B, End::BoxedDrop);
}

#[test]
fn wound_wait_forgotten_guard_then_context_forgotten() {
    static A: WwMutex<u32, WoundWait> = WwMutex::new(0);
    static B: WwMutex<u32, WoundWait> = WwMutex::new(0);
    wound_wait_after(&A, &B, End::Forget);
}

#[test]
fn wound_wait_forgotten_guard_then_context_dropped_in_place() {
    static A: WwMutex<u32, WoundWait> = WwMutex::new(0);
    static B: WwMutex<u32, WoundWait> = WwMutex::new(0);
    wound_wait_after(&A, &B, End::DropInPlace);
}

/// The dead context's thread has finished too: its record (and the unparker in it) must
/// outlive the thread.
#[test]
fn wait_die_leaked_lock_outlives_the_leaking_thread() {
    static A: WwMutex<u32, WaitDie> = WwMutex::new(0);
    static B: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let dead = thread::spawn(|| leak_lock(&A, End::DropInPlace))
        .join()
        .unwrap();
    let young = AcquireCtx::<WaitDie>::new();
    assert!(dead < young.stamp());
    let _gb = young.lock(&B).unwrap();
    assert_eq!(young.lock(&A).err(), Some(WwError::Deadlock));
}
