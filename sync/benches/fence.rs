//! Fence benchmarks against std baselines measured in the same run.
//!
//! - `signal_no_waiter`: signal a fence nobody waits on, vs `Mutex<bool>` + `Condvar`
//!   (set + notify_all) and a one-shot `mpsc` send.
//! - `signal_one_callback`: signal with one queued callback, vs a `Mutex`-protected list of
//!   boxed callbacks (what a std-only fence would do) and `Mutex` + `Condvar`.
//! - `wake_round_trip`: a blocked thread is woken, then wakes us back (two signal-to-wake
//!   latencies), vs `Mutex` + `Condvar` pairs and one-shot `mpsc` channels.
//!
//! Run: `cargo bench -p dmasync-sync --bench fence -- --measurement-time 2 --warm-up-time 1`.

use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dmasync_sync::fence::{FenceCallback, Timeline};
use dmasync_sync::resv::ReservationObject;
use dmasync_sync::{Fence, FenceProducer, FenceResult};

type Flag = Arc<(Mutex<bool>, Condvar)>;

fn flag() -> Flag {
    Arc::new((Mutex::new(false), Condvar::new()))
}

fn set(f: &Flag) {
    *f.0.lock().unwrap() = true;
    f.1.notify_all();
}

fn wait(f: &Flag) {
    let mut g = f.0.lock().unwrap();
    while !*g {
        g = f.1.wait(g).unwrap();
    }
}

fn signal_no_waiter(c: &mut Criterion) {
    let mut g = c.benchmark_group("signal_no_waiter");
    let t = Timeline::new();
    g.bench_function("dmasync_fence", |b| {
        b.iter_batched(
            || {
                let p = t.next_fence();
                let f = p.fence();
                (p, f)
            },
            |(p, f)| {
                p.signal();
                f // dropped outside the timed part
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("std_mutex_condvar", |b| {
        b.iter_batched(
            flag,
            |f| {
                set(&f);
                f
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("std_mpsc_oneshot", |b| {
        b.iter_batched(
            mpsc::channel::<()>,
            |(tx, rx)| {
                tx.send(()).unwrap();
                rx
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

type BoxedCb = Box<dyn FnOnce(FenceResult) + Send>;

fn signal_one_callback(c: &mut Criterion) {
    let mut g = c.benchmark_group("signal_one_callback");
    let t = Timeline::new();
    let hits = Arc::new(AtomicUsize::new(0));
    type Cb = Pin<Box<FenceCallback<Box<dyn FnMut(FenceResult) + Send>>>>;
    g.bench_function("dmasync_fence", |b| {
        b.iter_batched(
            || {
                let p = t.next_fence();
                let h = hits.clone();
                let f: Box<dyn FnMut(FenceResult) + Send> = Box::new(move |_| {
                    h.fetch_add(1, Ordering::Relaxed);
                });
                let mut cb: Cb = Box::pin(FenceCallback::new(f));
                p.fence().add_callback(cb.as_mut()).unwrap();
                (p, cb)
            },
            |(p, cb)| {
                p.signal();
                cb
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("std_mutex_boxed_callback_list", |b| {
        b.iter_batched(
            || {
                let h = hits.clone();
                let list: Arc<Mutex<(bool, Vec<BoxedCb>)>> =
                    Arc::new(Mutex::new((false, Vec::with_capacity(1))));
                list.lock().unwrap().1.push(Box::new(move |_| {
                    h.fetch_add(1, Ordering::Relaxed);
                }));
                list
            },
            |list| {
                let cbs = {
                    let mut g = list.lock().unwrap();
                    g.0 = true;
                    std::mem::take(&mut g.1)
                };
                for cb in cbs {
                    cb(Ok(()));
                }
                list
            },
            BatchSize::SmallInput,
        )
    });
    // The same list, plus the signal timestamp a fence records (same functionality).
    g.bench_function("std_mutex_boxed_callback_list_timestamped", |b| {
        b.iter_batched(
            || {
                let h = hits.clone();
                type Stamped = (Option<std::time::Instant>, Vec<BoxedCb>);
                let list: Arc<Mutex<Stamped>> = Arc::new(Mutex::new((None, Vec::with_capacity(1))));
                list.lock().unwrap().1.push(Box::new(move |_| {
                    h.fetch_add(1, Ordering::Relaxed);
                }));
                list
            },
            |list| {
                let now = std::time::Instant::now();
                let cbs = {
                    let mut g = list.lock().unwrap();
                    g.0 = Some(now);
                    std::mem::take(&mut g.1)
                };
                for cb in cbs {
                    cb(Ok(()));
                }
                list
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("std_mutex_condvar", |b| {
        b.iter_batched(
            flag,
            |f| {
                set(&f);
                f
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    black_box(hits.load(Ordering::Relaxed));
}

/// Times `iters` round trips: we wake the worker through `req[i]`, it wakes us through
/// `ack[i]`. Each side blocks in its primitive's wait.
fn round_trips<T: Send + 'static>(
    iters: u64,
    make: impl Fn() -> (T, T),
    signal: impl Fn(&T) + Send + Sync + Copy + 'static,
    wait: impl Fn(&T) + Send + Sync + Copy + 'static,
) -> Duration {
    let (req_mine, req_theirs): (Vec<T>, Vec<T>) = (0..iters).map(|_| make()).unzip();
    let (ack_mine, ack_theirs): (Vec<T>, Vec<T>) = (0..iters).map(|_| make()).unzip();
    let ready = Arc::new(std::sync::Barrier::new(2));
    let r = ready.clone();
    let worker = thread::spawn(move || {
        r.wait();
        for (req, ack) in req_theirs.iter().zip(ack_theirs.iter()) {
            wait(req);
            signal(ack);
        }
    });
    ready.wait();
    let start = Instant::now();
    for (req, ack) in req_mine.iter().zip(ack_mine.iter()) {
        signal(req);
        wait(ack);
    }
    let elapsed = start.elapsed();
    worker.join().unwrap();
    elapsed
}

/// A fence "pair": the producer end (in an Option so `signal` can take it) and a waiter.
struct FencePair {
    producer: Mutex<Option<FenceProducer>>,
    fence: Fence,
}

fn wake_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("wake_round_trip");
    g.sample_size(20);
    g.bench_function("dmasync_fence", |b| {
        b.iter_custom(|iters| {
            round_trips(
                iters,
                || {
                    let p = FenceProducer::one_off();
                    let fence = p.fence();
                    let pair = Arc::new(FencePair {
                        producer: Mutex::new(Some(p)),
                        fence,
                    });
                    (pair.clone(), pair)
                },
                |p: &Arc<FencePair>| {
                    // The lock only hands the producer to this thread (uncontended).
                    let producer = p.producer.lock().unwrap().take().unwrap();
                    producer.signal();
                },
                |p: &Arc<FencePair>| {
                    p.fence.wait().unwrap();
                },
            )
        })
    });
    g.bench_function("std_mutex_condvar", |b| {
        b.iter_custom(|iters| {
            round_trips(
                iters,
                || {
                    let f = flag();
                    (f.clone(), f)
                },
                |f: &Flag| set(f),
                |f: &Flag| wait(f),
            )
        })
    });
    g.bench_function("std_mpsc_oneshot", |b| {
        type Chan = Arc<(Mutex<Option<mpsc::Sender<()>>>, Mutex<mpsc::Receiver<()>>)>;
        b.iter_custom(|iters| {
            round_trips(
                iters,
                || {
                    let (tx, rx) = mpsc::channel();
                    let ch: Chan = Arc::new((Mutex::new(Some(tx)), Mutex::new(rx)));
                    (ch.clone(), ch)
                },
                |c: &Chan| {
                    let tx = c.0.lock().unwrap().take().unwrap();
                    tx.send(()).unwrap();
                },
                |c: &Chan| {
                    c.1.lock().unwrap().recv().unwrap();
                },
            )
        })
    });
    g.finish();
}

/// What the signal timestamp costs: one read of the platform clock.
fn clock_read(c: &mut Criterion) {
    use dmasync_hal::platform;
    c.bench_function("clock_read/platform_now", |b| {
        b.iter(|| black_box(platform::now()))
    });
}

fn sizes(_c: &mut Criterion) {
    eprintln!(
        "sizes: Fence handle {} B, FenceProducer {} B, fence allocation {} B (incl. 2 refcounts), \
         ReservationObject<_, 8> {} B, ReservationObject<_, 4> {} B",
        std::mem::size_of::<Fence>(),
        std::mem::size_of::<FenceProducer>(),
        dmasync_sync::fence::shared_size(),
        std::mem::size_of::<ReservationObject<8>>(),
        std::mem::size_of::<ReservationObject<4>>(),
    );
}

criterion_group!(
    benches,
    sizes,
    clock_read,
    signal_no_waiter,
    signal_one_callback,
    wake_round_trip
);
criterion_main!(benches);
