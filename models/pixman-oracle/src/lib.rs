//! The independent pixel oracle: dmasync's 2D commands (solid fill, copy, global-alpha
//! source-over, the scaled/converted blit) computed by pixman, the pixel library QEMU, X
//! and cairo use, through the `pixman` crate's bindings to the system `libpixman-1`
//! (Debian's `libpixman-1-dev`).
//!
//! Host only, and on purpose independent of dmasync's engine and drivers: the API is its own
//! ([`Layout`], [`Rect`], [`Format`]) so that nothing it computes goes through
//! `dmasync_soft::render`, the code it checks. doc/testing.md, "The pixel oracle", says what
//! is checked with it.
//!
//! How dmasync's arithmetic (`dmasync_engine::gfx2d`) maps onto pixman's:
//!
//! - **Fill** is `PIXMAN_OP_SRC` of the colour over the rectangle
//!   (`pixman_image_fill_boxes`). Bit-exact.
//! - **Copy** is `PIXMAN_OP_SRC` of the source image, no mask. Bit-exact.
//! - **Blend**: dmasync's source is straight alpha; pixman's images are premultiplied. Two
//!   composites give dmasync's function: first the effective alpha
//!   `a = src.A * alpha / 255` into an `a8` mask (`OP_SRC` of the source, in its format,
//!   through a solid mask of the global alpha), then `OP_OVER` of the source's colour bits
//!   read as `x8r8g8b8` (opaque, so pixman takes them as they are) through that mask. pixman
//!   computes per colour channel `MUL_UN8(src.c, a) + MUL_UN8(dst.c, 255 - a)` — two
//!   roundings where dmasync rounds once, `div255(src.c * a + dst.c * (255 - a))` — so a
//!   colour channel may differ by one ([`BLEND_COLOUR_BOUND`]); the alpha byte
//!   (`a + MUL_UN8(dst.A, 255 - a)`) and every pixel with `a` = 0 or 255 are bit-exact.
//!
//! Every byte is payload in dmasync (a fill writes the colour as given, a copy moves bytes,
//! a blend computes the top byte of any destination by the alpha formula), while pixman
//! leaves the top byte of an `x8r8g8b8` destination undefined; so destinations, and copy
//! sources, are handed to pixman as `a8r8g8b8`. The format matters only where dmasync gives
//! it meaning: an [`Format::Xrgb8888`] blend source is opaque whatever its top byte holds.
//!
//! - **Convert** (crop, nearest scale, flip, format conversion) is `PIXMAN_OP_SRC` of the
//!   whole source surface through a transform with `PIXMAN_FILTER_NEAREST` ([`convert`]).
//!   pixman samples destination pixel `i` at the source point `m * (i + 0.5) + t` and takes
//!   pixel `floor(x - pixman_fixed_e)`; with `m = 16 * f` (dmasync's 1.12 factor as 16.16)
//!   and `t = from.x - 8f + 1/65536` (in 16.16 units) that is exactly `from.x + (i * f) >> 12`,
//!   and with `m = -16f`, `t = from.x + (2 to.w - 1) 8f + 1/65536` the mirrored
//!   `from.x + ((to.w - 1 - i) * f) >> 12` (the products are exact in pixman's 64-bit
//!   arithmetic). r5g6b5 expands by bit replication and is stored by truncation, as dmasync
//!   defines, so RGB conversions are bit-exact. pixman's `yuy2` fetch uses BT.601
//!   limited-range coefficients with 16 fraction bits and truncation where dmasync uses the
//!   ISI's 8-bit ones and rounds: a channel may differ by [`YUV_CHANNEL_BOUND`].
//!
//! Surfaces are copied into pixman-owned packed images, composited, and every pixel of the
//! surface is written back: which pixels change is pixman's decision; the bytes between rows
//! (stride padding) and after the last pixel are never written.

#![forbid(unsafe_code)]

use core::fmt;

use pixman::{Box32, Color, Filter, Fixed, FormatCode, Image, Operation, Repeat, Solid, Transform};

/// How far a blended colour channel (red, green or blue) of pixman's result may lie from
/// dmasync's: one. dmasync rounds `(s * a + d * (255 - a)) / 255` once; pixman rounds
/// `s * a / 255` and `d * (255 - a) / 255` separately (`MUL_UN8`, exact round-to-nearest of a
/// product of two bytes) and adds. Each rounding error lies strictly inside (-1/2, 1/2)
/// (255 is odd, so no quotient ends in exactly .5), their sum strictly inside (-1, 1), and
/// two integers that close differ by at most 1. Alpha bytes and pixels with `a` = 0 or 255
/// differ by nothing.
pub const BLEND_COLOUR_BOUND: u8 = 1;

/// How far a colour channel of a YUYV pixel converted by pixman (`yuy2` fetch: coefficients
/// 0x12b27, 0x19a2e, 0xd0f2, 0x647e, 0x206a2 over 65536, floored) may lie from dmasync's
/// (the ISI's 298, 408, 100, 208, 516 over 256, rounded). Measured over every (Y, U, V) by
/// `drivers/soft/tests/pixman_oracle.rs` (`yuv_bound_is_exact_over_every_triple`), which
/// also checks that the bound is reached.
pub const YUV_CHANNEL_BOUND: u8 = 1;

/// Pixel layouts: 32 bits per pixel, little-endian 0xAARRGGBB (bytes B, G, R, X/A), as in
/// DRM's `XRGB8888`/`ARGB8888`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Opaque: as a blend source its top byte is ignored (alpha 255).
    Xrgb8888,
    /// Straight (non-premultiplied) alpha in the top byte.
    Argb8888,
}

/// Where a surface's pixels lie in its byte slice: pixel (x, y) is the 4 bytes at
/// `y * stride + x * 4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next, at least `width * 4`; any value (need not be aligned).
    pub stride: usize,
    /// Pixel layout.
    pub format: Format,
}

impl Layout {
    /// A tightly packed surface (`stride = width * 4`).
    pub const fn packed(width: u32, height: u32, format: Format) -> Self {
        Self {
            width,
            height,
            stride: width as usize * 4,
            format,
        }
    }

    /// Bytes from the first pixel to the end of the last one.
    fn span(&self) -> Option<usize> {
        (self.height as usize - 1)
            .checked_mul(self.stride)?
            .checked_add(self.width as usize * 4)
    }

    fn at(&self, x: u32, y: u32) -> usize {
        y as usize * self.stride + x as usize * 4
    }
}

/// A rectangle of pixels: `w` x `h` from (`x`, `y`).
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

    fn fits_in(&self, l: &Layout) -> bool {
        matches!(self.x.checked_add(self.w), Some(r) if r <= l.width)
            && matches!(self.y.checked_add(self.h), Some(b) if b <= l.height)
    }
}

/// What the oracle refused, naming the surface (`"dst"` or `"src"`) and the problem. Nothing
/// is written when an error is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OracleError {
    /// The layout itself is wrong (zero size, stride below a row, or larger than pixman's
    /// `int` coordinates and sizes hold).
    BadSurface {
        /// `"dst"` or `"src"`.
        surface: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// The slice is shorter than the layout needs.
    ShortBuffer {
        /// `"dst"` or `"src"`.
        surface: &'static str,
    },
    /// A rectangle does not lie inside its surface.
    OutOfBounds {
        /// `"dst"` or `"src"`.
        surface: &'static str,
    },
    /// A copy between two pixel formats (dmasync converts nothing).
    FormatMismatch,
    /// pixman could not create an image or refused a fill.
    Pixman(&'static str),
}

impl fmt::Display for OracleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSurface { surface, why } => write!(f, "{surface} surface: {why}"),
            Self::ShortBuffer { surface } => {
                write!(f, "{surface} buffer is shorter than its layout")
            }
            Self::OutOfBounds { surface } => {
                write!(f, "rectangle outside the {surface} surface")
            }
            Self::FormatMismatch => f.write_str("copy between different pixel formats"),
            Self::Pixman(what) => write!(f, "pixman: {what}"),
        }
    }
}

impl std::error::Error for OracleError {}

/// Largest width or height handed to pixman: its coordinates are `int`, and
/// `pixman_image_create_bits` refuses images whose `height * stride` overflows an `int`.
const MAX_SIDE: u32 = 1 << 14;

fn check(surface: &'static str, l: &Layout, len: usize) -> Result<(), OracleError> {
    let bad = |why| Err(OracleError::BadSurface { surface, why });
    if l.width == 0 || l.height == 0 {
        return bad("zero width or height");
    }
    if l.width > MAX_SIDE || l.height > MAX_SIDE {
        return bad("wider or taller than 16384 pixels");
    }
    if l.stride < l.width as usize * 4 {
        return bad("stride is smaller than a row");
    }
    match l.span() {
        None => bad("size overflows"),
        Some(span) if span > len => Err(OracleError::ShortBuffer { surface }),
        Some(_) => Ok(()),
    }
}

fn check_rect(surface: &'static str, l: &Layout, r: Rect) -> Result<(), OracleError> {
    if r.fits_in(l) {
        Ok(())
    } else {
        Err(OracleError::OutOfBounds { surface })
    }
}

/// A surface's pixels, packed (`width * height` words, row-major).
fn load(bytes: &[u8], l: &Layout) -> Vec<u32> {
    let mut px = Vec::with_capacity(l.width as usize * l.height as usize);
    for y in 0..l.height {
        let row = &bytes[l.at(0, y)..l.at(l.width, y)];
        px.extend(
            row.chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    px
}

/// Writes packed pixels back to every pixel of the surface (never its padding).
fn store(bytes: &mut [u8], l: &Layout, px: &[u32]) {
    for (y, row) in (0..l.height).zip(px.chunks_exact(l.width as usize)) {
        let out = &mut bytes[l.at(0, y)..l.at(l.width, y)];
        for (b, p) in out.chunks_exact_mut(4).zip(row) {
            b.copy_from_slice(&p.to_le_bytes());
        }
    }
}

/// A pixman image over packed pixels. `pixman` 0.2's `from_slice_mut` does not check the
/// slice against `height * stride`, so the length is checked here before pixman sees it.
fn image<'b>(
    px: &'b mut [u32],
    l: &Layout,
    format: FormatCode,
) -> Result<Image<'b, 'static>, OracleError> {
    let (w, h) = (l.width as usize, l.height as usize);
    if px.len() != w * h {
        return Err(OracleError::Pixman("pixel buffer does not match its image"));
    }
    Image::from_slice_mut(format, w, h, px, w * 4, false)
        .map_err(|_| OracleError::Pixman("pixman_image_create_bits failed"))
}

fn pixman_format(f: Format) -> FormatCode {
    match f {
        Format::Xrgb8888 => FormatCode::X8R8G8B8,
        Format::Argb8888 => FormatCode::A8R8G8B8,
    }
}

/// An 8-bit value as pixman's 16-bit colour channel (`v * 257`, which pixman maps back to
/// `v` exactly by taking the high byte).
fn channel16(v: u32) -> u16 {
    (v & 0xff) as u16 * 257
}

/// Fills `rect` of the surface in `dst` with `color` (0xAARRGGBB, written as given).
pub fn fill(dst: &mut [u8], layout: Layout, rect: Rect, color: u32) -> Result<(), OracleError> {
    check("dst", &layout, dst.len())?;
    check_rect("dst", &layout, rect)?;
    let mut px = load(dst, &layout);
    {
        let mut img = image(&mut px, &layout, FormatCode::A8R8G8B8)?;
        let colour = Color::new(
            channel16(color >> 16),
            channel16(color >> 8),
            channel16(color),
            channel16(color >> 24),
        );
        let boxes = [Box32 {
            x1: rect.x as i32,
            y1: rect.y as i32,
            x2: (rect.x + rect.w) as i32,
            y2: (rect.y + rect.h) as i32,
        }];
        img.fill_boxes(Operation::Src, colour, &boxes)
            .map_err(|_| OracleError::Pixman("pixman_image_fill_boxes failed"))?;
    }
    store(dst, &layout, &px);
    Ok(())
}

/// Checks both surfaces and both rectangles of a copy or blend.
fn check_two(
    dst: &[u8],
    dst_layout: &Layout,
    to: (u32, u32),
    src: &[u8],
    src_layout: &Layout,
    from: Rect,
) -> Result<(), OracleError> {
    check("dst", dst_layout, dst.len())?;
    check("src", src_layout, src.len())?;
    check_rect("src", src_layout, from)?;
    check_rect("dst", dst_layout, Rect::new(to.0, to.1, from.w, from.h))
}

/// Copies `from` of the surface in `src` to the surface in `dst` at `to`. Both must have the
/// same format. (For a copy within one buffer, pass a copy of it as `src`: the result is as
/// if the whole source were read first, which is dmasync's rule.)
pub fn copy(
    dst: &mut [u8],
    dst_layout: Layout,
    to: (u32, u32),
    src: &[u8],
    src_layout: Layout,
    from: Rect,
) -> Result<(), OracleError> {
    check_two(dst, &dst_layout, to, src, &src_layout, from)?;
    if dst_layout.format != src_layout.format {
        return Err(OracleError::FormatMismatch);
    }
    let mut d = load(dst, &dst_layout);
    let mut s = load(src, &src_layout);
    {
        let s_img = image(&mut s, &src_layout, FormatCode::A8R8G8B8)?;
        let mut d_img = image(&mut d, &dst_layout, FormatCode::A8R8G8B8)?;
        d_img.composite32(
            Operation::Src,
            &s_img,
            None,
            (from.x as i32, from.y as i32),
            (0, 0),
            (to.0 as i32, to.1 as i32),
            (from.w as i32, from.h as i32),
        );
    }
    store(dst, &dst_layout, &d);
    Ok(())
}

/// Blends `from` of the surface in `src` over the surface in `dst` at `to`: straight-alpha
/// source-over scaled by the global `alpha` (255 = the source's own alpha), as
/// `dmasync_engine::gfx2d` defines it, within [`BLEND_COLOUR_BOUND`] per colour channel.
pub fn blend(
    dst: &mut [u8],
    dst_layout: Layout,
    to: (u32, u32),
    src: &[u8],
    src_layout: Layout,
    from: Rect,
    alpha: u8,
) -> Result<(), OracleError> {
    check_two(dst, &dst_layout, to, src, &src_layout, from)?;
    if from.w == 0 || from.h == 0 {
        return Ok(());
    }
    let mut d = load(dst, &dst_layout);
    let mut s = load(src, &src_layout);
    let (w, h) = (from.w as i32, from.h as i32);
    let at = (from.x as i32, from.y as i32);
    // The effective alpha a = src.A * alpha / 255 (an Xrgb source counts as A = 255),
    // computed by pixman: the source IN a solid mask of the global alpha, kept as a8.
    let mut mask = Image::new(FormatCode::A8, from.w as usize, from.h as usize, true)
        .map_err(|_| OracleError::Pixman("cannot create the a8 mask"))?;
    {
        let global = Solid::new(Color::new(0, 0, 0, channel16(alpha.into())))
            .map_err(|_| OracleError::Pixman("cannot create the solid alpha"))?;
        let s_img = image(&mut s, &src_layout, pixman_format(src_layout.format))?;
        mask.composite32(
            Operation::Src,
            &s_img,
            Some(&global),
            at,
            (0, 0),
            (0, 0),
            (w, h),
        );
    }
    {
        // The source's colour bits as they are (x8r8g8b8: alpha 255, so pixman does not
        // treat them as premultiplied), through the mask, OVER the destination.
        let colour = image(&mut s, &src_layout, FormatCode::X8R8G8B8)?;
        let mut d_img = image(&mut d, &dst_layout, FormatCode::A8R8G8B8)?;
        d_img.composite32(
            Operation::Over,
            &colour,
            Some(&mask),
            at,
            (0, 0),
            (to.0 as i32, to.1 as i32),
            (w, h),
        );
    }
    store(dst, &dst_layout, &d);
    Ok(())
}

/// Pixel layouts [`convert`] reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvFormat {
    /// 32 bits, 0xXXRRGGBB little-endian; read as opaque.
    Xrgb8888,
    /// 32 bits, 0xAARRGGBB little-endian, straight alpha.
    Argb8888,
    /// 16 bits little-endian, R 15:11, G 10:5, B 4:0.
    R5g6b5,
    /// Y0 U Y1 V, two pixels in four bytes (read only).
    Yuy2,
}

impl ConvFormat {
    fn bytes(self) -> usize {
        match self {
            ConvFormat::Xrgb8888 | ConvFormat::Argb8888 => 4,
            ConvFormat::R5g6b5 | ConvFormat::Yuy2 => 2,
        }
    }
}

/// A surface of a [`ConvFormat`]: pixel (x, y) at `y * stride + x * bytes per pixel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvLayout {
    /// Width in pixels (even for `Yuy2`).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next, at least a row.
    pub stride: usize,
    /// Pixel layout.
    pub format: ConvFormat,
}

impl ConvLayout {
    /// A tightly packed surface.
    pub const fn packed(width: u32, height: u32, format: ConvFormat) -> Self {
        let bpp = match format {
            ConvFormat::Xrgb8888 | ConvFormat::Argb8888 => 4,
            ConvFormat::R5g6b5 | ConvFormat::Yuy2 => 2,
        };
        Self {
            width,
            height,
            stride: width as usize * bpp,
            format,
        }
    }

    fn row(&self) -> usize {
        self.width as usize * self.format.bytes()
    }

    /// Row pitch of the packed pixman copy (whole 32-bit words).
    fn words(&self) -> usize {
        self.row().div_ceil(4)
    }

    fn as_rect_layout(&self) -> Layout {
        Layout {
            width: self.width,
            height: self.height,
            stride: self.stride,
            format: Format::Argb8888,
        }
    }
}

fn check_conv(surface: &'static str, l: &ConvLayout, len: usize) -> Result<(), OracleError> {
    let bad = |why| Err(OracleError::BadSurface { surface, why });
    if l.width == 0 || l.height == 0 {
        return bad("zero width or height");
    }
    if l.width > MAX_SIDE || l.height > MAX_SIDE {
        return bad("wider or taller than 16384 pixels");
    }
    if l.stride < l.row() {
        return bad("stride is smaller than a row");
    }
    if l.format == ConvFormat::Yuy2 && !l.width.is_multiple_of(2) {
        return bad("a yuy2 surface has an even width");
    }
    let span = (l.height as usize - 1)
        .checked_mul(l.stride)
        .and_then(|v| v.checked_add(l.row()));
    match span {
        None => bad("size overflows"),
        Some(span) if span > len => Err(OracleError::ShortBuffer { surface }),
        Some(_) => Ok(()),
    }
}

/// A surface's rows copied into whole 32-bit words per row (native-endian words holding the
/// little-endian bytes, as pixman reads them on a little-endian host).
fn load_conv(bytes: &[u8], l: &ConvLayout) -> Vec<u32> {
    let (row, words) = (l.row(), l.words());
    let mut out = vec![0u32; words * l.height as usize];
    for y in 0..l.height as usize {
        let src = &bytes[y * l.stride..y * l.stride + row];
        let dst = &mut out[y * words..(y + 1) * words];
        for (i, b) in src.iter().enumerate() {
            let w = &mut dst[i / 4];
            *w |= (*b as u32) << (8 * (i % 4));
        }
    }
    out
}

fn store_conv(bytes: &mut [u8], l: &ConvLayout, px: &[u32]) {
    let (row, words) = (l.row(), l.words());
    for y in 0..l.height as usize {
        let src = &px[y * words..(y + 1) * words];
        let dst = &mut bytes[y * l.stride..y * l.stride + row];
        for (i, b) in dst.iter_mut().enumerate() {
            *b = (src[i / 4] >> (8 * (i % 4))) as u8;
        }
    }
}

fn conv_image<'b>(
    px: &'b mut [u32],
    l: &ConvLayout,
    format: FormatCode,
) -> Result<Image<'b, 'static>, OracleError> {
    let (w, h, words) = (l.width as usize, l.height as usize, l.words());
    if px.len() != words * h {
        return Err(OracleError::Pixman("pixel buffer does not match its image"));
    }
    Image::from_slice_mut(format, w, h, px, words * 4, false)
        .map_err(|_| OracleError::Pixman("pixman_image_create_bits failed"))
}

/// The 16.16 (scale, offset) of one axis: output index `i` samples crop index
/// `(i * f) >> 12`, or `((n - 1 - i) * f) >> 12` mirrored (module docs).
fn axis(start: u32, from: u32, to: u32, mirror: bool) -> Result<(i32, i32), OracleError> {
    let f = (from as i64 * 4096 + to as i64 - 1) / to as i64;
    let base = start as i64 * 65536;
    let (m, t) = if mirror {
        (-16 * f, base + (2 * to as i64 - 1) * 8 * f + 1)
    } else {
        (16 * f, base - 8 * f + 1)
    };
    match (i32::try_from(m), i32::try_from(t)) {
        (Ok(m), Ok(t)) => Ok((m, t)),
        _ => Err(OracleError::Pixman("scale outside pixman's 16.16 range")),
    }
}

/// Crops `from` of the surface in `src`, scales it (nearest, dmasync's 1.12 factor) to
/// `to`'s size, mirrors it (`flip_h`, `flip_v`) and converts it into `to` of the surface in
/// `dst`, computed by pixman (module docs). The destination is `Xrgb8888` (written with the
/// X byte 0xFF), `Argb8888` or `R5g6b5`.
#[allow(clippy::too_many_arguments)]
pub fn convert(
    dst: &mut [u8],
    dst_layout: ConvLayout,
    to: Rect,
    src: &[u8],
    src_layout: ConvLayout,
    from: Rect,
    flip_h: bool,
    flip_v: bool,
) -> Result<(), OracleError> {
    check_conv("dst", &dst_layout, dst.len())?;
    check_conv("src", &src_layout, src.len())?;
    check_rect("src", &src_layout.as_rect_layout(), from)?;
    check_rect("dst", &dst_layout.as_rect_layout(), to)?;
    if dst_layout.format == ConvFormat::Yuy2 {
        return Err(OracleError::BadSurface {
            surface: "dst",
            why: "pixman does not write yuy2",
        });
    }
    if from.w == 0 || from.h == 0 || to.w == 0 || to.h == 0 {
        return Ok(());
    }
    let (mx, tx) = axis(from.x, from.w, to.w, flip_h)?;
    let (my, ty) = axis(from.y, from.h, to.h, flip_v)?;
    // An X destination takes the source as opaque, so the stored top byte is 0xFF.
    let src_code = match (src_layout.format, dst_layout.format) {
        (ConvFormat::Argb8888, ConvFormat::Argb8888) => FormatCode::A8R8G8B8,
        (ConvFormat::Xrgb8888 | ConvFormat::Argb8888, _) => FormatCode::X8R8G8B8,
        (ConvFormat::R5g6b5, _) => FormatCode::R5G6B5,
        (ConvFormat::Yuy2, _) => FormatCode::YUY2,
    };
    let dst_code = match dst_layout.format {
        ConvFormat::R5g6b5 => FormatCode::R5G6B5,
        _ => FormatCode::A8R8G8B8,
    };
    let mut s = load_conv(src, &src_layout);
    let mut d = load_conv(dst, &dst_layout);
    {
        let mut s_img = conv_image(&mut s, &src_layout, src_code)?;
        let z = Fixed::from_raw(0);
        let one = Fixed::from_raw(1 << 16);
        let m = Transform::new([
            [Fixed::from_raw(mx), z, Fixed::from_raw(tx)],
            [z, Fixed::from_raw(my), Fixed::from_raw(ty)],
            [z, z, one],
        ]);
        s_img
            .set_transform(m)
            .map_err(|_| OracleError::Pixman("pixman_image_set_transform failed"))?;
        s_img
            .set_filter(Filter::Nearest, &[])
            .map_err(|_| OracleError::Pixman("pixman_image_set_filter failed"))?;
        s_img.set_repeat(Repeat::None);
        let mut d_img = conv_image(&mut d, &dst_layout, dst_code)?;
        d_img.composite32(
            Operation::Src,
            &s_img,
            None,
            (0, 0),
            (0, 0),
            (to.x as i32, to.y as i32),
            (to.w as i32, to.h as i32),
        );
    }
    store_conv(dst, &dst_layout, &d);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: Format = Format::Xrgb8888;
    const A: Format = Format::Argb8888;

    fn bytes(px: &[u32]) -> Vec<u8> {
        px.iter().flat_map(|p| p.to_le_bytes()).collect()
    }

    fn one(dst: u32, src: u32, src_format: Format, alpha: u8) -> u32 {
        let mut d = bytes(&[dst]);
        let s = bytes(&[src]);
        blend(
            &mut d,
            Layout::packed(1, 1, A),
            (0, 0),
            &s,
            Layout::packed(1, 1, src_format),
            Rect::new(0, 0, 1, 1),
            alpha,
        )
        .unwrap();
        u32::from_le_bytes([d[0], d[1], d[2], d[3]])
    }

    #[test]
    fn blend_by_hand() {
        // Opaque source replaces, whatever the global alpha 255 source's top byte (Xrgb).
        assert_eq!(one(0x4011_2233, 0xFFAA_BBCC, A, 255), 0xFFAA_BBCC);
        assert_eq!(one(0x4011_2233, 0x00AA_BBCC, X, 255), 0xFFAA_BBCC);
        // Nothing: zero source alpha or zero global alpha.
        assert_eq!(one(0x8011_2233, 0x00AA_BBCC, A, 255), 0x8011_2233);
        assert_eq!(one(0x8011_2233, 0xFFAA_BBCC, A, 0), 0x8011_2233);
        // Global 128 on opaque white over opaque black: a = 128, channels MUL(255,128) = 128,
        // alpha 128 + MUL(255, 127) = 255.
        assert_eq!(one(0xFF00_0000, 0xFFFF_FFFF, A, 128), 0xFF80_8080);
    }

    #[test]
    fn blend_rounds_twice_where_dmasync_rounds_once() {
        // a = 128 (src A 128, global 255). Red: src 1, dst 1:
        //   pixman MUL(1,128) + MUL(1,127) = round(0.502) + round(0.498) = 1 + 0 = 1;
        //   dmasync div255(128 + 127) = 1. Same.
        // Red src 3, dst 3 under a = 85 (src A 85):
        //   pixman round(255/255) + round(510/255) = 1 + 2 = 3; dmasync div255(765) = 3.
        // Red src 2, dst 1, a = 64: pixman round(128/255)=1 + round(191/255)=1 = 2;
        //   dmasync div255(128 + 191) = div255(319) = (319+127)/255 = 1. Differs by one.
        let px = one(0xFF01_0000, 0x4002_0000, A, 255);
        assert_eq!((px >> 16) & 0xff, 2);
        // Alpha exact: 64 + MUL(255, 191) = 255.
        assert_eq!(px >> 24, 255);
    }

    /// pixman's `MUL_UN8` (pixman-combine32.h): `t = x * y + 0x80; ((t >> 8) + t) >> 8`.
    fn mul_un8(x: u32, y: u32) -> u32 {
        let t = x * y + 0x80;
        ((t >> 8) + t) >> 8
    }

    #[test]
    fn pixman_blends_with_two_roundings_exactly_as_documented() {
        // Every effective alpha a (source alpha, global 255), every (src, dst) channel pair:
        // the colour is MUL_UN8(s, a) + MUL_UN8(d, 255 - a), the alpha a + MUL_UN8(dA, 255 - a),
        // which is what BLEND_COLOUR_BOUND's argument assumes.
        let l = Layout::packed(256, 256, A);
        for a in 0..=255u32 {
            let src: Vec<u32> = (0..256 * 256)
                .map(|i| a << 24 | (i % 256) << 16 | (i / 256) << 8)
                .collect();
            let dst: Vec<u32> = (0..256 * 256)
                .map(|i| (i % 256) << 24 | (i / 256) << 16 | (i % 256) << 8 | 0xFF)
                .collect();
            let mut d = bytes(&dst);
            blend(
                &mut d,
                l,
                (0, 0),
                &bytes(&src),
                l,
                Rect::new(0, 0, 256, 256),
                255,
            )
            .unwrap();
            for (i, got) in load(&d, &l).into_iter().enumerate() {
                let (x, y) = (i as u32 % 256, i as u32 / 256);
                let ia = 255 - a;
                // red: s = x, d = y; green: s = y, d = x; blue: s = 0, d = 255.
                let want = (a + mul_un8(x, ia)) << 24
                    | (mul_un8(x, a) + mul_un8(y, ia)) << 16
                    | (mul_un8(y, a) + mul_un8(x, ia)) << 8
                    | mul_un8(255, ia);
                assert_eq!(got, want, "a={a} x={x} y={y}");
            }
        }
    }

    #[test]
    fn xrgb_destination_colours_match_the_argb_view() {
        // The oracle hands destinations to pixman as a8r8g8b8; OVER's colour never reads the
        // destination's alpha, so pixman's own x8r8g8b8 destination gives the same colours.
        let src = [0x80C8_6432u32, 0x10FF_FFFF, 0xFE01_0203, 0x7F7F_7F7F];
        let dst = [0x00FF_0000u32, 0xAB12_3456, 0x0000_0000, 0xFFFF_FFFF];
        let l = Layout::packed(4, 1, A);
        let mut via_oracle = bytes(&dst);
        blend(
            &mut via_oracle,
            l,
            (0, 0),
            &bytes(&src),
            l,
            Rect::new(0, 0, 4, 1),
            200,
        )
        .unwrap();
        let got = load(&via_oracle, &l);

        // The same two composites, into pixman's own x8r8g8b8 destination.
        let mut d = dst.to_vec();
        let mut s = src.to_vec();
        let mut mask = Image::new(FormatCode::A8, 4, 1, true).unwrap();
        let global = Solid::new(Color::new(0, 0, 0, channel16(200))).unwrap();
        let s_img = image(&mut s, &l, FormatCode::A8R8G8B8).unwrap();
        mask.composite32(
            Operation::Src,
            &s_img,
            Some(&global),
            (0, 0),
            (0, 0),
            (0, 0),
            (4, 1),
        );
        drop(s_img);
        let colour = image(&mut s, &l, FormatCode::X8R8G8B8).unwrap();
        let mut d_img = image(&mut d, &l, FormatCode::X8R8G8B8).unwrap();
        d_img.composite32(
            Operation::Over,
            &colour,
            Some(&mask),
            (0, 0),
            (0, 0),
            (0, 0),
            (4, 1),
        );
        drop(d_img);
        for (g, x) in got.iter().zip(&d) {
            assert_eq!(g & 0xFF_FFFF, x & 0xFF_FFFF);
        }
    }

    #[test]
    fn fill_and_copy_leave_padding_and_the_rest_alone() {
        // 2x2 surface with stride 11 (unaligned, 3 bytes of padding per row).
        let l = Layout {
            width: 2,
            height: 2,
            stride: 11,
            format: X,
        };
        let mut buf = vec![0xEEu8; 11 + 8 + 5];
        fill(&mut buf, l, Rect::new(1, 0, 1, 2), 0x0102_0304).unwrap();
        let want_row = [0xEE, 0xEE, 0xEE, 0xEE, 4, 3, 2, 1];
        assert_eq!(&buf[0..8], &want_row);
        assert_eq!(&buf[8..11], &[0xEE; 3]);
        assert_eq!(&buf[11..19], &want_row);
        assert_eq!(&buf[19..], &[0xEE; 5]);

        let src = bytes(&[0xA1A2_A3A4, 0xB1B2_B3B4]);
        copy(
            &mut buf,
            l,
            (0, 1),
            &src,
            Layout::packed(2, 1, X),
            Rect::new(1, 0, 1, 1),
        )
        .unwrap();
        assert_eq!(&buf[11..19], &[0xB4, 0xB3, 0xB2, 0xB1, 4, 3, 2, 1]);
        assert_eq!(&buf[8..11], &[0xEE; 3]);
    }

    #[test]
    fn bad_input_is_refused_and_nothing_written() {
        let l = Layout::packed(2, 2, A);
        let mut buf = vec![7u8; 16];
        let bad = |why| {
            Err(OracleError::BadSurface {
                surface: "dst",
                why,
            })
        };
        assert_eq!(
            fill(&mut buf, l, Rect::new(1, 0, 2, 1), 0),
            Err(OracleError::OutOfBounds { surface: "dst" })
        );
        assert_eq!(
            fill(&mut buf, l, Rect::new(u32::MAX, 0, 2, 1), 0),
            Err(OracleError::OutOfBounds { surface: "dst" })
        );
        assert_eq!(
            fill(&mut buf[..15], l, Rect::new(0, 0, 1, 1), 0),
            Err(OracleError::ShortBuffer { surface: "dst" })
        );
        assert_eq!(
            fill(&mut buf, Layout::packed(0, 2, A), Rect::default(), 0),
            bad("zero width or height")
        );
        assert_eq!(
            fill(&mut buf, Layout { stride: 7, ..l }, Rect::default(), 0),
            bad("stride is smaller than a row")
        );
        assert_eq!(
            fill(
                &mut buf,
                Layout::packed(MAX_SIDE + 1, 1, A),
                Rect::default(),
                0
            ),
            bad("wider or taller than 16384 pixels")
        );
        let src = buf.clone();
        assert_eq!(
            copy(
                &mut buf,
                l,
                (0, 0),
                &src,
                Layout::packed(2, 2, X),
                Rect::new(0, 0, 1, 1)
            ),
            Err(OracleError::FormatMismatch)
        );
        assert_eq!(
            blend(&mut buf, l, (1, 1), &src, l, Rect::new(0, 0, 2, 1), 255),
            Err(OracleError::OutOfBounds { surface: "dst" })
        );
        assert_eq!(
            blend(
                &mut buf,
                l,
                (0, 0),
                &src[..8],
                l,
                Rect::new(0, 0, 1, 1),
                255
            ),
            Err(OracleError::ShortBuffer { surface: "src" })
        );
        assert!(buf.iter().all(|&b| b == 7));
    }

    fn conv1(
        src: &[u8],
        sl: ConvLayout,
        from: Rect,
        dl: ConvLayout,
        to: Rect,
        h: bool,
        v: bool,
    ) -> Vec<u8> {
        let mut d = vec![0u8; dl.stride * dl.height as usize];
        convert(&mut d, dl, to, src, sl, from, h, v).unwrap();
        d
    }

    #[test]
    fn convert_by_hand() {
        // r5g6b5 0xF81F (magenta) expands by replication; 0x0841 to 0x08 in each channel.
        let src = [0x1f, 0xf8, 0x41, 0x08];
        let sl = ConvLayout::packed(2, 1, ConvFormat::R5g6b5);
        let d = conv1(
            &src,
            sl,
            Rect::new(0, 0, 2, 1),
            ConvLayout::packed(2, 1, ConvFormat::Argb8888),
            Rect::new(0, 0, 2, 1),
            false,
            false,
        );
        assert_eq!(d, [0xff, 0x00, 0xff, 0xff, 0x08, 0x08, 0x08, 0xff]);
        // ... and 8888 truncates back: 0xFF_87_43_0F to r 0x10, g 0x10, b 0x01.
        let src = 0xFF87_430Fu32.to_le_bytes();
        let d = conv1(
            &src,
            ConvLayout::packed(1, 1, ConvFormat::Xrgb8888),
            Rect::new(0, 0, 1, 1),
            ConvLayout::packed(1, 1, ConvFormat::R5g6b5),
            Rect::new(0, 0, 1, 1),
            false,
            false,
        );
        assert_eq!(
            u16::from_le_bytes([d[0], d[1]]),
            (0x10 << 11) | (0x10 << 5) | 0x01
        );
        // 5 columns to 2: f = ceil(5 * 4096 / 2) = 10240, samples 0 and 2; mirrored 2 and 0.
        let row: Vec<u8> = (0..5u32)
            .flat_map(|i| (0xFF00_0000 | i).to_le_bytes())
            .collect();
        let sl = ConvLayout::packed(5, 1, ConvFormat::Argb8888);
        let dl = ConvLayout::packed(2, 1, ConvFormat::Argb8888);
        let d = conv1(
            &row,
            sl,
            Rect::new(0, 0, 5, 1),
            dl,
            Rect::new(0, 0, 2, 1),
            false,
            false,
        );
        assert_eq!((d[0], d[4]), (0, 2));
        let d = conv1(
            &row,
            sl,
            Rect::new(0, 0, 5, 1),
            dl,
            Rect::new(0, 0, 2, 1),
            true,
            false,
        );
        assert_eq!((d[0], d[4]), (2, 0));
        // A crop from column 1, 4 to 3: f = 5462, samples 1 + {0, 1, 2}.
        let dl = ConvLayout::packed(3, 1, ConvFormat::Argb8888);
        let d = conv1(
            &row,
            sl,
            Rect::new(1, 0, 4, 1),
            dl,
            Rect::new(0, 0, 3, 1),
            false,
            false,
        );
        assert_eq!((d[0], d[4], d[8]), (1, 2, 3));
        // An Argb source into Xrgb: the X byte is 0xFF.
        let src = 0x1122_3344u32.to_le_bytes();
        let d = conv1(
            &src,
            ConvLayout::packed(1, 1, ConvFormat::Argb8888),
            Rect::new(0, 0, 1, 1),
            ConvLayout::packed(1, 1, ConvFormat::Xrgb8888),
            Rect::new(0, 0, 1, 1),
            false,
            false,
        );
        assert_eq!(d, [0x44, 0x33, 0x22, 0xff]);
        // Black and white in yuy2 (Y 16 and 235, no chroma).
        let src = [16, 128, 235, 128];
        let d = conv1(
            &src,
            ConvLayout::packed(2, 1, ConvFormat::Yuy2),
            Rect::new(0, 0, 2, 1),
            ConvLayout::packed(2, 1, ConvFormat::Argb8888),
            Rect::new(0, 0, 2, 1),
            false,
            false,
        );
        assert_eq!(&d[..4], &[0, 0, 0, 0xff]);
        assert!(d[4..7].iter().all(|&c| c >= 255 - YUV_CHANNEL_BOUND) && d[7] == 0xff);
    }
}
