//! Per-level maintenance handles, so that a real two-level maintenance (such as
//! `dmasync_armv7a::cache::TwoLevelCache`) drives the simulator one line and one level at
//! a time, and a memory system that pairs the simulator's CPU view with such maintenance.

use dmasync_hal::cache::{CacheMaintenance, CacheOp, OuterCache, VirtRange};
use dmasync_hal::dma::{CpuMemory, DmaRegion};

use crate::model::{Level, NonCoherentSim};

/// The CPUs' L1 data caches, maintained one line at a time by virtual address: what
/// `dmasync_armv7a::cache::InnerCache` needs (this crate sits below the architecture
/// crates, so a test wraps it to implement that trait). An operation acts on whichever
/// CPU's L1 holds the line, as ARMv7 maintenance by MVA is broadcast to the
/// inner-shareable domain. Operations complete at once; [`SimL1::barrier`] is counted
/// ([`crate::LevelStats::completions`]).
#[derive(Clone, Copy, Debug)]
pub struct SimL1<'a> {
    sim: &'a NonCoherentSim,
}

impl NonCoherentSim {
    /// The L1 maintenance handle.
    pub fn l1(&self) -> SimL1<'_> {
        SimL1 { sim: self }
    }

    /// The outer-cache maintenance handle, `None` when no outer cache is configured.
    pub fn outer(&self) -> Option<SimOuter<'_>> {
        self.has_outer().then_some(SimOuter { sim: self })
    }

    /// The simulator's CPU view ([`CpuMemory`]) paired with the cache maintenance `cache`,
    /// as one memory system for a sync domain: how a test puts a real maintenance
    /// implementation (built over [`SimL1`] and [`SimOuter`]) in place of the simulator's
    /// own.
    ///
    /// # Safety
    ///
    /// `cache` must act on this simulator only (its operations reach the model through this
    /// simulator's handles, never real memory): the domain calls it with the simulator's
    /// virtual addresses, which are not mapped memory of the host.
    pub unsafe fn with_maintenance<C: CacheMaintenance>(&self, cache: C) -> SimMemory<'_, C> {
        SimMemory { sim: self, cache }
    }
}

impl SimL1<'_> {
    /// The L1 line size in bytes.
    pub fn line_size(&self) -> usize {
        self.sim.config().line_size
    }
    /// Writes the line holding `va` back to the level below if it is dirty (DCCMVAC).
    ///
    /// # Panics
    ///
    /// If `va` is outside simulated DRAM.
    pub fn clean_line(&self, va: usize) {
        self.sim.l1_line(CacheOp::Clean, va);
    }
    /// Discards the line holding `va` (DCIMVAC); dirty data in it is lost (and reported).
    ///
    /// # Panics
    ///
    /// If `va` is outside simulated DRAM.
    pub fn invalidate_line(&self, va: usize) {
        self.sim.l1_line(CacheOp::Invalidate, va);
    }
    /// Writes back, then discards, the line holding `va` (DCCIMVAC).
    ///
    /// # Panics
    ///
    /// If `va` is outside simulated DRAM.
    pub fn clean_invalidate_line(&self, va: usize) {
        self.sim.l1_line(CacheOp::CleanInvalidate, va);
    }
    /// The completion barrier after L1 operations (DSB): counted.
    pub fn barrier(&self) {
        self.sim.completion(Level::L1);
    }
}

/// The shared outer cache, maintained one line at a time by physical (bus) address: an
/// [`OuterCache`], like the PL310 driver. Operations complete at once; [`OuterCache::sync`]
/// is counted ([`crate::LevelStats::completions`]). An address outside simulated DRAM
/// panics with the reason, as every access of the simulator does (a bug in the caller).
#[derive(Clone, Copy, Debug)]
pub struct SimOuter<'a> {
    sim: &'a NonCoherentSim,
}

// SAFETY: the simulator touches no real memory; each method performs the named operation
// on the model's outer-cache line holding `pa` (`outer_line_op`), and `sync` has nothing to
// wait for because every operation completes before it returns.
unsafe impl OuterCache for SimOuter<'_> {
    fn line_size(&self) -> usize {
        self.sim.config().line_size
    }
    unsafe fn clean_line(&self, pa: u64) {
        self.sim.outer_line(CacheOp::Clean, pa);
    }
    unsafe fn invalidate_line(&self, pa: u64) {
        self.sim.outer_line(CacheOp::Invalidate, pa);
    }
    unsafe fn clean_invalidate_line(&self, pa: u64) {
        self.sim.outer_line(CacheOp::CleanInvalidate, pa);
    }
    fn sync(&self) {
        self.sim.completion(Level::Outer);
    }
}

/// The simulator's CPU memory with another cache maintenance `C`
/// ([`NonCoherentSim::with_maintenance`]).
#[derive(Debug)]
pub struct SimMemory<'a, C> {
    sim: &'a NonCoherentSim,
    cache: C,
}

impl<C> SimMemory<'_, C> {
    /// The maintenance.
    pub fn cache(&self) -> &C {
        &self.cache
    }
}

// SAFETY: forwards unchanged to `C`, which upholds the contract and acts on this
// simulator only (`with_maintenance`'s contract).
unsafe impl<C: CacheMaintenance> CacheMaintenance for SimMemory<'_, C> {
    fn line_size(&self) -> usize {
        self.cache.line_size()
    }
    fn is_coherent(&self) -> bool {
        self.cache.is_coherent()
    }
    unsafe fn clean(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.cache.clean(range) }
    }
    unsafe fn invalidate(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.cache.invalidate(range) }
    }
    unsafe fn clean_invalidate(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.cache.clean_invalidate(range) }
    }
}

// SAFETY: forwards unchanged to the simulator's own implementation, which upholds it.
unsafe impl<C> CpuMemory for SimMemory<'_, C> {
    fn owns(&self, region: &DmaRegion) -> bool {
        self.sim.owns(region)
    }
    unsafe fn with_bytes<R>(&self, virt: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        // SAFETY: the caller's contract is the same.
        unsafe { self.sim.with_bytes(virt, len, f) }
    }
    unsafe fn with_bytes_mut<R>(
        &self,
        virt: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        // SAFETY: the caller's contract is the same.
        unsafe { self.sim.with_bytes_mut(virt, len, f) }
    }
}
