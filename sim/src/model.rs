//! The simulator's state machine. See the module documentation in `mod.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::string::String;
use std::sync::{Mutex, MutexGuard};
use std::vec::Vec;

use dmasync_hal::cache::{CacheMaintenance, CacheOp, VirtRange};
use dmasync_hal::dma::{
    BusAddr, Coherency, CpuMemory, DeviceId, DeviceMemory, DmaError, DmaMemory, DmaRegion, MemoryId,
};

/// How a full CPU cache picks the line to evict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Unbounded caches: nothing is ever evicted. Makes every missing maintenance operation
    /// visible (a dirty line stays dirty until cleaned), which is what minimality checks use.
    Never,
    /// Evict a pseudo-random resident line; the seed makes a run replayable.
    Random {
        /// Seed of the xorshift generator.
        seed: u64,
    },
    /// Evict the line filled longest ago.
    Fifo,
}

/// Simulator shape.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Bus address of DRAM's first byte.
    pub dram_base: u64,
    /// CPU virtual address of DRAM's first byte.
    pub virt_base: usize,
    /// DRAM size in bytes (a multiple of `line_size`).
    pub dram_size: usize,
    /// Cache line size in bytes (a power of two).
    pub line_size: usize,
    /// Number of CPUs, each with its own data cache.
    pub cpus: usize,
    /// Capacity of each CPU cache in lines (ignored with [`Eviction::Never`]).
    pub lines_per_cpu: usize,
    /// Eviction policy.
    pub eviction: Eviction,
    /// A shared outer cache between the CPU caches and DRAM; `None`: the CPU caches write
    /// back to DRAM directly.
    pub outer: Option<OuterConfig>,
}

/// The shared outer cache (an L2 such as the Arm PL310 of a Cortex-A9 SoC): one write-back,
/// write-allocate cache between every CPU's L1 and DRAM, by physical (here: bus) address,
/// with the same line size as the L1 caches (32 bytes on both the Cortex-A9 L1 and the
/// PL310: Linux arch/arm/mm/cache-l2x0.c, `CACHE_LINE_SIZE`). CPU fills come from it (it
/// allocates on a miss), CPU write-backs go into it; non-coherent devices see DRAM only.
#[derive(Clone, Debug)]
pub struct OuterConfig {
    /// Capacity in lines (ignored with [`Eviction::Never`]).
    pub lines: usize,
    /// Eviction policy.
    pub eviction: Eviction,
    /// Worst-case speculation between the levels: every line an L1 invalidation (or
    /// clean+invalidate) reaches is refilled into an L1 at once — the holder's, or the
    /// calling thread's [`current_cpu`] — from the outer cache if it holds the line. That is
    /// the moment a prefetch does harm when L1 is invalidated before the outer cache.
    pub refill_after_l1_invalidate: bool,
}

impl Default for OuterConfig {
    fn default() -> Self {
        Self {
            lines: 4096,
            eviction: Eviction::Never,
            refill_after_l1_invalidate: true,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            dram_base: 0x8000_0000,
            virt_base: 0x10_0000_0000,
            dram_size: 1 << 20,
            line_size: 64,
            cpus: 2,
            lines_per_cpu: 512,
            eviction: Eviction::Random { seed: 1 },
            outer: None,
        }
    }
}

/// Who accessed memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Master {
    /// A CPU core, by index.
    Cpu(usize),
    /// A device.
    Device(DeviceId),
    /// The initial contents of DRAM.
    Initial,
}

/// A level of the simulated memory hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// A CPU's own data cache (L1).
    L1,
    /// The shared outer cache ([`SimConfig::outer`]).
    Outer,
    /// DRAM.
    Dram,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// `reader` got a byte older than the newest write to it, which `newest_writer` made.
    StaleRead {
        /// Who read.
        reader: Master,
        /// Who wrote the value the reader should have seen.
        newest_writer: Master,
        /// Where the stale copy the reader got came from: DRAM for a non-coherent device;
        /// for a CPU, the level its L1 line was filled from (the outer cache on a hit
        /// there, else DRAM).
        source: Level,
        /// How far the newest value had got at the time: the level nearest DRAM holding it
        /// (`None`: nowhere any more, it was lost).
        newest_in: Option<Level>,
    },
    /// A write-back by `cpu`'s L1 replaced a newer value `overwritten_writer` had put in
    /// the level below (`into`: the outer cache when there is one, else DRAM).
    LostWriteByWriteBack {
        /// Whose cache line was written back.
        cpu: usize,
        /// Whose newer data was destroyed.
        overwritten_writer: Master,
        /// Why the line was written back ("clean", "eviction", "clean+invalidate").
        cause: &'static str,
        /// The level written into.
        into: Level,
    },
    /// An L1 invalidation discarded a CPU's dirty data that was newer than the level below.
    LostWriteByInvalidate {
        /// Whose cache held the discarded data.
        cpu: usize,
    },
    /// A write-back of an outer-cache line replaced a newer value `overwritten_writer` had
    /// put in DRAM.
    LostWriteByOuterWriteBack {
        /// Whose newer DRAM data was destroyed.
        overwritten_writer: Master,
        /// Why the line was written back ("clean", "eviction", "clean+invalidate").
        cause: &'static str,
    },
    /// An outer-cache invalidation discarded dirty data newer than DRAM that no L1 holds
    /// dirty either.
    LostWriteByOuterInvalidate,
}

/// One detected coherency violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Sequence number of the simulator event (access or maintenance) that caused it.
    pub event: u64,
    /// Bus address of the first affected byte of the line.
    pub bus: BusAddr,
    /// Number of affected bytes in that line.
    pub bytes: usize,
    /// What happened.
    pub kind: ViolationKind,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "event {}: {:?} ({} byte(s) in the line): ",
            self.event, self.bus, self.bytes
        )?;
        match &self.kind {
            ViolationKind::StaleRead {
                reader,
                newest_writer,
                source,
                newest_in,
            } => {
                write!(
                    f,
                    "stale read by {reader:?} (copy from {source:?}); newest data was written by {newest_writer:?}"
                )?;
                match newest_in {
                    Some(level) => write!(f, " and is in {level:?}"),
                    None => write!(f, " and was lost"),
                }
            }
            ViolationKind::LostWriteByWriteBack {
                cpu,
                overwritten_writer,
                cause,
                into,
            } => write!(
                f,
                "lost write: {cause} of CPU {cpu}'s line overwrote newer data from {overwritten_writer:?} in {into:?}"
            ),
            ViolationKind::LostWriteByInvalidate { cpu } => {
                write!(f, "lost write: invalidate discarded CPU {cpu}'s dirty data")
            }
            ViolationKind::LostWriteByOuterWriteBack {
                overwritten_writer,
                cause,
            } => write!(
                f,
                "lost write: {cause} of the outer cache's line overwrote newer DRAM data from {overwritten_writer:?}"
            ),
            ViolationKind::LostWriteByOuterInvalidate => write!(
                f,
                "lost write: outer-cache invalidate discarded dirty data newer than DRAM"
            ),
        }
    }
}

/// Maintenance counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Calls, per [`CacheOp`] in [`CacheOp::ALL`] order.
    pub calls: [u64; 3],
    /// Bytes asked for, per op.
    pub bytes: [u64; 3],
    /// Cache lines covered, per op.
    pub lines: [u64; 3],
    /// Lines actually written back (by maintenance or eviction).
    pub writebacks: u64,
    /// Lines evicted for capacity.
    pub evictions: u64,
    /// Speculative fills performed.
    pub speculative_fills: u64,
    /// Line operations and completions at the CPUs' L1 caches (the [`SimL1`] handle, and
    /// the simulator's own [`CacheMaintenance`]).
    ///
    /// [`SimL1`]: crate::SimL1
    pub l1: LevelStats,
    /// The same at the outer cache (the [`SimOuter`] handle and the simulator's own
    /// maintenance; zero without an outer cache).
    ///
    /// [`SimOuter`]: crate::SimOuter
    pub outer: LevelStats,
    /// Outer-cache lines written back to DRAM (by maintenance or eviction).
    pub outer_writebacks: u64,
    /// Outer-cache lines evicted for capacity.
    pub outer_evictions: u64,
}

/// Maintenance counted at one level of the hierarchy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Line operations, per [`CacheOp`] in [`CacheOp::ALL`] order.
    pub lines: [u64; 3],
    /// Completions: barriers after L1 operations (DSB), syncs after outer-cache operations
    /// (the PL310's CACHE_SYNC); the simulator's own maintenance counts one per call.
    pub completions: u64,
}

impl LevelStats {
    /// Line operations of `op`.
    pub fn lines_of(&self, op: CacheOp) -> u64 {
        self.lines[op as usize]
    }
}

impl SimStats {
    /// Calls of `op`.
    pub fn calls_of(&self, op: CacheOp) -> u64 {
        self.calls[op as usize]
    }
    /// Bytes maintained by `op`.
    pub fn bytes_of(&self, op: CacheOp) -> u64 {
        self.bytes[op as usize]
    }
    /// All maintenance calls.
    pub fn total_calls(&self) -> u64 {
        self.calls.iter().sum()
    }
    /// All bytes maintained.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
}

#[derive(Clone, Debug)]
struct Line {
    data: Vec<u8>,
    ver: Vec<u64>,
    dirty: bool,
    /// The level this copy was filled from (for an L1 line: the outer cache on a hit there,
    /// else DRAM).
    from: Level,
}

#[derive(Debug)]
struct Cache {
    lines: BTreeMap<usize, Line>, // keyed by line index in DRAM
    fill_order: VecDeque<usize>,
}

#[derive(Debug)]
struct State {
    cfg: SimConfig,
    dram: Vec<u8>,
    dram_ver: Vec<u64>,
    latest_ver: Vec<u64>,
    latest_writer: Vec<Master>,
    caches: Vec<Cache>,
    outer: Option<Cache>,
    outer_rng: u64,
    devices: Vec<(String, Coherency)>,
    uncached: Vec<(usize, usize)>, // DRAM offset ranges the CPUs map uncached
    free: Vec<(usize, usize)>,     // allocator free list: (offset, len), sorted, merged
    clock: u64,
    event: u64,
    rng: u64,
    violations: Vec<Violation>,
    stats: SimStats,
}

/// The simulator. All methods take `&self`; it is safe to share between threads.
#[derive(Debug)]
pub struct NonCoherentSim {
    state: Mutex<State>,
    /// This simulator's address space: regions it hands out carry it, and it accepts no
    /// other (two simulators with the same `virt_base` must not alias).
    memory: MemoryId,
}

/// An address outside simulated DRAM, or an unknown CPU or device. These are bugs in the
/// caller (not coherency violations), so the simulator reports them by panicking with the
/// reason.
fn out_of_range(what: &str, addr: u64, len: usize) -> ! {
    panic!("simulator: {what} {addr:#x}+{len} is outside simulated DRAM")
}

impl NonCoherentSim {
    /// A simulator with DRAM filled with zeros.
    ///
    /// # Panics
    ///
    /// If the configuration is inconsistent (line size not a power of two, DRAM not a
    /// whole number of lines, no CPUs, zero cache capacity with an evicting policy).
    pub fn new(cfg: SimConfig) -> Self {
        assert!(
            cfg.line_size.is_power_of_two(),
            "line size must be a power of two"
        );
        assert!(
            cfg.dram_size > 0 && cfg.dram_size.is_multiple_of(cfg.line_size),
            "DRAM must be whole lines"
        );
        assert!(cfg.cpus > 0, "at least one CPU");
        assert!(
            cfg.eviction == Eviction::Never || cfg.lines_per_cpu > 0,
            "cache capacity must be > 0"
        );
        if let Some(o) = &cfg.outer {
            assert!(
                o.eviction == Eviction::Never || o.lines > 0,
                "outer cache capacity must be > 0"
            );
        }
        let n = cfg.dram_size;
        let seed = match cfg.eviction {
            Eviction::Random { seed } => seed | 1,
            _ => 1,
        };
        let caches = (0..cfg.cpus)
            .map(|_| Cache {
                lines: BTreeMap::new(),
                fill_order: VecDeque::new(),
            })
            .collect();
        Self {
            state: Mutex::new(State {
                dram: std::vec![0; n],
                dram_ver: std::vec![0; n],
                latest_ver: std::vec![0; n],
                latest_writer: std::vec![Master::Initial; n],
                caches,
                outer: cfg.outer.as_ref().map(|_| Cache {
                    lines: BTreeMap::new(),
                    fill_order: VecDeque::new(),
                }),
                outer_rng: match cfg.outer {
                    Some(OuterConfig {
                        eviction: Eviction::Random { seed },
                        ..
                    }) => seed | 1,
                    _ => 1,
                },
                devices: Vec::new(),
                uncached: Vec::new(),
                free: std::vec![(0, n)],
                clock: 0,
                event: 0,
                rng: seed,
                violations: Vec::new(),
                stats: SimStats::default(),
                cfg,
            }),
            memory: MemoryId::fresh(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (an out-of-range bug) must not hide later reports.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a bus master.
    pub fn add_device(&self, name: &str, coherency: Coherency) -> DeviceId {
        let mut s = self.lock();
        s.devices.push((name.into(), coherency));
        DeviceId(u16::try_from(s.devices.len() - 1).expect("too many devices"))
    }

    /// The configuration this simulator was built with.
    pub fn config(&self) -> SimConfig {
        self.lock().cfg.clone()
    }

    /// Marks a CPU range as mapped uncached (the CPU side of a coherent DMA allocation):
    /// CPU accesses there bypass the caches.
    pub fn set_uncached(&self, range: VirtRange) {
        let mut s = self.lock();
        let off = s.virt_off(range.start, range.len);
        s.uncached.push((off, range.len));
    }

    /// A CPU reads `buf.len()` bytes at virtual address `virt`.
    pub fn cpu_read(&self, cpu: usize, virt: usize, buf: &mut [u8]) {
        let mut s = self.lock();
        s.check_cpu(cpu);
        let off = s.virt_off(virt, buf.len());
        s.event += 1;
        s.cpu_access(cpu, off, Transfer::Read(buf));
    }

    /// A CPU writes `data` at virtual address `virt`.
    pub fn cpu_write(&self, cpu: usize, virt: usize, data: &[u8]) {
        let mut s = self.lock();
        s.check_cpu(cpu);
        let off = s.virt_off(virt, data.len());
        s.event += 1;
        s.cpu_access(cpu, off, Transfer::Write(data));
    }

    /// A device reads `buf.len()` bytes at bus address `bus`.
    pub fn device_read(&self, dev: DeviceId, bus: BusAddr, buf: &mut [u8]) {
        let mut s = self.lock();
        let coherency = s.device_coherency(dev);
        let off = s.bus_off(bus, buf.len());
        s.event += 1;
        let master = Master::Device(dev);
        for (i, b) in buf.iter_mut().enumerate() {
            let at = off + i;
            let (value, ver, source) = match coherency {
                Coherency::Coherent => s.snoop_byte(at),
                Coherency::NonCoherent => (s.dram[at], s.dram_ver[at], Level::Dram),
            };
            *b = value;
            s.check_read(master, at, ver, source);
        }
    }

    /// A device writes `data` at bus address `bus`.
    pub fn device_write(&self, dev: DeviceId, bus: BusAddr, data: &[u8]) {
        let mut s = self.lock();
        let coherency = s.device_coherency(dev);
        let off = s.bus_off(bus, data.len());
        s.event += 1;
        let master = Master::Device(dev);
        for (i, &b) in data.iter().enumerate() {
            let at = off + i;
            let ver = s.new_version(at, master);
            let written_in_cache =
                coherency == Coherency::Coherent && s.write_cached_byte(at, b, ver);
            if !written_in_cache {
                s.dram[at] = b;
                s.dram_ver[at] = ver;
            }
        }
    }

    /// A CPU speculatively fills the line holding `virt` (prefetch): no-op if the line is
    /// uncached or already in some CPU cache.
    pub fn speculative_fill(&self, cpu: usize, virt: usize) {
        let mut s = self.lock();
        s.check_cpu(cpu);
        let off = s.virt_off(virt, 1);
        let line = off / s.cfg.line_size;
        if s.is_uncached(off) || s.holder_of(line).is_some() {
            return;
        }
        s.event += 1;
        s.fill(cpu, line);
        s.stats.speculative_fills += 1;
    }

    /// Evicts every dirty line overlapping `range` from whichever CPU cache holds it (a
    /// write-back at the worst moment, as a capacity eviction may do at any time); clean
    /// lines stay cached. With an outer cache the lines are written back into it.
    pub fn evict_dirty(&self, range: VirtRange) {
        let mut s = self.lock();
        let off = s.virt_off(range.start, range.len);
        s.event += 1;
        let ls = s.cfg.line_size;
        for line in off / ls..(off + range.len).div_ceil(ls) {
            if let Some(c) = s.holder_of(line)
                && s.caches[c].lines[&line].dirty
            {
                s.write_back(c, line, "eviction");
                s.remove_line(c, line);
                s.stats.evictions += 1;
            }
        }
    }

    /// Every violation so far, oldest first.
    pub fn violations(&self) -> Vec<Violation> {
        self.lock().violations.clone()
    }

    /// Removes and returns the violations so far.
    pub fn take_violations(&self) -> Vec<Violation> {
        std::mem::take(&mut self.lock().violations)
    }

    /// Maintenance counters.
    pub fn stats(&self) -> SimStats {
        self.lock().stats
    }

    /// Resets the maintenance counters (not the memory or the caches).
    pub fn reset_stats(&self) {
        self.lock().stats = SimStats::default();
    }

    /// Number of lines resident in `cpu`'s cache.
    pub fn resident_lines(&self, cpu: usize) -> usize {
        let s = self.lock();
        s.check_cpu(cpu);
        s.caches[cpu].lines.len()
    }

    /// Evicts every dirty line overlapping `range` from the outer cache to DRAM (as a
    /// capacity eviction there may do at any time); clean lines stay cached.
    ///
    /// # Panics
    ///
    /// If the simulator has no outer cache (a bug in the test).
    pub fn evict_outer_dirty(&self, range: VirtRange) {
        let mut s = self.lock();
        assert!(s.outer.is_some(), "simulator: no outer cache configured");
        let off = s.virt_off(range.start, range.len);
        s.event += 1;
        let ls = s.cfg.line_size;
        for line in off / ls..(off + range.len).div_ceil(ls) {
            if s.outer_line(line).is_some_and(|l| l.dirty) {
                s.outer_write_back(line, "eviction");
                s.outer_remove(line);
                s.stats.outer_evictions += 1;
            }
        }
    }

    /// Number of lines resident in the outer cache (0 without one).
    pub fn outer_resident_lines(&self) -> usize {
        self.lock().outer.as_ref().map_or(0, |o| o.lines.len())
    }

    /// Whether the outer cache holds a dirty copy of the line holding `virt`.
    pub fn is_outer_dirty(&self, virt: usize) -> bool {
        let s = self.lock();
        let line = s.virt_off(virt, 1) / s.cfg.line_size;
        s.outer_line(line).is_some_and(|l| l.dirty)
    }

    /// Whether any CPU cache holds a dirty copy of the line holding `virt`.
    pub fn is_dirty(&self, virt: usize) -> bool {
        let s = self.lock();
        let line = s.virt_off(virt, 1) / s.cfg.line_size;
        s.holder_of(line)
            .is_some_and(|c| s.caches[c].lines[&line].dirty)
    }

    /// One L1 line operation on the line holding `virt` (for [`crate::SimL1`]).
    pub(crate) fn l1_line(&self, op: CacheOp, virt: usize) {
        let mut s = self.lock();
        let off = s.virt_off(virt, 1);
        s.event += 1;
        let line = off / s.cfg.line_size;
        s.l1_line_op(op, line);
    }

    /// One outer-cache line operation on the line holding bus address `pa` (for
    /// [`crate::SimOuter`]).
    pub(crate) fn outer_line(&self, op: CacheOp, pa: u64) {
        let mut s = self.lock();
        let off = s.bus_off(BusAddr(pa), 1);
        s.event += 1;
        let line = off / s.cfg.line_size;
        s.outer_line_op(op, line);
    }

    /// Counts a completion (barrier or sync) at `level`.
    pub(crate) fn completion(&self, level: Level) {
        let mut s = self.lock();
        s.event += 1;
        match level {
            Level::L1 => s.stats.l1.completions += 1,
            Level::Outer => s.stats.outer.completions += 1,
            Level::Dram => {}
        }
    }

    /// Whether an outer cache is configured.
    pub fn has_outer(&self) -> bool {
        self.lock().outer.is_some()
    }

    /// Translates a CPU address to the bus address of the same DRAM byte.
    pub fn virt_to_bus(&self, virt: usize) -> BusAddr {
        let s = self.lock();
        BusAddr(s.cfg.dram_base + s.virt_off(virt, 1) as u64)
    }
}

enum Transfer<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

impl State {
    fn check_cpu(&self, cpu: usize) {
        assert!(
            cpu < self.cfg.cpus,
            "simulator: CPU {cpu} does not exist ({} CPUs)",
            self.cfg.cpus
        );
    }

    fn device_coherency(&self, dev: DeviceId) -> Coherency {
        match self.devices.get(usize::from(dev.0)) {
            Some((_, c)) => *c,
            None => panic!("simulator: device {dev:?} was never added"),
        }
    }

    fn virt_off(&self, virt: usize, len: usize) -> usize {
        match virt.checked_sub(self.cfg.virt_base) {
            Some(off)
                if off
                    .checked_add(len)
                    .is_some_and(|end| end <= self.cfg.dram_size) =>
            {
                off
            }
            _ => out_of_range("virtual range", virt as u64, len),
        }
    }

    fn bus_off(&self, bus: BusAddr, len: usize) -> usize {
        match bus.0.checked_sub(self.cfg.dram_base) {
            Some(off)
                if off
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= self.cfg.dram_size as u64) =>
            {
                off as usize
            }
            _ => out_of_range("bus range", bus.0, len),
        }
    }

    fn is_uncached(&self, off: usize) -> bool {
        self.uncached.iter().any(|&(s, l)| off >= s && off < s + l)
    }

    fn new_version(&mut self, at: usize, writer: Master) -> u64 {
        self.clock += 1;
        self.latest_ver[at] = self.clock;
        self.latest_writer[at] = writer;
        self.clock
    }

    fn holder_of(&self, line: usize) -> Option<usize> {
        self.caches.iter().position(|c| c.lines.contains_key(&line))
    }

    /// Reads a byte through the caches (coherent device): a cached copy wins over DRAM,
    /// an L1 copy over the outer cache's.
    fn snoop_byte(&self, at: usize) -> (u8, u64, Level) {
        let line = at / self.cfg.line_size;
        let i = at % self.cfg.line_size;
        if let Some(c) = self.holder_of(line) {
            let l = &self.caches[c].lines[&line];
            return (l.data[i], l.ver[i], Level::L1);
        }
        match self.outer_line(line) {
            Some(l) => (l.data[i], l.ver[i], Level::Outer),
            None => (self.dram[at], self.dram_ver[at], Level::Dram),
        }
    }

    /// Writes a byte into a cached copy if one exists (coherent device write): the L1
    /// holder's, else the outer cache's.
    fn write_cached_byte(&mut self, at: usize, value: u8, ver: u64) -> bool {
        let line = at / self.cfg.line_size;
        let i = at % self.cfg.line_size;
        let l = match self.holder_of(line) {
            Some(c) => self.caches[c].lines.get_mut(&line),
            None => self.outer.as_mut().and_then(|o| o.lines.get_mut(&line)),
        };
        match l {
            Some(l) => {
                l.data[i] = value;
                l.ver[i] = ver;
                l.dirty = true;
                true
            }
            None => false,
        }
    }

    fn outer_line(&self, line: usize) -> Option<&Line> {
        self.outer.as_ref().and_then(|o| o.lines.get(&line))
    }

    /// The level nearest DRAM that holds the newest version of byte `at`: how far it got.
    fn newest_in(&self, at: usize) -> Option<Level> {
        let (line, i, v) = (
            at / self.cfg.line_size,
            at % self.cfg.line_size,
            self.latest_ver[at],
        );
        if self.dram_ver[at] == v {
            Some(Level::Dram)
        } else if self.outer_line(line).is_some_and(|l| l.ver[i] == v) {
            Some(Level::Outer)
        } else if self
            .holder_of(line)
            .is_some_and(|c| self.caches[c].lines[&line].ver[i] == v)
        {
            Some(Level::L1)
        } else {
            None
        }
    }

    // Stale-read reports are gathered per line so one bad read gives one violation per
    // line, not one per byte.
    fn check_read(&mut self, reader: Master, at: usize, got: u64, source: Level) {
        if got != self.latest_ver[at] {
            let line_start = at - at % self.cfg.line_size;
            let bus = BusAddr(self.cfg.dram_base + line_start as u64);
            let writer = self.latest_writer[at];
            if let Some(v) = self.violations.last_mut() {
                let same = v.event == self.event
                    && v.bus == bus
                    && matches!(v.kind, ViolationKind::StaleRead { reader: r, .. } if r == reader);
                if same {
                    v.bytes += 1;
                    return;
                }
            }
            let newest_in = self.newest_in(at);
            self.violations.push(Violation {
                event: self.event,
                bus,
                bytes: 1,
                kind: ViolationKind::StaleRead {
                    reader,
                    newest_writer: writer,
                    source,
                    newest_in,
                },
            });
        }
    }

    fn next_random(rng: &mut u64) -> u64 {
        // xorshift64*: tiny, deterministic, good enough to pick victims.
        let mut x = *rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick_victim(cache: &Cache, eviction: Eviction, rng: &mut u64) -> Option<usize> {
        match eviction {
            Eviction::Fifo => cache.fill_order.front().copied(),
            Eviction::Random { .. } => {
                let n = cache.lines.len() as u64;
                let k = (Self::next_random(rng) % n) as usize;
                cache.lines.keys().nth(k).copied()
            }
            Eviction::Never => None,
        }
    }

    fn fill(&mut self, cpu: usize, line: usize) {
        if self.cfg.eviction != Eviction::Never {
            while self.caches[cpu].lines.len() >= self.cfg.lines_per_cpu {
                let victim = Self::pick_victim(&self.caches[cpu], self.cfg.eviction, &mut self.rng);
                let Some(victim) = victim else { break };
                self.write_back(cpu, victim, "eviction");
                self.remove_line(cpu, victim);
                self.stats.evictions += 1;
            }
        }
        let l = if self.outer.is_some() {
            // The outer cache allocates on a miss and hands the L1 its copy.
            let hit = self.outer_line(line).is_some();
            if !hit {
                self.outer_fill(line);
            }
            let o = self.outer_line(line).expect("just filled");
            Line {
                data: o.data.clone(),
                ver: o.ver.clone(),
                dirty: false,
                from: if hit { Level::Outer } else { Level::Dram },
            }
        } else {
            self.dram_line(line)
        };
        self.caches[cpu].lines.insert(line, l);
        self.caches[cpu].fill_order.push_back(line);
    }

    fn dram_line(&self, line: usize) -> Line {
        let ls = self.cfg.line_size;
        let start = line * ls;
        Line {
            data: self.dram[start..start + ls].to_vec(),
            ver: self.dram_ver[start..start + ls].to_vec(),
            dirty: false,
            from: Level::Dram,
        }
    }

    /// Evicts outer-cache lines (writing dirty ones back) until there is room for one more.
    fn outer_make_room(&mut self) {
        let Some(cfg) = self.cfg.outer.clone() else {
            return;
        };
        if cfg.eviction == Eviction::Never {
            return;
        }
        loop {
            let o = self.outer.as_ref().expect("configured");
            if o.lines.len() < cfg.lines {
                return;
            }
            let Some(victim) = Self::pick_victim(o, cfg.eviction, &mut self.outer_rng) else {
                return;
            };
            self.outer_write_back(victim, "eviction");
            self.outer_remove(victim);
            self.stats.outer_evictions += 1;
        }
    }

    fn outer_insert(&mut self, line: usize, l: Line) {
        self.outer_make_room();
        let o = self.outer.as_mut().expect("configured");
        o.lines.insert(line, l);
        o.fill_order.push_back(line);
    }

    fn outer_fill(&mut self, line: usize) {
        let l = self.dram_line(line);
        self.outer_insert(line, l);
    }

    fn outer_remove(&mut self, line: usize) -> Option<Line> {
        let o = self.outer.as_mut()?;
        let removed = o.lines.remove(&line);
        if removed.is_some() {
            o.fill_order.retain(|&l| l != line);
        }
        removed
    }

    fn remove_line(&mut self, cpu: usize, line: usize) -> Option<Line> {
        let c = &mut self.caches[cpu];
        let removed = c.lines.remove(&line);
        if removed.is_some() {
            c.fill_order.retain(|&l| l != line);
        }
        removed
    }

    /// Makes `line` resident in `cpu`'s cache: migrate it from another CPU (coherent SMP) or
    /// fill it from the level below.
    fn make_resident(&mut self, cpu: usize, line: usize) {
        match self.holder_of(line) {
            Some(c) if c == cpu => {}
            Some(other) => {
                let l = self.remove_line(other, line).expect("holder has the line");
                self.caches[cpu].lines.insert(line, l);
                self.caches[cpu].fill_order.push_back(line);
            }
            None => self.fill(cpu, line),
        }
    }

    fn cpu_access(&mut self, cpu: usize, off: usize, mut access: Transfer<'_>) {
        let ls = self.cfg.line_size;
        let len = match &access {
            Transfer::Read(b) => b.len(),
            Transfer::Write(d) => d.len(),
        };
        let master = Master::Cpu(cpu);
        for i in 0..len {
            let at = off + i;
            if self.is_uncached(at) {
                // Uncached accesses bypass every cache level.
                match &mut access {
                    Transfer::Read(buf) => {
                        buf[i] = self.dram[at];
                        let ver = self.dram_ver[at];
                        self.check_read(master, at, ver, Level::Dram);
                    }
                    Transfer::Write(data) => {
                        let ver = self.new_version(at, master);
                        self.dram[at] = data[i];
                        self.dram_ver[at] = ver;
                    }
                }
                continue;
            }
            let line = at / ls;
            self.make_resident(cpu, line);
            match &mut access {
                Transfer::Read(buf) => {
                    let l = &self.caches[cpu].lines[&line];
                    let (value, ver, from) = (l.data[at % ls], l.ver[at % ls], l.from);
                    buf[i] = value;
                    self.check_read(master, at, ver, from);
                }
                Transfer::Write(data) => {
                    let ver = self.new_version(at, master);
                    let l = self.caches[cpu].lines.get_mut(&line).expect("resident");
                    l.data[at % ls] = data[i];
                    l.ver[at % ls] = ver;
                    l.dirty = true;
                }
            }
        }
    }

    /// Writes a dirty L1 line back to the level below (the whole line, as hardware does):
    /// into the outer cache when there is one (allocating it there), else to DRAM,
    /// reporting any newer byte of the copy below it destroys.
    fn write_back(&mut self, cpu: usize, line: usize, cause: &'static str) {
        let ls = self.cfg.line_size;
        let Some(l) = self.caches[cpu].lines.get(&line) else {
            return;
        };
        if !l.dirty {
            return;
        }
        let (data, ver) = (l.data.clone(), l.ver.clone());
        let start = line * ls;
        let into = if self.outer.is_some() {
            Level::Outer
        } else {
            Level::Dram
        };
        if into == Level::Outer && self.outer_line(line).is_none() {
            // Write-allocate: the copy below is DRAM's until the line arrives.
            self.outer_fill(line);
        }
        let mut lost = 0usize;
        let mut first_lost = None;
        {
            let (below_data, below_ver): (&mut [u8], &mut [u64]) = match self.outer.as_mut() {
                Some(o) => {
                    let ol = o.lines.get_mut(&line).expect("allocated above");
                    ol.dirty = true;
                    (&mut ol.data, &mut ol.ver)
                }
                None => (
                    &mut self.dram[start..start + ls],
                    &mut self.dram_ver[start..start + ls],
                ),
            };
            for i in 0..ls {
                if ver[i] < below_ver[i] {
                    lost += 1;
                    first_lost.get_or_insert(start + i);
                }
                below_data[i] = data[i];
                below_ver[i] = ver[i];
            }
        }
        if let Some(at) = first_lost {
            let overwritten_writer = self.latest_writer[at];
            self.violations.push(Violation {
                event: self.event,
                bus: BusAddr(self.cfg.dram_base + start as u64),
                bytes: lost,
                kind: ViolationKind::LostWriteByWriteBack {
                    cpu,
                    overwritten_writer,
                    cause,
                    into,
                },
            });
        }
        if let Some(l) = self.caches[cpu].lines.get_mut(&line) {
            l.dirty = false;
        }
        self.stats.writebacks += 1;
    }

    /// Writes a dirty outer-cache line back to DRAM (the whole line), reporting any newer
    /// DRAM byte it destroys.
    fn outer_write_back(&mut self, line: usize, cause: &'static str) {
        let ls = self.cfg.line_size;
        let start = line * ls;
        let Some(o) = self.outer.as_mut() else {
            return;
        };
        let Some(l) = o.lines.get_mut(&line) else {
            return;
        };
        if !l.dirty {
            return;
        }
        l.dirty = false;
        let (data, ver) = (l.data.clone(), l.ver.clone());
        let mut lost = 0usize;
        let mut first_lost = None;
        for i in 0..ls {
            let at = start + i;
            if ver[i] < self.dram_ver[at] {
                lost += 1;
                first_lost.get_or_insert(at);
            }
            self.dram[at] = data[i];
            self.dram_ver[at] = ver[i];
        }
        if let Some(at) = first_lost {
            let overwritten_writer = self.latest_writer[at];
            self.violations.push(Violation {
                event: self.event,
                bus: BusAddr(self.cfg.dram_base + start as u64),
                bytes: lost,
                kind: ViolationKind::LostWriteByOuterWriteBack {
                    overwritten_writer,
                    cause,
                },
            });
        }
        self.stats.outer_writebacks += 1;
    }

    /// Drops an L1 line without write-back, reporting CPU data newer than the level below
    /// (the outer cache's copy if it holds the line, else DRAM) it discards.
    fn discard(&mut self, cpu: usize, line: usize) {
        let ls = self.cfg.line_size;
        let Some(l) = self.remove_line(cpu, line) else {
            return;
        };
        if !l.dirty {
            return;
        }
        let start = line * ls;
        let below = |i: usize| match self.outer_line(line) {
            Some(o) => o.ver[i],
            None => self.dram_ver[start + i],
        };
        let lost = (0..ls).filter(|&i| l.ver[i] > below(i)).count();
        if lost > 0 {
            self.violations.push(Violation {
                event: self.event,
                bus: BusAddr(self.cfg.dram_base + start as u64),
                bytes: lost,
                kind: ViolationKind::LostWriteByInvalidate { cpu },
            });
        }
    }

    /// Drops an outer-cache line without write-back, reporting dirty data newer than DRAM
    /// it discards (unless an L1 still holds that data, or newer, dirty).
    fn outer_discard(&mut self, line: usize) {
        let ls = self.cfg.line_size;
        let Some(l) = self.outer_remove(line) else {
            return;
        };
        if !l.dirty {
            return;
        }
        let start = line * ls;
        let l1_dirty = self
            .holder_of(line)
            .map(|c| &self.caches[c].lines[&line])
            .filter(|l1| l1.dirty);
        let lost = (0..ls)
            .filter(|&i| {
                l.ver[i] > self.dram_ver[start + i] && l1_dirty.is_none_or(|d| d.ver[i] < l.ver[i])
            })
            .count();
        if lost > 0 {
            self.violations.push(Violation {
                event: self.event,
                bus: BusAddr(self.cfg.dram_base + start as u64),
                bytes: lost,
                kind: ViolationKind::LostWriteByOuterInvalidate,
            });
        }
    }

    /// One L1 line operation (whole line), on whichever CPU's cache holds it: ARMv7's
    /// multiprocessing extensions broadcast maintenance by MVA to the inner-shareable
    /// domain.
    fn l1_line_op(&mut self, op: CacheOp, line: usize) {
        self.stats.l1.lines[op as usize] += 1;
        let holder = self.holder_of(line);
        if let Some(cpu) = holder {
            match op {
                CacheOp::Clean => self.write_back(cpu, line, "clean"),
                CacheOp::Invalidate => self.discard(cpu, line),
                CacheOp::CleanInvalidate => {
                    self.write_back(cpu, line, "clean+invalidate");
                    self.remove_line(cpu, line);
                }
            }
        }
        let refill = self
            .cfg
            .outer
            .as_ref()
            .is_some_and(|o| o.refill_after_l1_invalidate);
        if refill && op != CacheOp::Clean && !self.is_uncached(line * self.cfg.line_size) {
            let cpu = holder.unwrap_or_else(current_cpu);
            self.check_cpu(cpu);
            self.fill(cpu, line);
            self.stats.speculative_fills += 1;
        }
    }

    /// One outer-cache line operation (whole line); nothing without an outer cache.
    fn outer_line_op(&mut self, op: CacheOp, line: usize) {
        if self.outer.is_none() {
            return;
        }
        self.stats.outer.lines[op as usize] += 1;
        match op {
            CacheOp::Clean => self.outer_write_back(line, "clean"),
            CacheOp::Invalidate => self.outer_discard(line),
            CacheOp::CleanInvalidate => {
                self.outer_write_back(line, "clean+invalidate");
                self.outer_remove(line);
            }
        }
    }

    /// The simulator's own maintenance: every level to the point of coherency, in the
    /// order that is correct for each operation (clean: L1 then outer; invalidate: outer
    /// then L1; clean+invalidate: L1 then outer), partial end lines cleaned and
    /// invalidated.
    fn maintain(&mut self, op: CacheOp, range: VirtRange) {
        self.event += 1;
        let ls = self.cfg.line_size;
        let off = self.virt_off(range.start, range.len);
        let idx = op as usize;
        self.stats.calls[idx] += 1;
        self.stats.bytes[idx] += range.len as u64;
        let split = VirtRange::new(off, range.len).split_lines(ls);
        let body = (split.body.start / ls)..(split.body.end() / ls);
        let partial = split
            .head
            .into_iter()
            .chain(split.tail)
            .map(|o| (o / ls, true));
        let lines: Vec<(usize, CacheOp)> = body
            .map(|l| (l, false))
            .chain(partial)
            .map(|(l, is_partial)| match (op, is_partial) {
                // A partial line may hold a neighbour's dirty bytes: clean it first.
                (CacheOp::Invalidate, true) => (l, CacheOp::CleanInvalidate),
                _ => (l, op),
            })
            .collect();
        self.stats.lines[idx] += lines.len() as u64;
        let outer_first = op == CacheOp::Invalidate;
        let has_outer = self.outer.is_some();
        if outer_first && has_outer {
            for &(line, line_op) in &lines {
                self.outer_line_op(line_op, line);
            }
            self.stats.outer.completions += 1;
        }
        for &(line, line_op) in &lines {
            self.l1_line_op(line_op, line);
        }
        self.stats.l1.completions += 1;
        if !outer_first && has_outer {
            for &(line, line_op) in &lines {
                self.outer_line_op(line_op, line);
            }
            self.stats.outer.completions += 1;
        }
    }

    fn alloc(&mut self, len: usize) -> Option<usize> {
        let ls = self.cfg.line_size;
        let len = len.div_ceil(ls) * ls;
        let i = self.free.iter().position(|&(_, l)| l >= len)?;
        let (start, l) = self.free[i];
        if l == len {
            self.free.remove(i);
        } else {
            self.free[i] = (start + len, l - len);
        }
        Some(start)
    }

    fn release(&mut self, start: usize, len: usize) {
        let i = self.free.partition_point(|&(s, _)| s < start);
        self.free.insert(i, (start, len));
        // Merge neighbours so fragmentation does not grow without bound.
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.free.len());
        for &(s, l) in &self.free {
            match merged.last_mut() {
                Some((ps, pl)) if *ps + *pl == s => *pl += l,
                _ => merged.push((s, l)),
            }
        }
        self.free = merged;
    }
}

// SAFETY: the simulator touches no real memory: "virtual addresses" are indices into its
// own DRAM model, and every operation is performed exactly as named at every level, in
// each operation's correct order, with partial end lines cleaned and invalidated (see
// `maintain`).
unsafe impl CacheMaintenance for NonCoherentSim {
    fn line_size(&self) -> usize {
        self.lock().cfg.line_size
    }
    unsafe fn clean(&self, range: VirtRange) {
        self.lock().maintain(CacheOp::Clean, range);
    }
    unsafe fn invalidate(&self, range: VirtRange) {
        self.lock().maintain(CacheOp::Invalidate, range);
    }
    unsafe fn clean_invalidate(&self, range: VirtRange) {
        self.lock().maintain(CacheOp::CleanInvalidate, range);
    }
}

// SAFETY: regions come from a first-fit free list over the simulated DRAM, so no two live
// regions overlap; freed regions return to the list once.
unsafe impl DmaMemory for NonCoherentSim {
    fn line_size(&self) -> usize {
        self.lock().cfg.line_size
    }

    fn alloc(&self, len: usize, coherency: Coherency) -> Result<DmaRegion, DmaError> {
        if len == 0 {
            return Err(DmaError::ZeroLength);
        }
        let mut s = self.lock();
        let ls = s.cfg.line_size;
        let rounded = len.div_ceil(ls) * ls;
        let off = s
            .alloc(rounded)
            .ok_or(DmaError::OutOfMemory { requested: len })?;
        s.dram[off..off + rounded].fill(0);
        for at in off..off + rounded {
            let v = s.new_version(at, Master::Initial);
            s.dram_ver[at] = v;
        }
        // Any stale cached copies of recycled memory are dropped: a fresh allocation starts
        // coherent, as a real allocator guarantees by invalidating on free.
        let lines = (off / ls)..((off + rounded) / ls);
        for line in lines {
            if let Some(c) = s.holder_of(line) {
                s.remove_line(c, line);
            }
            s.outer_remove(line);
        }
        if coherency == Coherency::Coherent {
            s.uncached.push((off, rounded));
        }
        let virt = s.cfg.virt_base + off;
        let bus = BusAddr(s.cfg.dram_base + off as u64);
        // SAFETY: `[off, off + rounded)` of this simulator's DRAM was just taken from the
        // free list (no live region overlaps it) and is reached at `virt` (CPU) and `bus`
        // (devices) by construction; it returns to the list only through `free`.
        unsafe { DmaRegion::from_raw_parts_in(self.memory, virt, bus, rounded, coherency, ls) }
    }

    unsafe fn free(&self, region: DmaRegion) {
        assert_eq!(
            region.memory(),
            self.memory,
            "simulator: freeing a region of another memory"
        );
        let mut s = self.lock();
        let off = s.virt_off(region.virt(), region.len());
        s.uncached.retain(|&(o, _)| o != off);
        s.release(off, region.len());
    }
}

std::thread_local! {
    static CURRENT_CPU: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Declares which simulated CPU the calling host thread is, for accesses made through
/// [`CpuMemory`] (code above the HAL does not name CPUs). Defaults to CPU 0.
pub fn set_current_cpu(cpu: usize) {
    CURRENT_CPU.with(|c| c.set(cpu));
}

/// The simulated CPU the calling host thread is.
pub fn current_cpu() -> usize {
    CURRENT_CPU.with(|c| c.get())
}

// SAFETY: reads go through `cpu_read` into a buffer handed to `f`; writes read the current
// bytes the same way, let `f` modify them, then store every byte through `cpu_write`, so
// the cache model sees exactly the CPU's view and its writes.
unsafe impl CpuMemory for NonCoherentSim {
    fn owns(&self, region: &DmaRegion) -> bool {
        let s = self.lock();
        region.memory() == self.memory
            && region
                .virt()
                .checked_sub(s.cfg.virt_base)
                .and_then(|off| off.checked_add(region.len()))
                .is_some_and(|end| end <= s.cfg.dram_size)
    }

    unsafe fn with_bytes<R>(&self, virt: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = std::vec![0u8; len];
        self.cpu_read(current_cpu(), virt, &mut buf);
        f(&buf)
    }

    unsafe fn with_bytes_mut<R>(
        &self,
        virt: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        let cpu = current_cpu();
        let mut buf = std::vec![0u8; len];
        // Reading first keeps bytes `f` does not change; it also means a write access reads
        // the lines it touches, as a CPU's write-allocate cache does.
        self.cpu_read(cpu, virt, &mut buf);
        let r = f(&mut buf);
        self.cpu_write(cpu, virt, &buf);
        r
    }
}

// SAFETY: both go straight to the model's device paths, which read and write the modelled
// DRAM (or snoop, for coherent devices) at exactly `[bus, bus + len)`.
unsafe impl DeviceMemory for NonCoherentSim {
    unsafe fn device_read(&self, dev: DeviceId, bus: BusAddr, out: &mut [u8]) {
        NonCoherentSim::device_read(self, dev, bus, out);
    }
    unsafe fn device_write(&self, dev: DeviceId, bus: BusAddr, data: &[u8]) {
        NonCoherentSim::device_write(self, dev, bus, data);
    }
}
