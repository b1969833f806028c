//! The reference renderer and the software engine against the independent pixel oracle
//! (`dmasync_pixman_oracle`, pixman): fill and copy bit for bit; blend with every alpha byte
//! and every pixel whose effective alpha is 0 or 255 bit for bit, every other colour channel
//! within `BLEND_COLOUR_BOUND` (1) — doc/testing.md, "The pixel oracle".
#![forbid(unsafe_code)]

mod common;

use common::*;
use dmasync_engine::{
    Color, Engine2d, EngineError, Op2d, PixelFormat, Point, Rect, Surface, SurfaceDesc,
};
use dmasync_pixman_oracle::{self as oracle, BLEND_COLOUR_BOUND, Format, Layout, OracleError};
use dmasync_soft::{Soft2dConfig, Step, render};
use dmasync_sync::syncset::{Access, SyncConfig};
use proptest::prelude::*;

const X: PixelFormat = PixelFormat::Xrgb8888;
const A: PixelFormat = PixelFormat::Argb8888;

fn format(f: PixelFormat) -> Format {
    match f {
        PixelFormat::Xrgb8888 => Format::Xrgb8888,
        PixelFormat::Argb8888 => Format::Argb8888,
        other => panic!("{other:?} is not a fill/copy/blend format"),
    }
}

fn layout(d: &SurfaceDesc) -> Layout {
    Layout {
        width: d.width,
        height: d.height,
        stride: d.stride,
        format: format(d.format),
    }
}

fn orect(r: Rect) -> oracle::Rect {
    oracle::Rect::new(r.x, r.y, r.w, r.h)
}

fn px(buf: &[u8], d: &SurfaceDesc, x: u32, y: u32) -> u32 {
    let o = d.pixel_offset(x, y);
    u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]])
}

/// The effective alpha is 0 or 255 for sure (`a = div255(src.A * alpha)`): where one
/// rounding and two agree exactly.
fn exact_alpha(src_px: u32, f: PixelFormat, alpha: u8) -> bool {
    let sa = match f {
        PixelFormat::Xrgb8888 => 255,
        PixelFormat::Argb8888 => src_px >> 24,
        other => panic!("{other:?} is not a blend format"),
    };
    sa == 0 || alpha == 0 || (sa == 255 && alpha == 255)
}

/// Compares `got` (dmasync) with `want` (pixman) for a blend into `dst`: every byte outside
/// the surface's pixels and every pixel outside `blended` exactly; inside, the alpha byte
/// exactly and each colour channel within the bound, exactly where `exact(x, y)`. Returns
/// how many colour channels differed.
fn compare_blend(
    got: &[u8],
    want: &[u8],
    dst: &SurfaceDesc,
    blended: Rect,
    exact: impl Fn(u32, u32) -> bool,
) -> Result<usize, String> {
    assert_eq!(got.len(), want.len());
    let mut in_surface = vec![false; got.len()];
    for y in 0..dst.height {
        for x in 0..dst.width {
            let o = dst.pixel_offset(x, y);
            in_surface[o..o + 4].fill(true);
        }
    }
    for (i, inside) in in_surface.iter().enumerate() {
        if !inside && got[i] != want[i] {
            return Err(format!(
                "byte {i} outside the surface: {} vs {}",
                got[i], want[i]
            ));
        }
    }
    let mut differing = 0;
    for y in 0..dst.height {
        for x in 0..dst.width {
            let (g, w) = (px(got, dst, x, y), px(want, dst, x, y));
            let inside = x >= blended.x
                && x < blended.x + blended.w
                && y >= blended.y
                && y < blended.y + blended.h;
            if !inside || exact(x, y) {
                if g != w {
                    return Err(format!("({x},{y}): {g:#010x}, pixman {w:#010x} (exact)"));
                }
                continue;
            }
            if g >> 24 != w >> 24 {
                return Err(format!("({x},{y}): alpha of {g:#010x}, pixman {w:#010x}"));
            }
            for shift in [0, 8, 16] {
                let (a, b) = ((g >> shift) & 0xff, (w >> shift) & 0xff);
                if a.abs_diff(b) > u32::from(BLEND_COLOUR_BOUND) {
                    return Err(format!(
                        "({x},{y}): {g:#010x}, pixman {w:#010x}: over the bound"
                    ));
                }
                differing += usize::from(a != b);
            }
        }
    }
    Ok(differing)
}

#[test]
fn every_channel_pair_and_alpha_stays_within_the_bound() {
    // For every source alpha sA (global 255, so a = sA), a 256x256 surface: red carries
    // every (src, dst) pair, green the pair swapped, blue and the destination alpha vary.
    let d = SurfaceDesc::packed(256, 256, A);
    let mut src = vec![0u8; 256 * 256 * 4];
    let mut dst0 = vec![0u8; 256 * 256 * 4];
    let mut total = 0;
    for sa in 0..=255u32 {
        for y in 0..256u32 {
            for x in 0..256u32 {
                let o = d.pixel_offset(x, y);
                let s = sa << 24 | x << 16 | y << 8 | (x ^ y);
                let t = y << 24 | y << 16 | x << 8 | (255 - y);
                src[o..o + 4].copy_from_slice(&s.to_le_bytes());
                dst0[o..o + 4].copy_from_slice(&t.to_le_bytes());
            }
        }
        let all = Rect::new(0, 0, 256, 256);
        let mut got = dst0.clone();
        render::blend(&mut got, &d, Point::new(0, 0), &src, &d, all, 255).unwrap();
        let mut want = dst0.clone();
        oracle::blend(
            &mut want,
            layout(&d),
            (0, 0),
            &src,
            layout(&d),
            orect(all),
            255,
        )
        .unwrap();
        let exact = sa == 0 || sa == 255;
        total += compare_blend(&got, &want, &d, all, |_, _| exact)
            .unwrap_or_else(|e| panic!("sA={sa}: {e}"));
    }
    // The bound is reached: one rounding and two do differ (by one) on some inputs.
    assert!(
        total > 0,
        "pixman never differed: the documented bound would be vacuous"
    );
}

/// A surface in a buffer: offset, size, unaligned padding, format.
fn desc() -> impl Strategy<Value = SurfaceDesc> {
    (0usize..8, 1u32..20, 1u32..14, 0usize..10, any::<bool>()).prop_map(
        |(offset, width, height, pad, argb)| SurfaceDesc {
            offset,
            width,
            height,
            stride: width as usize * 4 + pad,
            format: if argb { A } else { X },
        },
    )
}

/// A rectangle for a `d`: anywhere (also past the edges), flush with the bottom-right
/// corner, or the whole surface.
fn rect_for(d: &SurfaceDesc, mode: u8, n: [u32; 4]) -> Rect {
    let (w, h) = (d.width, d.height);
    match mode % 4 {
        0 => Rect::new(
            n[0] % (w + 2),
            n[1] % (h + 2),
            n[2] % (w + 2),
            n[3] % (h + 2),
        ),
        1 => {
            let (rw, rh) = (n[2] % (w + 1), n[3] % (h + 1));
            Rect::new(w - rw, h - rh, rw, rh)
        }
        2 => Rect::new(0, 0, w, h),
        _ => {
            let (x, y) = (n[0] % w, n[1] % h);
            Rect::new(x, y, n[2] % (w - x + 1), n[3] % (h - y + 1))
        }
    }
}

/// Bytes for a buffer holding `d`, with source alphas drawn from the edge values or random.
fn bytes_for(d: &SurfaceDesc, seed: u32, alphas: u8) -> Vec<u8> {
    let mut b = pattern(d.offset + d.span_bytes().unwrap() + 5, seed);
    const EDGES: [u8; 6] = [0, 1, 127, 128, 254, 255];
    for y in 0..d.height {
        for x in 0..d.width {
            let o = d.pixel_offset(x, y) + 3;
            b[o] = match alphas % 4 {
                0 => b[o],
                1 => 255,
                2 => 0,
                _ => EDGES[(x + y) as usize % EDGES.len()],
            };
        }
    }
    b
}

/// The oracle's refusal and the renderer's name the same kind of problem.
fn same_refusal(ours: &EngineError, pixman: &OracleError) -> bool {
    matches!(
        (ours, pixman),
        (
            EngineError::OutOfBounds { .. },
            OracleError::OutOfBounds { .. }
        ) | (EngineError::Unsupported(_), OracleError::FormatMismatch)
    )
}

fn alpha() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(255u8), Just(1u8), Just(128u8), any::<u8>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fill_equals_pixman_bit_for_bit(
        d in desc(), mode in any::<u8>(), n in any::<[u32; 4]>(), color in any::<u32>(),
        seed in any::<u32>(),
    ) {
        let rect = rect_for(&d, mode, n);
        let before = bytes_for(&d, seed, 0);
        let mut got = before.clone();
        let mut want = before.clone();
        let ours = render::fill(&mut got, &d, rect, Color(color));
        let theirs = oracle::fill(&mut want[d.offset..], layout(&d), orect(rect), color);
        match (ours, theirs) {
            (Ok(()), Ok(())) => prop_assert!(got == want, "fill {rect:?} of {d:?} differs"),
            (Err(e), Err(o)) => {
                prop_assert!(same_refusal(&e, &o), "{e:?} vs {o:?}");
                prop_assert!(got == before && want == before);
            }
            (o, t) => prop_assert!(false, "renderer {o:?}, pixman {t:?} for {rect:?} of {d:?}"),
        }
    }

    #[test]
    fn copy_equals_pixman_bit_for_bit(
        dd in desc(), sd in desc(), modes in any::<[u8; 2]>(), n in any::<[u32; 6]>(),
        seeds in any::<[u32; 2]>(),
    ) {
        let from = rect_for(&sd, modes[0], [n[0], n[1], n[2], n[3]]);
        let to = Point::new(n[4] % (dd.width + 1), n[5] % (dd.height + 1));
        let to = if modes[1] % 2 == 0 {
            // Flush with the destination's bottom-right corner where it fits.
            Point::new(dd.width.saturating_sub(from.w), dd.height.saturating_sub(from.h))
        } else {
            to
        };
        let src = bytes_for(&sd, seeds[0], 0);
        let before = bytes_for(&dd, seeds[1], 0);
        let mut got = before.clone();
        let mut want = before.clone();
        let ours = render::copy(&mut got, &dd, to, &src, &sd, from);
        let theirs = oracle::copy(
            &mut want[dd.offset..], layout(&dd), (to.x, to.y), &src[sd.offset..], layout(&sd),
            orect(from),
        );
        match (ours, theirs) {
            (Ok(()), Ok(())) => prop_assert!(got == want, "copy {from:?} to {to:?} differs"),
            (Err(e), Err(o)) => {
                prop_assert!(same_refusal(&e, &o), "{e:?} vs {o:?}");
                prop_assert!(got == before && want == before);
            }
            (o, t) => prop_assert!(false, "renderer {o:?}, pixman {t:?}"),
        }
    }

    #[test]
    fn copy_within_one_buffer_equals_pixman_on_a_snapshot(
        d in desc(), mode in any::<u8>(), n in any::<[u32; 6]>(), seed in any::<u32>(),
    ) {
        // Overlapping source and destination: dmasync's rule is "as if the source were read
        // first", which is pixman compositing from a copy of the buffer.
        let from = rect_for(&d, mode | 3, [n[0], n[1], n[2], n[3]]);
        let to = Point::new(n[4] % (d.width - from.w + 1), n[5] % (d.height - from.h + 1));
        let before = bytes_for(&d, seed, 0);
        let mut got = before.clone();
        render::copy_within(&mut got, &d, to, &d, from).unwrap();
        let mut want = before.clone();
        oracle::copy(
            &mut want[d.offset..], layout(&d), (to.x, to.y), &before[d.offset..], layout(&d),
            orect(from),
        ).unwrap();
        prop_assert!(got == want, "copy_within {from:?} to {to:?} of {d:?} differs");
    }

    #[test]
    fn blend_matches_pixman_within_the_bound(
        dd in desc(), sd in desc(), modes in any::<[u8; 3]>(), n in any::<[u32; 6]>(),
        seeds in any::<[u32; 2]>(), alpha in alpha(),
    ) {
        let from = rect_for(&sd, modes[0], [n[0], n[1], n[2], n[3]]);
        let to = if modes[1] % 2 == 0 {
            Point::new(dd.width.saturating_sub(from.w), dd.height.saturating_sub(from.h))
        } else {
            Point::new(n[4] % (dd.width + 1), n[5] % (dd.height + 1))
        };
        let src = bytes_for(&sd, seeds[0], modes[2]);
        let before = bytes_for(&dd, seeds[1], modes[2] / 4);
        let mut got = before.clone();
        let mut want = before.clone();
        let ours = render::blend(&mut got, &dd, to, &src, &sd, from, alpha);
        let theirs = oracle::blend(
            &mut want[dd.offset..], layout(&dd), (to.x, to.y), &src[sd.offset..], layout(&sd),
            orect(from), alpha,
        );
        match (ours, theirs) {
            (Ok(()), Ok(())) => {
                let blended = Rect::new(to.x, to.y, from.w, from.h);
                let exact = |x: u32, y: u32| {
                    let s = px(&src, &sd, from.x + x - to.x, from.y + y - to.y);
                    exact_alpha(s, sd.format, alpha)
                };
                if let Err(e) = compare_blend(&got, &want, &dd, blended, exact) {
                    prop_assert!(false, "blend {from:?} to {to:?} alpha {alpha}: {e}");
                }
            }
            (Err(e), Err(o)) => {
                prop_assert!(same_refusal(&e, &o), "{e:?} vs {o:?}");
                prop_assert!(got == before && want == before);
            }
            (o, t) => prop_assert!(false, "renderer {o:?}, pixman {t:?}"),
        }
    }
}

/// `v` grown with 0xA5 to a whole number of 64-byte cache lines (the simulator allocates
/// whole lines, and the engine test reads a buffer back whole).
fn lines(mut v: Vec<u8>) -> Vec<u8> {
    v.resize(v.len().next_multiple_of(64), 0xA5);
    v
}

/// Runs `ops` on the software engine over the simulator (the buffers first written with
/// `init`), returns the buffers' contents afterwards.
fn run_engine(init: &[Vec<u8>], ops: impl Fn(&[Buffer]) -> Vec<Op2d<'_>>) -> Vec<Vec<u8>> {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(&sim, Soft2dConfig::default());
    let names = ["a", "b", "c"];
    let bufs: Vec<Buffer> = init
        .iter()
        .zip(names)
        .map(|(bytes, name)| {
            let b = buffer(&d, &sim, name, bytes.len());
            assert_eq!(b.len(), bytes.len(), "whole cache lines");
            cpu_write(&d, &b, bytes);
            b
        })
        .collect();
    let ops = ops(&bufs);
    let mut set = d.set();
    for b in &bufs {
        set.add(b, Access::dma_read_write(G2D)).unwrap();
    }
    let fence = engine
        .submit(set.lock().unwrap(), &ops, None)
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(engine.run_one(), Step::Completed(Ok(())));
    assert_eq!(fence.wait(), Ok(()));
    let out = bufs.iter().map(|b| cpu_read(&d, b)).collect();
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    out
}

#[test]
fn engine_fill_and_copies_equal_pixman_bit_for_bit() {
    // A padded Xrgb frame: background fill, a copy from another buffer, an overlapping copy
    // within the frame, a fill of the last pixel.
    let frame = SurfaceDesc {
        offset: 12,
        width: 30,
        height: 20,
        stride: 30 * 4 + 6,
        format: X,
    };
    let tile = SurfaceDesc::packed(16, 9, X);
    let init = vec![
        lines(pattern(12 + 20 * 126, 3)),
        lines(pattern(16 * 9 * 4, 4)),
    ];
    let got = run_engine(&init, |b| {
        let (f, t) = (Surface::new(&b[0], frame), Surface::new(&b[1], tile));
        vec![
            Op2d::Fill {
                dst: f,
                rect: Rect::new(0, 0, 30, 20),
                color: Color(0x7F10_2030),
            },
            Op2d::Copy {
                dst: f,
                to: Point::new(14, 11),
                src: t,
                from: Rect::new(0, 0, 16, 9),
            },
            Op2d::Copy {
                dst: f,
                to: Point::new(3, 2),
                src: f,
                from: Rect::new(0, 0, 25, 17),
            },
            Op2d::Fill {
                dst: f,
                rect: Rect::new(29, 19, 1, 1),
                color: Color(0x1234_5678),
            },
        ]
    });
    let mut want = init[0].clone();
    let (fl, w) = (layout(&frame), &mut want[12..]);
    oracle::fill(w, fl, oracle::Rect::new(0, 0, 30, 20), 0x7F10_2030).unwrap();
    let t = &init[1];
    oracle::copy(
        w,
        fl,
        (14, 11),
        t,
        layout(&tile),
        oracle::Rect::new(0, 0, 16, 9),
    )
    .unwrap();
    let snapshot = w.to_vec();
    oracle::copy(
        w,
        fl,
        (3, 2),
        &snapshot,
        fl,
        oracle::Rect::new(0, 0, 25, 17),
    )
    .unwrap();
    oracle::fill(w, fl, oracle::Rect::new(29, 19, 1, 1), 0x1234_5678).unwrap();
    assert!(got[0] == want, "the engine's frame differs from pixman's");
    assert_eq!(got[1], init[1]);
}

#[test]
fn engine_blends_match_pixman_within_the_bound() {
    // An Argb sprite with random alphas (plus some 0 and 255) blended at global alpha 100
    // into an Argb destination, and an opaque Xrgb source at 255 (exact) into an Xrgb one.
    let dst_a = SurfaceDesc {
        offset: 4,
        width: 24,
        height: 16,
        stride: 24 * 4 + 3,
        format: A,
    };
    let sprite = SurfaceDesc {
        offset: 0,
        width: 12,
        height: 10,
        stride: 14 * 4,
        format: A,
    };
    let dst_x = SurfaceDesc::packed(20, 12, X);
    let opaque = SurfaceDesc::packed(20, 12, X);
    for (dst, src, alpha, to, from) in [
        (
            dst_a,
            sprite,
            100u8,
            Point::new(12, 6),
            Rect::new(0, 0, 12, 10),
        ),
        (dst_a, sprite, 255, Point::new(0, 0), Rect::new(2, 3, 10, 7)),
        (
            dst_x,
            opaque,
            255,
            Point::new(5, 2),
            Rect::new(0, 0, 15, 10),
        ),
        (dst_x, sprite, 37, Point::new(0, 0), Rect::new(0, 0, 12, 10)),
    ] {
        let dst_bytes = lines(bytes_for(&dst, 5, 0));
        let src_bytes = lines(bytes_for(&src, 6, 3));
        let init = vec![dst_bytes.clone(), src_bytes.clone()];
        let got = run_engine(&init, |b| {
            vec![Op2d::Blend {
                dst: Surface::new(&b[0], dst),
                to,
                src: Surface::new(&b[1], src),
                from,
                alpha,
            }]
        });
        let mut want = dst_bytes;
        oracle::blend(
            &mut want[dst.offset..],
            layout(&dst),
            (to.x, to.y),
            &src_bytes[src.offset..],
            layout(&src),
            orect(from),
            alpha,
        )
        .unwrap();
        let blended = Rect::new(to.x, to.y, from.w, from.h);
        let exact = |x: u32, y: u32| {
            let s = px(&src_bytes, &src, from.x + x - to.x, from.y + y - to.y);
            exact_alpha(s, src.format, alpha)
        };
        compare_blend(&got[0], &want, &dst, blended, exact)
            .unwrap_or_else(|e| panic!("blend at {alpha} into {dst:?}: {e}"));
        assert_eq!(got[1], init[1]);
    }
}
