//! The derived cache policy against the non-coherent memory simulator.
//!
//! QEMU models no caches, so these tests are where cache correctness is proven:
//! 1. correctness: random tasks, buffers and access types (CPUs and several DMA masters,
//!    coherent and not), arbitrary byte ranges, random eviction and speculative fills —
//!    zero stale reads, zero lost writes;
//! 2. minimality: the policy issues exactly the operations and bytes the simulator's
//!    independent line-by-line minimum computes, and dropping any single operation makes
//!    the simulator report a violation under a worst-case schedule;
//! 3. negative control: the same sequences with maintenance off produce violations, which
//!    proves the simulator can see what the policy prevents.

use dmasync_hal::cache::{CacheMaintenance, CacheOp};
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory, DmaRegion};
use dmasync_sim::minimum::{MinimumMaintenance, Needed, Side};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig, Violation};
use dmasync_sync::syncset::{Access, AccessMode, Agent, CoherencyTracker};
use proptest::prelude::*;

const LINE: usize = 64;
const CPUS: usize = 2;
/// (size in lines, coherency) of the buffers every sequence works on.
const BUFFERS: [(usize, Coherency); 3] = [
    (6, Coherency::NonCoherent),
    (3, Coherency::NonCoherent),
    (2, Coherency::Coherent),
];

/// Agents: CPUs, two non-coherent DMA masters, one snooping master.
#[derive(Clone, Copy, Debug)]
enum Who {
    Cpu(usize),
    Dma(u16),
    Snooper,
}

/// A declared range: `Whole` or raw numbers resolved against the buffer size.
#[derive(Clone, Copy, Debug)]
enum Span {
    Whole,
    Raw(usize, usize),
}

#[derive(Clone, Debug)]
struct Step {
    buffer: usize,
    who: Who,
    mode: AccessMode,
    span: Span,
    /// Speculative fills before the step: (cpu, buffer, line).
    prefetch: Vec<(usize, usize, usize)>,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        (0..CPUS).prop_map(Who::Cpu),
        (0u16..2).prop_map(Who::Dma),
        Just(Who::Snooper)
    ]
}

fn mode() -> impl Strategy<Value = AccessMode> {
    prop_oneof![
        Just(AccessMode::Read),
        Just(AccessMode::Write),
        Just(AccessMode::ReadWrite)
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..BUFFERS.len(),
        who(),
        mode(),
        prop_oneof![1 => Just(Span::Whole), 3 => (0usize..10_000, 0usize..10_000).prop_map(|(s, l)| Span::Raw(s, l))],
        proptest::collection::vec((0..CPUS, 0..BUFFERS.len(), 0usize..8), 0..3),
    )
        .prop_map(|(buffer, who, mode, span, prefetch)| Step { buffer, who, mode, span, prefetch })
}

struct World {
    sim: NonCoherentSim,
    dma: [DeviceId; 2],
    snooper: DeviceId,
    regions: Vec<DmaRegion>,
}

fn world(eviction: Eviction, lines_per_cpu: usize) -> World {
    let sim = NonCoherentSim::new(SimConfig {
        eviction,
        lines_per_cpu,
        cpus: CPUS,
        ..SimConfig::default()
    });
    let dma = [
        sim.add_device("g2d", Coherency::NonCoherent),
        sim.add_device("display", Coherency::NonCoherent),
    ];
    let snooper = sim.add_device("coherent-dma", Coherency::Coherent);
    let regions = BUFFERS
        .iter()
        .map(|&(lines, c)| sim.alloc(lines * LINE, c).expect("sim has room"))
        .collect();
    sim.take_violations();
    World {
        sim,
        dma,
        snooper,
        regions,
    }
}

/// How the accesses themselves touch bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Touch {
    /// Any byte range; every declared byte is read and/or written.
    Every,
    /// Worst case for a policy: line-aligned ranges; cache-side writers write only the
    /// first byte of each line of the declared range (declared ranges are upper bounds);
    /// before every access CPU 0 prefetches every line of the buffer, and after every
    /// device access every dirty line it touched is evicted (written back).
    Adversarial,
}

/// What to do with the policy's operations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Maintenance {
    On,
    Off,
    DropOne(usize),
}

struct Outcome {
    violations: Vec<Violation>,
    issued: Needed,
    minimum: Needed,
    ops_issued: usize,
}

fn access_of(w: &World, who: Who, mode: AccessMode) -> (Access, Side) {
    match who {
        Who::Cpu(_) => (
            Access {
                agent: Agent::Cpu,
                mode,
            },
            Side::Cache,
        ),
        Who::Dma(i) => (
            Access {
                agent: Agent::Device(w.dma[usize::from(i)], Coherency::NonCoherent),
                mode,
            },
            Side::Memory,
        ),
        Who::Snooper => (
            Access {
                agent: Agent::Device(w.snooper, Coherency::Coherent),
                mode,
            },
            Side::Cache,
        ),
    }
}

fn resolve(span: Span, size: usize, touch: Touch) -> (usize, usize) {
    match (span, touch) {
        (Span::Whole, _) => (0, size),
        (Span::Raw(s, l), Touch::Every) => {
            let start = s % size;
            (start, 1 + l % (size - start))
        }
        (Span::Raw(s, l), Touch::Adversarial) => {
            let lines = size / LINE;
            let first = s % lines;
            (first * LINE, (1 + l % (lines - first)) * LINE)
        }
    }
}

fn run(
    steps: &[Step],
    eviction: Eviction,
    lines_per_cpu: usize,
    touch: Touch,
    maint: Maintenance,
) -> Outcome {
    let w = world(eviction, lines_per_cpu);
    let mut trackers: Vec<CoherencyTracker> = w
        .regions
        .iter()
        .map(|r| CoherencyTracker::new(r.virt(), r.len(), LINE, r.coherency()))
        .collect();
    let mut minimum: Vec<MinimumMaintenance> = w
        .regions
        .iter()
        .map(|r| MinimumMaintenance::new(r.len(), LINE, r.coherency() == Coherency::Coherent))
        .collect();
    let mut out = Outcome {
        violations: Vec::new(),
        issued: Needed::default(),
        minimum: Needed::default(),
        ops_issued: 0,
    };
    let mut op_index = 0usize;
    let mut stamp = 1u8;

    // A closing pair surfaces latent hazards: every buffer read by a device, then by a CPU.
    let mut all: Vec<Step> = steps.to_vec();
    for buffer in 0..BUFFERS.len() {
        for who in [Who::Dma(0), Who::Cpu(1)] {
            all.push(Step {
                buffer,
                who,
                mode: AccessMode::Read,
                span: Span::Whole,
                prefetch: vec![],
            });
        }
    }

    for s in &all {
        let region = &w.regions[s.buffer];
        let size = region.len();
        let (start, len) = resolve(s.span, size, touch);
        for &(cpu, b, line) in &s.prefetch {
            let r = &w.regions[b];
            w.sim
                .speculative_fill(cpu, r.virt() + (line % (r.len() / LINE)) * LINE);
        }
        let (access, side) = access_of(&w, s.who, s.mode);

        let plan = trackers[s.buffer]
            .plan(access, Some(start..start + len))
            .expect("valid range");
        out.minimum += minimum[s.buffer].access(side, access.writes(), start..start + len);
        for &(op, range) in &plan.ops {
            let n = range.len as u64;
            match op {
                CacheOp::Clean => {
                    out.issued.cleans += 1;
                    out.issued.clean_bytes += n;
                }
                CacheOp::Invalidate => {
                    out.issued.invalidates += 1;
                    out.issued.invalidate_bytes += n;
                }
                CacheOp::CleanInvalidate => panic!("the policy never needs clean+invalidate"),
            }
            let skip = match maint {
                Maintenance::On => false,
                Maintenance::Off => true,
                Maintenance::DropOne(k) => k == op_index,
            };
            op_index += 1;
            if !skip {
                // SAFETY: simulator addresses; no real memory is touched.
                unsafe { w.sim.perform(op, range) };
            }
        }

        // Worst case: right after maintenance the buffer's lines are (re)filled
        // speculatively, so a device's write leaves stale copies behind and a snooping
        // device's write lands in cache lines that become dirty.
        if touch == Touch::Adversarial {
            for l in 0..size / LINE {
                w.sim.speculative_fill(0, region.virt() + l * LINE);
            }
        }

        // The access itself.
        stamp = stamp.wrapping_add(1).max(1);
        let bus = BusAddr(region.bus().0 + start as u64);
        let virt = region.virt() + start;
        if access.reads() {
            let mut buf = vec![0u8; len];
            match s.who {
                Who::Cpu(c) => w.sim.cpu_read(c, virt, &mut buf),
                Who::Dma(i) => w.sim.device_read(w.dma[usize::from(i)], bus, &mut buf),
                Who::Snooper => w.sim.device_read(w.snooper, bus, &mut buf),
            }
        }
        if access.writes() {
            let data = vec![stamp; len];
            match s.who {
                Who::Cpu(c) if touch == Touch::Adversarial => {
                    for l in 0..len / LINE {
                        w.sim.cpu_write(c, virt + l * LINE, &[stamp]);
                    }
                }
                Who::Snooper if touch == Touch::Adversarial => {
                    for l in 0..len / LINE {
                        w.sim
                            .device_write(w.snooper, BusAddr(bus.0 + (l * LINE) as u64), &[stamp]);
                    }
                }
                Who::Cpu(c) => w.sim.cpu_write(c, virt, &data),
                Who::Dma(i) => w.sim.device_write(w.dma[usize::from(i)], bus, &data),
                Who::Snooper => w.sim.device_write(w.snooper, bus, &data),
            }
        }
        if touch == Touch::Adversarial && side == Side::Memory {
            w.sim
                .evict_dirty(dmasync_hal::cache::VirtRange::new(virt, len));
        }
    }
    out.ops_issued = op_index;
    out.violations = w.sim.violations();
    out
}

fn show(v: &[Violation]) -> String {
    v.iter()
        .take(3)
        .map(|v| format!("{v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// 1. Zero violations, whatever the eviction schedule, speculation and byte ranges.
    #[test]
    fn derived_maintenance_is_correct(steps in proptest::collection::vec(step(), 1..40), seed in any::<u64>(),
                                      capacity in 1usize..12) {
        for (eviction, cap) in [(Eviction::Random { seed }, capacity), (Eviction::Fifo, capacity), (Eviction::Never, 0)] {
            let out = run(&steps, eviction, cap, Touch::Every, Maintenance::On);
            prop_assert!(out.violations.is_empty(), "{:?}: {}", eviction, show(&out.violations));
            let adv = run(&steps, eviction, cap, Touch::Adversarial, Maintenance::On);
            prop_assert!(adv.violations.is_empty(), "{:?} adversarial: {}", eviction, show(&adv.violations));
        }
    }

    /// 2a. Exactly the minimum number of operations and bytes.
    #[test]
    fn derived_maintenance_equals_the_minimum(steps in proptest::collection::vec(step(), 1..40)) {
        for touch in [Touch::Every, Touch::Adversarial] {
            let out = run(&steps, Eviction::Never, 0, touch, Maintenance::On);
            prop_assert_eq!(out.issued, out.minimum);
        }
    }

    /// 2b + 3. Every operation is necessary, and without maintenance the simulator sees
    /// the hazards.
    #[test]
    fn every_operation_is_necessary(steps in proptest::collection::vec(step(), 1..25)) {
        let full = run(&steps, Eviction::Never, 0, Touch::Adversarial, Maintenance::On);
        prop_assert!(full.violations.is_empty(), "{}", show(&full.violations));
        for k in 0..full.ops_issued {
            let dropped = run(&steps, Eviction::Never, 0, Touch::Adversarial, Maintenance::DropOne(k));
            prop_assert!(!dropped.violations.is_empty(),
                "dropping operation {} of {} went unnoticed", k, full.ops_issued);
        }
        let off = run(&steps, Eviction::Never, 0, Touch::Adversarial, Maintenance::Off);
        prop_assert_eq!(off.violations.is_empty(), full.ops_issued == 0,
            "maintenance off: {} violations with {} operations needed", off.violations.len(), full.ops_issued);
    }
}

/// The negative control on one fixed, readable sequence: a CPU draws, the 2D engine reads
/// it and writes a frame, the CPU reads the frame back.
#[test]
fn negative_control_seed_pipeline() {
    let step = |buffer, who, mode, prefetch| Step {
        buffer,
        who,
        mode,
        span: Span::Whole,
        prefetch,
    };
    let steps = vec![
        step(0, Who::Cpu(0), AccessMode::Write, vec![]),
        step(0, Who::Dma(0), AccessMode::Read, vec![]),
        step(1, Who::Dma(0), AccessMode::Write, vec![(1, 1, 0)]),
        step(1, Who::Cpu(1), AccessMode::Read, vec![]),
    ];
    let on = run(&steps, Eviction::Never, 0, Touch::Every, Maintenance::On);
    assert!(on.violations.is_empty(), "{}", show(&on.violations));
    // Clean before the engine reads the drawing; invalidate before the CPU reads the frame.
    // The closing reads need nothing more.
    assert_eq!((on.issued.cleans, on.issued.invalidates), (1, 1));
    let off = run(&steps, Eviction::Never, 0, Touch::Every, Maintenance::Off);
    let text: String = off.violations.iter().map(|v| format!("{v}\n")).collect();
    assert!(text.contains("stale read by Device"), "{text}");
    assert!(text.contains("stale read by Cpu"), "{text}");
}
