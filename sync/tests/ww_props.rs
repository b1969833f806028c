//! Property tests of the wound/wait rules (proptest), written from the semantics: a model of
//! who holds what, driven by random operation sequences, must agree with the mutexes on
//! every result, lock count and back-off state; and `LockSet` over random lists (with
//! duplicates, with injected back-offs) must end holding exactly the distinct objects.
#![cfg(not(any(loom, miri)))]
use dmasync_sync::ww::{
    AcquireCtx, DeadlockInjection, LockSet, WaitDie, WoundWait, WwClass, WwError, WwGuard, WwMutex,
};
use proptest::prelude::*;

const K: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Lock(usize, usize),
    TryLock(usize, usize),
    LockSlow(usize, usize),
    Drop(usize, usize),
    PlainTry(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..K).prop_map(|(c, i)| Op::Lock(c, i)),
        2 => (0..2usize, 0..K).prop_map(|(c, i)| Op::TryLock(c, i)),
        1 => (0..2usize, 0..K).prop_map(|(c, i)| Op::LockSlow(c, i)),
        3 => (0..2usize, 0..8usize).prop_map(|(c, j)| Op::Drop(c, j)),
        1 => (0..K).prop_map(Op::PlainTry),
    ]
}

/// The guards a context holds, with the index of each mutex.
type Held<'a, C> = Vec<(usize, WwGuard<'a, u32, C>)>;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Holder {
    Free,
    Ctx(usize),
}

/// Runs `ops` on two contexts (0 older than 1) of class `C` on one thread, checking every
/// outcome against the model. Operations that would block are not issued (the model says
/// when a lock would wait).
fn check_model<C: WwClass>(ops: &[Op]) -> Result<(), TestCaseError> {
    let ms: Vec<WwMutex<u32, C>> = (0..K).map(|_| WwMutex::new(0)).collect();
    let ctxs = [AcquireCtx::<C>::new(), AcquireCtx::<C>::new()];
    prop_assert!(ctxs[0].stamp() < ctxs[1].stamp());
    let mut guards: [Held<'_, C>; 2] = [Vec::new(), Vec::new()];
    let mut holder = [Holder::Free; K];
    let mut backoff = [false; 2];
    let mut contended: [Option<usize>; 2] = [None; 2];

    for op in ops {
        match *op {
            Op::Lock(c, i) => {
                let held = guards[c].len();
                let expect = if backoff[c] {
                    Some(Err(WwError::Deadlock))
                } else {
                    match holder[i] {
                        Holder::Ctx(h) if h == c => Some(Err(WwError::Already)),
                        Holder::Free => Some(Ok(())),
                        // Wait-Die: a younger context holding locks dies at an older holder.
                        Holder::Ctx(h) if C::WAIT_DIE && held > 0 && h < c => {
                            Some(Err(WwError::Deadlock))
                        }
                        // Otherwise it would wait: not issued on one thread.
                        Holder::Ctx(_) => None,
                    }
                };
                let Some(expect) = expect else { continue };
                match ctxs[c].lock(&ms[i]) {
                    Ok(g) => {
                        prop_assert_eq!(expect, Ok(()));
                        guards[c].push((i, g));
                        holder[i] = Holder::Ctx(c);
                    }
                    Err(e) => {
                        prop_assert_eq!(expect, Err(e));
                        if e == WwError::Deadlock {
                            prop_assert!(held > 0, "Deadlock with no lock held");
                            if !backoff[c] {
                                // The Deadlock that starts a back-off names the contended mutex.
                                contended[c] = Some(i);
                            }
                            backoff[c] = true;
                        }
                    }
                }
            }
            Op::TryLock(c, i) => {
                let expect = if backoff[c] {
                    Err(WwError::Deadlock)
                } else {
                    match holder[i] {
                        Holder::Free => Ok(()),
                        Holder::Ctx(h) if h == c => Err(WwError::Already),
                        Holder::Ctx(_) => Err(WwError::WouldBlock),
                    }
                };
                match ctxs[c].try_lock(&ms[i]) {
                    Ok(g) => {
                        prop_assert_eq!(expect, Ok(()));
                        guards[c].push((i, g));
                        holder[i] = Holder::Ctx(c);
                    }
                    Err(e) => prop_assert_eq!(expect, Err(e)),
                }
            }
            Op::LockSlow(c, i) => {
                let expect = if !guards[c].is_empty() {
                    Some(Err(WwError::LocksHeld))
                } else if contended[c] != Some(i) {
                    Some(Err(WwError::NotContended))
                } else if holder[i] == Holder::Free {
                    Some(Ok(()))
                } else {
                    None // would wait
                };
                let Some(expect) = expect else { continue };
                match ctxs[c].lock_slow(&ms[i]) {
                    Ok(g) => {
                        prop_assert_eq!(expect, Ok(()));
                        guards[c].push((i, g));
                        holder[i] = Holder::Ctx(c);
                        contended[c] = None;
                    }
                    Err(e) => prop_assert_eq!(expect, Err(e)),
                }
            }
            Op::Drop(c, j) => {
                if guards[c].is_empty() {
                    continue;
                }
                let j = j % guards[c].len();
                let (i, g) = guards[c].swap_remove(j);
                drop(g);
                holder[i] = Holder::Free;
                if guards[c].is_empty() {
                    backoff[c] = false;
                }
            }
            Op::PlainTry(i) => {
                let r = ms[i].try_lock();
                prop_assert_eq!(r.is_some(), holder[i] == Holder::Free);
            }
        }
        for c in 0..2 {
            prop_assert_eq!(ctxs[c].acquired(), guards[c].len());
            prop_assert_eq!(ctxs[c].must_back_off(), backoff[c]);
        }
        for i in 0..K {
            prop_assert_eq!(ms[i].is_locked(), holder[i] != Holder::Free);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn wait_die_rules_match_model(ops in proptest::collection::vec(op(), 1..60)) {
        check_model::<WaitDie>(&ops)?;
    }

    #[test]
    fn wound_wait_rules_match_model(ops in proptest::collection::vec(op(), 1..60)) {
        check_model::<WoundWait>(&ops)?;
    }

    #[test]
    fn lockset_ends_with_exactly_the_distinct_objects(
        list in proptest::collection::vec(0..12usize, 0..40),
        ignore_dups in any::<bool>(),
        inject in proptest::option::of((1u32..6, any::<u64>())),
        wait_die in any::<bool>(),
    ) {
        if wait_die {
            lockset_case::<WaitDie>(&list, ignore_dups, inject)?;
        } else {
            lockset_case::<WoundWait>(&list, ignore_dups, inject)?;
        }
    }

    #[test]
    fn injection_never_hits_a_context_without_locks(
        seed in any::<u64>(),
        interval in 1u32..4,
        n in 1usize..20,
    ) {
        let ms: Vec<WwMutex<(), WaitDie>> = (0..n).map(|_| WwMutex::new(())).collect();
        let ctx = AcquireCtx::<WaitDie>::with_deadlock_injection(
            DeadlockInjection { interval, seed },
        );
        for m in &ms {
            prop_assert!(ctx.lock(m).is_ok());
        }
        prop_assert_eq!(ctx.injected_backoffs(), 0);
    }
}

fn lockset_case<C: WwClass>(
    list: &[usize],
    ignore_dups: bool,
    inject: Option<(u32, u64)>,
) -> Result<(), TestCaseError> {
    let ms: Vec<WwMutex<u32, C>> = (0..12).map(|_| WwMutex::new(0)).collect();
    let ctx = match inject {
        Some((interval, seed)) => {
            AcquireCtx::with_deadlock_injection(DeadlockInjection { interval, seed })
        }
        None => AcquireCtx::new(),
    };
    let mut distinct: Vec<usize> = list.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let has_dups = distinct.len() != list.len();
    let mut passes = 0u64;
    {
        let mut set = LockSet::new(&ctx).ignore_duplicates(ignore_dups);
        let r = set.lock_all(|s| {
            passes += 1;
            for &i in list {
                *s.lock(&ms[i])? += 1;
            }
            Ok::<_, WwError>(())
        });
        if has_dups && !ignore_dups {
            prop_assert_eq!(r, Err(WwError::Already));
            prop_assert!(set.is_empty());
        } else {
            prop_assert_eq!(r, Ok(()));
            prop_assert_eq!(set.len(), distinct.len());
            for &i in &distinct {
                prop_assert!(set.contains(&ms[i]));
                prop_assert!(ms[i].is_locked());
            }
        }
        prop_assert_eq!(set.rollbacks(), ctx.injected_backoffs());
        prop_assert_eq!(passes, set.rollbacks() + 1);
        if inject.is_none() {
            prop_assert_eq!(set.rollbacks(), 0);
        }
    }
    prop_assert_eq!(ctx.acquired(), 0);
    for m in &ms {
        prop_assert!(!m.is_locked());
    }
    Ok(())
}
