//! The software 2D engine on the non-coherent memory simulator: frames equal the reference
//! renderer byte for byte with zero coherency violations, every bad submission is refused
//! with the right error and nothing queued, in-fences order and fail jobs, and a stalled
//! engine is recovered by the watchdog and `reset`.

mod common;

use std::time::Duration;

use common::*;
use dmasync_engine::{
    Color, Engine2d, Engine2dControl, EngineError, Op2d, PixelFormat, Point, Rect, Surface,
    SurfaceDesc,
};
use dmasync_soft::{ABANDONED, Soft2dConfig, Step, render};
use dmasync_sync::fence::{FenceError, FenceStatus, Timeline};
use dmasync_sync::syncset::{Access, SyncConfig, SyncError};

const X: PixelFormat = PixelFormat::Xrgb8888;
const A: PixelFormat = PixelFormat::Argb8888;

#[test]
fn composited_frame_equals_the_reference_renderer() {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(&sim, Soft2dConfig::default());
    // Background 40x30 Xrgb, packed; sprite 12x10 Argb with padded rows at an offset; the
    // frame 48x36 Xrgb with a stride of 52 pixels.
    let bg_desc = SurfaceDesc::packed(40, 30, X);
    let sprite_desc = SurfaceDesc {
        offset: 64,
        width: 12,
        height: 10,
        stride: 14 * 4,
        format: A,
    };
    let frame_desc = SurfaceDesc {
        offset: 0,
        width: 48,
        height: 36,
        stride: 52 * 4,
        format: X,
    };
    let bg = buffer(&d, &sim, "bg", 40 * 30 * 4);
    let sprite = buffer(&d, &sim, "sprite", 64 + 14 * 4 * 10);
    let frame = buffer(&d, &sim, "frame", 52 * 4 * 36);
    let bg_bytes = pattern(bg.len(), 1);
    let sprite_bytes = pattern(sprite.len(), 2);
    cpu_write(&d, &bg, &bg_bytes);
    cpu_write(&d, &sprite, &sprite_bytes);

    let ops = [
        Op2d::Fill {
            dst: Surface::new(&frame, frame_desc),
            rect: Rect::new(0, 0, 48, 36),
            color: Color(0xFF10_2030),
        },
        Op2d::Copy {
            dst: Surface::new(&frame, frame_desc),
            to: Point::new(4, 3),
            src: Surface::new(&bg, bg_desc),
            from: Rect::new(0, 0, 40, 30),
        },
        Op2d::Blend {
            dst: Surface::new(&frame, frame_desc),
            to: Point::new(30, 20),
            src: Surface::new(&sprite, sprite_desc),
            from: Rect::new(0, 0, 12, 10),
            alpha: 255,
        },
        Op2d::Blend {
            dst: Surface::new(&frame, frame_desc),
            to: Point::new(2, 2),
            src: Surface::new(&sprite, sprite_desc),
            from: Rect::new(3, 2, 9, 8),
            alpha: 100,
        },
        // Overlapping copy inside the frame.
        Op2d::Copy {
            dst: Surface::new(&frame, frame_desc),
            to: Point::new(10, 12),
            src: Surface::new(&frame, frame_desc),
            from: Rect::new(6, 8, 20, 15),
        },
        Op2d::Fill {
            dst: Surface::new(&frame, frame_desc),
            rect: Rect::new(47, 35, 1, 1),
            color: Color(0x1234_5678),
        },
    ];

    let mut set = d.set();
    set.add(&bg, Access::dma_read(G2D)).unwrap();
    set.add(&sprite, Access::dma_read(G2D)).unwrap();
    set.add(&frame, Access::dma_read_write(G2D)).unwrap();
    let locked = set.lock().unwrap();
    let done = with_worker(&engine, || {
        let f = engine
            .submit(locked, &ops, None)
            .map_err(|r| r.error)
            .unwrap();
        assert_eq!(f.wait(), Ok(()));
        f
    });
    assert!(done.is_signalled());
    assert_eq!(engine.pending(), 0);
    let got = cpu_read(&d, &frame);

    // The oracle, on the host's copies of the inputs. The frame buffer's bytes outside the
    // surface (row padding) stay as allocated: zero.
    let mut want = vec![0u8; frame.len()];
    render::fill(
        &mut want,
        &frame_desc,
        Rect::new(0, 0, 48, 36),
        Color(0xFF10_2030),
    )
    .unwrap();
    render::copy(
        &mut want,
        &frame_desc,
        Point::new(4, 3),
        &bg_bytes,
        &bg_desc,
        Rect::new(0, 0, 40, 30),
    )
    .unwrap();
    render::blend(
        &mut want,
        &frame_desc,
        Point::new(30, 20),
        &sprite_bytes,
        &sprite_desc,
        Rect::new(0, 0, 12, 10),
        255,
    )
    .unwrap();
    render::blend(
        &mut want,
        &frame_desc,
        Point::new(2, 2),
        &sprite_bytes,
        &sprite_desc,
        Rect::new(3, 2, 9, 8),
        100,
    )
    .unwrap();
    render::copy_within(
        &mut want,
        &frame_desc,
        Point::new(10, 12),
        &frame_desc,
        Rect::new(6, 8, 20, 15),
    )
    .unwrap();
    render::fill(
        &mut want,
        &frame_desc,
        Rect::new(47, 35, 1, 1),
        Color(0x1234_5678),
    )
    .unwrap();
    assert!(got == want, "the engine's frame differs from the oracle's");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// Locks `frame` (and more) with `access`, submits `ops`, expects the refusal `want`, and
/// checks that the set came back usable and nothing was queued.
fn refused(engine: &Engine<'_>, locked: Locked<'_>, ops: &[Op2d<'_>], want: EngineError) {
    let before = engine.pending();
    let r = engine.submit(locked, ops, None);
    let rej = r.expect_err("the submission must be refused");
    assert_eq!(rej.error, want);
    assert_eq!(engine.pending(), before, "nothing queued");
    // The set came back, still locked and usable.
    rej.returned
        .unlock()
        .expect("the returned set unlocks normally");
}

#[test]
fn every_bad_submission_is_refused_by_name_with_nothing_queued() {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(
        &sim,
        Soft2dConfig {
            max_ops: 4,
            max_width: 64,
            max_height: 64,
            ..Soft2dConfig::default()
        },
    );
    let frame = buffer(&d, &sim, "frame", 16 * 16 * 4);
    let src = buffer(&d, &sim, "src", 16 * 16 * 4);
    let fd = SurfaceDesc::packed(16, 16, X);
    let fill = |rect| Op2d::Fill {
        dst: Surface::new(&frame, fd),
        rect,
        color: Color(0xFFFF_FFFF),
    };
    macro_rules! lock {
        ($([$b:expr, $a:expr]),* $(,)?) => {{
            let mut s = d.set();
            $(s.add($b, $a).unwrap();)*
            s
        }};
    }

    // Out-of-bounds rectangles: past the right edge, overflowing, blit source and blend
    // destination.
    for (op, what) in [
        (fill(Rect::new(10, 0, 7, 1)), "fill rect"),
        (fill(Rect::new(u32::MAX, 0, 2, 1)), "fill rect"),
        (fill(Rect::new(0, 15, 1, 2)), "fill rect"),
    ] {
        let mut s = lock!([&frame, Access::dma_write(G2D)]);
        refused(
            &engine,
            s.lock().unwrap(),
            &[op],
            EngineError::OutOfBounds {
                buffer: "frame",
                what,
            },
        );
    }
    let mut s = lock!(
        [&frame, Access::dma_read_write(G2D)],
        [&src, Access::dma_read(G2D)]
    );
    refused(
        &engine,
        s.lock().unwrap(),
        &[Op2d::Copy {
            dst: Surface::new(&frame, fd),
            to: Point::new(0, 0),
            src: Surface::new(&src, fd),
            from: Rect::new(8, 8, 9, 1),
        }],
        EngineError::OutOfBounds {
            buffer: "src",
            what: "blit source",
        },
    );
    let mut s = lock!(
        [&frame, Access::dma_read_write(G2D)],
        [&src, Access::dma_read(G2D)]
    );
    refused(
        &engine,
        s.lock().unwrap(),
        &[Op2d::Blend {
            dst: Surface::new(&frame, fd),
            to: Point::new(12, 12),
            src: Surface::new(&src, fd),
            from: Rect::new(0, 0, 5, 5),
            alpha: 255,
        }],
        EngineError::OutOfBounds {
            buffer: "frame",
            what: "blend destination",
        },
    );

    // A surface outside the registered range (the set declared only the first 8 rows).
    let mut s = d.set();
    s.add_range(&frame, Access::dma_write(G2D), 0..8 * 64)
        .unwrap();
    refused(
        &engine,
        s.lock().unwrap(),
        &[fill(Rect::new(0, 0, 1, 1))],
        EngineError::OutOfBounds {
            buffer: "frame",
            what: "surface",
        },
    );
    // A surface running past the buffer's end.
    let mut s = lock!([&frame, Access::dma_write(G2D)]);
    refused(
        &engine,
        s.lock().unwrap(),
        &[Op2d::Fill {
            dst: Surface::new(&frame, SurfaceDesc { offset: 64, ..fd }),
            rect: Rect::new(0, 0, 1, 1),
            color: Color(0),
        }],
        EngineError::OutOfBounds {
            buffer: "frame",
            what: "surface",
        },
    );

    // Registered for another device; not registered at all.
    let mut s = lock!([&frame, Access::dma_write(OTHER)]);
    refused(
        &engine,
        s.lock().unwrap(),
        &[fill(Rect::new(0, 0, 1, 1))],
        EngineError::NotLockedFor {
            buffer: "frame",
            wanted: "write",
        },
    );
    let mut s = lock!([&src, Access::dma_write(G2D)]);
    refused(
        &engine,
        s.lock().unwrap(),
        &[fill(Rect::new(0, 0, 1, 1))],
        EngineError::NotLockedFor {
            buffer: "frame",
            wanted: "write",
        },
    );
    // Destination registered read-only; a CPU access is not the device's either.
    for access in [Access::dma_read(G2D), Access::CPU_WRITE] {
        let mut s = lock!([&frame, access]);
        refused(
            &engine,
            s.lock().unwrap(),
            &[fill(Rect::new(0, 0, 1, 1))],
            EngineError::NotLockedFor {
                buffer: "frame",
                wanted: "write",
            },
        );
    }
    // Blend destination without read; copy source without read.
    let mut s = lock!(
        [&frame, Access::dma_write(G2D)],
        [&src, Access::dma_read(G2D)]
    );
    refused(
        &engine,
        s.lock().unwrap(),
        &[Op2d::Blend {
            dst: Surface::new(&frame, fd),
            to: Point::new(0, 0),
            src: Surface::new(&src, fd),
            from: Rect::new(0, 0, 1, 1),
            alpha: 9,
        }],
        EngineError::NotLockedFor {
            buffer: "frame",
            wanted: "read+write",
        },
    );
    let mut s = lock!(
        [&frame, Access::dma_write(G2D)],
        [&src, Access::dma_write(G2D)]
    );
    refused(
        &engine,
        s.lock().unwrap(),
        &[Op2d::Copy {
            dst: Surface::new(&frame, fd),
            to: Point::new(0, 0),
            src: Surface::new(&src, fd),
            from: Rect::new(0, 0, 1, 1),
        }],
        EngineError::NotLockedFor {
            buffer: "src",
            wanted: "read",
        },
    );
    // A copy within one buffer reads it too.
    let mut s = lock!([&frame, Access::dma_write(G2D)]);
    refused(
        &engine,
        s.lock().unwrap(),
        &[Op2d::Copy {
            dst: Surface::new(&frame, fd),
            to: Point::new(1, 0),
            src: Surface::new(&frame, fd),
            from: Rect::new(0, 0, 1, 1),
        }],
        EngineError::NotLockedFor {
            buffer: "frame",
            wanted: "read+write",
        },
    );

    // Empty submission; too many commands.
    let mut s = lock!([&frame, Access::dma_write(G2D)]);
    refused(&engine, s.lock().unwrap(), &[], EngineError::Empty);
    let mut s = lock!([&frame, Access::dma_write(G2D)]);
    refused(
        &engine,
        s.lock().unwrap(),
        &[fill(Rect::new(0, 0, 1, 1)); 5],
        EngineError::Unsupported("more commands in one submission than max_ops"),
    );

    // Zero-size surface; stride smaller than a row; surface beyond the engine's size.
    for (desc, want) in [
        (
            SurfaceDesc::packed(0, 4, X),
            EngineError::BadSurface {
                buffer: "frame",
                why: "zero width or height",
            },
        ),
        (
            SurfaceDesc {
                stride: 15 * 4,
                ..fd
            },
            EngineError::BadSurface {
                buffer: "frame",
                why: "stride is smaller than a row",
            },
        ),
        (
            SurfaceDesc {
                width: 65,
                height: 1,
                stride: 65 * 4,
                ..fd
            },
            EngineError::Unsupported("surface larger than the engine's maximum"),
        ),
    ] {
        let mut s = lock!([&frame, Access::dma_write(G2D)]);
        refused(
            &engine,
            s.lock().unwrap(),
            &[Op2d::Fill {
                dst: Surface::new(&frame, desc),
                rect: Rect::new(0, 0, 0, 0),
                color: Color(0),
            }],
            want,
        );
    }

    // A copy between formats; a valid command ahead of a bad one is not run either.
    let mut s = lock!(
        [&frame, Access::dma_write(G2D)],
        [&src, Access::dma_read(G2D)]
    );
    refused(
        &engine,
        s.lock().unwrap(),
        &[
            fill(Rect::new(0, 0, 16, 16)),
            Op2d::Copy {
                dst: Surface::new(&frame, fd),
                to: Point::new(0, 0),
                src: Surface::new(&src, SurfaceDesc::packed(16, 16, A)),
                from: Rect::new(0, 0, 1, 1),
            },
        ],
        EngineError::Unsupported("copy between different pixel formats"),
    );
    assert_eq!(engine.run_one(), Step::Idle, "nothing was queued");
    assert!(cpu_read(&d, &frame).iter().all(|&b| b == 0), "nothing ran");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_full_queue_refuses_and_gives_the_set_back() {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(
        &sim,
        Soft2dConfig {
            queue_depth: 2,
            ..Soft2dConfig::default()
        },
    );
    assert_eq!(engine.capabilities().queue_depth, 2);
    let bufs = [
        buffer(&d, &sim, "a", 256),
        buffer(&d, &sim, "b", 256),
        buffer(&d, &sim, "c", 256),
    ];
    let desc = SurfaceDesc::packed(8, 8, X);
    engine.set_stalled(true);
    let mut fences = Vec::new();
    for (i, b) in bufs.iter().enumerate() {
        let mut s = d.set();
        s.add(b, Access::dma_write(G2D)).unwrap();
        let op = [Op2d::Fill {
            dst: Surface::new(b, desc),
            rect: Rect::new(0, 0, 8, 8),
            color: Color(0xFF00_0000 | i as u32),
        }];
        let l = s.lock().unwrap();
        if i < 2 {
            fences.push(engine.submit(l, &op, None).map_err(|r| r.error).unwrap());
        } else {
            refused(&engine, l, &op, EngineError::QueueFull);
        }
    }
    assert_eq!(engine.pending(), 2);
    assert_eq!(engine.run_one(), Step::Idle, "stalled: takes nothing");
    engine.set_stalled(false);
    assert_eq!(engine.run_one(), Step::Completed(Ok(())));
    assert_eq!(engine.run_one(), Step::Completed(Ok(())));
    assert_eq!(engine.run_one(), Step::Idle);
    for f in &fences {
        assert_eq!(f.status(), FenceStatus::Ok);
    }
    assert_eq!(&cpu_read(&d, &bufs[1])[..4], &[1, 0, 0, 0xFF]);
    assert!(cpu_read(&d, &bufs[2]).iter().all(|&b| b == 0));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn jobs_wait_for_their_in_fence_and_run_in_order() {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(&sim, Soft2dConfig::default());
    let a = buffer(&d, &sim, "a", 256);
    let b = buffer(&d, &sim, "b", 256);
    let desc = SurfaceDesc::packed(8, 8, X);
    let cpu_done = Timeline::new().next_fence();
    with_worker(&engine, || {
        let submit = |buf, color, in_fence| {
            let mut s = d.set();
            s.add(buf, Access::dma_write(G2D)).unwrap();
            let l = s.lock().unwrap();
            let op = [Op2d::Fill {
                dst: Surface::new(buf, desc),
                rect: Rect::new(0, 0, 8, 8),
                color: Color(color),
            }];
            engine
                .submit(l, &op, in_fence)
                .map_err(|r| r.error)
                .unwrap()
        };
        let gate = cpu_done.fence();
        let first = submit(&a, 0xFFAA_AAAA, Some(&gate));
        let second = submit(&b, 0xFFBB_BBBB, None);
        // The second cannot overtake the first, which waits for the CPU.
        assert_eq!(
            second.wait_timeout(Duration::from_millis(50)),
            FenceStatus::Pending
        );
        assert_eq!(first.status(), FenceStatus::Pending);
        assert_eq!(engine.pending(), 2);
        cpu_done.signal();
        assert_eq!(second.wait(), Ok(()));
        assert_eq!(first.status(), FenceStatus::Ok);
        assert!(first.timestamp().unwrap() <= second.timestamp().unwrap());
    });
    assert!(
        cpu_read(&d, &a)
            .chunks(4)
            .all(|p| p == [0xAA, 0xAA, 0xAA, 0xFF])
    );
    assert!(
        cpu_read(&d, &b)
            .chunks(4)
            .all(|p| p == [0xBB, 0xBB, 0xBB, 0xFF])
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn an_in_fence_error_fails_the_job_unexecuted() {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(&sim, Soft2dConfig::default());
    let a = buffer(&d, &sim, "a", 256);
    let desc = SurfaceDesc::packed(8, 8, X);
    let upstream = Timeline::new().next_fence();
    let mut s = d.set();
    s.add(&a, Access::dma_write(G2D)).unwrap();
    let op = [Op2d::Fill {
        dst: Surface::new(&a, desc),
        rect: Rect::new(0, 0, 8, 8),
        color: Color(0xFFFF_FFFF),
    }];
    let f = engine
        .submit(s.lock().unwrap(), &op, Some(&upstream.fence()))
        .map_err(|r| r.error)
        .unwrap();
    upstream.signal_error(FenceError::DeviceError(7));
    assert_eq!(
        engine.run_one(),
        Step::Completed(Err(FenceError::DeviceError(7)))
    );
    assert_eq!(f.status(), FenceStatus::Err(FenceError::DeviceError(7)));
    // The buffer is untouched; the error was reported to whoever waited on the job.
    assert!(cpu_read(&d, &a).iter().all(|&b| b == 0));
    assert_eq!(engine.pending(), 0);
}

#[test]
fn a_stalled_engine_is_recovered_by_the_watchdog_and_reset() {
    let sim = sim();
    let d = domain(
        &sim,
        SyncConfig {
            hold_deadline: Duration::from_millis(100),
            watchdog_poll: Duration::from_millis(5),
            ..SyncConfig::default()
        },
    );
    let engine = engine(&sim, Soft2dConfig::default());
    let frame = buffer(&d, &sim, "frame", 256);
    let desc = SurfaceDesc::packed(8, 8, X);
    let fill = |color| {
        [Op2d::Fill {
            dst: Surface::new(&frame, desc),
            rect: Rect::new(0, 0, 8, 8),
            color: Color(color),
        }]
    };
    with_worker(&engine, || {
        engine.set_stalled(true);
        let mut s = d.set();
        s.add(&frame, Access::dma_write(G2D)).unwrap();
        let hung = engine
            .submit(s.lock().unwrap(), &fill(0xFF11_1111), None)
            .map_err(|r| r.error)
            .unwrap();

        // A CPU reader waits for the engine; the watchdog releases it with a timeout.
        let mut r = d.set();
        r.add(&frame, Access::CPU_READ).unwrap();
        assert_eq!(
            r.lock().err(),
            Some(SyncError::Predecessor {
                buffer: "frame",
                error: FenceError::Timeout
            })
        );
        assert_eq!(d.stats().expired, 1);
        assert_eq!(
            hung.status(),
            FenceStatus::Pending,
            "the engine is still hung"
        );
        assert_eq!(engine.pending(), 1);

        // Reset abandons the hung job; the engine works again.
        assert_eq!(engine.reset(), 1);
        assert_eq!(
            hung.status(),
            FenceStatus::Err(FenceError::DeviceError(ABANDONED))
        );
        assert!(!engine.is_stalled());
        assert_eq!(engine.pending(), 0);
        let mut s = d.set();
        s.add(&frame, Access::dma_write(G2D)).unwrap();
        let ok = engine
            .submit(s.lock().unwrap(), &fill(0xFF22_2222), None)
            .map_err(|r| r.error)
            .unwrap();
        assert_eq!(ok.wait(), Ok(()));
    });
    assert!(
        cpu_read(&d, &frame)
            .chunks(4)
            .all(|p| p == [0x22, 0x22, 0x22, 0xFF])
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_job_whose_set_expired_never_touches_the_buffers() {
    let sim = sim();
    let d = domain(
        &sim,
        SyncConfig {
            hold_deadline: Duration::from_millis(20),
            watchdog_poll: Duration::from_millis(5),
            ..SyncConfig::default()
        },
    );
    let engine = engine(&sim, Soft2dConfig::default());
    let frame = buffer(&d, &sim, "frame", 256);
    engine.set_stalled(true);
    let mut s = d.set();
    s.add(&frame, Access::dma_write(G2D)).unwrap();
    let f = engine
        .submit(
            s.lock().unwrap(),
            &[Op2d::Fill {
                dst: Surface::new(&frame, SurfaceDesc::packed(8, 8, X)),
                rect: Rect::new(0, 0, 8, 8),
                color: Color(0xFFFF_FFFF),
            }],
            None,
        )
        .map_err(|r| r.error)
        .unwrap();
    // The watchdog takes the buffer back; the CPU then owns it.
    while d.check_deadlines() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // The engine comes back to life: the job must not run on buffers it no longer holds.
    engine.set_stalled(false);
    assert_eq!(engine.run_one(), Step::Completed(Err(FenceError::Timeout)));
    assert_eq!(f.status(), FenceStatus::Err(FenceError::Timeout));
    assert!(cpu_read(&d, &frame).iter().all(|&b| b == 0));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn submitters_on_several_threads_share_one_worker() {
    let sim = sim();
    let d = domain(&sim, SyncConfig::default());
    let engine = engine(
        &sim,
        Soft2dConfig {
            queue_depth: 3,
            ..Soft2dConfig::default()
        },
    );
    let bufs: Vec<Buffer> = ["t0", "t1", "t2", "t3"]
        .iter()
        .map(|n| buffer(&d, &sim, n, 16 * 16 * 4))
        .collect();
    let desc = SurfaceDesc::packed(16, 16, X);
    with_worker(&engine, || {
        std::thread::scope(|s| {
            for (t, buf) in bufs.iter().enumerate() {
                let (d, engine) = (&d, &engine);
                s.spawn(move || {
                    dmasync_sim::set_current_cpu(t % 2);
                    for i in 0..20u32 {
                        let op = [Op2d::Fill {
                            dst: Surface::new(buf, desc),
                            rect: Rect::new(i % 16, 0, 1, 16),
                            color: Color(0xFF00_0000 | (t as u32) << 8 | i),
                        }];
                        // A full queue gives the set back: submit it again.
                        let mut set = d.set();
                        set.add(buf, Access::dma_write(G2D)).unwrap();
                        let mut locked = set.lock().unwrap();
                        let fence = loop {
                            match engine.submit(locked, &op, None) {
                                Ok(f) => break f,
                                Err(r) => {
                                    assert_eq!(r.error, EngineError::QueueFull);
                                    locked = r.returned;
                                    std::thread::yield_now();
                                }
                            }
                        };
                        assert_eq!(fence.wait(), Ok(()));
                    }
                });
            }
        });
    });
    assert_eq!(engine.pending(), 0);
    for (t, buf) in bufs.iter().enumerate() {
        let got = cpu_read(&d, buf);
        for x in 0..16usize {
            // Column x was last filled by i = x + 16 when that exists (i < 20), else i = x.
            let i = if x + 16 < 20 { x + 16 } else { x } as u8;
            assert_eq!(
                &got[x * 4..x * 4 + 4],
                &[i, t as u8, 0, 0xFF],
                "t{t} column {x}"
            );
        }
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}
