//! The 2D engine: solid fill, copy blit, alpha blend, and the scaled/converted blit.
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
//!
//! Fill, copy and blend are defined on the 32-bit formats only
//! ([`PixelFormat::is_32bit`]); the others go through **Convert**
//! ([`Op2d::Convert`]: crop `from`, scale to `to`'s size, flip, convert the format), which
//! works in four steps:
//!
//! 1. **Scale factor**, per axis, in 1.12 fixed point as the i.MX 8M Plus ISI's scaler takes
//!    it (Linux `imx8-isi-hw.c`, `mxc_isi_channel_scaling_ratio`, rounding up so the output
//!    is exactly the requested size): `fx = ceil(from.w * 4096 / to.w)`, `fy` likewise
//!    ([`scale_factor`]). Equal sizes give 4096 (1.0).
//! 2. **Sampling** is nearest with phase 0: output column `i` (0-based inside `to`) of the
//!    unflipped image takes source column `from.x + min((i * fx) >> 12, from.w - 1)`, row
//!    `j` takes source row `from.y + min((j * fy) >> 12, from.h - 1)` ([`sample_index`];
//!    the `min` only matters when scaling up, for engines that may).
//! 3. **Flip** mirrors the output: with `flip.h` output column `i` shows what column
//!    `to.w - 1 - i` of the unflipped image has; `flip.v` likewise for rows.
//! 4. **Format conversion** of each sampled pixel, through 0xAARRGGBB:
//!    - `Xrgb8888` reads as `(255, R, G, B)`, `Argb8888` as itself, `Rgb565` expands each
//!      field by bit replication (`r8 = r5 << 3 | r5 >> 2`, `g8 = g6 << 2 | g6 >> 4`, blue as
//!      red) with alpha 255 ([`expand_565`]).
//!    - `Yuyv` takes the pixel's own luma and its pair's chroma, then BT.601 limited range
//!      with the 8-bit-fraction coefficients the ISI's CSC is programmed with (Linux
//!      `mxc_isi_yuv2rgb_coeffs`: 0x12a, 0x198, -0x64, -0xd0, 0x204, offsets -16/-128/-128),
//!      `c = Y - 16, d = U - 128, e = V - 128`,
//!      `R = clamp((298c + 408e + 128) >> 8)`, `G = clamp((298c - 100d - 208e + 128) >> 8)`,
//!      `B = clamp((298c + 516d + 128) >> 8)` (`>>` floors, clamp to 0..=255), alpha 255
//!      ([`yuv_to_argb`]).
//!    - Written as `Argb8888` the pixel is stored as is; as `Xrgb8888` with the X byte 0xFF;
//!      as `Rgb565` by truncation (`r5 = R >> 3, g6 = G >> 2, b5 = B >> 3`, [`reduce_565`]).
//!
//! A Convert whose `from` or `to` is empty writes nothing. Source and destination must be
//! different buffers (a streaming converter would read what it already wrote).

use dmasync_hal::dma::DeviceId;
use dmasync_hal::dma::MemorySystem;
use dmasync_sync::fence::Fence;
use dmasync_sync::syncset::Locked;

use crate::error::{EngineError, Rejected};
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
    /// Crop `from` of `src`, scale it to `to`'s size, mirror it by `flip` and convert it to
    /// `dst`'s format, into `to` of `dst` (write access to `dst`, read to `src`; different
    /// buffers). The arithmetic is in the module docs.
    Convert {
        /// Destination.
        dst: Surface<'b>,
        /// Destination pixels; its size is the output size.
        to: Rect,
        /// Source.
        src: Surface<'b>,
        /// Source pixels (the crop).
        from: Rect,
        /// Mirroring of the output.
        flip: Flip,
    },
}

/// Mirroring of a [`Op2d::Convert`]'s output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Flip {
    /// Mirror left-right.
    pub h: bool,
    /// Mirror top-bottom.
    pub v: bool,
}

impl Flip {
    /// No mirroring.
    pub const NONE: Flip = Flip { h: false, v: false };
}

/// The 1.12 fixed-point scale factor from `from` source pixels to `to` output pixels:
/// `ceil(from * 4096 / to)` (module docs, step 1). `to` is not zero.
pub const fn scale_factor(from: u32, to: u32) -> u64 {
    (from as u64 * 4096).div_ceil(to as u64)
}

/// The source index (0-based inside the crop of `from` pixels) that output index `i` of the
/// unflipped image samples with factor `f` (module docs, step 2).
pub const fn sample_index(i: u32, f: u64, from: u32) -> u32 {
    let s = (i as u64 * f) >> 12;
    if s >= from as u64 { from - 1 } else { s as u32 }
}

/// An `Rgb565` pixel as 0xAARRGGBB (bit replication, alpha 255).
pub const fn expand_565(p: u16) -> u32 {
    let r = ((p >> 11) & 0x1f) as u32;
    let g = ((p >> 5) & 0x3f) as u32;
    let b = (p & 0x1f) as u32;
    0xff00_0000 | (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2)
}

/// 0xAARRGGBB as an `Rgb565` pixel (truncation; alpha dropped).
pub const fn reduce_565(p: u32) -> u16 {
    let r = (p >> 19) & 0x1f;
    let g = (p >> 10) & 0x3f;
    let b = (p >> 3) & 0x1f;
    (r << 11 | g << 5 | b) as u16
}

/// BT.601 limited-range Y, U (Cb), V (Cr) as 0xAARRGGBB with the ISI's coefficients
/// (module docs, step 4).
pub const fn yuv_to_argb(y: u8, u: u8, v: u8) -> u32 {
    const fn clamp(v: i32) -> u32 {
        let v = v >> 8;
        if v < 0 {
            0
        } else if v > 255 {
            255
        } else {
            v as u32
        }
    }
    let c = y as i32 - 16;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let r = clamp(298 * c + 408 * e + 128);
    let g = clamp(298 * c - 100 * d - 208 * e + 128);
    let b = clamp(298 * c + 516 * d + 128);
    0xff00_0000 | r << 16 | g << 8 | b
}

/// Checks a [`Op2d::Convert`] against an engine's `caps` (`None`: it has no Convert): the
/// formats, scaling and flip it offers, different buffers, and each rectangle inside its
/// surface. The buffers' locks and ranges are the engine's `resolve` step.
pub fn check_convert(
    caps: Option<&ConvertCaps>,
    dst: &Surface<'_>,
    to: Rect,
    src: &Surface<'_>,
    from: Rect,
    flip: Flip,
) -> Result<(), EngineError> {
    let caps = caps.ok_or(EngineError::Unsupported(
        "scaled/converted blit (this engine has none)",
    ))?;
    if core::ptr::eq(dst.buffer, src.buffer) {
        return Err(EngineError::Unsupported(
            "convert with source and destination in one buffer",
        ));
    }
    if !caps.src_formats.contains(&src.desc.format) {
        return Err(EngineError::Unsupported(
            "convert source pixel format not read by this engine",
        ));
    }
    if !caps.dst_formats.contains(&dst.desc.format) {
        return Err(EngineError::Unsupported(
            "convert destination pixel format not written by this engine",
        ));
    }
    if !from.fits_in(src.desc.width, src.desc.height) {
        return Err(EngineError::OutOfBounds {
            buffer: src.buffer.name(),
            what: "convert source",
        });
    }
    if !to.fits_in(dst.desc.width, dst.desc.height) {
        return Err(EngineError::OutOfBounds {
            buffer: dst.buffer.name(),
            what: "convert destination",
        });
    }
    if (flip.h || flip.v) && !caps.flip {
        return Err(EngineError::Unsupported("flip (this engine cannot mirror)"));
    }
    if from.is_empty() || to.is_empty() {
        return Ok(());
    }
    match caps.scaling {
        Scaling::Any => Ok(()),
        Scaling::None if to.w == from.w && to.h == from.h => Ok(()),
        Scaling::None => Err(EngineError::Unsupported(
            "scaling (this engine converts at 1:1 only)",
        )),
        Scaling::Down { .. } if to.w > from.w || to.h > from.h => Err(EngineError::Unsupported(
            "scaling up (this engine scales down only)",
        )),
        Scaling::Down { max_factor } => {
            let m = max_factor as u64;
            if scale_factor(from.w, to.w) > m || scale_factor(from.h, to.h) > m {
                Err(EngineError::Unsupported(
                    "down-scaling by more than the engine's largest factor",
                ))
            } else {
                Ok(())
            }
        }
    }
}

impl Clone for Op2d<'_> {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for Op2d<'_> {}

/// How far an engine's [`Op2d::Convert`] scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// Output size equals `from`'s size.
    None,
    /// Output no larger than `from` on either axis, with a per-axis factor
    /// ([`scale_factor`]) of at most `max_factor` (1.12 fixed point: 8191 is just under 2).
    Down {
        /// Largest factor accepted per axis.
        max_factor: u32,
    },
    /// Any output size.
    Any,
}

/// What an engine's [`Op2d::Convert`] can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvertCaps {
    /// Scaling.
    pub scaling: Scaling,
    /// Horizontal and vertical flip.
    pub flip: bool,
    /// Formats it reads.
    pub src_formats: &'static [PixelFormat],
    /// Formats it writes.
    pub dst_formats: &'static [PixelFormat],
}

/// What a 2D engine can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps2d {
    /// Widest surface, in pixels.
    pub max_width: u32,
    /// Tallest surface, in pixels.
    pub max_height: u32,
    /// Pixel formats fill, copy and blend read and write.
    pub formats: &'static [PixelFormat],
    /// Solid fill.
    pub fill: bool,
    /// Copy blit.
    pub copy: bool,
    /// Alpha blend.
    pub blend: bool,
    /// The scaled/converted blit, `None` when the engine has none.
    pub convert: Option<ConvertCaps>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_factor_and_sampling_as_documented() {
        // Equal sizes: 1.0, every pixel itself.
        assert_eq!(scale_factor(7, 7), 4096);
        assert!((0..7).all(|i| sample_index(i, 4096, 7) == i));
        // 800 -> 720 lines: Linux's example, 0x11C8 (rounded up so the output is 720).
        assert_eq!(scale_factor(800, 720), 0x11C8);
        // 5 -> 2: ceil(20480 / 2) = 10240, samples 0 and 2.
        assert_eq!(scale_factor(5, 2), 10240);
        assert_eq!(
            [sample_index(0, 10240, 5), sample_index(1, 10240, 5)],
            [0, 2]
        );
        // Up-scaling 2 -> 64: the clamp keeps every index inside the crop.
        let f = scale_factor(2, 64);
        assert!((0..64).all(|i| sample_index(i, f, 2) < 2));
        assert_eq!(sample_index(63, f, 2), 1);
    }

    #[test]
    fn rgb565_expands_by_replication_and_reduces_by_truncation() {
        assert_eq!(expand_565(0xFFFF), 0xFFFF_FFFF);
        assert_eq!(expand_565(0x0000), 0xFF00_0000);
        assert_eq!(expand_565(0x0841), 0xFF08_0808);
        assert_eq!(reduce_565(0x0087_430F), (0x10 << 11) | (0x10 << 5) | 0x01);
        // Every 565 value survives the round trip.
        assert!((0..=u16::MAX).all(|p| reduce_565(expand_565(p)) == p));
    }

    #[test]
    fn bt601_limited_range_end_points() {
        assert_eq!(yuv_to_argb(16, 128, 128), 0xFF00_0000);
        assert_eq!(yuv_to_argb(235, 128, 128), 0xFFFF_FFFF);
        // Saturated chroma clamps instead of wrapping.
        assert_eq!(yuv_to_argb(255, 255, 255) >> 16 & 0xFF, 255);
        assert_eq!(yuv_to_argb(0, 0, 0) & 0xFF, 0);
        // Mid grey: 298 * 110 + 128 = 32908, >> 8 = 128.
        assert_eq!(yuv_to_argb(126, 128, 128), 0xFF80_8080);
    }
}
