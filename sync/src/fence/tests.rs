//! Unit tests of the fence state machine (single-threaded or lightly threaded, so they
//! also run under Miri, which checks the unsafe list and node handling).

use core::pin::pin;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use super::*;

type F = Fence;

fn producer() -> FenceProducer {
    FenceProducer::one_off()
}

#[test]
fn pending_then_ok() {
    let p = producer();
    let f = p.fence();
    assert_eq!(f.status(), FenceStatus::Pending);
    assert!(!f.is_signalled());
    p.signal();
    assert_eq!(f.status(), FenceStatus::Ok);
    assert!(f.is_signalled());
    assert_eq!(f.wait(), Ok(()));
}

#[test]
fn error_is_reported_only_once_signalled() {
    let p = producer();
    let f = p.fence();
    assert!(p.set_error(FenceError::DeviceError(7)));
    assert_eq!(f.status(), FenceStatus::Pending);
    p.signal();
    assert_eq!(f.status(), FenceStatus::Err(FenceError::DeviceError(7)));
    assert_eq!(f.wait(), Err(FenceError::DeviceError(7)));
}

#[test]
fn last_error_set_wins_and_signal_error_overrides() {
    let p = producer();
    let f = p.fence();
    p.set_error(FenceError::Timeout);
    p.set_error(FenceError::DeviceError(u32::MAX));
    p.signal();
    assert_eq!(
        f.status(),
        FenceStatus::Err(FenceError::DeviceError(u32::MAX))
    );

    let p = producer();
    let f = p.fence();
    p.set_error(FenceError::Timeout);
    p.signal_error(FenceError::Cancelled);
    assert_eq!(f.status(), FenceStatus::Err(FenceError::Cancelled));
}

#[test]
fn every_error_round_trips_through_the_state_word() {
    for e in [
        FenceError::Cancelled,
        FenceError::Timeout,
        FenceError::DeviceError(0),
        FenceError::DeviceError(1),
        FenceError::DeviceError(0x8000_0001),
        FenceError::DeviceError(u32::MAX),
    ] {
        assert_eq!(decode_result(encode_error(e) | SIGNALLED), Err(e));
    }
    assert_eq!(decode_result(SIGNALLED), Ok(()));
}

#[test]
fn dropping_the_producer_cancels() {
    let f = producer().fence();
    assert_eq!(f.status(), FenceStatus::Err(FenceError::Cancelled));
}

#[test]
fn dropping_the_producer_keeps_an_error_already_set() {
    let p = producer();
    let f = p.fence();
    p.set_error(FenceError::Timeout);
    drop(p);
    assert_eq!(f.status(), FenceStatus::Err(FenceError::Timeout));
}

#[test]
fn zero_timeout_polls() {
    let p = producer();
    let f = p.fence();
    assert_eq!(f.wait_timeout(Duration::ZERO), FenceStatus::Pending);
    p.signal();
    assert_eq!(f.wait_timeout(Duration::ZERO), FenceStatus::Ok);
}

#[test]
fn wait_times_out_on_a_pending_fence_and_leaves_no_waiter() {
    let p = producer();
    let f = p.fence();
    assert_eq!(
        f.wait_timeout(Duration::from_millis(2)),
        FenceStatus::Pending
    );
    // The on-stack waiter was removed: the list is empty again.
    // SAFETY: single-threaded test; nobody else touches the list now.
    assert!(f.inner.callbacks.with(|l| unsafe { (*l).is_empty() }));
    p.signal();
    assert_eq!(f.wait_timeout(Duration::from_millis(2)), FenceStatus::Ok);
}

#[test]
fn wait_until_a_past_deadline_polls() {
    let p = producer();
    let f = p.fence();
    assert_eq!(f.wait_until(Some(Instant(0))), FenceStatus::Pending);
}

type Log = Arc<Mutex<Vec<(u32, FenceResult)>>>;
type Cb = Box<dyn FnMut(FenceResult) + Send>;

fn recorder() -> (Log, impl Fn(u32) -> Cb) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let make = move |id: u32| {
        let l = l.clone();
        Box::new(move |r| l.lock().unwrap().push((id, r))) as Cb
    };
    (log, make)
}

use std::boxed::Box;

#[test]
fn callbacks_run_once_in_fifo_order_with_the_result() {
    let (log, make) = recorder();
    let p = producer();
    let f = p.fence();
    let mut a = pin!(FenceCallback::new(make(1)));
    let mut b = pin!(FenceCallback::new(make(2)));
    let mut c = pin!(FenceCallback::new(make(3)));
    f.add_callback(a.as_mut()).unwrap();
    f.add_callback(b.as_mut()).unwrap();
    f.add_callback(c.as_mut()).unwrap();
    assert!(a.is_queued() && b.is_queued() && c.is_queued());
    assert!(log.lock().unwrap().is_empty());
    p.signal_error(FenceError::DeviceError(3));
    let e = Err(FenceError::DeviceError(3));
    assert_eq!(*log.lock().unwrap(), [(1, e), (2, e), (3, e)]);
    assert!(!a.is_queued());
    assert_eq!(b.as_mut().remove(), CallbackRemoval::AlreadyRan);
}

#[test]
fn adding_to_a_signalled_fence_reports_it_and_does_not_run() {
    let (log, make) = recorder();
    let p = producer();
    let f = p.fence();
    p.signal();
    let mut a = pin!(FenceCallback::new(make(1)));
    assert_eq!(
        f.add_callback(a.as_mut()),
        Err(AlreadySignalled { result: Ok(()) })
    );
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(a.as_mut().remove(), CallbackRemoval::NotQueued);
}

#[test]
fn removed_callbacks_do_not_run_and_others_still_do() {
    let (log, make) = recorder();
    let p = producer();
    let f = p.fence();
    let mut a = pin!(FenceCallback::new(make(1)));
    let mut b = pin!(FenceCallback::new(make(2)));
    let mut c = pin!(FenceCallback::new(make(3)));
    f.add_callback(a.as_mut()).unwrap();
    f.add_callback(b.as_mut()).unwrap();
    f.add_callback(c.as_mut()).unwrap();
    // Remove from the middle, then the head, of the list.
    assert_eq!(b.as_mut().remove(), CallbackRemoval::Removed);
    assert_eq!(b.as_mut().remove(), CallbackRemoval::NotQueued);
    assert_eq!(c.as_mut().remove(), CallbackRemoval::Removed);
    p.signal();
    assert_eq!(*log.lock().unwrap(), [(1, Ok(()))]);
    assert_eq!(a.as_mut().remove(), CallbackRemoval::AlreadyRan);
}

#[test]
fn a_never_added_callback_is_not_queued() {
    let (_log, make) = recorder();
    let mut a = pin!(FenceCallback::<_>::new(make(1)));
    assert_eq!(a.as_mut().remove(), CallbackRemoval::NotQueued);
}

#[test]
fn dropping_a_queued_callback_dequeues_it() {
    let (log, make) = recorder();
    let p = producer();
    let f = p.fence();
    {
        let a = Box::pin(FenceCallback::new(make(1)));
        let mut a = a;
        f.add_callback(a.as_mut()).unwrap();
    }
    let mut b = pin!(FenceCallback::new(make(2)));
    f.add_callback(b.as_mut()).unwrap();
    p.signal();
    assert_eq!(*log.lock().unwrap(), [(2, Ok(()))]);
}

#[test]
fn a_callback_can_be_reused_and_moves_between_fences() {
    let (log, make) = recorder();
    let p1 = producer();
    let p2 = producer();
    let (f1, f2) = (p1.fence(), p2.fence());
    let mut a = pin!(FenceCallback::new(make(1)));
    f1.add_callback(a.as_mut()).unwrap();
    // Re-adding to another fence moves it.
    f2.add_callback(a.as_mut()).unwrap();
    p1.signal();
    assert!(log.lock().unwrap().is_empty());
    p2.signal_error(FenceError::Timeout);
    assert_eq!(*log.lock().unwrap(), [(1, Err(FenceError::Timeout))]);
    // After running it can be queued again.
    let p3 = producer();
    p3.fence().add_callback(a.as_mut()).unwrap();
    drop(p3);
    assert_eq!(log.lock().unwrap().len(), 2);
    assert_eq!(log.lock().unwrap()[1], (1, Err(FenceError::Cancelled)));
}

#[test]
fn callbacks_run_without_the_fence_lock_and_may_chain() {
    // A callback that signals a second fence and queries the first one: would deadlock if
    // callbacks ran under the fence lock.
    let p1 = producer();
    let f1 = p1.fence();
    let p2 = producer();
    let f2 = p2.fence();
    let slot = Arc::new(Mutex::new(Some(p2)));
    let f1c = f1.clone();
    let s = slot.clone();
    let mut a = pin!(FenceCallback::new(move |r| {
        assert_eq!(f1c.status(), FenceStatus::from_result(r));
        let mut nested = Box::pin(FenceCallback::new(|_| {}));
        assert!(f1c.add_callback(nested.as_mut()).is_err());
        if let Some(p) = s.lock().unwrap().take() {
            p.signal();
        }
    }));
    f1.add_callback(a.as_mut()).unwrap();
    p1.signal();
    assert_eq!(f2.status(), FenceStatus::Ok);
}

#[test]
fn nested_signals_complete_at_once_and_run_their_callbacks_breadth_first() {
    // f1's callbacks a, b; a signals f2 (callback c) and f3 (callback d); c signals f4
    // (callback e). Each nested fence is signalled when its `signal` returns, but its
    // callbacks wait for the running callback: a, b, c, d, e (per fence FIFO, fences in
    // the order they were signalled), all before the outermost `signal` returns.
    let (log, make) = recorder();
    let p1 = producer();
    let f1 = p1.fence();
    let (p2, p3, p4) = (producer(), producer(), producer());
    let (f2, f3, f4) = (p2.fence(), p3.fence(), p4.fence());
    let mut rec_a = make(1);
    let (f2a, f3a) = (f2.clone(), f3.clone());
    let mut p23 = Some((p2, p3));
    let la = log.clone();
    let mut a = pin!(FenceCallback::new(move |r| {
        rec_a(r);
        let (p2, p3) = p23.take().unwrap();
        p2.signal();
        assert!(f2a.is_signalled(), "signalled when signal() returns");
        p3.signal_error(FenceError::Timeout);
        assert_eq!(f3a.status(), FenceStatus::Err(FenceError::Timeout));
        assert_eq!(la.lock().unwrap().len(), 1, "nested callbacks deferred");
    }));
    let mut b = pin!(FenceCallback::new(make(2)));
    let mut rec_c = make(3);
    let mut p4 = Some(p4);
    let mut c = pin!(FenceCallback::new(move |r| {
        rec_c(r);
        p4.take().unwrap().signal();
    }));
    let mut d = pin!(FenceCallback::new(make(4)));
    let mut e = pin!(FenceCallback::new(make(5)));
    f1.add_callback(a.as_mut()).unwrap();
    f1.add_callback(b.as_mut()).unwrap();
    f2.add_callback(c.as_mut()).unwrap();
    f3.add_callback(d.as_mut()).unwrap();
    f4.add_callback(e.as_mut()).unwrap();
    p1.signal();
    let t = Err(FenceError::Timeout);
    assert_eq!(
        *log.lock().unwrap(),
        [(1, Ok(())), (2, Ok(())), (3, Ok(())), (4, t), (5, Ok(()))]
    );
    assert!(
        platform::context_word().is_null(),
        "the drain cleared the context word"
    );
}

/// `true` once something is queued on `f` (e.g. a blocked waiter's node).
fn has_queued_nodes(f: &Fence) -> bool {
    let _g = f.inner.lock();
    // SAFETY: the fence lock guards the list.
    f.inner.callbacks.with(|l| unsafe { !(*l).is_empty() })
}

#[test]
fn a_nested_signal_wakes_blocked_waiters_before_it_returns() {
    // The callback signals f2 and then waits for f2's blocked waiter to report in: that
    // only works if the nested signal wakes the waiter itself, not the deferred callbacks
    // that run after this callback returns.
    let p1 = producer();
    let f1 = p1.fence();
    let p2 = producer();
    let f2 = p2.fence();
    let woke = Arc::new(AtomicUsize::new(0));
    let k = woke.clone();
    let f2w = f2.clone();
    let waiter = std::thread::spawn(move || {
        assert_eq!(f2w.wait(), Ok(()));
        k.store(1, Ordering::Release);
    });
    // Signal only once the waiter has queued its node (else it would not block at all).
    while !has_queued_nodes(&f2) {
        std::thread::yield_now();
    }
    let mut p2 = Some(p2);
    let k = woke.clone();
    let mut cb = pin!(FenceCallback::new(move |_| {
        p2.take().unwrap().signal();
        // Bounded only so that a regression fails instead of hanging the suite.
        let give_up = platform::now().saturating_add(Duration::from_secs(20));
        while k.load(Ordering::Acquire) == 0 && platform::now() < give_up {
            std::thread::yield_now();
        }
    }));
    f1.add_callback(cb.as_mut()).unwrap();
    p1.signal();
    assert_eq!(
        woke.load(Ordering::Acquire),
        1,
        "waiter woken inside the callback"
    );
    waiter.join().unwrap();
}

#[test]
fn a_panicking_callback_leaves_the_context_able_to_signal() {
    // The drain's queue lives on the outermost signal's stack and its address in the
    // context word: unwinding out of it must clear the word, or the next signal on this
    // thread would use a dead frame (Miri checks).
    let p = producer();
    let f = p.fence();
    let mut boom = Box::pin(FenceCallback::new(|_| panic!("callback panics")));
    f.add_callback(boom.as_mut()).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || p.signal()));
    assert!(r.is_err());
    assert!(platform::context_word().is_null());
    // The panicking callback was still marked as run: dropping it does not wait.
    assert_eq!(boom.as_mut().remove(), CallbackRemoval::AlreadyRan);
    drop(boom);
    let (log, make) = recorder();
    let (p1, p2) = (producer(), producer());
    let (f1, f2) = (p1.fence(), p2.fence());
    let mut rec = make(1);
    let mut p2 = Some(p2);
    let mut a = pin!(FenceCallback::new(move |r| {
        rec(r);
        p2.take().unwrap().signal();
    }));
    let mut b = pin!(FenceCallback::new(make(2)));
    f1.add_callback(a.as_mut()).unwrap();
    f2.add_callback(b.as_mut()).unwrap();
    p1.signal();
    assert_eq!(*log.lock().unwrap(), [(1, Ok(())), (2, Ok(()))]);
}

#[test]
fn timestamps_are_taken_at_signal() {
    let p = producer();
    let f = p.fence();
    assert_eq!(f.timestamp(), None);
    let before = platform::now();
    p.signal();
    let after = platform::now();
    let ts = f.timestamp().unwrap();
    assert!(before <= ts && ts <= after);
}

#[test]
fn stub_fences_are_signalled() {
    assert_eq!(F::signalled(Ok(())).status(), FenceStatus::Ok);
    let f = F::signalled(Err(FenceError::Timeout));
    assert_eq!(f.status(), FenceStatus::Err(FenceError::Timeout));
    assert!(f.timestamp().is_some());
}

#[test]
fn timelines_order_their_fences() {
    let t = Timeline::new();
    let a = t.next_fence();
    let b = t.next_fence();
    assert_eq!((a.seqno(), b.seqno()), (1, 2));
    assert_eq!(t.last_seqno(), 2);
    let (fa, fb) = (a.fence(), b.fence());
    assert_eq!(fa.context(), fb.context());
    assert_eq!(fb.is_later(&fa), Some(true));
    assert_eq!(fa.is_later(&fb), Some(false));
    assert_eq!(fa.is_later(&fa), Some(false));
    assert!(F::ptr_eq(F::later_of(&fa, &fb).unwrap(), &fb));
    assert!(F::ptr_eq(F::later_of(&fb, &fa).unwrap(), &fb));
    let other = Timeline::new().next_fence().fence();
    assert_ne!(other.context(), fa.context());
    assert_eq!(other.is_later(&fa), None);
    assert!(F::later_of(&fa, &other).is_none());
}

/// Every public maker of fences works on a context nobody else has: two timelines, a
/// one-off producer, a memory timeline, a signalled stub and an aggregate all differ, and
/// a timeline's fences share its context.
#[test]
fn every_fence_maker_owns_a_fresh_context() {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let (a, b) = (Timeline::new(), Timeline::new());
    let one_off = FenceProducer::one_off();
    let mem = MemTimeline::new(&WORD);
    let stub = F::signalled(Ok(()));
    let agg = all_of([&one_off.fence()]);
    let mut ids = std::vec![
        a.context(),
        b.context(),
        one_off.context(),
        mem.context(),
        stub.context(),
        agg.context(),
    ];
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "contexts: {ids:?}");
    assert_eq!(a.next_fence().context(), a.context());
    assert_eq!(mem.next_fence().context(), mem.context());
}

// ---- aggregates ----------------------------------------------------------------------------

#[test]
fn all_of_waits_for_every_child() {
    let ps: Vec<_> = (0..3).map(|_| producer()).collect();
    let fs: Vec<_> = ps.iter().map(|p| p.fence()).collect();
    let all = all_of(&fs);
    let mut it = ps.into_iter();
    it.next().unwrap().signal();
    it.next().unwrap().signal();
    assert_eq!(all.status(), FenceStatus::Pending);
    it.next().unwrap().signal();
    assert_eq!(all.status(), FenceStatus::Ok);
}

#[test]
fn all_of_reports_the_first_child_error() {
    let ps: Vec<_> = (0..3).map(|_| producer()).collect();
    let fs: Vec<_> = ps.iter().map(|p| p.fence()).collect();
    let all = all_of(&fs);
    let mut it = ps.into_iter();
    let (a, b, c) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    c.signal_error(FenceError::DeviceError(3));
    assert_eq!(all.status(), FenceStatus::Pending);
    a.signal_error(FenceError::Timeout);
    b.signal();
    assert_eq!(all.status(), FenceStatus::Err(FenceError::DeviceError(3)));
}

#[test]
fn any_of_takes_the_first_outcome() {
    let ps: Vec<_> = (0..3).map(|_| producer()).collect();
    let fs: Vec<_> = ps.iter().map(|p| p.fence()).collect();
    let any = any_of(&fs);
    assert_eq!(any.status(), FenceStatus::Pending);
    let mut it = ps.into_iter();
    let (a, b, c) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    b.signal_error(FenceError::Timeout);
    assert_eq!(any.status(), FenceStatus::Err(FenceError::Timeout));
    a.signal();
    c.signal();
    assert_eq!(any.status(), FenceStatus::Err(FenceError::Timeout));
}

#[test]
fn aggregates_of_nothing_are_signalled() {
    assert_eq!(all_of([]).status(), FenceStatus::Ok);
    assert_eq!(any_of([]).status(), FenceStatus::Ok);
}

#[test]
fn aggregates_of_signalled_children_complete_at_once() {
    let a = F::signalled(Ok(()));
    let b = F::signalled(Err(FenceError::Cancelled));
    assert_eq!(
        all_of([&a, &b]).status(),
        FenceStatus::Err(FenceError::Cancelled)
    );
    assert_eq!(any_of([&a, &b]).status(), FenceStatus::Ok);
    let p = producer();
    let pending = p.fence();
    assert_eq!(all_of([&a, &pending]).status(), FenceStatus::Pending);
    assert_eq!(
        any_of([&pending, &b]).status(),
        FenceStatus::Err(FenceError::Cancelled)
    );
    p.signal();
}

#[test]
fn aggregates_nest_and_outlive_their_handles() {
    let ps: Vec<_> = (0..4).map(|_| producer()).collect();
    let fs: Vec<_> = ps.iter().map(|p| p.fence()).collect();
    let left = all_of(&fs[..2]);
    let right = any_of(&fs[2..]);
    let top = all_of([&left, &right]);
    // An aggregate nobody holds any more must still be freed once its children finish
    // (Miri's leak check covers this).
    drop(all_of(&fs));
    drop((left, right));
    let (log, make) = recorder();
    let mut cb = pin!(FenceCallback::new(make(9)));
    top.add_callback(cb.as_mut()).unwrap();
    let mut it = ps.into_iter();
    it.next().unwrap().signal();
    it.next().unwrap().signal();
    assert_eq!(top.status(), FenceStatus::Pending);
    it.next().unwrap().signal();
    assert_eq!(top.status(), FenceStatus::Ok);
    assert_eq!(*log.lock().unwrap(), [(9, Ok(()))]);
    // The last child still signals fine after the any-of completed.
    it.next().unwrap().signal();
}

// ---- memory-backed -------------------------------------------------------------------------

#[test]
fn memory_fence_completes_when_the_device_writes_the_word() {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let tl = MemTimeline::new(&WORD);
    let p1 = tl.next_fence();
    let p2 = tl.next_fence();
    let (f1, f2) = (p1.fence(), p2.fence());
    assert_eq!(
        f1.memory_wait()
            .map(|(w, v)| (core::ptr::eq(w, &raw const WORD), v)),
        Some((true, 1))
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let mut cb = pin!(FenceCallback::new(move |r: FenceResult| {
        assert_eq!(r, Ok(()));
        h.fetch_add(1, Ordering::SeqCst);
    }));
    f1.add_callback(cb.as_mut()).unwrap();
    assert_eq!(f1.status(), FenceStatus::Pending);
    // "Device" finishes job 1.
    WORD.store(1, Ordering::Release);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nobody looked yet");
    assert!(tl.poll_fence(&f1));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(f1.status(), FenceStatus::Ok);
    assert_eq!(f2.status(), FenceStatus::Pending);
    assert!(tl.is_completed(1) && !tl.is_completed(2));
    // The producer of a fence the device completed drops without cancelling it.
    drop(p1);
    assert_eq!(f1.status(), FenceStatus::Ok);
    // Dropping an unfinished one cancels it and releases hardware waiters on the word.
    drop(p2);
    assert_eq!(f2.status(), FenceStatus::Err(FenceError::Cancelled));
    assert_eq!(tl.completed(), 2);
}

#[test]
fn cpu_signal_of_a_memory_fence_advances_the_word_never_back() {
    static WORD: AtomicU32 = AtomicU32::new(10);
    let tl = MemTimeline::new(&WORD);
    let p11 = tl.next_fence();
    let p12 = tl.next_fence();
    assert_eq!(p11.seqno(), 11);
    p12.signal();
    assert_eq!(WORD.load(Ordering::SeqCst), 12);
    // Signalling the earlier one does not move the word backwards; the word already
    // passed, so the fence reports success.
    assert_eq!(p11.status(), FenceStatus::Ok);
    drop(p11);
    assert_eq!(WORD.load(Ordering::SeqCst), 12);
}

#[test]
fn memory_fence_blocking_wait_polls_the_word() {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let tl = MemTimeline::new(&WORD);
    let p = tl.next_fence();
    let f = p.fence();
    let device = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(1));
        WORD.store(1, Ordering::Release);
    });
    assert_eq!(f.wait(), Ok(()));
    device.join().unwrap();
    drop(p);
    assert_eq!(f.status(), FenceStatus::Ok);
}

#[test]
fn seqno32_comparison_is_wrap_safe() {
    assert!(seqno32_passed(5, 5));
    assert!(seqno32_passed(6, 5));
    assert!(!seqno32_passed(4, 5));
    assert!(seqno32_passed(2, u32::MAX - 1)); // wrapped past
    assert!(!seqno32_passed(u32::MAX - 1, 2));
    assert!(!seqno32_passed(0, 1));
}

// ---- future --------------------------------------------------------------------------------

fn counting_waker(count: Arc<AtomicUsize>) -> core::task::Waker {
    struct W(Arc<AtomicUsize>);
    impl std::task::Wake for W {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    core::task::Waker::from(Arc::new(W(count)))
}

#[test]
fn future_resolves_after_signal_and_wakes_the_latest_waker() {
    use core::future::Future;
    use core::task::{Context, Poll};
    let p = producer();
    let f = p.fence();
    let mut fut = pin!(f.wait_async());
    let w1 = Arc::new(AtomicUsize::new(0));
    let w2 = Arc::new(AtomicUsize::new(0));
    let waker1 = counting_waker(w1.clone());
    let waker2 = counting_waker(w2.clone());
    assert_eq!(
        fut.as_mut().poll(&mut Context::from_waker(&waker1)),
        Poll::Pending
    );
    assert_eq!(
        fut.as_mut().poll(&mut Context::from_waker(&waker2)),
        Poll::Pending
    );
    p.signal_error(FenceError::DeviceError(1));
    assert_eq!(w1.load(Ordering::SeqCst), 0);
    assert_eq!(w2.load(Ordering::SeqCst), 1);
    assert_eq!(
        fut.as_mut().poll(&mut Context::from_waker(&waker2)),
        Poll::Ready(Err(FenceError::DeviceError(1)))
    );
}

#[test]
fn future_on_a_signalled_fence_is_ready_and_dropping_a_pending_one_dequeues() {
    use core::future::Future;
    use core::task::{Context, Poll};
    let w = Arc::new(AtomicUsize::new(0));
    let waker = counting_waker(w.clone());
    let p = producer();
    let f = p.fence();
    {
        let mut fut = pin!(f.wait_async());
        assert_eq!(
            fut.as_mut().poll(&mut Context::from_waker(&waker)),
            Poll::Pending
        );
    }
    p.signal();
    assert_eq!(w.load(Ordering::SeqCst), 0, "dropped future was dequeued");
    let mut fut = pin!(f.wait_async());
    assert_eq!(
        fut.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(Ok(()))
    );
}

#[test]
fn fence_handles_are_small() {
    assert_eq!(core::mem::size_of::<F>(), core::mem::size_of::<usize>());
    assert_eq!(
        core::mem::size_of::<Option<F>>(),
        core::mem::size_of::<usize>()
    );
    // The shared allocation, including the two reference counts.
    assert!(core::mem::size_of::<FenceInner>() + 2 * core::mem::size_of::<usize>() <= 64);
}

#[test]
fn fences_can_be_awaited_directly() {
    use core::future::{Future, IntoFuture};
    use core::task::{Context, Poll};
    let w = Arc::new(AtomicUsize::new(0));
    let waker = counting_waker(w.clone());
    let p = producer();
    let f = p.fence();
    let mut by_ref = pin!((&f).into_future());
    let mut by_value = pin!(f.clone().into_future());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(by_ref.as_mut().poll(&mut cx), Poll::Pending);
    assert_eq!(by_value.as_mut().poll(&mut cx), Poll::Pending);
    p.signal();
    assert_eq!(w.load(Ordering::SeqCst), 2);
    assert_eq!(by_ref.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(by_value.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
}
