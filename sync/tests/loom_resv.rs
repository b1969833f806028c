//! Loom model checks of reservation objects: publishing a fence vs lock-free readers.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!  cargo test --release -p dmasync-sync --test loom_resv`
#![cfg(loom)]

use core::time::Duration;

use loom::thread;

use dmasync_sync::fence::Timeline;
use dmasync_sync::resv::{ReservationObject, Usage};
use dmasync_sync::{FenceProducer, FenceStatus};

/// A reader testing the object while a writer adds a pending fence sees either nothing
/// or the whole fence — once it saw the fence, it keeps seeing it.
#[test]
fn add_vs_test() {
    loom::model(|| {
        let resv = loom::sync::Arc::new(ReservationObject::<2>::new());
        let p = FenceProducer::one_off();
        let f = p.fence();
        let r = resv.clone();
        let writer = thread::spawn(move || {
            let g = r.lock();
            let [slot] = g.reserve::<1>().unwrap();
            slot.add(&f, Usage::Write);
        });
        let idle = resv.test_signalled(Usage::Read);
        let listed = resv.fences(Usage::Write).count();
        if !idle {
            assert_eq!(listed, 1, "a fence seen pending must stay listed");
        }
        writer.join().unwrap();
        assert!(!resv.test_signalled(Usage::Write));
        p.signal();
        assert!(resv.test_signalled(Usage::Bookkeep));
    });
}

/// Adding a fence races its signal: afterwards the object is idle either way.
#[test]
fn add_vs_signal() {
    loom::model(|| {
        let resv = loom::sync::Arc::new(ReservationObject::<2>::new());
        let t = Timeline::new();
        let p = t.next_fence();
        let f = p.fence();
        let r = resv.clone();
        let writer = thread::spawn(move || {
            let g = r.lock();
            let [slot] = g.reserve::<1>().unwrap();
            slot.add(&f, Usage::Read);
        });
        p.signal();
        writer.join().unwrap();
        assert!(resv.test_signalled(Usage::Read));
        assert_eq!(
            resv.wait_timeout(Usage::Read, Duration::ZERO),
            FenceStatus::Ok
        );
    });
}

/// Replacing a fence of the same timeline races a reader's snapshot: the reader sees the
/// old or the new fence, never an empty object (the later fence implies the earlier).
#[test]
fn replace_vs_snapshot() {
    loom::model(|| {
        let resv = loom::sync::Arc::new(ReservationObject::<2>::new());
        let t = Timeline::new();
        let (p1, p2) = (t.next_fence(), t.next_fence());
        {
            let g = resv.lock();
            let [slot] = g.reserve::<1>().unwrap();
            slot.add(&p1.fence(), Usage::Write);
        }
        let f2 = p2.fence();
        let r = resv.clone();
        let writer = thread::spawn(move || {
            let g = r.lock();
            let [slot] = g.reserve::<1>().unwrap();
            slot.add(&f2, Usage::Write);
        });
        let seen: Vec<u64> = resv.fences(Usage::Write).map(|(f, _)| f.seqno()).collect();
        assert!(seen == [1] || seen == [2], "{seen:?}");
        assert!(!resv.test_signalled(Usage::Write));
        writer.join().unwrap();
        let seen: Vec<u64> = resv.fences(Usage::Write).map(|(f, _)| f.seqno()).collect();
        assert_eq!(seen, [2]);
        p1.signal();
        p2.signal();
        assert!(resv.test_signalled(Usage::Write));
    });
}
