//! Loom model checks of the fence state machine: signal vs add/remove callback vs wait vs
//! poll, aggregate completion from two signallers, and a nested (deferred) signal vs a
//! waiter and a callback being added.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!  cargo test --release -p dmasync-sync --test loom_fence`
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use dmasync_sync::fence::{CallbackRemoval, FenceCallback, all_of};
use dmasync_sync::{FenceError, FenceProducer, FenceStatus};

fn producer() -> FenceProducer {
    FenceProducer::one_off()
}

/// The add-callback/signal race never loses a callback and never runs one that was
/// reported as "already signalled".
#[test]
fn add_callback_vs_signal() {
    loom::model(|| {
        let p = producer();
        let f = p.fence();
        let ran = Arc::new(AtomicUsize::new(0));
        let signaller = thread::spawn(move || p.signal_error(FenceError::Timeout));
        let r = ran.clone();
        let mut cb = pin!(FenceCallback::new(move |res| {
            assert_eq!(res, Err(FenceError::Timeout));
            r.fetch_add(1, Ordering::SeqCst);
        }));
        let queued = f.add_callback(cb.as_mut()).is_ok();
        signaller.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), usize::from(queued));
        assert_eq!(f.status(), FenceStatus::Err(FenceError::Timeout));
    });
}

/// Removing races signalling: `Removed` means it never runs, `AlreadyRan` means it has
/// finished running by the time remove returns.
#[test]
fn remove_callback_vs_signal() {
    loom::model(|| {
        let p = producer();
        let f = p.fence();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let mut cb = pin!(FenceCallback::new(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        f.add_callback(cb.as_mut()).unwrap();
        let signaller = thread::spawn(move || p.signal());
        let outcome = cb.as_mut().remove();
        let ran_at_remove = ran.load(Ordering::SeqCst);
        signaller.join().unwrap();
        match outcome {
            CallbackRemoval::Removed => assert_eq!(ran.load(Ordering::SeqCst), 0),
            CallbackRemoval::AlreadyRan => assert_eq!(ran_at_remove, 1),
            CallbackRemoval::NotQueued => panic!("was queued"),
        }
    });
}

/// A blocking wait racing the signal never misses the wake-up (loom reports a deadlock
/// if the waiter parks forever).
#[test]
fn blocking_wait_vs_signal() {
    loom::model(|| {
        let p = producer();
        let f = p.fence();
        let waiter = thread::spawn(move || f.wait());
        p.signal();
        assert_eq!(waiter.join().unwrap(), Ok(()));
    });
}

/// Dropping the producer releases a blocked waiter with `Cancelled`.
#[test]
fn blocking_wait_vs_producer_drop() {
    loom::model(|| {
        let p = producer();
        let f = p.fence();
        let dropper = thread::spawn(move || drop(p));
        assert_eq!(f.wait(), Err(FenceError::Cancelled));
        dropper.join().unwrap();
    });
}

struct CountWaker(AtomicUsize);
impl Wake for CountWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A poll that returns Pending is always followed by a wake once the fence signals.
#[test]
fn future_poll_vs_signal() {
    loom::model(|| {
        let p = producer();
        let f = p.fence();
        let count = std::sync::Arc::new(CountWaker(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let signaller = thread::spawn(move || p.signal());
        let mut fut = pin!(f.wait_async());
        let first = fut.as_mut().poll(&mut Context::from_waker(&waker));
        signaller.join().unwrap();
        if first.is_pending() {
            assert_eq!(count.0.load(Ordering::SeqCst), 1, "lost wake-up");
            assert_eq!(
                fut.as_mut().poll(&mut Context::from_waker(&waker)),
                Poll::Ready(Ok(()))
            );
        }
    });
}

/// An all-of aggregate signalled by two threads completes exactly once, with the error.
#[test]
fn aggregate_two_signallers() {
    loom::model(|| {
        let (a, b) = (producer(), producer());
        let agg = all_of([&a.fence(), &b.fence()]);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let mut cb = pin!(FenceCallback::new(move |res| {
            assert_eq!(res, Err(FenceError::DeviceError(2)));
            r.fetch_add(1, Ordering::SeqCst);
        }));
        agg.add_callback(cb.as_mut()).unwrap();
        let t = thread::spawn(move || b.signal_error(FenceError::DeviceError(2)));
        a.signal();
        t.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(agg.status(), FenceStatus::Err(FenceError::DeviceError(2)));
    });
}

/// A timed wait racing the signal returns either Pending (timed out first) or Ok, and
/// leaves no waiter behind (the signaller never touches a freed stack node).
#[test]
fn timed_wait_vs_signal() {
    loom::model(|| {
        let p = producer();
        let f = p.fence();
        let waiter = thread::spawn(move || f.wait_timeout(core::time::Duration::from_micros(3)));
        p.signal();
        let st = waiter.join().unwrap();
        assert!(st == FenceStatus::Pending || st == FenceStatus::Ok);
    });
}

/// Dropping a queued callback while the fence is being signalled: the closure either
/// never runs or has finished before the drop returns (never runs on freed memory).
#[test]
fn callback_drop_vs_signal() {
    loom::model(|| {
        let p = producer();
        let f = p.fence();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let mut cb = Box::pin(FenceCallback::new(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        f.add_callback(cb.as_mut()).unwrap();
        let signaller = thread::spawn(move || p.signal());
        drop(cb);
        let after_drop = ran.load(Ordering::SeqCst);
        signaller.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), after_drop, "ran after its drop");
    });
}

/// A fence signalled from inside another fence's callback (so its callbacks are deferred to
/// the signalling thread's drain) against a thread that adds a callback to it and then
/// blocks on it: the nested signal wakes the blocked waiter itself (a lost wake-up would be a
/// deadlock in the model), and the added callback runs exactly once — in the drain — unless
/// it was reported as already signalled.
#[test]
fn nested_signal_vs_add_callback_and_wait() {
    loom::model(|| {
        let p1 = producer();
        let f1 = p1.fence();
        let p2 = producer();
        let f2 = p2.fence();
        let mut slot = Some(p2);
        let mut outer = pin!(FenceCallback::new(move |_| {
            if let Some(p) = slot.take() {
                p.signal();
            }
        }));
        f1.add_callback(outer.as_mut()).unwrap();
        let signaller = thread::spawn(move || p1.signal());
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let mut cb = pin!(FenceCallback::new(move |res| {
            assert_eq!(res, Ok(()));
            r.fetch_add(1, Ordering::SeqCst);
        }));
        let queued = f2.add_callback(cb.as_mut()).is_ok();
        assert_eq!(f2.wait(), Ok(()));
        signaller.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), usize::from(queued));
        assert!(f1.is_signalled());
    });
}
