//! What the ISI driver refuses (each a clear `Err`, no register written, the set back
//! untouched) and how faults reach the caller: a hang through the watchdog, an AXI error
//! through the interrupt, both as fence errors, the channel usable afterwards.
#![forbid(unsafe_code)]

mod common;

use common::*;
use dmasync_engine::{
    Color, Engine2d, Engine2dControl, EngineError, Flip, Op2d, PixelFormat, Point, Rect, Surface,
};
use dmasync_isi::{BUS_ERROR, WATCHDOG_RESET};
use dmasync_isi_model::{Fault, IsiModel, ModelError};
use dmasync_soft::ABANDONED;
use dmasync_sync::fence::FenceError;
use dmasync_sync::syncset::Access;

const X: PixelFormat = PixelFormat::Xrgb8888;
const A: PixelFormat = PixelFormat::Argb8888;
const R: PixelFormat = PixelFormat::Rgb565;
const Y: PixelFormat = PixelFormat::Yuyv;

#[test]
fn refused_commands_write_no_register() {
    let sim = sim();
    let d = domain(&sim);
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    let big = 64 * 1024;
    let a = buffer(&d, &sim, "a", big);
    let b = buffer(&d, &sim, "b", big);
    let wide = buffer(&d, &sim, "wide", 3 * 4096);
    let unlocked = buffer(&d, &sim, "unlocked", 4096);
    let s = |buf, f, w, h| Surface::new(buf, desc(f, w, h, 0, 0));
    let conv = |dst, to, src, from| Op2d::Convert {
        dst,
        to,
        src,
        from,
        flip: Flip::NONE,
    };
    let r = Rect::new;
    let cases: Vec<(Op2d<'_>, EngineError)> = vec![
        (
            Op2d::Fill {
                dst: s(&a, X, 16, 16),
                rect: r(0, 0, 4, 4),
                color: Color(1),
            },
            EngineError::Unsupported("solid fill (the ISI has none)"),
        ),
        (
            Op2d::Copy {
                dst: s(&a, X, 16, 16),
                to: Point::new(0, 0),
                src: s(&b, X, 16, 16),
                from: r(0, 0, 4, 4),
            },
            EngineError::Unsupported("copy (the ISI converts, rewriting the X byte; use Convert)"),
        ),
        (
            Op2d::Blend {
                dst: s(&a, X, 16, 16),
                to: Point::new(0, 0),
                src: s(&b, A, 16, 16),
                from: r(0, 0, 4, 4),
                alpha: 255,
            },
            EngineError::Unsupported("alpha blend (the ISI has none)"),
        ),
        (
            conv(
                s(&a, X, 32, 32),
                r(0, 0, 17, 16),
                s(&b, X, 16, 16),
                r(0, 0, 16, 16),
            ),
            EngineError::Unsupported("scaling up (this engine scales down only)"),
        ),
        (
            conv(
                s(&a, X, 32, 32),
                r(0, 0, 8, 16),
                s(&b, X, 16, 16),
                r(0, 0, 16, 16),
            ),
            EngineError::Unsupported("down-scaling by more than the engine's largest factor"),
        ),
        (
            conv(
                s(&a, X, 16, 16),
                r(0, 0, 16, 16),
                s(&b, A, 16, 16),
                r(0, 0, 16, 16),
            ),
            EngineError::Unsupported("convert source pixel format not read by this engine"),
        ),
        (
            conv(
                s(&a, Y, 16, 16),
                r(0, 0, 16, 16),
                s(&b, X, 16, 16),
                r(0, 0, 16, 16),
            ),
            EngineError::Unsupported("convert destination pixel format not written by this engine"),
        ),
        (
            conv(
                s(&a, X, 16, 16),
                r(0, 0, 8, 8),
                s(&b, Y, 16, 16),
                r(1, 0, 8, 8),
            ),
            EngineError::Unsupported(
                "a YUYV crop at an odd column or of odd width (the input reads whole pairs)",
            ),
        ),
        (
            conv(
                s(&a, X, 16, 16),
                r(0, 0, 16, 16),
                s(&a, R, 16, 16),
                r(0, 0, 16, 16),
            ),
            EngineError::Unsupported("convert with source and destination in one buffer"),
        ),
        (
            conv(
                s(&a, X, 16, 16),
                r(1, 0, 16, 16),
                s(&b, R, 16, 16),
                r(0, 0, 16, 16),
            ),
            EngineError::OutOfBounds {
                buffer: "a",
                what: "convert destination",
            },
        ),
        (
            conv(
                s(&a, X, 16, 16),
                r(0, 0, 16, 16),
                s(&b, R, 16, 16),
                r(0, 1, 16, 16),
            ),
            EngineError::OutOfBounds {
                buffer: "b",
                what: "convert source",
            },
        ),
        (
            conv(
                s(&a, X, 16, 16),
                r(0, 0, 16, 16),
                s(&b, R, 16, 4096),
                r(0, 0, 16, 16),
            ),
            EngineError::OutOfBounds {
                buffer: "b",
                what: "surface",
            },
        ),
        (
            conv(
                s(&a, X, 16, 16),
                r(0, 0, 16, 16),
                s(&wide, R, 3000, 2),
                r(0, 0, 3000, 1),
            ),
            EngineError::Unsupported("scaling up (this engine scales down only)"),
        ),
        (
            conv(
                s(&a, X, 1536, 8),
                r(0, 0, 1536, 1),
                s(&wide, X, 3000, 1),
                r(0, 0, 3000, 1),
            ),
            EngineError::Unsupported("an input line over 2048 pixels (needs line-buffer chaining)"),
        ),
        (
            conv(
                s(&a, X, 16, 16),
                r(0, 0, 16, 16),
                s(&unlocked, R, 16, 16),
                r(0, 0, 16, 16),
            ),
            EngineError::NotLockedFor {
                buffer: "unlocked",
                wanted: "read",
            },
        ),
    ];
    let writes = m.writes();
    for (op, want) in cases {
        let mut set = d.set();
        set.add(&a, Access::dma_read_write(ISI)).unwrap();
        set.add(&b, Access::dma_read(ISI)).unwrap();
        set.add(&wide, Access::dma_read(ISI)).unwrap();
        let r = g.submit(set.lock().unwrap(), &[op], None);
        let Err(rej) = r else {
            panic!("accepted {want:?}")
        };
        assert_eq!(rej.error, want);
        rej.returned.unlock().unwrap();
        assert_eq!(m.writes(), writes, "no register written for {want:?}");
        assert_eq!(g.pending(), 0);
    }
    // Write access to the destination is needed, read access to the source.
    let mut set = d.set();
    set.add(&a, Access::dma_read(ISI)).unwrap();
    set.add(&b, Access::dma_read(ISI)).unwrap();
    let op = conv(
        s(&a, X, 16, 16),
        r(0, 0, 16, 16),
        s(&b, R, 16, 16),
        r(0, 0, 16, 16),
    );
    let rej = g.submit(set.lock().unwrap(), &[op], None).err().unwrap();
    assert_eq!(
        rej.error,
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "write"
        }
    );
    assert_eq!(m.writes(), writes);
    assert_eq!(m.errors(), vec![]);
}

/// One 16x16 RGB565 to XRGB8888 Convert between two fresh buffers.
struct Rig<'s> {
    d: Domain<'s>,
    src: dmasync_sync::syncset::SyncBuffer,
    dst: dmasync_sync::syncset::SyncBuffer,
}

impl<'s> Rig<'s> {
    fn new(sim: &'s dmasync_sim::NonCoherentSim) -> Self {
        let d = domain(sim);
        let src = buffer(&d, sim, "src", 1024);
        let dst = buffer(&d, sim, "dst", 1024);
        cpu_write(&d, &src, &pattern(1024, 3));
        Self { d, src, dst }
    }

    fn submit(&self, g: &Driver<'_, '_>) -> dmasync_sync::fence::Fence {
        let mut set = self.d.set();
        set.add(&self.src, Access::dma_read(ISI)).unwrap();
        set.add(&self.dst, Access::dma_write(ISI)).unwrap();
        let op = Op2d::Convert {
            dst: Surface::new(&self.dst, desc(X, 16, 16, 0, 0)),
            to: Rect::new(0, 0, 16, 16),
            src: Surface::new(&self.src, desc(R, 16, 16, 0, 0)),
            from: Rect::new(0, 0, 16, 16),
            flip: Flip::NONE,
        };
        g.submit(set.lock().unwrap(), &[op], None)
            .map_err(|r| r.error)
            .unwrap()
    }
}

/// A hung channel: the fence stays pending until the watchdog resets the channel and fails
/// the job with `DeviceError(WATCHDOG_RESET)`; the next job runs normally.
#[test]
fn a_hang_reaches_the_caller_through_the_watchdog() {
    let sim = sim();
    let rig = Rig::new(&sim);
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    m.inject(Fault::Hang);
    let f = rig.submit(&g);
    assert!(!m.run(), "a hung frame raises nothing");
    assert!(!f.is_signalled());
    let resets = m.resets();
    assert!(!g.watchdog() && !g.watchdog(), "within its ticks");
    assert!(g.watchdog(), "then it resets");
    assert_eq!(f.wait(), Err(FenceError::DeviceError(WATCHDOG_RESET)));
    assert_eq!(m.resets(), resets + 1);
    assert!(!m.busy());
    assert_eq!(g.watchdog_resets(), 1);
    let f = rig.submit(&g);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.wait(), Ok(()));
    assert_eq!(m.errors(), vec![]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// A bus error: the ISI reports AXI_RD_ERR with its interrupt; the driver resets the
/// channel and fails the job with `DeviceError(BUS_ERROR)`; the next job runs.
#[test]
fn a_bus_error_reaches_the_caller_through_the_interrupt() {
    let sim = sim();
    let rig = Rig::new(&sim);
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    m.inject(Fault::BusError);
    let f = rig.submit(&g);
    assert!(m.run(), "the AXI error interrupt is raised");
    assert_eq!(g.on_interrupt(), 1);
    assert_eq!(f.wait(), Err(FenceError::DeviceError(BUS_ERROR)));
    assert_eq!(g.bus_errors(), 1);
    assert!(!m.busy(), "the driver reset the channel");
    assert!(matches!(m.errors()[..], [ModelError::BusError { .. }]));
    let f = rig.submit(&g);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.wait(), Ok(()));
    assert_eq!(m.errors().len(), 1, "no new model error");
}

/// `reset` abandons the running and the queued jobs, after the channel reset.
#[test]
fn reset_abandons_everything() {
    let sim = sim();
    let (rig, rig2) = (Rig::new(&sim), Rig::new(&sim));
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    m.inject(Fault::Hang);
    let f1 = rig.submit(&g);
    let f2 = rig2.submit(&g);
    assert_eq!(g.pending(), 2);
    assert_eq!(g.reset(), 2);
    assert_eq!(f1.wait(), Err(FenceError::DeviceError(ABANDONED)));
    assert_eq!(f2.wait(), Err(FenceError::DeviceError(ABANDONED)));
    assert!(!m.busy());
    assert_eq!(g.pending(), 0);
    let f = rig.submit(&g);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.wait(), Ok(()));
}

/// The queue holds `queue_depth` jobs; the next is `QueueFull` with its set back.
#[test]
fn a_full_queue_is_refused() {
    let sim = sim();
    let rigs: Vec<Rig> = (0..5).map(|_| Rig::new(&sim)).collect();
    let m = IsiModel::new(&sim, ISI);
    let g = driver(&m);
    m.inject(Fault::Hang);
    let fences: Vec<_> = rigs[..4].iter().map(|r| r.submit(&g)).collect();
    let rig = &rigs[4];
    let mut set = rig.d.set();
    set.add(&rig.src, Access::dma_read(ISI)).unwrap();
    set.add(&rig.dst, Access::dma_write(ISI)).unwrap();
    let op = Op2d::Convert {
        dst: Surface::new(&rig.dst, desc(X, 16, 16, 0, 0)),
        to: Rect::new(0, 0, 16, 16),
        src: Surface::new(&rig.src, desc(R, 16, 16, 0, 0)),
        from: Rect::new(0, 0, 16, 16),
        flip: Flip::NONE,
    };
    let rej = g.submit(set.lock().unwrap(), &[op], None).err().unwrap();
    assert_eq!(rej.error, EngineError::QueueFull);
    drop(rej);
    g.reset();
    for f in fences {
        assert!(f.wait().is_err());
    }
}
