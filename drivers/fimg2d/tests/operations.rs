//! Every operation the driver offers, on both versions, against the register model on the
//! non-coherent simulator: the bytes equal the documented arithmetic (computed in
//! `common`), the model saw no programming error, the simulator no coherency violation.

mod common;

use common::*;
use dmasync_engine::{
    Color, Engine2d, Engine2dControl, Op2d, PixelFormat, Point, Rect, Surface, SurfaceDesc,
};
use dmasync_fimg2d::Version;
use dmasync_sync::fence::FenceStatus;
use dmasync_sync::syncset::Access;

const X: PixelFormat = PixelFormat::Xrgb8888;
const A: PixelFormat = PixelFormat::Argb8888;

fn padded(offset: usize, w: u32, h: u32, stride_px: usize, format: PixelFormat) -> SurfaceDesc {
    SurfaceDesc {
        offset,
        width: w,
        height: h,
        stride: stride_px * 4,
        format,
    }
}

#[test]
fn fills_land_exactly_in_both_formats_and_versions() {
    for v in BOTH {
        for format in [X, A] {
            let sim = sim();
            let d = domain(&sim);
            let m = model(&sim, v);
            let g = driver(&m, &sim);
            let desc = padded(64, 37, 21, 41, format);
            let buf = buffer(&d, &sim, "dst", 64 + 41 * 4 * 21);
            let before = pattern(buf.len(), 3);
            cpu_write(&d, &buf, &before);
            let rects = [
                Rect::new(0, 0, 37, 21),
                Rect::new(5, 3, 1, 1),
                Rect::new(30, 10, 7, 11),
            ];
            let colors = [Color(0x8012_3456), Color(0xFFFF_0000), Color(0x0000_00FF)];
            let mut want = before.clone();
            for (r, c) in rects.iter().zip(colors) {
                let mut s = d.set();
                s.add(&buf, Access::dma_write(G2D)).unwrap();
                let l = s.lock().unwrap();
                let f = g
                    .submit(
                        l,
                        &[Op2d::Fill {
                            dst: Surface::new(&buf, desc),
                            rect: *r,
                            color: c,
                        }],
                        None,
                    )
                    .unwrap();
                drive(&m, &g);
                assert_eq!(f.status(), FenceStatus::Ok, "{v:?} {format:?} {r:?}");
                expect_fill(&mut want, &desc, *r, c);
            }
            assert_pixels(
                &cpu_read(&d, &buf),
                &want,
                &desc,
                &format!("{v:?} fill {format:?}"),
            );
            assert_eq!(m.errors(), vec![], "{v:?}");
            assert_eq!(m.blits(), 3);
            assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        }
    }
}

#[test]
fn copies_land_exactly_between_and_within_buffers() {
    for v in BOTH {
        for format in [X, A] {
            let sim = sim();
            let d = domain(&sim);
            let m = model(&sim, v);
            let g = driver(&m, &sim);
            let sd = padded(32, 30, 20, 33, format);
            let dd = padded(128, 50, 40, 50, format);
            let a = buffer(&d, &sim, "src", 32 + 33 * 4 * 20);
            let b = buffer(&d, &sim, "dst", 128 + 50 * 4 * 40);
            let (pa, pb) = (pattern(a.len(), 1), pattern(b.len(), 2));
            cpu_write(&d, &a, &pa);
            cpu_write(&d, &b, &pb);
            let mut want = pb.clone();
            // Between buffers, then within `b` from its top-left to a non-overlapping place.
            let from = Rect::new(3, 2, 25, 17);
            let to = Point::new(20, 21);
            let within_from = Rect::new(0, 0, 10, 10);
            let within_to = Point::new(35, 5);
            expect_copy(&mut want, &dd, to, &pa, &sd, from);
            let snapshot = want.clone();
            expect_copy(&mut want, &dd, within_to, &snapshot, &dd, within_from);
            let mut s = d.set();
            s.add(&a, Access::dma_read(G2D)).unwrap();
            s.add(&b, Access::dma_read_write(G2D)).unwrap();
            let l = s.lock().unwrap();
            let ops = [
                Op2d::Copy {
                    dst: Surface::new(&b, dd),
                    to,
                    src: Surface::new(&a, sd),
                    from,
                },
                Op2d::Copy {
                    dst: Surface::new(&b, dd),
                    to: within_to,
                    src: Surface::new(&b, dd),
                    from: within_from,
                },
            ];
            let f = g.submit(l, &ops, None).unwrap();
            drive(&m, &g);
            assert_eq!(f.status(), FenceStatus::Ok);
            assert_pixels(
                &cpu_read(&d, &b),
                &want,
                &dd,
                &format!("{v:?} copy {format:?}"),
            );
            assert_eq!(cpu_read(&d, &a), pa, "the source is untouched");
            assert_eq!(m.errors(), vec![]);
            assert_eq!(m.blits(), 2);
            if v == Version::V41 {
                assert_eq!(m.lists(), 2, "one command list per command, chained");
            }
            assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        }
    }
}

#[test]
fn blends_on_v41_follow_the_documented_source_over() {
    for src_format in [A, X] {
        for alpha in [0u8, 1, 77, 128, 254, 255] {
            let sim = sim();
            let d = domain(&sim);
            let m = model(&sim, Version::V41);
            let g = driver(&m, &sim);
            let sd = padded(0, 16, 16, 16, src_format);
            let dd = padded(16, 24, 20, 26, X);
            let a = buffer(&d, &sim, "sprite", 16 * 16 * 4);
            let b = buffer(&d, &sim, "frame", 16 + 26 * 4 * 20);
            // Every alpha value appears in the sprite (256 pixels, alpha = index).
            let mut pa = pattern(a.len(), 5);
            for (i, p) in pa.chunks_exact_mut(4).enumerate() {
                p[3] = i as u8;
            }
            let pb = pattern(b.len(), 6);
            cpu_write(&d, &a, &pa);
            cpu_write(&d, &b, &pb);
            let from = Rect::new(0, 0, 16, 16);
            let to = Point::new(5, 3);
            let mut want = pb.clone();
            expect_blend(&mut want, &dd, to, &pa, &sd, from, alpha);
            let mut s = d.set();
            s.add(&a, Access::dma_read(G2D)).unwrap();
            s.add(&b, Access::dma_read_write(G2D)).unwrap();
            let l = s.lock().unwrap();
            let op = Op2d::Blend {
                dst: Surface::new(&b, dd),
                to,
                src: Surface::new(&a, sd),
                from,
                alpha,
            };
            let f = g.submit(l, &[op], None).unwrap();
            drive(&m, &g);
            assert_eq!(f.status(), FenceStatus::Ok);
            assert_pixels(
                &cpu_read(&d, &b),
                &want,
                &dd,
                &format!("blend {src_format:?} alpha {alpha}"),
            );
            assert_eq!(m.errors(), vec![]);
            assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        }
    }
}

#[test]
fn a_mixed_submission_runs_in_order_on_both_versions() {
    for v in BOTH {
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        let fd = SurfaceDesc::packed(40, 30, X);
        let sd = SurfaceDesc::packed(12, 10, A);
        let frame = buffer(&d, &sim, "frame", 40 * 30 * 4);
        let sprite = buffer(&d, &sim, "sprite", 12 * 10 * 4);
        let ps = pattern(sprite.len(), 9);
        cpu_write(&d, &sprite, &ps);
        cpu_write(&d, &frame, &pattern(frame.len(), 8));
        let mut want = cpu_read(&d, &frame);
        let blend = v == Version::V41;
        let mut ops = vec![
            Op2d::Fill {
                dst: Surface::new(&frame, fd),
                rect: Rect::new(0, 0, 40, 30),
                color: Color(0xFF10_2030),
            },
            Op2d::Fill {
                dst: Surface::new(&frame, fd),
                rect: Rect::new(2, 2, 0, 5),
                color: Color(0),
            },
            Op2d::Copy {
                dst: Surface::new(&frame, fd),
                to: Point::new(1, 1),
                src: Surface::new(&frame, fd),
                from: Rect::new(20, 15, 10, 10),
            },
        ];
        expect_fill(&mut want, &fd, Rect::new(0, 0, 40, 30), Color(0xFF10_2030));
        let snap = want.clone();
        expect_copy(
            &mut want,
            &fd,
            Point::new(1, 1),
            &snap,
            &fd,
            Rect::new(20, 15, 10, 10),
        );
        if blend {
            // A blend of an ARGB sprite over what the copy left: reads the copy's result.
            let sprite_desc = SurfaceDesc::packed(12, 10, X);
            ops.push(Op2d::Copy {
                dst: Surface::new(&frame, fd),
                to: Point::new(26, 2),
                src: Surface::new(&sprite, sprite_desc),
                from: Rect::new(0, 0, 12, 10),
            });
            expect_copy(
                &mut want,
                &fd,
                Point::new(26, 2),
                &ps,
                &sprite_desc,
                Rect::new(0, 0, 12, 10),
            );
            ops.push(Op2d::Blend {
                dst: Surface::new(&frame, fd),
                to: Point::new(0, 5),
                src: Surface::new(&sprite, sd),
                from: Rect::new(0, 0, 12, 10),
                alpha: 200,
            });
            expect_blend(
                &mut want,
                &fd,
                Point::new(0, 5),
                &ps,
                &sd,
                Rect::new(0, 0, 12, 10),
                200,
            );
        }
        let mut s = d.set();
        s.add(&sprite, Access::dma_read(G2D)).unwrap();
        s.add(&frame, Access::dma_read_write(G2D)).unwrap();
        let l = s.lock().unwrap();
        let f = g.submit(l, &ops, None).unwrap();
        let irqs = drive(&m, &g);
        assert_eq!(f.status(), FenceStatus::Ok);
        // v3.0: one interrupt per (non-empty) command; v4.1: one ACF for the whole chain.
        let want_irqs = if v == Version::V30 { ops.len() - 1 } else { 1 };
        assert_eq!(irqs, want_irqs, "{v:?}");
        assert_pixels(&cpu_read(&d, &frame), &want, &fd, &format!("{v:?} mixed"));
        assert_eq!(m.errors(), vec![]);
        // The empty fill is a no-op: no blit for it.
        assert_eq!(m.blits() as usize, ops.len() - 1);
        assert!(sim.violations().is_empty(), "{:?}", sim.violations());
        assert_eq!(g.pending(), 0);
    }
}

#[test]
fn capabilities_are_honest_per_version() {
    let sim = sim();
    for v in BOTH {
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        let c = g.capabilities();
        assert!(c.fill && c.copy);
        assert_eq!(
            c.blend,
            v == Version::V41,
            "v3.0 has no public blend function"
        );
        assert_eq!((c.max_width, c.max_height), (8000, 8000));
        assert_eq!(c.formats, &[X, A]);
        assert_eq!(c.max_ops, 8);
        assert_eq!(g.device(), G2D);
    }
}

#[test]
fn jobs_queue_behind_each_other_and_their_in_fences() {
    use dmasync_sync::fence::{FenceError, FenceProducer};
    for v in BOTH {
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        let desc = SurfaceDesc::packed(8, 8, A);
        let b = buffer(&d, &sim, "b", 8 * 8 * 4);
        let c = buffer(&d, &sim, "c", 8 * 8 * 4);
        let gate = FenceProducer::one_off();
        let failed = FenceProducer::one_off();
        let op = |buf, color| Op2d::Fill {
            dst: Surface::new(buf, desc),
            rect: Rect::new(0, 0, 8, 8),
            color: Color(color),
        };
        let mut s1 = d.set();
        s1.add(&b, Access::dma_write(G2D)).unwrap();
        let first = g
            .submit(
                s1.lock().unwrap(),
                &[op(&b, 0x1111_1111)],
                Some(&gate.fence()),
            )
            .unwrap();
        let mut s2 = d.set();
        s2.add(&c, Access::dma_write(G2D)).unwrap();
        let second = g
            .submit(
                s2.lock().unwrap(),
                &[op(&c, 0x2222_2222)],
                Some(&failed.fence()),
            )
            .unwrap();
        assert!(!m.busy(), "{v:?}: nothing starts before its in-fence");
        assert_eq!(g.pending(), 2);
        failed.signal_error(FenceError::DeviceError(7));
        gate.signal();
        g.service();
        drive(&m, &g);
        assert_eq!(first.status(), FenceStatus::Ok);
        assert_eq!(
            second.status(),
            FenceStatus::Err(FenceError::DeviceError(7)),
            "the producer's error"
        );
        assert_eq!(m.blits(), 1, "the second job never ran");
        assert_eq!(cpu_read(&d, &b), [0x11u8; 256]);
        assert_eq!(cpu_read(&d, &c), [0u8; 256]);
        assert!(sim.violations().is_empty());
    }
}
