//! `LockSet::unlock`: dropping one object from a locked set, modelled on Linux's drm_exec
//! KUnit tests (drivers/gpu/drm/tests/drm_exec_test.c: `test_lock_unlock`, `test_duplicates`,
//! `test_multiple_loops`, and drm_exec_unlock_obj's contract), written from the semantics.
#![forbid(unsafe_code)]

use dmasync_sync::ww::{
    AcquireCtx, DeadlockInjection, LockSet, WaitDie, WoundWait, WwError, WwMutex,
};

type M = WwMutex<u32, WoundWait>;

/// test_lock_unlock: lock, unlock the one object, lock it again in the same context.
#[test]
fn lock_unlock_relock() {
    let obj = M::new(7);
    let ctx = AcquireCtx::new();
    let mut set = LockSet::new(&ctx);
    set.lock_all(|s| s.lock(&obj).map(drop)).unwrap();
    assert!(obj.is_locked());
    assert!(set.unlock(&obj));
    assert!(!obj.is_locked(), "unlock must release the mutex itself");
    assert!(set.is_empty() && !set.contains(&obj));
    assert_eq!(ctx.acquired(), 0);
    // Another locker can take it now.
    *obj.lock() += 1;
    set.lock_all(|s| s.lock(&obj).map(drop)).unwrap();
    assert_eq!(set.get_mut(&obj).copied(), Some(8));
}

/// Unlocking one object leaves the others locked, in their locking order.
#[test]
fn unlock_one_keeps_the_rest_in_order() {
    let objs: Vec<M> = (0..5).map(M::new).collect();
    let ctx = AcquireCtx::new();
    let mut set = LockSet::new(&ctx);
    set.lock_all(|s| {
        for o in &objs {
            s.lock(o)?;
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    assert!(set.unlock(&objs[2]));
    assert!(!objs[2].is_locked());
    let order: Vec<u32> = set.iter().copied().collect();
    assert_eq!(order, [0, 1, 3, 4]);
    assert!([0, 1, 3, 4].iter().all(|&i| objs[i].is_locked()));
    assert_eq!(ctx.acquired(), 4);
    // The lookup hint still finds every remaining object (looked up in order and not).
    for i in [0usize, 1, 3, 4, 4, 0] {
        assert_eq!(set.get_mut(&objs[i]).copied(), Some(i as u32));
    }
    drop(set);
    assert!(objs.iter().all(|o| !o.is_locked()));
    assert_eq!(ctx.acquired(), 0);
}

/// Unlocking something the set does not hold changes nothing (twice, or never locked).
#[test]
fn unlock_of_a_stranger_is_refused() {
    let a = M::new(1);
    let b = M::new(2);
    let ctx = AcquireCtx::new();
    let mut set = LockSet::new(&ctx);
    set.lock_all(|s| s.lock(&a).map(drop)).unwrap();
    assert!(!set.unlock(&b));
    assert!(a.is_locked() && set.len() == 1);
    assert!(set.unlock(&a));
    assert!(
        !set.unlock(&a),
        "a second unlock must not release anything again"
    );
    assert!(set.is_empty());
}

/// test_duplicates: with duplicates accepted, one unlock drops the object for good (it was
/// locked once however often it was asked for).
#[test]
fn duplicates_unlock_once() {
    let obj = M::new(3);
    let ctx = AcquireCtx::new();
    let mut set = LockSet::new(&ctx).ignore_duplicates(true);
    set.lock_all(|s| {
        s.lock(&obj)?;
        s.lock(&obj)?;
        s.lock(&obj).map(drop)
    })
    .unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.unlock(&obj));
    assert!(!obj.is_locked());
    assert!(!set.unlock(&obj));
}

/// Unlocking inside a pass, including the object a back-off locked ahead of the pass, and
/// locking it again in the same pass: the set's back-off bookkeeping survives (test with
/// injected back-offs so the slow path runs deterministically, as drm_exec_test's
/// `test_multiple_loops` retries).
#[test]
fn unlock_and_relock_inside_passes_with_backoffs() {
    let objs: Vec<WwMutex<u32, WaitDie>> = (0..8).map(WwMutex::new).collect();
    let ctx = AcquireCtx::<WaitDie>::with_deadlock_injection(DeadlockInjection {
        interval: 2,
        seed: 5,
    });
    let mut set = LockSet::new(&ctx);
    let mut passes = 0;
    set.lock_all(|s| {
        passes += 1;
        for o in &objs {
            s.lock(o)?;
            // Change our mind about every object once: unlock it and take it again.
            assert!(s.unlock(o));
            assert!(!o.is_locked());
            s.lock(o)?;
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    assert!(
        set.rollbacks() > 0,
        "interval 2 over 16 locks must inject back-offs"
    );
    assert_eq!(set.rollbacks() + 1, passes);
    assert_eq!(set.len(), objs.len());
    assert!(objs.iter().all(|o| o.is_locked() && set.contains(o)));
    let order: Vec<u32> = set.iter().copied().collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..8).collect::<Vec<_>>());
    drop(set);
    assert_eq!(ctx.acquired(), 0);
    assert!(objs.iter().all(|o| !o.is_locked()));
}

/// Unlocking the back-off's pre-locked object before the pass asks for it: the pass then
/// locks it through the normal path, and it is held exactly once at the end.
#[test]
fn unlocking_the_prelocked_object_before_asking_for_it() {
    let objs: Vec<WwMutex<u32, WaitDie>> = (0..6).map(WwMutex::new).collect();
    let ctx = AcquireCtx::<WaitDie>::with_deadlock_injection(DeadlockInjection {
        interval: 1,
        seed: 11,
    });
    let mut set = LockSet::new(&ctx);
    let mut dropped_prelocked = 0;
    set.lock_all(|s| {
        // Whatever the back-off pre-locked (if anything) is first in the set: drop it.
        let first = s.iter_with_mutex().next().map(|(m, _)| m);
        if let Some(m) = first {
            assert!(s.unlock(m));
            assert!(!m.is_locked());
            dropped_prelocked += 1;
        }
        for o in &objs {
            s.lock(o)?;
        }
        Ok::<_, WwError>(())
    })
    .unwrap();
    assert!(
        dropped_prelocked > 0,
        "interval 1 must have made the set back off"
    );
    assert_eq!(set.len(), objs.len());
    assert!(objs.iter().all(|o| o.is_locked()));
    drop(set);
    assert_eq!(ctx.acquired(), 0);
}
