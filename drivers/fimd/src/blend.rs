//! The blend QEMU's FIMD model computes for the overlay window as this driver programs it,
//! written out so an on-target test can compare QEMU's screendump (an oracle this project
//! did not write) with it, and the project's own reference blend with both.
//!
//! From hw/display/exynos4210_fimd.c: window 1 with BPPMODE 13, BLD_PIX and ALPHA_SEL decodes
//! each pixel as 8888 (`pixel_8888_to_rgb`, the alpha byte copied to all three channel
//! alphas); with BLENDCON.ALPHA_8BIT and no ALPHA_MUL the blend alpha is that byte
//! (`fimd_get_alpha_pix`); BLENDEQ 0xC2 makes the coefficients A = alpha, B = 1 - alpha
//! (`exynos4210_fimd_blend_pixel`), and `fimd_mult_and_sum_each_byte` computes each channel
//! as `(bg * (255 - a) + fg * a) / 255`, truncating (the sum never exceeds 255 * 255, so its
//! clamp never applies). Window 0 is drawn unblended; windows are drawn in order.

/// One channel as QEMU blends it: `(bg * (255 - a) + fg * a) / 255`, rounded down.
pub const fn blend_channel(fg: u8, bg: u8, alpha: u8) -> u8 {
    let a = alpha as u32;
    ((bg as u32 * (255 - a) + fg as u32 * a) / 255) as u8
}

/// An ARGB8888 overlay pixel over an XRGB8888 pixel, as QEMU shows it (0x00RRGGBB).
pub const fn blend_pixel(overlay: u32, below: u32) -> u32 {
    let a = (overlay >> 24) as u8;
    let mut out = 0;
    let mut shift = 0;
    while shift < 24 {
        let c = blend_channel((overlay >> shift) as u8, (below >> shift) as u8, a);
        out |= (c as u32) << shift;
        shift += 8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmasync_engine::PixelFormat;

    #[test]
    fn opaque_and_transparent_overlays_and_a_worked_example() {
        assert_eq!(blend_pixel(0xFF12_3456, 0x00AB_CDEF), 0x0012_3456);
        assert_eq!(blend_pixel(0x0012_3456, 0x00AB_CDEF), 0x00AB_CDEF);
        // a = 0x80: red (255 * 128 + 0 * 127) / 255 = 128; blue (0 * 128 + 255 * 127) / 255 = 127.
        assert_eq!(blend_pixel(0x80FF_0000, 0x0000_00FF), 0x0080_007F);
    }

    #[test]
    fn qemus_blend_is_within_one_of_the_projects_reference_blend() {
        // dmasync-soft rounds to nearest ((v + 127) / 255); QEMU truncates. Every channel,
        // background and alpha: never more than 1 apart, and never above the reference.
        let mut differ = 0u32;
        for a in 0..=255u32 {
            for fg in (0..=255u32).step_by(3) {
                for bg in (0..=255u32).step_by(5) {
                    let q = blend_pixel((a << 24) | (fg << 16), bg << 16) >> 16;
                    let r = dmasync_soft::render::blend_pixel(
                        (a << 24) | (fg << 16),
                        PixelFormat::Argb8888,
                        bg << 16,
                        255,
                    ) >> 16
                        & 0xFF;
                    assert!(
                        r == q || r == q + 1,
                        "a={a} fg={fg} bg={bg}: qemu {q}, reference {r}"
                    );
                    differ += u32::from(r != q);
                }
            }
        }
        assert!(
            differ > 0,
            "the two roundings never differed: the test proves nothing"
        );
    }
}
