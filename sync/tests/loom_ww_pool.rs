//! Loom model checks of the owner-record pool (issue #15): records handed from one
//! context to the next, across threads, while other contexts contend and wound.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p dmasync-sync --test loom_ww_pool
//! ```
//!
//! What a failure would mean: a data race on a record (a reset while a contender still
//! reads the unparker, or two contexts given one record), a deadlock (a wounded context
//! parked with a stale unparker nobody wakes), or a broken exclusion on the cells.
#![cfg(loom)]

use dmasync_sync::ww::{AcquireCtx, WaitDie, WoundWait, WwClass, WwError, WwMutex};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

type M<C> = WwMutex<UnsafeCell<usize>, C>;

fn bump(c: &UnsafeCell<usize>) {
    // SAFETY: the caller holds the mutex owning `c` (loom checks exactly that).
    c.with_mut(|p| unsafe { *p += 1 });
}

/// Two short transactions in a row on one thread: the second context reuses a record
/// (its own, or one another thread gave back).
fn two_in_a_row<C: WwClass>(ms: &[M<C>], first: usize, second: usize) {
    for (a, b) in [(first, second), (second, first)] {
        let ctx = AcquireCtx::<C>::new();
        let ga = ctx.lock(&ms[a]).unwrap();
        match ctx.lock(&ms[b]) {
            Ok(gb) => {
                bump(&ga);
                bump(&gb);
            }
            Err(WwError::Deadlock) => {
                drop(ga);
                let gb = ctx.lock_slow(&ms[b]).unwrap();
                bump(&gb);
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

fn model<C: WwClass>() {
    loom::model(|| {
        let ms: Arc<Vec<M<C>>> =
            Arc::new((0..2).map(|_| WwMutex::new(UnsafeCell::new(0))).collect());
        let ms2 = ms.clone();
        let t = thread::spawn(move || two_in_a_row(&ms2, 0, 1));
        two_in_a_row(&ms, 1, 0);
        t.join().unwrap();
        // A third context after both threads gave theirs back.
        let ctx = AcquireCtx::<C>::new();
        let g = ctx.lock(&ms[0]).unwrap();
        bump(&g);
    });
}

#[test]
fn records_reused_across_threads_wait_die() {
    model::<WaitDie>();
}

#[test]
fn records_reused_across_threads_wound_wait() {
    model::<WoundWait>();
}
