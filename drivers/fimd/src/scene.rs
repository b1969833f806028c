//! The frames the on-target FIMD tests put on screen, and what QEMU must show for them: the
//! guest draws them with [`primary_pixel`] and [`overlay_pixel`]; xtask computes
//! [`expected_pixel`] (QEMU's blend arithmetic, [`crate::blend`]) and compares each
//! screendump with it, pixel for pixel (board.toml `screendump = "compare-fimd-blend"`).
//!
//! The primary pattern differs in every neighbouring pixel, so a missing word swap (pixels
//! 2n and 2n+1 exchanged, hardware.md §2.1) or a wrong stride shows. The overlay's alpha
//! runs 0..=255 along each row and its colour changes down the rows, so every alpha value is
//! blended over several backgrounds.

use crate::blend::blend_pixel;

/// Frame 1: the primary window alone.
pub const PRIMARY_ONLY: u32 = 1;
/// Frame 2: the primary window with the overlay blended over it.
pub const WITH_OVERLAY: u32 = 2;

/// The primary window's pixel (XRGB8888, X = 0) at (`x`, `y`).
pub const fn primary_pixel(x: u32, y: u32) -> u32 {
    let r = (x * 7) & 0xFF;
    let g = (y * 5) & 0xFF;
    let b = (x + 3 * y) & 0xFF;
    (r << 16) | (g << 8) | b
}

/// The overlay's place on a `width` x `height` screen: (x, y, width, height), the width
/// even as FIMD needs, inside the screen.
///
/// Full height, on purpose: QEMU's `exynos4210_fimd_update` copies its internal frame to
/// the console for the line range of the *last* window drawn, counted from that window's
/// top (`first_line`/`last_line` are window-relative), so the screen lines below a shorter
/// overlay keep the previous update's pixels (seen with a 320x240 overlay at y=120: screen
/// lines 240-359 showed no overlay). A window from line 0 to the last line makes that range
/// the whole screen; the model's blend is then what the screendump shows.
pub const fn overlay_geometry(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let w = (width / 2) & !1;
    ((width / 4) & !1, 0, w, height)
}

/// The overlay's pixel (ARGB8888) at (`x`, `y`) inside the overlay, `width` pixels wide.
pub const fn overlay_pixel(x: u32, y: u32, width: u32) -> u32 {
    let a = if width > 1 {
        x * 255 / (width - 1)
    } else {
        255
    };
    let r = (y * 11) & 0xFF;
    let g = 0xFF - ((x * 3) & 0xFF);
    let b = (y * 29 + 64) & 0xFF;
    (a << 24) | (r << 16) | (g << 8) | b
}

/// What QEMU shows at (`x`, `y`) of frame `frame` on a `width` x `height` screen
/// (0x00RRGGBB), or `None` for a frame number the tests do not use.
pub fn expected_pixel(frame: u32, x: u32, y: u32, width: u32, height: u32) -> Option<u32> {
    let below = primary_pixel(x, y);
    match frame {
        PRIMARY_ONLY => Some(below),
        WITH_OVERLAY => {
            let (ox, oy, ow, oh) = overlay_geometry(width, height);
            let inside = x >= ox && x < ox + ow && y >= oy && y < oy + oh;
            Some(if inside {
                blend_pixel(overlay_pixel(x - ox, y - oy, ow), below)
            } else {
                below
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmasync_engine::PixelFormat;

    #[test]
    fn neighbouring_primary_pixels_differ_so_a_missing_word_swap_shows() {
        for y in 0..64 {
            for x in 0..255 {
                assert_ne!(primary_pixel(x, y), primary_pixel(x + 1, y), "({x},{y})");
            }
        }
    }

    #[test]
    fn the_overlay_lies_on_the_screen_and_covers_every_alpha() {
        for (w, h) in [(640, 480), (320, 240), (1024, 768)] {
            let (x, y, ow, oh) = overlay_geometry(w, h);
            assert!(ow % 2 == 0 && x + ow <= w && y + oh <= h && ow > 0 && oh > 0);
        }
        let (_, _, ow, _) = overlay_geometry(640, 480);
        assert_eq!(overlay_pixel(0, 0, ow) >> 24, 0);
        assert_eq!(overlay_pixel(ow - 1, 0, ow) >> 24, 255);
        let alphas: alloc::collections::BTreeSet<u32> =
            (0..ow).map(|x| overlay_pixel(x, 0, ow) >> 24).collect();
        assert_eq!(alphas.len(), 256, "an alpha value is never blended");
    }

    #[test]
    fn the_expected_blend_is_within_one_of_the_projects_reference_blend() {
        // The project's reference (dmasync-soft, the 2D engine's blend) rounds to nearest,
        // QEMU truncates: each channel of QEMU's frame is the reference's or one below.
        let (w, h) = (640, 480);
        let (ox, oy, ow, oh) = overlay_geometry(w, h);
        let mut below_reference = 0;
        for y in oy..oy + oh {
            for x in ox..ox + ow {
                let q = expected_pixel(WITH_OVERLAY, x, y, w, h).unwrap();
                let r = dmasync_soft::render::blend_pixel(
                    overlay_pixel(x - ox, y - oy, ow),
                    PixelFormat::Argb8888,
                    primary_pixel(x, y),
                    255,
                );
                for shift in [0, 8, 16] {
                    let (qc, rc) = ((q >> shift) & 0xFF, (r >> shift) & 0xFF);
                    assert!(
                        qc == rc || qc + 1 == rc,
                        "({x},{y}) qemu {q:06x} reference {r:06x}"
                    );
                    below_reference += u32::from(qc != rc);
                }
            }
        }
        assert!(below_reference > 0);
        assert_eq!(expected_pixel(3, 0, 0, w, h), None);
        assert_eq!(
            expected_pixel(WITH_OVERLAY, 0, 0, w, h),
            Some(primary_pixel(0, 0))
        );
    }
}
