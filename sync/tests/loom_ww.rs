//! Loom model checks of the wound/wait mutex: every interleaving (bounded by
//! `LOOM_MAX_PREEMPTIONS`) of 2-3 contending acquire contexts of both classes.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p dmasync-sync --test loom_ww
//! ```
//!
//! What a failure would mean: loom reports a deadlock when every thread is parked (a lost
//! wake-up, or a real lock cycle), a data race when two holders touch the protected cell
//! at once (mutual exclusion broken), and a panic when a rule assertion fails.
#![cfg(loom)]

use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WoundWait, WwClass, WwError, WwMutex};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

type M<C> = WwMutex<UnsafeCell<usize>, C>;

/// Increments a protected cell. Called only while holding its mutex; loom flags a race if
/// two holders ever overlap.
fn bump(c: &UnsafeCell<usize>) {
    // SAFETY: the caller holds the mutex owning `c` (loom checks exactly that).
    c.with_mut(|p| unsafe { *p += 1 });
}

fn read(c: &UnsafeCell<usize>) -> usize {
    // SAFETY: the caller holds the mutex owning `c`.
    c.with(|p| unsafe { *p })
}

fn mutexes<C: WwClass>(n: usize) -> Arc<Vec<M<C>>> {
    Arc::new((0..n).map(|_| WwMutex::new(UnsafeCell::new(0))).collect())
}

/// One transaction over `order` through a LockSet: lock all, bump each cell (loom checks
/// the cells for concurrent access), unlock. Returns the rollbacks it needed.
fn transaction<C: WwClass>(ms: &[M<C>], order: &[usize]) -> u64 {
    let ctx = AcquireCtx::<C>::new();
    let mut set = LockSet::with_capacity(&ctx, order.len());
    set.lock_all(|s| {
        for &i in order {
            s.lock(&ms[i])?;
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    for cell in set.iter_mut() {
        bump(cell);
    }
    set.rollbacks()
}

/// The manual protocol without LockSet: lock, on Deadlock drop all, lock_slow the contended
/// one, continue with the rest.
fn manual_two<C: WwClass>(ms: &[M<C>], first: usize, second: usize) {
    let ctx = AcquireCtx::<C>::new();
    let mut g1 = ctx.lock(&ms[first]).unwrap(); // holds nothing: never Deadlock
    loop {
        match ctx.lock(&ms[second]) {
            Ok(g2) => {
                bump(&g1);
                bump(&g2);
                return;
            }
            Err(WwError::Deadlock) => {
                drop(g1);
                let g2 = ctx.lock_slow(&ms[second]).unwrap();
                // Now take `first` while holding `second`; may back off again.
                match ctx.lock(&ms[first]) {
                    Ok(g) => {
                        bump(&g);
                        bump(&g2);
                        return;
                    }
                    Err(WwError::Deadlock) => {
                        drop(g2);
                        g1 = ctx.lock_slow(&ms[first]).unwrap();
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

fn total<C: WwClass>(ms: &[M<C>]) -> usize {
    ms.iter()
        .map(|m| {
            let g = m.lock();
            read(&g)
        })
        .sum()
}

fn two_contexts_opposite_order<C: WwClass>() {
    loom::model(|| {
        let ms = mutexes::<C>(2);
        let ms2 = ms.clone();
        let t = thread::spawn(move || transaction(&ms2, &[1, 0]));
        transaction(&ms, &[0, 1]);
        t.join().unwrap();
        assert_eq!(total(&ms), 4);
    });
}

#[test]
fn wait_die_two_contexts_opposite_order() {
    two_contexts_opposite_order::<WaitDie>();
}

#[test]
fn wound_wait_two_contexts_opposite_order() {
    two_contexts_opposite_order::<WoundWait>();
}

fn manual_protocol<C: WwClass>() {
    loom::model(|| {
        let ms = mutexes::<C>(2);
        let ms2 = ms.clone();
        let t = thread::spawn(move || manual_two(&ms2, 1, 0));
        manual_two(&ms, 0, 1);
        t.join().unwrap();
        assert_eq!(total(&ms), 4);
    });
}

#[test]
fn wait_die_manual_backoff_protocol() {
    manual_protocol::<WaitDie>();
}

#[test]
fn wound_wait_manual_backoff_protocol() {
    manual_protocol::<WoundWait>();
}

fn three_contexts_cycle<C: WwClass>() {
    // a->b, b->c, c->a: the classic three-way cycle; stamps must break it.
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(1);
    }
    builder.check(|| {
        let ms = mutexes::<C>(3);
        let (m1, m2) = (ms.clone(), ms.clone());
        let t1 = thread::spawn(move || transaction(&m1, &[1, 2]));
        let t2 = thread::spawn(move || transaction(&m2, &[2, 0]));
        transaction(&ms, &[0, 1]);
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(total(&ms), 6);
    });
}

#[test]
fn wait_die_three_contexts_cycle() {
    three_contexts_cycle::<WaitDie>();
}

#[test]
fn wound_wait_three_contexts_cycle() {
    three_contexts_cycle::<WoundWait>();
}

fn plain_and_context<C: WwClass>() {
    // A context-less holder and a context transaction share a mutex: plain waiters and
    // context waiters queue together; no lost wake-up either way.
    loom::model(|| {
        let ms = mutexes::<C>(2);
        let ms2 = ms.clone();
        let t = thread::spawn(move || {
            let g = ms2[1].lock();
            bump(&g);
        });
        transaction(&ms, &[0, 1]);
        t.join().unwrap();
        assert_eq!(total(&ms), 3);
    });
}

#[test]
fn wait_die_plain_and_context() {
    plain_and_context::<WaitDie>();
}

#[test]
fn wound_wait_plain_and_context() {
    plain_and_context::<WoundWait>();
}

/// The older context (created first, on the main thread) needs no rollback in any
/// interleaving: that is the no-starvation argument (the oldest never backs off).
fn oldest_never_backs_off<C: WwClass>() {
    loom::model(|| {
        let ms = mutexes::<C>(2);
        let old = AcquireCtx::<C>::new();
        let ms2 = ms.clone();
        let t = thread::spawn(move || transaction(&ms2, &[1, 0]));
        let mut set = LockSet::new(&old);
        set.lock_all(|s| {
            s.lock(&ms[0])?;
            s.lock(&ms[1])?;
            Ok::<_, WwError>(())
        })
        .unwrap();
        assert_eq!(set.rollbacks(), 0);
        drop(set);
        t.join().unwrap();
    });
}

#[test]
fn wait_die_oldest_never_backs_off() {
    oldest_never_backs_off::<WaitDie>();
}

#[test]
fn wound_wait_oldest_never_backs_off() {
    oldest_never_backs_off::<WoundWait>();
}
