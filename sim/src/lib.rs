//! The non-coherent memory simulator: write-back CPU caches and DMA masters that see only
//! DRAM, checking every access.
//!
//! QEMU models no caches, so it cannot show a missing clean or invalidate. This model can:
//! every byte carries the version of the write that produced it, so the simulator knows,
//! at the moment of each access, whether a reader got the newest value and whether a
//! write-back or an invalidation destroyed a newer one.
//!
//! What is modelled:
//! - DRAM at bus addresses `dram_base..`, seen by the CPUs at `virt_base..` (a fixed offset,
//!   so virt <-> bus translation is exercised);
//! - one write-back, write-allocate data cache per CPU with a fixed capacity in lines and a
//!   deterministic eviction policy (seeded random or FIFO), so a failure replays;
//! - CPUs coherent among themselves (a line lives in at most one CPU cache and migrates on
//!   access, as inner-shareable caches behave), but not with non-coherent devices;
//! - devices that read and write DRAM directly (non-coherent) or through the caches
//!   (coherent, snooping);
//! - CPU-uncached ranges (what a "coherent" DMA allocation is on a non-coherent SoC);
//! - speculative line fills (the prefetching that makes Linux invalidate *after* a
//!   device-to-memory transfer), triggered explicitly so tests stay deterministic;
//! - whole-line write-back: a clean writes every byte of a dirty line, which is exactly how
//!   a partial-line neighbour's data gets clobbered.
//!
//! What is reported, the moment it happens ([`Violation`]):
//! - **stale read**: a CPU read a cached byte older than the newest write to it (a device
//!   wrote DRAM behind the cache), or a device read DRAM older than a CPU's dirty line;
//! - **lost write**: a write-back replaced newer DRAM data (a device's write), or an
//!   invalidation discarded CPU data newer than DRAM.
//!
//! Every maintenance operation is counted by kind, calls, lines and bytes ([`SimStats`]),
//! and [`minimum::MinimumMaintenance`] computes the least maintenance a sequence needs.

pub mod minimum;
mod model;

pub use dmasync_hal::dma::DeviceId;
pub use model::{
    Eviction, Master, NonCoherentSim, SimConfig, SimStats, Violation, ViolationKind, current_cpu,
    set_current_cpu,
};

#[cfg(test)]
mod tests;
