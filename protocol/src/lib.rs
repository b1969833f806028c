//! The console wire protocol between dmasync firmware (the guest) and `cargo xtask` (the
//! host), in one place (doc/console-protocol.md).
//!
//! Both sides depend on this crate instead of carrying copies of the bytes, codes and line
//! formats. Every item says who sends it and who reads it. Where a line is written by the
//! target and parsed by xtask, its formatter (a `Display` type, usable with `println!`
//! or `core::fmt::Write` on the target) and its parser (over `&str`, `core` only) sit next
//! to each other and are tested to round-trip.
//!
//! - [`framing`]: the bytes that separate plain text from defmt frames on the UART.
//! - [`exit`]: semihosting exit codes, the verdict QEMU's exit status carries.
//! - [`screendump`]: the screendump request marker line and the host's acknowledgement byte.
//! - [`verdict`]: the testkit's per-case and verdict lines.
//! - [`bench`]: the `bench` / `result` / `ratio` figure lines and `bench mode: device-paced`.
//! - [`bootargs`]: the kernel command line words xtask passes (`frames=N`).
#![no_std]
#![forbid(unsafe_code)]

pub mod bench;
pub mod bootargs;
pub mod exit;
pub mod framing;
pub mod screendump;
pub mod verdict;

#[cfg(test)]
extern crate std;

/// Formats a `Display` value into a string (tests only).
#[cfg(test)]
pub(crate) fn render(value: &impl core::fmt::Display) -> std::string::String {
    use std::string::ToString;
    value.to_string()
}
