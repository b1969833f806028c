//! Issue #10, defect 2: fences cannot be forged, and a sync set's buffers have no back door
//! around its locking. Public API only, no `unsafe`.
//!
//! The attack of the issue — read the holder's pending `done` fence from
//! `SyncBuffer::reservation()`, make `FenceProducer::new(its context, its seqno + 1)`, lock
//! the reservation object, add the forgery and signal it, so the same-timeline replacement
//! rule evicts the `done` fence and a second CPU writer is granted beside a live `CpuWrite`
//! guard — no longer compiles: `tests/compile_fail/fence_producer_new_private.rs`,
//! `fence_timeline_from_context.rs`, `fence_timeline_not_clone.rs` and
//! `syncset_reservation_read_only.rs`. These tests show that what is still reachable ends
//! no holder's exclusion.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use std::sync::OnceLock;

use dmasync_hal::dma::{Coherency, DmaMemory, DmaRegion};
use dmasync_sim::{NonCoherentSim, SimConfig};
use dmasync_sync::fence::{Timeline, all_of};
use dmasync_sync::resv::Usage;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};
use dmasync_sync::{Fence, FenceProducer, FenceStatus, ReservationObject};

const LINE: usize = 64;
const BYTES: usize = 4 * LINE;

type Domain = SyncDomain<&'static NonCoherentSim>;

/// One simulated memory for the whole file (domains over it may be `'static`).
fn sim() -> &'static NonCoherentSim {
    static SIM: OnceLock<NonCoherentSim> = OnceLock::new();
    // Small DRAM: Miri runs these tests, and builds a large one slowly.
    SIM.get_or_init(|| {
        NonCoherentSim::new(SimConfig {
            dram_size: 64 * BYTES,
            ..SimConfig::default()
        })
    })
}

fn region() -> DmaRegion {
    sim()
        .alloc(BYTES, Coherency::NonCoherent)
        .expect("simulated DRAM has room")
}

/// A domain whose holders are never expired during a test (Miri runs it slowly): these
/// tests are about forged fences, not the watchdog.
fn domain() -> Domain {
    SyncDomain::new(
        sim(),
        SyncConfig {
            hold_deadline: Duration::from_secs(3600),
            ..SyncConfig::default()
        },
    )
}

/// Everything the attacker can still make: fences of fresh timelines (past the victim's
/// seqno), one-off producers, aggregates over the victim, signalled stubs. None is on the
/// victim's timeline; all are signalled. Returns how many were made.
fn forge_what_is_reachable(victim: &Fence) -> usize {
    let mut made: Vec<Fence> = Vec::new();
    let tl = Timeline::new();
    for _ in 0..=victim.seqno() {
        let p = tl.next_fence();
        made.push(p.fence());
        p.signal();
    }
    let p = FenceProducer::one_off();
    made.push(p.fence());
    p.signal();
    made.push(all_of([victim]));
    made.push(Fence::signalled(Ok(())));
    for f in &made {
        assert_ne!(
            f.context(),
            victim.context(),
            "{f:?} is on the victim's timeline"
        );
        assert_eq!(f.is_later(victim), None);
    }
    made.len()
}

/// A holder with a live `CpuWrite` guard keeps its buffer: after everything a third party
/// can still do with the buffer's public view and with fences of its own, the view shows
/// the holder's `done` fence pending (what the next writer waits for), and a second writer
/// is granted only after the first released, seeing all of its data.
#[test]
fn what_is_still_reachable_cannot_end_a_holders_exclusion() {
    let d = domain();
    let buf: SyncBuffer = d.buffer("fb", region()).unwrap();
    let first_live = AtomicBool::new(true);

    let mut first = d.set();
    first.add(&buf, Access::CPU_WRITE).unwrap();
    let held = first.lock().unwrap();
    thread::scope(|s| {
        let mut writer = held.cpu_write(&buf).unwrap();
        writer.with_mut(|b| b.fill(1)).unwrap();

        let view = buf.reservation();
        let done = held.done_fence();
        let (victim, _) = view
            .fences(Usage::Bookkeep)
            .find(|(f, _)| Fence::ptr_eq(f, &done))
            .expect("the holder's done fence is published");
        assert!(forge_what_is_reachable(&victim) > 3);
        // Waiting through the view (a zero timeout polls) changes nothing either.
        assert_eq!(
            view.wait_timeout(Usage::Bookkeep, Duration::ZERO),
            FenceStatus::Pending
        );
        assert!(!view.aggregate(Usage::Read).is_signalled());

        assert_eq!(done.status(), FenceStatus::Pending);
        assert!(
            view.fences(Usage::for_access(true))
                .any(|(f, _)| Fence::ptr_eq(&f, &done)),
            "a second writer no longer waits for the holder's done fence"
        );
        assert!(!view.test_signalled(Usage::for_access(true)));
        assert!(!buf.is_idle());

        let second = s.spawn(|| {
            let mut set = d.set();
            set.add(&buf, Access::CPU_WRITE).unwrap();
            let locked = set.lock().unwrap();
            assert!(
                !first_live.load(Ordering::SeqCst),
                "a second CPU writer was granted while the first's CpuWrite guard is live"
            );
            let mut w = locked.cpu_write(&buf).unwrap();
            let seen = w.with_mut(|b| {
                let seen = b.iter().all(|&x| x == 2);
                b.fill(3);
                seen
            });
            drop(w);
            locked.unlock().unwrap();
            seen.unwrap()
        });
        // The first writer finishes its data, then releases.
        writer.with_mut(|b| b.fill(2)).unwrap();
        drop(writer);
        first_live.store(false, Ordering::SeqCst);
        held.unlock().unwrap();
        assert!(
            second.join().unwrap(),
            "the second writer lost the first's data"
        );
    });
}

/// The replacement rule a forgery exploited is still there for the timeline's owner — a
/// later fence of one timeline replaces the earlier — and only for it: a fence of another
/// timeline, however late its seqno and even in the most widely waited-for class, takes a
/// slot of its own and leaves the pending fence in place.
#[test]
fn only_a_timelines_owner_can_replace_its_pending_fence() {
    let obj: ReservationObject = ReservationObject::new();
    let holder = Timeline::new();
    let first = holder.next_fence();
    {
        let g = obj.lock();
        let [slot] = g.reserve::<1>().unwrap();
        slot.add(&first.fence(), Usage::Write);
    }

    let stranger = Timeline::new();
    for _ in 0..=first.seqno() {
        let late = stranger.next_fence();
        {
            let g = obj.lock();
            let [slot] = g.reserve::<1>().unwrap();
            slot.add(&late.fence(), Usage::Kernel);
        }
        late.signal();
    }
    let one_off = FenceProducer::one_off();
    {
        let g = obj.lock();
        let [slot] = g.reserve::<1>().unwrap();
        slot.add(&one_off.fence(), Usage::Kernel);
    }
    one_off.signal();
    assert!(
        obj.fences(Usage::Bookkeep)
            .any(|(f, _)| Fence::ptr_eq(&f, &first.fence())),
        "a fence of another timeline evicted the pending one"
    );
    assert!(!obj.test_signalled(Usage::Read));

    // The owner's later fence does replace it: "later implies earlier" is the owner's word.
    let second = holder.next_fence();
    {
        let g = obj.lock();
        let [slot] = g.reserve::<1>().unwrap();
        slot.add(&second.fence(), Usage::Write);
    }
    assert!(
        !obj.fences(Usage::Bookkeep)
            .any(|(f, _)| Fence::ptr_eq(&f, &first.fence()))
    );
    assert!(!obj.test_signalled(Usage::Read));
    second.signal();
    assert!(obj.test_signalled(Usage::Read));
    first.signal();
}
