//! Every refusal is a clear `Err` that wrote no register (the model's write log does not
//! grow); a hung engine and a bus error reach the job's fence through the watchdog path
//! (SOFT_RESET), and the engine works again afterwards; `reset` abandons everything.

mod common;

use common::*;
use dmasync_engine::{
    Color, Engine2d, Engine2dControl, EngineError, Op2d, PixelFormat, Point, Rect, Surface,
    SurfaceDesc,
};
use dmasync_fimg2d::{Fimg2d, Fimg2dConfig, Version, WATCHDOG_RESET};
use dmasync_fimg2d_model::{Fault, ModelError};
use dmasync_soft::ABANDONED;
use dmasync_sync::fence::{FenceError, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer};

const X: PixelFormat = PixelFormat::Xrgb8888;
const A: PixelFormat = PixelFormat::Argb8888;

/// Submits `ops` with `access` per buffer and expects `want`, with no register written.
fn refused(
    g: &Driver<'_, '_>,
    m: &dmasync_fimg2d_model::Fimg2dModel<'_>,
    d: &Domain<'_>,
    bufs: &[(&SyncBuffer, Access)],
    ops: &[Op2d<'_>],
    want: EngineError,
) {
    let before = m.writes().len();
    let pending = g.pending();
    let mut s = d.set();
    for (b, a) in bufs {
        s.add(b, *a).unwrap();
    }
    let l = s.lock().unwrap();
    let r = g.submit(l, ops, None).expect_err("must be refused");
    assert_eq!(r.error, want);
    assert_eq!(
        m.writes().len(),
        before,
        "a refused command wrote a register: {want:?}"
    );
    r.returned.unlock().unwrap();
    assert_eq!(g.pending(), pending, "nothing queued");
}

#[test]
fn every_bad_command_is_refused_before_a_register_is_written() {
    for v in BOTH {
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        let xd = SurfaceDesc::packed(16, 16, X);
        let ad = SurfaceDesc::packed(16, 16, A);
        let a = buffer(&d, &sim, "a", 16 * 16 * 4);
        let b = buffer(&d, &sim, "b", 16 * 16 * 4);
        let fill = |buf, desc, rect| Op2d::Fill {
            dst: Surface::new(buf, desc),
            rect,
            color: Color(1),
        };
        let w = |buf| (buf, Access::dma_write(G2D));
        let r = |buf| (buf, Access::dma_read(G2D));
        let rw = |buf| (buf, Access::dma_read_write(G2D));
        let all = Rect::new(0, 0, 16, 16);

        refused(&g, &m, &d, &[w(&a)], &[], EngineError::Empty);
        refused(
            &g,
            &m,
            &d,
            &[w(&a)],
            &[fill(&a, xd, all); 9],
            EngineError::Unsupported("more commands in one submission than max_ops"),
        );
        refused(
            &g,
            &m,
            &d,
            &[w(&a)],
            &[fill(&a, xd, Rect::new(10, 0, 7, 1))],
            EngineError::OutOfBounds {
                buffer: "a",
                what: "fill rect",
            },
        );
        refused(
            &g,
            &m,
            &d,
            &[r(&a)],
            &[fill(&a, xd, all)],
            EngineError::NotLockedFor {
                buffer: "a",
                wanted: "write",
            },
        );
        refused(
            &g,
            &m,
            &d,
            &[(&a, Access::dma_write(OTHER))],
            &[fill(&a, xd, all)],
            EngineError::NotLockedFor {
                buffer: "a",
                wanted: "write",
            },
        );
        refused(
            &g,
            &m,
            &d,
            &[w(&a)],
            &[fill(&b, xd, all)],
            EngineError::NotLockedFor {
                buffer: "b",
                wanted: "write",
            },
        );
        let too_big = SurfaceDesc { offset: 4, ..xd };
        refused(
            &g,
            &m,
            &d,
            &[w(&a)],
            &[fill(&a, too_big, all)],
            EngineError::OutOfBounds {
                buffer: "a",
                what: "surface",
            },
        );
        let huge = buffer(&d, &sim, "huge", 8001 * 4);
        refused(
            &g,
            &m,
            &d,
            &[w(&huge)],
            &[fill(
                &huge,
                SurfaceDesc::packed(8001, 1, X),
                Rect::new(0, 0, 1, 1),
            )],
            EngineError::Unsupported("surface wider or taller than the G2D's 8000 pixels"),
        );
        // A good command before a bad one: the whole submission is refused.
        refused(
            &g,
            &m,
            &d,
            &[w(&a)],
            &[fill(&a, xd, all), fill(&a, xd, Rect::new(0, 16, 1, 1))],
            EngineError::OutOfBounds {
                buffer: "a",
                what: "fill rect",
            },
        );

        let copy = |dst, dd, to, src, sd, from| Op2d::Copy {
            dst: Surface::new(dst, dd),
            to,
            src: Surface::new(src, sd),
            from,
        };
        refused(
            &g,
            &m,
            &d,
            &[w(&b), r(&a)],
            &[copy(&b, xd, Point::new(0, 0), &a, ad, all)],
            EngineError::Unsupported("copy between pixel formats (the G2D would convert)"),
        );
        refused(
            &g,
            &m,
            &d,
            &[w(&b), r(&a)],
            &[copy(&b, xd, Point::new(1, 0), &a, xd, all)],
            EngineError::OutOfBounds {
                buffer: "b",
                what: "blit destination",
            },
        );
        refused(
            &g,
            &m,
            &d,
            &[w(&b), r(&a)],
            &[copy(
                &b,
                xd,
                Point::new(0, 0),
                &a,
                xd,
                Rect::new(0, 1, 16, 16),
            )],
            EngineError::OutOfBounds {
                buffer: "a",
                what: "blit source",
            },
        );
        refused(
            &g,
            &m,
            &d,
            &[w(&b), w(&a)],
            &[copy(&b, xd, Point::new(0, 0), &a, xd, all)],
            EngineError::NotLockedFor {
                buffer: "a",
                wanted: "read",
            },
        );
        refused(
            &g,
            &m,
            &d,
            &[rw(&a)],
            &[copy(
                &a,
                xd,
                Point::new(2, 2),
                &a,
                xd,
                Rect::new(0, 0, 8, 8),
            )],
            EngineError::Unsupported(
                "overlapping source and destination (needs the G2D direction registers)",
            ),
        );

        let blend = |dst, dd, src, sd| Op2d::Blend {
            dst: Surface::new(dst, dd),
            to: Point::new(0, 0),
            src: Surface::new(src, sd),
            from: all,
            alpha: 255,
        };
        match v {
            Version::V30 => refused(
                &g,
                &m,
                &d,
                &[rw(&b), r(&a)],
                &[blend(&b, xd, &a, ad)],
                EngineError::Unsupported(
                    "alpha blend on FIMG2D v3.0 (no BLEND_FUNCTION; its blend controls are not public)",
                ),
            ),
            Version::V41 => {
                refused(
                    &g,
                    &m,
                    &d,
                    &[rw(&b), r(&a)],
                    &[blend(&b, ad, &a, ad)],
                    EngineError::Unsupported(
                        "blend into an ARGB8888 destination (the G2D's alpha-channel arithmetic is not public)",
                    ),
                );
                refused(
                    &g,
                    &m,
                    &d,
                    &[w(&b), r(&a)],
                    &[blend(&b, xd, &a, ad)],
                    EngineError::NotLockedFor {
                        buffer: "b",
                        wanted: "read+write",
                    },
                );
            }
        }
        assert_eq!(m.blits(), 0);
        assert_eq!(m.errors(), vec![]);
        assert!(sim.violations().is_empty());
    }
}

#[test]
fn a_full_queue_is_refused_without_a_register_write() {
    for v in BOTH {
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        let desc = SurfaceDesc::packed(4, 4, A);
        let bufs: Vec<_> = ["b0", "b1", "b2", "b3", "b4"]
            .iter()
            .map(|n| buffer(&d, &sim, n, 64))
            .collect();
        let op = |b| Op2d::Fill {
            dst: Surface::new(b, desc),
            rect: Rect::new(0, 0, 4, 4),
            color: Color(9),
        };
        let mut fences = Vec::new();
        for b in &bufs[..4] {
            let mut s = d.set();
            s.add(b, Access::dma_write(G2D)).unwrap();
            fences.push(g.submit(s.lock().unwrap(), &[op(b)], None).unwrap());
        }
        refused(
            &g,
            &m,
            &d,
            &[(&bufs[4], Access::dma_write(G2D))],
            &[op(&bufs[4])],
            EngineError::QueueFull,
        );
        drive(&m, &g);
        assert!(fences.iter().all(|f| f.status() == FenceStatus::Ok));
        assert_eq!(m.errors(), vec![], "{v:?}: no write while busy");
    }
}

fn one_fill(
    d: &Domain<'_>,
    g: &Driver<'_, '_>,
    b: &SyncBuffer,
    color: u32,
) -> dmasync_sync::fence::Fence {
    let desc = SurfaceDesc::packed(8, 8, A);
    let mut s = d.set();
    s.add(b, Access::dma_write(G2D)).unwrap();
    let op = Op2d::Fill {
        dst: Surface::new(b, desc),
        rect: Rect::new(0, 0, 8, 8),
        color: Color(color),
    };
    g.submit(s.lock().unwrap(), &[op], None).unwrap()
}

#[test]
fn a_hung_engine_is_reset_by_the_watchdog_and_runs_the_next_job() {
    for v in BOTH {
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        let b = buffer(&d, &sim, "b", 256);
        let c = buffer(&d, &sim, "c", 256);
        m.inject(Fault::Hang);
        let hung = one_fill(&d, &g, &b, 0x5555_5555);
        let next = one_fill(&d, &g, &c, 0x6666_6666);
        drive(&m, &g);
        assert!(
            m.busy() && hung.status() == FenceStatus::Pending,
            "{v:?}: the engine hangs"
        );
        let resets = m.resets();
        assert!(!g.watchdog());
        assert!(!g.watchdog());
        assert!(g.watchdog(), "the third tick without progress resets");
        assert_eq!(
            hung.status(),
            FenceStatus::Err(FenceError::DeviceError(WATCHDOG_RESET))
        );
        // The watchdog's SOFT_RESET; on v3.0 also the next command's own (v4.1 lists
        // clear the SFRs with SFRCLEAR only).
        let own = u32::from(v == Version::V30);
        assert_eq!(m.resets(), resets + 1 + own);
        assert_eq!(g.watchdog_resets(), 1);
        drive(&m, &g);
        assert_eq!(
            next.status(),
            FenceStatus::Ok,
            "the next job ran after the reset"
        );
        assert_eq!(cpu_read(&d, &c), [0x66u8; 256]);
        assert_eq!(m.errors(), vec![], "no write while busy, none lost");
        assert!(sim.violations().is_empty());
    }
}

#[test]
fn a_bus_error_reaches_the_fence_through_the_watchdog() {
    for v in BOTH {
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        let b = buffer(&d, &sim, "b", 256);
        m.inject(Fault::BusError);
        let f = one_fill(&d, &g, &b, 0x7777_7777);
        drive(&m, &g);
        assert_eq!(f.status(), FenceStatus::Pending);
        assert!((0..10).any(|_| g.watchdog()), "the watchdog resets");
        assert_eq!(
            f.status(),
            FenceStatus::Err(FenceError::DeviceError(WATCHDOG_RESET))
        );
        let errors = m.errors();
        assert!(
            matches!(errors.as_slice(), [ModelError::BusError { .. }]),
            "{v:?}: {errors:?}"
        );
        // The engine works again.
        let f = one_fill(&d, &g, &b, 0x0101_0101);
        drive(&m, &g);
        assert_eq!(f.status(), FenceStatus::Ok);
        assert_eq!(cpu_read(&d, &b), [1u8; 256]);
        assert!(sim.violations().is_empty());
    }
}

#[test]
fn reset_abandons_the_running_and_queued_jobs() {
    for v in BOTH {
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        let b = buffer(&d, &sim, "b", 256);
        let c = buffer(&d, &sim, "c", 256);
        m.inject(Fault::Hang);
        let f1 = one_fill(&d, &g, &b, 1);
        let f2 = one_fill(&d, &g, &c, 2);
        assert_eq!(g.pending(), 2);
        assert_eq!(g.reset(), 2);
        assert_eq!(
            f1.status(),
            FenceStatus::Err(FenceError::DeviceError(ABANDONED))
        );
        assert_eq!(
            f2.status(),
            FenceStatus::Err(FenceError::DeviceError(ABANDONED))
        );
        assert!(!m.busy(), "SOFT_RESET stopped the engine");
        assert_eq!(g.pending(), 0);
        let f = one_fill(&d, &g, &c, 3);
        drive(&m, &g);
        assert_eq!(f.status(), FenceStatus::Ok);
        assert_eq!(m.errors(), vec![]);
    }
}

#[test]
fn bad_configurations_are_refused() {
    let sim = sim();
    let m = model(&sim, Version::V41);
    let base = config(Version::V41);
    let bad = |c: Fimg2dConfig| Fimg2d::new(&m, c, &sim, &sim).unwrap_err();
    assert_eq!(
        bad(Fimg2dConfig {
            queue_depth: 0,
            ..base
        }),
        EngineError::Unsupported("a queue depth of 0")
    );
    assert_eq!(
        bad(Fimg2dConfig { max_ops: 0, ..base }),
        EngineError::Unsupported("max_ops of 0")
    );
    assert_eq!(
        bad(Fimg2dConfig {
            max_ops: 65,
            ..base
        }),
        EngineError::Unsupported(
            "more than 64 commands per submission on v4.1 (one command list each)"
        )
    );
}

/// The G2D driver offers no Convert and works on the 32-bit formats only: a scaled or
/// converted blit and a fill of an RGB565 surface are refused with no register written, and
/// the capabilities say so.
#[test]
fn convert_and_other_formats_are_refused() {
    for v in BOTH {
        let sim = sim();
        let d = domain(&sim);
        let m = model(&sim, v);
        let g = driver(&m, &sim);
        assert_eq!(g.capabilities().convert, None);
        let a = buffer(&d, &sim, "a", 1024);
        let b = buffer(&d, &sim, "b", 1024);
        let x = SurfaceDesc::packed(8, 8, X);
        let op = Op2d::Convert {
            dst: Surface::new(&a, x),
            to: Rect::new(0, 0, 4, 4),
            src: Surface::new(&b, x),
            from: Rect::new(0, 0, 8, 8),
            flip: dmasync_engine::Flip::NONE,
        };
        refused(
            &g,
            &m,
            &d,
            &[(&a, Access::dma_write(G2D)), (&b, Access::dma_read(G2D))],
            &[op],
            EngineError::Unsupported("scaled/converted blit (not offered by the FIMG2D driver)"),
        );
        let fill = Op2d::Fill {
            dst: Surface::new(&a, SurfaceDesc::packed(8, 8, PixelFormat::Rgb565)),
            rect: Rect::new(0, 0, 8, 8),
            color: Color(1),
        };
        refused(
            &g,
            &m,
            &d,
            &[(&a, Access::dma_write(G2D))],
            &[fill],
            EngineError::Unsupported("pixel format (the G2D driver handles XRGB8888 and ARGB8888)"),
        );
    }
}
