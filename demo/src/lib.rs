//! The seed pipeline demo: one frame loop in which the CPU, a 2D engine and a display
//! controller share buffers, every access synchronized by dmasync sync sets.
//!
//! - [`scene`]: what frame N shows — the overlay the CPU draws and the commands the 2D
//!   engine composites — as a deterministic function of N and the mode size.
//! - [`reference`](mod@reference): the oracle: [`reference_frame`] computes frame N's exact pixels with the
//!   software engine's own renderer (`dmasync_soft::render`), which is the code the
//!   engine runs; the on-target screenshot test compares QEMU's screendump with it.
//! - [`pipeline`]: the loop, generic over the 2D engine, the display and the sync domain's
//!   memory system (`SyncDomain<M>`): triple buffering, per-frame statistics, hang recovery.
//!
//! The crate is `no_std` + `alloc` and portable: the host tests run the loop on the
//! non-coherent memory simulator, the qemu-virt board runs it on the software engine on
//! CPU 1 and a virtio-gpu or ramfb display.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod args;
#[cfg(feature = "firmware")]
pub mod console;
mod log;
pub mod pipeline;
pub mod reference;
pub mod scenarios;
pub mod scene;

pub use pipeline::{
    FrameError, FrameReport, FrameRequest, NoDma, Options, Pipeline, SetupError, Stage, Totals,
};
pub use reference::{reference_checksum, reference_frame, reference_rows};
