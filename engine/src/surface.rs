//! Pixel surfaces inside sync-set buffers, and the geometry commands use.

use dmasync_hal::dma::MemorySystem;
use dmasync_hal::dma::{BusAddr, DeviceId};
use dmasync_sync::syncset::{Locked, SyncBuffer, SyncError};

use crate::error::EngineError;

/// Pixel layouts, named as DRM names them (`include/uapi/drm/drm_fourcc.h`).
///
/// The two 32-bit formats are stored little-endian, so the bytes in memory are B, G, R, then
/// X or A — DRM's `XRGB8888`/`ARGB8888`, virtio-gpu's `B8G8R8X8`/`B8G8R8A8`, ramfb's `XR24`.
/// The others are read and written by engines that convert ([`crate::Op2d::Convert`]); an
/// engine or display that does not handle a format refuses it as `Unsupported`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Opaque: the top byte is ignored.
    Xrgb8888,
    /// With straight (non-premultiplied) alpha in the top byte.
    Argb8888,
    /// 16 bits, little-endian: R in bits 15:11, G in 10:5, B in 4:0 (DRM `RGB565`,
    /// pixman `r5g6b5`). Opaque.
    Rgb565,
    /// Packed YUV 4:2:2, two pixels in four bytes Y0 U Y1 V (DRM/V4L2 `YUYV`, pixman
    /// `yuy2`), BT.601 limited range. Pixel `x` has luma at byte `2x` and shares the chroma
    /// of its pair (bytes `4(x/2) + 1` and `4(x/2) + 3`); surfaces have an even width.
    Yuyv,
}

impl PixelFormat {
    /// Bytes per pixel (for `Yuyv`, the average: 4 bytes per pair).
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Xrgb8888 | PixelFormat::Argb8888 => 4,
            PixelFormat::Rgb565 | PixelFormat::Yuyv => 2,
        }
    }

    /// True for the 32-bit formats the fill, copy and blend arithmetic is defined on.
    pub const fn is_32bit(self) -> bool {
        matches!(self, PixelFormat::Xrgb8888 | PixelFormat::Argb8888)
    }
}

/// A pixel position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Point {
    /// Column.
    pub x: u32,
    /// Row.
    pub y: u32,
}

impl Point {
    /// `(x, y)`.
    pub const fn new(x: u32, y: u32) -> Self {
        Self { x, y }
    }
}

/// A rectangle of pixels: `w` x `h` starting at (`x`, `y`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub w: u32,
    /// Height in pixels.
    pub h: u32,
}

impl Rect {
    /// `w` x `h` at (`x`, `y`).
    pub const fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }

    /// True when the rectangle has no pixels.
    pub const fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    /// True when the rectangle lies inside a `width` x `height` surface (without overflow).
    pub fn fits_in(&self, width: u32, height: u32) -> bool {
        matches!(self.x.checked_add(self.w), Some(r) if r <= width)
            && matches!(self.y.checked_add(self.h), Some(b) if b <= height)
    }
}

/// The layout of a surface inside a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SurfaceDesc {
    /// Byte offset of the first pixel from the start of the buffer.
    pub offset: usize,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next (at least `width * bytes_per_pixel`).
    pub stride: usize,
    /// Pixel layout.
    pub format: PixelFormat,
}

impl SurfaceDesc {
    /// A tightly packed surface at the start of a buffer.
    pub const fn packed(width: u32, height: u32, format: PixelFormat) -> Self {
        Self {
            offset: 0,
            width,
            height,
            stride: width as usize * format.bytes_per_pixel(),
            format,
        }
    }

    /// Bytes from the first pixel to the end of the last row's last pixel (`None` on
    /// overflow).
    pub fn span_bytes(&self) -> Option<usize> {
        if self.width == 0 || self.height == 0 {
            return Some(0);
        }
        let row = (self.width as usize).checked_mul(self.format.bytes_per_pixel())?;
        (self.height as usize - 1)
            .checked_mul(self.stride)?
            .checked_add(row)
    }

    /// Byte offset (from the buffer start) of pixel (`x`, `y`); the caller checked bounds.
    pub fn pixel_offset(&self, x: u32, y: u32) -> usize {
        self.offset + y as usize * self.stride + x as usize * self.format.bytes_per_pixel()
    }

    /// Checks the description on its own: non-zero size, stride holds a row.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.width == 0 || self.height == 0 {
            return Err("zero width or height");
        }
        let row = (self.width as usize)
            .checked_mul(self.format.bytes_per_pixel())
            .ok_or("row size overflows")?;
        if self.stride < row {
            return Err("stride is smaller than a row");
        }
        if self.format == PixelFormat::Yuyv && !self.width.is_multiple_of(2) {
            return Err("a YUYV surface has an even width (pixels come in pairs)");
        }
        self.span_bytes().ok_or("size overflows")?;
        Ok(())
    }
}

/// A surface: a buffer of a sync domain and the layout of pixels in it. Creating one proves
/// nothing; the engine checks, at submission, that the set it is given holds the buffer
/// for the access the command needs and that the surface lies inside the registered range.
#[derive(Debug)]
pub struct Surface<'b> {
    /// The buffer.
    pub buffer: &'b SyncBuffer,
    /// Where the pixels are in it.
    pub desc: SurfaceDesc,
}

impl Clone for Surface<'_> {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for Surface<'_> {}

impl<'b> Surface<'b> {
    /// `desc` inside `buffer`.
    pub fn new(buffer: &'b SyncBuffer, desc: SurfaceDesc) -> Self {
        Self { buffer, desc }
    }
}

/// What a command does to a surface, checked against the buffer's access in the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Reads it.
    Read,
    /// Writes it without reading (fill, copy destination).
    Write,
    /// Reads and writes it (blend destination, copy within one buffer).
    ReadWrite,
}

impl Need {
    fn name(self) -> &'static str {
        match self {
            Need::Read => "read",
            Need::Write => "write",
            Need::ReadWrite => "read+write",
        }
    }
}

/// A validated surface as a device sees it: bus address of pixel (0, 0) and the layout.
/// Plain data, so a queue can hold it after the submission returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusSurface {
    /// Bus address of pixel (0, 0).
    pub bus: BusAddr,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Pixel layout.
    pub format: PixelFormat,
}

impl BusSurface {
    /// Bus address of pixel (`x`, `y`); the caller checked bounds.
    pub fn pixel(&self, x: u32, y: u32) -> BusAddr {
        BusAddr(
            self.bus.0
                + (y as usize * self.stride + x as usize * self.format.bytes_per_pixel()) as u64,
        )
    }
}

/// Checks that `locked` holds `surface`'s buffer for `device` with an access allowing
/// `need`, and that the surface lies inside the registered range; returns the surface as
/// the device addresses it.
pub fn resolve<M: MemorySystem>(
    locked: &Locked<'_, M>,
    device: DeviceId,
    surface: &Surface<'_>,
    need: Need,
) -> Result<BusSurface, EngineError> {
    let buffer = surface.buffer.name();
    let not_locked = EngineError::NotLockedFor {
        buffer,
        wanted: need.name(),
    };
    let guard = match locked.dma(surface.buffer, device) {
        Ok(g) => g,
        Err(SyncError::Expired) => return Err(EngineError::Sync(SyncError::Expired)),
        Err(_) => return Err(not_locked),
    };
    let access = guard.access();
    let allowed = match need {
        Need::Read => access.reads(),
        Need::Write => access.writes(),
        Need::ReadWrite => access.reads() && access.writes(),
    };
    if !allowed {
        return Err(not_locked);
    }
    surface
        .desc
        .check()
        .map_err(|why| EngineError::BadSurface { buffer, why })?;
    let (range_bus, range_len) = guard.bus_range()?;
    // Registered range as offsets into the buffer.
    let start = (range_bus.0 - surface.buffer.region().bus().0) as usize;
    let end = start + range_len;
    let span = surface.desc.span_bytes().unwrap_or(usize::MAX);
    let inside = surface.desc.offset >= start
        && matches!(surface.desc.offset.checked_add(span), Some(e) if e <= end);
    if !inside {
        return Err(EngineError::OutOfBounds {
            buffer,
            what: "surface",
        });
    }
    Ok(BusSurface {
        bus: BusAddr(surface.buffer.region().bus().0 + surface.desc.offset as u64),
        width: surface.desc.width,
        height: surface.desc.height,
        stride: surface.desc.stride,
        format: surface.desc.format,
    })
}
