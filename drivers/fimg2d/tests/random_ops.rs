//! Seeded random fills, copies and blends (blends on v4.1 only) at random positions, sizes,
//! strides and offsets, each checked against the documented arithmetic, with zero model
//! errors and zero simulator violations: the edges (one-pixel rectangles, full surfaces,
//! last rows and columns) that hand-picked cases miss.

mod common;

use common::*;
use dmasync_engine::{Color, Engine2d, Op2d, PixelFormat, Point, Rect, Surface};
use dmasync_fimg2d::Version;
use dmasync_sync::fence::FenceStatus;
use dmasync_sync::syncset::Access;

#[test]
fn random_operations_match_the_documented_arithmetic() {
    for v in BOTH {
        let mut rng = Rng(0x6D2D + v as u64);
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        for round in 0..60 {
            let kind = rng.below(if v == Version::V41 { 3 } else { 2 });
            let dst_format = if kind == 2 || rng.below(2) == 0 {
                PixelFormat::Xrgb8888
            } else {
                PixelFormat::Argb8888
            };
            let dd = rng.desc(dst_format);
            let dst = buffer(&d, &sim, "dst", len(&dd));
            let before = pattern(dst.len(), round);
            cpu_write(&d, &dst, &before);
            let mut want = before.clone();
            let mut s = d.set();
            let what;
            let fence = if kind == 0 {
                let rect = rng.rect_in(dd.width, dd.height);
                let color = Color(rng.next());
                expect_fill(&mut want, &dd, rect, color);
                what = format!("{v:?} #{round} fill {rect:?} in {dd:?}");
                s.add(&dst, Access::dma_write(G2D)).unwrap();
                let op = Op2d::Fill {
                    dst: Surface::new(&dst, dd),
                    rect,
                    color,
                };
                g.submit(s.lock().unwrap(), &[op], None).unwrap()
            } else {
                let src_format = if kind == 1 {
                    dst_format
                } else if rng.below(2) == 0 {
                    PixelFormat::Argb8888
                } else {
                    PixelFormat::Xrgb8888
                };
                let sd = rng.desc(src_format);
                let src = buffer(&d, &sim, "src", len(&sd));
                let sp = pattern(src.len(), round + 100);
                cpu_write(&d, &src, &sp);
                let from = rng.rect_in(sd.width.min(dd.width), sd.height.min(dd.height));
                let from = Rect::new(
                    rng.below(sd.width - from.w + 1),
                    rng.below(sd.height - from.h + 1),
                    from.w,
                    from.h,
                );
                let to = Point::new(
                    rng.below(dd.width - from.w + 1),
                    rng.below(dd.height - from.h + 1),
                );
                s.add(&src, Access::dma_read(G2D)).unwrap();
                let (dsurf, ssurf) = (Surface::new(&dst, dd), Surface::new(&src, sd));
                let op = if kind == 1 {
                    expect_copy(&mut want, &dd, to, &sp, &sd, from);
                    what = format!("{v:?} #{round} copy {from:?} -> {to:?}");
                    s.add(&dst, Access::dma_write(G2D)).unwrap();
                    Op2d::Copy {
                        dst: dsurf,
                        to,
                        src: ssurf,
                        from,
                    }
                } else {
                    let alpha = rng.below(256) as u8;
                    expect_blend(&mut want, &dd, to, &sp, &sd, from, alpha);
                    what = format!("{v:?} #{round} blend {from:?} -> {to:?} alpha {alpha}");
                    s.add(&dst, Access::dma_read_write(G2D)).unwrap();
                    Op2d::Blend {
                        dst: dsurf,
                        to,
                        src: ssurf,
                        from,
                        alpha,
                    }
                };
                g.submit(s.lock().unwrap(), &[op], None).unwrap()
            };
            drive(&m, &g);
            assert_eq!(fence.status(), FenceStatus::Ok, "{what}");
            assert_pixels(&cpu_read(&d, &dst), &want, &dd, &what);
        }
        assert_eq!(m.errors(), vec![], "{v:?}");
        assert_eq!(m.blits(), 60);
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    }
}
