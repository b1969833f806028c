//! What frame N shows: a deterministic function of N and the mode size.
//!
//! Two producers make a frame:
//! - the **CPU** draws the overlay ([`draw_overlay`]): a translucent panel with the frame
//!   counter as blocky digits, and a 32x32 sprite, into a small ARGB buffer;
//! - the **2D engine** composites the frame ([`scene_ops`]): a background fill, three
//!   moving rectangles, the sprite copied from the overlay to a moving position, and the
//!   panel alpha-blended over the top-left corner.
//!
//! Every command is clipped to the frame here, so any mode size (even one smaller than
//! the overlay) gives a valid command list; a zero-sized mode gives no commands.

use alloc::vec::Vec;
use core::ops::Range;

use dmasync_engine::{Color, Point, Rect};

/// Overlay width in pixels.
pub const OVERLAY_W: u32 = 160;
/// Overlay height in pixels.
pub const OVERLAY_H: u32 = 32;
/// Bytes of the overlay (ARGB8888, tightly packed).
pub const OVERLAY_BYTES: usize = OVERLAY_W as usize * OVERLAY_H as usize * 4;
/// Bytes from one overlay row to the next.
pub const OVERLAY_STRIDE: usize = OVERLAY_W as usize * 4;

/// The panel (frame counter) inside the overlay.
pub const PANEL: Rect = Rect::new(0, 0, 104, 28);
/// The sprite inside the overlay.
pub const SPRITE: Rect = Rect::new(112, 0, 32, 32);
/// Where the panel is blended onto the frame.
pub const PANEL_AT: Point = Point::new(4, 4);
/// Global alpha of the panel blend.
pub const PANEL_ALPHA: u8 = 224;

/// Digits of the frame counter shown (the counter wraps at 10^DIGITS).
pub const DIGITS: usize = 6;
const CELL: u32 = 4; // pixels per font cell
const DIGIT_PITCH: u32 = 4 * CELL; // 3 cells of glyph + 1 of spacing
const DIGITS_AT: Point = Point::new(6, 4);

const PANEL_FILL: u32 = 0xA000_0000; // translucent black
const PANEL_BORDER: u32 = 0xFFFF_FFFF;
const DIGIT_COLOR: u32 = 0xFFFF_DC40;

/// 3x5 glyphs, one row per entry, bit 2 = left column.
const FONT: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111], // 0
    [0b010, 0b110, 0b010, 0b010, 0b111], // 1
    [0b111, 0b001, 0b111, 0b100, 0b111], // 2
    [0b111, 0b001, 0b111, 0b001, 0b111], // 3
    [0b101, 0b101, 0b111, 0b001, 0b001], // 4
    [0b111, 0b100, 0b111, 0b001, 0b111], // 5
    [0b111, 0b100, 0b111, 0b101, 0b111], // 6
    [0b111, 0b001, 0b010, 0b010, 0b010], // 7
    [0b111, 0b101, 0b111, 0b101, 0b111], // 8
    [0b111, 0b101, 0b111, 0b001, 0b111], // 9
];

/// One compositing command of the scene. The destination is always the frame (back
/// buffer); a blend's source is the overlay, a copy's the frame itself. Rectangles are
/// already clipped to their surfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SceneOp {
    /// Fill `rect` of the frame with `color`.
    Fill {
        /// Frame pixels.
        rect: Rect,
        /// 0xAARRGGBB.
        color: Color,
    },
    /// Copy frame pixels `from` to the frame at `to` (within the frame: a copy needs one
    /// pixel format on both sides, and the overlay is ARGB while the frame is XRGB).
    CopyInFrame {
        /// Frame pixels.
        from: Rect,
        /// Frame position of the top-left pixel.
        to: Point,
    },
    /// Blend overlay pixels `from` over the frame at `to` with global `alpha`.
    Blend {
        /// Overlay pixels.
        from: Rect,
        /// Frame position of the top-left pixel.
        to: Point,
        /// Global alpha.
        alpha: u8,
    },
}

impl SceneOp {
    /// The frame pixels the command writes.
    pub fn dst_rect(&self) -> Rect {
        match *self {
            SceneOp::Fill { rect, .. } => rect,
            SceneOp::CopyInFrame { from, to } | SceneOp::Blend { from, to, .. } => {
                Rect::new(to.x, to.y, from.w, from.h)
            }
        }
    }
}

/// A triangle wave over `0..=span`: position `t` of something bouncing between two walls.
fn bounce(t: u32, span: u32) -> u32 {
    if span == 0 {
        return 0;
    }
    let p = t % (2 * span);
    if p <= span { p } else { 2 * span - p }
}

/// `w` x `h` at (`x`, `y`) clipped to a `width` x `height` frame, if anything is left.
fn clip(x: u32, y: u32, w: u32, h: u32, width: u32, height: u32) -> Option<Rect> {
    if x >= width || y >= height {
        return None;
    }
    let r = Rect::new(x, y, w.min(width - x), h.min(height - y));
    (!r.is_empty()).then_some(r)
}

/// The background colour of frame `frame`.
pub fn background(frame: u32) -> Color {
    Color::argb(
        0xFF,
        0x10,
        0x18,
        0x30 + (frame.wrapping_mul(2) % 0x40) as u8,
    )
}

/// The compositing commands of frame `frame` on a `width` x `height` frame, in order.
pub fn scene_ops(frame: u32, width: u32, height: u32) -> Vec<SceneOp> {
    let mut ops = Vec::with_capacity(6);
    if width == 0 || height == 0 {
        return ops;
    }
    ops.push(SceneOp::Fill {
        rect: Rect::new(0, 0, width, height),
        color: background(frame),
    });

    // Three rectangles bouncing at different speeds.
    let (rw, rh) = ((width / 6).max(1), (height / 5).max(1));
    let rects: [(u32, u32, u32, u32, Color); 3] = [
        (3, 2, 0, 0, Color::argb(0xFF, 0xE0, 0x40, 0x40)),
        (
            5,
            3,
            width / 2,
            height / 3,
            Color::argb(0xFF, 0x40, 0xC0, 0x60),
        ),
        (
            2,
            5,
            width / 3,
            height / 2,
            Color::argb(0xFF, 0xF0, 0xA0, 0x20),
        ),
    ];
    let t = frame;
    for (vx, vy, ox, oy, color) in rects {
        let x = bounce(
            t.wrapping_mul(vx).wrapping_add(ox),
            width.saturating_sub(rw),
        );
        let y = bounce(
            t.wrapping_mul(vy).wrapping_add(oy),
            height.saturating_sub(rh),
        );
        if let Some(rect) = clip(x, y, rw, rh, width, height) {
            ops.push(SceneOp::Fill { rect, color });
        }
    }

    // The sprite: drawn (an opaque blend) from the overlay at a moving position, then
    // copied within the frame to the mirrored position.
    let sx = bounce(t.wrapping_mul(7), width.saturating_sub(SPRITE.w));
    let sy = bounce(
        t.wrapping_mul(4).wrapping_add(height / 4),
        height.saturating_sub(SPRITE.h),
    );
    if let Some(r) = clip(sx, sy, SPRITE.w, SPRITE.h, width, height) {
        ops.push(SceneOp::Blend {
            from: Rect::new(SPRITE.x, SPRITE.y, r.w, r.h),
            to: Point::new(r.x, r.y),
            alpha: 0xFF,
        });
        let (mx, my) = (width - r.x - r.w, height - r.y - r.h);
        ops.push(SceneOp::CopyInFrame {
            from: r,
            to: Point::new(mx, my),
        });
    }

    // The panel with the frame counter, blended over the corner.
    if let Some(r) = clip(PANEL_AT.x, PANEL_AT.y, PANEL.w, PANEL.h, width, height) {
        ops.push(SceneOp::Blend {
            from: Rect::new(PANEL.x, PANEL.y, r.w, r.h),
            to: Point::new(r.x, r.y),
            alpha: PANEL_ALPHA,
        });
    }
    ops
}

fn put(bytes: &mut [u8], x: u32, y: u32, argb: u32) {
    let o = y as usize * OVERLAY_STRIDE + x as usize * 4;
    bytes[o..o + 4].copy_from_slice(&argb.to_le_bytes());
}

fn fill(bytes: &mut [u8], r: Rect, argb: u32) {
    for y in r.y..r.y + r.h {
        for x in r.x..r.x + r.w {
            put(bytes, x, y, argb);
        }
    }
}

/// Draws frame `frame`'s overlay: `OVERLAY_W` x `OVERLAY_H` ARGB8888 pixels, tightly
/// packed (bytes B, G, R, A). This is the CPU's part of the frame.
///
/// Returns `Err` naming the problem if `bytes` is shorter than [`OVERLAY_BYTES`].
pub fn draw_overlay(bytes: &mut [u8], frame: u32) -> Result<(), &'static str> {
    if bytes.len() < OVERLAY_BYTES {
        return Err("overlay buffer is smaller than OVERLAY_BYTES");
    }
    let bytes = &mut bytes[..OVERLAY_BYTES];
    bytes.fill(0); // fully transparent

    // The panel: translucent fill, opaque 1-pixel border.
    fill(bytes, PANEL, PANEL_FILL);
    let (x0, y0, x1, y1) = (
        PANEL.x,
        PANEL.y,
        PANEL.x + PANEL.w - 1,
        PANEL.y + PANEL.h - 1,
    );
    for x in x0..=x1 {
        put(bytes, x, y0, PANEL_BORDER);
        put(bytes, x, y1, PANEL_BORDER);
    }
    for y in y0..=y1 {
        put(bytes, x0, y, PANEL_BORDER);
        put(bytes, x1, y, PANEL_BORDER);
    }

    // The frame counter, most significant digit first.
    let mut value = frame % 10u32.pow(DIGITS as u32);
    let mut digits = [0u8; DIGITS];
    for d in digits.iter_mut().rev() {
        *d = (value % 10) as u8;
        value /= 10;
    }
    for (i, &d) in digits.iter().enumerate() {
        let gx = DIGITS_AT.x + i as u32 * DIGIT_PITCH;
        for (row, bits) in FONT[d as usize].iter().enumerate() {
            for col in 0..3u32 {
                if bits & (0b100 >> col) != 0 {
                    let cell =
                        Rect::new(gx + col * CELL, DIGITS_AT.y + row as u32 * CELL, CELL, CELL);
                    fill(bytes, cell, DIGIT_COLOR);
                }
            }
        }
    }

    // The sprite: an 8-pixel checkerboard whose colour changes with the frame.
    let tint = Color::argb(0xFF, (frame.wrapping_mul(8) % 256) as u8, 0x40, 0xC8).0;
    for y in 0..SPRITE.h {
        for x in 0..SPRITE.w {
            let c = if ((x / 8) + (y / 8)) % 2 == 0 {
                tint
            } else {
                0xFFFF_FFFF
            };
            put(bytes, SPRITE.x + x, SPRITE.y + y, c);
        }
    }
    Ok(())
}

/// The frame rows the CPU reads back for its checksum: four rows through the middle
/// (fewer when the frame is shorter).
pub fn checksum_rows(height: u32) -> Range<u32> {
    let start = (height / 2).saturating_sub(2);
    start..(start + 4).min(height)
}

/// FNV-1a (32 bit) of `bytes`: the checksum the CPU computes over the read-back rows.
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_lies_inside_frame_and_overlay_for_many_sizes() {
        for (w, h) in [
            (1, 1),
            (7, 3),
            (16, 16),
            (100, 20),
            (160, 120),
            (640, 480),
            (1024, 768),
        ] {
            for frame in [0, 1, 2, 59, 60, 1000, u32::MAX] {
                for op in scene_ops(frame, w, h) {
                    assert!(op.dst_rect().fits_in(w, h), "{op:?} in {w}x{h}");
                    assert!(!op.dst_rect().is_empty(), "{op:?}");
                    match op {
                        SceneOp::Blend { from, .. } => {
                            assert!(from.fits_in(OVERLAY_W, OVERLAY_H), "{op:?}")
                        }
                        SceneOp::CopyInFrame { from, .. } => {
                            assert!(from.fits_in(w, h), "{op:?}")
                        }
                        SceneOp::Fill { .. } => {}
                    }
                }
            }
        }
        assert!(scene_ops(3, 0, 480).is_empty());
        assert!(scene_ops(3, 640, 0).is_empty());
    }

    #[test]
    fn scene_moves_from_frame_to_frame() {
        assert_ne!(scene_ops(1, 640, 480), scene_ops(2, 640, 480));
        assert_eq!(scene_ops(7, 640, 480), scene_ops(7, 640, 480));
    }

    #[test]
    fn overlay_shows_the_frame_counter() {
        let mut a = alloc::vec![0u8; OVERLAY_BYTES];
        let mut b = alloc::vec![0u8; OVERLAY_BYTES];
        draw_overlay(&mut a, 12).unwrap();
        draw_overlay(&mut b, 13).unwrap();
        // Only the last digit's cells (and the sprite tint) differ.
        let last_digit_x = DIGITS_AT.x + (DIGITS as u32 - 1) * DIGIT_PITCH;
        for y in 0..OVERLAY_H {
            for x in 0..OVERLAY_W {
                let o = y as usize * OVERLAY_STRIDE + x as usize * 4;
                let in_last_digit = (last_digit_x..last_digit_x + 3 * CELL).contains(&x);
                let in_sprite = (SPRITE.x..SPRITE.x + SPRITE.w).contains(&x) && y < SPRITE.h;
                if !in_last_digit && !in_sprite {
                    assert_eq!(a[o..o + 4], b[o..o + 4], "pixel ({x}, {y})");
                }
            }
        }
        assert_ne!(a, b);
        // Digit "2" has its top-right cell lit; the panel corner is the opaque border.
        let px = |buf: &[u8], x: u32, y: u32| {
            let o = y as usize * OVERLAY_STRIDE + x as usize * 4;
            u32::from_le_bytes(buf[o..o + 4].try_into().unwrap())
        };
        assert_eq!(px(&a, last_digit_x + 2 * CELL, DIGITS_AT.y), DIGIT_COLOR);
        assert_eq!(px(&a, 0, 0), PANEL_BORDER);
        assert_eq!(px(&a, 1, 1), PANEL_FILL);
        assert_eq!(px(&a, OVERLAY_W - 1, OVERLAY_H - 1), 0);
        assert_eq!(
            draw_overlay(&mut a[..10], 1),
            Err("overlay buffer is smaller than OVERLAY_BYTES")
        );
    }

    #[test]
    fn checksum_rows_stay_inside_the_frame() {
        assert_eq!(checksum_rows(480), 238..242);
        assert_eq!(checksum_rows(3), 0..3);
        assert_eq!(checksum_rows(0), 0..0);
        assert_eq!(checksum(b""), 0x811C_9DC5);
        assert_eq!(checksum(b"a"), 0xE40C_292C);
    }
}
