//! The ARMv7-A cache proof (issue #11 item 6): the seed pipeline through sync sets with
//! ARMv7-A's real two-level maintenance, `dmasync_armv7a::cache::TwoLevelCache`, driving a
//! simulator with an L1 per core and a shared outer cache (a PL310) between the cores and
//! DRAM, 32-byte lines at both levels as on a Cortex-A9 with a PL310.
//!
//! QEMU models no caches; this is proven on the simulator, not by QEMU.
//!
//! The simulator runs its worst case: caches never evict (a missing clean stays visible),
//! CPU 1 prefetches the checksum band while the 2D engine writes it, and every line an L1
//! invalidation drops is refilled at once from the outer cache if it holds the line
//! (`OuterConfig::refill_after_l1_invalidate`), the moment a prefetch does harm when L1 is
//! invalidated before the outer cache. Under it:
//! - `TwoLevelCache` has zero violations and does exactly the least work at each level
//!   (`Needed::per_level`: the single-level minimum's lines at L1 and at the outer cache,
//!   one completion per run at each), through the simulator's per-level handles only;
//! - maintenance that drops the outer-cache step, or swaps the order of the levels, is
//!   caught with a violation naming the level.
//!
//! Why here: the proof needs the sync sets (`sync/`), `TwoLevelCache` (`arch/armv7a`) and
//! the simulator (`sim/`). `xtask/tests/layers.rs` orders sim < arch < sync, so `sync/`'s
//! tests may dev-depend on both; `arch/armv7a` may not use `sync/` (an upward edge), so the
//! proof cannot live there.

#[allow(dead_code)]
#[path = "../benches/support/pipeline.rs"]
mod pipeline;

use dmasync_armv7a::cache::{InnerCache, TwoLevelCache};
use dmasync_hal::cache::{CacheMaintenance, OuterCache, VirtRange};
use dmasync_sim::{
    Level, Master, NonCoherentSim, OuterConfig, SimL1, SimOuter, Violation, ViolationKind,
};
use pipeline::{G2D, Run, Shape};

/// Two rounds of triple buffering: every frame buffer is reused once.
const FRAMES: usize = 6;

/// The simulator's L1 handle as ARMv7-A's `InnerCache` (a local type: neither the trait
/// nor the handle is this crate's).
struct L1<'a>(SimL1<'a>);

// SAFETY: each method performs the named operation on the simulator's model of the line
// holding `va` (`SimL1`); no real memory is touched.
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

/// The worst-case simulator for the ARMv7-A shape, with an outer cache.
fn armv7_sim(shape: &Shape, refill_after_l1_invalidate: bool) -> NonCoherentSim {
    pipeline::simulator(
        shape,
        Some(OuterConfig {
            refill_after_l1_invalidate,
            ..OuterConfig::default()
        }),
    )
}

/// What `TwoLevelCache` adds to a virtual address to get the physical one: the
/// simulator's CPUs see DRAM at `virt_base`, the outer cache and devices at `dram_base`.
fn phys_offset(sim: &NonCoherentSim) -> i64 {
    let cfg = sim.config();
    cfg.dram_base as i64 - cfg.virt_base as i64
}

fn outer(sim: &NonCoherentSim) -> SimOuter<'_> {
    sim.outer().expect("outer cache configured")
}

fn two_level(sim: &NonCoherentSim) -> TwoLevelCache<L1<'_>, SimOuter<'_>> {
    TwoLevelCache::new(L1(sim.l1()), Some(outer(sim)), phys_offset(sim))
}

/// The pipeline through sync sets with `cache` as the domain's maintenance.
fn run_on<C: CacheMaintenance>(shape: &Shape, sim: &NonCoherentSim, cache: C) -> Run {
    // SAFETY: every `cache` of this file is built over `sim`'s own handles.
    let memory = unsafe { sim.with_maintenance(cache) };
    pipeline::run_sync_sets(shape, sim, memory)
}

/// A wrong two-level maintenance: `TwoLevelCache`'s line loops with one mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutation {
    /// Only L1 is maintained, never the outer cache.
    DropOuter,
    /// Every operation runs the levels in the other order (clean: outer then L1;
    /// invalidate: L1 then outer; clean+invalidate: outer then L1).
    SwapOrder,
    /// Only the invalidate runs L1 before the outer cache; clean is right.
    SwapInvalidateOrder,
}

struct Mutant<'a> {
    l1: SimL1<'a>,
    outer: SimOuter<'a>,
    phys_offset: i64,
    mutation: Mutation,
}

impl<'a> Mutant<'a> {
    fn new(sim: &'a NonCoherentSim, mutation: Mutation) -> Self {
        Self {
            l1: sim.l1(),
            outer: outer(sim),
            phys_offset: phys_offset(sim),
            mutation,
        }
    }

    /// The lines of `range` and, for each, the operation `TwoLevelCache` does on it
    /// (partial lines of an invalidate are cleaned and invalidated).
    fn lines(&self, range: VirtRange, op: Op) -> Vec<(usize, Op)> {
        let line = self.l1.line_size();
        let split = range.split_lines(line);
        let body = (split.body.start..split.body.end())
            .step_by(line)
            .map(|a| (a, op));
        let partial_op = if op == Op::Invalidate {
            Op::CleanInvalidate
        } else {
            op
        };
        split
            .head
            .into_iter()
            .map(|a| (a, partial_op))
            .chain(body)
            .chain(split.tail.map(|a| (a, partial_op)))
            .collect()
    }

    fn at_l1(&self, range: VirtRange, op: Op) {
        for (va, op) in self.lines(range, op) {
            match op {
                Op::Clean => self.l1.clean_line(va),
                Op::Invalidate => self.l1.invalidate_line(va),
                Op::CleanInvalidate => self.l1.clean_invalidate_line(va),
            }
        }
        self.l1.barrier();
    }

    fn at_outer(&self, range: VirtRange, op: Op) {
        if self.mutation == Mutation::DropOuter {
            return;
        }
        for (va, op) in self.lines(range, op) {
            let pa = (va as i64).wrapping_add(self.phys_offset) as u64;
            // SAFETY: simulator addresses; the outer handle touches no real memory.
            unsafe {
                match op {
                    Op::Clean => self.outer.clean_line(pa),
                    Op::Invalidate => self.outer.invalidate_line(pa),
                    Op::CleanInvalidate => self.outer.clean_invalidate_line(pa),
                }
            }
        }
        self.outer.sync();
    }

    /// Runs `op` with the L1 step first when `l1_first`, else the outer step first.
    fn both(&self, range: VirtRange, op: Op, l1_first: bool) {
        if l1_first {
            self.at_l1(range, op);
            self.at_outer(range, op);
        } else {
            self.at_outer(range, op);
            self.at_l1(range, op);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Clean,
    Invalidate,
    CleanInvalidate,
}

// SAFETY: deliberately wrong maintenance, used only to show the simulator catches it: every
// operation reaches the simulator's model through its handles, never real memory, so
// nothing the wrong order or the missing level does can touch the host; what goes wrong in
// the model is reported as a violation.
unsafe impl CacheMaintenance for Mutant<'_> {
    fn line_size(&self) -> usize {
        self.l1.line_size().max(self.outer.line_size())
    }
    unsafe fn clean(&self, range: VirtRange) {
        let swapped = self.mutation == Mutation::SwapOrder;
        self.both(range, Op::Clean, !swapped);
    }
    unsafe fn invalidate(&self, range: VirtRange) {
        let swapped = matches!(
            self.mutation,
            Mutation::SwapOrder | Mutation::SwapInvalidateOrder
        );
        self.both(range, Op::Invalidate, swapped);
    }
    unsafe fn clean_invalidate(&self, range: VirtRange) {
        let swapped = self.mutation == Mutation::SwapOrder;
        self.both(range, Op::CleanInvalidate, !swapped);
    }
}

fn all(v: &[Violation]) -> String {
    v.iter().map(|v| format!("{v}\n")).collect()
}

/// How many violations are of each of the two kinds the mutants cause (device stale
/// behind the outer cache, CPU stale from the outer cache), asserting there is no other.
fn tally_kinds(v: &[Violation]) -> (usize, usize) {
    let dev = v
        .iter()
        .filter(|v| is_device_stale_behind_the_outer_cache(v))
        .count();
    let cpu = v
        .iter()
        .filter(|v| is_cpu_stale_from_the_outer_cache(v))
        .count();
    assert_eq!(dev + cpu, v.len(), "another kind of violation: {}", all(v));
    (dev, cpu)
}

/// Lines of the overlay and of the checksum band.
fn overlay_and_band_lines(shape: &Shape) -> (usize, usize) {
    (
        shape.overlay_bytes() / shape.line,
        shape.checksum_bytes().len() / shape.line,
    )
}

/// The engine read the overlay from DRAM while the CPU's newest bytes sat in the outer
/// cache: the L1 clean happened, the outer clean did not reach DRAM before the read.
fn is_device_stale_behind_the_outer_cache(v: &Violation) -> bool {
    matches!(
        v.kind,
        ViolationKind::StaleRead {
            reader: Master::Device(d),
            newest_writer: Master::Cpu(0),
            source: Level::Dram,
            newest_in: Some(Level::Outer),
        } if d == G2D
    )
}

/// The CPU read the checksum band from an L1 line filled from the outer cache's stale
/// copy, while the engine's bytes were in DRAM.
fn is_cpu_stale_from_the_outer_cache(v: &Violation) -> bool {
    matches!(
        v.kind,
        ViolationKind::StaleRead {
            reader: Master::Cpu(0),
            newest_writer: Master::Device(d),
            source: Level::Outer,
            newest_in: Some(Level::Dram),
        } if d == G2D
    )
}

#[test]
fn two_level_cache_has_zero_violations_and_the_minimum_at_each_level() {
    let shape = Shape::armv7(FRAMES);
    let sim = armv7_sim(&shape, true);
    let run = run_on(&shape, &sim, two_level(&sim));
    assert!(run.violations.is_empty(), "{}", all(&run.violations));

    // The sync sets asked for exactly the single-level minimum...
    let min = pipeline::minimum(&shape);
    assert_eq!(run.domain_counts, Some((min.calls(), min.bytes())));
    // ...and TwoLevelCache turned it into exactly the least work at each level, through the
    // per-level handles alone (the simulator's own maintenance was never called).
    let per_level = pipeline::minimum_per_level(&shape);
    assert_eq!(run.stats.total_calls(), 0);
    assert!(
        per_level.l1.is_exactly(&run.stats.l1),
        "L1: {:?} vs the minimum {:?}",
        run.stats.l1,
        per_level.l1
    );
    assert!(
        per_level.outer.is_exactly(&run.stats.outer),
        "outer: {:?} vs the minimum {:?}",
        run.stats.outer,
        per_level.outer
    );

    // The figures: per frame, the overlay (64x64x4 = 16 KiB = 512 lines) cleaned and the
    // checksum band (4 rows of 320x4 = 5 KiB = 160 lines) invalidated, at both levels, one
    // completion for each at each level.
    let overlay_lines = (shape.overlay_bytes() / shape.line) as u64;
    let band_lines = (shape.checksum_bytes().len() / shape.line) as u64;
    assert_eq!((overlay_lines, band_lines), (512, 160));
    let frames = FRAMES as u64;
    for level in [run.stats.l1, run.stats.outer] {
        assert_eq!(level.lines, [frames * 512, frames * 160, 0]);
        assert_eq!(level.completions, 2 * frames);
    }
    // The adversary ran: every invalidated line was refilled at once (6 x 160), on top of
    // the prefetches, which fill the band of each of the 3 buffers once (in the second
    // round the refill left it resident).
    assert_eq!(
        run.stats.speculative_fills,
        frames * band_lines + 3 * band_lines
    );
}

#[test]
fn dropping_the_outer_cache_step_is_caught() {
    let shape = Shape::armv7(FRAMES);
    let sim = armv7_sim(&shape, true);
    let run = run_on(&shape, &sim, Mutant::new(&sim, Mutation::DropOuter));
    let text = all(&run.violations);
    assert!(
        is_device_stale_behind_the_outer_cache(&run.violations[0]),
        "{text}"
    );
    assert!(
        run.violations.iter().any(is_cpu_stale_from_the_outer_cache),
        "{text}"
    );
    // Every overlay line of every frame reaches the engine stale; every band line of every
    // frame reaches the CPU stale (the outer cache keeps the first round's copy).
    let (overlay, band) = overlay_and_band_lines(&shape);
    assert_eq!(
        tally_kinds(&run.violations),
        (FRAMES * overlay, FRAMES * band)
    );
    assert_eq!(
        run.stats.outer.lines,
        [0, 0, 0],
        "the outer cache was never maintained"
    );
}

#[test]
fn two_level_cache_without_its_outer_cache_is_caught() {
    // A board that forgets to hand TwoLevelCache its PL310: the real type, outer step gone.
    let shape = Shape::armv7(FRAMES);
    let sim = armv7_sim(&shape, true);
    let cache = TwoLevelCache::new(L1(sim.l1()), None::<SimOuter<'_>>, phys_offset(&sim));
    let run = run_on(&shape, &sim, cache);
    let (overlay, band) = overlay_and_band_lines(&shape);
    assert_eq!(
        tally_kinds(&run.violations),
        (FRAMES * overlay, FRAMES * band),
        "as the dropped outer step"
    );
    let text = all(&run.violations);
    assert!(
        is_device_stale_behind_the_outer_cache(&run.violations[0]),
        "{text}"
    );
    assert!(
        run.violations.iter().any(is_cpu_stale_from_the_outer_cache),
        "{text}"
    );
}

#[test]
fn swapping_the_order_of_the_levels_is_caught() {
    let shape = Shape::armv7(FRAMES);
    let sim = armv7_sim(&shape, true);
    let run = run_on(&shape, &sim, Mutant::new(&sim, Mutation::SwapOrder));
    let text = all(&run.violations);
    // Clean outer-then-L1 leaves the overlay dirty in the outer cache.
    assert!(
        is_device_stale_behind_the_outer_cache(&run.violations[0]),
        "{text}"
    );
    // Invalidate L1-then-outer lets the refill take the outer cache's stale band.
    assert!(
        run.violations.iter().any(is_cpu_stale_from_the_outer_cache),
        "{text}"
    );
    // Every overlay line of every frame; the band of each buffer's first frame (see the
    // next test for why not the second round).
    let (overlay, band) = overlay_and_band_lines(&shape);
    assert_eq!(tally_kinds(&run.violations), (FRAMES * overlay, 3 * band));
    // Same work as the right order: only the order differs.
    let per_level = pipeline::minimum_per_level(&shape);
    assert!(per_level.l1.is_exactly(&run.stats.l1));
    assert!(per_level.outer.is_exactly(&run.stats.outer));
}

#[test]
fn swapping_only_the_invalidate_order_is_caught_by_the_speculative_refill() {
    let shape = Shape::armv7(FRAMES);
    let sim = armv7_sim(&shape, true);
    let run = run_on(
        &shape,
        &sim,
        Mutant::new(&sim, Mutation::SwapInvalidateOrder),
    );
    let text = all(&run.violations);
    assert!(!run.violations.is_empty(), "not caught");
    assert_eq!(tally_kinds(&run.violations).0, 0, "the clean is right");
    assert!(
        run.violations.iter().all(is_cpu_stale_from_the_outer_cache),
        "{text}"
    );
    // Every band line of each buffer's first frame: the prefetch put the band in the
    // outer cache, and the refill after the L1 step took it from there. In the second
    // round the outer copy is gone (the first round's outer invalidate dropped it), so the
    // refill comes from DRAM and happens to be fresh.
    let band_lines = shape.checksum_bytes().len() / shape.line;
    assert_eq!(run.violations.len(), 3 * band_lines, "{text}");
}

#[test]
fn the_invalidate_order_matters_only_because_a_cpu_may_refill_between_the_levels() {
    // Without speculation between the two steps, the swapped invalidate happens to work: the
    // order is a defence against the refill, which is why the proof runs with it.
    let shape = Shape::armv7(3);
    let sim = armv7_sim(&shape, false);
    let run = run_on(
        &shape,
        &sim,
        Mutant::new(&sim, Mutation::SwapInvalidateOrder),
    );
    assert!(run.violations.is_empty(), "{}", all(&run.violations));
    let sim = armv7_sim(&shape, false);
    let run = run_on(&shape, &sim, two_level(&sim));
    assert!(run.violations.is_empty(), "{}", all(&run.violations));
}
