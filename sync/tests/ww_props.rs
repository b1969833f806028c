//! Property tests of the wound/wait rules (proptest), written from the semantics: a model of
//! who holds what, driven by random operation sequences, must agree with the mutexes on
//! every result, lock count and back-off state; and `LockSet` over random lists (with
//! duplicates, with injected back-offs) must end holding exactly the distinct objects.
#![cfg(not(any(loom, miri)))]
use dmasync_sync::ww::{
    AcquireCtx, DeadlockInjection, LockSet, WaitDie, WoundWait, WwClass, WwError, WwGuard, WwMutex,
};
use proptest::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

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

/// Whether the crate's misuse checks are compiled in (its own dev-dependency turns the
/// feature on; build.rs keeps them to builds with debug assertions).
const CHECKS: bool = cfg!(all(feature = "misuse-checks", debug_assertions));

/// A request to the thread that runs one context.
#[derive(Debug)]
enum Req {
    Lock(usize),
    TryLock(usize),
    LockSlow(usize),
    /// Drop the guard at this position (modulo the count); answers its mutex's index.
    Drop(usize),
    State,
}

#[derive(Debug, PartialEq)]
enum Reply {
    Locked(Result<(), WwError>),
    /// The call panicked with this message (a misuse check).
    Panicked(String),
    Dropped(Option<usize>),
    /// `acquired()`, `must_back_off()`.
    State(usize, bool),
}

/// What a lock call that may have panicked means for the model; keeps the guard.
fn outcome<'a, C: WwClass>(
    r: std::thread::Result<Result<WwGuard<'a, u32, C>, WwError>>,
    i: usize,
    guards: &mut Held<'a, C>,
) -> Reply {
    match r {
        Ok(Ok(g)) => {
            guards.push((i, g));
            Reply::Locked(Ok(()))
        }
        Ok(Err(e)) => Reply::Locked(Err(e)),
        Err(p) => Reply::Panicked(
            p.downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "non-string panic".into()),
        ),
    }
}

/// Runs one context on its own thread (the misuse checks allow one live context per
/// thread and class), answering `reqs` one at a time, so the model still sees a single,
/// deterministic interleaving.
fn serve<C: WwClass>(
    ms: &[WwMutex<u32, C>],
    ctx: AcquireCtx<C>,
    reqs: std::sync::mpsc::Receiver<Req>,
    replies: std::sync::mpsc::Sender<Reply>,
) {
    let mut guards: Held<'_, C> = Vec::new();
    for req in reqs {
        let reply = match req {
            Req::Lock(i) => outcome(
                catch_unwind(AssertUnwindSafe(|| ctx.lock(&ms[i]))),
                i,
                &mut guards,
            ),
            Req::TryLock(i) => outcome(
                catch_unwind(AssertUnwindSafe(|| ctx.try_lock(&ms[i]))),
                i,
                &mut guards,
            ),
            Req::LockSlow(i) => outcome(
                catch_unwind(AssertUnwindSafe(|| ctx.lock_slow(&ms[i]))),
                i,
                &mut guards,
            ),
            Req::Drop(j) => {
                if guards.is_empty() {
                    Reply::Dropped(None)
                } else {
                    let j = j % guards.len();
                    let (i, g) = guards.swap_remove(j);
                    drop(g);
                    Reply::Dropped(Some(i))
                }
            }
            Req::State => Reply::State(ctx.acquired(), ctx.must_back_off()),
        };
        replies.send(reply).unwrap();
    }
}

/// Runs `ops` on two contexts (0 older than 1) of class `C`, each on its own thread but
/// driven one operation at a time, checking every outcome against the model. Operations
/// that would block are not issued (the model says when a lock would wait). With the
/// misuse checks on, the model also says when a lock is a first lock after a back-off
/// that is not the contended mutex, and expects that check's panic.
fn check_model<C: WwClass>(ops: &[Op]) -> Result<(), TestCaseError> {
    let ms: Vec<WwMutex<u32, C>> = (0..K).map(|_| WwMutex::new(0)).collect();
    std::thread::scope(|s| {
        let mut to = Vec::new();
        let mut from = Vec::new();
        let mut stamps = Vec::new();
        for _ in 0..2 {
            let (req_tx, req_rx) = std::sync::mpsc::channel();
            let (rep_tx, rep_rx) = std::sync::mpsc::channel();
            let (stamp_tx, stamp_rx) = std::sync::mpsc::channel();
            let ms = &ms;
            s.spawn(move || {
                let ctx = AcquireCtx::<C>::new();
                stamp_tx.send(ctx.stamp()).unwrap();
                serve(ms, ctx, req_rx, rep_tx);
            });
            // Wait for the stamp, so context 0 is created before context 1.
            stamps.push(stamp_rx.recv().unwrap());
            to.push(req_tx);
            from.push(rep_rx);
        }
        prop_assert!(stamps[0] < stamps[1]);
        let ask = |c: usize, r: Req| {
            to[c].send(r).unwrap();
            from[c].recv().unwrap()
        };
        run_model::<C>(ops, &ask, &ms)
    })
}

fn run_model<C: WwClass>(
    ops: &[Op],
    ask: &dyn Fn(usize, Req) -> Reply,
    ms: &[WwMutex<u32, C>],
) -> Result<(), TestCaseError> {
    let mut held = [0usize; 2];
    let mut holder = [Holder::Free; K];
    let mut backoff = [false; 2];
    let mut contended: [Option<usize>; 2] = [None; 2];
    // The misuse checks' record: the mutex of the Deadlock that started the last back-off,
    // until the context acquires it (by any lock call).
    let mut recorded: [Option<usize>; 2] = [None; 2];
    let misuse = |c: usize, i: usize, held: usize, recorded: &[Option<usize>; 2]| {
        CHECKS && held == 0 && recorded[c].is_some_and(|m| m != i)
    };
    let acquired =
        |c: usize, i: usize, holder: &mut [Holder; K], recorded: &mut [Option<usize>; 2]| {
            holder[i] = Holder::Ctx(c);
            if recorded[c] == Some(i) {
                recorded[c] = None;
            }
        };

    for op in ops {
        match *op {
            Op::Lock(c, i) => {
                let expect = if misuse(c, i, held[c], &recorded) {
                    None
                } else if backoff[c] {
                    Some(Err(WwError::Deadlock))
                } else {
                    match holder[i] {
                        Holder::Ctx(h) if h == c => Some(Err(WwError::Already)),
                        Holder::Free => Some(Ok(())),
                        // Wait-Die: a younger context holding locks dies at an older holder.
                        Holder::Ctx(h) if C::WAIT_DIE && held[c] > 0 && h < c => {
                            Some(Err(WwError::Deadlock))
                        }
                        // Otherwise it would wait: not issued.
                        Holder::Ctx(_) => continue,
                    }
                };
                match (expect, ask(c, Req::Lock(i))) {
                    (None, Reply::Panicked(msg)) => {
                        prop_assert!(msg.contains("not the contended mutex"), "{}", msg);
                    }
                    (Some(Ok(())), Reply::Locked(Ok(()))) => {
                        held[c] += 1;
                        acquired(c, i, &mut holder, &mut recorded);
                    }
                    (Some(Err(e)), Reply::Locked(Err(got))) => {
                        prop_assert_eq!(e, got);
                        if e == WwError::Deadlock {
                            prop_assert!(held[c] > 0, "Deadlock with no lock held");
                            if !backoff[c] {
                                // The Deadlock that starts a back-off names the contended mutex.
                                contended[c] = Some(i);
                                recorded[c] = Some(i);
                            }
                            backoff[c] = true;
                        }
                    }
                    (expect, got) => {
                        prop_assert!(false, "lock: expected {:?}, got {:?}", expect, got)
                    }
                }
            }
            Op::TryLock(c, i) => {
                let expect = if misuse(c, i, held[c], &recorded) {
                    None
                } else if backoff[c] {
                    Some(Err(WwError::Deadlock))
                } else {
                    Some(match holder[i] {
                        Holder::Free => Ok(()),
                        Holder::Ctx(h) if h == c => Err(WwError::Already),
                        Holder::Ctx(_) => Err(WwError::WouldBlock),
                    })
                };
                match (expect, ask(c, Req::TryLock(i))) {
                    (None, Reply::Panicked(msg)) => {
                        prop_assert!(msg.contains("not the contended mutex"), "{}", msg);
                    }
                    (Some(Ok(())), Reply::Locked(Ok(()))) => {
                        held[c] += 1;
                        acquired(c, i, &mut holder, &mut recorded);
                    }
                    (Some(Err(e)), Reply::Locked(Err(got))) => prop_assert_eq!(e, got),
                    (expect, got) => {
                        prop_assert!(false, "try_lock: expected {:?}, got {:?}", expect, got)
                    }
                }
            }
            Op::LockSlow(c, i) => {
                let expect = if held[c] > 0 {
                    Err(WwError::LocksHeld)
                } else if contended[c] != Some(i) {
                    Err(WwError::NotContended)
                } else if holder[i] == Holder::Free {
                    Ok(())
                } else {
                    continue; // would wait
                };
                match ask(c, Req::LockSlow(i)) {
                    Reply::Locked(Ok(())) => {
                        prop_assert_eq!(expect, Ok(()));
                        held[c] += 1;
                        acquired(c, i, &mut holder, &mut recorded);
                        contended[c] = None;
                    }
                    Reply::Locked(Err(e)) => prop_assert_eq!(expect, Err(e)),
                    got => prop_assert!(false, "lock_slow: expected {:?}, got {:?}", expect, got),
                }
            }
            Op::Drop(c, j) => {
                if let Reply::Dropped(Some(i)) = ask(c, Req::Drop(j)) {
                    held[c] -= 1;
                    holder[i] = Holder::Free;
                    if held[c] == 0 {
                        backoff[c] = false;
                    }
                }
            }
            Op::PlainTry(i) => {
                let r = ms[i].try_lock();
                prop_assert_eq!(r.is_some(), holder[i] == Holder::Free);
            }
        }
        for c in 0..2 {
            prop_assert_eq!(ask(c, Req::State), Reply::State(held[c], backoff[c]));
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
