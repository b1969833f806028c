//! One test per rule of the queue, the two KDS regressions, and the callback/cancel races,
//! on the host platform.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::time::Duration;
use std::sync::Mutex;
use std::thread;

use super::*;

type Domain = KdsDomain;

const S: Sharing = Sharing::Shared;
const X: Sharing = Sharing::Exclusive;

fn resources(d: &Domain, n: usize) -> Vec<Resource> {
    (0..n).map(|_| d.new_resource().unwrap()).collect()
}

/// A direct callback that counts its runs.
fn counting(counter: &Arc<AtomicUsize>) -> Completion {
    let c = counter.clone();
    Completion::direct(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn exclusive_requests_are_served_in_fifo_order() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let b = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let c = d.enqueue(&[(r, X)], Completion::None).unwrap();
    assert!(a.is_granted());
    assert!(!b.is_granted() && !c.is_granted());
    a.release().unwrap();
    assert!(b.is_granted());
    assert!(!c.is_granted());
    b.release().unwrap();
    assert!(c.is_granted());
    c.release().unwrap();
    assert_eq!(d.queue_len(r), Ok(0));
}

#[test]
fn shared_requests_behind_a_shared_head_are_granted_together() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let reqs: Vec<_> = (0..4)
        .map(|_| d.enqueue(&[(r, S)], Completion::None).unwrap())
        .collect();
    assert!(reqs.iter().all(|q| q.is_granted()));
}

#[test]
fn shared_never_overtakes_a_queued_exclusive() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, S)], Completion::None).unwrap();
    let b = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let c = d.enqueue(&[(r, S)], Completion::None).unwrap();
    assert!(a.is_granted());
    assert!(!b.is_granted());
    assert!(!c.is_granted(), "shared C must wait behind exclusive B");
    a.release().unwrap();
    assert!(b.is_granted() && !c.is_granted());
    b.release().unwrap();
    assert!(c.is_granted());
}

#[test]
fn release_of_an_exclusive_head_grants_the_whole_shared_run_only() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let b = d.enqueue(&[(r, S)], Completion::None).unwrap();
    let c = d.enqueue(&[(r, S)], Completion::None).unwrap();
    let e = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let f = d.enqueue(&[(r, S)], Completion::None).unwrap();
    a.release().unwrap();
    assert!(b.is_granted() && c.is_granted());
    assert!(!e.is_granted() && !f.is_granted());
    c.release().unwrap();
    assert!(!e.is_granted());
    b.release().unwrap();
    assert!(e.is_granted() && !f.is_granted());
}

#[test]
fn multi_resource_requests_queue_atomically_and_complete_when_all_are_granted() {
    let d = Domain::new();
    let rs = resources(&d, 3);
    let holder = d.enqueue(&[(rs[1], X)], Completion::None).unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let big = d
        .enqueue(&[(rs[0], X), (rs[1], S), (rs[2], X)], counting(&fired))
        .unwrap();
    assert_eq!(big.pending(), 1);
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    // A later request on rs[2] queues behind `big` even though it is free of rs[1]'s holder.
    let later = d.enqueue(&[(rs[2], S)], Completion::None).unwrap();
    assert!(!later.is_granted());
    holder.release().unwrap();
    assert!(big.is_granted());
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    big.release().unwrap();
    assert!(later.is_granted());
}

#[test]
fn kds_regression_releasing_a_middle_shared_owner_changes_no_pending_count() {
    // X: A(S,g) -> B(S,g) -> C(S,g); C also waits for Y, held exclusively by H.
    let d = Domain::new();
    let (x, y) = (d.new_resource().unwrap(), d.new_resource().unwrap());
    let h = d.enqueue(&[(y, X)], Completion::None).unwrap();
    let a = d.enqueue(&[(x, S)], Completion::None).unwrap();
    let b = d.enqueue(&[(x, S)], Completion::None).unwrap();
    let c_fired = Arc::new(AtomicUsize::new(0));
    let c = d.enqueue(&[(x, S), (y, S)], counting(&c_fired)).unwrap();
    // A standalone shared owner behind B too (KDS wrapped its counter).
    let e_fired = Arc::new(AtomicUsize::new(0));
    let e = d.enqueue(&[(x, S)], counting(&e_fired)).unwrap();
    assert_eq!(
        (a.pending(), b.pending(), c.pending(), e.pending()),
        (0, 0, 1, 0)
    );
    assert_eq!(e_fired.load(Ordering::SeqCst), 1);

    b.release().unwrap(); // the middle shared owner
    assert_eq!((a.pending(), c.pending(), e.pending()), (0, 1, 0));
    assert!(
        !c.is_granted(),
        "C still waits for Y: granting it would break exclusion"
    );
    assert_eq!(c_fired.load(Ordering::SeqCst), 0);
    assert_eq!(
        e_fired.load(Ordering::SeqCst),
        1,
        "E's callback must not fire again"
    );
    a.release().unwrap(); // now the head
    assert_eq!(c.pending(), 1);
    assert_eq!(c_fired.load(Ordering::SeqCst), 0);

    h.release().unwrap();
    assert!(c.is_granted());
    assert_eq!(c_fired.load(Ordering::SeqCst), 1);
    assert_eq!(e_fired.load(Ordering::SeqCst), 1);
}

#[test]
fn kds_regression_cancelling_a_queued_exclusive_wakes_the_shared_run_behind_it() {
    // A(S,g) -> B(X) -> C(S) -> D(S): cancel B, C and D join A at once.
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, S)], Completion::None).unwrap();
    let b = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let c = d.enqueue(&[(r, S)], counting(&fired)).unwrap();
    let dd = d.enqueue(&[(r, S)], counting(&fired)).unwrap();
    assert_eq!(b.cancel(), CancelOutcome::Dequeued);
    assert!(a.is_granted() && c.is_granted() && dd.is_granted());
    assert_eq!(fired.load(Ordering::SeqCst), 2);
    // And with the shared head already gone (the exclusive head was cancelled).
    a.release().unwrap();
    c.release().unwrap();
    dd.release().unwrap();
    let e = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let f = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let g = d.enqueue(&[(r, S)], Completion::None).unwrap();
    assert_eq!(f.cancel(), CancelOutcome::Dequeued);
    assert!(!g.is_granted());
    e.release().unwrap();
    assert!(g.is_granted());
}

#[test]
fn a_request_naming_a_resource_twice_is_rejected_even_when_not_adjacent() {
    let d = Domain::new();
    let rs = resources(&d, 3);
    let fired = Arc::new(AtomicUsize::new(0));
    let err = d
        .enqueue(&[(rs[0], S), (rs[1], X), (rs[0], X)], counting(&fired))
        .unwrap_err();
    assert_eq!(err, KdsError::DuplicateResource(rs[0]));
    assert!(
        rs.iter().all(|&r| d.queue_len(r) == Ok(0)),
        "nothing queued"
    );
    assert_eq!(d.live_requests(), 0);
    assert_eq!(fired.load(Ordering::SeqCst), 0);
}

#[test]
fn too_many_resources_is_rejected() {
    let d = Domain::with_max_resources(2);
    let rs = resources(&d, 3);
    let list: Vec<_> = rs.iter().map(|&r| (r, S)).collect();
    assert_eq!(
        d.enqueue(&list, Completion::None).unwrap_err(),
        KdsError::TooManyResources {
            requested: 3,
            max: 2
        }
    );
    assert!(d.enqueue(&list[..2], Completion::None).is_ok());
    assert_eq!(Domain::new().max_resources(), DEFAULT_MAX_RESOURCES);
}

#[test]
fn resources_of_another_domain_or_removed_ones_are_rejected() {
    let d = Domain::new();
    let other = Domain::new();
    let mine = d.new_resource().unwrap();
    let theirs = other.new_resource().unwrap();
    assert_eq!(
        d.enqueue(&[(mine, S), (theirs, S)], Completion::None)
            .unwrap_err(),
        KdsError::ForeignResource(theirs)
    );
    assert_eq!(d.queue_len(mine), Ok(0));
    // A fresh domain that never made a resource rejects too.
    assert_eq!(
        Domain::new().queue_len(mine),
        Err(KdsError::ForeignResource(mine))
    );

    let req = d.enqueue(&[(mine, X)], Completion::None).unwrap();
    assert_eq!(d.remove_resource(mine), Err(KdsError::ResourceBusy(mine)));
    req.release().unwrap();
    assert_eq!(d.remove_resource(mine), Ok(()));
    assert_eq!(
        d.remove_resource(mine),
        Err(KdsError::UnknownResource(mine))
    );
    let reused = d.new_resource().unwrap(); // same slot, new generation
    assert_ne!(reused, mine);
    assert_eq!(
        d.enqueue(&[(mine, S)], Completion::None).unwrap_err(),
        KdsError::UnknownResource(mine)
    );
    assert!(d.enqueue(&[(reused, S)], Completion::None).is_ok());
}

#[test]
fn release_before_grant_is_refused_and_the_handle_comes_back_intact() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let b = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let rejected = b.release().unwrap_err();
    assert_eq!(rejected.error, KdsError::NotGranted);
    let b = rejected.handle;
    assert_eq!(d.queue_len(r), Ok(2));
    a.release().unwrap();
    assert!(b.is_granted());
    b.release().unwrap();
}

#[test]
fn stale_request_ids_are_an_error() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let id = a.id();
    assert_eq!(d.is_granted(id), Ok(true));
    a.release().unwrap();
    assert_eq!(d.is_granted(id), Err(KdsError::UnknownRequest(id)));
    let b = d.enqueue(&[(r, X)], Completion::None).unwrap(); // reuses the slot
    assert_ne!(b.id(), id);
    assert_eq!(d.pending(id), Err(KdsError::UnknownRequest(id)));
}

#[test]
fn try_acquire_takes_all_or_queues_nothing() {
    let d = Domain::new();
    let rs = resources(&d, 2);
    let a = d.try_acquire(&[(rs[0], S)]).unwrap();
    let b = d.try_acquire(&[(rs[0], S), (rs[1], X)]).unwrap();
    assert_eq!(
        d.try_acquire(&[(rs[1], S)]).unwrap_err(),
        KdsError::WouldBlock
    );
    assert_eq!(d.queue_len(rs[1]), Ok(1));
    b.release().unwrap();
    let c = d.enqueue(&[(rs[0], X)], Completion::None).unwrap();
    // A shared try behind a queued exclusive would overtake it: refused.
    assert_eq!(
        d.try_acquire(&[(rs[0], S)]).unwrap_err(),
        KdsError::WouldBlock
    );
    drop((a, c));
}

#[test]
fn an_empty_request_is_granted_at_once() {
    let d = Domain::new();
    let fired = Arc::new(AtomicUsize::new(0));
    let q = d.enqueue(&[], counting(&fired)).unwrap();
    assert!(q.is_granted());
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

#[test]
fn wait_times_out_then_succeeds_after_release() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let mut b = d.enqueue(&[(r, X)], Completion::None).unwrap();
    assert_eq!(b.wait(Some(Duration::ZERO)), Err(KdsError::Timeout));
    assert_eq!(
        b.wait(Some(Duration::from_millis(5))),
        Err(KdsError::Timeout)
    );
    assert_eq!(d.queue_len(r), Ok(2), "a timed-out wait stays queued");
    thread::scope(|s| {
        s.spawn(move || a.release().unwrap());
        b.wait(None).unwrap();
    });
    assert!(b.is_granted());
}

#[test]
fn acquire_with_timeout_withdraws_the_request() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.acquire(&[(r, X)], None).unwrap();
    assert_eq!(
        d.acquire(&[(r, S)], Some(Duration::from_millis(2)))
            .unwrap_err(),
        KdsError::Timeout
    );
    assert_eq!(d.queue_len(r), Ok(1));
    thread::scope(|s| {
        let h = s.spawn(|| d.acquire(&[(r, S)], None).map(|q| q.release()));
        // Whenever the release happens, the blocked acquire gets the resource.
        a.release().unwrap();
        h.join().unwrap().unwrap().unwrap();
    });
}

#[test]
fn direct_callback_runs_at_enqueue_when_free_and_in_the_releasing_thread_otherwise() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let ran_in: Arc<Mutex<Vec<thread::ThreadId>>> = Arc::default();
    let log = ran_in.clone();
    let a = d
        .enqueue(
            &[(r, X)],
            Completion::direct(move |_| log.lock().unwrap().push(thread::current().id())),
        )
        .unwrap();
    assert_eq!(*ran_in.lock().unwrap(), vec![thread::current().id()]);
    let log = ran_in.clone();
    let b = d
        .enqueue(
            &[(r, X)],
            Completion::direct(move |_| log.lock().unwrap().push(thread::current().id())),
        )
        .unwrap();
    let releaser = thread::scope(|s| {
        s.spawn(move || {
            a.release().unwrap();
            thread::current().id()
        })
        .join()
        .unwrap()
    });
    assert_eq!(ran_in.lock().unwrap()[1], releaser);
    b.release().unwrap();
}

#[test]
fn the_callback_receives_its_request_id() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let got = Arc::new(Mutex::new(None));
    let g = got.clone();
    let q = d
        .enqueue(
            &[(r, S)],
            Completion::direct(move |id| *g.lock().unwrap() = Some(id)),
        )
        .unwrap();
    assert_eq!(*got.lock().unwrap(), Some(q.id()));
}

#[test]
fn deferred_callbacks_run_only_when_the_work_queue_is_drained() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    let q = d
        .enqueue(
            &[(r, S)],
            Completion::deferred(move |_| {
                f.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    assert!(q.is_granted());
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    let wq = d.work_queue();
    assert_eq!(wq.len(), 1);
    assert_eq!(wq.run_pending(), 1);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert!(wq.is_empty());
    assert!(!wq.wait(Some(Duration::ZERO)));
}

#[test]
fn a_worker_thread_drives_deferred_callbacks() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let hold = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let wq = d.work_queue();
            while !stop.load(Ordering::SeqCst) {
                wq.wait(Some(Duration::from_millis(1)));
                wq.run_pending();
            }
        });
        let f = fired.clone();
        let mut q = d
            .enqueue(
                &[(r, S)],
                Completion::deferred(move |_| {
                    f.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .unwrap();
        hold.release().unwrap();
        q.wait(None).unwrap();
        while fired.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        stop.store(true, Ordering::SeqCst);
        q.release().unwrap();
    });
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

#[test]
fn cancel_of_a_granted_request_with_an_unrun_deferred_callback_means_it_never_runs() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    let q = d
        .enqueue(
            &[(r, X)],
            Completion::deferred(move |_| {
                f.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    assert_eq!(
        q.cancel(),
        CancelOutcome::Released {
            callback_ran: false
        }
    );
    assert_eq!(d.work_queue().run_pending(), 0);
    assert_eq!(fired.load(Ordering::SeqCst), 0);
    assert_eq!(d.queue_len(r), Ok(0));
}

#[test]
fn cancel_after_the_callback_completed_reports_it() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let q = d.enqueue(&[(r, X)], counting(&fired)).unwrap();
    assert_eq!(q.cancel(), CancelOutcome::Released { callback_ran: true });
    let plain = d.enqueue(&[(r, X)], Completion::None).unwrap();
    assert_eq!(
        plain.cancel(),
        CancelOutcome::Released {
            callback_ran: false
        }
    );
}

/// The callback/cancel race: cancel of a request whose callback is running waits for it, so
/// when cancel returns the callback has completed; `try_cancel` refuses instead of waiting.
#[test]
fn cancel_waits_for_a_running_callback() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (s1, g1, f1) = (started.clone(), go.clone(), finished.clone());
    let q = d
        .enqueue(
            &[(r, X)],
            Completion::deferred(move |_| {
                s1.store(true, Ordering::SeqCst);
                while !g1.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
                f1.store(true, Ordering::SeqCst);
            }),
        )
        .unwrap();
    thread::scope(|s| {
        s.spawn(|| d.work_queue().run_one());
        while !started.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        let q = match q.try_cancel() {
            Err(ReturnedHandle {
                error: KdsError::CallbackRunning,
                handle,
            }) => handle,
            other => panic!("try_cancel while running: {other:?}"),
        };
        let canceller = s.spawn(|| {
            let outcome = q.cancel();
            (outcome, finished.load(Ordering::SeqCst))
        });
        thread::sleep(Duration::from_millis(5));
        go.store(true, Ordering::SeqCst);
        let (outcome, finished_when_cancel_returned) = canceller.join().unwrap();
        assert_eq!(outcome, CancelOutcome::Released { callback_ran: true });
        assert!(finished_when_cancel_returned);
    });
    assert_eq!(d.queue_len(r), Ok(0));
}

/// Hammer grant against cancel: after cancel returns, the callback count never changes
/// again, and equals what the outcome says.
#[test]
#[cfg_attr(miri, ignore)]
fn grant_versus_cancel_stress() {
    for _ in 0..300 {
        let d = Domain::new();
        let r = d.new_resource().unwrap();
        let holder = d.enqueue(&[(r, X)], Completion::None).unwrap();
        let fired = Arc::new(AtomicUsize::new(0));
        let q = d.enqueue(&[(r, X)], counting(&fired)).unwrap();
        thread::scope(|s| {
            s.spawn(|| holder.release().unwrap());
            let outcome = q.cancel();
            let seen = fired.load(Ordering::SeqCst);
            match outcome {
                CancelOutcome::Dequeued => assert_eq!(seen, 0),
                CancelOutcome::Released { callback_ran } => {
                    assert_eq!(seen, usize::from(callback_ran))
                }
            }
            // Let the releaser finish: the count must not move after cancel returned.
            thread::yield_now();
        });
        assert!(fired.load(Ordering::SeqCst) <= 1);
        assert_eq!(d.queue_len(r), Ok(0));
    }
}

/// A long chain where each direct callback releases its own request (which grants the
/// next): KDS recursed once per link; here callbacks never nest.
#[test]
fn chained_direct_callbacks_run_iteratively_not_recursively() {
    const N: usize = if cfg!(miri) { 50 } else { 20_000 };
    // The callbacks own their requests, so the domain is `'static`: a `static`, as on target
    // (`KdsDomain::new` is `const`).
    static CHAIN: Domain = Domain::new();
    let d: &'static Domain = &CHAIN;
    let r = d.new_resource().unwrap();
    let blocker = d.enqueue(&[(r, X)], Completion::None).unwrap();
    type Slot = Arc<Mutex<Option<Request<'static>>>>;
    let depth = Arc::new(AtomicUsize::new(0));
    let max_depth = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    let slots: Vec<Slot> = (0..N).map(|_| Arc::default()).collect();
    for (i, slot) in slots.iter().enumerate() {
        let (slot2, depth, max_depth, order) = (
            slot.clone(),
            depth.clone(),
            max_depth.clone(),
            order.clone(),
        );
        let req = d
            .enqueue(
                &[(r, X)],
                Completion::direct(move |_| {
                    let now = depth.fetch_add(1, Ordering::SeqCst) + 1;
                    max_depth.fetch_max(now, Ordering::SeqCst);
                    order.lock().unwrap().push(i);
                    let me = slot2.lock().unwrap().take().unwrap();
                    me.release().unwrap(); // finishes when this callback returns
                    depth.fetch_sub(1, Ordering::SeqCst);
                }),
            )
            .unwrap();
        *slot.lock().unwrap() = Some(req);
    }
    blocker.release().unwrap();
    assert_eq!(*order.lock().unwrap(), (0..N).collect::<Vec<_>>());
    assert_eq!(max_depth.load(Ordering::SeqCst), 1);
    assert_eq!(d.queue_len(r), Ok(0));
    assert_eq!(d.live_requests(), 0);
}

#[test]
fn release_while_the_callback_runs_keeps_the_resources_until_it_returns() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (g, st) = (go.clone(), started.clone());
    let q = d
        .enqueue(
            &[(r, X)],
            Completion::deferred(move |_| {
                st.store(true, Ordering::SeqCst);
                while !g.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
            }),
        )
        .unwrap();
    let next = d.enqueue(&[(r, X)], Completion::None).unwrap();
    thread::scope(|s| {
        let worker = s.spawn(|| d.work_queue().run_one());
        while !started.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        q.release().unwrap();
        assert!(
            !next.is_granted(),
            "exclusion holds while the callback runs"
        );
        go.store(true, Ordering::SeqCst);
        assert!(worker.join().unwrap());
    });
    assert!(next.is_granted());
}

#[test]
fn dropping_a_request_withdraws_it() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let b = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let c = d.enqueue(&[(r, X)], Completion::None).unwrap();
    drop(b);
    drop(a);
    assert!(c.is_granted());
    drop(c);
    assert_eq!(d.live_requests(), 0);
}

#[test]
fn the_future_completes_on_grant() {
    use alloc::task::Wake;
    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Poll, Waker};

    struct Flag(AtomicUsize);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let a = d.enqueue(&[(r, X)], Completion::None).unwrap();
    let mut b = d.enqueue(&[(r, S)], Completion::None).unwrap();
    let flag = Arc::new(Flag(AtomicUsize::new(0)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    {
        let mut fut = pin!(b.granted());
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(flag.0.load(Ordering::SeqCst), 0);
        a.release().unwrap();
        assert_eq!(flag.0.load(Ordering::SeqCst), 1, "woken exactly once");
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(()));
    }
    b.release().unwrap();
}

#[test]
fn errors_display_something_useful() {
    let d = Domain::new();
    let r = d.new_resource().unwrap();
    let msg = std::format!("{}", KdsError::DuplicateResource(r));
    assert!(msg.contains("twice"));
    let msg = std::format!(
        "{}",
        KdsError::TooManyResources {
            requested: 20,
            max: 16
        }
    );
    assert!(msg.contains("20") && msg.contains("16"));
}
