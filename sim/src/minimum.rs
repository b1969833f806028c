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
    fn uncached_needs_nothing() {
        let mut m = MinimumMaintenance::new(64, 64, true);
        m.access(Side::Cache, true, 0..64);
        assert_eq!(m.access(Side::Memory, true, 0..64), Needed::default());
        assert_eq!(m.access(Side::Cache, false, 0..64), Needed::default());
    }
}
