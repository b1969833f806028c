//! The demo's frame loop on the non-coherent memory simulator: the software 2D engine on a
//! worker thread (a non-coherent bus master), the software display (another one), the CPU
//! on the test thread. What is on screen after frame N must equal the reference frame byte
//! for byte, with zero coherency violations and exactly the maintenance the pipeline
//! needs; a hung engine must be reported, reset, and the loop must go on.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use dmasync_demo::{FrameError, Options, Pipeline, SetupError, Stage, Totals, reference_frame};
use dmasync_engine::{DisplayControl, DisplayMode, EngineError, PixelFormat};
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_soft::SoftDisplay;
use dmasync_soft::{Soft2dConfig, SoftEngine2d};
use dmasync_sync::FenceError;
use dmasync_sync::syncset::{SyncConfig, SyncDomain};

type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
type Engine<'s> = SoftEngine2d<&'s NonCoherentSim>;
type Display<'s> = SoftDisplay<&'s NonCoherentSim>;

const G2D: DeviceId = DeviceId(0);
const SCANOUT: DeviceId = DeviceId(1);
const MODE: DisplayMode = DisplayMode {
    width: 160,
    height: 120,
    format: PixelFormat::Xrgb8888,
};

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 1 << 20,
        cpus: 2,
        // Small caches with random eviction: dirty lines get written back at arbitrary
        // moments, so a missing clean or invalidate shows as a violation.
        lines_per_cpu: 64,
        eviction: Eviction::Random { seed: 5 },
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("soft2d", Coherency::NonCoherent), G2D);
    assert_eq!(sim.add_device("display", Coherency::NonCoherent), SCANOUT);
    sim
}

fn domain(sim: &NonCoherentSim, hold_deadline: Duration) -> Domain<'_> {
    SyncDomain::new(
        sim,
        SyncConfig {
            hold_deadline,
            watchdog_poll: Duration::from_millis(5),
            ..SyncConfig::default()
        },
    )
}

fn display(sim: &NonCoherentSim) -> Display<'_> {
    let mut d = SoftDisplay::new(SCANOUT, sim, MODE, &[], 4);
    d.set_mode(MODE).unwrap();
    d
}

/// Ends the whole test binary with a clear message if a test makes no progress for two
/// minutes: a deadlock between the worker and the loop must fail, never hang the run.
fn hang_guard() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        thread::spawn(|| {
            thread::sleep(Duration::from_secs(120));
            eprintln!(
                "sim_pipeline: no result after 120 s: a deadlock between the engine worker, \
                 the display and the frame loop"
            );
            std::process::exit(101);
        });
    });
}

/// Runs `f` while a worker thread runs the engine.
fn with_worker<R>(engine: &Engine<'_>, f: impl FnOnce() -> R) -> R {
    hang_guard();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| engine.run(&stop));
        let r = f();
        stop.store(true, Ordering::Release);
        engine.wake_worker();
        r
    })
}

fn screen(d: &Display<'_>) -> Vec<u8> {
    let (mode, pixels) = d.screen().expect("the display has a mode");
    assert_eq!(mode, MODE);
    pixels
}

#[test]
fn every_frame_on_screen_equals_the_reference_with_minimal_maintenance() {
    let sim = sim();
    let dom = domain(&sim, Duration::from_secs(5));
    let engine = SoftEngine2d::new(G2D, &sim, Soft2dConfig::default());
    let disp = display(&sim);
    let p = Pipeline::new(&dom, &sim, MODE, Options::default()).unwrap();
    let mut totals = Totals::default();
    with_worker(&engine, || {
        // Three rounds of triple buffering: every frame buffer is reused twice.
        for n in 0..9 {
            let r = p.run_frame(&engine, &disp, n);
            assert_eq!(r.error, None, "frame {n}");
            assert!(r.ok(), "frame {n}: {r:?}");
            assert_eq!(r.checksum, r.expected, "frame {n}");
            assert_eq!(
                screen(&disp),
                reference_frame(n, MODE.width, MODE.height),
                "frame {n}"
            );
            // One clean (the overlay the CPU drew, before the engine reads it) and one
            // invalidate (the checksum rows the engine wrote, before the CPU reads them);
            // every other access needs nothing.
            assert_eq!(r.sync.cache_ops, 2, "frame {n}: {:?}", r.sync);
            assert_eq!(r.sync.expired, 0);
            assert!(r.engine_ns.is_some() && r.present_ns.is_some(), "{r:?}");
            totals.add(&r);
        }
    });
    let v = sim.violations();
    assert!(v.is_empty(), "{} violation(s), first: {}", v.len(), v[0]);
    assert_eq!((totals.frames, totals.ok, totals.failed), (9, 9, 0));
    // Each frame: overlay CPU write, composite (2 buffers), flip, read-back.
    assert_eq!(totals.sync.locks, 9 * 4);
    assert!(totals.sync.cache_ops_avoided >= 9 * 3, "{:?}", totals.sync);
}

#[test]
fn a_hung_engine_is_reported_reset_and_the_loop_goes_on() {
    let sim = sim();
    // A short hold deadline: the engine's set is taken back 150 ms after it locked.
    let dom = domain(&sim, Duration::from_millis(150));
    let engine = SoftEngine2d::new(G2D, &sim, Soft2dConfig::default());
    let disp = display(&sim);
    let p = Pipeline::new(&dom, &sim, MODE, Options::default()).unwrap();
    with_worker(&engine, || {
        for n in 0..2 {
            assert!(p.run_frame(&engine, &disp, n).ok(), "frame {n}");
        }
        engine.set_stalled(true);
        let hung = p.run_frame(&engine, &disp, 2);
        // The flip's lock waited for the engine; the watchdog completed the engine's set
        // with Timeout; the loop reset the engine (abandoning the stuck submission).
        assert_eq!(
            hung.error,
            Some(FrameError::EngineHung {
                error: FenceError::Timeout,
                abandoned: 1
            })
        );
        assert!(hung.sync.expired >= 1, "{:?}", hung.sync);
        assert_eq!(hung.checksum, None);
        // The previous frame stays on screen.
        assert_eq!(screen(&disp), reference_frame(1, MODE.width, MODE.height));
        assert!(!engine.is_stalled(), "reset clears the stall");
        // Later frames are correct again, including the buffer the hung frame used.
        for n in 3..7 {
            let r = p.run_frame(&engine, &disp, n);
            assert!(r.ok(), "frame {n}: {r:?}");
            assert_eq!(
                screen(&disp),
                reference_frame(n, MODE.width, MODE.height),
                "frame {n}"
            );
        }
    });
    let v = sim.violations();
    assert!(v.is_empty(), "{} violation(s), first: {}", v.len(), v[0]);
}

#[test]
fn a_refused_submission_is_reported_and_the_previous_frame_stays() {
    let sim = sim();
    let dom = domain(&sim, Duration::from_secs(5));
    // An engine too small for the mode refuses the composite (nothing is queued).
    let small = SoftEngine2d::new(
        G2D,
        &sim,
        Soft2dConfig {
            max_width: 64,
            ..Soft2dConfig::default()
        },
    );
    let engine = SoftEngine2d::new(G2D, &sim, Soft2dConfig::default());
    let disp = display(&sim);
    let p = Pipeline::new(&dom, &sim, MODE, Options::default()).unwrap();
    with_worker(&engine, || {
        assert!(p.run_frame(&engine, &disp, 0).ok());
        let r = p.run_frame(&small, &disp, 1);
        assert!(
            matches!(
                r.error,
                Some(FrameError::Refused(
                    Stage::Composite,
                    EngineError::Unsupported(_)
                ))
            ),
            "{r:?}"
        );
        assert_eq!(screen(&disp), reference_frame(0, MODE.width, MODE.height));
        let r = p.run_frame(&engine, &disp, 2);
        assert!(r.ok(), "{r:?}");
        assert_eq!(screen(&disp), reference_frame(2, MODE.width, MODE.height));
    });
    assert!(sim.violations().is_empty());
}

#[test]
fn a_mode_the_demo_cannot_draw_is_refused_by_name() {
    let sim = sim();
    let dom = domain(&sim, Duration::from_secs(5));
    let argb = DisplayMode {
        format: PixelFormat::Argb8888,
        ..MODE
    };
    let e = Pipeline::new(&dom, &sim, argb, Options::default()).unwrap_err();
    assert_eq!(e, SetupError::Format(PixelFormat::Argb8888));
    assert_eq!(e.to_string(), "display format Argb8888 is not Xrgb8888");
}

#[test]
fn a_dma_step_moves_the_overlay_and_every_frame_still_equals_the_reference() {
    let sim = sim();
    let dma_dev = sim.add_device("soft-dma", Coherency::NonCoherent);
    let dom = domain(&sim, Duration::from_secs(5));
    let engine = SoftEngine2d::new(G2D, &sim, Soft2dConfig::default());
    let dma = dmasync_soft::SoftDma::new(dma_dev, &sim, 4);
    let disp = display(&sim);
    let p = Pipeline::new(&dom, &sim, MODE, Options::default()).unwrap();
    let stop = AtomicBool::new(false);
    hang_guard();
    thread::scope(|s| {
        s.spawn(|| dma.run(&stop));
        with_worker(&engine, || {
            for n in 0..6 {
                let r = p.run_frame_with_dma(&engine, &dma, &disp, n);
                assert!(r.ok(), "frame {n}: {r:?}");
                assert_eq!(
                    screen(&disp),
                    reference_frame(n, MODE.width, MODE.height),
                    "frame {n}"
                );
                // The staging buffer the CPU drew is cleaned before the DMA engine reads it;
                // device-to-device hand-overs (DMA write, engine read) need nothing; the
                // read-back rows are invalidated as before.
                assert_eq!(r.sync.cache_ops, 2, "frame {n}: {:?}", r.sync);
                // Draw, move, composite, flip, read-back.
                assert_eq!(r.sync.locks, 5, "frame {n}: {:?}", r.sync);
            }
        });
        stop.store(true, Ordering::Release);
        dma.wake_worker();
    });
    let v = sim.violations();
    assert!(v.is_empty(), "{} violation(s), first: {}", v.len(), v[0]);
}

#[test]
fn given_frames_are_the_ones_drawn_and_a_short_one_is_refused_by_name() {
    let sim = sim();
    let dom = domain(&sim, Duration::from_secs(5));
    let engine = SoftEngine2d::new(G2D, &sim, Soft2dConfig::default());
    let disp = display(&sim);
    let frame = |name| {
        let region = sim
            .alloc(MODE.framebuffer_bytes(), Coherency::NonCoherent)
            .unwrap();
        dom.buffer(name, region).unwrap()
    };
    let short = {
        let region = sim
            .alloc(MODE.framebuffer_bytes() / 2, Coherency::NonCoherent)
            .unwrap();
        dom.buffer("short", region).unwrap()
    };
    let e = Pipeline::with_frames(
        &dom,
        &sim,
        MODE,
        Options::default(),
        [frame("a"), short, frame("c")],
    )
    .unwrap_err();
    assert_eq!(
        e,
        SetupError::FrameTooSmall {
            buffer: "short",
            need: MODE.framebuffer_bytes(),
            have: MODE.framebuffer_bytes() / 2,
        }
    );
    let p = Pipeline::with_frames(
        &dom,
        &sim,
        MODE,
        Options::default(),
        [frame("g0"), frame("g1"), frame("g2")],
    )
    .unwrap();
    assert_eq!(p.frame_buffer(1).name(), "g1");
    with_worker(&engine, || {
        for n in 0..3 {
            let r = p.run_frame(&engine, &disp, n);
            assert!(r.ok(), "frame {n}: {r:?}");
            assert_eq!(
                screen(&disp),
                reference_frame(n, MODE.width, MODE.height),
                "frame {n}"
            );
        }
    });
    assert!(sim.violations().is_empty());
}
