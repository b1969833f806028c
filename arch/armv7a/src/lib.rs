//! ARMv7-A architecture glue for dmasync.
//!
//! Cache maintenance on a Cortex-A9-class system has two levels: the core's L1 data cache,
//! maintained by virtual address through CP15, and an outer PL310 (L2C-310) shared by all
//! cores, maintained by *physical* address through its registers (`drivers/pl310`, behind
//! [`dmasync_hal::cache::OuterCache`]). [`cache::TwoLevelCache`]
//! implements [`dmasync_hal::cache::CacheMaintenance`] for that pair, in the order each
//! direction needs; the order is host-tested against a recording fake. For a coherent DMA
//! master, [`cache::Armv7DmaBarrier`] is the hand-over barrier (`dsb` plus the outer cache's
//! sync), used through `dmasync_hal::cache::Coherent`.
#![no_std]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod cache;
