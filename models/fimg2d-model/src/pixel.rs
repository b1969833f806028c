//! The model's pixel pipeline, written from libdrm's `fimg2d.h` description of the blend
//! function (`g2d_blend_func_val`, `e_g2d_coeff_mode`, `e_g2d_acoeff_mode`) and the
//! rounding modes (`e_g2d_blend_round_mode`, `e_g2d_premult_round_mode`); nothing of the
//! driver's or of `dmasync_soft::render`.

use crate::regs::MODE_XRGB8888;

/// One pixel as the engine's pipeline carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argb {
    /// Alpha (0xFF for an X mode).
    pub a: u8,
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

impl Argb {
    /// A 32-bit AXRGB-order pixel in colour mode `mode` (X modes read as opaque).
    pub fn from_word(w: u32, mode: u32) -> Self {
        let [b, g, r, a] = w.to_le_bytes();
        let a = if mode == MODE_XRGB8888 { 0xFF } else { a };
        Self { a, r, g, b }
    }

    /// The pixel stored in colour mode `mode` (the X byte written as 0xFF).
    pub fn to_word(self, mode: u32) -> u32 {
        let a = if mode == MODE_XRGB8888 { 0xFF } else { self.a };
        u32::from_le_bytes([self.b, self.g, self.r, a])
    }
}

/// PREMULT_ROUND_3, the initial value: libdrm writes "TMP = A*8 + 0x80, OUT = (TMP +
/// (TMP >> 8)) >> 8"; with BLEND_ROUND_3's "A*B + 0x80" beside it, the 8 reads as a typo
/// for B (a constant factor of 8 would overflow the 8-bit result). The product of two
/// 8-bit values divided by 255, rounded to nearest.
pub fn premult_round3(a: u8, b: u8) -> u8 {
    let t = a as u32 * b as u32 + 0x80;
    ((t + (t >> 8)) >> 8) as u8
}

/// BLEND_ROUND_3, the initial value: TMP = A*B + C*D + 0x80, OUT = (TMP + (TMP >> 8)) >> 8.
pub fn blend_round3(a: u8, b: u8, c: u8, d: u8) -> u8 {
    let t = a as u32 * b as u32 + c as u32 * d as u32 + 0x80;
    ((t + (t >> 8)) >> 8).min(255) as u8
}

/// A coefficient as BLEND_FUNCTION selects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coeff {
    One,
    Zero,
    /// The source alpha, optionally multiplied by the global alpha (ACOEFF AMGA).
    SrcAlpha {
        times_global: bool,
    },
    /// The global alpha from ALPHA[7:0].
    Global,
}

/// A decoded BLEND_FUNCTION with the global alpha: out = src * Fs + dst * Fd per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlendFunction {
    src: Coeff,
    src_inv: bool,
    dst: Coeff,
    dst_inv: bool,
    global: u8,
}

impl BlendFunction {
    /// Decodes BLEND_FUNCTION ([3:0] src coeff, [5:4] its source-alpha mode, [7:6] its
    /// destination-alpha mode, [11:8] dst coeff, [13:12] / [15:14] likewise, bit 16
    /// invert src, bit 18 invert dst, [23:20] lighten/darken/WinCE) and ALPHA[7:0].
    pub fn decode(v: u32, alpha: u32) -> Result<Self, &'static str> {
        if v & 0xFFF2_0000 != 0 {
            return Err("BLEND_FUNCTION lighten, darken or WinCE modes");
        }
        let coeff = |mode: u32, src_a: u32, dst_a: u32| -> Result<Coeff, &'static str> {
            if dst_a != 0 {
                return Err("BLEND_FUNCTION destination-alpha coefficient modes");
            }
            match (mode, src_a) {
                (0, _) => Ok(Coeff::One),
                (1, _) => Ok(Coeff::Zero),
                (2, 0) => Ok(Coeff::SrcAlpha {
                    times_global: false,
                }),
                (2, 2) => Ok(Coeff::SrcAlpha { times_global: true }),
                (6, _) => Ok(Coeff::Global),
                _ => Err(
                    "BLEND_FUNCTION coefficient beyond ONE, ZERO, SRC_ALPHA (A, AMGA), GB_ALPHA",
                ),
            }
        };
        Ok(Self {
            src: coeff(v & 0xF, (v >> 4) & 3, (v >> 6) & 3)?,
            src_inv: v & 1 << 16 != 0,
            dst: coeff((v >> 8) & 0xF, (v >> 12) & 3, (v >> 14) & 3)?,
            dst_inv: v & 1 << 18 != 0,
            global: alpha as u8,
        })
    }

    fn factor(&self, c: Coeff, inv: bool, src: Argb) -> u8 {
        let f = match c {
            Coeff::One => 255,
            Coeff::Zero => 0,
            Coeff::SrcAlpha {
                times_global: false,
            } => src.a,
            Coeff::SrcAlpha { times_global: true } => premult_round3(src.a, self.global),
            Coeff::Global => self.global,
        };
        if inv { 255 - f } else { f }
    }
}

/// What the engine does per pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// ROP3 0xCC: the source.
    Source,
    /// The blend function.
    Blend(BlendFunction),
}

impl Op {
    /// The result for source `s` over destination `d`.
    pub fn apply(&self, s: Argb, d: Argb) -> Argb {
        match self {
            Op::Source => s,
            Op::Blend(f) => {
                let fs = f.factor(f.src, f.src_inv, s);
                let fd = f.factor(f.dst, f.dst_inv, s);
                Argb {
                    a: blend_round3(s.a, fs, d.a, fd),
                    r: blend_round3(s.r, fs, d.r, fd),
                    g: blend_round3(s.g, fs, d.g, fd),
                    b: blend_round3(s.b, fs, d.b, fd),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rounding_modes_divide_by_255_to_nearest() {
        for a in 0..=255u32 {
            for b in 0..=255u32 {
                let exact = (a * b) as f64 / 255.0;
                let got = premult_round3(a as u8, b as u8) as f64;
                assert!((got - exact).abs() <= 0.5, "{a}*{b}: {got} vs {exact}");
            }
        }
    }

    #[test]
    fn blend_round3_rounds_the_sum_once() {
        // Source-over's sums s*a + d*(255 - a): BLEND_ROUND_3 is gfx2d's one rounding,
        // div255 of the sum (doc/testing.md, "The pixel oracle", for how pixman differs).
        for a in 0..=255u32 {
            for s in 0..=255u32 {
                for d in 0..=255u32 {
                    let want = (s * a + d * (255 - a) + 127) / 255;
                    let got = blend_round3(s as u8, a as u8, d as u8, 255 - a as u8);
                    assert_eq!(got as u32, want, "s {s} a {a} d {d}");
                }
            }
        }
    }

    #[test]
    fn blend_function_decodes_libdrm_over() {
        // libdrm's G2D_OP_OVER: src ONE, dst SRC_ALPHA inverted.
        let f = BlendFunction::decode(0x2 << 8 | 1 << 18, 0).unwrap();
        let s = Argb {
            a: 0x80,
            r: 0x40,
            g: 0,
            b: 0xFF,
        };
        let d = Argb {
            a: 0xFF,
            r: 0xFF,
            g: 0xFF,
            b: 0,
        };
        let o = Op::Blend(f).apply(s, d);
        // 0x40 + 255 * 127 / 255 = 0x40 + 127.
        assert_eq!(o.r, 0x40 + 127);
        assert_eq!(o.b, 0xFF);
        assert!(
            BlendFunction::decode(0x3, 0).is_err(),
            "SRC_COLOR is out of scope"
        );
    }
}
