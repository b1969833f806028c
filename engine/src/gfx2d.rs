//! The 2D engine: solid fill, copy blit, alpha blend.
//!
//! The pixel arithmetic is fixed here so every implementation (hardware, the software
//! engine, the host reference renderer) produces the same bytes:
//!
//! - **Fill** writes `color` (0xAARRGGBB) to every pixel of the rectangle, as given.
//! - **Copy** copies the source rectangle to the destination; within one buffer the result
//!   is as if the whole source were read before anything was written.
//! - **Blend** is source-over with straight alpha: per pixel, `a = div255(src.A * alpha)`,
//!   each colour channel becomes `div255(src.c * a + dst.c * (255 - a))`, and the alpha
//!   byte becomes `a + div255(dst.A * (255 - a))`, where `div255(v) = (v + 127) / 255`
//!   rounds to nearest. An `Xrgb8888` source counts as opaque (`src.A = 255`).

use dmasync_hal::dma::DeviceId;
use dmasync_hal::dma::MemorySystem;
use dmasync_sync::fence::Fence;
use dmasync_sync::syncset::Locked;

use crate::error::Rejected;
use crate::surface::{PixelFormat, Point, Rect, Surface};

/// A colour, 0xAARRGGBB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Color(pub u32);

impl Color {
    /// From alpha, red, green, blue.
    pub const fn argb(a: u8, r: u8, g: u8, b: u8) -> Self {
        Self((a as u32) << 24 | (r as u32) << 16 | (g as u32) << 8 | b as u32)
    }
}

/// One 2D command. Surfaces name buffers of the sync set the command is submitted with.
#[derive(Debug)]
pub enum Op2d<'b> {
    /// Fill `rect` of `dst` with `color` (needs write access to `dst`).
    Fill {
        /// Destination.
        dst: Surface<'b>,
        /// Pixels to fill.
        rect: Rect,
        /// The colour.
        color: Color,
    },
    /// Copy `from` of `src` to `dst` at `to` (write access to `dst`, read to `src`).
    Copy {
        /// Destination.
        dst: Surface<'b>,
        /// Top-left destination pixel.
        to: Point,
        /// Source.
        src: Surface<'b>,
        /// Source pixels.
        from: Rect,
    },
    /// Blend `from` of `src` over `dst` at `to`, scaled by `alpha` (read+write access to
    /// `dst`, read to `src`).
    Blend {
        /// Destination.
        dst: Surface<'b>,
        /// Top-left destination pixel.
        to: Point,
        /// Source.
        src: Surface<'b>,
        /// Source pixels.
        from: Rect,
        /// Global alpha, multiplied with each source pixel's alpha (255 = as is).
        alpha: u8,
    },
}

impl Clone for Op2d<'_> {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for Op2d<'_> {}

/// What a 2D engine can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps2d {
    /// Widest surface, in pixels.
    pub max_width: u32,
    /// Tallest surface, in pixels.
    pub max_height: u32,
    /// Pixel formats it reads and writes.
    pub formats: &'static [PixelFormat],
    /// Solid fill.
    pub fill: bool,
    /// Copy blit.
    pub copy: bool,
    /// Alpha blend.
    pub blend: bool,
    /// Submissions it queues before `QueueFull`.
    pub queue_depth: usize,
    /// Commands per submission.
    pub max_ops: usize,
}

/// The 2D engine's control path.
pub trait Engine2dControl {
    /// What the engine can do.
    fn capabilities(&self) -> Caps2d;

    /// Submissions accepted and not yet completed.
    fn pending(&self) -> usize;

    /// Abandons every queued and running submission — for an engine that stopped
    /// completing. Their fences signal with an error; the engine accepts work again.
    /// Returns how many were abandoned.
    fn reset(&self) -> usize;
}

/// The 2D engine's data path.
pub trait Engine2d: Engine2dControl {
    /// The bus master the engine is, as buffers are registered for it.
    fn device(&self) -> DeviceId;

    /// Validates `ops` against `locked` (each buffer registered for this device with the
    /// access the command needs, each rectangle inside its surface and each surface inside
    /// its registered range, formats and sizes within [`Caps2d`]) and queues them to run in
    /// order once `in_fence` (if any) has signalled.
    ///
    /// On success returns the fence that signals when all of `ops` have run, and the set is
    /// handed to `Locked::unlock_after` with it (or `unlock_after_leased`: crate docs). On
    /// refusal nothing was queued and the set comes back in [`Rejected`].
    fn submit<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        ops: &[Op2d<'_>],
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, M>>>;
}
