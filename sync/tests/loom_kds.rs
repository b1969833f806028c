//! Loom model checks of the KDS queue: grant vs release vs cancel, waits and wakers.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!       cargo test --release -p dmasync-sync --test loom_kds`
#![cfg(loom)]

use dmasync_sync::kds::{CancelOutcome, Completion, KdsDomain, Sharing};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

type Domain = KdsDomain;

const S: Sharing = Sharing::Shared;
const X: Sharing = Sharing::Exclusive;

/// Requests borrow their domain and loom threads need `'static`: each model iteration leaks
/// one small domain.
fn domain() -> &'static Domain {
    Box::leak(Box::new(Domain::new()))
}

fn counting(counter: &Arc<AtomicUsize>) -> Completion {
    let c = counter.clone();
    Completion::direct(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

/// Enqueue on one thread races the release of the current owner on another: whichever
/// order, the new request ends up granted and its callback runs exactly once.
#[test]
fn enqueue_races_release() {
    loom::model(|| {
        let d = domain();
        let r = d.new_resource().unwrap();
        let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        let t = thread::spawn(move || d.enqueue(&[(r, X)], counting(&f)).unwrap());
        a.release().unwrap();
        let b = t.join().unwrap();
        assert!(b.is_granted());
        assert_eq!(b.pending(), 0);
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        b.release().unwrap();
        assert_eq!(d.queue_len(r), Ok(0));
    });
}

/// Grant (by a release on another thread, which runs the direct callback there) races
/// cancel: once cancel has returned the callback count never changes again, and the outcome
/// says whether it ran.
#[test]
fn grant_races_cancel() {
    loom::model(|| {
        let d = domain();
        let r = d.new_resource().unwrap();
        let holder = d.enqueue(&[(r, X)], Completion::None).unwrap();
        let fired = Arc::new(AtomicUsize::new(0));
        let b = d.enqueue(&[(r, X)], counting(&fired)).unwrap();
        let t = thread::spawn(move || holder.release().unwrap());
        let outcome = b.cancel();
        let seen = fired.load(Ordering::SeqCst);
        match outcome {
            CancelOutcome::Dequeued => assert_eq!(seen, 0),
            CancelOutcome::Released { callback_ran } => assert_eq!(seen, usize::from(callback_ran)),
        }
        t.join().unwrap();
        assert_eq!(
            fired.load(Ordering::SeqCst),
            seen,
            "callback ran after cancel returned"
        );
        assert_eq!(d.queue_len(r), Ok(0));
        assert_eq!(d.live_requests(), 0);
    });
}

/// Same race with a deferred callback: a worker drains the work queue while cancel runs.
#[test]
fn worker_races_cancel() {
    loom::model(|| {
        let d = domain();
        let r = d.new_resource().unwrap();
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        let b = d
            .enqueue(
                &[(r, X)],
                Completion::deferred(move |_| {
                    f.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .unwrap();
        let t = thread::spawn(move || d.work_queue().run_one());
        let outcome = b.cancel();
        let seen = fired.load(Ordering::SeqCst);
        assert_eq!(
            outcome,
            CancelOutcome::Released {
                callback_ran: seen == 1
            }
        );
        let ran = t.join().unwrap();
        assert_eq!(fired.load(Ordering::SeqCst), seen);
        assert_eq!(ran, seen == 1);
        assert_eq!(d.queue_len(r), Ok(0));
    });
}

/// KDS bug 1 under concurrency: a middle shared owner releases while the exclusive holder
/// of C's other resource releases. C is granted exactly once, only after both.
#[test]
fn middle_shared_release_races_other_release() {
    loom::model(|| {
        let d = domain();
        let (x, y) = (d.new_resource().unwrap(), d.new_resource().unwrap());
        let h = d.enqueue(&[(y, X)], Completion::None).unwrap();
        let a = d.enqueue(&[(x, S)], Completion::None).unwrap();
        let b = d.enqueue(&[(x, S)], Completion::None).unwrap();
        let fired = Arc::new(AtomicUsize::new(0));
        let c = d.enqueue(&[(x, S), (y, S)], counting(&fired)).unwrap();
        let t = thread::spawn(move || b.release().unwrap());
        // While H holds Y, C must not have fired, whatever B did.
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        assert_eq!(c.pending(), 1);
        h.release().unwrap();
        t.join().unwrap();
        assert!(c.is_granted());
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        drop((a, c));
    });
}

/// KDS bug 2 under concurrency: cancelling the queued exclusive B races the release of the
/// shared head A; the shared C behind B is granted in every interleaving (no hang).
#[test]
fn cancel_queued_exclusive_races_head_release() {
    loom::model(|| {
        let d = domain();
        let r = d.new_resource().unwrap();
        let a = d.enqueue(&[(r, S)], Completion::None).unwrap();
        let b = d.enqueue(&[(r, X)], Completion::None).unwrap();
        let fired = Arc::new(AtomicUsize::new(0));
        let c = d.enqueue(&[(r, S)], counting(&fired)).unwrap();
        let t = thread::spawn(move || b.cancel());
        a.release().unwrap();
        let outcome = t.join().unwrap();
        assert!(c.is_granted());
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        // B was granted only if A released before B was cancelled.
        assert!(matches!(
            outcome,
            CancelOutcome::Dequeued
                | CancelOutcome::Released {
                    callback_ran: false
                }
        ));
    });
}

/// Release while the request's callback runs on a worker: release returns at once, the
/// resources pass on only when the callback has returned (finished by the worker), and the
/// next owner's callback never overlaps it.
#[test]
fn release_races_running_callback() {
    loom::model(|| {
        let d = domain();
        let r = d.new_resource().unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let i1 = inside.clone();
        let b = d
            .enqueue(
                &[(r, X)],
                Completion::deferred(move |_| {
                    i1.fetch_add(1, Ordering::SeqCst);
                    i1.fetch_sub(1, Ordering::SeqCst);
                }),
            )
            .unwrap();
        let overlaps = Arc::new(AtomicUsize::new(0));
        let (i2, o2) = (inside.clone(), overlaps.clone());
        let c = d
            .enqueue(
                &[(r, X)],
                Completion::direct(move |_| {
                    o2.fetch_add(i2.load(Ordering::SeqCst), Ordering::SeqCst);
                }),
            )
            .unwrap();
        let t = thread::spawn(move || d.work_queue().run_one());
        b.release().unwrap();
        t.join().unwrap();
        assert!(c.is_granted());
        assert_eq!(overlaps.load(Ordering::SeqCst), 0);
        assert_eq!(d.queue_len(r), Ok(1));
    });
}

/// A blocked waiter is never lost: loom reports a deadlock if the unpark could be missed.
#[test]
fn blocking_wait_races_release() {
    loom::model(|| {
        let d = domain();
        let r = d.new_resource().unwrap();
        let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
        let mut b = d.enqueue(&[(r, X)], Completion::None).unwrap();
        let t = thread::spawn(move || {
            b.wait(None).unwrap();
            b.is_granted()
        });
        a.release().unwrap();
        assert!(t.join().unwrap());
    });
}

/// Polls `fut` to completion, parking the loom thread while pending: a lost wake-up is a
/// deadlock in the model.
fn block_on<F: core::future::Future>(fut: F) -> F::Output {
    struct Unpark(loom::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    let mut cx = core::task::Context::from_waker(&waker);
    let mut fut = core::pin::pin!(fut);
    loop {
        if let core::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// The future's waker is never lost either.
#[test]
fn future_races_release() {
    loom::model(|| {
        let d = domain();
        let r = d.new_resource().unwrap();
        let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
        let mut b = d.enqueue(&[(r, S)], Completion::None).unwrap();
        let t = thread::spawn(move || {
            block_on(b.granted());
            b.release().unwrap();
        });
        a.release().unwrap();
        t.join().unwrap();
        assert_eq!(d.queue_len(r), Ok(0));
    });
}
