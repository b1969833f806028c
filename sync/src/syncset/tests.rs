//! Per-set hold deadlines (issue #15, feature 4) with the watchdog's clock stepped by hand
//! (`SyncDomain::check_deadlines_at`), so which holder expires when is checked exactly,
//! without sleeping: a 2D job's set with milliseconds and the display's set, which holds the
//! front buffer for as long as the frame is on screen, in one domain.

use core::time::Duration;
use std::thread;

use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_hal::platform::{self, Instant};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};

use super::holder::NEVER;
use super::{Access, SyncConfig, SyncDomain, SyncError};
use crate::fence::Timeline;

const LINE: usize = 64;
const G2D: DeviceId = DeviceId(0);
const DISPLAY: DeviceId = DeviceId(1);
/// The domain's own deadline: longer than every step below, so any expiry seen is a set's.
const DOMAIN_HOLD: Duration = Duration::from_secs(5);
const JOB_HOLD: Duration = Duration::from_millis(2);

fn sim() -> NonCoherentSim {
    // Small, so Miri runs it quickly: the buffers are a few lines.
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 4096,
        lines_per_cpu: 16,
        eviction: Eviction::Never,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("g2d", Coherency::NonCoherent), G2D);
    assert_eq!(sim.add_device("display", Coherency::NonCoherent), DISPLAY);
    sim
}

fn domain(sim: &NonCoherentSim) -> SyncDomain<&NonCoherentSim> {
    SyncDomain::new(
        sim,
        SyncConfig {
            hold_deadline: DOMAIN_HOLD,
            ..SyncConfig::default()
        },
    )
}

/// The clock after `since`, plus `d`: a watchdog run that late.
fn after(since: Instant, d: Duration) -> Instant {
    since.saturating_add(d)
}

#[test]
fn two_sets_in_one_domain_expire_each_at_its_own_deadline() {
    let sim = sim();
    let d = domain(&sim);
    let job_buf = d
        .buffer("job", sim.alloc(LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let front = d
        .buffer("front", sim.alloc(LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let mut job = d.set();
    job.add(&job_buf, Access::dma_write(G2D)).unwrap();
    job.set_hold_deadline(JOB_HOLD);
    let mut display = d.set();
    display.add(&front, Access::dma_read(DISPLAY)).unwrap();
    let frame_hold = Duration::from_secs(3600);
    display.set_hold_deadline(frame_hold);
    assert_eq!(job.hold_deadline(), JOB_HOLD);
    assert_eq!(display.hold_deadline(), frame_hold);

    let before = platform::now();
    let job_lock = job.lock().unwrap();
    let display_lock = display.lock().unwrap();
    let locked = platform::now();

    // Before either deadline (the earliest lock was at `before`): nobody expires.
    assert_eq!(d.check_deadlines_at(before), 0);
    // Past the job's deadline (both locked by `locked`), long before the frame's and the
    // domain's: only the job's holder expires.
    assert_eq!(d.check_deadlines_at(after(locked, JOB_HOLD)), 1);
    assert_eq!(
        d.check_deadlines_at(after(locked, DOMAIN_HOLD)),
        0,
        "the display set is not the domain's"
    );
    assert_eq!(job_lock.unlock(), Err(SyncError::Expired));
    // Past the frame's own deadline: now the display's holder expires too.
    assert_eq!(d.check_deadlines_at(after(locked, frame_hold)), 1);
    assert_eq!(display_lock.unlock(), Err(SyncError::Expired));
    assert_eq!(d.stats().expired, 2);

    // Each set's deadline holds for its later locks as well.
    let job_lock = job.lock().unwrap();
    let locked = platform::now();
    assert_eq!(d.check_deadlines_at(after(locked, JOB_HOLD)), 1);
    assert_eq!(job_lock.unlock(), Err(SyncError::Expired));
}

#[test]
fn the_display_set_without_deadline_holds_the_front_buffer_while_jobs_expire() {
    let sim = sim();
    let d = domain(&sim);
    let scratch = d
        .buffer("scratch", sim.alloc(LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let front = d
        .buffer("front", sim.alloc(LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let mut display = d.set();
    display.add(&front, Access::dma_read(DISPLAY)).unwrap();
    display.hold_without_deadline();
    assert_eq!(display.hold_deadline(), Duration::MAX);
    let mut job = d.set();
    job.add(&scratch, Access::dma_write(G2D)).unwrap();
    job.set_hold_deadline(JOB_HOLD);

    // The frame goes on screen: the display holds the front buffer until the next flip is
    // presented (`released`), through the device hand-over.
    let scanout = Timeline::new();
    let released = scanout.next_fence();
    display
        .lock()
        .unwrap()
        .unlock_after(&released.fence())
        .unwrap();
    let job_lock = job.lock().unwrap();
    let locked = platform::now();

    assert_eq!(
        d.check_deadlines_at(after(locked, JOB_HOLD)),
        1,
        "the job's set expires"
    );
    assert_eq!(job_lock.unlock(), Err(SyncError::Expired));
    // However late the watchdog runs, the frame on screen is not taken back.
    assert_eq!(d.check_deadlines_at(after(locked, DOMAIN_HOLD)), 0);
    assert_eq!(d.check_deadlines_at(NEVER), 0);

    // A 2D job that wants to draw into the front buffer meanwhile waits, and gives up
    // with a clear error after its own wait limit instead of tearing the frame.
    let mut draw = d.set();
    draw.add(&front, Access::dma_write(G2D)).unwrap();
    draw.set_wait_limit(Duration::from_millis(1));
    assert!(matches!(draw.lock(), Err(SyncError::WaitTimeout { .. })));
    assert_eq!(d.check_deadlines_at(NEVER), 0);

    // The next flip is presented: the front buffer is free for the 2D engine at once.
    released.signal();
    draw.set_wait_limit(Duration::from_secs(20));
    let drew = thread::scope(|s| s.spawn(|| draw.lock().map(|l| l.unlock())).join().unwrap());
    assert_eq!(drew.map(|r| r.is_ok()), Ok(true));
    assert_eq!(d.stats().expired, 1);
}

#[test]
fn a_deadline_that_saturates_is_no_deadline() {
    let sim = sim();
    let d = domain(&sim);
    let buf = d
        .buffer("b", sim.alloc(LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let mut set = d.set();
    set.add(&buf, Access::CPU_WRITE).unwrap();
    // Finite, but past the end of the clock from any lock: the same as no deadline.
    set.set_hold_deadline(Duration::from_secs(u64::MAX));
    let l = set.lock().unwrap();
    assert_eq!(d.check_deadlines_at(NEVER), 0);
    assert_eq!(l.unlock(), Ok(()));
}
