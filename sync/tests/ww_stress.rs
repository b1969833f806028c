//! Stress on real threads: random transactions over shared wound/wait mutexes, both
//! classes, with a mutual-exclusion oracle and a progress watchdog.
//!
//! - `small_set_*`: 2x cores threads lock random subsets (random order, with duplicates)
//!   of 16 mutexes; some batches use plain (context-less) locks and `try_lock`.
//! - `large_set_*`: 3x cores threads over 2,048 mutexes; most transactions lock 8-64, one
//!   in 16 locks 1,000-2,048 (one transaction holds thousands).
//! - `oldest_transaction_*`: a context created before the storm runs repeatedly among the
//!   others and never rolls back (the oldest never backs off: no starvation).
//!
//! Oracle: each mutex has an owner atomic, set (CAS from 0, must succeed) when a
//! transaction has it and cleared (must still be ours) before it is unlocked; each mutex
//! also counts its acquisitions, checked against the threads' own counts at the end.
//! Only back-offs are allowed as errors. Watchdog: if any thread makes no progress for
//! `WW_STRESS_WATCHDOG_SECS` (default 30) the process exits with an error.
//!
//! Duration per test: `WW_STRESS_SECS` (default 3).
#![cfg(not(any(loom, miri)))]

use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WoundWait, WwClass, WwError, WwMutex};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn secs_from_env(var: &str, default: u64) -> Duration {
    Duration::from_secs_f64(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(default as f64),
    )
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

struct Obj {
    /// Thread id + 1 of the transaction that has it, 0 when free (the oracle).
    owner: AtomicUsize,
}

struct Shared<C: WwClass> {
    ms: Vec<WwMutex<u64, C>>,
    oracle: Vec<Obj>,
    /// Per-thread time of last completed batch, ns since `start`.
    progress: Vec<AtomicU64>,
    stop: AtomicBool,
    start: Instant,
}

impl<C: WwClass> Shared<C> {
    fn new(n: usize, threads: usize) -> Self {
        Self {
            ms: (0..n).map(|_| WwMutex::new(0)).collect(),
            oracle: (0..n)
                .map(|_| Obj {
                    owner: AtomicUsize::new(0),
                })
                .collect(),
            progress: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            stop: AtomicBool::new(false),
            start: Instant::now(),
        }
    }

    fn enter(&self, i: usize, me: usize) {
        if let Err(other) =
            self.oracle[i]
                .owner
                .compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst)
        {
            panic!("mutual exclusion broken: mutex {i} held by {me} and {other}");
        }
    }

    fn leave(&self, i: usize, me: usize) {
        let was = self.oracle[i].owner.swap(0, Ordering::SeqCst);
        assert_eq!(was, me, "mutex {i}: owner changed while held");
    }

    fn tick(&self, t: usize) {
        let ns = self.start.elapsed().as_nanos() as u64;
        self.progress[t].store(ns.max(1), Ordering::Relaxed);
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Default, Debug)]
struct Stats {
    batches: u64,
    rollbacks: u64,
    acquisitions: Vec<u64>,
}

/// Runs the watchdog on the calling thread until `stop`; exits the process if a thread
/// stalls.
fn watchdog<C: WwClass>(sh: &Shared<C>, limit: Duration) {
    while !sh.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        let now = sh.start.elapsed().as_nanos() as u64;
        for (t, p) in sh.progress.iter().enumerate() {
            let last = p.load(Ordering::Relaxed);
            if now.saturating_sub(last) > limit.as_nanos() as u64
                && !sh.stop.load(Ordering::Relaxed)
            {
                eprintln!(
                    "WATCHDOG: thread {t} made no progress for {:?} (hang or starvation)",
                    limit
                );
                std::process::exit(3);
            }
        }
    }
}

/// One worker: random transactions until `stop`.
fn worker<C: WwClass>(
    sh: &Shared<C>,
    t: usize,
    seed: u64,
    pick: impl Fn(&mut Rng) -> usize,
) -> Stats {
    let me = t + 1;
    let n = sh.ms.len();
    let mut rng = Rng(seed | 1);
    let mut st = Stats {
        acquisitions: vec![0; n],
        ..Stats::default()
    };
    let mut order: Vec<usize> = Vec::new();
    while !sh.stop.load(Ordering::Relaxed) {
        let kind = rng.below(16);
        if kind == 0 {
            // Plain lock of one mutex (Linux "method 4").
            let i = rng.below(n);
            let mut g = sh.ms[i].lock();
            sh.enter(i, me);
            *g += 1;
            st.acquisitions[i] += 1;
            sh.leave(i, me);
        } else if kind == 1 {
            // try_lock through a context.
            let ctx = AcquireCtx::<C>::new();
            let i = rng.below(n);
            match ctx.try_lock(&sh.ms[i]) {
                Ok(mut g) => {
                    sh.enter(i, me);
                    *g += 1;
                    st.acquisitions[i] += 1;
                    sh.leave(i, me);
                }
                Err(WwError::WouldBlock) => {}
                Err(e) => panic!("try_lock: unexpected {e:?}"),
            }
        } else {
            let k = pick(&mut rng);
            order.clear();
            for _ in 0..k {
                order.push(rng.below(n));
            }
            let ctx = AcquireCtx::<C>::new();
            let mut set = LockSet::with_capacity(&ctx, k).ignore_duplicates(true);
            // Yield now and then while holding locks, so holders get preempted mid-way and
            // the contention paths (wait, die, wound, wake) run, not just the fast path.
            let salt = rng.below(32);
            let r = set.lock_all(|s| {
                for (j, &i) in order.iter().enumerate() {
                    s.lock(&sh.ms[i])?;
                    if (j + salt).is_multiple_of(32) {
                        std::thread::yield_now();
                    }
                }
                Ok::<_, WwError>(())
            });
            if let Err(e) = r {
                panic!("lock_all: error other than back-off: {e:?}");
            }
            st.rollbacks += set.rollbacks();
            let held: Vec<usize> = set
                .iter_with_mutex()
                .map(|(m, v)| {
                    *v += 1;
                    // Index from the address (all mutexes live in one Vec).
                    (m as *const _ as usize - sh.ms.as_ptr() as usize)
                        / size_of::<WwMutex<u64, C>>()
                })
                .collect();
            for &i in &held {
                sh.enter(i, me);
                st.acquisitions[i] += 1;
            }
            if rng.below(4) == 0 {
                std::thread::yield_now();
            }
            for &i in &held {
                sh.leave(i, me);
            }
            drop(set);
        }
        st.batches += 1;
        sh.tick(t);
    }
    st
}

fn run<C: WwClass>(
    name: &str,
    nlocks: usize,
    threads: usize,
    pick: impl Fn(&mut Rng) -> usize + Send + Sync + Copy,
) {
    let dur = secs_from_env("WW_STRESS_SECS", 3);
    let limit = secs_from_env("WW_STRESS_WATCHDOG_SECS", 30);
    let sh = Shared::<C>::new(nlocks, threads);
    let stats: Vec<Stats> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let sh = &sh;
                s.spawn(move || worker(sh, t, 0x5EED_0000 + t as u64 * 7919, pick))
            })
            .collect();
        s.spawn(|| watchdog(&sh, limit));
        std::thread::sleep(dur);
        sh.stop.store(true, Ordering::Relaxed);
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let batches: u64 = stats.iter().map(|s| s.batches).sum();
    let rollbacks: u64 = stats.iter().map(|s| s.rollbacks).sum();
    for (t, s) in stats.iter().enumerate() {
        assert!(s.batches > 0, "{name}: thread {t} never completed a batch");
    }
    // Every increment made under the lock is there: no lost update.
    let mut sh = sh;
    for i in 0..nlocks {
        let expect: u64 = stats.iter().map(|s| s.acquisitions[i]).sum();
        assert_eq!(
            *sh.ms[i].get_mut(),
            expect,
            "{name}: mutex {i} lost updates"
        );
        assert!(!sh.ms[i].is_locked());
    }
    eprintln!(
        "{name}: {threads} threads, {nlocks} mutexes, {:.1}s: {batches} batches ({:.0}/s), \
         {rollbacks} rollbacks ({:.3}/batch)",
        dur.as_secs_f64(),
        batches as f64 / dur.as_secs_f64(),
        rollbacks as f64 / batches.max(1) as f64
    );
}

fn small<C: WwClass>(name: &str) {
    run::<C>(name, 16, 2 * cores(), |r| 1 + r.below(8));
}

fn large<C: WwClass>(name: &str) {
    run::<C>(name, 2048, 3 * cores(), |r| {
        if r.below(16) == 0 {
            1000 + r.below(1049)
        } else {
            8 + r.below(57)
        }
    });
}

#[test]
fn small_set_wait_die() {
    small::<WaitDie>("small_set_wait_die");
}

#[test]
fn small_set_wound_wait() {
    small::<WoundWait>("small_set_wound_wait");
}

#[test]
fn large_set_wait_die() {
    large::<WaitDie>("large_set_wait_die");
}

#[test]
fn large_set_wound_wait() {
    large::<WoundWait>("large_set_wound_wait");
}

/// A context created before the storm is older than every other: across many passes it
/// must never roll back, in either class, while 2x cores threads contend on the same locks.
fn oldest<C: WwClass>(name: &str) {
    let dur = secs_from_env("WW_STRESS_SECS", 3);
    let limit = secs_from_env("WW_STRESS_WATCHDOG_SECS", 30);
    let threads = 2 * cores();
    let sh = Shared::<C>::new(16, threads + 1);
    let old = AcquireCtx::<C>::new();
    let (passes, others) = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let sh = &sh;
                s.spawn(move || worker(sh, t, 0xA11CE + t as u64, |r| 2 + r.below(7)))
            })
            .collect();
        s.spawn(|| watchdog(&sh, limit));
        let me = threads + 1;
        let mut passes = 0u64;
        let mut rng = Rng(42);
        let deadline = Instant::now() + dur;
        while Instant::now() < deadline {
            let mut order: Vec<usize> = (0..16).collect();
            for i in (1..16).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let mut set = LockSet::new(&old);
            set.lock_all(|s| {
                for &i in &order {
                    s.lock(&sh.ms[i])?;
                }
                Ok::<_, WwError>(())
            })
            .unwrap();
            assert_eq!(
                set.rollbacks(),
                0,
                "{name}: the oldest transaction backed off"
            );
            assert!(
                !old.is_wounded(),
                "{name}: the oldest transaction was wounded"
            );
            for i in 0..16 {
                sh.enter(i, me);
            }
            for v in set.iter_mut() {
                *v += 1;
            }
            for i in 0..16 {
                sh.leave(i, me);
            }
            drop(set);
            passes += 1;
            sh.tick(threads);
        }
        sh.stop.store(true, Ordering::Relaxed);
        let others: u64 = hs.into_iter().map(|h| h.join().unwrap().batches).sum();
        (passes, others)
    });
    assert!(passes > 0);
    eprintln!("{name}: oldest ran {passes} passes with 0 rollbacks among {others} other batches");
}

#[test]
fn oldest_transaction_never_backs_off_wait_die() {
    oldest::<WaitDie>("oldest_wait_die");
}

#[test]
fn oldest_transaction_never_backs_off_wound_wait() {
    oldest::<WoundWait>("oldest_wound_wait");
}
