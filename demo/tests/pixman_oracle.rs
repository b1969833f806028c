//! The demo's reference frames (`dmasync_demo::reference`, what the host pipeline test and
//! xtask's on-target screenshot checks compare with) against the same scenes rendered by the
//! independent pixel oracle (pixman): every fill, copy and opaque blend bit for bit, the
//! translucent panel within `BLEND_COLOUR_BOUND` per colour channel — so the screenshot
//! checks rest on code this project did not write (doc/testing.md, "The pixel oracle").
#![forbid(unsafe_code)]

use dmasync_demo::reference_frame;
use dmasync_demo::scene::{self, OVERLAY_BYTES, OVERLAY_H, OVERLAY_W, SceneOp};
use dmasync_engine::Rect;
use dmasync_pixman_oracle::{self as oracle, BLEND_COLOUR_BOUND, Format, Layout};

fn orect(r: Rect) -> oracle::Rect {
    oracle::Rect::new(r.x, r.y, r.w, r.h)
}

/// Frame `frame` of the scene, every command run by pixman; and the frame pixels written by a
/// blend whose effective alpha is neither 0 nor 255 somewhere (the only ones allowed to
/// differ).
fn pixman_frame(frame: u32, width: u32, height: u32) -> (Vec<u8>, Vec<bool>) {
    let fb = Layout::packed(width, height, Format::Xrgb8888);
    let ov = Layout::packed(OVERLAY_W, OVERLAY_H, Format::Argb8888);
    let mut overlay = vec![0u8; OVERLAY_BYTES];
    scene::draw_overlay(&mut overlay, frame).unwrap();
    let mut pixels = vec![0u8; width as usize * height as usize * 4];
    let mut translucent = vec![false; width as usize * height as usize];
    for op in scene::scene_ops(frame, width, height) {
        match op {
            SceneOp::Fill { rect, color } => {
                oracle::fill(&mut pixels, fb, orect(rect), color.0).unwrap();
            }
            SceneOp::CopyInFrame { from, to } => {
                let snapshot = pixels.clone();
                oracle::copy(&mut pixels, fb, (to.x, to.y), &snapshot, fb, orect(from)).unwrap();
                // A copied pixel carries its tolerance with it.
                let flags = translucent.clone();
                for dy in 0..from.h {
                    for dx in 0..from.w {
                        let src = ((from.y + dy) * width + from.x + dx) as usize;
                        translucent[((to.y + dy) * width + to.x + dx) as usize] = flags[src];
                    }
                }
            }
            SceneOp::Blend { from, to, alpha } => {
                oracle::blend(
                    &mut pixels,
                    fb,
                    (to.x, to.y),
                    &overlay,
                    ov,
                    orect(from),
                    alpha,
                )
                .unwrap();
                for dy in 0..from.h {
                    for dx in 0..from.w {
                        let o = ((from.y + dy) * OVERLAY_W + from.x + dx) as usize * 4;
                        let sa = overlay[o + 3];
                        let exact = sa == 0 || alpha == 0 || (sa == 255 && alpha == 255);
                        translucent[((to.y + dy) * width + to.x + dx) as usize] |= !exact;
                    }
                }
            }
        }
    }
    (pixels, translucent)
}

#[test]
fn reference_frames_equal_pixman_within_the_bound() {
    let mut compared = 0usize;
    let mut differing = 0usize;
    for (w, h) in [(160, 120), (320, 240), (7, 3), (1, 1), (641, 479)] {
        for frame in [0, 1, 5, 59, 60, 1000, 123_456] {
            let ours = reference_frame(frame, w, h);
            let (theirs, translucent) = pixman_frame(frame, w, h);
            assert_eq!(ours.len(), theirs.len(), "frame {frame} at {w}x{h}");
            for (i, (o, t)) in ours.chunks_exact(4).zip(theirs.chunks_exact(4)).enumerate() {
                let (x, y) = (i as u32 % w, i as u32 / w);
                let at =
                    format!("frame {frame} at {w}x{h}, pixel ({x},{y}): {o:?} vs pixman {t:?}");
                // The top byte (X) and every pixel no translucent blend wrote: exact.
                assert_eq!(o[3], t[3], "{at}");
                if !translucent[i] {
                    assert_eq!(o, t, "{at}");
                    continue;
                }
                for c in 0..3 {
                    assert!(o[c].abs_diff(t[c]) <= BLEND_COLOUR_BOUND, "{at}");
                    differing += usize::from(o[c] != t[c]);
                }
            }
            compared += ours.len() / 4;
        }
    }
    assert!(compared > 0);
    // The panel is blended at alpha 224: some of its channels do round differently, which is
    // what the bound is for (were none to differ, the tolerance would hide nothing).
    assert!(differing > 0);
}

#[test]
fn the_panel_is_the_only_translucent_part_of_the_frame() {
    // Outside the panel every pixel of the reference is pixman's exactly: background fill,
    // rectangles, the opaque sprite blend and its mirrored copy.
    let (w, h) = (320, 240);
    for frame in [3, 77] {
        let (_, translucent) = pixman_frame(frame, w, h);
        let panel = Rect::new(
            scene::PANEL_AT.x,
            scene::PANEL_AT.y,
            scene::PANEL.w,
            scene::PANEL.h,
        );
        for (i, t) in translucent.iter().enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let in_panel =
                x >= panel.x && x < panel.x + panel.w && y >= panel.y && y < panel.y + panel.h;
            assert!(!t || in_panel, "({x},{y}) translucent outside the panel");
        }
        assert!(translucent.iter().any(|&t| t));
    }
}
