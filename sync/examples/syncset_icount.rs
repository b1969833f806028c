//! Host instruction counts of an uncontended sync-set lock + unlock and of the two
//! baselines of `benches/syncset.rs`, for callgrind (doc/benchmarks.md, "Lock + unlock
//! overhead (host)"):
//!
//! ```text
//! cargo build --release -p dmasync-sync --example syncset_icount
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='syncset_icount::measure' \
//!     target/release/examples/syncset_icount <case> <buffers>
//! ```
//!
//! `<case>` is `syncset` (`NonCoherent` buffers; `syncset_coherent`: `Coherent` ones, as
//! on target), `lockset` (acquire ctx + `LockSet`) or `publish` (acquire ctx +
//! publish of one job fence); `<buffers>` the number of buffers (1, 4, 16). The
//! uncontended ww cases of `benches/ww.rs` run the same way, `<buffers>` being the number
//! of mutexes: `ww_floor` (one CAS to lock and one release store to unlock each),
//! `ww_reused` (lock + unlock through one long-lived acquire context) and `ww_fresh` (a new
//! context per transaction). `measure` runs
//! the case `N` times after one warm-up run, so callgrind's total over `N` is the count per
//! operation. The count is the same on every run: instructions, not time.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{Coherency, DirectMemory, DmaMemory, DmaRegion, HeapDma};
use dmasync_sync::ReservationObject;
use dmasync_sync::fence::Timeline;
use dmasync_sync::resv::Usage;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain, SyncSet};
use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WwError, WwGuard, WwMutex};

/// Operations per measured run.
pub const N: usize = 10_000;
const LINE: usize = 64;
type Domain = SyncDomain<DirectMemory<CoherentNoop>>;

fn host_region(coherency: Coherency) -> DmaRegion {
    // SAFETY: host measurement: only `DirectMemory` reaches the memory, at its address,
    // and host memory is coherent.
    let heap = unsafe { HeapDma::identity_mapped(CoherentNoop { line_size: LINE }) };
    heap.alloc(4096, coherency).expect("host heap")
}

fn lockset(objs: &[ReservationObject]) {
    let ctx: AcquireCtx<WaitDie> = AcquireCtx::new();
    let mut locks = LockSet::with_capacity(&ctx, objs.len());
    locks
        .lock_all(|s| {
            for obj in black_box(objs) {
                s.lock(obj.ww_mutex())?;
            }
            Ok::<(), WwError>(())
        })
        .expect("uncontended");
}

fn publish(objs: &[ReservationObject]) {
    let job = Timeline::new().next_fence();
    let fence = job.fence();
    let ctx: AcquireCtx<WaitDie> = AcquireCtx::new();
    let mut locks = LockSet::with_capacity(&ctx, objs.len());
    locks
        .lock_all(|s| {
            for obj in black_box(objs) {
                s.lock(obj.ww_mutex())?;
            }
            Ok::<(), WwError>(())
        })
        .expect("uncontended");
    for obj in objs {
        let g = obj.locked_in(&mut locks).expect("locked");
        let [slot] = g.reserve::<1>().expect("room");
        slot.add(&fence, Usage::Write);
    }
    drop(locks);
    job.signal();
}

/// The floor of `benches/ww.rs`: a compare-and-swap to take each word, a release store to
/// give it back.
fn ww_floor(words: &[AtomicUsize]) {
    for w in black_box(words) {
        floor_lock_one(w);
    }
    for w in black_box(words) {
        floor_unlock_one(w);
    }
}

// One lock and one unlock each, out of line, so callgrind's inclusive cost of these four
// functions compares the ww fast path with the floor without the harness around them (the
// guards' array, `black_box`): `callgrind_annotate --inclusive=yes`, per call.

#[inline(never)]
fn floor_lock_one(w: &AtomicUsize) {
    while w
        .compare_exchange(0, 8, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {}
}

#[inline(never)]
fn floor_unlock_one(w: &AtomicUsize) {
    w.store(0, Ordering::Release);
}

#[inline(never)]
fn ww_lock_one<'a>(
    ctx: &'a AcquireCtx<WaitDie>,
    m: &'a WwMutex<u64, WaitDie>,
) -> WwGuard<'a, u64, WaitDie> {
    ctx.lock(m).expect("uncontended")
}

#[inline(never)]
fn ww_unlock_one(g: WwGuard<'_, u64, WaitDie>) {
    drop(g);
}

/// Locks `N` mutexes through `ctx`, then unlocks them, as `benches/ww.rs` does.
fn ww_lock_all<const N: usize>(ctx: &AcquireCtx<WaitDie>, ms: &[WwMutex<u64, WaitDie>; N]) {
    let ms = black_box(ms);
    let guards: [WwGuard<'_, u64, WaitDie>; N] = core::array::from_fn(|i| ww_lock_one(ctx, &ms[i]));
    for g in black_box(guards) {
        ww_unlock_one(g);
    }
}

/// `ww_reused` or `ww_fresh` on `N` mutexes.
fn ww_case<const N: usize>(fresh: bool) {
    let ms: [WwMutex<u64, WaitDie>; N] = core::array::from_fn(|i| WwMutex::new(i as u64));
    if fresh {
        let mut run = || ww_lock_all(&AcquireCtx::new(), &ms);
        run();
        measure(&mut run);
    } else {
        let ctx = AcquireCtx::new();
        let mut run = || ww_lock_all(&ctx, &ms);
        run();
        measure(&mut run);
    }
}

fn syncset(set: &mut SyncSet<'_, DirectMemory<CoherentNoop>>) {
    let locked = black_box(set).lock().expect("uncontended");
    locked.unlock().expect("held");
}

/// The collected function: `N` runs of `f`.
#[inline(never)]
fn measure(f: &mut dyn FnMut()) {
    for _ in 0..N {
        f();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (case, n) = match args.as_slice() {
        [_, case, n] => (
            case.as_str(),
            n.parse::<usize>().expect("buffers: a number"),
        ),
        _ => panic!(
            "usage: syncset_icount syncset|lockset|publish|ww_floor|ww_reused|ww_fresh <buffers>"
        ),
    };
    let domain: &'static Domain = Box::leak(Box::new(SyncDomain::new(
        DirectMemory(CoherentNoop { line_size: LINE }),
        SyncConfig::default(),
    )));
    let objs: Vec<ReservationObject> = (0..n).map(|_| ReservationObject::new()).collect();
    match case {
        "lockset" => {
            lockset(&objs);
            measure(&mut || lockset(&objs));
        }
        "publish" => {
            publish(&objs);
            measure(&mut || publish(&objs));
        }
        "syncset" | "syncset_coherent" => {
            // `syncset_coherent`: `Coherent` buffers, as in the boards' bench image.
            let coherency = if case == "syncset" {
                Coherency::NonCoherent
            } else {
                Coherency::Coherent
            };
            let bufs: Vec<SyncBuffer> = (0..n)
                .map(|_| {
                    domain
                        .buffer("buf", host_region(coherency))
                        .expect("aligned")
                })
                .collect();
            let mut set = domain.set();
            for b in &bufs {
                set.add(b, Access::CPU_WRITE).expect("registers");
            }
            syncset(&mut set);
            measure(&mut || syncset(&mut set));
        }
        "ww_floor" => {
            let words: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            ww_floor(&words);
            measure(&mut || ww_floor(&words));
        }
        "ww_reused" | "ww_fresh" => match n {
            1 => ww_case::<1>(case == "ww_fresh"),
            4 => ww_case::<4>(case == "ww_fresh"),
            16 => ww_case::<16>(case == "ww_fresh"),
            _ => panic!("ww cases: 1, 4 or 16 mutexes"),
        },
        other => panic!(
            "unknown case {other:?}: syncset, lockset, publish, ww_floor, ww_reused or ww_fresh"
        ),
    }
}
