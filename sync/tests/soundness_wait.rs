//! Every wait of a sync-set lock is bounded (issue #10, point 5): a fence that never
//! signals and that the watchdog cannot end — here a device job's fence handed to
//! `unlock_after` by a holder whose hold deadline is far away, as it is for any holder
//! whose device may still be touching the buffer — makes a later `lock()` give up after its
//! wait limit with `WaitTimeout` naming the buffer, leaving nothing behind.
//!
//! Before the fix such a lock waited forever. Each lock runs on its own thread and the test
//! gives up on it after `HANG` (a hang detector, far above every wait limit here; no
//! assertion depends on timing).

#![forbid(unsafe_code)]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_sync::fence::{FenceProducer, FenceStatus, Timeline};
use dmasync_sync::resv::Usage;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain, SyncError};

type Domain = SyncDomain<&'static NonCoherentSim>;

const LINE: usize = 64;
const G2D: DeviceId = DeviceId(0);
const HANG: Duration = Duration::from_secs(20);
const WAIT_LIMIT: Duration = Duration::from_millis(100);

struct Rig {
    sim: &'static NonCoherentSim,
    d: &'static Domain,
    frame: &'static SyncBuffer,
}

/// A domain with short deadlines on the simulator, and one buffer the CPU filled with 0x11.
fn rig() -> Rig {
    let sim: &'static NonCoherentSim = Box::leak(Box::new(NonCoherentSim::new(SimConfig {
        eviction: Eviction::Never,
        ..SimConfig::default()
    })));
    assert_eq!(sim.add_device("g2d", Coherency::NonCoherent), G2D);
    let d: &'static Domain = Box::leak(Box::new(SyncDomain::new(
        sim,
        SyncConfig {
            hold_deadline: Duration::from_millis(50),
            watchdog_poll: Duration::from_millis(5),
            wait_limit: WAIT_LIMIT,
            ..SyncConfig::default()
        },
    )));
    let frame: &'static SyncBuffer = Box::leak(Box::new(
        d.buffer(
            "frame",
            sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap(),
        )
        .unwrap(),
    ));
    let mut draw = d.set();
    draw.add(frame, Access::CPU_WRITE).unwrap();
    let l = draw.lock().unwrap();
    l.cpu_write(frame)
        .unwrap()
        .with_mut(|b| b.fill(0x11))
        .unwrap();
    l.unlock().unwrap();
    Rig { sim, d, frame }
}

/// The 2D engine writes 0x22 over the frame and hands the set over with `unlock_after` and
/// a job fence nobody signals yet. The holder's own deadline is an hour: the watchdog does
/// not end it within the test. Returns the job's producer and the holder's `done` fence.
fn hung_job(r: &Rig) -> (FenceProducer, dmasync_sync::fence::Fence) {
    let job = Timeline::new().next_fence();
    let mut blit = r.d.set();
    blit.set_hold_deadline(Duration::from_secs(3600));
    blit.add(r.frame, Access::dma_write(G2D)).unwrap();
    let l = blit.lock().unwrap();
    let (bus, len) = l.dma(r.frame, G2D).unwrap().bus_range().unwrap();
    r.sim.device_write(G2D, bus, &vec![0x22; len]);
    let done = l.done_fence();
    l.unlock_after(&job.fence()).unwrap();
    (job, done)
}

/// Locks a CPU set over the frame on its own thread (limit: the domain's unless given);
/// the result and, on success, the frame's first byte.
fn lock_on_thread(
    r: &Rig,
    access: Access,
    limit: Option<Duration>,
) -> mpsc::Receiver<Result<u8, SyncError>> {
    let (tx, rx) = mpsc::channel();
    let (d, frame) = (r.d, r.frame);
    thread::spawn(move || {
        let mut set = d.set();
        if let Some(l) = limit {
            set.set_wait_limit(l);
        }
        set.add(frame, access).unwrap();
        let got = set.lock().map(|l| {
            let first = l.cpu_read(frame).unwrap().with(|b| b[0]).unwrap();
            l.unlock().unwrap();
            first
        });
        let _ = tx.send(got);
    });
    rx
}

fn result_of(rx: &mpsc::Receiver<Result<u8, SyncError>>, what: &str) -> Result<u8, SyncError> {
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} still waits after {HANG:?}: the wait is unbounded"))
}

/// The fences on the frame that are still pending.
fn pending(frame: &SyncBuffer) -> Vec<dmasync_sync::fence::Fence> {
    frame
        .reservation()
        .fences(Usage::Bookkeep)
        .map(|(f, _)| f)
        .filter(|f| !f.is_signalled())
        .collect()
}

#[test]
fn a_lock_behind_a_device_job_that_never_signals_gives_up_naming_the_buffer() {
    let r = rig();
    let (job, done) = hung_job(&r);
    let before = r.d.stats();

    let got = result_of(
        &lock_on_thread(&r, Access::CPU_READ, None),
        "a lock behind the hung job",
    );
    match got {
        Err(SyncError::WaitTimeout { buffer, waited }) => {
            assert_eq!(buffer, "frame");
            assert!(waited >= WAIT_LIMIT, "gave up early: {waited:?}");
        }
        other => panic!("expected WaitTimeout for 'frame', got {other:?}"),
    }
    // Nothing of the failed lock is left: the only pending fence is the device's holder,
    // no maintenance ran, and the holder is untouched.
    let left = pending(r.frame);
    assert_eq!(left.len(), 1, "pending fences on the frame: {left:?}");
    assert!(dmasync_sync::fence::Fence::ptr_eq(&left[0], &done));
    let after = r.d.stats();
    assert_eq!(
        (after.locks, after.cache_ops, after.expired),
        (before.locks, before.cache_ops, before.expired)
    );
    assert_eq!(done.status(), FenceStatus::Pending);

    // Giving up again is just as clean (nothing of the first attempt is waited for).
    assert!(matches!(
        result_of(
            &lock_on_thread(&r, Access::CPU_WRITE, None),
            "a second lock"
        ),
        Err(SyncError::WaitTimeout {
            buffer: "frame",
            ..
        })
    ));
    assert_eq!(pending(r.frame).len(), 1);

    // The job finally completes: the next lock succeeds, performs the invalidate the
    // device's write needs and reads the device's bytes.
    job.signal();
    assert_eq!(done.status(), FenceStatus::Ok);
    let got = result_of(
        &lock_on_thread(&r, Access::CPU_READ, None),
        "a lock after the job",
    );
    assert_eq!(got, Ok(0x22));
    assert_eq!(r.d.stats().cache_ops, before.cache_ops + 1);
    assert!(r.sim.violations().is_empty(), "{:?}", r.sim.violations());
}

/// A lock that queued behind a lock that gives up does not inherit its failure and is not
/// released early: it keeps waiting, by its own longer limit, for the device job, and sees
/// the device's bytes.
#[test]
fn a_lock_queued_behind_one_that_gives_up_still_waits_for_the_device() {
    let r = rig();
    let (job, done) = hung_job(&r);

    // A writer with the short limit queues first, then a reader with a long one (it waits
    // for the writer's fences and the job's holder).
    let writer = lock_on_thread(&r, Access::CPU_WRITE, None);
    while r.d.stats().contended < 1 {
        thread::yield_now();
    }
    let reader = lock_on_thread(&r, Access::CPU_READ, Some(Duration::from_secs(3600)));
    while r.d.stats().contended < 2 {
        thread::yield_now();
    }
    assert!(matches!(
        result_of(&writer, "the queued writer"),
        Err(SyncError::WaitTimeout {
            buffer: "frame",
            ..
        })
    ));
    assert_eq!(done.status(), FenceStatus::Pending);

    job.signal();
    assert_eq!(result_of(&reader, "the queued reader"), Ok(0x22));
    assert!(r.sim.violations().is_empty(), "{:?}", r.sim.violations());
}
