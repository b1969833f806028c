//! FIMD0 on target, judged by QEMU's exynos4210.fimd model: the mode is set, framebuffers
//! filled by the CPU through sync sets are flipped behind in-fences, and `presented` signals
//! only once the controller has drawn from the new address — under `-display none` that is
//! the screendump xtask takes, so the test checks `presented` is still pending before it
//! and signalled (from the frame interrupt) after it. The overlay window (ARGB8888, per-pixel
//! alpha) is blended by QEMU over the primary; xtask compares both screendumps with the
//! scene as QEMU composes it (board.toml `[tests.display]`, `compare-fimd-blend`), an oracle
//! this project did not write for the blend. Every bad input is refused with its error while
//! the previous frame stays on screen; the last screendump shows it still there.
//!
//! Expected output: `test <case> ... ok` per case, then the on-screen marker board.toml
//! requires and `verdict: ok (N cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use core::cell::RefCell;
use core::time::Duration;

use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, PixelFormat,
    Surface, SurfaceDesc,
};
use dmasync_exynos4::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_exynos4::arch::{console, cpu, ensure, println, test_info};
use dmasync_exynos4::display::{self, DISPLAY_DEVICE, Display};
use dmasync_exynos4::dma::{self, Domain};
use dmasync_exynos4::setup_failed;
use dmasync_fimd::scene::{self, PRIMARY_ONLY, WITH_OVERLAY};
use dmasync_fimd::{Evidence, OVERLAY, PRIMARY};
use dmasync_hal::dma::{Coherency, DmaMemory};
use dmasync_sync::fence::{FenceError, FenceProducer, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer};
use dmasync_sync::{Fence, FenceResult};

const MODE: DisplayMode = display::PREFERRED_MODE;

/// How long a flip may take to be presented once the screendump has drawn a frame.
const PRESENT_PATIENCE: Duration = Duration::from_secs(2);

struct Ctx {
    display: RefCell<Display>,
    domain: &'static Domain,
    /// Two full-mode framebuffers, both with the primary pattern.
    fb: [&'static SyncBuffer; 2],
    /// The overlay's buffer.
    overlay: &'static SyncBuffer,
    /// A buffer a quarter of the mode's size.
    small: &'static SyncBuffer,
    /// `released` of the frames on screen (primary, overlay), kept to check they stay pending.
    on_screen: RefCell<[Option<Fence>; 2]>,
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    let display = display::open().unwrap_or_else(|e| setup_failed(format_args!("{e}")));
    cpu::enable_irqs();
    let pool = dma::dma_pool(&board);
    // A frame stays locked for the display until the next flip replaces it.
    let domain = dma::domain(&board, Duration::from_secs(120));
    let buffer = |name: &'static str, len: usize| -> &'static SyncBuffer {
        let region = pool
            .alloc(len, Coherency::NonCoherent)
            .unwrap_or_else(|e| setup_failed(format_args!("display test buffer {name}: {e}")));
        let b = domain
            .buffer(name, region)
            .unwrap_or_else(|e| setup_failed(format_args!("display test buffer {name}: {e}")));
        Box::leak(Box::new(b))
    };
    let (_, _, ow, oh) = scene::overlay_geometry(MODE.width, MODE.height);
    let ctx = Ctx {
        display: RefCell::new(display),
        domain,
        fb: [
            buffer("A", MODE.framebuffer_bytes()),
            buffer("B", MODE.framebuffer_bytes()),
        ],
        overlay: buffer("overlay", (ow * oh * 4) as usize),
        small: buffer("small", MODE.framebuffer_bytes() / 4),
        on_screen: RefCell::new([None, None]),
    };
    println!(
        "display: FIMD0 preferred={}x{} evidence={:?}",
        MODE.width,
        MODE.height,
        display.evidence()
    );
    testkit::run(
        &ctx,
        &[
            Test {
                name: "flip_without_mode_is_refused",
                run: flip_without_mode,
            },
            Test {
                name: "modes_fimd_cannot_drive_are_refused",
                run: modes_fimd_cannot_drive,
            },
            Test {
                name: "preferred_mode_is_set",
                run: preferred_mode_is_set,
            },
            Test {
                name: "presented_only_after_the_controller_drew_the_new_address",
                run: presented_only_after_drawn,
            },
            Test {
                name: "overlay_blends_per_pixel_alpha_and_releases_in_order",
                run: overlay_blends,
            },
            Test {
                name: "too_small_or_misaligned_framebuffer_is_refused",
                run: bad_framebuffers,
            },
            Test {
                name: "buffer_not_locked_for_display_read_is_refused",
                run: not_locked_for_display,
            },
            Test {
                name: "overlay_off_the_screen_is_refused",
                run: overlay_off_the_screen,
            },
            Test {
                name: "refused_mode_keeps_mode_and_frame",
                run: refused_mode_keeps_mode,
            },
            Test {
                name: "failed_in_fence_cancels_the_flip",
                run: failed_in_fence,
            },
        ],
    )
}

fn fail(why: impl core::fmt::Display) -> Failure {
    Failure(alloc::format!("{why}"))
}

/// Writes `pixel(x, y)` to every pixel of the `width`-wide, tightly packed `buf` through a
/// CPU-write sync set.
fn draw(ctx: &Ctx, buf: &SyncBuffer, width: u32, pixel: impl Fn(u32, u32) -> u32) -> TestResult {
    let mut set = ctx.domain.set();
    set.add(buf, Access::CPU_WRITE).map_err(fail)?;
    let locked = set.lock().map_err(fail)?;
    locked
        .cpu_write(buf)
        .map_err(fail)?
        .with_mut(|bytes| {
            for (i, px) in bytes.chunks_exact_mut(4).enumerate() {
                let (x, y) = (i as u32 % width, i as u32 / width);
                px.copy_from_slice(&pixel(x, y).to_le_bytes());
            }
        })
        .map_err(fail)?;
    locked.unlock().map_err(fail)
}

fn draw_primary(ctx: &Ctx, buf: &SyncBuffer) -> TestResult {
    draw(ctx, buf, MODE.width, scene::primary_pixel)
}

/// Locks `buf` for `access` and flips it as a `desc` surface on window `w`.
fn flip(
    ctx: &Ctx,
    w: usize,
    buf: &'static SyncBuffer,
    access: Access,
    desc: SurfaceDesc,
    in_fence: Option<&Fence>,
) -> Result<FlipFences, EngineError> {
    let mut set = ctx.domain.set();
    set.add(buf, access).map_err(EngineError::Sync)?;
    let locked = set.lock().map_err(EngineError::Sync)?;
    let display = ctx.display.borrow();
    let r = if w == PRIMARY {
        display.flip(locked, Surface::new(buf, desc), in_fence)
    } else {
        display
            .lock()
            .overlay()
            .flip(locked, Surface::new(buf, desc), in_fence)
    };
    r.or_else(|rejected| {
        // The set comes back: release it, the caller still owns its buffer.
        rejected.returned.unlock().map_err(EngineError::Sync)?;
        Err(rejected.error)
    })
}

fn full() -> SurfaceDesc {
    SurfaceDesc::packed(MODE.width, MODE.height, MODE.format)
}

fn overlay_desc() -> SurfaceDesc {
    let (_, _, ow, oh) = scene::overlay_geometry(MODE.width, MODE.height);
    SurfaceDesc::packed(ow, oh, PixelFormat::Argb8888)
}

fn status(f: &Fence) -> FenceStatus {
    f.status()
}

/// Asks xtask for a screendump of `frame` and waits for it: QEMU draws a frame for it,
/// which is what lets flips in flight complete under `-display none`.
fn screendump(frame: u32) -> TestResult {
    console::request_screendump(frame, MODE.width, MODE.height, console::HOST_ACK_TIMEOUT)
        .map_err(|e| fail(alloc::format!("screendump {frame} not taken: {e}")))
}

/// The frames on screen are still the ones the last successful flips put there.
fn previous_frame_stays(ctx: &Ctx) -> TestResult {
    let d = ctx.display.borrow();
    ensure!(d.service() == 0, "a refused flip was presented");
    for w in [PRIMARY, OVERLAY] {
        ensure!(
            d.pending_flips(w) == 0,
            "a refused flip was queued on window {w}"
        );
    }
    for (w, released) in ctx.on_screen.borrow().iter().enumerate() {
        if let Some(r) = released {
            ensure!(
                status(r) == FenceStatus::Pending,
                "window {w}'s frame on screen was released by a refused request: {:?}",
                status(r)
            );
        }
    }
    Ok(())
}

fn flip_without_mode(ctx: &Ctx) -> TestResult {
    ensure!(
        ctx.display.borrow().mode().is_none(),
        "a mode is set at open"
    );
    draw_primary(ctx, ctx.fb[0])?;
    let r = flip(
        ctx,
        PRIMARY,
        ctx.fb[0],
        Access::dma_read(DISPLAY_DEVICE),
        full(),
        None,
    );
    ensure!(
        matches!(r, Err(EngineError::NoMode)),
        "flip before set_mode gave {:?}",
        r.map(|_| ())
    );
    test_info!("refused: {}", EngineError::NoMode);
    previous_frame_stays(ctx)
}

/// Sizes VIDTCON2 cannot hold (HOZVAL/LINEVAL are 11 bits: at most 2048), an odd width (the
/// 64-bit fetch needs whole pixel pairs), an empty one, and a format window 0 does not scan.
fn refused_modes() -> [(DisplayMode, &'static str); 4] {
    let m = |width, height, format| DisplayMode {
        width,
        height,
        format,
    };
    [
        (m(4096, 480, PixelFormat::Xrgb8888), "too wide"),
        (m(641, 480, PixelFormat::Xrgb8888), "odd width"),
        (m(640, 0, PixelFormat::Xrgb8888), "no lines"),
        (m(640, 480, PixelFormat::Argb8888), "not XRGB8888"),
    ]
}

fn modes_fimd_cannot_drive(ctx: &Ctx) -> TestResult {
    for (m, what) in refused_modes() {
        let r = ctx.display.borrow_mut().set_mode(m);
        let ok = match m.format {
            PixelFormat::Xrgb8888 => {
                r == Err(EngineError::ModeRefused {
                    width: m.width,
                    height: m.height,
                })
            }
            _ => matches!(r, Err(EngineError::Unsupported(_))),
        };
        ensure!(ok, "set_mode {what} ({}x{}) gave {r:?}", m.width, m.height);
        test_info!("refused ({what}): {}", r.unwrap_err());
        ensure!(
            ctx.display.borrow().mode().is_none(),
            "a refused mode was set"
        );
    }
    Ok(())
}

fn preferred_mode_is_set(ctx: &Ctx) -> TestResult {
    let m = ctx.display.borrow().preferred_mode();
    ensure!(m == MODE, "preferred mode {m:?}");
    ctx.display.borrow_mut().set_mode(m).map_err(fail)?;
    ensure!(ctx.display.borrow().mode() == Some(m), "mode not set");
    test_info!("mode {}x{}", m.width, m.height);
    Ok(())
}

/// Frame A behind an in-fence: nothing is programmed before the fence, and once it is, the
/// flip stays pending until QEMU draws (the screendump), then the frame interrupt presents
/// it.
fn presented_only_after_drawn(ctx: &Ctx) -> TestResult {
    let d = || ctx.display.borrow();
    ensure!(
        d().evidence() == Evidence::FrameAfterProgramming,
        "QEMU's shadow registers are plain stores, yet the probe found {:?}",
        d().evidence()
    );
    draw_primary(ctx, ctx.fb[0])?;
    let in_a = FenceProducer::one_off();
    let a = flip(
        ctx,
        PRIMARY,
        ctx.fb[0],
        Access::dma_read(DISPLAY_DEVICE),
        full(),
        Some(&in_a.fence()),
    )
    .map_err(fail)?;
    ensure!(d().service() == 0, "flip A presented before its in-fence");
    ensure!(
        d().pending_flips(PRIMARY) == 1,
        "flip A not queued behind its in-fence"
    );
    in_a.signal();
    // Programmed now (the service call takes it off the queue), but nothing has been drawn.
    ensure!(
        d().service() == 0,
        "flip A presented before QEMU drew a frame"
    );
    ensure!(
        d().pending_flips(PRIMARY) == 0,
        "flip A not programmed after its in-fence"
    );
    ensure!(
        status(&a.presented) == FenceStatus::Pending,
        "A presented before any frame: {:?}",
        status(&a.presented)
    );
    screendump(PRIMARY_ONLY)?;
    // The frame interrupt runs the service; the wait only watches.
    let st = a.presented.wait_timeout(PRESENT_PATIENCE);
    ensure!(
        st == FenceStatus::Ok,
        "A not presented after the screendump's frame: {st:?}"
    );
    ensure!(
        status(&a.released) == FenceStatus::Pending,
        "A released while on screen"
    );
    ctx.on_screen.borrow_mut()[PRIMARY] = Some(a.released);
    Ok(())
}

/// Frame B on the primary and the overlay, both presented by one drawn frame; A is released
/// with B's presentation and the CPU can write it again at once.
fn overlay_blends(ctx: &Ctx) -> TestResult {
    let (ox, oy, ow, oh) = scene::overlay_geometry(MODE.width, MODE.height);
    {
        let d = ctx.display.borrow();
        let fimd = d.lock();
        let mut overlay = fimd.overlay();
        overlay
            .set_mode(DisplayMode {
                width: ow,
                height: oh,
                format: PixelFormat::Argb8888,
            })
            .map_err(fail)?;
        overlay.set_position(ox, oy).map_err(fail)?;
    }
    draw(ctx, ctx.overlay, ow, |x, y| scene::overlay_pixel(x, y, ow))?;
    draw_primary(ctx, ctx.fb[1])?;
    let done = Fence::signalled(FenceResult::Ok(()));
    let b = flip(
        ctx,
        PRIMARY,
        ctx.fb[1],
        Access::dma_read(DISPLAY_DEVICE),
        full(),
        Some(&done),
    )
    .map_err(fail)?;
    let o = flip(
        ctx,
        OVERLAY,
        ctx.overlay,
        Access::dma_read(DISPLAY_DEVICE),
        overlay_desc(),
        None,
    )
    .map_err(fail)?;
    ctx.display.borrow().service();
    let a_released = ctx.on_screen.borrow_mut()[PRIMARY]
        .take()
        .ok_or_else(|| fail("frame A is not on screen"))?;
    ensure!(
        status(&b.presented) == FenceStatus::Pending
            && status(&o.presented) == FenceStatus::Pending
            && status(&a_released) == FenceStatus::Pending,
        "B or the overlay presented, or A released, before QEMU drew a frame"
    );
    screendump(WITH_OVERLAY)?;
    for (what, f) in [("B", &b.presented), ("the overlay", &o.presented)] {
        let st = f.wait_timeout(PRESENT_PATIENCE);
        ensure!(
            st == FenceStatus::Ok,
            "{what} not presented after the frame: {st:?}"
        );
    }
    ensure!(
        status(&a_released) == FenceStatus::Ok,
        "A not released when B was presented: {:?}",
        status(&a_released)
    );
    // A's lock went with its release: the CPU can write A again at once.
    draw_primary(ctx, ctx.fb[0])?;
    *ctx.on_screen.borrow_mut() = [Some(b.released), Some(o.released)];
    test_info!("overlay {ow}x{oh} at ({ox},{oy}) blended over B");
    Ok(())
}

fn bad_framebuffers(ctx: &Ctx) -> TestResult {
    let small = SurfaceDesc::packed(MODE.width, MODE.height, MODE.format);
    let r = flip(
        ctx,
        PRIMARY,
        ctx.small,
        Access::dma_read(DISPLAY_DEVICE),
        small,
        None,
    );
    ensure!(
        matches!(r, Err(EngineError::FramebufferTooSmall { buffer: "small", need, have })
            if need == MODE.framebuffer_bytes() && have < need),
        "a full-mode surface in a small buffer gave {:?}",
        r.map(|_| ())
    );
    test_info!("refused: {}", r.unwrap_err());
    // A stride FIMD cannot fetch (not whole 64-bit words), in a buffer big enough for it.
    let odd_stride = SurfaceDesc {
        stride: MODE.width as usize * 4 + 4,
        ..full()
    };
    let r = flip(
        ctx,
        PRIMARY,
        ctx.fb[0],
        Access::dma_read(DISPLAY_DEVICE),
        odd_stride,
        None,
    );
    ensure!(
        matches!(
            r,
            Err(EngineError::BadSurface { buffer: "A", .. })
                | Err(EngineError::FramebufferTooSmall { buffer: "A", .. })
        ),
        "a stride of {} bytes gave {:?}",
        odd_stride.stride,
        r.map(|_| ())
    );
    test_info!("refused: {}", r.unwrap_err());
    previous_frame_stays(ctx)
}

fn not_locked_for_display(ctx: &Ctx) -> TestResult {
    let cases = [
        ("a CPU-read lock", Access::CPU_READ),
        (
            "another device's read lock",
            Access::dma_read(dmasync_hal::dma::DeviceId(DISPLAY_DEVICE.0 + 1)),
        ),
        ("a display-write lock", Access::dma_write(DISPLAY_DEVICE)),
    ];
    for (what, access) in cases {
        let r = flip(ctx, PRIMARY, ctx.fb[0], access, full(), None);
        ensure!(
            matches!(r, Err(EngineError::NotLockedFor { buffer: "A", .. })),
            "{what} gave {:?}",
            r.map(|_| ())
        );
        test_info!("refused ({what}): {}", r.unwrap_err());
    }
    previous_frame_stays(ctx)
}

fn overlay_off_the_screen(ctx: &Ctx) -> TestResult {
    let d = ctx.display.borrow();
    let fimd = d.lock();
    let before = fimd.overlay().geometry();
    let r = fimd.overlay().set_position(MODE.width - 2, MODE.height - 2);
    ensure!(
        matches!(r, Err(EngineError::Unsupported(_))),
        "an overlay past the screen's corner gave {r:?}"
    );
    ensure!(
        fimd.overlay().geometry() == before,
        "a refused position moved the overlay"
    );
    test_info!("refused: {}", r.unwrap_err());
    drop(fimd);
    drop(d);
    previous_frame_stays(ctx)
}

fn refused_mode_keeps_mode(ctx: &Ctx) -> TestResult {
    for (bad, what) in refused_modes() {
        let r = ctx.display.borrow_mut().set_mode(bad);
        ensure!(r.is_err(), "set_mode {what} was accepted");
        ensure!(
            ctx.display.borrow().mode() == Some(MODE),
            "a refused mode replaced the current one"
        );
    }
    // A different, drivable size is refused too while a frame is on screen: its buffer was
    // checked for this one.
    let r = ctx.display.borrow_mut().set_mode(DisplayMode {
        width: 320,
        height: 240,
        format: PixelFormat::Xrgb8888,
    });
    ensure!(
        matches!(r, Err(EngineError::Unsupported(_))),
        "a mode change under a shown frame gave {r:?}"
    );
    test_info!("refused: {}", r.unwrap_err());
    previous_frame_stays(ctx)
}

fn failed_in_fence(ctx: &Ctx) -> TestResult {
    let in_f = FenceProducer::one_off();
    let f = flip(
        ctx,
        PRIMARY,
        ctx.fb[0],
        Access::dma_read(DISPLAY_DEVICE),
        full(),
        Some(&in_f.fence()),
    )
    .map_err(fail)?;
    in_f.signal_error(FenceError::DeviceError(7));
    ensure!(
        ctx.display.borrow().service() == 0,
        "a flip behind a failed in-fence was presented"
    );
    ensure!(
        status(&f.presented) == FenceStatus::Err(FenceError::DeviceError(7))
            && status(&f.released) == FenceStatus::Err(FenceError::DeviceError(7)),
        "fences of the cancelled flip: presented {:?}, released {:?}",
        status(&f.presented),
        status(&f.released)
    );
    // Its buffer came back (with the error) and the CPU can take it.
    draw_primary(ctx, ctx.fb[0])?;
    previous_frame_stays(ctx)?;
    println!(
        "display: on screen fb=B with the overlay {}x{}",
        MODE.width, MODE.height
    );
    // After every refusal the screen must still show B with the overlay.
    screendump(WITH_OVERLAY)
}
