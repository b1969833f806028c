//! Host instruction counts of the fence's hot paths, for callgrind (doc/benchmarks.md,
//! "Fence paths on the host, callgrind"):
//!
//! ```text
//! cargo build --release -p dmasync-sync --example fence_icount
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='fence_icount::measure_*' \
//!     target/release/examples/fence_icount
//! ```
//!
//! Each `measure_*` function runs one operation `N` times over values made beforehand
//! (outside the collected functions); callgrind's total divided by `N` and by the number of
//! measured functions is not meaningful, so each is run alone: pass its name as the only
//! argument (`signal`, `signal_callback`, `wait_signalled`, `add_callback`, `status_pending`).
//! The count is the same on every run: instructions, not time.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::pin::Pin;

use dmasync_sync::fence::{FenceCallback, Timeline};
use dmasync_sync::{Fence, FenceProducer, FenceResult};

const N: usize = 10_000;

type Cb = Pin<Box<FenceCallback<fn(FenceResult)>>>;

fn noop(_: FenceResult) {}

#[inline(never)]
fn measure_signal(ps: Vec<FenceProducer>) {
    for p in ps {
        p.signal();
    }
}

#[inline(never)]
fn measure_signal_callback(ps: Vec<FenceProducer>) {
    for p in ps {
        p.signal();
    }
}

#[inline(never)]
fn measure_wait_signalled(f: &Fence) {
    for _ in 0..N {
        let _ = black_box(f.wait());
    }
}

#[inline(never)]
fn measure_add_callback(fs: &[Fence], cbs: &mut [Cb]) {
    for (f, cb) in fs.iter().zip(cbs.iter_mut()) {
        let _ = black_box(f.add_callback(cb.as_mut()));
    }
}

#[inline(never)]
fn measure_status_pending(f: &Fence) {
    for _ in 0..N {
        black_box(f.status());
    }
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let t = Timeline::new();
    let ps: Vec<FenceProducer> = (0..N).map(|_| t.next_fence()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let mut cbs: Vec<Cb> = (0..N)
        .map(|_| Box::pin(FenceCallback::new(noop as fn(FenceResult))))
        .collect();
    match what.as_str() {
        "signal" => measure_signal(ps),
        "signal_callback" => {
            for (f, cb) in fs.iter().zip(cbs.iter_mut()) {
                f.add_callback(cb.as_mut()).expect("pending");
            }
            measure_signal_callback(ps);
        }
        "wait_signalled" => {
            let p = t.next_fence();
            let f = p.fence();
            p.signal();
            measure_wait_signalled(&f);
        }
        "add_callback" => measure_add_callback(&fs, &mut cbs),
        "status_pending" => measure_status_pending(&fs[0]),
        other => {
            eprintln!(
                "unknown case {other:?}: signal, signal_callback, wait_signalled, add_callback, status_pending"
            );
            std::process::exit(2);
        }
    }
    drop(cbs);
    drop(fs);
    println!("{what}: {N} operations");
}
