//! Unit tests of the lock path's all-or-nothing publish (single-threaded: Miri runs them).

use std::vec::Vec;

use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_hal::sim::{NonCoherentSim, SimConfig};

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
    let sim = NonCoherentSim::new(SimConfig::default());
    let dev: DeviceId = sim.add_device("g2d", Coherency::NonCoherent);
    let d: SyncDomain<P, &NonCoherentSim, &NonCoherentSim> =
        SyncDomain::new(&sim, &sim, SyncConfig::default());
    let a = d
        .buffer("a", sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let b = d
        .buffer("b", sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap())
        .unwrap();

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
