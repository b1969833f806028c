//! What the host can prove without a model of the DMA (there is none; QEMU's `raspi3b`
//! is the validator): the register sequences the driver writes, the control blocks it
//! leaves cleaned in memory (read back as the DMA would, through the simulator), and that
//! every refusal is a clear `Err` before any register is read or written. The register
//! block here only records accesses and reads 0: a channel that never reports anything.

use std::sync::Mutex;

use dmasync_bcm2835_dma::{Bcm2835Dma, Bcm2835DmaConfig, WATCHDOG_RESET};
use dmasync_engine::dma::{DmaEngine, Span};
use dmasync_engine::error::EngineError;
use dmasync_engine::gfx2d::{Color, Engine2d, Engine2dControl, Flip, Op2d};
use dmasync_engine::surface::{PixelFormat, Point, Rect, Surface, SurfaceDesc};
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory};
use dmasync_hal::mmio::RegisterIo;
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_soft::ABANDONED;
use dmasync_sync::fence::{Fence, FenceError};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

const DMA: DeviceId = DeviceId(0);
const OTHER: DeviceId = DeviceId(1);
// Offsets and bits as the Peripherals document gives them (§4.2.1.2, Linux BCM2835_DMA_*).
const CS: usize = 0x00;
const CONBLK_AD: usize = 0x04;
const DEBUG: usize = 0x20;
const ENABLE: usize = 0xFF0;
const ACTIVE: u32 = 1;
const RESET: u32 = 1 << 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    R(usize),
    W(usize, u32),
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Reg>>);

impl Recorder {
    fn log(&self) -> Vec<Reg> {
        self.0.lock().unwrap().clone()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn since(&self, n: usize) -> Vec<Reg> {
        self.0.lock().unwrap()[n..].to_vec()
    }
}

impl RegisterIo for Recorder {
    fn read32(&self, offset: usize) -> u32 {
        self.0.lock().unwrap().push(Reg::R(offset));
        0
    }
    fn write32(&self, offset: usize, value: u32) {
        self.0.lock().unwrap().push(Reg::W(offset, value));
    }
}

type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
type Driver<'r, 's> = Bcm2835Dma<&'r Recorder, &'s NonCoherentSim>;

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 4 << 20,
        eviction: Eviction::Random { seed: 3 },
        lines_per_cpu: 32,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("bcm2835-dma", Coherency::NonCoherent), DMA);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

fn config(channels: u16) -> Bcm2835DmaConfig {
    Bcm2835DmaConfig {
        device: DMA,
        channels,
        cbs_per_channel: 4,
        queue_depth: 4,
        watchdog_ticks: 2,
    }
}

fn driver<'r, 's>(r: &'r Recorder, sim: &'s NonCoherentSim, channels: u16) -> Driver<'r, 's> {
    Bcm2835Dma::new(r, config(channels), sim, sim).unwrap()
}

fn buffer(d: &Domain<'_>, sim: &NonCoherentSim, name: &'static str, len: usize) -> SyncBuffer {
    d.buffer(name, sim.alloc(len, Coherency::NonCoherent).unwrap())
        .unwrap()
}

fn span(b: &SyncBuffer, offset: usize, len: usize) -> Span<'_> {
    Span {
        buffer: b,
        offset,
        len,
    }
}

fn bus(b: &SyncBuffer, offset: usize) -> u32 {
    (b.region().bus().0 + offset as u64) as u32
}

/// The control block at `at` as the DMA would fetch it.
fn fetch_cb(sim: &NonCoherentSim, at: u32) -> [u32; 8] {
    let mut b = [0u8; 32];
    sim.device_read(DMA, BusAddr(at as u64), &mut b);
    core::array::from_fn(|i| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()))
}

fn error_of(f: &Fence) -> Option<FenceError> {
    f.status().result().and_then(Result::err)
}

/// Submits a copy with `bufs` locked and expects it refused with `want`, with no register
/// read or written and nothing queued.
fn refused_copy(
    r: &Recorder,
    g: &Driver<'_, '_>,
    d: &Domain<'_>,
    bufs: &[(&SyncBuffer, Access)],
    dst: Span<'_>,
    src: Span<'_>,
    want: EngineError,
) {
    let (before, pending) = (r.len(), g.pending());
    let mut s = d.set();
    for (b, a) in bufs {
        s.add(b, *a).unwrap();
    }
    let rej = g
        .copy(s.lock().unwrap(), dst, src, None)
        .expect_err("refused");
    assert_eq!(rej.error, want);
    assert_eq!(r.len(), before, "{want:?} touched a register");
    assert_eq!(g.pending(), pending);
    rej.returned.unlock().unwrap();
}

fn unsupported(e: &EngineError) -> &'static str {
    match e {
        EngineError::Unsupported(why) => why,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn new_resets_and_enables_only_its_channels_and_refuses_bad_configurations() {
    let sim = sim();
    let r = Recorder::default();
    let _g = driver(&r, &sim, 1 << 0 | 1 << 7);
    use Reg::*;
    assert_eq!(
        r.log(),
        [
            // Neither channel is active (someone else's) ...
            R(CS),
            R(0x700 + CS),
            // ... so both are enabled, reset and their DEBUG error flags cleared; channel 7
            // is lite by number, channel 0 by its DEBUG.LITE bit.
            R(ENABLE),
            W(ENABLE, 0x81),
            W(CS, RESET),
            W(DEBUG, 0b111),
            R(DEBUG),
            W(0x700 + CS, RESET),
            W(0x700 + DEBUG, 0b111),
        ]
    );
    for (channels, cbs, depth) in [
        (0, 4, 4),
        (1 << 15, 4, 4),
        (1, 0, 4),
        (1, 1025, 4),
        (1, 4, 0),
    ] {
        let r = Recorder::default();
        let cfg = Bcm2835DmaConfig {
            cbs_per_channel: cbs,
            queue_depth: depth,
            ..config(channels)
        };
        let e = Bcm2835Dma::new(&r, cfg, &sim, &sim).expect_err("bad configuration");
        assert!(!unsupported(&e).is_empty());
        assert!(r.log().is_empty(), "{e:?} touched a register");
    }
}

#[test]
fn every_bad_copy_or_fill_is_refused_before_any_register_access() {
    let sim = sim();
    let d: Domain<'_> = SyncDomain::new(&sim, SyncConfig::default());
    let r = Recorder::default();
    let g = driver(&r, &sim, 1);
    let a = buffer(&d, &sim, "a", 1 << 16);
    let b = buffer(&d, &sim, "b", 1 << 16);
    let ok = [(&a, Access::dma_write(DMA)), (&b, Access::dma_read(DMA))];
    let unsup = |why: &'static str| EngineError::Unsupported(why);
    let odd = unsup("copy address or length not a multiple of 4 bytes");
    // Lengths and offsets QEMU would never finish (raspi3b.md §7) and hardware cannot move.
    for (doff, soff, len) in [(0, 0, 6), (0, 0, 1), (0, 0, 4094), (2, 0, 8), (0, 1, 8)] {
        refused_copy(
            &r,
            &g,
            &d,
            &ok,
            span(&a, doff, len),
            span(&b, soff, len),
            odd.clone(),
        );
    }
    refused_copy(
        &r,
        &g,
        &d,
        &ok,
        span(&a, 0, 8),
        span(&b, 0, 12),
        EngineError::BadSurface {
            buffer: "a",
            why: "copy destination and source differ in length",
        },
    );
    refused_copy(
        &r,
        &g,
        &d,
        &[(&a, Access::dma_read_write(DMA))],
        span(&a, 0, 64),
        span(&a, 32, 64),
        EngineError::BadSurface {
            buffer: "a",
            why: "copy source and destination overlap",
        },
    );
    // Locked for another device, or for the wrong access.
    refused_copy(
        &r,
        &g,
        &d,
        &[(&a, Access::dma_write(OTHER)), (&b, Access::dma_read(DMA))],
        span(&a, 0, 8),
        span(&b, 0, 8),
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "write",
        },
    );
    refused_copy(
        &r,
        &g,
        &d,
        &[(&a, Access::dma_write(DMA)), (&b, Access::dma_write(DMA))],
        span(&a, 0, 8),
        span(&b, 0, 8),
        EngineError::NotLockedFor {
            buffer: "b",
            wanted: "read",
        },
    );
    let e = {
        let mut s = d.set();
        s.add(&a, Access::dma_write(DMA)).unwrap();
        s.add(&b, Access::dma_read(DMA)).unwrap();
        let rej = g
            .copy(
                s.lock().unwrap(),
                span(&a, 1 << 16, 8),
                span(&b, 0, 8),
                None,
            )
            .expect_err("outside the buffer");
        rej.returned.unlock().unwrap();
        rej.error
    };
    assert!(
        matches!(e, EngineError::OutOfBounds { buffer: "a", .. }),
        "{e:?}"
    );
    // Longer than 4 control blocks of a full channel take: not reachable in 4 MiB, so the
    // lite-only driver below shows the control-block limit.
    let before = r.len();
    for (off, len, want) in [
        (0, 6, "fill address or length not a multiple of 4 bytes"),
        (2, 8, "fill address or length not a multiple of 4 bytes"),
    ] {
        let mut s = d.set();
        s.add(&a, Access::dma_write(DMA)).unwrap();
        let rej = g.fill(s.lock().unwrap(), span(&a, off, len), 0x5A, None);
        let rej = rej.expect_err("refused fill");
        assert_eq!(rej.error, unsup(want));
        rej.returned.unlock().unwrap();
    }
    let mut s = d.set();
    s.add(&a, Access::dma_read(DMA)).unwrap();
    let rej = g
        .fill(s.lock().unwrap(), span(&a, 0, 8), 1, None)
        .expect_err("read only");
    assert_eq!(
        rej.error,
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "write"
        }
    );
    rej.returned.unlock().unwrap();
    assert_eq!(r.len(), before, "a refused fill touched a register");
    assert_eq!(g.pending(), 0);
}

#[test]
fn a_lite_only_driver_refuses_2d_and_jobs_beyond_its_control_blocks() {
    let sim = sim();
    let d: Domain<'_> = SyncDomain::new(&sim, SyncConfig::default());
    let r = Recorder::default();
    let g = driver(&r, &sim, 1 << 8);
    assert!(!g.capabilities().copy, "no full channel: no 2D mode");
    assert_eq!(g.max_copy(), 4 * 0xFFFC);
    let a = buffer(&d, &sim, "a", 5 * 0xFFFC);
    let b = buffer(&d, &sim, "b", 5 * 0xFFFC);
    let ok = [(&a, Access::dma_write(DMA)), (&b, Access::dma_read(DMA))];
    let len = 4 * 0xFFFC + 4;
    let e = EngineError::Unsupported(
        "BCM2835 DMA job longer than a lite channel's control blocks hold",
    );
    refused_copy(&r, &g, &d, &ok, span(&a, 0, len), span(&b, 0, len), e);
    let before = r.len();
    let desc = SurfaceDesc::packed(16, 16, PixelFormat::Xrgb8888);
    let mut s = d.set();
    s.add(&a, Access::dma_write(DMA)).unwrap();
    s.add(&b, Access::dma_read(DMA)).unwrap();
    let op = Op2d::Copy {
        dst: Surface::new(&a, desc),
        to: Point::new(0, 0),
        src: Surface::new(&b, desc),
        from: Rect::new(0, 0, 4, 4),
    };
    let rej = g.submit(s.lock().unwrap(), &[op], None).expect_err("no 2D");
    assert!(unsupported(&rej.error).contains("lite"));
    rej.returned.unlock().unwrap();
    assert_eq!(r.len(), before);
}

#[test]
fn every_refused_2d_submission_touches_no_register() {
    let sim = sim();
    let d: Domain<'_> = SyncDomain::new(&sim, SyncConfig::default());
    let r = Recorder::default();
    let g = driver(&r, &sim, 1);
    let caps = g.capabilities();
    assert!(caps.copy && !caps.fill && !caps.blend, "{caps:?}");
    assert_eq!(
        (caps.max_width, caps.max_height, caps.max_ops),
        (16383, 16384, 4)
    );
    let a = buffer(&d, &sim, "a", 1 << 20);
    let b = buffer(&d, &sim, "b", 1 << 20);
    let x = SurfaceDesc::packed(64, 64, PixelFormat::Xrgb8888);
    let argb = SurfaceDesc::packed(64, 64, PixelFormat::Argb8888);
    let (sa, sb) = (Surface::new(&a, x), Surface::new(&b, x));
    fn copy<'b>(dst: Surface<'b>, src: Surface<'b>, to: (u32, u32), from: Rect) -> Op2d<'b> {
        Op2d::Copy {
            dst,
            to: Point::new(to.0, to.1),
            src,
            from,
        }
    }
    let r4 = Rect::new(0, 0, 4, 4);
    let fill = Op2d::Fill {
        dst: sa,
        rect: r4,
        color: Color(0xFF00_00FF),
    };
    let blend = Op2d::Blend {
        dst: sa,
        to: Point::new(0, 0),
        src: sb,
        from: r4,
        alpha: 128,
    };
    let convert = Op2d::Convert {
        dst: sa,
        to: Rect::new(0, 0, 2, 2),
        src: sb,
        from: r4,
        flip: Flip::default(),
    };
    let odd_pitch = SurfaceDesc {
        stride: 64 * 4 + 2,
        ..x
    };
    let odd_offset = SurfaceDesc { offset: 2, ..x };
    let wide = SurfaceDesc::packed(16384, 1, PixelFormat::Xrgb8888);
    let tall = SurfaceDesc::packed(1, 16385, PixelFormat::Xrgb8888);
    let far = SurfaceDesc {
        stride: 64 * 4 + 32768,
        ..SurfaceDesc::packed(64, 2, PixelFormat::Xrgb8888)
    };
    let cases: Vec<(Vec<Op2d<'_>>, &str)> = vec![
        (vec![fill], "2D fill"),
        (vec![copy(sa, sb, (0, 0), r4), blend], "alpha blend"),
        (vec![convert], "scaled/converted blit"),
        (
            vec![copy(sa, Surface::new(&b, argb), (0, 0), r4)],
            "pixel formats",
        ),
        (vec![copy(sa, sa, (2, 2), r4)], "overlapping"),
        (
            vec![copy(Surface::new(&a, odd_pitch), sb, (0, 0), r4)],
            "multiple of 4",
        ),
        (
            vec![copy(sa, Surface::new(&b, odd_offset), (0, 0), r4)],
            "multiple of 4",
        ),
        (
            vec![copy(
                Surface::new(&a, wide),
                Surface::new(&b, wide),
                (0, 0),
                Rect::new(0, 0, 16384, 1),
            )],
            "XLENGTH",
        ),
        (
            vec![copy(
                Surface::new(&a, tall),
                Surface::new(&b, tall),
                (0, 0),
                Rect::new(0, 0, 1, 16385),
            )],
            "YLENGTH",
        ),
        (
            vec![copy(
                Surface::new(&a, far),
                Surface::new(&b, x),
                (0, 0),
                Rect::new(0, 0, 64, 2),
            )],
            "STRIDE",
        ),
        (vec![copy(sa, sb, (0, 0), r4); 5], "max_ops"),
    ];
    let before = r.len();
    for (ops, why) in cases {
        let mut s = d.set();
        s.add(&a, Access::dma_read_write(DMA)).unwrap();
        s.add(&b, Access::dma_read(DMA)).unwrap();
        let rej = g.submit(s.lock().unwrap(), &ops, None).expect_err(why);
        assert!(
            unsupported(&rej.error).contains(why),
            "{why}: {:?}",
            rej.error
        );
        rej.returned.unlock().unwrap();
    }
    let mut s = d.set();
    s.add(&a, Access::dma_write(DMA)).unwrap();
    s.add(&b, Access::dma_read(DMA)).unwrap();
    let l = s.lock().unwrap();
    let rej = g.submit(l, &[], None).expect_err("empty");
    assert_eq!(rej.error, EngineError::Empty);
    let out = copy(sa, sb, (61, 0), r4);
    let rej = g.submit(rej.returned, &[out], None).expect_err("outside");
    assert_eq!(
        rej.error,
        EngineError::OutOfBounds {
            buffer: "a",
            what: "blit destination"
        }
    );
    // A copy within one buffer needs it locked for read and write.
    let rej = g.submit(rej.returned, &[copy(sa, sa, (8, 8), r4)], None);
    let rej = rej.expect_err("write only");
    assert_eq!(
        rej.error,
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "read+write"
        }
    );
    rej.returned.unlock().unwrap();
    assert_eq!(r.len(), before, "a refused submission touched a register");
    assert_eq!(g.pending(), 0);
}

#[test]
fn an_accepted_copy_leaves_its_chain_cleaned_then_writes_conblk_ad_and_active() {
    let sim = sim();
    let d: Domain<'_> = SyncDomain::new(&sim, SyncConfig::default());
    let r = Recorder::default();
    let g = Bcm2835Dma::new(
        &r,
        Bcm2835DmaConfig {
            queue_depth: 1,
            ..config(1 << 2)
        },
        &sim,
        &sim,
    )
    .unwrap();
    let a = buffer(&d, &sim, "a", 1 << 20);
    let b = buffer(&d, &sim, "b", 1 << 20);
    let before = r.len();
    let mut s = d.set();
    s.add(&a, Access::dma_write(DMA)).unwrap();
    s.add(&b, Access::dma_read(DMA)).unwrap();
    let f = g
        .copy(
            s.lock().unwrap(),
            span(&a, 64, 4096),
            span(&b, 128, 4096),
            None,
        )
        .unwrap();
    let log = r.since(before);
    let [Reg::W(0x204, cb), Reg::W(0x200, ACTIVE)] = log[..] else {
        panic!("launch on channel 2: CONBLK_AD then CS.ACTIVE, got {log:x?}");
    };
    assert_eq!(cb % 32, 0, "control blocks are 32-byte aligned");
    // TI = WAIT_RESP | D_INC | S_INC | INTEN, one block, no next.
    assert_eq!(
        fetch_cb(&sim, cb),
        [0x119, bus(&b, 128), bus(&a, 64), 4096, 0, 0, 0, 0]
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(!f.is_signalled(), "nothing completes without the DMA");

    // The queue holds one job: the next is refused without a register access.
    let c = buffer(&d, &sim, "c", 4096);
    let before = r.len();
    let mut s = d.set();
    s.add(&c, Access::dma_write(DMA)).unwrap();
    let rej = g
        .fill(s.lock().unwrap(), span(&c, 0, 64), 3, None)
        .expect_err("full");
    assert_eq!(rej.error, EngineError::QueueFull);
    rej.returned.unlock().unwrap();
    assert_eq!(r.len(), before);

    // Reset halts the channel (CONBLK_AD reads 0: nothing loaded, so straight to RESET).
    assert_eq!(g.reset(), 1);
    assert_eq!(error_of(&f), Some(FenceError::DeviceError(ABANDONED)));
    assert!(r.since(before).contains(&Reg::W(0x200, RESET)));
    assert_eq!(g.pending(), 0);
}

#[test]
fn a_fill_and_a_rectangle_copy_become_the_documented_blocks() {
    let sim = sim();
    let d: Domain<'_> = SyncDomain::new(&sim, SyncConfig::default());
    let r = Recorder::default();
    // Channel 0 full, channel 7 lite.
    let g = driver(&r, &sim, 1 << 0 | 1 << 7);
    // Each job holds its buffers until its fence: each takes its own.
    let [a, b, c, e, f] = ["a", "b", "c", "e", "f"].map(|n| buffer(&d, &sim, n, 1 << 16));

    // A fill on channel 0: the pattern word in the slot before the chain, read without S_INC.
    let n = r.len();
    let mut s = d.set();
    s.add(&a, Access::dma_write(DMA)).unwrap();
    let fill = g
        .fill(s.lock().unwrap(), span(&a, 0, 256), 0xC3, None)
        .unwrap();
    let [Reg::W(CONBLK_AD, cb), Reg::W(CS, ACTIVE)] = r.since(n)[..] else {
        panic!("fill on channel 0: {:x?}", r.since(n));
    };
    assert_eq!(
        fetch_cb(&sim, cb),
        [0x19, cb - 32, bus(&a, 0), 256, 0, 0, 0, 0]
    );
    let mut word = [0; 4];
    sim.device_read(DMA, BusAddr((cb - 32) as u64), &mut word);
    assert_eq!(word, [0xC3; 4]);

    // A rectangle while channel 0 is busy waits for it: channel 7 has no 2D mode.
    let (dd, sd) = (
        SurfaceDesc {
            offset: 16,
            ..SurfaceDesc::packed(32, 16, PixelFormat::Argb8888)
        },
        SurfaceDesc::packed(20, 10, PixelFormat::Argb8888),
    );
    let n = r.len();
    let mut s = d.set();
    s.add(&b, Access::dma_write(DMA)).unwrap();
    s.add(&c, Access::dma_read(DMA)).unwrap();
    let op = Op2d::Copy {
        dst: Surface::new(&b, dd),
        to: Point::new(3, 2),
        src: Surface::new(&c, sd),
        from: Rect::new(1, 4, 6, 5),
    };
    let rect = g.submit(s.lock().unwrap(), &[op], None).unwrap();
    assert!(
        r.since(n).is_empty(),
        "no full channel free: {:x?}",
        r.since(n)
    );
    assert_eq!(g.pending(), 2);

    // A 1D copy meanwhile takes the lite channel.
    let n = r.len();
    let mut s = d.set();
    s.add(&e, Access::dma_write(DMA)).unwrap();
    s.add(&f, Access::dma_read(DMA)).unwrap();
    let f3 = g
        .copy(
            s.lock().unwrap(),
            span(&e, 0x8000, 16),
            span(&f, 0x8000, 16),
            None,
        )
        .unwrap();
    assert!(matches!(
        r.since(n)[..],
        [Reg::W(0x704, _), Reg::W(0x700, ACTIVE)]
    ));

    // The watchdog frees channel 0 (it never completes here); the rectangle starts there.
    assert_eq!(g.watchdog(), 0);
    assert_eq!(g.watchdog(), 0);
    let n = r.len();
    assert_eq!(g.watchdog(), 2, "channels 0 and 7, past watchdog_ticks = 2");
    assert_eq!(
        error_of(&fill),
        Some(FenceError::DeviceError(WATCHDOG_RESET))
    );
    assert_eq!(error_of(&f3), Some(FenceError::DeviceError(WATCHDOG_RESET)));
    assert_eq!(g.watchdog_resets(), 2);
    let log = r.since(n);
    assert!(log.contains(&Reg::W(CS, RESET)) && log.contains(&Reg::W(0x700 + CS, RESET)));
    let Some(&Reg::W(CONBLK_AD, cb)) = log.iter().rev().find(|a| matches!(a, Reg::W(CONBLK_AD, _)))
    else {
        panic!("the rectangle did not start on channel 0: {log:x?}");
    };
    assert_eq!(log.last(), Some(&Reg::W(CS, ACTIVE)));
    // TI = WAIT_RESP | D_INC | S_INC | TDMODE | INTEN; YLENGTH = rows - 1, XLENGTH = 24
    // bytes; strides = pitch - row: source 80 - 24, destination 128 - 24.
    let src_first = bus(&c, 4 * 80 + 4);
    let dst_first = bus(&b, 16 + 2 * 128 + 3 * 4);
    assert_eq!(
        fetch_cb(&sim, cb),
        [
            0x11B,
            src_first,
            dst_first,
            4 << 16 | 24,
            104 << 16 | 56,
            0,
            0,
            0
        ]
    );
    assert!(!rect.is_signalled());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert_eq!(g.reset(), 1);
    assert_eq!(error_of(&rect), Some(FenceError::DeviceError(ABANDONED)));
}

#[test]
fn a_job_waits_for_its_in_fence_and_a_failed_producer_fails_it_unrun() {
    use dmasync_sync::fence::FenceProducer;
    let sim = sim();
    let d: Domain<'_> = SyncDomain::new(&sim, SyncConfig::default());
    let r = Recorder::default();
    let g = driver(&r, &sim, 1 << 3);
    let [a, b, c] = ["a", "b", "c"].map(|n| buffer(&d, &sim, n, 4096));
    let submit = |dst: &SyncBuffer, src: &SyncBuffer, in_fence: &Fence| {
        let mut s = d.set();
        s.add(dst, Access::dma_write(DMA)).unwrap();
        s.add(src, Access::dma_read(DMA)).unwrap();
        let l = s.lock().unwrap();
        g.copy(l, span(dst, 0, 64), span(src, 0, 64), Some(in_fence))
            .unwrap()
    };
    let (p1, p2) = (FenceProducer::one_off(), FenceProducer::one_off());
    let n = r.len();
    let f1 = submit(&a, &b, &p1.fence());
    let f2 = submit(&c, &b, &p2.fence());
    assert!(r.since(n).is_empty(), "started before its in-fence");
    assert_eq!(g.pending(), 2);

    p2.signal_error(FenceError::Timeout);
    g.service();
    assert_eq!(
        error_of(&f2),
        Some(FenceError::Timeout),
        "the failure passes on"
    );
    assert!(
        r.since(n).is_empty(),
        "a job whose producer failed never runs"
    );

    p1.signal();
    g.service();
    assert!(matches!(
        r.since(n)[..],
        [Reg::W(0x304, _), Reg::W(0x300, ACTIVE)]
    ));
    assert!(!f1.is_signalled());
    assert_eq!(g.reset(), 1);
}
