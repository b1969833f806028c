//! The reference renderer screenshots are compared against, the oracle for
//! `screendump = "compare-reference"`: the host build of the demo's own frame renderer
//! (`dmasync_demo::try_reference_frame`: the software 2D engine's render functions and the
//! demo's overlay drawing, the same code the guest runs).

use crate::screendump::{Check, Reference};

/// Frame `frame` at `width` x `height` as XRGB8888 bytes, or why the renderer refused it.
fn demo_frame(frame: u32, width: u32, height: u32) -> Result<Vec<u8>, String> {
    dmasync_demo::reference::try_reference_frame(frame, width, height).map_err(|e| {
        format!("dmasync_demo::reference_frame refused frame {frame} at {width}x{height}: {e:?}")
    })
}

/// Frame `frame` of the FIMD tests' scene at `width` x `height` as QEMU's FIMD model shows
/// it: the primary pattern, and for frame 2 the overlay blended over it with the model's
/// arithmetic (`dmasync_fimd::blend`: each channel `(bg * (255 - a) + fg * a) / 255`,
/// truncated, from hw/display/exynos4210_fimd.c).
fn fimd_frame(frame: u32, width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(width as usize * height as usize * 4);
    for y in 0..height {
        for x in 0..width {
            let p = dmasync_fimd::scene::expected_pixel(frame, x, y, width, height)
                .ok_or_else(|| format!("the FIMD scene has no frame {frame}"))?;
            out.extend_from_slice(&p.to_le_bytes());
        }
    }
    Ok(out)
}

/// The renderer a check needs (`None` for `Save`).
pub fn renderer(check: Check) -> Option<&'static Reference> {
    match check {
        Check::Save => None,
        Check::CompareReference => Some(&demo_frame),
        Check::CompareFimdBlend => Some(&fimd_frame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_reference_is_xrgb8888_of_the_requested_size() {
        let render = renderer(Check::CompareReference).expect("compare-reference has one");
        let frame = render(3, 64, 48).unwrap();
        assert_eq!(frame.len(), 64 * 48 * 4);
        // Deterministic: the same frame twice is the same bytes.
        assert_eq!(render(3, 64, 48).unwrap(), frame);
        assert!(renderer(Check::Save).is_none());
    }

    #[test]
    fn the_fimd_reference_is_the_scene_as_qemu_blends_it() {
        let render = renderer(Check::CompareFimdBlend).expect("compare-fimd-blend has one");
        let frame = render(2, 64, 48).unwrap();
        assert_eq!(frame.len(), 64 * 48 * 4);
        let px = |x: usize, y: usize| {
            let i = (y * 64 + x) * 4;
            u32::from_le_bytes(frame[i..i + 4].try_into().unwrap())
        };
        // Outside the overlay (16..48 x 12..36) the primary pattern, inside the blend.
        assert_eq!(px(0, 0), dmasync_fimd::scene::primary_pixel(0, 0));
        let (ox, oy, ow, _) = dmasync_fimd::scene::overlay_geometry(64, 48);
        let (x, y) = (ox as usize + 20, oy as usize + 3);
        let over = dmasync_fimd::scene::overlay_pixel(20, 3, ow);
        assert_eq!(
            px(x, y),
            dmasync_fimd::blend::blend_pixel(
                over,
                dmasync_fimd::scene::primary_pixel(x as u32, y as u32)
            )
        );
        assert!(render(3, 64, 48).unwrap_err().contains("no frame 3"));
    }
}
