//! The seed pipeline on the non-coherent memory simulator, frame by frame, under four cache
//! maintenance policies. Shared by `benches/pipeline.rs` (prints the table) and
//! `tests/pipeline_maintenance.rs` (asserts that dmasync issues exactly the minimum).
//!
//! Per frame `f`, with triple buffering (back buffer `frames[f % 3]`):
//! 1. **draw**: the CPU draws the overlay (CPU write of the whole overlay);
//! 2. **composite**: the 2D engine reads the overlay and writes the back buffer (DMA read +
//!    DMA write, one task holding both buffers);
//! 3. **scan-out**: the display reads the back buffer (DMA read by a second device);
//! 4. **checksum**: the CPU reads back a small declared band of the frame (CPU read).
//!
//! Worst-case speculation: while the 2D engine writes the back buffer, CPU 1 prefetches the
//! lines of the checksum band, so a policy that does not invalidate after the device's write
//! shows a stale read. Caches never evict (`Eviction::Never`), so a missing clean shows too.
//!
//! Every policy replays the same accesses, on a fresh simulator with the same allocation
//! order (so the same addresses); maintenance is counted by the simulator (`SimStats`),
//! except for the minimum, which `MinimumMaintenance` computes line by line.
//!
//! [`run_sync_sets`] runs the sync sets over any memory system built on a simulator, which
//! is how `tests/pipeline_two_level.rs` puts ARMv7-A's `TwoLevelCache` over a simulator
//! with an outer cache; [`minimum_per_level`] is the least work at each of its levels.

use std::ops::Range;

use dmasync_hal::cache::{CacheMaintenance, CacheOp, VirtRange};
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory, DmaRegion, MemorySystem};
use dmasync_sim::minimum::{MinimumMaintenance, PerLevel, Side};
use dmasync_sim::{
    Eviction, NonCoherentSim, OuterConfig, SimConfig, SimStats, Violation, set_current_cpu,
};
use dmasync_sync::syncset::{Access, AccessMode, SyncConfig, SyncDomain};

/// Cache line of the simulated SoC of [`Shape::seed`].
pub const LINE: usize = 64;
/// Cache line of the Cortex-A9 L1 and of the PL310 ([`Shape::armv7`]).
pub const ARMV7_LINE: usize = 32;
/// The 2D engine (first device added to every simulator).
pub const G2D: DeviceId = DeviceId(0);
/// The display controller.
pub const DISPLAY: DeviceId = DeviceId(1);
const BYTES_PER_PIXEL: usize = 4; // XRGB8888
const BUFFERS_IN_FLIGHT: usize = 3;

/// Sizes and length of a run.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Frame width in pixels.
    pub width: usize,
    /// Frame height in pixels.
    pub height: usize,
    /// Overlay width and height in pixels (square).
    pub overlay: usize,
    /// Rows of the frame the CPU reads back for its checksum.
    pub checksum_rows: Range<usize>,
    /// Frames to run.
    pub frames: usize,
    /// Cache line of the simulated SoC in bytes.
    pub line: usize,
}

impl Shape {
    /// 320x240 XRGB frames, a 64x64 overlay, a 4-row checksum band, `frames` frames.
    pub fn seed(frames: usize) -> Self {
        Self {
            width: 320,
            height: 240,
            overlay: 64,
            checksum_rows: 118..122,
            frames,
            line: LINE,
        }
    }

    /// The seed's frames on a Cortex-A9 SoC: the same accesses, 32-byte cache lines.
    pub fn armv7(frames: usize) -> Self {
        Self {
            line: ARMV7_LINE,
            ..Self::seed(frames)
        }
    }

    /// Bytes of one frame.
    pub fn frame_bytes(&self) -> usize {
        self.width * self.height * BYTES_PER_PIXEL
    }

    /// Bytes of the overlay.
    pub fn overlay_bytes(&self) -> usize {
        self.overlay * self.overlay * BYTES_PER_PIXEL
    }

    /// The checksum band in bytes of the frame.
    pub fn checksum_bytes(&self) -> Range<usize> {
        let row = self.width * BYTES_PER_PIXEL;
        self.checksum_rows.start * row..self.checksum_rows.end * row
    }
}

/// Who touches a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// A CPU core.
    Cpu(usize),
    /// A non-coherent device.
    Dev(DeviceId),
}

/// Buffer index: 0 is the overlay, 1..=3 the frames.
pub type Buf = usize;

/// One buffer access of a task.
#[derive(Clone, Debug)]
pub struct Step {
    /// Which buffer.
    pub buf: Buf,
    /// Who.
    pub who: Who,
    /// Reads or writes (the pipeline has no read-modify-write).
    pub mode: AccessMode,
    /// Declared bytes.
    pub range: Range<usize>,
}

impl Step {
    fn access(&self) -> Access {
        match (self.who, self.mode) {
            (Who::Cpu(_), mode) => Access {
                agent: dmasync_sync::syncset::Agent::Cpu,
                mode,
            },
            (Who::Dev(d), AccessMode::Read) => Access::dma_read(d),
            (Who::Dev(d), AccessMode::Write) => Access::dma_write(d),
            (Who::Dev(d), AccessMode::ReadWrite) => Access::dma_read_write(d),
        }
    }

    fn side(&self) -> Side {
        match self.who {
            Who::Cpu(_) => Side::Cache,
            Who::Dev(_) => Side::Memory,
        }
    }

    fn writes(&self) -> bool {
        self.mode != AccessMode::Read
    }
}

/// One task: the buffers one sync set holds at once, accessed after its maintenance.
#[derive(Clone, Debug)]
pub struct Task {
    /// The accesses, in order.
    pub steps: Vec<Step>,
    /// Lines CPU 1 prefetches (buffer, byte offset) after the maintenance, before the
    /// accesses: the worst moment, while a device writes.
    pub prefetch: Vec<(Buf, usize)>,
}

/// The tasks of frame `f`.
pub fn frame_tasks(shape: &Shape, f: usize) -> Vec<Task> {
    let overlay = 0;
    let back = 1 + f % BUFFERS_IN_FLIGHT;
    let frame = 0..shape.frame_bytes();
    let checksum = shape.checksum_bytes();
    let step = |buf, who, mode, range: Range<usize>| Step {
        buf,
        who,
        mode,
        range,
    };
    vec![
        Task {
            steps: vec![step(
                overlay,
                Who::Cpu(0),
                AccessMode::Write,
                0..shape.overlay_bytes(),
            )],
            prefetch: vec![],
        },
        Task {
            steps: vec![
                step(
                    overlay,
                    Who::Dev(G2D),
                    AccessMode::Read,
                    0..shape.overlay_bytes(),
                ),
                step(back, Who::Dev(G2D), AccessMode::Write, frame.clone()),
            ],
            prefetch: checksum
                .clone()
                .step_by(shape.line)
                .map(|o| (back, o))
                .collect(),
        },
        Task {
            steps: vec![step(back, Who::Dev(DISPLAY), AccessMode::Read, frame)],
            prefetch: vec![],
        },
        Task {
            steps: vec![step(back, Who::Cpu(0), AccessMode::Read, checksum)],
            prefetch: vec![],
        },
    ]
}

/// Maintenance counted per operation kind, in [`CacheOp::ALL`] order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls per operation.
    pub calls: [u64; 3],
    /// Bytes per operation.
    pub bytes: [u64; 3],
}

impl Tally {
    /// All calls.
    pub fn calls(&self) -> u64 {
        self.calls.iter().sum()
    }
    /// All bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
}

/// The result of one policy's run.
#[derive(Debug)]
pub struct Run {
    /// Maintenance over the whole run.
    pub tally: Tally,
    /// What the simulator saw go wrong (empty for a correct policy; the minimum runs no
    /// simulator and has none).
    pub violations: Vec<Violation>,
    /// For dmasync: the domain's own count of operations and bytes.
    pub domain_counts: Option<(u64, u64)>,
    /// The simulator's counters at the end (per level among them).
    pub stats: SimStats,
}

/// The policies compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Sync sets: maintenance derived by `CoherencyTracker`.
    Dmasync,
    /// (a) Clean+invalidate the whole buffer before every access (every hand-over).
    WholeCleanInvalidate,
    /// (b) Linux streaming DMA, whole buffer: `dma_sync_*_for_device` (clean) before every
    /// device access; `dma_sync_*_for_cpu` (invalidate) before a CPU access when a device
    /// wrote the buffer since the CPU last owned it (a device that only read it was mapped
    /// `DMA_TO_DEVICE`, for which `for_cpu` does nothing).
    LinuxStreaming,
    /// Negative control: no maintenance at all.
    Nothing,
}

impl Policy {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Dmasync => "dmasync sync sets",
            Policy::WholeCleanInvalidate => "(a) clean+invalidate whole buffer per hand-over",
            Policy::LinuxStreaming => "(b) Linux streaming DMA, whole buffer",
            Policy::Nothing => "no maintenance (negative control)",
        }
    }
}

/// A fresh simulator for `shape` (its line size, caches that never evict), with the two
/// devices added and, if given, an outer cache.
pub fn simulator(shape: &Shape, outer: Option<OuterConfig>) -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 2 << 20,
        cpus: 2,
        line_size: shape.line,
        eviction: Eviction::Never,
        outer,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("g2d", Coherency::NonCoherent), G2D);
    assert_eq!(sim.add_device("display", Coherency::NonCoherent), DISPLAY);
    sim
}

fn regions(sim: &NonCoherentSim, shape: &Shape) -> Vec<DmaRegion> {
    let mut v = vec![
        sim.alloc(shape.overlay_bytes(), Coherency::NonCoherent)
            .expect("sim has room"),
    ];
    for _ in 0..BUFFERS_IN_FLIGHT {
        v.push(
            sim.alloc(shape.frame_bytes(), Coherency::NonCoherent)
                .expect("sim has room"),
        );
    }
    v
}

fn tally_of(sim: &NonCoherentSim) -> Tally {
    let s = sim.stats();
    Tally {
        calls: s.calls,
        bytes: s.bytes,
    }
}

/// The bytes each access moves: the CPU draws a frame-numbered pattern; the engine copies
/// the overlay into the top-left corner of an otherwise frame-numbered scene.
fn do_access(
    sim: &NonCoherentSim,
    step: &Step,
    virt: usize,
    bus: BusAddr,
    f: usize,
    scratch: &mut Vec<u8>,
) {
    let len = step.range.len();
    scratch.clear();
    scratch.resize(len, 0);
    match (step.who, step.mode) {
        (Who::Cpu(c), AccessMode::Read) => sim.cpu_read(c, virt, scratch),
        (Who::Cpu(c), _) => {
            scratch.fill(f as u8 ^ 0x5A);
            sim.cpu_write(c, virt, scratch);
        }
        (Who::Dev(d), AccessMode::Read) => sim.device_read(d, bus, scratch),
        (Who::Dev(d), _) => {
            scratch.fill(f as u8);
            sim.device_write(d, bus, scratch);
        }
    }
}

/// Runs the pipeline under `policy`.
pub fn run(shape: &Shape, policy: Policy) -> Run {
    match policy {
        Policy::Dmasync => run_dmasync(shape),
        _ => run_replay(shape, policy),
    }
}

/// Sync sets on the simulator: one set per task, accesses through the guards.
fn run_dmasync(shape: &Shape) -> Run {
    let sim = simulator(shape, None);
    run_sync_sets(shape, &sim, &sim)
}

/// Sync sets over `memory`, a memory system on the fresh simulator `sim` (the simulator
/// itself, or its CPU view with another maintenance): one set per task, accesses through
/// the guards.
pub fn run_sync_sets<M: MemorySystem>(shape: &Shape, sim: &NonCoherentSim, memory: M) -> Run {
    let regions = regions(sim, shape);
    sim.take_violations();
    let domain: SyncDomain<M> = SyncDomain::new(memory, SyncConfig::default());
    let names = ["overlay", "frame0", "frame1", "frame2"];
    let bufs: Vec<_> = regions
        .into_iter()
        .zip(names)
        .map(|(r, n)| domain.buffer(n, r).expect("line-aligned region"))
        .collect();
    set_current_cpu(0);
    let mut scratch = Vec::new();
    for f in 0..shape.frames {
        for task in frame_tasks(shape, f) {
            let mut set = domain.set();
            for s in &task.steps {
                set.add_range(&bufs[s.buf], s.access(), s.range.clone())
                    .expect("valid registration");
            }
            let locked = set.lock().expect("uncontended lock");
            for &(b, off) in &task.prefetch {
                sim.speculative_fill(1, bufs[b].region().virt() + off);
            }
            for s in &task.steps {
                let buf = &bufs[s.buf];
                match s.who {
                    Who::Cpu(_) if s.mode == AccessMode::Read => {
                        let g = locked.cpu_read(buf).expect("registered for CPU read");
                        let sum: u64 = g
                            .with(|b| b.iter().map(|&x| u64::from(x)).sum())
                            .expect("held");
                        std::hint::black_box(sum);
                    }
                    Who::Cpu(_) => {
                        let mut g = locked.cpu_write(buf).expect("registered for CPU write");
                        g.with_mut(|b| b.fill(f as u8 ^ 0x5A)).expect("held");
                    }
                    Who::Dev(d) => {
                        let (bus, len) = locked
                            .dma(buf, d)
                            .expect("registered for this device")
                            .bus_range()
                            .expect("held");
                        assert_eq!(len, s.range.len());
                        let virt = bufs[s.buf].region().virt() + s.range.start;
                        do_access(sim, s, virt, bus, f, &mut scratch);
                    }
                }
            }
            locked.unlock().expect("not expired");
        }
    }
    let st = domain.stats();
    Run {
        tally: tally_of(sim),
        violations: sim.violations(),
        domain_counts: Some((st.cache_ops, st.cache_bytes)),
        stats: sim.stats(),
    }
}

/// A baseline policy replayed directly on the simulator.
fn run_replay(shape: &Shape, policy: Policy) -> Run {
    let sim = simulator(shape, None);
    let regions = regions(&sim, shape);
    sim.take_violations();
    // Linux rule: per buffer, "a device wrote it since the CPU last owned it".
    let mut device_wrote = vec![false; regions.len()];
    let mut scratch = Vec::new();
    let whole = |b: Buf| VirtRange::new(regions[b].virt(), regions[b].len());
    for f in 0..shape.frames {
        for task in frame_tasks(shape, f) {
            for s in &task.steps {
                let ops: Vec<CacheOp> = match policy {
                    Policy::WholeCleanInvalidate => vec![CacheOp::CleanInvalidate],
                    Policy::LinuxStreaming => match s.who {
                        Who::Dev(_) => {
                            device_wrote[s.buf] |= s.writes();
                            vec![CacheOp::Clean]
                        }
                        Who::Cpu(_) if std::mem::take(&mut device_wrote[s.buf]) => {
                            vec![CacheOp::Invalidate]
                        }
                        Who::Cpu(_) => vec![],
                    },
                    Policy::Nothing => vec![],
                    Policy::Dmasync => unreachable!("sync sets run through run_dmasync"),
                };
                for op in ops {
                    // SAFETY: simulator addresses; no real memory is touched.
                    unsafe { sim.perform(op, whole(s.buf)) };
                }
            }
            for &(b, off) in &task.prefetch {
                sim.speculative_fill(1, regions[b].virt() + off);
            }
            for s in &task.steps {
                let r = &regions[s.buf];
                let virt = r.virt() + s.range.start;
                let bus = BusAddr(r.bus().0 + s.range.start as u64);
                do_access(&sim, s, virt, bus, f, &mut scratch);
            }
        }
    }
    Run {
        tally: tally_of(&sim),
        violations: sim.violations(),
        domain_counts: None,
        stats: sim.stats(),
    }
}

/// The least maintenance the same sequence needs (`MinimumMaintenance`, line by line).
pub fn minimum(shape: &Shape) -> Tally {
    let mut t = Tally::default();
    for_each_minimum(shape, |n| {
        t.calls[CacheOp::Clean as usize] += n.cleans;
        t.calls[CacheOp::Invalidate as usize] += n.invalidates;
        t.bytes[CacheOp::Clean as usize] += n.clean_bytes;
        t.bytes[CacheOp::Invalidate as usize] += n.invalidate_bytes;
    });
    t
}

/// The least work the same sequence needs at each level of an L1 + outer cache hierarchy
/// (`Needed::per_level`).
pub fn minimum_per_level(shape: &Shape) -> PerLevel {
    let mut t = PerLevel::default();
    for_each_minimum(shape, |n| t += n.per_level(shape.line));
    t
}

fn for_each_minimum(shape: &Shape, mut each: impl FnMut(dmasync_sim::minimum::Needed)) {
    let lens = [
        shape.overlay_bytes(),
        shape.frame_bytes(),
        shape.frame_bytes(),
        shape.frame_bytes(),
    ];
    let mut mins: Vec<MinimumMaintenance> = lens
        .iter()
        .map(|&l| MinimumMaintenance::new(l, shape.line, false))
        .collect();
    for f in 0..shape.frames {
        for task in frame_tasks(shape, f) {
            for s in &task.steps {
                each(mins[s.buf].access(s.side(), s.writes(), s.range.clone()));
            }
        }
    }
}
