//! Unit tests of the lock path's all-or-nothing publish (single-threaded: Miri runs them).

use std::vec::Vec;

use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};

use super::*;
use crate::fence::FenceStatus;
use crate::syncset::{SyncConfig, SyncDomain};

const LINE: usize = 64;

/// A small simulated memory (small, so Miri builds it quickly).
fn sim() -> NonCoherentSim {
    NonCoherentSim::new(SimConfig {
        dram_size: 64 * LINE,
        line_size: LINE,
        eviction: Eviction::Never,
        ..SimConfig::default()
    })
}

fn fence_ids(buf: &SyncBuffer) -> Vec<(u64, u64, Usage)> {
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
    let dev = DeviceId(0);
    let sim = sim();
    let region = || sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap();
    let d: SyncDomain<&NonCoherentSim> = SyncDomain::new(&sim, SyncConfig::default());
    let a = d.buffer("a", region()).unwrap();
    let b = d.buffer("b", region()).unwrap();

    // The CPU writes `a`, so a device read of it needs a clean (and a `ready` fence).
    let mut draw = d.set();
    draw.add(&a, Access::CPU_WRITE).unwrap();
    draw.lock().unwrap().unlock().unwrap();

    // `b` is full of pending fences from other timelines (bookkeeping: nobody waits for
    // them, but they take every slot).
    let blockers: Vec<_> = (0..b.reservation().capacity())
        .map(|_| crate::fence::Timeline::new().next_fence())
        .collect();
    {
        let g = b.resv.lock();
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

/// Regression: the device-completion callback of `unlock_after` releases the holder; if the
/// domain dropped its reference to the finished holder while that callback still ran, the
/// callback's own reference was the last, and dropping the holder inside the callback freed
/// (and waited for) the very callback node that was running: a hang (found by the demo's
/// host pipeline test, 1 run in 3). Made deterministic here: a callback on the set's `done`
/// fence — which runs inside the completion callback — runs the domain's pruning.
#[test]
#[cfg_attr(miri, ignore)] // uses a thread and a timeout to turn the old hang into a failure
fn completion_callback_never_drops_its_own_holder() {
    use core::pin::Pin;
    use std::boxed::Box;
    use std::sync::mpsc;
    use std::time::Duration;

    // Leaked: the domain (and so its memory) must be `'static` for the callback.
    let sim: &'static NonCoherentSim = Box::leak(Box::new(sim()));
    let region = sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap();
    let d: &'static SyncDomain<&NonCoherentSim> =
        Box::leak(Box::new(SyncDomain::new(sim, SyncConfig::default())));
    let a: &'static SyncBuffer = Box::leak(Box::new(d.buffer("a", region).unwrap()));
    let dev = DeviceId(3);

    let job = crate::fence::Timeline::new().next_fence();
    let mut set = d.set();
    set.add(a, Access::dma_write(dev)).unwrap();
    let locked = set.lock().unwrap();
    let done = locked.done_fence();
    let prune: Box<dyn FnMut(FenceResult) + Send> = Box::new(move |_| {
        d.check_deadlines();
    });
    let mut on_done: Pin<Box<FenceCallback<_>>> = Box::pin(FenceCallback::new(prune));
    done.add_callback(on_done.as_mut()).unwrap();
    locked.unlock_after(&job.fence()).unwrap();
    drop(set);

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        job.signal();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "signalling the device's fence hung: the completion callback dropped its own holder"
    );
    assert_eq!(done.status(), FenceStatus::Ok);
    // Once the callback has finished, the next pruning lets the holder go.
    d.check_deadlines();
    let listed = {
        let mut g = d.holders.lock();
        g.with(|h| h.len())
    };
    assert_eq!(
        listed, 0,
        "the finished holder is still listed after its callback ran"
    );
}

/// The holder a lock registers, as the watchdog's list and the next lock see it.
fn holder_of<M: MemorySystem>(locked: &Locked<'_, M>) -> Arc<Holder> {
    locked.holder.clone()
}

/// A lock after a plain unlock renews the previous holder in place (no allocation), and the
/// renewed holder is a new lock's in every respect: held, with a fresh pending `done`, guards
/// that work, the set's current deadline, and the watchdog's list holding it once.
#[test]
fn a_lock_after_a_plain_unlock_renews_the_holder_in_place() {
    use core::time::Duration;

    let sim = sim();
    let d: SyncDomain<&NonCoherentSim> = SyncDomain::new(&sim, SyncConfig::default());
    let a = d
        .buffer("a", sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let mut set = d.set();
    set.add(&a, Access::CPU_WRITE).unwrap();

    set.set_hold_deadline(Duration::from_millis(1));
    let first = set.lock().unwrap();
    let h1 = holder_of(&first);
    let done1 = first.done_fence();
    let deadline1 = h1.deadline;
    // Only the address is kept: a reference would keep the holder from being renewed.
    let p1 = Arc::as_ptr(&h1);
    drop(h1);
    first.unlock().unwrap();
    assert_eq!(done1.status(), FenceStatus::Ok);

    set.set_hold_deadline(Duration::from_secs(3600));
    let second = set.lock().unwrap();
    let h2 = holder_of(&second);
    // The same allocation (a fresh one is made before the old is let go, so it would have
    // another address).
    assert_eq!(Arc::as_ptr(&h2), p1, "the holder was not renewed in place");
    assert!(
        Arc::ptr_eq(&h2, set_holder(&second)),
        "the set keeps the holder it registered"
    );
    assert!(
        h2.deadline > deadline1,
        "the renewed holder has the new lock's deadline"
    );
    assert_eq!(h2.outcome(), super::super::holder::Outcome::Held);
    let done2 = second.done_fence();
    assert!(!Fence::ptr_eq(&done1, &done2));
    assert_eq!(done2.status(), FenceStatus::Pending);
    // The old deadline is gone: a watchdog run past it (and long before the new one)
    // expires nothing.
    assert_eq!(
        d.check_deadlines_at(deadline1.saturating_add(Duration::from_secs(1))),
        0
    );
    second
        .cpu_write(&a)
        .unwrap()
        .with_mut(|b| b.fill(7))
        .unwrap();
    let listed = {
        let mut g = d.holders.lock();
        g.with(|v| v.iter().filter(|x| Arc::ptr_eq(x, &h2)).count())
    };
    assert_eq!(
        listed, 1,
        "the renewed holder is on the watchdog's list once"
    );
    drop(h2);
    second.unlock().unwrap();
    assert_eq!(done2.status(), FenceStatus::Ok);
    assert_eq!(
        done1.status(),
        FenceStatus::Ok,
        "the first lock's fence stays signalled"
    );

    // A holder someone still refers to (here the test's `h3`) is never renewed.
    let third = set.lock().unwrap();
    let h3 = holder_of(&third);
    third.unlock().unwrap();
    let fourth = set.lock().unwrap();
    assert!(!Arc::ptr_eq(&h3, &holder_of(&fourth)));
    assert_eq!(h3.outcome(), super::super::holder::Outcome::Released);
    drop(fourth);
}

fn set_holder<'a, M: MemorySystem>(locked: &'a Locked<'_, M>) -> &'a Arc<Holder> {
    locked
        .set
        .holder
        .as_ref()
        .expect("a locked set keeps its holder")
}

/// A lease that outlives its lock keeps its holder from being renewed: the next lock gets a
/// fresh holder, and the lease still sees the old one released (a renewal would have made
/// its bursts run again, on buffers handed to someone else).
#[test]
fn a_holder_with_a_live_lease_is_not_renewed() {
    let dev = DeviceId(2);
    let sim = sim();
    let d: SyncDomain<&NonCoherentSim> = SyncDomain::new(&sim, SyncConfig::default());
    let a = d
        .buffer("a", sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let mut set = d.set();
    set.add(&a, Access::dma_write(dev)).unwrap();

    let job = Timeline::new().next_fence();
    let first = set.lock().unwrap();
    let h1 = holder_of(&first);
    let done1 = first.done_fence();
    let lease = first.unlock_after_leased(&job.fence()).unwrap();
    assert_eq!(lease.burst(|| 1), Ok(1));
    job.signal();
    assert_eq!(done1.status(), FenceStatus::Ok);
    assert_eq!(lease.burst(|| 2), Err(crate::fence::FenceError::Cancelled));

    let second = set.lock().unwrap();
    assert!(
        !Arc::ptr_eq(&h1, &holder_of(&second)),
        "a holder a lease still refers to was renewed"
    );
    // The old holder stays finished; the lease stays cancelled while the new lock holds.
    assert_eq!(h1.outcome(), super::super::holder::Outcome::Released);
    assert_eq!(lease.burst(|| 3), Err(crate::fence::FenceError::Cancelled));
    assert!(!lease.is_live());
    let done2 = second.done_fence();
    assert_eq!(done2.status(), FenceStatus::Pending);
    second.unlock().unwrap();
    assert_eq!(done2.status(), FenceStatus::Ok);
}

/// A lock handed to a device with `unlock_after` keeps its completion callback (and its
/// reference to the holder) in the holder: the next lock allocates a fresh one, and the
/// old lock's `done` still follows its job.
#[test]
fn a_holder_handed_to_a_device_is_not_renewed() {
    let dev = DeviceId(2);
    let sim = sim();
    let d: SyncDomain<&NonCoherentSim> = SyncDomain::new(&sim, SyncConfig::default());
    let a = d
        .buffer("a", sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let mut set = d.set();
    set.add(&a, Access::dma_read(dev)).unwrap();

    let job = Timeline::new().next_fence();
    let first = set.lock().unwrap();
    let h1 = holder_of(&first);
    let done1 = first.done_fence();
    first.unlock_after(&job.fence()).unwrap();
    assert_eq!(done1.status(), FenceStatus::Pending);
    job.signal_error(crate::fence::FenceError::DeviceError(5));
    assert_eq!(
        done1.status(),
        FenceStatus::Err(crate::fence::FenceError::DeviceError(5))
    );

    // The next lock waited for nobody it should not have: the device's read is over.
    let second = set.lock().unwrap();
    assert!(!Arc::ptr_eq(&h1, &holder_of(&second)));
    assert_eq!(
        done1.status(),
        FenceStatus::Err(crate::fence::FenceError::DeviceError(5)),
        "the old lock's result is kept"
    );
    second.unlock().unwrap();
}
