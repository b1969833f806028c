//! Portable HAL traits shared by drivers, boards and the sync framework.
//!
//! `no_std`, nothing hardware-specific: architecture glue lives in `hal/aarch64` (and later
//! `hal/armv7a`), register-level drivers in `drivers/`. With the `sim` feature (host only)
//! the crate also carries the non-coherent memory simulator that proves cache maintenance
//! correct where QEMU cannot.
#![no_std]
#![warn(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod cache;
pub mod clock;
pub mod dma;
#[cfg(feature = "sim")]
pub mod sim;
