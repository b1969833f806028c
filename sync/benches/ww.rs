//! Wound/wait mutex benchmarks (criterion; `cargo bench -p dmasync-sync --bench ww`).
//!
//! 1. Uncontended: lock + unlock of N = 1, 4, 16 mutexes through an acquire context, against
//!    the floor of N bare compare-and-swap acquires + N release stores on the same layout.
//! 2. Contended transactions (Hellström's ww_mutex_test workload, scaled to this machine):
//!    T threads, each batch locks K random distinct mutexes out of M, touches them, unlocks.
//!    Wait-Die and Wound-Wait (through `LockSet`, random order) against address-ordered
//!    locking of `parking_lot` mutexes for the same sets. Rollbacks per batch are printed.
//!
//! Measurement times are short on purpose: the machine has 2 cores shared with other
//! builds, so compare ratios within one run, not absolute times across runs.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WoundWait, WwClass, WwError, WwMutex};

type Wd<T> = WwMutex<T, WaitDie>;

/// The floor: one CAS to lock and one release store to unlock, per object.
#[repr(align(8))]
struct BareLock {
    word: AtomicUsize,
    data: std::cell::UnsafeCell<u64>,
}

// SAFETY: `data` is only touched while `word` is held (benchmark code below).
unsafe impl Sync for BareLock {}

fn floor<const N: usize>(locks: &[BareLock; N]) {
    for l in locks {
        while l
            .word
            .compare_exchange(0, 8, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {}
    }
    for l in locks {
        // SAFETY: we hold the word.
        unsafe { *l.data.get() += 1 };
    }
    for l in locks {
        l.word.store(0, Ordering::Release);
    }
}

/// What any lock that must notice sleeping waiters at unlock pays at least: an atomic
/// read-modify-write to release as well (parking_lot and Linux's mutex do the same).
fn floor_rmw<const N: usize>(locks: &[BareLock; N]) {
    for l in locks {
        while l
            .word
            .compare_exchange(0, 8, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {}
    }
    for l in locks {
        // SAFETY: we hold the word.
        unsafe { *l.data.get() += 1 };
    }
    for l in locks {
        let _ = l
            .word
            .compare_exchange(8, 0, Ordering::Release, Ordering::Relaxed);
    }
}

fn ctx_fresh<const N: usize>(ms: &[Wd<u64>; N]) {
    let ctx = AcquireCtx::<WaitDie>::new();
    let mut gs: [_; N] = core::array::from_fn(|i| ctx.lock(&ms[i]).unwrap());
    for g in &mut gs {
        **g += 1;
    }
}

fn ctx_reused<const N: usize>(ctx: &AcquireCtx<WaitDie>, ms: &[Wd<u64>; N]) {
    let mut gs: [_; N] = core::array::from_fn(|i| ctx.lock(&ms[i]).unwrap());
    for g in &mut gs {
        **g += 1;
    }
}

fn uncontended_n<const N: usize>(c: &mut Criterion) {
    let mut g = c.benchmark_group("ww_uncontended");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    let bare: [BareLock; N] = core::array::from_fn(|_| BareLock {
        word: AtomicUsize::new(0),
        data: std::cell::UnsafeCell::new(0),
    });
    g.bench_function(BenchmarkId::new("floor_cas_store", N), |b| {
        b.iter(|| floor(black_box(&bare)))
    });
    g.bench_function(BenchmarkId::new("floor_cas_cas", N), |b| {
        b.iter(|| floor_rmw(black_box(&bare)))
    });
    let ms: [Wd<u64>; N] = core::array::from_fn(|_| WwMutex::new(0));
    g.bench_function(BenchmarkId::new("ctx_reused", N), |b| {
        let ctx = AcquireCtx::new();
        b.iter(|| ctx_reused(&ctx, black_box(&ms)))
    });
    g.bench_function(BenchmarkId::new("ctx_fresh", N), |b| {
        b.iter(|| ctx_fresh(black_box(&ms)))
    });
    g.bench_function(BenchmarkId::new("lockset", N), |b| {
        let ctx = AcquireCtx::new();
        let mut set = LockSet::with_capacity(&ctx, N);
        b.iter(|| {
            set.lock_all(|s| {
                for m in black_box(&ms) {
                    *s.lock(m)? += 1;
                }
                Ok::<_, WwError>(())
            })
            .unwrap();
            set.unlock_all();
        })
    });
    let pl: [parking_lot::Mutex<u64>; N] = core::array::from_fn(|_| parking_lot::Mutex::new(0));
    g.bench_function(BenchmarkId::new("parking_lot_sorted", N), |b| {
        b.iter(|| {
            let mut gs: [_; N] = core::array::from_fn(|i| black_box(&pl)[i].lock());
            for g in &mut gs {
                **g += 1;
            }
        })
    });
    g.finish();
}

fn uncontended(c: &mut Criterion) {
    eprintln!(
        "size_of WwMutex<()> = {} bytes, WwMutex<u64> = {} bytes, AcquireCtx = {} bytes, \
         WwGuard = {} bytes, parking_lot::Mutex<()> = {} bytes",
        size_of::<Wd<()>>(),
        size_of::<Wd<u64>>(),
        size_of::<AcquireCtx<WaitDie>>(),
        size_of::<dmasync_sync::ww::WwGuard<'static, u64, WaitDie>>(),
        size_of::<parking_lot::Mutex<()>>(),
    );
    uncontended_n::<1>(c);
    uncontended_n::<4>(c);
    uncontended_n::<16>(c);
}

/// Deterministic per-thread batches: K distinct random indices out of M, in random order.
fn make_batches(seed: u64, count: usize, k: usize, m: usize) -> Vec<Vec<usize>> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|_| {
            let mut v: Vec<usize> = Vec::with_capacity(k);
            while v.len() < k {
                let i = (next() % m as u64) as usize;
                if !v.contains(&i) {
                    v.push(i);
                }
            }
            v
        })
        .collect()
}

struct Workload {
    threads: usize,
    k: usize,
    m: usize,
}

const BATCHES_PER_THREAD: usize = 512;

/// Runs `iters` batches on each of `w.threads` threads; returns wall time / threads, so
/// criterion's time per iteration is the time per batch of the whole machine
/// (throughput = 1 / that).
fn run_ww<C: WwClass>(
    w: &Workload,
    iters: u64,
    ms: &[WwMutex<u64, C>],
    rollbacks: &AtomicU64,
) -> Duration {
    let batches: Vec<Vec<Vec<usize>>> = (0..w.threads)
        .map(|t| make_batches(t as u64 + 1, BATCHES_PER_THREAD, w.k, w.m))
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for b in &batches {
            s.spawn(move || {
                let mut rb = 0;
                for i in 0..iters as usize {
                    let set_idx = &b[i % b.len()];
                    let ctx = AcquireCtx::<C>::new();
                    let mut set = LockSet::with_capacity(&ctx, set_idx.len());
                    set.lock_all(|s| {
                        for &j in set_idx {
                            s.lock(&ms[j])?;
                        }
                        Ok::<_, WwError>(())
                    })
                    .unwrap();
                    for v in set.iter_mut() {
                        *v += 1;
                    }
                    rb += set.rollbacks();
                }
                rollbacks.fetch_add(rb, Ordering::Relaxed);
            });
        }
    });
    start.elapsed() / w.threads as u32
}

fn run_sorted(w: &Workload, iters: u64, ms: &[parking_lot::Mutex<u64>]) -> Duration {
    let batches: Vec<Vec<Vec<usize>>> = (0..w.threads)
        .map(|t| {
            let mut v = make_batches(t as u64 + 1, BATCHES_PER_THREAD, w.k, w.m);
            for set in &mut v {
                set.sort_unstable(); // index order = address order in one Vec
            }
            v
        })
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for b in &batches {
            s.spawn(move || {
                for i in 0..iters as usize {
                    let set_idx = &b[i % b.len()];
                    let mut gs = Vec::with_capacity(set_idx.len());
                    for &j in set_idx {
                        gs.push(ms[j].lock());
                    }
                    for g in &mut gs {
                        **g += 1;
                    }
                }
            });
        }
    });
    start.elapsed() / w.threads as u32
}

fn contended(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workloads = [
        Workload {
            threads: cores,
            k: 16,
            m: 1024,
        },
        Workload {
            threads: 2 * cores,
            k: 16,
            m: 256,
        },
        Workload {
            threads: 4 * cores,
            k: 8,
            m: 64,
        },
    ];
    for w in &workloads {
        let name = format!("ww_contended_T{}_K{}_M{}", w.threads, w.k, w.m);
        let mut g = c.benchmark_group(&name);
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_secs(2));
        g.sample_size(10);
        let pl: Vec<parking_lot::Mutex<u64>> =
            (0..w.m).map(|_| parking_lot::Mutex::new(0)).collect();
        g.bench_function("parking_lot_sorted", |b| {
            b.iter_custom(|iters| run_sorted(w, iters, &pl))
        });
        for (label, wait_die) in [("wait_die", true), ("wound_wait", false)] {
            let rollbacks = AtomicU64::new(0);
            let batches = AtomicU64::new(0);
            if wait_die {
                let ms: Vec<WwMutex<u64, WaitDie>> = (0..w.m).map(|_| WwMutex::new(0)).collect();
                g.bench_function(label, |b| {
                    b.iter_custom(|iters| {
                        batches.fetch_add(iters * w.threads as u64, Ordering::Relaxed);
                        run_ww(w, iters, &ms, &rollbacks)
                    })
                });
            } else {
                let ms: Vec<WwMutex<u64, WoundWait>> = (0..w.m).map(|_| WwMutex::new(0)).collect();
                g.bench_function(label, |b| {
                    b.iter_custom(|iters| {
                        batches.fetch_add(iters * w.threads as u64, Ordering::Relaxed);
                        run_ww(w, iters, &ms, &rollbacks)
                    })
                });
            }
            let rb = rollbacks.load(Ordering::Relaxed);
            let n = batches.load(Ordering::Relaxed).max(1);
            eprintln!(
                "{name}/{label}: {rb} rollbacks over {n} batches = {:.4} per batch",
                rb as f64 / n as f64
            );
        }
        g.finish();
    }
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
