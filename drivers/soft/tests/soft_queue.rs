//! The job queue software devices share: capacity and tickets, in-order execution, reset
//! against a job in the middle of a memory access, stop while waiting for an in-fence.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use dmasync_soft::{ABANDONED, JobQueue, Step};
use dmasync_sync::fence::{FenceError, FenceStatus, Timeline};

type Queue = JobQueue<u32>;

#[test]
fn capacity_counts_reserved_queued_and_running_jobs() {
    let q = Queue::new(2);
    let t = q.reserve().unwrap();
    let f = q.push(1, None).unwrap();
    assert!(q.reserve().is_none(), "full: one reserved, one queued");
    assert_eq!(q.push(2, None).err(), Some(2));
    let tf = t.fence();
    drop(t);
    assert_eq!(tf.status(), FenceStatus::Err(FenceError::Cancelled));
    let t = q.reserve().unwrap();
    let tf = t.fence();
    t.abort(FenceError::Timeout);
    assert_eq!(tf.status(), FenceStatus::Err(FenceError::Timeout));
    let stop = AtomicBool::new(false);
    let mut seen = Vec::new();
    assert_eq!(
        q.run_one(&stop, |j, _| {
            seen.push(*j);
            Ok(())
        }),
        Step::Completed(Ok(()))
    );
    assert_eq!(f.status(), FenceStatus::Ok);
    assert_eq!(seen, [1]);
    assert_eq!(q.run_one(&stop, |_, _| Ok(())), Step::Idle);
    assert_eq!(q.pending(), 0);
}

#[test]
fn jobs_run_in_submission_order_and_executor_errors_reach_the_fence() {
    let q = Queue::new(8);
    let fences: Vec<_> = (0..5).map(|i| q.push(i, None).unwrap()).collect();
    let stop = AtomicBool::new(false);
    let mut order = Vec::new();
    while let Step::Completed(_) = q.run_one(&stop, |j, _| {
        order.push(*j);
        if *j == 3 {
            Err(FenceError::DeviceError(33))
        } else {
            Ok(())
        }
    }) {}
    assert_eq!(order, [0, 1, 2, 3, 4]);
    assert_eq!(
        fences[3].status(),
        FenceStatus::Err(FenceError::DeviceError(33))
    );
    assert_eq!(fences[4].status(), FenceStatus::Ok);
}

#[test]
fn reset_waits_out_an_access_in_progress_and_shuts_the_job_out() {
    let q = Queue::new(4);
    let running = q.push(1, None).unwrap();
    let queued = q.push(2, None).unwrap();
    let entered = AtomicBool::new(false);
    let release = AtomicBool::new(false);
    let reset_done = AtomicBool::new(false);
    let later_accesses = AtomicUsize::new(0);
    thread::scope(|s| {
        let worker = s.spawn(|| {
            q.run_one(&AtomicBool::new(false), |_, g| {
                g.access(|| {
                    entered.store(true, Ordering::Release);
                    while !release.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                })
                .unwrap();
                // Every access after the reset is refused.
                for _ in 0..3 {
                    if g.access(|| ()).is_some() {
                        later_accesses.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        });
        while !entered.load(Ordering::Acquire) {
            thread::yield_now();
        }
        let resetter = s.spawn(|| {
            let n = q.reset();
            reset_done.store(true, Ordering::Release);
            n
        });
        thread::sleep(Duration::from_millis(30));
        assert!(
            !reset_done.load(Ordering::Acquire),
            "reset returned while the job was inside an access"
        );
        assert_eq!(running.status(), FenceStatus::Pending);
        release.store(true, Ordering::Release);
        assert_eq!(resetter.join().unwrap(), 2);
        assert_eq!(worker.join().unwrap(), Step::Abandoned);
    });
    assert_eq!(later_accesses.load(Ordering::Relaxed), 0);
    for f in [&running, &queued] {
        assert_eq!(
            f.status(),
            FenceStatus::Err(FenceError::DeviceError(ABANDONED))
        );
    }
    // The queue works again.
    let f = q.push(3, None).unwrap();
    assert_eq!(
        q.run_one(&AtomicBool::new(false), |_, g| g.access(|| Ok(())).unwrap()),
        Step::Completed(Ok(()))
    );
    assert_eq!(f.status(), FenceStatus::Ok);
}

#[test]
fn stop_while_waiting_for_an_in_fence_puts_the_job_back() {
    let q = Queue::new(4);
    let gate = Timeline::new().next_fence();
    let f = q.push(1, Some(&gate.fence())).unwrap();
    assert_eq!(q.run_ready(|_, _| Ok(())), Step::Waiting);
    let stop = AtomicBool::new(true);
    assert_eq!(q.run_one(&stop, |_, _| Ok(())), Step::Deferred);
    assert_eq!(q.pending(), 1);
    assert_eq!(f.status(), FenceStatus::Pending);
    gate.signal();
    assert_eq!(q.run_ready(|_, _| Ok(())), Step::Completed(Ok(())));
    assert_eq!(f.status(), FenceStatus::Ok);
}

#[test]
fn a_worker_parked_on_an_empty_queue_runs_work_submitted_from_another_thread() {
    let q = Queue::new(4);
    let stop = AtomicBool::new(false);
    let ran = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            q.run(&stop, |_, _| {
                ran.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        });
        for i in 0..20 {
            let f = q.push(i, None).unwrap();
            assert_eq!(f.wait(), Ok(()));
        }
        stop.store(true, Ordering::Release);
        q.wake_worker();
    });
    assert_eq!(ran.load(Ordering::Relaxed), 20);
}

#[test]
fn no_access_of_an_abandoned_job_lands_after_reset_returns() {
    // Many rounds of a worker hammering accesses while the main thread resets: whatever
    // the interleaving, the access count is frozen once `reset` has returned.
    let q = Queue::new(2);
    for round in 0..200u32 {
        let accesses = AtomicUsize::new(0);
        let fence = q.push(round, None).unwrap();
        thread::scope(|s| {
            let worker = s.spawn(|| {
                q.run_one(&AtomicBool::new(false), |_, g| {
                    while g
                        .access(|| {
                            // Give a reset every chance to slip in mid-access.
                            thread::yield_now();
                            accesses.fetch_add(1, Ordering::SeqCst);
                        })
                        .is_some()
                    {}
                    Ok(())
                })
            });
            while accesses.load(Ordering::SeqCst) < 1 + (round as usize % 7) * 10 {
                thread::yield_now();
            }
            assert_eq!(q.reset(), 1);
            let frozen = accesses.load(Ordering::SeqCst);
            assert_eq!(worker.join().unwrap(), Step::Abandoned);
            assert_eq!(accesses.load(Ordering::SeqCst), frozen, "round {round}");
        });
        assert_eq!(
            fence.status(),
            FenceStatus::Err(FenceError::DeviceError(ABANDONED))
        );
    }
}

#[test]
fn reset_abandons_a_job_waiting_for_its_in_fence() {
    let q = Queue::new(2);
    let gate = Timeline::new().next_fence();
    let f = q.push(1, Some(&gate.fence())).unwrap();
    let ran = AtomicBool::new(false);
    thread::scope(|s| {
        let worker = s.spawn(|| {
            q.run_one(&AtomicBool::new(false), |_, _| {
                ran.store(true, Ordering::Relaxed);
                Ok(())
            })
        });
        // Wait until the worker took the job (it then waits for the gate).
        while q.run_ready(|_, _| Ok(())) != Step::Idle {
            thread::yield_now();
        }
        assert_eq!(q.reset(), 1);
        assert_eq!(worker.join().unwrap(), Step::Abandoned);
    });
    gate.signal();
    assert!(!ran.load(Ordering::Relaxed), "an abandoned job never runs");
    assert_eq!(
        f.status(),
        FenceStatus::Err(FenceError::DeviceError(ABANDONED))
    );
}

/// Runs every job that is ready and returns the order they ran in.
fn drain_order(q: &Queue) -> Vec<u32> {
    let stop = AtomicBool::new(false);
    let mut order = Vec::new();
    while let Step::Completed(_) = q.run_one(&stop, |j, _| {
        order.push(*j);
        Ok(())
    }) {}
    order
}

#[test]
fn a_deadline_ordered_queue_runs_the_most_urgent_ready_job_first() {
    use dmasync_sync::Instant;
    let q = Queue::deadline_ordered(8);
    let fences: Vec<_> = (0..4).map(|i| q.push(i, None).unwrap()).collect();
    // A waiter of job 2 needs it soonest, one of job 3 a little later.
    fences[3].set_deadline(Instant(2_000));
    fences[2].set_deadline(Instant(1_000));
    assert_eq!(drain_order(&q), [2, 3, 0, 1], "by deadline, then in order");
    // The same submissions on a plain queue: deadlines are ignored.
    let plain = Queue::new(8);
    let fences: Vec<_> = (0..4).map(|i| plain.push(i, None).unwrap()).collect();
    fences[2].set_deadline(Instant(1_000));
    assert_eq!(drain_order(&plain), [0, 1, 2, 3]);
}

#[test]
fn an_urgent_job_still_waiting_for_its_in_fence_holds_up_nobody() {
    use dmasync_sync::Instant;
    let q = Queue::deadline_ordered(8);
    let t = Timeline::new();
    let dep = t.next_fence();
    let _a = q.push(0, None).unwrap();
    let b = q.push(1, Some(&dep.fence())).unwrap();
    b.set_deadline(Instant(1));
    let stop = AtomicBool::new(false);
    let mut ran = Vec::new();
    // Job 0 runs first although job 1 is more urgent: job 1 cannot run yet.
    assert_eq!(
        q.run_one(&stop, |j, _| {
            ran.push(*j);
            Ok(())
        }),
        Step::Completed(Ok(()))
    );
    assert_eq!(ran, [0]);
    dep.signal();
    assert_eq!(drain_order(&q), [1]);
    assert_eq!(b.status(), FenceStatus::Ok);
}
