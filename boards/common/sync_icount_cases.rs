//! The cases of the `sync_icount` on-target benchmark, shared by every board's bench image
//! (`#[path]`-included from boards/*/benches/sync_icount.rs): instructions per dmasync
//! operation, each case run [`ITERS`] times between two reads of the board's instruction
//! counter. Baselines measured in the same run: an empty loop, the acquire context alone, and
//! the acquire context + `LockSet` over as many reservation locks (step 1 of
//! `SyncSet::lock`, the host benchmark's baseline; standalone objects, since a buffer's own is
//! locked only by its sync sets); `fence_forget` for the signal loop's own cost.

use alloc::vec::Vec;
use core::fmt;
use core::hint::black_box;

use dmasync_hal::dma::{Coherency, DmaMemory, MemorySystem};
use dmasync_protocol::bench;
use dmasync_sync::ReservationObject;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncDomain};
use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WwError};
use dmasync_sync::{Fence, FenceProducer};

/// Iterations per case.
pub const ITERS: u32 = 1000;
const BUF_BYTES: usize = 4096;
/// Set sizes measured: 1, 4 and 16 buffers.
const SIZES: [usize; 3] = [1, 4, 16];
const MAX_BUFS: usize = 16;

/// What the cases need from the board.
pub trait Target {
    /// Instructions for [`ITERS`] runs of `f`, interrupts masked (generic, so the case is
    /// inlined into the board's loop as a hand-written loop would be).
    fn measure<F: FnMut()>(&self, f: F) -> u64;
    /// Prints a plain-text line.
    fn println(&self, args: fmt::Arguments<'_>);
    /// Reports a set-up failure and exits.
    fn fail(&self, args: fmt::Arguments<'_>) -> !;
}

/// Prints one case; returns instructions per iteration in tenths.
fn report(t: &impl Target, name: &str, total: u64) -> u64 {
    let tenths = (total * 10 + u64::from(ITERS) / 2) / u64::from(ITERS);
    let detail = bench::PerIteration {
        iterations: ITERS,
        tenths,
    };
    t.println(format_args!(
        "{}",
        bench::Bench {
            case: name,
            instructions: total,
            detail
        }
    ));
    tenths
}

fn ratio(t: &impl Target, name: &str, op: u64, base: u64) {
    let hundredths = bench::Ratio::hundredths_of(op, base);
    t.println(format_args!(
        "{}",
        bench::Ratio {
            case: name,
            hundredths
        }
    ));
}

/// Prints the per-operation figure of one case.
fn result(t: &impl Target, case: &str, instructions: u64) {
    let figure = bench::Result {
        case,
        instructions,
        per: "op",
        detail: "",
    };
    t.println(format_args!("{figure}"));
}

fn buffers<M: MemorySystem>(
    t: &impl Target,
    domain: &'static SyncDomain<M>,
    heap: &impl DmaMemory,
    n: usize,
) -> Vec<SyncBuffer> {
    let names = [
        "b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "b11", "b12", "b13",
        "b14", "b15",
    ];
    (0..n)
        .map(|i| {
            let region = heap
                .alloc(BUF_BYTES, Coherency::Coherent)
                .unwrap_or_else(|e| t.fail(format_args!("region: {e}")));
            domain
                .buffer(names[i], region)
                .unwrap_or_else(|e| t.fail(format_args!("buffer: {e}")))
        })
        .collect()
}

/// Runs every case against `domain` (buffers from `heap`) and prints the figures, the
/// per-operation results and the ratios; the caller prints `bench::DONE`.
pub fn run<M: MemorySystem>(
    t: &impl Target,
    domain: &'static SyncDomain<M>,
    heap: &impl DmaMemory,
) {
    let bufs: &'static [SyncBuffer] = alloc::vec::Vec::leak(buffers(t, domain, heap, MAX_BUFS));
    let resvs: &'static [ReservationObject] =
        alloc::vec::Vec::leak((0..MAX_BUFS).map(|_| ReservationObject::new()).collect());

    let empty = report(t, "empty", t.measure(|| black_box(())));
    let ctx = report(
        t,
        "acquire_ctx",
        t.measure(|| {
            black_box(AcquireCtx::<WaitDie>::new());
        }),
    );

    let mut lockset = [0u64; SIZES.len()];
    let mut syncset = [0u64; SIZES.len()];
    let lockset_names = [
        "acquire_ctx_lockset_1",
        "acquire_ctx_lockset_4",
        "acquire_ctx_lockset_16",
    ];
    let syncset_names = [
        "syncset_lock_unlock_1",
        "syncset_lock_unlock_4",
        "syncset_lock_unlock_16",
    ];
    for (k, n) in SIZES.into_iter().enumerate() {
        let mine = &bufs[..n];
        let base = t.measure(|| {
            let ctx: AcquireCtx<WaitDie> = AcquireCtx::new();
            let mut s = LockSet::with_capacity(&ctx, n);
            let r = s.lock_all(|s| {
                for r in &resvs[..n] {
                    s.lock(r.ww_mutex())?;
                }
                Ok::<(), WwError>(())
            });
            black_box(r).ok();
        });
        lockset[k] = report(t, lockset_names[k], base);
        let mut set = domain.set();
        for b in mine {
            if let Err(e) = set.add(b, Access::CPU_WRITE) {
                t.fail(format_args!("add: {e}"));
            }
        }
        // One lock outside the measurement: the first lock builds the set's name list.
        if let Err(e) = set.lock().and_then(|l| l.unlock()) {
            t.fail(format_args!("warm-up lock: {e}"));
        }
        let mut failures = 0u32;
        let total = t.measure(|| {
            if set.lock().and_then(|l| l.unlock()).is_err() {
                failures += 1;
            }
        });
        if failures > 0 {
            t.fail(format_args!("{failures} uncontended locks failed"));
        }
        syncset[k] = report(t, syncset_names[k], total);
    }

    // Fence signal: producers made beforehand (each with its fence handle kept, as a waiter
    // would); the loop pops and signals. Its own cost is the same loop that forgets instead.
    let make = || -> (Vec<FenceProducer>, Vec<Fence>) {
        let p: Vec<FenceProducer> = (0..ITERS).map(|_| FenceProducer::one_off()).collect();
        let f = p.iter().map(FenceProducer::fence).collect();
        (p, f)
    };
    let (mut ps, fs) = make();
    let forget = report(
        t,
        "fence_forget",
        t.measure(|| {
            if let Some(p) = ps.pop() {
                core::mem::forget(black_box(p));
            }
        }),
    );
    drop(fs);
    let (mut ps, fs) = make();
    let signal = report(
        t,
        "fence_signal",
        t.measure(|| {
            if let Some(p) = ps.pop() {
                p.signal();
            }
        }),
    );
    if !fs.iter().all(Fence::is_signalled) {
        t.fail(format_args!("a measured fence did not signal"));
    }
    let done = FenceProducer::one_off();
    let fence = done.fence();
    done.signal();
    let wait = report(
        t,
        "fence_wait_signalled",
        t.measure(|| {
            black_box(fence.wait()).ok();
        }),
    );

    // Per-operation figures (tenths of an instruction) and ratios against the baselines.
    let per = |x: u64, base: u64| x.saturating_sub(base);
    for k in 0..SIZES.len() {
        result(t, syncset_names[k], per(syncset[k], empty) / 10);
        result(t, lockset_names[k], per(lockset[k], empty) / 10);
    }
    result(t, "acquire_ctx", per(ctx, empty) / 10);
    result(t, "fence_signal", per(signal, forget) / 10);
    result(t, "fence_wait_signalled", per(wait, empty) / 10);
    let ratio_names = [
        "syncset_lock_unlock_1 / acquire_ctx_lockset_1",
        "syncset_lock_unlock_4 / acquire_ctx_lockset_4",
        "syncset_lock_unlock_16 / acquire_ctx_lockset_16",
    ];
    for k in 0..SIZES.len() {
        ratio(
            t,
            ratio_names[k],
            per(syncset[k], empty),
            per(lockset[k], empty),
        );
    }
}
