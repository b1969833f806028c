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

/// The renderer a check needs (`None` for `Save`).
pub fn renderer(check: Check) -> Option<&'static Reference> {
    match check {
        Check::Save => None,
        Check::CompareReference => Some(&demo_frame),
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
}
