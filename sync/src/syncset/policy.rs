//! Cache maintenance derived from access types: which clean or invalidate each hand-over
//! of a buffer needs, and nothing more.
//!
//! Agents fall on two sides of the coherency boundary:
//! - the **cache side**: CPUs, and devices that snoop CPU caches (coherent devices);
//! - the **memory side**: non-coherent devices, which read and write DRAM only.
//!
//! Per buffer, two line sets carry the history that matters:
//! - `dirty`: lines the cache side may hold dirty (written on the cache side, not cleaned);
//! - `stale`: lines the memory side wrote since the cache side last invalidated them, so a
//!   cached copy (filled earlier, or speculatively at any time) may be old.
//!
//! Before an access on lines `R`:
//!
//! | next access | maintenance on `R` | then |
//! |---|---|---|
//! | cache side reads or writes | **invalidate** `stale ∩ R` | `stale -= R`; a write adds `R` to `dirty` |
//! | memory side reads | **clean** `dirty ∩ R` | `dirty -= R` |
//! | memory side writes | **clean** `dirty ∩ R` | `dirty -= R`, `stale += R` |
//!
//! So: clean before a device reads data a CPU wrote; invalidate before a CPU reads data a
//! device wrote; nothing for read after read, CPU after CPU, or device after device on the
//! same side. Two choices deserve a word:
//! - The invalidate happens before the *cache side's* access, not before the device's
//!   write: a CPU may speculatively refill lines while the device is still writing (the
//!   reason Linux invalidates after a device-to-memory transfer), so only an invalidate
//!   after the transfer is safe.
//! - A cache-side *write* to stale lines also needs the invalidate: a partial write into a
//!   stale cached line would later be written back whole, over the device's data.
//!
//! Buffers whose CPU mapping is uncached ([`Coherency::Coherent`] regions) never need
//! maintenance. Ranges are rounded out to whole lines; a buffer owns whole lines (its
//! [`DmaRegion`](dmasync_hal::dma::DmaRegion) is line-aligned), so rounding never reaches
//! another buffer's bytes.

use alloc::vec::Vec;
use core::ops::Range;

use dmasync_hal::cache::{CacheOp, VirtRange};
use dmasync_hal::dma::{Coherency, DeviceId};

use super::lineset::LineSet;

/// Who accesses a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Agent {
    /// Any CPU core (cores are coherent with each other).
    Cpu,
    /// A bus master, with whether it snoops the CPU caches.
    Device(DeviceId, Coherency),
}

/// How an agent accesses a buffer (the `mode` of an [`Access`]; not a display mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessMode {
    /// Only reads.
    Read,
    /// Only writes (may write fewer bytes than declared).
    Write,
    /// Reads and writes (e.g. alpha blending into a destination).
    ReadWrite,
}

/// An access type: who, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// Who.
    pub agent: Agent,
    /// How.
    pub mode: AccessMode,
}

impl Access {
    /// A CPU reads.
    pub const CPU_READ: Access = Access {
        agent: Agent::Cpu,
        mode: AccessMode::Read,
    };
    /// A CPU writes.
    pub const CPU_WRITE: Access = Access {
        agent: Agent::Cpu,
        mode: AccessMode::Write,
    };
    /// A CPU reads and writes.
    pub const CPU_READ_WRITE: Access = Access {
        agent: Agent::Cpu,
        mode: AccessMode::ReadWrite,
    };

    /// A non-coherent device reads (the common case on the SoCs we target).
    pub const fn dma_read(dev: DeviceId) -> Access {
        Access {
            agent: Agent::Device(dev, Coherency::NonCoherent),
            mode: AccessMode::Read,
        }
    }
    /// A non-coherent device writes.
    pub const fn dma_write(dev: DeviceId) -> Access {
        Access {
            agent: Agent::Device(dev, Coherency::NonCoherent),
            mode: AccessMode::Write,
        }
    }
    /// A non-coherent device reads and writes.
    pub const fn dma_read_write(dev: DeviceId) -> Access {
        Access {
            agent: Agent::Device(dev, Coherency::NonCoherent),
            mode: AccessMode::ReadWrite,
        }
    }

    /// True when the access may modify the buffer (it must then be exclusive).
    pub const fn writes(&self) -> bool {
        matches!(self.mode, AccessMode::Write | AccessMode::ReadWrite)
    }

    /// True when the access may read the buffer.
    pub const fn reads(&self) -> bool {
        matches!(self.mode, AccessMode::Read | AccessMode::ReadWrite)
    }

    /// True for CPUs and coherent devices: they see the CPU caches.
    pub const fn on_cache_side(&self) -> bool {
        matches!(
            self.agent,
            Agent::Cpu | Agent::Device(_, Coherency::Coherent)
        )
    }
}

/// The maintenance one access needs, in the order to perform it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Operations on CPU virtual ranges (whole lines).
    pub ops: Vec<(CacheOp, VirtRange)>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    /// Bytes covered by all operations.
    pub fn bytes(&self) -> usize {
        self.ops.iter().map(|(_, r)| r.len).sum()
    }
}

/// A declared range that does not fit the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeError {
    /// The declared range.
    pub range: (usize, usize),
    /// The buffer's length.
    pub len: usize,
}

impl core::fmt::Display for RangeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (s, e) = self.range;
        if s >= e {
            write!(f, "declared range {s}..{e} is empty or reversed")
        } else {
            write!(
                f,
                "declared range {s}..{e} is outside the {}-byte buffer",
                self.len
            )
        }
    }
}

/// Per-buffer coherency state: derives the maintenance of each access from the ones before.
#[derive(Clone, Debug)]
pub struct CoherencyTracker {
    virt: usize,
    len: usize,
    line: usize,
    /// `log2(line)` when the line size is a power of two (as cache lines are): line
    /// indices by shifts, computed once here rather than on every lock.
    shift: Option<u32>,
    uncached: bool,
    dirty: LineSet,
    stale: LineSet,
}

impl CoherencyTracker {
    /// Tracks a buffer of `len` bytes at CPU address `virt` (line-aligned, as a
    /// `DmaRegion` is), whose CPU mapping is cached unless `coherency` is `Coherent`.
    ///
    /// A new buffer starts clean: nothing dirty, nothing stale (allocators hand out memory
    /// with no cached lines pending).
    pub fn new(virt: usize, len: usize, line: usize, coherency: Coherency) -> Self {
        debug_assert!(line.is_power_of_two() && virt.is_multiple_of(line));
        Self {
            virt,
            len,
            line,
            shift: line.is_power_of_two().then(|| line.trailing_zeros()),
            uncached: coherency == Coherency::Coherent,
            dirty: LineSet::new(),
            stale: LineSet::new(),
        }
    }

    /// Buffer length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length buffer (never produced by a `DmaRegion`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The maintenance needed before `access` to bytes `range` of the buffer (the whole
    /// buffer when `None`), and the state update for it. The caller performs the plan's
    /// operations, in order, before the access starts.
    pub fn plan(
        &mut self,
        access: Access,
        range: Option<Range<usize>>,
    ) -> Result<Plan, RangeError> {
        let bytes = range.unwrap_or(0..self.len);
        if bytes.start >= bytes.end || bytes.end > self.len {
            return Err(RangeError {
                range: (bytes.start, bytes.end),
                len: self.len,
            });
        }
        let mut plan = Plan::default();
        // Uncached buffers have no state to track: nothing to compute.
        if self.uncached {
            return Ok(plan);
        }
        let lines = self.lines(&bytes);
        // The common re-lock (CPU after CPU, device after device) finds the set it would
        // maintain empty and the lines it would add already there: the checks in front of
        // `emit`, `remove` and `insert` skip their run searches.
        if access.on_cache_side() {
            if !self.stale.is_empty() {
                self.emit(&mut plan, CacheOp::Invalidate, Which::Stale, lines.clone());
                self.stale.remove(lines.clone());
            }
            if access.writes() {
                self.dirty.insert(lines);
            }
        } else {
            if !self.dirty.is_empty() {
                self.emit(&mut plan, CacheOp::Clean, Which::Dirty, lines.clone());
                self.dirty.remove(lines.clone());
            }
            if access.writes() {
                self.stale.insert(lines);
            }
        }
        Ok(plan)
    }

    /// Whether [`CoherencyTracker::plan`] for the same access would return any operation,
    /// without changing the state (a sync set decides from it, before it commits to the
    /// lock, whether to publish a `ready` fence). `false` for a range `plan` rejects.
    pub fn needs_maintenance(&self, access: Access, range: Option<Range<usize>>) -> bool {
        let bytes = range.unwrap_or(0..self.len);
        if self.uncached || bytes.start >= bytes.end || bytes.end > self.len {
            return false;
        }
        let set = if access.on_cache_side() {
            &self.stale
        } else {
            &self.dirty
        };
        !set.is_empty() && set.intersect(self.lines(&bytes)).next().is_some()
    }

    /// The line indices covering `bytes` (shifts, not divisions, on the lock path when the
    /// line size is a power of two, as cache lines are).
    fn lines(&self, bytes: &Range<usize>) -> Range<usize> {
        let Some(shift) = self.shift else {
            return bytes.start / self.line..bytes.end.div_ceil(self.line);
        };
        let partial = bytes.end & (self.line - 1) != 0;
        bytes.start >> shift..(bytes.end >> shift) + usize::from(partial)
    }

    fn emit(&self, plan: &mut Plan, op: CacheOp, which: Which, lines: Range<usize>) {
        let set = match which {
            Which::Dirty => &self.dirty,
            Which::Stale => &self.stale,
        };
        // The common re-lock (CPU after CPU, device after device) finds nothing to do:
        // skip the run search.
        if set.is_empty() {
            return;
        }
        for run in set.intersect(lines) {
            let start = self.virt + run.start * self.line;
            let end = (self.virt + run.end * self.line)
                .min(self.virt + self.len.div_ceil(self.line) * self.line);
            plan.ops.push((op, VirtRange::new(start, end - start)));
        }
    }

    /// True when the cache side may hold dirty lines of this buffer.
    pub fn may_be_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// True when cached copies of some lines may be stale.
    pub fn may_be_stale(&self) -> bool {
        !self.stale.is_empty()
    }
}

enum Which {
    Dirty,
    Stale,
}

#[cfg(test)]
mod tests;
