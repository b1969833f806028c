//! `TwoLevelCache` over the two-level simulator (an L1 per core, a shared outer cache, a
//! non-coherent device that sees DRAM only), one operation at a time: the order the module
//! documentation justifies keeps every access fresh, with the simulator refilling each
//! L1-invalidated line from the outer cache at once (its worst case between the levels).
//! The whole pipeline through sync sets is `sync/tests/pipeline_two_level.rs`.

use dmasync_armv7a::cache::{InnerCache, TwoLevelCache};
use dmasync_hal::cache::{CacheMaintenance, VirtRange};
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory};
use dmasync_sim::{
    Eviction, Level, Master, NonCoherentSim, OuterConfig, SimConfig, SimL1, SimOuter, ViolationKind,
};

const LINE: usize = 32;

/// The simulator's L1 handle as an `InnerCache`: `dmasync-sim` sits below this crate and
/// cannot name the trait, so the test implements it.
struct L1<'a>(SimL1<'a>);

// SAFETY: each method performs the named operation on the simulator's model of the line
// holding `va`; no real memory is touched.
unsafe impl InnerCache for L1<'_> {
    fn line_size(&self) -> usize {
        self.0.line_size()
    }
    unsafe fn clean_line(&self, va: usize) {
        self.0.clean_line(va);
    }
    unsafe fn invalidate_line(&self, va: usize) {
        self.0.invalidate_line(va);
    }
    unsafe fn clean_invalidate_line(&self, va: usize) {
        self.0.clean_invalidate_line(va);
    }
    fn barrier(&self) {
        self.0.barrier();
    }
}

struct Setup {
    sim: NonCoherentSim,
    dev: DeviceId,
    virt: usize,
}

impl Setup {
    fn new() -> Self {
        let sim = NonCoherentSim::new(SimConfig {
            line_size: LINE,
            eviction: Eviction::Never,
            outer: Some(OuterConfig::default()),
            ..SimConfig::default()
        });
        let dev = sim.add_device("dma", Coherency::NonCoherent);
        let virt = sim.alloc(4 * LINE, Coherency::NonCoherent).unwrap().virt();
        sim.take_violations();
        Self { sim, dev, virt }
    }

    fn cache(&self, with_outer: bool) -> TwoLevelCache<L1<'_>, SimOuter<'_>> {
        let cfg = self.sim.config();
        let outer = if with_outer { self.sim.outer() } else { None };
        TwoLevelCache::new(
            L1(self.sim.l1()),
            outer,
            cfg.dram_base as i64 - cfg.virt_base as i64,
        )
    }

    fn bus(&self, virt: usize) -> BusAddr {
        self.sim.virt_to_bus(virt)
    }

    fn device_reads(&self, virt: usize, len: usize) -> Vec<u8> {
        let mut got = vec![0u8; len];
        self.sim.device_read(self.dev, self.bus(virt), &mut got);
        got
    }

    fn cpu_reads(&self, virt: usize, len: usize) -> Vec<u8> {
        let mut got = vec![0u8; len];
        self.sim.cpu_read(0, virt, &mut got);
        got
    }
}

#[test]
fn clean_reaches_the_device_through_both_levels() {
    let s = Setup::new();
    s.sim.cpu_write(0, s.virt, &[7; 2 * LINE]);
    // SAFETY: simulator addresses; the handles touch no real memory.
    unsafe { s.cache(true).clean(VirtRange::new(s.virt, 2 * LINE)) };
    assert_eq!(s.device_reads(s.virt, 2 * LINE), [7; 2 * LINE]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
    let st = s.sim.stats();
    assert_eq!((st.l1.lines, st.l1.completions), ([2, 0, 0], 1));
    assert_eq!((st.outer.lines, st.outer.completions), ([2, 0, 0], 1));
}

#[test]
fn invalidate_is_fresh_although_every_dropped_l1_line_is_refilled_at_once() {
    let s = Setup::new();
    assert_eq!(s.cpu_reads(s.virt, LINE), [0; LINE]); // cached in L1 and the outer cache
    s.sim.device_write(s.dev, s.bus(s.virt), &[9; LINE]);
    // SAFETY: simulator addresses.
    unsafe { s.cache(true).invalidate(VirtRange::new(s.virt, LINE)) };
    assert_eq!(s.sim.stats().speculative_fills, 1, "the refill happened");
    assert_eq!(s.cpu_reads(s.virt, LINE), [9; LINE]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
}

#[test]
fn a_partial_invalidate_keeps_the_neighbours_dirty_bytes() {
    let s = Setup::new();
    // A neighbour owns bytes 0..16 of the first line and left them dirty in L1.
    s.sim.cpu_write(0, s.virt, &[5; 16]);
    let cache = s.cache(true);
    // SAFETY: simulator addresses.
    unsafe { cache.invalidate(VirtRange::new(s.virt + 16, 2 * LINE)) };
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
    // The neighbour later hands its bytes to the device with its own clean.
    // SAFETY: simulator addresses.
    unsafe { cache.clean(VirtRange::new(s.virt, 16)) };
    assert_eq!(s.device_reads(s.virt, 16), [5; 16]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
}

#[test]
fn clean_invalidate_around_a_device_read_write() {
    let s = Setup::new();
    s.sim.cpu_write(0, s.virt, &[1; LINE]);
    let cache = s.cache(true);
    let r = VirtRange::new(s.virt, LINE);
    // SAFETY: simulator addresses.
    unsafe { cache.clean_invalidate(r) };
    assert_eq!(s.device_reads(s.virt, LINE), [1; LINE]);
    s.sim.device_write(s.dev, s.bus(s.virt), &[2; LINE]);
    // SAFETY: simulator addresses.
    unsafe { cache.invalidate(r) };
    assert_eq!(s.cpu_reads(s.virt, LINE), [2; LINE]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
}

#[test]
fn without_its_outer_cache_a_clean_stops_in_the_outer_cache() {
    let s = Setup::new();
    s.sim.cpu_write(0, s.virt, &[7; LINE]);
    // SAFETY: simulator addresses.
    unsafe { s.cache(false).clean(VirtRange::new(s.virt, LINE)) };
    assert_eq!(s.device_reads(s.virt, LINE), [0; LINE]);
    let v = s.sim.take_violations();
    assert_eq!(
        v[0].kind,
        ViolationKind::StaleRead {
            reader: Master::Device(s.dev),
            newest_writer: Master::Cpu(0),
            source: Level::Dram,
            newest_in: Some(Level::Outer),
        }
    );
}
