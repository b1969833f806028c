//! Fences across threads: wake-ups, the add-callback/signal race, remove vs signal,
//! futures, memory-backed fences with a "device" thread, aggregates.
#![cfg(not(loom))]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use dmasync_sync::fence::{CallbackRemoval, FenceCallback, MemTimeline, Timeline, all_of, any_of};

/// Iterations of the race loops (Miri runs a few: it checks each for data races).
const ROUNDS: usize = if cfg!(miri) { 4 } else { 300 };
use dmasync_sync::{Fence, FenceError, FenceProducer, FenceStatus};

fn producer() -> FenceProducer {
    FenceProducer::one_off()
}

#[test]
fn signal_from_another_thread_wakes_every_blocked_waiter() {
    let p = producer();
    let f = p.fence();
    let started = Arc::new(Barrier::new(5));
    let waiters: Vec<_> = (0..4)
        .map(|i| {
            let f = f.clone();
            let s = started.clone();
            thread::spawn(move || {
                s.wait();
                if i % 2 == 0 {
                    f.wait()
                } else {
                    f.wait_timeout(Duration::from_secs(60)).result().unwrap()
                }
            })
        })
        .collect();
    started.wait();
    thread::sleep(Duration::from_millis(5));
    p.signal_error(FenceError::DeviceError(9));
    for w in waiters {
        assert_eq!(w.join().unwrap(), Err(FenceError::DeviceError(9)));
    }
}

#[test]
fn a_producer_dropped_on_another_thread_releases_waiters() {
    let p = producer();
    let f = p.fence();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(2));
        drop(p);
    });
    assert_eq!(f.wait(), Err(FenceError::Cancelled));
    t.join().unwrap();
}

#[test]
fn add_callback_racing_signal_never_loses_a_callback() {
    for _ in 0..ROUNDS {
        let p = producer();
        let f = p.fence();
        let ran = Arc::new(AtomicUsize::new(0));
        let go = Arc::new(Barrier::new(2));
        let (r, g) = (ran.clone(), go.clone());
        let adder = thread::spawn(move || {
            let mut cbs: Vec<_> = (0..4)
                .map(|_| {
                    let r = r.clone();
                    Box::pin(FenceCallback::new(move |_| {
                        r.fetch_add(1, Ordering::SeqCst);
                    }))
                })
                .collect();
            g.wait();
            let queued = cbs
                .iter_mut()
                .map(|cb| f.add_callback(cb.as_mut()).is_ok())
                .filter(|&ok| ok)
                .count();
            // Wait for the signal so dropping the callbacks cannot dequeue them.
            f.wait().unwrap();
            (queued, cbs)
        });
        go.wait();
        p.signal();
        let (queued, cbs) = adder.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), queued);
        drop(cbs);
        assert_eq!(ran.load(Ordering::SeqCst), queued);
    }
}

#[test]
fn remove_racing_signal_agrees_with_what_ran() {
    for _ in 0..ROUNDS {
        let p = producer();
        let f = p.fence();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let mut cb = Box::pin(FenceCallback::new(move |_| {
            // Widen the window in which the callback is running.
            for _ in 0..50 {
                std::hint::spin_loop();
            }
            r.store(true, Ordering::SeqCst);
        }));
        f.add_callback(cb.as_mut()).unwrap();
        let go = Arc::new(Barrier::new(2));
        let g = go.clone();
        let signaller = thread::spawn(move || {
            g.wait();
            p.signal();
        });
        go.wait();
        let outcome = cb.as_mut().remove();
        // `AlreadyRan` is only reported once the callback has finished.
        let ran_at_remove = ran.load(Ordering::SeqCst);
        signaller.join().unwrap();
        match outcome {
            CallbackRemoval::Removed => assert!(!ran.load(Ordering::SeqCst)),
            CallbackRemoval::AlreadyRan => assert!(ran_at_remove),
            CallbackRemoval::NotQueued => panic!("it was queued"),
        }
    }
}

#[test]
fn timed_waits_racing_signal_are_consistent() {
    for i in 0..ROUNDS {
        let p = producer();
        let f = p.fence();
        let t = thread::spawn(move || {
            if i % 3 == 0 {
                thread::yield_now();
            }
            p.signal();
        });
        let st = f.wait_timeout(Duration::from_micros(50));
        assert!(st == FenceStatus::Pending || st == FenceStatus::Ok);
        t.join().unwrap();
        assert_eq!(f.wait_timeout(Duration::ZERO), FenceStatus::Ok);
    }
}

struct ThreadWaker(thread::Thread);
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

#[test]
fn futures_resolve_when_another_thread_signals() {
    for _ in 0..ROUNDS {
        let p = producer();
        let f = p.fence();
        let t = thread::spawn(move || p.signal_error(FenceError::Timeout));
        assert_eq!(block_on(f.wait_async()), Err(FenceError::Timeout));
        t.join().unwrap();
    }
}

#[test]
fn memory_fences_complete_from_a_device_thread_writing_the_word() {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let tl = MemTimeline::new(&WORD);
    let producers: Vec<_> = (0..8).map(|_| tl.next_fence()).collect();
    let fences: Vec<Fence> = producers.iter().map(|p| p.fence()).collect();
    let all = all_of(&fences);
    // The "device": completes the jobs one by one by writing the seqno word.
    let device = thread::spawn(|| {
        for seq in 1..=8u32 {
            thread::sleep(Duration::from_micros(200));
            WORD.store(seq, Ordering::Release);
        }
    });
    let waiters: Vec<_> = fences
        .iter()
        .cloned()
        .map(|f| thread::spawn(move || f.wait()))
        .collect();
    for w in waiters {
        assert_eq!(w.join().unwrap(), Ok(()));
    }
    device.join().unwrap();
    // Every child was signalled by a CPU that saw the word, so the aggregate is too.
    assert_eq!(all.wait_timeout(Duration::from_secs(10)), FenceStatus::Ok);
    drop(producers);
    assert!(fences.iter().all(|f| f.status() == FenceStatus::Ok));
}

#[test]
fn aggregates_signalled_from_many_threads() {
    for round in 0..ROUNDS.min(50) {
        let t = Timeline::new();
        let producers: Vec<_> = (0..6).map(|_| t.next_fence()).collect();
        let fences: Vec<_> = producers.iter().map(|p| p.fence()).collect();
        let all = all_of(&fences);
        let any = any_of(&fences);
        let signallers: Vec<_> = producers
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                thread::spawn(move || {
                    if i == round % 6 {
                        p.signal_error(FenceError::DeviceError(i as u32));
                    } else {
                        p.signal();
                    }
                })
            })
            .collect();
        let expect_err = Err(FenceError::DeviceError((round % 6) as u32));
        assert_eq!(all.wait(), expect_err);
        assert!(any.wait_timeout(Duration::from_secs(10)).is_signalled());
        for s in signallers {
            s.join().unwrap();
        }
    }
}
