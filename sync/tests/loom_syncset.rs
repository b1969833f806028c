//! Loom model checks of the sync-set holder protocol: the watchdog's expiry racing a guard
//! use in progress and the holder's own unlock.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!  cargo test --release -p dmasync-sync --test loom_syncset`
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use dmasync_hal::platform::Instant;
use dmasync_sync::syncset::SyncError;
use dmasync_sync::syncset::loom_seam::HolderModel;
use dmasync_sync::{FenceError, FenceProducer, FenceStatus};

fn holder() -> (HolderModel, dmasync_sync::Fence) {
    let done = FenceProducer::one_off();
    let fence = done.fence();
    // Deadline at time zero: always overdue, so every interleaving may expire it.
    (HolderModel::new(Instant(0), done), fence)
}

/// Waiters are never released while a guard use is in progress, expiry always completes
/// (by the watchdog or by the last use leaving), and a use that starts after the expiry
/// began is refused.
#[test]
fn expiry_never_releases_waiters_during_a_guard_use() {
    loom::model(|| {
        let (h, done) = holder();
        let in_use = Arc::new(AtomicBool::new(false));
        let user = {
            let (h, in_use, done) = (h.clone(), in_use.clone(), done.clone());
            thread::spawn(move || {
                if h.enter().is_ok() {
                    in_use.store(true, Ordering::SeqCst);
                    // While we are inside, the waiters must still be waiting.
                    assert!(!done.is_signalled(), "released during a guard use");
                    in_use.store(false, Ordering::SeqCst);
                    h.leave();
                    true
                } else {
                    false
                }
            })
        };
        let watchdog = {
            let h = h.clone();
            thread::spawn(move || h.expire_if_overdue(Instant(1)))
        };
        let entered = user.join().unwrap();
        assert!(
            watchdog.join().unwrap(),
            "an overdue holder is always expired"
        );
        assert_eq!(
            done.status(),
            FenceStatus::Err(FenceError::Timeout),
            "expiry completed"
        );
        assert!(!in_use.load(Ordering::SeqCst));
        assert_eq!(h.enter(), Err(SyncError::Expired), "no access after expiry");
        let _ = entered;
    });
}

/// Unlock and expiry race: exactly one wins, and the holder learns which.
#[test]
fn unlock_vs_expiry_exactly_one_wins() {
    loom::model(|| {
        let (h, done) = holder();
        let watchdog = {
            let h = h.clone();
            thread::spawn(move || h.expire_if_overdue(Instant(1)))
        };
        let unlocked = h.release(Ok(()));
        let expired = watchdog.join().unwrap();
        match unlocked {
            Ok(()) => assert_eq!(done.status(), FenceStatus::Ok),
            Err(e) => {
                assert_eq!(e, SyncError::Expired);
                assert!(expired);
                assert_eq!(done.status(), FenceStatus::Err(FenceError::Timeout));
            }
        }
    });
}

/// A device burst (a lease's use) in flight while the job's completion releases the holder
/// and the watchdog tries to expire it: exactly one of release and expiry wins, the waiters
/// are not released while the burst is in flight, and whoever wins is what they see.
#[test]
fn release_and_expiry_both_wait_for_a_burst_in_flight() {
    loom::model(|| {
        let (h, done) = holder();
        let burst = {
            let (h, done) = (h.clone(), done.clone());
            thread::spawn(move || {
                if h.enter().is_ok() {
                    assert!(!done.is_signalled(), "released during a device burst");
                    h.leave();
                }
            })
        };
        let watchdog = {
            let h = h.clone();
            thread::spawn(move || h.expire_if_overdue(Instant(1)))
        };
        let released = h.release(Ok(()));
        burst.join().unwrap();
        let expired = watchdog.join().unwrap();
        assert_ne!(
            released.is_ok(),
            expired,
            "exactly one of release and expiry"
        );
        let want = if expired {
            FenceStatus::Err(FenceError::Timeout)
        } else {
            FenceStatus::Ok
        };
        assert_eq!(done.status(), want);
        assert_eq!(h.enter(), Err(SyncError::Expired), "no burst after the end");
    });
}

/// `unlock_after`'s default: the whole job is one use. The watchdog may start the expiry,
/// but the waiters are released only when the job ends; with `Timeout` if the expiry won.
#[test]
fn expiry_of_a_job_use_waits_for_the_job() {
    loom::model(|| {
        let (h, done) = holder();
        h.enter().unwrap();
        let job_ended = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let (h, done, job_ended) = (h.clone(), done.clone(), job_ended.clone());
            thread::spawn(move || {
                let expired = h.expire_if_overdue(Instant(1));
                if done.is_signalled() {
                    assert!(job_ended.load(Ordering::SeqCst), "released during the job");
                }
                expired
            })
        };
        job_ended.store(true, Ordering::SeqCst);
        let released = h.release_job(Err(FenceError::DeviceError(7)));
        let expired = watchdog.join().unwrap();
        assert_ne!(
            released.is_ok(),
            expired,
            "exactly one of release and expiry"
        );
        let want = if expired {
            FenceStatus::Err(FenceError::Timeout)
        } else {
            FenceStatus::Err(FenceError::DeviceError(7))
        };
        assert_eq!(done.status(), want);
    });
}
