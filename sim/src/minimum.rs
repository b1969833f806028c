//! The least cache maintenance a sequence of accesses to one buffer needs, computed line
//! by line from the simulator's hazard model — the yardstick a maintenance policy is
//! measured against.
//!
//! Worst-case assumptions (what hardware is allowed to do, and what the simulator can do
//! with `Eviction::Never` and speculative fills):
//! - a dirty line may stay in a CPU cache indefinitely, so before a non-coherent device
//!   reads a line, or writes it (a later write-back would destroy the device's bytes), a
//!   line the cache side may hold dirty must be **cleaned**;
//! - a CPU may fill any line of a cacheable buffer at any moment (speculation), so before
//!   the cache side reads or writes a line a non-coherent device wrote since the last
//!   invalidate, that line must be **invalidated** — after the device's write, not before.
//!
//! Declared ranges are rounded out to whole lines; operations are counted as maximal runs
//! of consecutive lines (one call per run).
//!
//! With a shared outer cache between the CPUs' L1 caches and DRAM (the simulator's
//! [`OuterConfig`](crate::OuterConfig), a PL310 on a Cortex-A9), [`Needed::per_level`]
//! gives the least work at each level. The hazards stay the same line by line, and each
//! needs the line maintained at **both** levels, since non-coherent devices see neither:
//! - a line to be cleaned may be dirty in an L1 (nothing evicts it), and an L1 clean only
//!   moves it, dirty, into the outer cache: one L1 clean, then one outer clean;
//! - a line to be invalidated may be held stale in an L1 and in the outer cache (every L1
//!   fill allocates there), and a stale copy in either reaches the CPU (the outer one by an
//!   L1 refill): one outer invalidate, then one L1 invalidate;
//! - every call (run of lines) ends with one completion per level (a DSB after the L1
//!   lines, a cache sync after the outer lines).
//!
//! So each level needs exactly the single-level minimum, counted in lines and completions.

use std::ops::Range;
use std::vec::Vec;

/// Which side of the coherency boundary an agent is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// CPUs and cache-snooping (coherent) devices.
    Cache,
    /// Non-coherent devices: DRAM only.
    Memory,
}

/// What one access needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needed {
    /// Clean calls (runs of lines).
    pub cleans: u64,
    /// Invalidate calls (runs of lines).
    pub invalidates: u64,
    /// Bytes cleaned.
    pub clean_bytes: u64,
    /// Bytes invalidated.
    pub invalidate_bytes: u64,
}

impl Needed {
    /// All calls.
    pub fn calls(&self) -> u64 {
        self.cleans + self.invalidates
    }
    /// All bytes.
    pub fn bytes(&self) -> u64 {
        self.clean_bytes + self.invalidate_bytes
    }
}

impl Needed {
    /// The least work at each level of a two-level hierarchy for what a single level
    /// needs (module documentation): the same lines at the L1 and at the outer cache, and
    /// one completion per call at each.
    ///
    /// # Panics
    ///
    /// If `line` is zero or the byte counts are not whole lines of it (they always are:
    /// [`MinimumMaintenance`] counts whole lines).
    pub fn per_level(&self, line: usize) -> PerLevel {
        let line = line as u64;
        assert!(
            line > 0
                && self.clean_bytes.is_multiple_of(line)
                && self.invalidate_bytes.is_multiple_of(line),
            "byte counts must be whole lines of {line}"
        );
        let work = LevelWork {
            clean_lines: self.clean_bytes / line,
            invalidate_lines: self.invalidate_bytes / line,
            completions: self.calls(),
        };
        PerLevel {
            l1: work,
            outer: work,
        }
    }
}

/// The least maintenance at one cache level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelWork {
    /// Lines cleaned.
    pub clean_lines: u64,
    /// Lines invalidated.
    pub invalidate_lines: u64,
    /// Completions (a barrier or sync after each run of lines).
    pub completions: u64,
}

impl LevelWork {
    /// Whether the simulator's count for a level ([`crate::LevelStats`]) is exactly this:
    /// the same cleans and invalidates, no clean+invalidate, the same completions.
    pub fn is_exactly(&self, stats: &crate::LevelStats) -> bool {
        stats.lines == [self.clean_lines, self.invalidate_lines, 0]
            && stats.completions == self.completions
    }
}

/// The least maintenance at each level of a two-level hierarchy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerLevel {
    /// At the CPUs' L1 caches (by virtual address).
    pub l1: LevelWork,
    /// At the shared outer cache (by physical address).
    pub outer: LevelWork,
}

impl std::ops::AddAssign for PerLevel {
    fn add_assign(&mut self, o: PerLevel) {
        for (a, b) in [(&mut self.l1, o.l1), (&mut self.outer, o.outer)] {
            a.clean_lines += b.clean_lines;
            a.invalidate_lines += b.invalidate_lines;
            a.completions += b.completions;
        }
    }
}

impl std::ops::AddAssign for Needed {
    fn add_assign(&mut self, o: Needed) {
        self.cleans += o.cleans;
        self.invalidates += o.invalidates;
        self.clean_bytes += o.clean_bytes;
        self.invalidate_bytes += o.invalidate_bytes;
    }
}

/// Per-line worst-case state of one buffer.
#[derive(Clone, Debug)]
pub struct MinimumMaintenance {
    line: usize,
    len: usize,
    uncached: bool,
    /// The cache side may hold the line dirty.
    dirty: Vec<bool>,
    /// A non-coherent device wrote the line since the cache side last invalidated it.
    device_newer: Vec<bool>,
}

impl MinimumMaintenance {
    /// A clean buffer of `len` bytes; `uncached` for a CPU-uncached mapping.
    pub fn new(len: usize, line: usize, uncached: bool) -> Self {
        let n = len.div_ceil(line);
        Self {
            line,
            len,
            uncached,
            dirty: std::vec![false; n],
            device_newer: std::vec![false; n],
        }
    }

    /// Records an access by `side` to `bytes` and returns the maintenance it needed.
    ///
    /// # Panics
    ///
    /// If `bytes` is empty or outside the buffer (a bug in the caller).
    pub fn access(&mut self, side: Side, writes: bool, bytes: Range<usize>) -> Needed {
        assert!(
            bytes.start < bytes.end && bytes.end <= self.len,
            "bad range {bytes:?}"
        );
        let lines = bytes.start / self.line..bytes.end.div_ceil(self.line);
        let mut needed = Needed::default();
        if self.uncached {
            return needed;
        }
        let mut run_open = false;
        for l in lines {
            let need = match side {
                Side::Memory => self.dirty[l],
                Side::Cache => self.device_newer[l],
            };
            if need {
                let bytes = self.line as u64;
                match side {
                    Side::Memory => {
                        needed.clean_bytes += bytes;
                        needed.cleans += u64::from(!run_open);
                    }
                    Side::Cache => {
                        needed.invalidate_bytes += bytes;
                        needed.invalidates += u64::from(!run_open);
                    }
                }
            }
            run_open = need;
            match side {
                Side::Memory => {
                    self.dirty[l] = false;
                    if writes {
                        self.device_newer[l] = true;
                    }
                }
                Side::Cache => {
                    self.device_newer[l] = false;
                    if writes {
                        self.dirty[l] = true;
                    }
                }
            }
        }
        needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_runs_and_bytes() {
        let mut m = MinimumMaintenance::new(8 * 64, 64, false);
        m.access(Side::Cache, true, 0..64);
        m.access(Side::Cache, true, 128..256);
        let n = m.access(Side::Memory, false, 0..512);
        assert_eq!(
            n,
            Needed {
                cleans: 2,
                invalidates: 0,
                clean_bytes: 192,
                invalidate_bytes: 0
            }
        );
        m.access(Side::Memory, true, 0..512);
        let n = m.access(Side::Cache, false, 60..70);
        assert_eq!(
            n,
            Needed {
                cleans: 0,
                invalidates: 1,
                clean_bytes: 0,
                invalidate_bytes: 128
            }
        );
        assert_eq!(m.access(Side::Cache, false, 0..128), Needed::default());
    }

    #[test]
    fn two_levels_need_the_same_lines_at_each_level() {
        let mut m = MinimumMaintenance::new(8 * 32, 32, false);
        m.access(Side::Cache, true, 0..32);
        m.access(Side::Cache, true, 64..128);
        let mut total = m.access(Side::Memory, true, 0..256).per_level(32);
        total += m.access(Side::Cache, false, 40..70).per_level(32);
        let want = LevelWork {
            clean_lines: 3,
            invalidate_lines: 2,
            completions: 3,
        };
        assert_eq!(
            total,
            PerLevel {
                l1: want,
                outer: want
            }
        );
        let exact = crate::LevelStats {
            lines: [3, 2, 0],
            completions: 3,
        };
        assert!(want.is_exactly(&exact));
        let mut more = exact;
        more.lines[2] = 1;
        assert!(!want.is_exactly(&more), "a clean+invalidate is extra work");
        more = exact;
        more.completions = 4;
        assert!(!want.is_exactly(&more), "an extra completion is extra work");
    }

    #[test]
    #[should_panic(expected = "whole lines")]
    fn per_level_refuses_a_line_size_the_bytes_are_not_made_of() {
        let mut m = MinimumMaintenance::new(64, 64, false);
        m.access(Side::Cache, true, 0..64);
        m.access(Side::Memory, false, 0..64).per_level(48);
    }

    #[test]
    fn uncached_needs_nothing() {
        let mut m = MinimumMaintenance::new(64, 64, true);
        m.access(Side::Cache, true, 0..64);
        assert_eq!(m.access(Side::Memory, true, 0..64), Needed::default());
        assert_eq!(m.access(Side::Cache, false, 0..64), Needed::default());
    }
}
