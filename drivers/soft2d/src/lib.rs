//! The software 2D engine: solid fill, copy blit and alpha blend run by a CPU core, behind
//! the same [`Engine2d`](dmasync_engine::Engine2d) trait, command queue and fences a
//! hardware engine has. On qemu-virt it runs on a secondary core; on the host it runs on a
//! thread in the tests, and its [`render`] module is the reference renderer (the oracle)
//! expected frames are computed with.
//!
//! - [`render`]: the pixel arithmetic of `dmasync_engine::gfx2d`, as pure functions over
//!   byte slices.
//! - [`SoftEngine2d`]: validates every command at submission (buffers locked for this
//!   device with the access the command needs, surfaces inside the registered range,
//!   rectangles inside the surfaces, formats and sizes within [`Caps2d`](dmasync_engine::Caps2d))
//!   and queues it; a [`Worker`] executes queued jobs through
//!   [`DeviceMemory`](dmasync_hal::dma::DeviceMemory), row by row.
//!
//! The engine is declared to the sync framework as a **non-coherent** bus master: it
//! reaches memory only through `DeviceMemory` by bus address, and the board's
//! implementation cleans and invalidates the CPU cache around each access, so the
//! maintenance the sync sets derive for a non-coherent device is exactly right for it.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

mod engine;
pub mod render;

pub use dmasync_engine::soft::{ABANDONED, Step};
pub use engine::{Soft2dConfig, SoftEngine2d, Worker};
