//! The oracle: frame N's exact pixels, computed on the CPU with the software engine's own
//! renderer (`dmasync_soft::render`, the code the engine runs on qemu-virt) and the same
//! overlay drawing code the demo's CPU stage runs. `demo/tests/pixman_oracle.rs` checks these
//! frames against the same scenes rendered by pixman (`dmasync-pixman-oracle`): equal except
//! the translucent panel, within 1 per colour channel (doc/testing.md, "The pixel oracle").

use alloc::vec;
use alloc::vec::Vec;

use dmasync_engine::{EngineError, PixelFormat, SurfaceDesc};
use dmasync_soft::render;

use crate::scene::{self, OVERLAY_BYTES, OVERLAY_H, OVERLAY_W, SceneOp};

/// Frame `frame` of a `width` x `height` mode as XRGB8888 bytes (B, G, R, X per pixel, rows
/// tightly packed: stride `width * 4`), exactly as the demo's pipeline leaves it in the
/// frame buffer the display scans out. A zero-sized mode gives an empty vector.
///
/// Should the renderer ever refuse a command of the scene (a bug: the scene clips every
/// command to its surfaces, and [`try_reference_frame`] is tested over many sizes), the
/// result is empty, so a comparison with a screen reports a size mismatch rather than a
/// plausible but wrong frame.
pub fn reference_frame(frame: u32, width: u32, height: u32) -> Vec<u8> {
    try_reference_frame(frame, width, height).unwrap_or_default()
}

/// [`reference_frame`], with the renderer's error if it refused a command.
pub fn try_reference_frame(frame: u32, width: u32, height: u32) -> Result<Vec<u8>, EngineError> {
    let mut pixels = vec![0u8; width as usize * height as usize * 4];
    if pixels.is_empty() {
        return Ok(pixels);
    }
    let mut overlay = vec![0u8; OVERLAY_BYTES];
    scene::draw_overlay(&mut overlay, frame).map_err(EngineError::Unsupported)?;
    let fb = SurfaceDesc::packed(width, height, PixelFormat::Xrgb8888);
    let ov = SurfaceDesc::packed(OVERLAY_W, OVERLAY_H, PixelFormat::Argb8888);
    for op in scene::scene_ops(frame, width, height) {
        match op {
            SceneOp::Fill { rect, color } => render::fill(&mut pixels, &fb, rect, color)?,
            SceneOp::Blend { from, to, alpha } => {
                render::blend(&mut pixels, &fb, to, &overlay, &ov, from, alpha)?
            }
            SceneOp::CopyInFrame { from, to } => {
                render::copy_within(&mut pixels, &fb, to, &fb, from)?
            }
        }
    }
    Ok(pixels)
}

/// Rows `rows` of [`reference_frame`] (clamped to the frame).
pub fn reference_rows(frame: u32, width: u32, height: u32, rows: core::ops::Range<u32>) -> Vec<u8> {
    let all = reference_frame(frame, width, height);
    let row = width as usize * 4;
    let start = (rows.start.min(height) as usize) * row;
    let end = (rows.end.min(height) as usize) * row;
    all.get(start..end.max(start))
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// The checksum the CPU must read back from frame `frame` ([`scene::checksum`] over
/// [`scene::checksum_rows`]).
pub fn reference_checksum(frame: u32, width: u32, height: u32) -> u32 {
    scene::checksum(&reference_rows(
        frame,
        width,
        height,
        scene::checksum_rows(height),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{PANEL_AT, background};

    fn px(f: &[u8], w: u32, x: u32, y: u32) -> u32 {
        let o = (y * w + x) as usize * 4;
        u32::from_le_bytes(f[o..o + 4].try_into().unwrap())
    }

    #[test]
    fn frame_has_the_mode_size_and_shows_the_scene() {
        let (w, h) = (320, 240);
        let f = reference_frame(5, w, h);
        assert_eq!(f.len(), (w * h * 4) as usize);
        // The bottom-right corner is background (rectangles are elsewhere at frame 5).
        assert_eq!(
            px(&f, w, w - 1, h - 1) & 0x00FF_FFFF,
            background(5).0 & 0x00FF_FFFF
        );
        // The panel's border is blended white over the background: brighter than it.
        let corner = px(&f, w, PANEL_AT.x, PANEL_AT.y);
        assert!(corner & 0xFF > background(5).0 & 0xFF, "{corner:#x}");
        assert_ne!(reference_frame(6, w, h), f);
        assert_eq!(reference_frame(5, w, h), f);
        assert!(reference_frame(5, 0, 10).is_empty());
    }

    #[test]
    fn the_renderer_accepts_every_command_for_many_sizes() {
        for (w, h) in [(1, 1), (7, 3), (16, 16), (100, 20), (160, 120), (641, 479)] {
            for frame in [0, 1, 59, 60, 1000, u32::MAX] {
                let f = try_reference_frame(frame, w, h).unwrap();
                assert_eq!(f.len(), (w * h * 4) as usize);
            }
        }
    }

    #[test]
    fn checksum_matches_rows_of_the_frame() {
        let (w, h) = (64, 48);
        let f = reference_frame(9, w, h);
        let rows = scene::checksum_rows(h);
        let band = &f[(rows.start * w * 4) as usize..(rows.end * w * 4) as usize];
        assert_eq!(reference_checksum(9, w, h), scene::checksum(band));
        assert_eq!(reference_rows(9, w, h, 40..100).len(), (8 * w * 4) as usize);
    }
}
