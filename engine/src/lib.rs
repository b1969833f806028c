//! Traits for the bus masters that share buffers with the CPU: a DMA engine, a 2D engine
//! and a display controller.
//!
//! This crate (`engine/`) sits *above* `dmasync-sync` (`sync/`), where `dmasync-hal` and the
//! architecture crates sit below it, because its traits speak in the sync core's terms: completion is a [`Fence`], and work is
//! submitted together with the [`Locked`] sync set that proves the buffers are held for
//! the right device and access mode.
//!
//! The rules (doc/architecture.md, "The engine layer"):
//!
//! - **Control and data paths are separate traits**: [`Engine2dControl`] (capabilities,
//!   reset) vs [`Engine2d`] (submit); [`DisplayControl`] (modes, set-up) vs
//!   [`DisplayFlip`] (page flip) and [`DisplayService`] (completing flips).
//! - **Buffers always come back.** A submission takes the [`Locked`] set by value. On
//!   success the implementation hands it to [`Locked::unlock_after`] with the work's fence,
//!   so the buffers return to their next users exactly when the device is done with them;
//!   on error the set comes back untouched inside [`Rejected`].
//! - **The watchdog never hands on buffers a device may still touch.** With
//!   [`Locked::unlock_after`] (the default, for every engine whose device reaches memory on
//!   its own: hardware, QEMU's virtio-gpu and ramfb) the whole job is one use of the set's
//!   holder: an expiry waits for the job's fence (its completion, or the engine's reset).
//!   Only an engine that brackets every burst of its accesses (the software engines) may
//!   use [`Locked::unlock_after_leased`], whose lease lets the expiry complete between
//!   bursts and refuses the next one.
//! - **Everything is validated before anything runs**: each buffer a command names must be
//!   registered in the set for *this* device with an access that allows what the command
//!   does, and every rectangle or span must lie inside the buffer's registered range. A bad
//!   command rejects the whole submission; nothing is queued.
//! - **Completion is a [`Fence`]**; nothing calls back synchronously from inside a call.
//!
//! [`Fence`]: dmasync_sync::Fence
//! [`Locked`]: dmasync_sync::syncset::Locked
//! [`Locked::unlock_after`]: dmasync_sync::syncset::Locked::unlock_after
//! [`Locked::unlock_after_leased`]: dmasync_sync::syncset::Locked::unlock_after_leased
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod display;
pub mod dma;
pub mod error;
pub mod gfx2d;
pub mod surface;

pub use display::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, FlipFences, FlipQueue, QueuedFlip,
    accept_flip,
};
pub use dma::{DmaEngine, Span};
pub use error::{EngineError, Rejected};
pub use gfx2d::{Caps2d, Color, ConvertCaps, Engine2d, Engine2dControl, Flip, Op2d, Scaling};
pub use surface::{PixelFormat, Point, Rect, Surface, SurfaceDesc};
