//! The reference renderer: one command applied to surfaces held in byte slices, with exactly
//! the arithmetic `dmasync_engine::gfx2d` documents. It is the oracle the host computes
//! expected frames with, so it is written to be obviously right rather than fast: the whole
//! source rectangle is read before anything is written, pixel by pixel.
//!
//! The software engine uses the row kernels ([`fill_row`], [`copy_row`], [`blend_row`])
//! on the rows it moves through `DeviceMemory`; the surface functions here use the same
//! per-pixel arithmetic ([`blend_pixel`]).
//!
//! Every function checks its input and returns an [`EngineError`] naming what was wrong
//! instead of panicking; nothing is written on error.

use alloc::vec::Vec;

use dmasync_engine::gfx2d::{expand_565, reduce_565, sample_index, scale_factor, yuv_to_argb};
use dmasync_engine::surface::{PixelFormat, Point, Rect, SurfaceDesc};
use dmasync_engine::{Color, EngineError, Flip};

/// `v / 255` rounded to nearest, for `v` up to `255 * 255 + 255 * 255`: `(v + 127) / 255`.
pub const fn div255(v: u32) -> u32 {
    (v + 127) / 255
}

/// The source's alpha as the blend sees it: 255 for an `Xrgb8888` source (opaque).
/// Only the 32-bit formats are blended (the engines refuse the others).
pub const fn source_alpha(px: u32, format: PixelFormat) -> u32 {
    match format {
        PixelFormat::Argb8888 => px >> 24,
        PixelFormat::Xrgb8888 | PixelFormat::Rgb565 | PixelFormat::Yuyv => 255,
    }
}

/// Source-over with straight alpha, scaled by the global `alpha`:
/// `a = div255(src.A * alpha)`; each colour channel `div255(src.c * a + dst.c * (255 - a))`;
/// the alpha byte `a + div255(dst.A * (255 - a))`. Pixels are 0xAARRGGBB.
pub const fn blend_pixel(src: u32, src_format: PixelFormat, dst: u32, alpha: u8) -> u32 {
    let a = div255(source_alpha(src, src_format) * alpha as u32);
    let out_a = a + div255((dst >> 24) * (255 - a));
    (out_a << 24) | mix(src, dst, a, 16) | mix(src, dst, a, 8) | mix(src, dst, a, 0)
}

/// One colour channel (at bit `shift`) of a blend with effective alpha `a`.
const fn mix(src: u32, dst: u32, a: u32, shift: u32) -> u32 {
    let s = (src >> shift) & 0xff;
    let d = (dst >> shift) & 0xff;
    div255(s * a + d * (255 - a)) << shift
}

fn load(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Writes `color` to every pixel of a row (`row.len()` a multiple of 4).
pub fn fill_row(row: &mut [u8], color: Color) {
    let bytes = color.0.to_le_bytes();
    for px in row.chunks_exact_mut(4) {
        px.copy_from_slice(&bytes);
    }
}

/// Copies a row of pixels (`dst.len() == src.len()`).
pub fn copy_row(dst: &mut [u8], src: &[u8]) {
    dst.copy_from_slice(src);
}

/// Blends a row of `src` pixels (in `src_format`) over `dst`, in place
/// (`dst.len() == src.len()`, a multiple of 4).
pub fn blend_row(dst: &mut [u8], src: &[u8], src_format: PixelFormat, alpha: u8) {
    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        let out = blend_pixel(load(s), src_format, load(d), alpha);
        d.copy_from_slice(&out.to_le_bytes());
    }
}

/// Checks that `desc` is a valid surface lying inside a buffer of `len` bytes.
pub fn check_surface(
    buffer: &'static str,
    desc: &SurfaceDesc,
    len: usize,
) -> Result<(), EngineError> {
    desc.check()
        .map_err(|why| EngineError::BadSurface { buffer, why })?;
    let inside = desc
        .span_bytes()
        .and_then(|s| desc.offset.checked_add(s))
        .is_some_and(|end| end <= len);
    if inside {
        Ok(())
    } else {
        Err(EngineError::OutOfBounds {
            buffer,
            what: "surface",
        })
    }
}

fn check_rect(
    buffer: &'static str,
    desc: &SurfaceDesc,
    rect: Rect,
    what: &'static str,
) -> Result<(), EngineError> {
    if rect.fits_in(desc.width, desc.height) {
        Ok(())
    } else {
        Err(EngineError::OutOfBounds { buffer, what })
    }
}

/// The destination rectangle of a copy or blend: `from`'s size at `to`.
pub fn dest_rect(to: Point, from: Rect) -> Rect {
    Rect::new(to.x, to.y, from.w, from.h)
}

/// Fills `rect` of the surface `dst` (inside `buf`) with `color`.
pub fn fill(
    buf: &mut [u8],
    dst: &SurfaceDesc,
    rect: Rect,
    color: Color,
) -> Result<(), EngineError> {
    check_surface("dst", dst, buf.len())?;
    require_32bit(dst)?;
    check_rect("dst", dst, rect, "fill rect")?;
    let w = rect.w as usize * dst.format.bytes_per_pixel();
    for y in rect.y..rect.y + rect.h {
        let at = dst.pixel_offset(rect.x, y);
        fill_row(&mut buf[at..at + w], color);
    }
    Ok(())
}

/// The source pixels of `from`, read into a packed buffer (rows of `from.w` pixels).
fn read_rect(buf: &[u8], src: &SurfaceDesc, from: Rect) -> Vec<u8> {
    let w = from.w as usize * src.format.bytes_per_pixel();
    let mut out = Vec::with_capacity(w * from.h as usize);
    for y in from.y..from.y + from.h {
        let at = src.pixel_offset(from.x, y);
        out.extend_from_slice(&buf[at..at + w]);
    }
    out
}

#[derive(Clone, Copy)]
enum Two {
    Copy,
    Blend(u8),
}

#[allow(clippy::too_many_arguments)]
fn two(
    dst_buf: &mut [u8],
    dst: &SurfaceDesc,
    to: Point,
    src_pixels: &[u8],
    src_format: PixelFormat,
    from: Rect,
    kind: Two,
) {
    let w = from.w as usize * 4;
    for (row, y) in (to.y..to.y + from.h).enumerate() {
        let at = dst.pixel_offset(to.x, y);
        let d = &mut dst_buf[at..at + w];
        let s = &src_pixels[row * w..(row + 1) * w];
        match kind {
            Two::Copy => copy_row(d, s),
            Two::Blend(alpha) => blend_row(d, s, src_format, alpha),
        }
    }
}

fn check_two(
    dst_len: usize,
    dst: &SurfaceDesc,
    to: Point,
    src_len: usize,
    src: &SurfaceDesc,
    from: Rect,
    what: (&'static str, &'static str),
) -> Result<(), EngineError> {
    check_surface("dst", dst, dst_len)?;
    check_surface("src", src, src_len)?;
    require_32bit(dst)?;
    require_32bit(src)?;
    check_rect("src", src, from, what.0)?;
    check_rect("dst", dst, dest_rect(to, from), what.1)
}

/// Copies `from` of `src` (in `src_buf`) to `dst` (in `dst_buf`) at `to`. Both surfaces
/// must have the same pixel format.
pub fn copy(
    dst_buf: &mut [u8],
    dst: &SurfaceDesc,
    to: Point,
    src_buf: &[u8],
    src: &SurfaceDesc,
    from: Rect,
) -> Result<(), EngineError> {
    check_two(dst_buf.len(), dst, to, src_buf.len(), src, from, COPY_WHAT)?;
    same_format(dst, src)?;
    let pixels = read_rect(src_buf, src, from);
    two(dst_buf, dst, to, &pixels, src.format, from, Two::Copy);
    Ok(())
}

/// [`copy`] with source and destination in one buffer (they may overlap): the result is as
/// if the whole source were read before anything was written.
pub fn copy_within(
    buf: &mut [u8],
    dst: &SurfaceDesc,
    to: Point,
    src: &SurfaceDesc,
    from: Rect,
) -> Result<(), EngineError> {
    check_two(buf.len(), dst, to, buf.len(), src, from, COPY_WHAT)?;
    same_format(dst, src)?;
    let pixels = read_rect(buf, src, from);
    two(buf, dst, to, &pixels, src.format, from, Two::Copy);
    Ok(())
}

/// Blends `from` of `src` (in `src_buf`) over `dst` (in `dst_buf`) at `to`, scaled by
/// `alpha` ([`blend_pixel`]).
pub fn blend(
    dst_buf: &mut [u8],
    dst: &SurfaceDesc,
    to: Point,
    src_buf: &[u8],
    src: &SurfaceDesc,
    from: Rect,
    alpha: u8,
) -> Result<(), EngineError> {
    check_two(dst_buf.len(), dst, to, src_buf.len(), src, from, BLEND_WHAT)?;
    let pixels = read_rect(src_buf, src, from);
    two(
        dst_buf,
        dst,
        to,
        &pixels,
        src.format,
        from,
        Two::Blend(alpha),
    );
    Ok(())
}

/// [`blend`] with source and destination in one buffer (they may overlap): as if the whole
/// source were read first.
pub fn blend_within(
    buf: &mut [u8],
    dst: &SurfaceDesc,
    to: Point,
    src: &SurfaceDesc,
    from: Rect,
    alpha: u8,
) -> Result<(), EngineError> {
    check_two(buf.len(), dst, to, buf.len(), src, from, BLEND_WHAT)?;
    let pixels = read_rect(buf, src, from);
    two(buf, dst, to, &pixels, src.format, from, Two::Blend(alpha));
    Ok(())
}

const COPY_WHAT: (&str, &str) = ("blit source", "blit destination");
const BLEND_WHAT: (&str, &str) = ("blend source", "blend destination");

/// Fill, copy and blend are defined on the 32-bit formats only (gfx2d module docs); the
/// others go through [`convert`].
pub fn require_32bit(desc: &SurfaceDesc) -> Result<(), EngineError> {
    if desc.format.is_32bit() {
        Ok(())
    } else {
        Err(EngineError::Unsupported(
            "fill, copy and blend work on XRGB8888 and ARGB8888 only (use Convert)",
        ))
    }
}

/// A copy needs both surfaces in one pixel format (the engine converts nothing).
pub fn same_format(dst: &SurfaceDesc, src: &SurfaceDesc) -> Result<(), EngineError> {
    if dst.format == src.format {
        Ok(())
    } else {
        Err(EngineError::Unsupported(
            "copy between different pixel formats",
        ))
    }
}

/// The formats [`convert`] reads.
pub const CONVERT_SRC_FORMATS: &[PixelFormat] = &[
    PixelFormat::Xrgb8888,
    PixelFormat::Argb8888,
    PixelFormat::Rgb565,
    PixelFormat::Yuyv,
];

/// The formats [`convert`] writes (no RGB to YUV rule is defined).
pub const CONVERT_DST_FORMATS: &[PixelFormat] = &[
    PixelFormat::Xrgb8888,
    PixelFormat::Argb8888,
    PixelFormat::Rgb565,
];

/// The byte range `[start, end)` of row bytes a converter reads for source columns
/// `x .. x + w` of a `format` row: whole pixels, and whole Y0 U Y1 V pairs for `Yuyv`.
pub fn source_span(format: PixelFormat, x: u32, w: u32) -> (usize, usize) {
    match format {
        PixelFormat::Yuyv => {
            let first = x as usize / 2;
            let last = ((x + w) as usize).div_ceil(2);
            (first * 4, last * 4)
        }
        f => (
            x as usize * f.bytes_per_pixel(),
            (x + w) as usize * f.bytes_per_pixel(),
        ),
    }
}

/// Pixel `x` of a row of `format` pixels whose first byte is pixel (or pair) `x0`, as
/// 0xAARRGGBB (gfx2d module docs, step 4).
fn fetch(row: &[u8], format: PixelFormat, x0: u32, x: u32) -> u32 {
    match format {
        PixelFormat::Xrgb8888 => 0xff00_0000 | load(&row[(x - x0) as usize * 4..]),
        PixelFormat::Argb8888 => load(&row[(x - x0) as usize * 4..]),
        PixelFormat::Rgb565 => {
            let i = (x - x0) as usize * 2;
            expand_565(u16::from_le_bytes([row[i], row[i + 1]]))
        }
        PixelFormat::Yuyv => {
            // x0 is even (source_span starts at a pair).
            let pair = (x / 2 - x0 / 2) as usize * 4;
            let y = row[pair + 2 * (x % 2) as usize];
            yuv_to_argb(y, row[pair + 1], row[pair + 3])
        }
    }
}

/// Stores 0xAARRGGBB `px` as pixel `i` of a row of `format` (gfx2d module docs, step 4);
/// `format` is one of [`CONVERT_DST_FORMATS`].
fn store(row: &mut [u8], format: PixelFormat, i: usize, px: u32) {
    match format {
        PixelFormat::Argb8888 => row[i * 4..i * 4 + 4].copy_from_slice(&px.to_le_bytes()),
        PixelFormat::Xrgb8888 => {
            row[i * 4..i * 4 + 4].copy_from_slice(&(px | 0xff00_0000).to_le_bytes())
        }
        PixelFormat::Rgb565 => row[i * 2..i * 2 + 2].copy_from_slice(&reduce_565(px).to_le_bytes()),
        // Not in CONVERT_DST_FORMATS: validation refused it.
        PixelFormat::Yuyv => {}
    }
}

/// One output row of a Convert: `out` (`w_out` pixels of `dst_format`) from the source
/// row `src` (`src_format`, its first byte at column `x0` as [`source_span`] gives it),
/// sampling columns `from_x .. from_x + from_w` with factor `fx`, mirrored by `flip_h`.
#[allow(clippy::too_many_arguments)]
pub fn convert_row(
    out: &mut [u8],
    dst_format: PixelFormat,
    w_out: u32,
    src: &[u8],
    src_format: PixelFormat,
    x0: u32,
    from_x: u32,
    from_w: u32,
    fx: u64,
    flip_h: bool,
) {
    for i in 0..w_out {
        let k = if flip_h { w_out - 1 - i } else { i };
        let sx = from_x + sample_index(k, fx, from_w);
        store(out, dst_format, i as usize, fetch(src, src_format, x0, sx));
    }
}

/// Crops `from` of `src` (in `src_buf`), scales it to `to`'s size, mirrors it by `flip` and
/// converts it into `to` of `dst` (in `dst_buf`), as the gfx2d module docs define. Any
/// scale (up-scaling clamps at the crop's edge); sources in [`CONVERT_SRC_FORMATS`],
/// destinations in [`CONVERT_DST_FORMATS`].
pub fn convert(
    dst_buf: &mut [u8],
    dst: &SurfaceDesc,
    to: Rect,
    src_buf: &[u8],
    src: &SurfaceDesc,
    from: Rect,
    flip: Flip,
) -> Result<(), EngineError> {
    check_surface("dst", dst, dst_buf.len())?;
    check_surface("src", src, src_buf.len())?;
    check_rect("src", src, from, "convert source")?;
    check_rect("dst", dst, to, "convert destination")?;
    if !CONVERT_DST_FORMATS.contains(&dst.format) {
        return Err(EngineError::Unsupported(
            "convert destination pixel format not written by this engine",
        ));
    }
    if from.is_empty() || to.is_empty() {
        return Ok(());
    }
    let fx = scale_factor(from.w, to.w);
    let fy = scale_factor(from.h, to.h);
    let (s0, s1) = source_span(src.format, from.x, from.w);
    let x0 = if src.format == PixelFormat::Yuyv {
        from.x & !1
    } else {
        from.x
    };
    let out_len = to.w as usize * dst.format.bytes_per_pixel();
    for j in 0..to.h {
        let k = if flip.v { to.h - 1 - j } else { j };
        let sy = from.y + sample_index(k, fy, from.h);
        let row_at = src.offset + sy as usize * src.stride;
        let row = &src_buf[row_at + s0..row_at + s1];
        let at = dst.pixel_offset(to.x, to.y + j);
        convert_row(
            &mut dst_buf[at..at + out_len],
            dst.format,
            to.w,
            row,
            src.format,
            x0,
            from.x,
            from.w,
            fx,
            flip.h,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const X: PixelFormat = PixelFormat::Xrgb8888;
    const A: PixelFormat = PixelFormat::Argb8888;

    #[test]
    fn div255_rounds_to_nearest() {
        assert_eq!(div255(0), 0);
        assert_eq!(div255(127), 0); // 0.498
        assert_eq!(div255(128), 1); // 0.502
        assert_eq!(div255(255), 1);
        assert_eq!(div255(382), 1); // 1.498
        assert_eq!(div255(383), 2); // 1.502
        assert_eq!(div255(255 * 255), 255);
        for v in 0..=(255 * 255) {
            let exact = f64::from(v) / 255.0;
            assert!((f64::from(div255(v)) - exact).abs() <= 0.5, "v={v}");
        }
    }

    #[test]
    fn blend_alpha_zero_keeps_destination() {
        let dst = 0x8011_2233;
        assert_eq!(blend_pixel(0xFFAA_BBCC, A, dst, 0), dst);
        assert_eq!(blend_pixel(0x00AA_BBCC, A, dst, 255), dst);
        // Xrgb source with global alpha 0: still nothing.
        assert_eq!(blend_pixel(0x00AA_BBCC, X, dst, 0), dst);
    }

    #[test]
    fn blend_opaque_source_replaces_destination() {
        assert_eq!(blend_pixel(0xFFAA_BBCC, A, 0x4011_2233, 255), 0xFFAA_BBCC);
        // An Xrgb source counts as opaque whatever its top byte says; the result's alpha
        // byte is 255.
        assert_eq!(blend_pixel(0x00AA_BBCC, X, 0x4011_2233, 255), 0xFFAA_BBCC);
        assert_eq!(blend_pixel(0x12AA_BBCC, X, 0x0000_0000, 255), 0xFFAA_BBCC);
    }

    #[test]
    fn blend_half_alpha_by_hand() {
        // src A=128 over opaque black, global 255: a = div255(128*255) = 128, inv = 127.
        // red: div255(200*128 + 0) = div255(25600) = (25600+127)/255 = 100 (100.89 -> 101?)
        // (25727 / 255 = 100.89, integer division 100): rounding is (v+127)/255, so 100.
        let out = blend_pixel(0x80C8_0000, A, 0xFF00_0000, 255);
        assert_eq!((out >> 16) & 0xff, (200 * 128 + 127) / 255);
        assert_eq!((out >> 16) & 0xff, 100);
        // alpha: 128 + div255(255 * 127) = 128 + 127 = 255.
        assert_eq!(out >> 24, 255);
        assert_eq!(out & 0xffff, 0);
    }

    #[test]
    fn blend_global_alpha_scales_source_alpha() {
        // src A=255, global 128 -> a = div255(255*128) = 128; channels mix 128/127.
        let out = blend_pixel(0xFFFF_FFFF, A, 0xFF00_0000, 128);
        assert_eq!(out, 0xFF80_8080);
        // src A=128, global 128 -> a = div255(16384) = (16384+127)/255 = 64.
        let out = blend_pixel(0x80FF_0000, A, 0x0000_00FF, 128);
        // red: div255(255*64) = 64; blue: div255(255*191) = 191; alpha: 64 + div255(0) = 64.
        assert_eq!(out, 0x4040_00BF);
    }

    #[test]
    fn blend_rounding_edges() {
        // a = 1: div255(1*255) = 1. Channel: div255(255*1 + 0*254) = 1; alpha 1 + 0.
        assert_eq!(blend_pixel(0x01FF_FFFF, A, 0, 255), 0x0101_0101);
        // a = 254 over white: div255(0*254 + 255*1) = 1.
        assert_eq!(blend_pixel(0xFE00_0000, A, 0xFFFF_FFFF, 255), 0xFF01_0101);
    }

    fn px(buf: &[u8], d: &SurfaceDesc, x: u32, y: u32) -> u32 {
        load(&buf[d.pixel_offset(x, y)..])
    }

    #[test]
    fn fill_touches_only_the_rect_and_respects_stride() {
        let d = SurfaceDesc {
            offset: 8,
            width: 3,
            height: 3,
            stride: 16,
            format: X,
        };
        let mut buf = vec![0xEEu8; 8 + 16 * 3];
        fill(&mut buf, &d, Rect::new(1, 1, 2, 2), Color(0x0102_0304)).unwrap();
        for y in 0..3 {
            for x in 0..3 {
                let want = if x >= 1 && y >= 1 {
                    0x0102_0304
                } else {
                    0xEEEE_EEEE
                };
                assert_eq!(px(&buf, &d, x, y), want, "({x},{y})");
            }
        }
        // Padding between rows untouched.
        assert_eq!(&buf[8 + 12..8 + 16], &[0xEE; 4]);
        assert_eq!(&buf[..8], &[0xEE; 8]);
    }

    #[test]
    fn bad_input_is_refused_and_nothing_written() {
        let d = SurfaceDesc::packed(4, 4, X);
        let mut buf = vec![0u8; 64];
        assert_eq!(
            fill(&mut buf, &d, Rect::new(3, 0, 2, 1), Color(1)),
            Err(EngineError::OutOfBounds {
                buffer: "dst",
                what: "fill rect"
            })
        );
        assert_eq!(
            fill(&mut buf, &d, Rect::new(u32::MAX, 0, 2, 1), Color(1)),
            Err(EngineError::OutOfBounds {
                buffer: "dst",
                what: "fill rect"
            })
        );
        let short = vec![0u8; 60];
        assert_eq!(
            blend(
                &mut buf,
                &d,
                Point::new(0, 0),
                &short,
                &d,
                Rect::new(0, 0, 1, 1),
                255
            ),
            Err(EngineError::OutOfBounds {
                buffer: "src",
                what: "surface"
            })
        );
        let zero = SurfaceDesc::packed(0, 4, X);
        assert!(matches!(
            fill(&mut buf, &zero, Rect::new(0, 0, 0, 0), Color(1)),
            Err(EngineError::BadSurface { .. })
        ));
        let argb = SurfaceDesc::packed(4, 4, A);
        assert_eq!(
            copy(
                &mut buf.clone(),
                &d,
                Point::new(0, 0),
                &buf,
                &argb,
                Rect::new(0, 0, 1, 1)
            ),
            Err(EngineError::Unsupported(
                "copy between different pixel formats"
            ))
        );
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn copy_within_overlapping_reads_source_first() {
        // One row of 6 pixels 0..6; copy pixels 0..4 to x=2 -> 0 1 0 1 2 3.
        let d = SurfaceDesc::packed(6, 1, X);
        let mut buf: Vec<u8> = (0u32..6).flat_map(|v| v.to_le_bytes()).collect();
        copy_within(&mut buf, &d, Point::new(2, 0), &d, Rect::new(0, 0, 4, 1)).unwrap();
        let got: Vec<u32> = (0..6).map(|x| px(&buf, &d, x, 0)).collect();
        assert_eq!(got, [0, 1, 0, 1, 2, 3]);
        // Downwards in rows: rows 0..2 to row 1 of a 1-wide, 3-tall surface.
        let d = SurfaceDesc::packed(1, 3, X);
        let mut buf: Vec<u8> = (10u32..13).flat_map(|v| v.to_le_bytes()).collect();
        copy_within(&mut buf, &d, Point::new(0, 1), &d, Rect::new(0, 0, 1, 2)).unwrap();
        let got: Vec<u32> = (0..3).map(|y| px(&buf, &d, 0, y)).collect();
        assert_eq!(got, [10, 10, 11]);
    }

    #[test]
    fn blend_over_surface() {
        let d = SurfaceDesc::packed(2, 1, A);
        let mut dst = vec![0u8; 8];
        fill(&mut dst, &d, Rect::new(0, 0, 2, 1), Color(0xFF00_00FF)).unwrap();
        let mut src = vec![0u8; 8];
        fill(&mut src, &d, Rect::new(0, 0, 2, 1), Color(0x80FF_0000)).unwrap();
        blend(
            &mut dst,
            &d,
            Point::new(1, 0),
            &src,
            &d,
            Rect::new(0, 0, 1, 1),
            255,
        )
        .unwrap();
        assert_eq!(px(&dst, &d, 0, 0), 0xFF00_00FF);
        assert_eq!(
            px(&dst, &d, 1, 0),
            blend_pixel(0x80FF_0000, A, 0xFF00_00FF, 255)
        );
        assert_eq!(px(&dst, &d, 1, 0), 0xFF80_007F);
    }
}
