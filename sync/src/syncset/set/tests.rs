//! Unit tests of the lock path's all-or-nothing publish (single-threaded: Miri runs them).

use std::vec::Vec;

use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DirectMemory, DmaRegion};

use super::*;
use crate::fence::FenceStatus;
use crate::platform::StdPlatform as P;
use crate::syncset::{SyncConfig, SyncDomain};

const LINE: usize = 64;

fn fence_ids(buf: &SyncBuffer<P>) -> Vec<(u64, u64, Usage)> {
    let mut v: Vec<_> = buf
        .reservation()
        .fences(Usage::Bookkeep)
        .map(|(f, u)| (f.context().id(), f.seqno(), u))
        .collect();
    v.sort();
    v
}

/// A lock that finds no fence slot on its second buffer fails with `Congested` naming it,
/// and leaves the first buffer as it was: no fence of the failed lock stays published,
/// the fences a reader may have seen are complete, no maintenance ran, and the coherency
/// state is untouched (the next lock performs the clean the failed one did not).
#[test]
fn a_congested_lock_publishes_nothing_and_plans_nothing() {
    // No byte is accessed (no guard is taken), so the regions need no memory behind them;
    // the domain counts the planned maintenance even though `CoherentNoop` performs none.
    let region = |at: usize| {
        DmaRegion::new(
            at,
            BusAddr(at as u64),
            4 * LINE,
            Coherency::NonCoherent,
            LINE,
        )
        .unwrap()
    };
    let dev = DeviceId(0);
    let d: SyncDomain<P, CoherentNoop, DirectMemory> = SyncDomain::new(
        CoherentNoop { line_size: LINE },
        DirectMemory,
        SyncConfig::default(),
    );
    let a = d.buffer("a", region(0x10_0000)).unwrap();
    let b = d.buffer("b", region(0x20_0000)).unwrap();

    // The CPU writes `a`, so a device read of it needs a clean (and a `ready` fence).
    let mut draw = d.set();
    draw.add(&a, Access::CPU_WRITE).unwrap();
    draw.lock().unwrap().unlock().unwrap();

    // `b` is full of pending fences from other timelines (bookkeeping: nobody waits for
    // them, but they take every slot).
    let blockers: Vec<_> = (0..b.reservation().capacity())
        .map(|_| crate::fence::Timeline::<P>::new().next_fence())
        .collect();
    {
        let g = b.reservation().lock();
        for p in &blockers {
            let [s] = g.reserve::<1>().unwrap();
            s.add(&p.fence(), Usage::Bookkeep);
        }
    }

    let before = fence_ids(&a);
    let stats = d.stats();
    let mut blit = d.set();
    blit.add(&a, Access::dma_read(dev)).unwrap();
    blit.add(&b, Access::dma_write(dev)).unwrap();
    assert!(matches!(
        blit.lock(),
        Err(SyncError::Congested { buffer: "b" })
    ));
    // Only fences that were there before remain (a signalled one may have been pruned).
    assert!(
        fence_ids(&a).iter().all(|f| before.contains(f)),
        "nothing of the failed lock stays on `a`: {:?} vs {before:?}",
        fence_ids(&a)
    );
    assert!(a.is_idle());
    let after = d.stats();
    assert_eq!(
        (after.locks, after.cache_ops),
        (stats.locks, stats.cache_ops)
    );

    // Room again: the same set locks, and `a` still needs (and gets) its clean.
    for p in blockers {
        p.signal();
    }
    let locked = blit.lock().unwrap();
    assert_eq!(d.stats().cache_ops, stats.cache_ops + 1);
    let done = locked.done_fence();
    locked.unlock().unwrap();
    assert_eq!(done.status(), FenceStatus::Ok);
}
