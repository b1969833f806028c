//! The software display on the non-coherent memory simulator: modes, flips behind
//! in-fences, what is on screen, release of the previous framebuffer, and every refusal
//! leaving the previous frame on screen.

use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, PixelFormat, Surface,
    SurfaceDesc,
};
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};
use dmasync_soft::SoftDisplay;
use dmasync_sync::fence::{FenceStatus, Timeline};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
type Buffer = SyncBuffer;

const SCANOUT: DeviceId = DeviceId(0);
const OTHER: DeviceId = DeviceId(1);
const X: PixelFormat = PixelFormat::Xrgb8888;
const MODE: DisplayMode = DisplayMode {
    width: 8,
    height: 6,
    format: X,
};
const SMALL: DisplayMode = DisplayMode {
    width: 4,
    height: 4,
    format: X,
};

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        lines_per_cpu: 32,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("scanout", Coherency::NonCoherent), SCANOUT);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

fn buffer(d: &Domain<'_>, sim: &NonCoherentSim, name: &'static str, len: usize) -> Buffer {
    d.buffer(name, sim.alloc(len, Coherency::NonCoherent).unwrap())
        .unwrap()
}

fn cpu_write(d: &Domain<'_>, buf: &Buffer, bytes: &[u8]) {
    let mut s = d.set();
    s.add_range(buf, Access::CPU_WRITE, 0..bytes.len()).unwrap();
    let l = s.lock().unwrap();
    l.cpu_write(buf)
        .unwrap()
        .with_mut(|b| b.copy_from_slice(bytes))
        .unwrap();
    l.unlock().unwrap();
}

fn frame(seed: u8) -> Vec<u8> {
    (0..MODE.framebuffer_bytes())
        .map(|i| (i as u8).wrapping_mul(seed))
        .collect()
}

#[test]
fn modes_are_checked_and_a_refused_one_changes_nothing() {
    let sim = sim();
    let mut disp = SoftDisplay::<_>::new(SCANOUT, &sim, MODE, &[SMALL], 2);
    assert_eq!(disp.preferred_mode(), MODE);
    assert_eq!(disp.mode(), None);
    let odd = DisplayMode {
        width: 7,
        height: 6,
        format: X,
    };
    assert_eq!(
        disp.set_mode(odd),
        Err(EngineError::ModeRefused {
            width: 7,
            height: 6
        })
    );
    assert_eq!(disp.mode(), None);
    disp.set_mode(SMALL).unwrap();
    assert_eq!(disp.mode(), Some(SMALL));
    let argb = DisplayMode {
        format: PixelFormat::Argb8888,
        ..MODE
    };
    assert_eq!(
        disp.set_mode(argb),
        Err(EngineError::ModeRefused {
            width: 8,
            height: 6
        })
    );
    assert_eq!(disp.mode(), Some(SMALL));
    let (mode, pixels) = disp.screen().unwrap();
    assert_eq!(mode, SMALL);
    assert_eq!(pixels, vec![0; SMALL.framebuffer_bytes()]);
}

#[test]
fn flips_wait_for_their_in_fence_and_release_the_previous_framebuffer() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let mut disp = SoftDisplay::new(SCANOUT, &sim, MODE, &[], 2);
    disp.set_mode(MODE).unwrap();
    let desc = SurfaceDesc::packed(8, 6, X);
    let a = buffer(&d, &sim, "a", MODE.framebuffer_bytes());
    let b = buffer(&d, &sim, "b", MODE.framebuffer_bytes());
    cpu_write(&d, &a, &frame(3));
    cpu_write(&d, &b, &frame(5));

    let rendered = Timeline::new().next_fence();
    let gate = rendered.fence();
    let mut s = d.set();
    s.add(&a, Access::dma_read(SCANOUT)).unwrap();
    let fa = disp
        .flip(s.lock().unwrap(), Surface::new(&a, desc), Some(&gate))
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(disp.service(), 0, "the flip waits for its in-fence");
    assert_eq!(fa.presented.status(), FenceStatus::Pending);
    assert_eq!(disp.screen().unwrap().1, vec![0; MODE.framebuffer_bytes()]);
    rendered.signal();
    assert_eq!(disp.service(), 1);
    assert_eq!(fa.presented.status(), FenceStatus::Ok);
    assert_eq!(disp.screen().unwrap().1, frame(3));
    assert_eq!(fa.released.status(), FenceStatus::Pending, "a is on screen");
    assert!(!a.is_idle());

    let mut s = d.set();
    s.add(&b, Access::dma_read(SCANOUT)).unwrap();
    let fb = disp
        .flip(s.lock().unwrap(), Surface::new(&b, desc), None)
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(
        fa.released.status(),
        FenceStatus::Pending,
        "until b is presented"
    );
    assert_eq!(disp.service(), 1);
    assert_eq!(disp.screen().unwrap().1, frame(5));
    assert_eq!(fb.presented.status(), FenceStatus::Ok);
    assert_eq!(fa.released.status(), FenceStatus::Ok);
    assert_eq!(fb.released.status(), FenceStatus::Pending);
    // The CPU may draw into a again at once.
    cpu_write(&d, &a, &frame(7));
    assert_eq!(disp.presented(), 2);

    // Disabling the display releases what was on screen.
    disp.disable();
    assert_eq!(fb.released.status(), FenceStatus::Ok);
    assert!(disp.screen().is_none());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_framebuffer_with_row_padding_is_scanned_out_packed() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let mut disp = SoftDisplay::new(SCANOUT, &sim, MODE, &[], 2);
    disp.set_mode(MODE).unwrap();
    let desc = SurfaceDesc {
        offset: 64,
        width: 8,
        height: 6,
        stride: 48,
        format: X,
    };
    let fb = buffer(&d, &sim, "fb", 64 + 48 * 6);
    let bytes: Vec<u8> = (0..fb.len()).map(|i| i as u8).collect();
    cpu_write(&d, &fb, &bytes);
    let mut s = d.set();
    s.add(&fb, Access::dma_read(SCANOUT)).unwrap();
    disp.flip(s.lock().unwrap(), Surface::new(&fb, desc), None)
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(disp.service(), 1);
    let want: Vec<u8> = (0..6)
        .flat_map(|y| bytes[64 + y * 48..64 + y * 48 + 32].to_vec())
        .collect();
    assert_eq!(disp.screen().unwrap().1, want);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn every_refused_flip_leaves_the_previous_frame_on_screen() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let mut disp = SoftDisplay::new(SCANOUT, &sim, MODE, &[SMALL], 1);
    let desc = SurfaceDesc::packed(8, 6, X);
    let shown = buffer(&d, &sim, "shown", MODE.framebuffer_bytes());
    let next = buffer(&d, &sim, "next", MODE.framebuffer_bytes());
    let small = buffer(&d, &sim, "small", 4 * 4 * 4);
    cpu_write(&d, &shown, &frame(3));
    cpu_write(&d, &next, &frame(9));

    // No mode yet.
    let mut s = d.set();
    s.add(&shown, Access::dma_read(SCANOUT)).unwrap();
    let rej = disp
        .flip(s.lock().unwrap(), Surface::new(&shown, desc), None)
        .expect_err("no mode");
    assert_eq!(rej.error, EngineError::NoMode);
    rej.returned.unlock().unwrap();

    disp.set_mode(MODE).unwrap();
    let mut s = d.set();
    s.add(&shown, Access::dma_read(SCANOUT)).unwrap();
    let on = disp
        .flip(s.lock().unwrap(), Surface::new(&shown, desc), None)
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(disp.service(), 1);

    let refuse = |buf: &Buffer, access: Access, desc: SurfaceDesc, want: EngineError| {
        let mut s = d.set();
        s.add(buf, access).unwrap();
        let rej = disp
            .flip(s.lock().unwrap(), Surface::new(buf, desc), None)
            .expect_err("the flip must be refused");
        assert_eq!(rej.error, want);
        rej.returned.unlock().expect("the set comes back usable");
        assert_eq!(disp.pending(), 0, "nothing queued");
        assert_eq!(disp.service(), 0);
        assert_eq!(
            disp.screen().unwrap().1,
            frame(3),
            "the previous frame stays"
        );
    };
    // A framebuffer too small for the mode: by size, and by bytes in the buffer.
    refuse(
        &small,
        Access::dma_read(SCANOUT),
        SurfaceDesc::packed(4, 4, X),
        EngineError::FramebufferTooSmall {
            buffer: "small",
            need: MODE.framebuffer_bytes(),
            have: 64,
        },
    );
    refuse(
        &small,
        Access::dma_read(SCANOUT),
        desc,
        EngineError::FramebufferTooSmall {
            buffer: "small",
            need: MODE.framebuffer_bytes(),
            have: 64,
        },
    );
    // Not locked for this device's read: another device, the CPU, a write-only access.
    for access in [
        Access::dma_read(OTHER),
        Access::CPU_READ,
        Access::dma_write(SCANOUT),
    ] {
        refuse(
            &next,
            access,
            desc,
            EngineError::NotLockedFor {
                buffer: "next",
                wanted: "read",
            },
        );
    }
    // Wrong format; stride too small.
    refuse(
        &next,
        Access::dma_read(SCANOUT),
        SurfaceDesc::packed(8, 6, PixelFormat::Argb8888),
        EngineError::BadSurface {
            buffer: "next",
            why: "framebuffer pixel format differs from the display mode",
        },
    );
    refuse(
        &next,
        Access::dma_read(SCANOUT),
        SurfaceDesc { stride: 28, ..desc },
        EngineError::BadSurface {
            buffer: "next",
            why: "stride is smaller than a row",
        },
    );
    // Outside the registered range.
    let mut s = d.set();
    s.add_range(&next, Access::dma_read(SCANOUT), 0..64)
        .unwrap();
    let rej = disp
        .flip(s.lock().unwrap(), Surface::new(&next, desc), None)
        .expect_err("outside the range");
    assert_eq!(
        rej.error,
        EngineError::OutOfBounds {
            buffer: "next",
            what: "surface"
        }
    );
    rej.returned.unlock().unwrap();
    // A refused mode.
    assert!(
        disp.set_mode(DisplayMode {
            width: 1,
            height: 1,
            format: X
        })
        .is_err()
    );
    assert_eq!(disp.mode(), Some(MODE));
    assert_eq!(disp.screen().unwrap().1, frame(3));
    assert_eq!(on.released.status(), FenceStatus::Pending);
    assert_eq!(disp.presented(), 1);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_flip_whose_in_fence_fails_or_whose_mode_changed_never_reaches_the_screen() {
    use dmasync_soft::MODE_CHANGED;
    use dmasync_sync::fence::FenceError;

    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let mut disp = SoftDisplay::new(SCANOUT, &sim, MODE, &[SMALL], 4);
    disp.set_mode(MODE).unwrap();
    let desc = SurfaceDesc::packed(8, 6, X);
    let shown = buffer(&d, &sim, "shown", MODE.framebuffer_bytes());
    let bad = buffer(&d, &sim, "bad", MODE.framebuffer_bytes());
    cpu_write(&d, &shown, &frame(3));
    cpu_write(&d, &bad, &frame(11));
    let mut s = d.set();
    s.add(&shown, Access::dma_read(SCANOUT)).unwrap();
    let on = disp
        .flip(s.lock().unwrap(), Surface::new(&shown, desc), None)
        .map_err(|r| r.error)
        .unwrap();
    assert_eq!(disp.service(), 1);

    // The renderer failed: the flip fails with its error; the previous frame stays.
    let render = Timeline::new().next_fence();
    let mut s = d.set();
    s.add(&bad, Access::dma_read(SCANOUT)).unwrap();
    let failed = disp
        .flip(
            s.lock().unwrap(),
            Surface::new(&bad, desc),
            Some(&render.fence()),
        )
        .map_err(|r| r.error)
        .unwrap();
    render.signal_error(FenceError::DeviceError(5));
    assert_eq!(disp.service(), 0);
    assert_eq!(
        failed.presented.status(),
        FenceStatus::Err(FenceError::DeviceError(5))
    );
    assert_eq!(
        failed.released.status(),
        FenceStatus::Err(FenceError::Cancelled)
    );
    assert_eq!(disp.screen().unwrap().1, frame(3));
    assert_eq!(
        on.released.status(),
        FenceStatus::Pending,
        "still on screen"
    );
    // The buffer is free again for the CPU.
    cpu_write(&d, &bad, &frame(13));

    // A flip queued before a mode change fails with MODE_CHANGED when serviced.
    let mut s = d.set();
    s.add(&bad, Access::dma_read(SCANOUT)).unwrap();
    let stale = disp
        .flip(s.lock().unwrap(), Surface::new(&bad, desc), None)
        .map_err(|r| r.error)
        .unwrap();
    disp.set_mode(SMALL).unwrap();
    assert_eq!(
        on.released.status(),
        FenceStatus::Ok,
        "a mode set releases the screen"
    );
    assert_eq!(disp.service(), 0);
    assert_eq!(
        stale.presented.status(),
        FenceStatus::Err(FenceError::DeviceError(MODE_CHANGED))
    );
    assert_eq!(
        disp.screen().unwrap(),
        (SMALL, vec![0; SMALL.framebuffer_bytes()])
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_flip_asks_its_in_fence_for_the_next_vblank() {
    use std::time::Duration;
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let mut disp = SoftDisplay::new(SCANOUT, &sim, MODE, &[], 2);
    disp.set_mode(MODE).unwrap();
    let desc = SurfaceDesc::packed(8, 6, X);
    let a = buffer(&d, &sim, "a", MODE.framebuffer_bytes());
    let flip = |gate: &dmasync_sync::Fence| {
        let mut s = d.set();
        s.add(&a, Access::dma_read(SCANOUT)).unwrap();
        disp.flip(s.lock().unwrap(), Surface::new(&a, desc), Some(gate))
            .map_err(|r| r.error)
            .unwrap()
    };

    // Without a refresh period the display knows no vblank time: no hint.
    let rendered = Timeline::new().next_fence();
    let f = flip(&rendered.fence());
    assert_eq!(rendered.deadline(), None);
    rendered.signal();
    assert_eq!(disp.service(), 1);
    assert_eq!(f.presented.status(), FenceStatus::Ok);

    // A 60 Hz panel: the renderer is asked to be done by the next vblank, which is after
    // the latest serviced one and at most one period after now.
    let period = Duration::from_micros(16_667);
    disp.set_refresh_period(Some(period));
    assert_eq!(disp.service(), 0, "a vblank with nothing to show");
    let before = dmasync_hal::platform::now();
    let rendered = Timeline::new().next_fence();
    let mut s = d.set();
    s.add(&a, Access::dma_read(SCANOUT)).unwrap();
    let f = disp
        .flip(
            s.lock().unwrap(),
            Surface::new(&a, desc),
            Some(&rendered.fence()),
        )
        .map_err(|r| r.error)
        .unwrap();
    let after = dmasync_hal::platform::now();
    let hint = rendered.deadline().expect("the flip set a deadline");
    assert!(hint > before, "in the future");
    assert!(hint <= after.saturating_add(period), "within one period");
    assert_eq!(disp.next_vblank().map(|v| v >= hint), Some(true));
    rendered.signal();
    assert_eq!(disp.service(), 1);
    assert_eq!(f.presented.status(), FenceStatus::Ok);
    disp.disable();
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}
