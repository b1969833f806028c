//! Portable HAL traits shared by drivers, boards and the sync framework.
//!
//! `no_std`, nothing hardware-specific: architecture glue lives in `hal/aarch64` (and later
//! `hal/armv7a`), register-level drivers in `drivers/`.
#![no_std]
#![warn(missing_docs)]

pub mod clock;
