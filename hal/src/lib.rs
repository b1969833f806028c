//! Portable HAL traits shared by drivers, boards and the sync framework.
//!
//! `no_std`, depends on nothing of dmasync's, nothing hardware-specific: the bottom layer.
//! Architecture glue lives in `arch/` (crates `dmasync-aarch64`, `dmasync-armv7a`),
//! register-level drivers in `drivers/`, and the non-coherent memory simulator that proves
//! cache maintenance correct where QEMU cannot in `sim/` (crate `dmasync-sim`, host only).
#![no_std]
#![warn(missing_docs)]

// `dma::HeapDma` hands out heap memory.
extern crate alloc;

// Hosted builds (tests, host tools) use OS threads for the platform (`platform`).
#[cfg(any(test, not(target_os = "none")))]
extern crate std;

pub mod cache;
pub mod clock;
pub mod dma;
pub mod irq;
pub mod lock;
pub mod mmio;
pub mod platform;
