//! The ISI driver on its register model against the independent pixel oracle (pixman,
//! `dmasync_pixman_oracle::convert`) for property-generated Converts: RGB sources bit for
//! bit; YUYV sources with every alpha byte and every byte outside the destination
//! rectangle exact and each colour channel within `YUV_CHANNEL_BOUND` (doc/testing.md,
//! "The pixel oracle").
#![forbid(unsafe_code)]

mod common;

use common::*;
use dmasync_engine::{Engine2d, Flip, Op2d, PixelFormat, Rect, Surface, SurfaceDesc};
use dmasync_isi_model::IsiModel;
use dmasync_pixman_oracle::{self as oracle, ConvFormat, ConvLayout, YUV_CHANNEL_BOUND};
use dmasync_sync::syncset::Access;
use proptest::prelude::*;

fn layout(d: &SurfaceDesc) -> ConvLayout {
    ConvLayout {
        width: d.width,
        height: d.height,
        stride: d.stride,
        format: match d.format {
            PixelFormat::Xrgb8888 => ConvFormat::Xrgb8888,
            PixelFormat::Argb8888 => ConvFormat::Argb8888,
            PixelFormat::Rgb565 => ConvFormat::R5g6b5,
            PixelFormat::Yuyv => ConvFormat::Yuy2,
        },
    }
}

/// Within the bound per colour channel (565 compared per field), exact elsewhere.
fn close(got: &[u8], want: &[u8], d: &SurfaceDesc) -> Result<(), String> {
    let bpp = d.format.bytes_per_pixel();
    let mut i = 0;
    while i < got.len() {
        let in_px = i >= d.offset
            && (i - d.offset) % d.stride < d.width as usize * bpp
            && (i - d.offset) / d.stride < d.height as usize;
        if in_px && got[i..i + bpp] != want[i..i + bpp] {
            let ok = match d.format {
                PixelFormat::Rgb565 => {
                    let a = u16::from_le_bytes([got[i], got[i + 1]]);
                    let b = u16::from_le_bytes([want[i], want[i + 1]]);
                    [(11, 0x1F), (5, 0x3F), (0, 0x1F)].iter().all(|&(s, m)| {
                        ((a >> s) & m).abs_diff((b >> s) & m) <= YUV_CHANNEL_BOUND as u16
                    })
                }
                _ => {
                    (0..3).all(|c| got[i + c].abs_diff(want[i + c]) <= YUV_CHANNEL_BOUND)
                        && got[i + 3] == want[i + 3]
                }
            };
            if !ok {
                return Err(format!(
                    "pixel at byte {i}: {:02x?} vs pixman {:02x?}",
                    &got[i..i + bpp],
                    &want[i..i + bpp]
                ));
            }
            i += bpp;
        } else if in_px {
            i += bpp;
        } else {
            if got[i] != want[i] {
                return Err(format!("byte {i} outside the pixels changed"));
            }
            i += 1;
        }
    }
    Ok(())
}

fn src_format() -> impl Strategy<Value = PixelFormat> {
    prop_oneof![
        Just(PixelFormat::Xrgb8888),
        Just(PixelFormat::Rgb565),
        Just(PixelFormat::Yuyv)
    ]
}

fn dst_format() -> impl Strategy<Value = PixelFormat> {
    prop_oneof![
        Just(PixelFormat::Xrgb8888),
        Just(PixelFormat::Argb8888),
        Just(PixelFormat::Rgb565)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn driver_on_model_equals_pixman(
        sf in src_format(), df in dst_format(),
        sw in 1u32..20, sh in 1u32..20, spad in 0usize..4, soff in 0usize..3,
        dpad in 0usize..4, doff in 0usize..3,
        f in (0u32..64, 0u32..64, 0u32..64, 0u32..64),
        t in (0u32..64, 0u32..64, 0u32..64, 0u32..64),
        flip_h: bool, flip_v: bool, seed: u32,
    ) {
        let yuv = sf == PixelFormat::Yuyv;
        // YUYV: even widths and crops (the ISI reads whole pairs).
        let sw = if yuv { 2 * sw } else { sw };
        let sd = desc(sf, sw, sh, spad * 4, soff * 4);
        let step = if yuv { 2 } else { 1 };
        let x = (f.0 % sw) / step * step;
        let w = (1 + f.2 % (sw - x)).div_ceil(step) * step;
        let w = w.min(sw - x);
        let y = f.1 % sh;
        let from = Rect::new(x, y, w, 1 + f.3 % (sh - y));
        // Down-scaling by less than 2 per axis, or none.
        let ow = from.w / 2 + 1 + t.2 % (from.w - from.w / 2);
        let oh = from.h / 2 + 1 + t.3 % (from.h - from.h / 2);
        let dd = desc(df, ow + t.0 % 5, oh + t.1 % 5, dpad * 4, doff * 4);
        let to = Rect::new(t.0 % 5, t.1 % 5, ow, oh);
        let flip = Flip { h: flip_h, v: flip_v };

        let sim = sim();
        let d = domain(&sim);
        let m = IsiModel::new(&sim, ISI);
        let g = driver(&m);
        let sb = buffer(&d, &sim, "src", len_for(&sd));
        let db = buffer(&d, &sim, "dst", len_for(&dd));
        let src = pattern(sb.len(), seed);
        let before = pattern(db.len(), !seed);
        cpu_write(&d, &sb, &src);
        cpu_write(&d, &db, &before);
        let mut set = d.set();
        set.add(&sb, Access::dma_read(ISI)).unwrap();
        set.add(&db, Access::dma_write(ISI)).unwrap();
        let op = Op2d::Convert { dst: Surface::new(&db, dd), to, src: Surface::new(&sb, sd), from, flip };
        let fence = g.submit(set.lock().unwrap(), &[op], None).map_err(|r| r.error).unwrap();
        drive(&m, &g);
        prop_assert_eq!(fence.wait(), Ok(()));
        prop_assert_eq!(m.errors(), vec![]);
        prop_assert!(sim.violations().is_empty());
        let got = cpu_read(&d, &db);

        let mut want = before.clone();
        oracle::convert(
            &mut want[dd.offset..], layout(&dd), oracle::Rect::new(to.x, to.y, to.w, to.h),
            &src[sd.offset..], layout(&sd), oracle::Rect::new(from.x, from.y, from.w, from.h),
            flip_h, flip_v,
        ).unwrap();
        if yuv {
            if let Err(e) = close(&got, &want, &dd) {
                prop_assert!(false, "{sf:?} {from:?} -> {df:?} {to:?} {flip:?}: {e}");
            }
        } else {
            prop_assert!(got == want, "{:?} {:?} -> {:?} {:?} {:?}: differs at {:?}", sf, from, df, to, flip, got.iter().zip(&want).position(|(a, b)| a != b));
        }
    }
}
