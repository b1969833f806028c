//! The LCDIF driver against its register model on the non-coherent simulator: the mode-set
//! sequence and register values from Linux's formulas, flips presented only at the vblank
//! that latched them, what the panel got compared with the framebuffer bytes, every
//! refusal an Err with no register written, bus errors and stalls reaching the fences.

mod common;

use common::*;
use dmasync_engine::SurfaceDesc;
use dmasync_engine::{DisplayControl, DisplayMode, DisplayService, EngineError, PixelFormat};
use dmasync_lcdif::{DMA_ERROR, WATCHDOG_RESET};
use dmasync_lcdif_model::{Fault, LcdifModel, ModelError};
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer};

const CTRL: usize = 0x00;
const CTRL_SET: usize = 0x04;
const CTRL_CLR: usize = 0x08;
const DISP_PARA: usize = 0x10;
const DISP_SIZE: usize = 0x14;
const HSYN_PARA: usize = 0x18;
const VSYN_PARA: usize = 0x1C;
const VSYN_HSYN_WIDTH: usize = 0x20;
const INT_ENABLE_D0: usize = 0x28;
const CTRLDESCL0_1: usize = 0x200;
const CTRLDESCL0_3: usize = 0x208;
const LOW0_4: usize = 0x20C;
const HIGH0_4: usize = 0x210;
const CTRLDESCL0_5: usize = 0x214;
const SHADOW_LOAD_EN: u32 = 1 << 30;
const EN: u32 = 1 << 31;

fn last_write(m: &LcdifModel<'_>, offset: usize) -> Option<u32> {
    m.writes()
        .iter()
        .rev()
        .find(|(o, _)| *o == offset)
        .map(|w| w.1)
}

fn bus(buf: &SyncBuffer) -> u64 {
    buf.region().bus().0
}

fn assert_clean(m: &LcdifModel<'_>, sim: &dmasync_sim::NonCoherentSim) {
    assert_eq!(m.errors(), vec![], "model errors");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn the_mode_set_runs_the_enable_sequence_with_linuxs_values() {
    let sim = sim();
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    let start = m.writes().len();
    disp.set_mode(MODE).unwrap();
    assert_eq!(disp.mode(), Some(MODE));
    let w: Vec<(usize, u32)> = m.writes()[start..].to_vec();
    let (wd, ht) = (MODE.width, MODE.height);
    let t = TIMINGS;
    // lcdif_set_mode: INV_HS b0 for a low HSYNC, INV_PXCK b3 for negedge data.
    let polarity = 1 | (1 << 3);
    let want = vec![
        (CTRL_SET, 1 << 31),
        (CTRL_CLR, 1 << 31),
        (CTRL, polarity),
        (DISP_SIZE, (ht << 16) | wd),
        (HSYN_PARA, (t.hbp << 16) | t.hfp),
        (VSYN_PARA, (t.vbp << 16) | t.vfp),
        (VSYN_HSYN_WIDTH, (t.vsync << 16) | t.hsync),
        (CTRLDESCL0_1, (ht << 16) | wd),
        (CTRLDESCL0_3, (2 << 20) | (2 << 16) | (wd * 4)),
        (CTRLDESCL0_5, 0x9 << 24),
        (0x21C, 1),
        (0x24, u32::MAX),
        (INT_ENABLE_D0, (1 << 2) | (1 << 1) | (1 << 8)),
        (DISP_PARA, 1 << 31),
    ];
    assert_eq!(w, want);
    assert_eq!(
        m.resets(),
        2,
        "Lcdif::new and the mode set each reset the block"
    );
    // The output runs with the plane off: background (black), no fetch.
    assert!(m.vblank(), "VS_BLANK raises the line");
    assert_eq!(disp.on_interrupt(), 0);
    assert!(!m.irq_pending(), "the handler left status set");
    assert_eq!(m.screen(), vec![0; (wd * ht) as usize]);
    assert_eq!(m.scanning(), None);
    assert_clean(&m, &sim);
}

#[test]
fn modes_the_lcdif_cannot_drive_are_refused_with_nothing_written() {
    let sim = sim();
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    let before = m.writes().len();
    for (w, h) in [
        (119, 120),
        (120, 119),
        (120, 0),
        (16384, 120),
        (120, 0x1_0000),
    ] {
        let mode = DisplayMode {
            width: w,
            height: h,
            format: PixelFormat::Xrgb8888,
        };
        assert_eq!(
            disp.set_mode(mode),
            Err(EngineError::ModeRefused {
                width: w,
                height: h
            }),
            "{w}x{h}"
        );
    }
    let argb = DisplayMode {
        format: PixelFormat::Argb8888,
        ..MODE
    };
    assert!(matches!(
        disp.set_mode(argb),
        Err(EngineError::Unsupported(_))
    ));
    assert_eq!(m.writes().len(), before, "a refused mode wrote registers");
    assert_eq!(disp.mode(), None);
    // The largest row the 16-bit pitch holds is accepted.
    let wide = DisplayMode {
        width: 16383,
        ..MODE
    };
    assert_eq!(disp.set_mode(wide), Ok(()));
    assert_eq!(last_write(&m, CTRLDESCL0_3).unwrap() & 0xFFFF, 16383 * 4);
}

#[test]
fn flips_wait_for_the_in_fence_and_present_at_the_vblank_that_latches_them() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, pa) = frame(&d, &sim, "A", &FULL, 1);
    let (b, pb) = frame(&d, &sim, "B", &FULL, 2);
    let in_a = FenceProducer::one_off();
    let fa = flip_with(
        &disp,
        &d,
        &a,
        Access::dma_read(LCDIF),
        FULL,
        Some(&in_a.fence()),
    )
    .unwrap();
    assert_eq!(
        last_write(&m, LOW0_4),
        None,
        "programmed before the in-fence"
    );
    assert_eq!(frame_period(&m, &disp), 0);
    assert_eq!(fa.presented.status(), FenceStatus::Pending);
    in_a.signal();
    assert_eq!(disp.service(), 0);
    assert_eq!(last_write(&m, LOW0_4), Some(bus(&a) as u32));
    assert_eq!(last_write(&m, HIGH0_4), Some((bus(&a) >> 32) as u32));
    assert_eq!(
        last_write(&m, CTRLDESCL0_5),
        Some(EN | SHADOW_LOAD_EN | (0x9 << 24))
    );
    assert_eq!(
        fa.presented.status(),
        FenceStatus::Pending,
        "before the latch"
    );
    assert_eq!(frame_period(&m, &disp), 1);
    assert_eq!(fa.presented.status(), FenceStatus::Ok);
    assert_eq!(m.scanning(), Some(bus(&a)));
    assert_eq!(m.screen(), expected_screen(&pa, &FULL), "A on the panel");

    let fb = flip(&disp, &d, &b);
    assert_eq!(
        fa.released.status(),
        FenceStatus::Pending,
        "A let go before B latched"
    );
    assert_eq!(frame_period(&m, &disp), 1);
    assert_eq!(fb.presented.status(), FenceStatus::Ok);
    assert_eq!(fa.released.status(), FenceStatus::Ok);
    assert_eq!(fb.released.status(), FenceStatus::Pending, "B is on screen");
    assert_eq!(m.screen(), expected_screen(&pb, &FULL), "B on the panel");
    cpu_takes(&d, &a);
    // More frames keep B up and present nothing.
    assert_eq!(frame_period(&m, &disp), 0);
    assert_eq!(m.screen(), expected_screen(&pb, &FULL));
    assert_eq!(m.latches(), 2);
    assert_clean(&m, &sim);
}

#[test]
fn a_vblank_before_the_shadow_load_was_requested_does_not_present_the_flip() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, pa) = frame(&d, &sim, "A", &FULL, 1);
    let (b, pb) = frame(&d, &sim, "B", &FULL, 2);
    let fa = flip(&disp, &d, &a);
    frame_period(&m, &disp);
    assert_eq!(fa.presented.status(), FenceStatus::Ok);
    // A blank happens; its interrupt is still undelivered when B is programmed.
    assert!(m.vblank());
    let fb = flip(&disp, &d, &b);
    assert_eq!(
        disp.on_interrupt(),
        0,
        "VS_BLANK with SHADOW_LOAD_EN still set"
    );
    assert_eq!(fb.presented.status(), FenceStatus::Pending);
    assert_eq!(fa.released.status(), FenceStatus::Pending);
    assert_eq!(m.screen(), expected_screen(&pa, &FULL));
    assert_eq!(frame_period(&m, &disp), 1);
    assert_eq!(fb.presented.status(), FenceStatus::Ok);
    assert_eq!(fa.released.status(), FenceStatus::Ok);
    assert_eq!(m.screen(), expected_screen(&pb, &FULL));
    assert_clean(&m, &sim);
}

#[test]
fn a_padded_framebuffer_scans_out_at_its_pitch() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let desc = SurfaceDesc {
        offset: 256,
        stride: 133 * 4,
        ..FULL
    };
    let (a, pa) = frame(&d, &sim, "padded", &desc, 7);
    let fa = flip_with(&disp, &d, &a, Access::dma_read(LCDIF), desc, None).unwrap();
    assert_eq!(
        last_write(&m, CTRLDESCL0_3),
        Some((2 << 20) | (2 << 16) | (133 * 4))
    );
    assert_eq!(last_write(&m, LOW0_4), Some((bus(&a) + 256) as u32));
    assert_eq!(frame_period(&m, &disp), 1);
    assert_eq!(fa.presented.status(), FenceStatus::Ok);
    assert_eq!(m.screen(), expected_screen(&pa, &desc));
    assert_clean(&m, &sim);
}

#[test]
fn refused_framebuffers_write_nothing_and_leave_the_previous_frame() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, pa) = frame(&d, &sim, "A", &FULL, 1);
    let fa = flip(&disp, &d, &a);
    frame_period(&m, &disp);
    let small = buffer(&d, &sim, "small", MODE.framebuffer_bytes() / 2);
    let big = buffer(&d, &sim, "big", 2 * MODE.framebuffer_bytes());
    let before = m.writes().len();
    let cases: [(&SyncBuffer, Access, SurfaceDesc); 7] = [
        (&small, Access::dma_read(LCDIF), FULL),
        (&big, Access::CPU_READ, FULL),
        (&big, Access::dma_read(OTHER), FULL),
        (
            &big,
            Access::dma_read(LCDIF),
            SurfaceDesc {
                stride: 482,
                ..FULL
            },
        ),
        (
            &big,
            Access::dma_read(LCDIF),
            SurfaceDesc { offset: 2, ..FULL },
        ),
        (
            &big,
            Access::dma_read(LCDIF),
            SurfaceDesc::packed(120, 120, PixelFormat::Argb8888),
        ),
        (
            &big,
            Access::dma_read(LCDIF),
            SurfaceDesc::packed(121, 120, PixelFormat::Xrgb8888),
        ),
    ];
    let errors: Vec<EngineError> = cases
        .iter()
        .map(|(buf, acc, desc)| flip_with(&disp, &d, buf, *acc, *desc, None).unwrap_err())
        .collect();
    assert!(
        matches!(
            errors[0],
            EngineError::FramebufferTooSmall { buffer: "small", need, .. } if need == 120 * 120 * 4
        ),
        "{errors:?}"
    );
    assert_eq!(
        errors[1],
        EngineError::NotLockedFor {
            buffer: "big",
            wanted: "read"
        }
    );
    assert!(matches!(
        errors[2],
        EngineError::NotLockedFor { buffer: "big", .. }
    ));
    for e in &errors[3..5] {
        assert!(
            matches!(e, EngineError::BadSurface { buffer: "big", why } if why.contains("aligned")),
            "{errors:?}"
        );
    }
    assert!(matches!(
        errors[5],
        EngineError::BadSurface { buffer: "big", .. }
    ));
    assert!(matches!(
        errors[6],
        EngineError::BadSurface { buffer: "big", .. }
    ));
    assert_eq!(
        m.writes().len(),
        before,
        "a refused flip reached the registers: {:?}",
        &m.writes()[before..]
    );
    assert_eq!(disp.pending_flips(), 0);
    assert_eq!(frame_period(&m, &disp), 0);
    assert_eq!(
        m.screen(),
        expected_screen(&pa, &FULL),
        "the previous frame left"
    );
    assert_eq!(fa.released.status(), FenceStatus::Pending);
    // Refused sets came back whole: the CPU takes the buffers at once.
    cpu_takes(&d, &big);
    assert_clean(&m, &sim);
}

#[test]
fn a_flip_without_a_mode_is_refused() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let disp = driver(&m);
    let (a, _) = frame(&d, &sim, "A", &FULL, 1);
    let before = m.writes().len();
    assert_eq!(
        flip_with(&disp, &d, &a, Access::dma_read(LCDIF), FULL, None).unwrap_err(),
        EngineError::NoMode
    );
    assert_eq!(m.writes().len(), before);
}

#[test]
fn a_failed_in_fence_cancels_its_flip_and_keeps_the_frame() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, pa) = frame(&d, &sim, "A", &FULL, 1);
    let (b, _) = frame(&d, &sim, "B", &FULL, 2);
    let fa = flip(&disp, &d, &a);
    frame_period(&m, &disp);
    let before = m.writes().len();
    let bad = Fence::signalled(FenceResult::Err(FenceError::Timeout));
    let fb = flip_with(&disp, &d, &b, Access::dma_read(LCDIF), FULL, Some(&bad)).unwrap();
    assert_eq!(fb.presented.status(), FenceStatus::Err(FenceError::Timeout));
    assert_eq!(fb.released.status(), FenceStatus::Err(FenceError::Timeout));
    assert_eq!(m.writes().len(), before, "a cancelled flip was programmed");
    frame_period(&m, &disp);
    assert_eq!(m.screen(), expected_screen(&pa, &FULL));
    assert_eq!(fa.released.status(), FenceStatus::Pending);
    cpu_takes(&d, &b);
    assert_clean(&m, &sim);
}

#[test]
fn the_mode_cannot_change_under_a_shown_buffer() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, _) = frame(&d, &sim, "A", &FULL, 1);
    flip(&disp, &d, &a);
    frame_period(&m, &disp);
    let before = m.writes().len();
    let bigger = DisplayMode { width: 128, ..MODE };
    assert!(matches!(
        disp.set_mode(bigger),
        Err(EngineError::Unsupported(_))
    ));
    assert_eq!(
        disp.set_mode(MODE),
        Ok(()),
        "the same mode again is no change"
    );
    assert_eq!(m.writes().len(), before);
    assert_clean(&m, &sim);
}

#[test]
fn a_bus_error_on_the_first_frame_fails_the_flip_and_the_controller_recovers() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, _) = frame(&d, &sim, "A", &FULL, 1);
    let (b, _) = frame(&d, &sim, "B", &FULL, 2);
    let (c, pc) = frame(&d, &sim, "C", &FULL, 3);
    let fa = flip(&disp, &d, &a);
    frame_period(&m, &disp);
    let resets = m.resets();
    m.inject(Fault::BusError);
    let fb = flip(&disp, &d, &b);
    assert_eq!(frame_period(&m, &disp), 0);
    let dma = FenceStatus::Err(FenceError::DeviceError(DMA_ERROR));
    assert_eq!(fb.presented.status(), dma);
    assert_eq!(fb.released.status(), dma);
    assert_eq!(
        fa.released.status(),
        FenceStatus::Ok,
        "A was not read after the latch"
    );
    assert_eq!(m.resets(), resets + 1, "the block was reset");
    assert_eq!(disp.faults(), 1);
    assert_eq!(m.scanning(), None);
    cpu_takes(&d, &b);
    // The mode is set again: the next flip shows.
    let fc = flip(&disp, &d, &c);
    assert_eq!(frame_period(&m, &disp), 1);
    assert_eq!(fc.presented.status(), FenceStatus::Ok);
    assert_eq!(m.screen(), expected_screen(&pc, &FULL));
    assert_eq!(m.errors(), vec![ModelError::BusError { addr: bus(&b) }]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_bus_error_while_a_frame_is_up_reaches_its_released_fence() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, _) = frame(&d, &sim, "A", &FULL, 1);
    let fa = flip(&disp, &d, &a);
    frame_period(&m, &disp);
    frame_period(&m, &disp);
    m.inject(Fault::BusError);
    frame_period(&m, &disp);
    assert_eq!(fa.presented.status(), FenceStatus::Ok);
    assert_eq!(
        fa.released.status(),
        FenceStatus::Err(FenceError::DeviceError(DMA_ERROR))
    );
    cpu_takes(&d, &a);
    assert_eq!(m.errors(), vec![ModelError::BusError { addr: bus(&a) }]);
}

#[test]
fn a_stalled_controller_is_reset_by_the_watchdog() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, _) = frame(&d, &sim, "A", &FULL, 1);
    let (b, _) = frame(&d, &sim, "B", &FULL, 2);
    let (c, pc) = frame(&d, &sim, "C", &FULL, 3);
    let fa = flip(&disp, &d, &a);
    frame_period(&m, &disp);
    assert!(!disp.watchdog(), "nothing in flight: no stall to see");
    m.inject(Fault::Hang);
    let fb = flip(&disp, &d, &b);
    for _ in 0..WATCHDOG_TICKS {
        assert_eq!(frame_period(&m, &disp), 0);
        assert!(!disp.watchdog());
    }
    assert_eq!(fb.presented.status(), FenceStatus::Pending);
    assert!(disp.watchdog(), "no vblank for the watchdog's ticks");
    let wd = FenceStatus::Err(FenceError::DeviceError(WATCHDOG_RESET));
    assert_eq!(fb.presented.status(), wd);
    assert_eq!(fb.released.status(), wd);
    assert_eq!(fa.released.status(), wd);
    cpu_takes(&d, &a);
    cpu_takes(&d, &b);
    let fc = flip(&disp, &d, &c);
    assert_eq!(frame_period(&m, &disp), 1, "the reset ended the hang");
    assert_eq!(fc.presented.status(), FenceStatus::Ok);
    assert_eq!(m.screen(), expected_screen(&pc, &FULL));
    assert_clean(&m, &sim);
}

#[test]
fn a_vblank_within_the_ticks_keeps_the_watchdog_quiet() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, _) = frame(&d, &sim, "A", &FULL, 1);
    let in_a = FenceProducer::one_off();
    let fa = flip_with(
        &disp,
        &d,
        &a,
        Access::dma_read(LCDIF),
        FULL,
        Some(&in_a.fence()),
    )
    .unwrap();
    // Waiting for the in-fence is not a stall.
    for _ in 0..3 * WATCHDOG_TICKS {
        assert!(!disp.watchdog());
    }
    in_a.signal();
    disp.service();
    assert_eq!(frame_period(&m, &disp), 1);
    assert_eq!(fa.presented.status(), FenceStatus::Ok);
    assert_eq!(disp.faults(), 0);
    assert_clean(&m, &sim);
}

#[test]
fn an_underrun_is_counted_and_leaves_the_frames_alone() {
    let sim = sim();
    let d = domain(&sim);
    let m = LcdifModel::new(&sim, LCDIF);
    let mut disp = driver(&m);
    disp.set_mode(MODE).unwrap();
    let (a, pa) = frame(&d, &sim, "A", &FULL, 1);
    let fa = flip(&disp, &d, &a);
    m.inject(Fault::Underrun);
    assert_eq!(frame_period(&m, &disp), 1);
    assert_eq!(disp.underruns(), 1);
    assert_eq!(fa.presented.status(), FenceStatus::Ok);
    assert_eq!(m.screen(), expected_screen(&pa, &FULL));
    assert_clean(&m, &sim);
}
