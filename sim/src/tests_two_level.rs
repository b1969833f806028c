//! The outer cache level: what each level's maintenance does and does not reach, and why
//! the order between the levels matters.

use super::tests::kinds;
use super::*;
use dmasync_hal::cache::{CacheMaintenance, OuterCache, VirtRange};
use dmasync_hal::dma::{BusAddr, Coherency, DmaMemory};

/// Cortex-A9 L1 and PL310 line size.
const LINE: usize = 32;

struct Setup {
    sim: NonCoherentSim,
    dev: DeviceId,
    virt: usize,
    bus: u64,
}

fn setup_with(outer: OuterConfig) -> Setup {
    let sim = NonCoherentSim::new(SimConfig {
        line_size: LINE,
        eviction: Eviction::Never,
        outer: Some(outer),
        ..SimConfig::default()
    });
    let dev = sim.add_device("dma", Coherency::NonCoherent);
    let virt = sim.alloc(8 * LINE, Coherency::NonCoherent).unwrap().virt();
    let bus = sim.virt_to_bus(virt).0;
    sim.take_violations();
    Setup {
        sim,
        dev,
        virt,
        bus,
    }
}

/// Speculation only where a test asks for it (the explicit hook).
fn setup() -> Setup {
    setup_with(OuterConfig {
        refill_after_l1_invalidate: false,
        ..OuterConfig::default()
    })
}

fn outer(sim: &NonCoherentSim) -> SimOuter<'_> {
    sim.outer().expect("outer cache configured")
}

fn device_reads(s: &Setup) -> [u8; LINE] {
    let mut got = [0u8; LINE];
    s.sim.device_read(s.dev, BusAddr(s.bus), &mut got);
    got
}

fn cpu_reads(s: &Setup, cpu: usize) -> [u8; LINE] {
    let mut got = [0u8; LINE];
    s.sim.cpu_read(cpu, s.virt, &mut got);
    got
}

/// The CPU has the line cached (L1 and outer) and the device then writes DRAM behind it.
fn device_overwrites_a_cached_line(s: &Setup) {
    assert_eq!(cpu_reads(s, 0), [0; LINE]);
    s.sim.device_write(s.dev, BusAddr(s.bus), &[9; LINE]);
}

#[test]
fn cleaning_l1_only_leaves_the_device_reading_stale_dram() {
    let s = setup();
    s.sim.cpu_write(0, s.virt, &[7; LINE]);
    s.sim.l1().clean_line(s.virt);
    s.sim.l1().barrier();
    assert!(!s.sim.is_dirty(s.virt) && s.sim.is_outer_dirty(s.virt));
    assert_eq!(device_reads(&s), [0; LINE], "the device sees DRAM");
    let v = s.sim.take_violations();
    assert_eq!(kinds(&v), ["stale read by device"]);
    assert_eq!(
        v[0].kind,
        ViolationKind::StaleRead {
            reader: Master::Device(s.dev),
            newest_writer: Master::Cpu(0),
            source: Level::Dram,
            newest_in: Some(Level::Outer),
        }
    );
    assert_eq!(v[0].bytes, LINE);
}

#[test]
fn cleaning_l1_then_the_outer_cache_reaches_the_device() {
    let s = setup();
    s.sim.cpu_write(0, s.virt, &[7; LINE]);
    s.sim.l1().clean_line(s.virt);
    s.sim.l1().barrier();
    // SAFETY: simulator addresses, no real memory.
    unsafe { outer(&s.sim).clean_line(s.bus) };
    outer(&s.sim).sync();
    assert_eq!(device_reads(&s), [7; LINE]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
    let st = s.sim.stats();
    assert_eq!(st.l1.lines, [1, 0, 0]);
    assert_eq!(st.outer.lines, [1, 0, 0]);
    assert_eq!((st.l1.completions, st.outer.completions), (1, 1));
    assert_eq!((st.writebacks, st.outer_writebacks), (1, 1));
    assert_eq!(st.total_calls(), 0, "only the handles were used");
}

#[test]
fn cleaning_the_outer_cache_before_l1_leaves_dram_stale() {
    let s = setup();
    s.sim.cpu_write(0, s.virt, &[7; LINE]);
    // SAFETY: simulator addresses.
    unsafe { outer(&s.sim).clean_line(s.bus) };
    outer(&s.sim).sync();
    s.sim.l1().clean_line(s.virt);
    s.sim.l1().barrier();
    assert_eq!(device_reads(&s), [0; LINE]);
    assert!(matches!(
        s.sim.take_violations()[..],
        [Violation {
            kind: ViolationKind::StaleRead {
                newest_in: Some(Level::Outer),
                ..
            },
            ..
        }]
    ));
}

#[test]
fn invalidating_l1_only_lets_the_cpu_refill_the_stale_outer_copy() {
    let s = setup();
    device_overwrites_a_cached_line(&s);
    s.sim.l1().invalidate_line(s.virt);
    s.sim.l1().barrier();
    assert_eq!(
        cpu_reads(&s, 0),
        [0; LINE],
        "the outer cache kept the old line"
    );
    let v = s.sim.take_violations();
    assert_eq!(
        v[0].kind,
        ViolationKind::StaleRead {
            reader: Master::Cpu(0),
            newest_writer: Master::Device(s.dev),
            source: Level::Outer,
            newest_in: Some(Level::Dram),
        }
    );
}

#[test]
fn invalidating_l1_before_the_outer_cache_lets_a_speculative_fill_bring_stale_data_back() {
    let s = setup();
    device_overwrites_a_cached_line(&s);
    s.sim.l1().invalidate_line(s.virt);
    s.sim.l1().barrier();
    // Between the two levels, CPU 1 prefetches the line: it comes from the outer cache.
    s.sim.speculative_fill(1, s.virt);
    // SAFETY: simulator addresses.
    unsafe { outer(&s.sim).invalidate_line(s.bus) };
    outer(&s.sim).sync();
    assert_eq!(cpu_reads(&s, 0), [0; LINE]);
    let v = s.sim.take_violations();
    assert_eq!(kinds(&v), ["stale read by cpu"]);
    assert!(matches!(
        v[0].kind,
        ViolationKind::StaleRead {
            source: Level::Outer,
            ..
        }
    ));
    assert_eq!(s.sim.stats().speculative_fills, 1);
}

#[test]
fn invalidating_the_outer_cache_then_l1_survives_the_same_speculative_fill() {
    let s = setup();
    device_overwrites_a_cached_line(&s);
    // SAFETY: simulator addresses.
    unsafe { outer(&s.sim).invalidate_line(s.bus) };
    outer(&s.sim).sync();
    s.sim.l1().invalidate_line(s.virt);
    s.sim.l1().barrier();
    s.sim.speculative_fill(1, s.virt);
    assert_eq!(cpu_reads(&s, 0), [9; LINE]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
    assert_eq!(s.sim.stats().speculative_fills, 1, "the fill did happen");
}

#[test]
fn the_refill_adversary_catches_the_swapped_invalidate_without_a_hook() {
    let swapped = setup_with(OuterConfig::default());
    device_overwrites_a_cached_line(&swapped);
    swapped.sim.l1().invalidate_line(swapped.virt);
    // SAFETY: simulator addresses.
    unsafe { outer(&swapped.sim).invalidate_line(swapped.bus) };
    assert_eq!(cpu_reads(&swapped, 0), [0; LINE]);
    assert_eq!(kinds(&swapped.sim.take_violations()), ["stale read by cpu"]);

    let ordered = setup_with(OuterConfig::default());
    device_overwrites_a_cached_line(&ordered);
    // SAFETY: simulator addresses.
    unsafe { outer(&ordered.sim).invalidate_line(ordered.bus) };
    ordered.sim.l1().invalidate_line(ordered.virt);
    assert_eq!(
        ordered.sim.resident_lines(0),
        1,
        "the line was refilled at once"
    );
    assert_eq!(cpu_reads(&ordered, 0), [9; LINE], "from DRAM: fresh");
    assert!(ordered.sim.violations().is_empty());
    assert_eq!(ordered.sim.stats().speculative_fills, 1);
}

#[test]
fn an_outer_write_back_over_device_data_is_a_lost_write_of_the_outer_level() {
    let s = setup();
    s.sim.cpu_write(0, s.virt, &[1; 4]);
    s.sim.l1().clean_line(s.virt); // the whole line is now dirty in the outer cache
    s.sim.device_write(s.dev, BusAddr(s.bus + 8), &[2; 8]);
    // SAFETY: simulator addresses.
    unsafe { outer(&s.sim).clean_line(s.bus) };
    let v = s.sim.take_violations();
    assert_eq!(kinds(&v), ["lost write by outer write-back"]);
    assert_eq!(
        v[0].kind,
        ViolationKind::LostWriteByOuterWriteBack {
            overwritten_writer: Master::Device(s.dev),
            cause: "clean",
        }
    );
    assert_eq!(v[0].bytes, 8, "exactly the device's bytes");
}

#[test]
fn invalidating_the_outer_cache_over_data_only_it_holds_is_a_lost_write() {
    let s = setup();
    s.sim.cpu_write(0, s.virt, &[1; LINE]);
    s.sim.l1().clean_line(s.virt);
    // SAFETY: simulator addresses.
    unsafe { outer(&s.sim).invalidate_line(s.bus) };
    assert_eq!(
        kinds(&s.sim.take_violations()),
        ["lost write by outer invalidate"]
    );
}

#[test]
fn invalidating_the_outer_cache_under_a_dirty_l1_line_loses_nothing() {
    let s = setup();
    s.sim.cpu_write(0, s.virt, &[1; LINE]);
    s.sim.l1().clean_line(s.virt);
    s.sim.cpu_write(0, s.virt, &[2; LINE]); // newer, dirty again in L1
    // SAFETY: simulator addresses.
    unsafe { outer(&s.sim).invalidate_line(s.bus) };
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
}

#[test]
fn an_l1_invalidate_is_a_lost_write_when_the_outer_copy_is_older() {
    let s = setup();
    s.sim.cpu_write(0, s.virt, &[1; 4]);
    s.sim.l1().invalidate_line(s.virt);
    assert_eq!(
        kinds(&s.sim.take_violations()),
        ["lost write by invalidate"]
    );
}

#[test]
fn outer_evictions_write_back_to_dram() {
    let s = setup_with(OuterConfig {
        lines: 2,
        eviction: Eviction::Fifo,
        refill_after_l1_invalidate: false,
    });
    s.sim.cpu_write(0, s.virt, &[6; LINE]);
    s.sim.l1().clean_line(s.virt);
    let mut b = [0u8; 1];
    s.sim.cpu_read(0, s.virt + LINE, &mut b);
    s.sim.cpu_read(0, s.virt + 2 * LINE, &mut b); // evicts line 0 from the outer cache
    let st = s.sim.stats();
    assert_eq!((st.outer_evictions, st.outer_writebacks), (1, 1));
    assert_eq!(s.sim.outer_resident_lines(), 2);
    assert_eq!(device_reads(&s), [6; LINE]);
    assert!(s.sim.violations().is_empty());
}

#[test]
fn evict_outer_dirty_writes_back_at_the_worst_moment() {
    let s = setup();
    s.sim.cpu_write(0, s.virt, &[1; LINE]);
    s.sim.l1().clean_line(s.virt);
    s.sim.device_write(s.dev, BusAddr(s.bus), &[2; LINE]);
    s.sim.evict_outer_dirty(VirtRange::new(s.virt, LINE));
    let v = s.sim.take_violations();
    assert!(matches!(
        v[..],
        [Violation {
            kind: ViolationKind::LostWriteByOuterWriteBack {
                cause: "eviction",
                ..
            },
            ..
        }]
    ));
}

#[test]
fn the_simulators_own_maintenance_covers_both_levels_in_order() {
    let s = setup_with(OuterConfig::default());
    s.sim.cpu_write(0, s.virt, &[5; 2 * LINE]);
    // SAFETY: simulator addresses.
    unsafe { s.sim.clean(VirtRange::new(s.virt, 2 * LINE)) };
    assert_eq!(device_reads(&s), [5; LINE]);
    s.sim.device_write(s.dev, BusAddr(s.bus), &[6; LINE]);
    // SAFETY: simulator addresses.
    unsafe { s.sim.invalidate(VirtRange::new(s.virt, LINE)) };
    assert_eq!(cpu_reads(&s, 1), [6; LINE]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
    let st = s.sim.stats();
    assert_eq!(st.calls, [1, 1, 0]);
    assert_eq!(st.l1.lines, [2, 1, 0]);
    assert_eq!(st.outer.lines, [2, 1, 0]);
    assert_eq!((st.l1.completions, st.outer.completions), (2, 2));
}

#[test]
fn a_coherent_device_snoops_both_levels() {
    let s = setup();
    let acp = s.sim.add_device("acp", Coherency::Coherent);
    s.sim.cpu_write(0, s.virt, &[3; LINE]);
    s.sim.l1().clean_line(s.virt); // newest copy only in the outer cache
    let mut got = [0u8; LINE];
    s.sim.device_read(acp, BusAddr(s.bus), &mut got);
    assert_eq!(got, [3; LINE]);
    s.sim.device_write(acp, BusAddr(s.bus), &[4; LINE]);
    assert_eq!(cpu_reads(&s, 0), [4; LINE]);
    assert!(s.sim.violations().is_empty(), "{:?}", s.sim.violations());
}

#[test]
fn without_an_outer_cache_there_is_no_outer_handle_and_no_outer_work() {
    let sim = NonCoherentSim::new(SimConfig {
        eviction: Eviction::Never,
        ..SimConfig::default()
    });
    assert!(sim.outer().is_none());
    let virt = sim.alloc(64, Coherency::NonCoherent).unwrap().virt();
    sim.cpu_write(0, virt, &[1; 64]);
    // SAFETY: simulator addresses.
    unsafe { sim.clean(VirtRange::new(virt, 64)) };
    let st = sim.stats();
    assert_eq!((st.l1.lines, st.l1.completions), ([1, 0, 0], 1));
    assert_eq!(st.outer, LevelStats::default());
    assert_eq!((st.outer_writebacks, st.outer_evictions), (0, 0));
}

#[test]
fn level_violations_explain_themselves() {
    let s = setup();
    device_overwrites_a_cached_line(&s);
    s.sim.l1().invalidate_line(s.virt);
    cpu_reads(&s, 0);
    let text = std::format!("{}", s.sim.violations()[0]);
    assert!(
        text.contains("stale read by Cpu(0) (copy from Outer)"),
        "{text}"
    );
    assert!(text.contains("is in Dram"), "{text}");
}
