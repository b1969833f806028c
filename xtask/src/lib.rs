//! The parts of xtask that read what comes from outside — board.toml, the firmware console
//! stream and its defmt frames, QMP replies, screendump requests and images — as a library,
//! so the fuzz targets in fuzz/ call the very code the `cargo xtask` binary runs
//! (doc/testing.md "Fuzzing"). The binary (src/main.rs) uses these modules from here.
#![forbid(unsafe_code)]

pub mod boards;
pub mod console;
pub mod decode;
pub mod flash;
pub mod pixels;
pub mod qmp;
pub mod screendump;
