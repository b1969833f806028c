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
//!   a partial-line neighbour's data gets clobbered;
//! - optionally ([`SimConfig::outer`]) a shared outer cache between the CPU caches and DRAM
//!   (the PL310 of a Cortex-A9 SoC): L1 write-backs go into it, L1 fills come from it, it
//!   writes back and evicts to DRAM, and non-coherent devices still see DRAM only. Each
//!   level is maintained on its own through [`SimL1`] (by virtual address) and
//!   [`SimOuter`] (an [`OuterCache`](dmasync_hal::cache::OuterCache), by physical
//!   address), so a real two-level maintenance drives the model; the simulator's own
//!   [`CacheMaintenance`](dmasync_hal::cache::CacheMaintenance) maintains both levels in
//!   the correct order.
//!
//! What is reported, the moment it happens ([`Violation`]):
//! - **stale read**: a CPU read a cached byte older than the newest write to it (a device
//!   wrote DRAM behind the cache), or a device read DRAM older than a CPU's dirty line;
//! - **lost write**: a write-back replaced newer data in the level below (a device's write
//!   in DRAM), or an invalidation discarded data newer than the level below; the variant
//!   names the level ([`ViolationKind`]).
//!
//! Every maintenance operation is counted by kind, calls, lines and bytes, and per level by
//! line operations and completions ([`SimStats`]),
//! and [`minimum::MinimumMaintenance`] computes the least maintenance a sequence needs.

mod levels;
pub mod minimum;
mod model;

pub use dmasync_hal::dma::DeviceId;
pub use levels::{SimL1, SimMemory, SimOuter};
pub use model::{
    Eviction, Level, LevelStats, Master, NonCoherentSim, OuterConfig, SimConfig, SimStats,
    Violation, ViolationKind, current_cpu, set_current_cpu,
};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_two_level;
