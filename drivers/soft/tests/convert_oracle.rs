//! The scaled/converted blit (`Op2d::Convert`) of the reference renderer and the software
//! engine against the independent pixel oracle (pixman, `dmasync_pixman_oracle::convert`):
//! RGB sources bit for bit (crop, nearest down- and up-scaling, flips, XRGB8888 / ARGB8888 /
//! RGB565 both ways); YUYV sources with every alpha byte and every byte outside the
//! destination rectangle exact and each colour channel within `YUV_CHANNEL_BOUND` —
//! doc/testing.md, "The pixel oracle".
#![forbid(unsafe_code)]

mod common;

use common::*;
use dmasync_engine::gfx2d::yuv_to_argb;
use dmasync_engine::{
    Engine2d, Engine2dControl, EngineError, Flip, Op2d, PixelFormat, Rect, Surface, SurfaceDesc,
};
use dmasync_pixman_oracle::{self as oracle, ConvFormat, ConvLayout, YUV_CHANNEL_BOUND};
use dmasync_soft::{Soft2dConfig, Step, render};
use dmasync_sync::syncset::{Access, SyncConfig};
use proptest::prelude::*;

fn conv_format(f: PixelFormat) -> ConvFormat {
    match f {
        PixelFormat::Xrgb8888 => ConvFormat::Xrgb8888,
        PixelFormat::Argb8888 => ConvFormat::Argb8888,
        PixelFormat::Rgb565 => ConvFormat::R5g6b5,
        PixelFormat::Yuyv => ConvFormat::Yuy2,
    }
}

fn layout(d: &SurfaceDesc) -> ConvLayout {
    ConvLayout {
        width: d.width,
        height: d.height,
        stride: d.stride,
        format: conv_format(d.format),
    }
}

fn orect(r: Rect) -> oracle::Rect {
    oracle::Rect::new(r.x, r.y, r.w, r.h)
}

/// Every (Y, U, V): dmasync's formula (the ISI's coefficients) against pixman's yuy2 fetch,
/// channel by channel. The largest difference is exactly the documented bound.
#[test]
fn yuv_bound_is_exact_over_every_triple() {
    // Rows of 256 pixels: 128 pairs (Y 2k, 2k + 1) sharing one (U, V); one row per (U, V),
    // sixteen V values per image.
    let w = 256u32;
    let mut worst = 0u8;
    for v0 in (0..256u32).step_by(16) {
        let h = 256 * 16;
        let sl = ConvLayout::packed(w, h, ConvFormat::Yuy2);
        let dl = ConvLayout::packed(w, h, ConvFormat::Argb8888);
        let mut src = vec![0u8; sl.stride * h as usize];
        for row in 0..h {
            let (u, v) = ((row % 256) as u8, (v0 + row / 256) as u8);
            for k in 0..128usize {
                let at = row as usize * sl.stride + k * 4;
                src[at..at + 4].copy_from_slice(&[2 * k as u8, u, 2 * k as u8 + 1, v]);
            }
        }
        let mut dst = vec![0u8; dl.stride * h as usize];
        let all = oracle::Rect::new(0, 0, w, h);
        oracle::convert(&mut dst, dl, all, &src, sl, all, false, false).unwrap();
        for row in 0..h {
            let (u, v) = ((row % 256) as u8, (v0 + row / 256) as u8);
            for x in 0..w {
                let at = (row * w + x) as usize * 4;
                let want = yuv_to_argb(x as u8, u, v).to_le_bytes();
                assert_eq!(dst[at + 3], 0xff, "alpha of Y {x} U {u} V {v}");
                for c in 0..3 {
                    worst = worst.max(dst[at + c].abs_diff(want[c]));
                }
            }
        }
    }
    assert_eq!(
        worst, YUV_CHANNEL_BOUND,
        "the documented bound is the measured one"
    );
}

/// A surface description for the property test: `format`, `w` x `h` (w even for YUYV),
/// `pad` bytes after each row, at `offset`.
fn desc(format: PixelFormat, w: u32, h: u32, pad: usize, offset: usize) -> SurfaceDesc {
    let w = if format == PixelFormat::Yuyv {
        w * 2
    } else {
        w
    };
    SurfaceDesc {
        offset,
        width: w,
        height: h,
        stride: w as usize * format.bytes_per_pixel() + pad,
        format,
    }
}

fn src_format() -> impl Strategy<Value = PixelFormat> {
    prop_oneof![
        Just(PixelFormat::Xrgb8888),
        Just(PixelFormat::Argb8888),
        Just(PixelFormat::Rgb565),
        Just(PixelFormat::Yuyv),
    ]
}

fn dst_format() -> impl Strategy<Value = PixelFormat> {
    prop_oneof![
        Just(PixelFormat::Xrgb8888),
        Just(PixelFormat::Argb8888),
        Just(PixelFormat::Rgb565),
    ]
}

/// A rectangle inside `w` x `h` from four fractions.
fn rect_in(w: u32, h: u32, f: (u32, u32, u32, u32)) -> Rect {
    let x = f.0 % w;
    let y = f.1 % h;
    Rect::new(x, y, 1 + f.2 % (w - x), 1 + f.3 % (h - y))
}

/// Compares dmasync's `got` with pixman's `want` over the whole destination buffer: exact
/// everywhere except the colour channels of a YUYV conversion inside `to`, which may differ
/// by the bound. Returns the largest difference seen.
fn compare(got: &[u8], want: &[u8], d: &SurfaceDesc, to: Rect, yuv: bool) -> Result<u8, String> {
    let bpp = d.format.bytes_per_pixel();
    let mut worst = 0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g == w {
            continue;
        }
        let rel = i.checked_sub(d.offset);
        let inside = rel.is_some_and(|r| {
            let (y, xb) = (r / d.stride, r % d.stride);
            let x = xb / bpp;
            (to.y as usize..(to.y + to.h) as usize).contains(&y)
                && (to.x as usize..(to.x + to.w) as usize).contains(&x)
        });
        let colour = match d.format {
            // 565 bytes mix channels: compare the decoded channels instead.
            PixelFormat::Rgb565 => true,
            _ => rel.is_some_and(|r| (r % d.stride) % 4 != 3),
        };
        if !(yuv && inside && colour) {
            return Err(format!("byte {i}: got {g:#04x}, pixman {w:#04x}"));
        }
        let diff = if d.format == PixelFormat::Rgb565 {
            // Decode both pixels and compare channels at 565 precision.
            let r = rel.unwrap();
            let at = d.offset + r - (r % d.stride) % 2;
            let p = |b: &[u8]| u16::from_le_bytes([b[at], b[at + 1]]);
            let (a, b) = (p(got), p(want));
            let ch = |v: u16, s: u32, m: u16| (v >> s) & m;
            [(11, 0x1f), (5, 0x3f), (0, 0x1f)]
                .iter()
                .map(|&(s, m)| ch(a, s, m).abs_diff(ch(b, s, m)) as u8)
                .max()
                .unwrap()
        } else {
            g.abs_diff(*w)
        };
        if diff > YUV_CHANNEL_BOUND {
            return Err(format!(
                "byte {i}: got {g:#04x}, pixman {w:#04x} (over the bound)"
            ));
        }
        worst = worst.max(diff);
    }
    Ok(worst)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// `render::convert` equals pixman for random crops, scales (down and up), flips and
    /// format pairs on padded surfaces at random offsets.
    #[test]
    fn render_convert_equals_pixman(
        sf in src_format(),
        df in dst_format(),
        sw in 1u32..24, sh in 1u32..20, spad in 0usize..9, soff in 0usize..13,
        dw in 1u32..40, dh in 1u32..30, dpad in 0usize..9, doff in 0usize..13,
        fr in (0u32..64, 0u32..64, 0u32..64, 0u32..64),
        tr in (0u32..64, 0u32..64, 0u32..64, 0u32..64),
        flip_h: bool, flip_v: bool,
        seed: u32,
    ) {
        let sd = desc(sf, sw, sh, spad, soff);
        let dd = desc(df, dw, dh, dpad, doff);
        let from = rect_in(sd.width, sd.height, fr);
        let to = rect_in(dd.width, dd.height, tr);
        let src = pattern(soff + sd.span_bytes().unwrap() + 3, seed);
        let before = pattern(doff + dd.span_bytes().unwrap() + 5, seed ^ 0x5a5a);
        let mut got = before.clone();
        let flip = Flip { h: flip_h, v: flip_v };
        render::convert(&mut got, &dd, to, &src, &sd, from, flip).unwrap();
        let mut want = before.clone();
        oracle::convert(
            &mut want[doff..], layout(&dd), orect(to), &src[soff..], layout(&sd), orect(from),
            flip_h, flip_v,
        ).unwrap();
        let yuv = sf == PixelFormat::Yuyv;
        if let Err(e) = compare(&got, &want, &dd, to, yuv) {
            prop_assert!(false, "{sf:?} {from:?} to {df:?} {to:?} {flip:?}: {e}");
        }
    }
}

/// The software engine's Convert, through sync sets on the non-coherent simulator, gives
/// the same bytes as pixman: an RGB565 crop down-scaled and mirrored into XRGB8888, then a
/// YUYV frame down-scaled into RGB565 (within the bound), zero violations.
#[test]
fn engine_convert_equals_pixman() {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(&sim, Soft2dConfig::default());
    let s565 = SurfaceDesc {
        offset: 8,
        ..desc(PixelFormat::Rgb565, 30, 20, 4, 0)
    };
    let yuyv = desc(PixelFormat::Yuyv, 12, 16, 0, 0);
    let out = SurfaceDesc {
        offset: 4,
        ..desc(PixelFormat::Xrgb8888, 24, 18, 8, 0)
    };
    let out565 = desc(PixelFormat::Rgb565, 20, 12, 2, 0);
    let sizes = [
        8 + s565.span_bytes().unwrap(),
        yuyv.span_bytes().unwrap(),
        4 + out.span_bytes().unwrap(),
        out565.span_bytes().unwrap(),
    ];
    let init: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut v = pattern(n, 40 + i as u32);
            v.resize(n.next_multiple_of(64), 0xA5);
            v
        })
        .collect();
    let names = ["s565", "yuyv", "out", "out565"];
    let bufs: Vec<Buffer> = init
        .iter()
        .zip(names)
        .map(|(bytes, name)| {
            let b = buffer(&d, &sim, name, bytes.len());
            cpu_write(&d, &b, bytes);
            b
        })
        .collect();
    let a = Rect::new(3, 2, 25, 17);
    let a_to = Rect::new(1, 1, 20, 15);
    let b = Rect::new(1, 3, 10, 12);
    let b_to = Rect::new(2, 1, 9, 11);
    let ops = [
        Op2d::Convert {
            dst: Surface::new(&bufs[2], out),
            to: a_to,
            src: Surface::new(&bufs[0], s565),
            from: a,
            flip: Flip { h: true, v: false },
        },
        Op2d::Convert {
            dst: Surface::new(&bufs[3], out565),
            to: b_to,
            src: Surface::new(&bufs[1], yuyv),
            from: b,
            flip: Flip { h: false, v: true },
        },
    ];
    let mut set = d.set();
    set.add(&bufs[0], Access::dma_read(G2D)).unwrap();
    set.add(&bufs[1], Access::dma_read(G2D)).unwrap();
    set.add(&bufs[2], Access::dma_write(G2D)).unwrap();
    set.add(&bufs[3], Access::dma_write(G2D)).unwrap();
    let fence = engine
        .submit(set.lock().unwrap(), &ops, None)
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(engine.run_one(), Step::Completed(Ok(())));
    assert_eq!(fence.wait(), Ok(()));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let got_out = cpu_read(&d, &bufs[2]);
    let got_565 = cpu_read(&d, &bufs[3]);

    let mut want = init[2].clone();
    oracle::convert(
        &mut want[4..],
        layout(&out),
        orect(a_to),
        &init[0][8..],
        layout(&s565),
        orect(a),
        true,
        false,
    )
    .unwrap();
    assert_eq!(compare(&got_out, &want, &out, a_to, false), Ok(0));
    let mut want = init[3].clone();
    oracle::convert(
        &mut want,
        layout(&out565),
        orect(b_to),
        &init[1],
        layout(&yuyv),
        orect(b),
        false,
        true,
    )
    .unwrap();
    assert!(compare(&got_565, &want, &out565, b_to, true).is_ok());
    // And the engine wrote what the reference renderer computes.
    let mut reference = init[3].clone();
    render::convert(
        &mut reference,
        &out565,
        b_to,
        &init[1],
        &yuyv,
        b,
        Flip { h: false, v: true },
    )
    .unwrap();
    assert_eq!(got_565, reference);
}

/// Refusals: fill, copy and blend on a non-32-bit surface, Convert within one buffer, into
/// YUYV, and outside the surfaces — each a clear `Err`, nothing queued.
#[test]
fn engine_refuses_what_convert_does_not_define() {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(&sim, Soft2dConfig::default());
    let a = buffer(&d, &sim, "a", 4096);
    let b = buffer(&d, &sim, "b", 4096);
    let s565 = desc(PixelFormat::Rgb565, 16, 16, 0, 0);
    let yuyv = desc(PixelFormat::Yuyv, 8, 16, 0, 0);
    let x = desc(PixelFormat::Xrgb8888, 16, 16, 0, 0);
    let all = Rect::new(0, 0, 16, 16);
    let cases: Vec<(Op2d<'_>, EngineError)> = vec![
        (
            Op2d::Fill {
                dst: Surface::new(&a, s565),
                rect: all,
                color: dmasync_engine::Color(0),
            },
            EngineError::Unsupported(
                "fill, copy and blend work on XRGB8888 and ARGB8888 only (use Convert)",
            ),
        ),
        (
            Op2d::Convert {
                dst: Surface::new(&a, x),
                to: all,
                src: Surface::new(&a, s565),
                from: all,
                flip: Flip::NONE,
            },
            EngineError::Unsupported("convert with source and destination in one buffer"),
        ),
        (
            Op2d::Convert {
                dst: Surface::new(&a, yuyv),
                to: all,
                src: Surface::new(&b, s565),
                from: all,
                flip: Flip::NONE,
            },
            EngineError::Unsupported("convert destination pixel format not written by this engine"),
        ),
        (
            Op2d::Convert {
                dst: Surface::new(&a, x),
                to: Rect::new(1, 0, 16, 16),
                src: Surface::new(&b, s565),
                from: all,
                flip: Flip::NONE,
            },
            EngineError::OutOfBounds {
                buffer: "a",
                what: "convert destination",
            },
        ),
    ];
    for (op, want) in cases {
        let mut set = d.set();
        set.add(&a, Access::dma_read_write(G2D)).unwrap();
        set.add(&b, Access::dma_read_write(G2D)).unwrap();
        let r = engine.submit(set.lock().unwrap(), &[op], None);
        assert_eq!(r.map(|_| ()).map_err(|r| r.error), Err(want));
        assert_eq!(engine.pending(), 0);
    }
}
