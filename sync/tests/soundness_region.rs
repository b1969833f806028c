//! Defect 1 of issue #10 — "any address becomes a lockable buffer" — attacked from safe
//! code. What no longer compiles (a region made from an address, one region in two buffers
//! or two domains) is in `compile_fail/region_*.rs`; what is checked at run time is here.
#![forbid(unsafe_code)]

use dmasync_hal::dma::{Coherency, DmaMemory};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_sync::fence::Timeline;
use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain, SyncError};

const LINE: usize = 64;

fn sim() -> NonCoherentSim {
    NonCoherentSim::new(SimConfig {
        eviction: Eviction::Never,
        dram_size: 64 * LINE,
        ..SimConfig::default()
    })
}

/// Two simulators with the same address map hand out regions at the same addresses. A
/// region of one registered with the other's domain used to alias that simulator's own
/// buffer at the address (or panic "outside simulated DRAM" on a smaller one).
#[test]
fn a_region_of_another_memory_is_refused_and_handed_back() {
    let (mine, theirs) = (sim(), sim());
    let d = SyncDomain::new(&mine, SyncConfig::default());
    let own = d
        .buffer("own", mine.alloc(LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let foreign = theirs.alloc(LINE, Coherency::NonCoherent).unwrap();
    assert_eq!(
        foreign.virt(),
        own.region().virt(),
        "same address, other memory"
    );
    let refused = d.buffer("foreign", foreign).unwrap_err();
    assert_eq!(
        refused.error,
        SyncError::ForeignRegion { buffer: "foreign" }
    );
    // Nothing was lost: the region goes back to its own allocator, which reuses it.
    let at = refused.region.virt();
    // Not freed through `free` (unsafe): a region of `theirs` registered in its own domain
    // proves it is intact and usable.
    let theirs_d = SyncDomain::new(&theirs, SyncConfig::default());
    let back = theirs_d.buffer("back", refused.region).unwrap();
    assert_eq!(back.region().virt(), at);
    // And the two buffers at one address are two memories: writing one leaves the other.
    write(&d, &own, 0xaa);
    write(&theirs_d, &back, 0x55);
    assert_eq!(read(&d, &own), vec![0xaa; LINE]);
    assert_eq!(read(&theirs_d, &back), vec![0x55; LINE]);
}

fn write(d: &SyncDomain<&NonCoherentSim>, b: &dmasync_sync::syncset::SyncBuffer, v: u8) {
    let mut set = d.set();
    set.add(b, Access::CPU_WRITE).unwrap();
    let l = set.lock().unwrap();
    l.cpu_write(b).unwrap().with_mut(|x| x.fill(v)).unwrap();
    l.unlock().unwrap();
}

fn read(d: &SyncDomain<&NonCoherentSim>, b: &dmasync_sync::syncset::SyncBuffer) -> Vec<u8> {
    let mut set = d.set();
    set.add(b, Access::CPU_READ).unwrap();
    let l = set.lock().unwrap();
    let v = l.cpu_read(b).unwrap().with(|x| x.to_vec()).unwrap();
    l.unlock().unwrap();
    v
}

/// A buffer gives its region back only when nothing uses it any more: not while a device
/// job handed to `unlock_after` is pending (the device may still write), and not while a
/// lock whose set was leaked is held. Refused, the buffer comes back whole.
#[test]
fn into_region_waits_for_every_user() {
    let sim = sim();
    let dev = sim.add_device("dma", Coherency::NonCoherent);
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let buf = d
        .buffer("busy", sim.alloc(LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let job = Timeline::new().next_fence();
    {
        let mut set = d.set();
        set.add(&buf, Access::dma_write(dev)).unwrap();
        set.lock().unwrap().unlock_after(&job.fence()).unwrap();
    }
    let buf = buf.into_region().expect_err("a device job is pending");
    assert_eq!(buf.name(), "busy");
    job.signal();
    let region = buf.into_region().expect("idle once the job signalled");
    let at = region.virt();

    // A lock leaked with its set: the buffer is held for good (until the watchdog).
    let buf = d.buffer("leaked", region).unwrap();
    {
        let mut set = d.set();
        set.add(&buf, Access::CPU_WRITE).unwrap();
        std::mem::forget(set.lock().unwrap());
        // Leaking the set itself too (it borrows the buffer) is the same.
        std::mem::forget(set);
    }
    let buf = buf.into_region().expect_err("a leaked lock still holds it");
    assert_eq!(buf.region().virt(), at);
}

/// The watchdog ends a leaked lock; then the region comes back and can be registered anew.
#[test]
fn a_leaked_lock_expired_by_the_watchdog_frees_the_region() {
    let sim = sim();
    let d = SyncDomain::new(
        &sim,
        SyncConfig {
            hold_deadline: std::time::Duration::from_millis(1),
            ..SyncConfig::default()
        },
    );
    let buf = d
        .buffer("b", sim.alloc(LINE, Coherency::NonCoherent).unwrap())
        .unwrap();
    let mut set = d.set();
    set.add(&buf, Access::CPU_WRITE).unwrap();
    std::mem::forget(set.lock().unwrap());
    std::mem::forget(set);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(d.check_deadlines(), 1);
    let region = buf.into_region().expect("idle after the expiry");
    let again = d.buffer("again", region).unwrap();
    write(&d, &again, 7);
    assert_eq!(read(&d, &again), vec![7; LINE]);
}
