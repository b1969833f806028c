//! Unit tests of reservation objects (single-threaded: Miri runs them).

use core::sync::atomic::AtomicU32;
use core::time::Duration;
use std::vec::Vec;

use super::*;
use crate::fence::{FenceError, FenceProducer, FenceStatus, MemTimeline, Timeline};

type Resv<const N: usize = 8> = ReservationObject<N>;

fn add<const N: usize>(r: &Resv<N>, f: &Fence, u: Usage) {
    let g = r.lock();
    let [s] = g.reserve::<1>().unwrap();
    s.add(f, u);
}

fn listed<const N: usize>(r: &Resv<N>, u: Usage) -> Vec<(u64, u64, Usage)> {
    r.fences(u)
        .map(|(f, u)| (f.context().id(), f.seqno(), u))
        .collect()
}

#[test]
fn usage_classes_are_ordered_and_the_rw_rule_holds() {
    assert!(Usage::Kernel < Usage::Write && Usage::Write < Usage::Read);
    assert!(Usage::Read < Usage::Bookkeep);
    assert_eq!(Usage::for_access(true), Usage::Read);
    assert_eq!(Usage::for_access(false), Usage::Write);
}

#[test]
fn a_query_covers_its_class_and_all_below() {
    let r: Resv = Resv::new();
    let (tk, tw, tr, tb) = (
        Timeline::new(),
        Timeline::new(),
        Timeline::new(),
        Timeline::new(),
    );
    let (k, w, rd, b) = (
        tk.next_fence(),
        tw.next_fence(),
        tr.next_fence(),
        tb.next_fence(),
    );
    add(&r, &k.fence(), Usage::Kernel);
    add(&r, &w.fence(), Usage::Write);
    add(&r, &rd.fence(), Usage::Read);
    add(&r, &b.fence(), Usage::Bookkeep);
    assert_eq!(r.fences(Usage::Kernel).count(), 1);
    assert_eq!(r.fences(Usage::Write).count(), 2);
    assert_eq!(r.fences(Usage::Read).count(), 3);
    assert_eq!(r.fences(Usage::Bookkeep).count(), 4);
    k.signal();
    assert!(r.test_signalled(Usage::Kernel));
    assert!(!r.test_signalled(Usage::Write));
    w.signal();
    assert!(r.test_signalled(Usage::Write));
    assert!(!r.test_signalled(Usage::Read));
    rd.signal();
    assert!(r.test_signalled(Usage::Read));
    assert!(!r.test_signalled(Usage::Bookkeep));
    b.signal();
    assert!(r.test_signalled(Usage::Bookkeep));
}

#[test]
fn a_later_fence_of_the_same_timeline_replaces_the_older() {
    let r: Resv = Resv::new();
    let t = Timeline::new();
    let (p1, p2) = (t.next_fence(), t.next_fence());
    add(&r, &p1.fence(), Usage::Write);
    add(&r, &p2.fence(), Usage::Write);
    let c = t.context().id();
    assert_eq!(listed(&r, Usage::Bookkeep), [(c, 2, Usage::Write)]);
    // An older fence does not replace a newer one.
    add(&r, &p1.fence(), Usage::Write);
    assert_eq!(
        listed(&r, Usage::Bookkeep),
        [(c, 2, Usage::Write), (c, 1, Usage::Write)]
    );
}

#[test]
fn replacement_promotes_but_never_demotes() {
    let r: Resv = Resv::new();
    let t = Timeline::new();
    let c = t.context().id();
    let (p1, p2, p3) = (t.next_fence(), t.next_fence(), t.next_fence());
    add(&r, &p1.fence(), Usage::Read);
    // Later write of the same timeline replaces the read: promotion.
    add(&r, &p2.fence(), Usage::Write);
    assert_eq!(listed(&r, Usage::Bookkeep), [(c, 2, Usage::Write)]);
    // Later read must not replace the write: writers' waiters would lose it.
    add(&r, &p3.fence(), Usage::Read);
    assert_eq!(
        listed(&r, Usage::Bookkeep),
        [(c, 2, Usage::Write), (c, 3, Usage::Read)]
    );
    assert_eq!(listed(&r, Usage::Write), [(c, 2, Usage::Write)]);
}

#[test]
fn reserve_fails_when_full_and_prunes_signalled_fences() {
    let r: Resv<2> = ReservationObject::new();
    let (a, b) = (Timeline::new().next_fence(), Timeline::new().next_fence());
    add(&r, &a.fence(), Usage::Read);
    add(&r, &b.fence(), Usage::Read);
    {
        let g = r.lock();
        assert_eq!(
            g.reserve_one().unwrap_err(),
            ResvError::NoSpace { capacity: 2 }
        );
        assert!(g.reserve::<3>().is_err());
    }
    a.signal();
    let g = r.lock();
    let s = g.reserve_one().expect("the signalled fence was pruned");
    assert!(g.reserve_one().is_err());
    let c = Timeline::new().next_fence();
    s.add(&c.fence(), Usage::Write);
    drop(g);
    assert_eq!(r.fences(Usage::Bookkeep).count(), 2);
    drop((b, c));
}

#[test]
fn unused_slots_are_given_back_and_reservations_count() {
    let r: Resv<3> = ReservationObject::new();
    {
        let g = r.lock();
        let slots = g.reserve::<3>().unwrap();
        assert!(g.reserve_one().is_err(), "all three are promised");
        drop(slots);
        let _again = g.reserve::<3>().unwrap();
    }
    let g = r.lock();
    let [a, b] = g.reserve::<2>().unwrap();
    let ps: Vec<FenceProducer> = (0..2).map(|_| Timeline::new().next_fence()).collect();
    a.add(&ps[0].fence(), Usage::Read);
    drop(b);
    // One used, none reserved: two more fit.
    assert!(g.reserve::<2>().is_ok());
    assert!(g.reserve::<3>().is_err());
}

#[test]
fn a_signalled_fences_slot_is_reused_by_add() {
    let r: Resv<2> = ReservationObject::new();
    let a = Timeline::new().next_fence();
    add(&r, &a.fence(), Usage::Read);
    a.signal();
    let b = Timeline::new().next_fence();
    add(&r, &b.fence(), Usage::Write);
    assert_eq!(r.fences(Usage::Bookkeep).count(), 1);
}

#[test]
fn wait_reports_timeout_error_or_ok() {
    let r: Resv = Resv::new();
    assert_eq!(
        r.wait_timeout(Usage::Bookkeep, Duration::ZERO),
        FenceStatus::Ok
    );
    let (a, b) = (Timeline::new().next_fence(), Timeline::new().next_fence());
    add(&r, &a.fence(), Usage::Write);
    add(&r, &b.fence(), Usage::Read);
    assert_eq!(
        r.wait_timeout(Usage::Read, Duration::ZERO),
        FenceStatus::Pending
    );
    assert_eq!(
        r.wait_timeout(Usage::Read, Duration::from_millis(1)),
        FenceStatus::Pending
    );
    a.signal_error(FenceError::DeviceError(5));
    assert_eq!(
        r.wait_timeout(Usage::Write, Duration::from_millis(1)),
        FenceStatus::Err(FenceError::DeviceError(5))
    );
    assert_eq!(
        r.wait_timeout(Usage::Read, Duration::ZERO),
        FenceStatus::Pending
    );
    b.signal();
    assert_eq!(
        r.wait_timeout(Usage::Read, Duration::from_millis(1)),
        FenceStatus::Err(FenceError::DeviceError(5))
    );
    assert_eq!(
        r.wait_until(Usage::Read, None),
        FenceStatus::Err(FenceError::DeviceError(5))
    );
}

#[test]
fn aggregate_is_stub_single_or_all_of() {
    let r: Resv = Resv::new();
    assert_eq!(r.aggregate(Usage::Bookkeep).status(), FenceStatus::Ok);
    let a = Timeline::new().next_fence();
    add(&r, &a.fence(), Usage::Write);
    assert!(Fence::ptr_eq(&r.aggregate(Usage::Write), &a.fence()));
    let b = Timeline::new().next_fence();
    let c = Timeline::new().next_fence();
    add(&r, &b.fence(), Usage::Read);
    add(&r, &c.fence(), Usage::Read);
    let all = r.aggregate(Usage::Read);
    a.signal();
    b.signal();
    assert_eq!(all.status(), FenceStatus::Pending);
    c.signal_error(FenceError::Timeout);
    assert_eq!(all.status(), FenceStatus::Err(FenceError::Timeout));
}

#[test]
fn locking_variants() {
    let r: Resv = Resv::new();
    let g = r.lock();
    assert!(r.try_lock().is_none());
    assert!(core::ptr::eq(g.object(), &r));
    drop(g);
    assert!(r.try_lock().is_some());

    let ctx = AcquireCtx::<WaitDie>::new();
    let g = r.lock_in(&ctx).unwrap();
    assert_eq!(r.lock_in(&ctx).unwrap_err(), WwError::Already);
    drop(g);
    // One live context per thread and class (the misuse checks).
    drop(ctx);

    let bufs: [Resv; 2] = [Resv::new(), Resv::new()];
    let other: Resv = Resv::new();
    let ctx = AcquireCtx::<WaitDie>::new();
    let mut set = LockSet::new(&ctx);
    set.lock_all(|s| {
        for b in &bufs {
            s.lock(b.ww_mutex())?;
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    assert!(other.locked_in(&mut set).is_none());
    let t = Timeline::new();
    let p = t.next_fence();
    for b in &bufs {
        let g = b.locked_in(&mut set).unwrap();
        let [s] = g.reserve::<1>().unwrap();
        s.add(&p.fence(), Usage::Write);
    }
    drop(set);
    assert!(bufs.iter().all(|b| !b.test_signalled(Usage::Write)));
    p.signal();
    assert!(bufs.iter().all(|b| b.test_signalled(Usage::Write)));
}

#[test]
fn memory_backed_fences_count_as_done_when_the_word_passes() {
    static WORD: AtomicU32 = AtomicU32::new(0);
    let tl = MemTimeline::new(&WORD);
    let p = tl.next_fence();
    let r: Resv = Resv::new();
    add(&r, &p.fence(), Usage::Write);
    assert!(!r.test_signalled(Usage::Write));
    WORD.store(1, core::sync::atomic::Ordering::Release);
    assert!(r.test_signalled(Usage::Write));
    assert_eq!(
        r.wait_timeout(Usage::Write, Duration::ZERO),
        FenceStatus::Ok
    );
    drop(p);
}

#[test]
fn size_of_a_reservation_object() {
    // Reported in doc/benchmarks.md; keep the default object within a few cache lines.
    let sz = core::mem::size_of::<Resv>();
    assert!(sz <= 4 * 64, "{sz}");
}

/// The sync sets' fused publish: reports a pending earlier fence of the asked class only,
/// adds `done` and `ready` by the rules of `FenceSlot::add`, and is all or nothing.
#[test]
fn publish_locked_reports_pending_and_adds_both_or_neither() {
    let r: Resv<4> = Resv::new();
    let (reader, writer) = (Timeline::new(), Timeline::new());
    let rd = reader.next_fence();
    let rd_ctx = rd.context().id();
    add(&r, &rd.fence(), Usage::Read);
    let set_ready = Timeline::new();
    let old_ready = set_ready.next_fence();
    add(&r, &old_ready.fence(), Usage::Kernel);
    old_ready.signal();

    let g = r.lock();
    // A new reader waits for writers only: the pending reader does not count.
    let done = Timeline::new().next_fence();
    assert_eq!(
        r.publish_locked(Usage::Write, &done.fence(), Usage::Read, None),
        Ok(false)
    );
    // A new writer waits for readers too.
    let done2 = Timeline::new().next_fence();
    let ready2 = set_ready.next_fence();
    assert_eq!(
        r.publish_locked(
            Usage::Read,
            &done2.fence(),
            Usage::Write,
            Some(&ready2.fence())
        ),
        Ok(true)
    );
    drop(g);
    // `ready2` took the slot of the signalled `old_ready` (same timeline): reader, done,
    // done2, ready2 — four slots, the capacity.
    let mut got = listed(&r, Usage::Bookkeep);
    got.sort();
    let mut want = std::vec![
        (rd_ctx, 1, Usage::Read),
        (done.context().id(), 1, Usage::Read),
        (done2.context().id(), 1, Usage::Write),
        (set_ready.context().id(), 2, Usage::Kernel),
    ];
    want.sort();
    assert_eq!(got, want);

    // Full of pending fences: neither fence goes in, nothing changes.
    let g = r.lock();
    let done3 = writer.next_fence();
    let ready3 = set_ready.next_fence();
    assert_eq!(
        r.publish_locked(
            Usage::Read,
            &done3.fence(),
            Usage::Write,
            Some(&ready3.fence())
        ),
        Err(ResvError::NoSpace { capacity: 4 })
    );
    drop(g);
    let mut again = listed(&r, Usage::Bookkeep);
    again.sort();
    assert_eq!(again, want);

    // One slot free (a fence signalled): `done` alone fits, `done` + `ready` do not.
    rd.signal();
    let g = r.lock();
    assert_eq!(
        r.publish_locked(
            Usage::Read,
            &done3.fence(),
            Usage::Write,
            Some(&ready3.fence())
        )
        .map_err(|_| ()),
        Ok(true),
        "the signalled reader's slot and ready2's (same timeline, older) make room"
    );
    drop(g);
    assert!(
        listed(&r, Usage::Bookkeep)
            .iter()
            .all(|&(c, _, _)| c != rd_ctx)
    );
}

/// Taking back what a failed sync-set lock published leaves the other fences alone.
#[test]
fn unpublish_locked_removes_exactly_the_given_fences() {
    let r: Resv = Resv::new();
    let other = Timeline::new().next_fence();
    add(&r, &other.fence(), Usage::Write);
    let done = Timeline::new().next_fence();
    let ready = Timeline::new().next_fence();
    let g = r.lock();
    assert_eq!(
        r.publish_locked(
            Usage::Read,
            &done.fence(),
            Usage::Write,
            Some(&ready.fence())
        ),
        Ok(true)
    );
    assert_eq!(listed(&r, Usage::Bookkeep).len(), 3);
    r.unpublish_locked([Some(&done.fence()), Some(&ready.fence())]);
    drop(g);
    assert_eq!(
        listed(&r, Usage::Bookkeep),
        std::vec![(other.context().id(), 1, Usage::Write)]
    );
    // Nothing is left reserved behind the caller's back: seven more adds fit.
    let g = r.lock();
    assert!(g.reserve::<7>().is_ok());
}
