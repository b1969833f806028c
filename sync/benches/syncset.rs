//! Sync-set benchmarks (criterion; `cargo bench -p dmasync-sync --bench syncset`).
//!
//! Uncontended lock + unlock of a sync set of N = 1, 4, 16 buffers (CPU write access,
//! registered once, locked and unlocked each iteration), against two baselines on the sync
//! core alone, in the same run:
//!
//! - `acquire_ctx_lockset` (the target's baseline): a fresh `AcquireCtx` and `LockSet`
//!   locking as many reservation ww-mutexes (of standalone `ReservationObject`s, the type
//!   each buffer carries: a buffer's own is locked by its sync sets only), then unlocking
//!   them — step 1 of `SyncSet::lock`, without the fences, the coherency plan and the
//!   holder;
//! - `acquire_ctx_publish`: what a driver that uses the sync core directly does for one
//!   job on as many objects — a new fence on a fresh timeline, the same lock, per buffer
//!   `reserve::<1>` and `add` of the fence as a writer, unlock, and the fence signalled at
//!   the end of the job. A sync set publishes (and signals) such a fence too; the difference
//!   to this baseline is the sync-set layer itself (maintenance planning, holder and
//!   watchdog registration, deadline, guards).
//!
//! The domain uses `CoherentNoop` and `DirectMemory` over real host memory (leaked,
//! 64-byte-aligned allocations), so the simulator's cost is not measured.
//!
//! Measurement times are short on purpose: the machine has 2 cores shared with other
//! builds, so compare ratios within one run, not absolute times across runs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{Coherency, DirectMemory, DmaMemory, DmaRegion, HeapDma};
use dmasync_sync::ReservationObject;
use dmasync_sync::fence::Timeline;
use dmasync_sync::resv::Usage;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};
use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WwError};

const LINE: usize = 64;
const BUFFER_BYTES: usize = 4096;

type Domain = SyncDomain<DirectMemory<CoherentNoop>>;

/// A region of host heap (`DirectMemory` reaches it at its address).
fn host_region() -> DmaRegion {
    // SAFETY: host benchmark: only `DirectMemory` reaches the memory, at its address, and
    // host memory is coherent.
    let heap = unsafe { HeapDma::identity_mapped(CoherentNoop { line_size: LINE }) };
    heap.alloc(BUFFER_BYTES, Coherency::NonCoherent)
        .expect("host heap")
}

fn lock_unlock_n(c: &mut Criterion, n: usize) {
    let mut g = c.benchmark_group("syncset_uncontended");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    let domain: &'static Domain = Box::leak(Box::new(SyncDomain::new(
        DirectMemory(CoherentNoop { line_size: LINE }),
        SyncConfig::default(),
    )));
    let bufs: &'static [SyncBuffer] = Vec::leak(
        (0..n)
            .map(|_| domain.buffer("buf", host_region()).expect("aligned"))
            .collect(),
    );

    // The baselines lock standalone reservation objects, the type every buffer carries:
    // a buffer's own is locked only by its sync sets.
    let objs: &'static [ReservationObject] =
        Vec::leak((0..n).map(|_| ReservationObject::new()).collect());
    g.bench_function(BenchmarkId::new("acquire_ctx_lockset", n), |b| {
        b.iter(|| {
            let ctx: AcquireCtx<WaitDie> = AcquireCtx::new();
            let mut locks = LockSet::with_capacity(&ctx, n);
            locks
                .lock_all(|s| {
                    for obj in black_box(objs) {
                        s.lock(obj.ww_mutex())?;
                    }
                    Ok::<(), WwError>(())
                })
                .expect("uncontended");
            drop(locks);
        })
    });

    // A separate group of objects, so the fences this baseline leaves behind do not fill
    // the first group's slots.
    let pub_objs: &'static [ReservationObject] =
        Vec::leak((0..n).map(|_| ReservationObject::new()).collect());
    g.bench_function(BenchmarkId::new("acquire_ctx_publish", n), |b| {
        b.iter(|| {
            let job = Timeline::new().next_fence();
            let fence = job.fence();
            let ctx: AcquireCtx<WaitDie> = AcquireCtx::new();
            let mut locks = LockSet::with_capacity(&ctx, n);
            locks
                .lock_all(|s| {
                    for obj in black_box(pub_objs) {
                        s.lock(obj.ww_mutex())?;
                    }
                    Ok::<(), WwError>(())
                })
                .expect("uncontended");
            for obj in pub_objs {
                let g = obj.locked_in(&mut locks).expect("locked");
                let [slot] = g.reserve::<1>().expect("room");
                slot.add(&fence, Usage::Write);
            }
            drop(locks);
            job.signal();
        })
    });

    let mut set = domain.set();
    for buf in bufs {
        set.add(buf, Access::CPU_WRITE).expect("registers");
    }
    g.bench_function(BenchmarkId::new("syncset_lock_unlock", n), |b| {
        b.iter(|| {
            let locked = black_box(&mut set).lock().expect("uncontended");
            locked.unlock().expect("held");
        })
    });
    g.finish();
}

fn uncontended(c: &mut Criterion) {
    for n in [1, 4, 16] {
        lock_unlock_n(c, n);
    }
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
