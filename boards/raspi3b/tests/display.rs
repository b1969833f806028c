//! The firmware framebuffer (`dmasync-bcm2835-mbox`) through QEMU's model: the mode is set
//! with two buffers stacked in one virtual framebuffer and registered in the sync domain;
//! fenced flips are presented in order, each one the firmware's virtual offset read back
//! (tag 0x40009) shows, with `presented` and the previous frame's `released` signalling
//! then; every refused request (another mode once allocated, a buffer that is not the
//! framebuffer's, a surface smaller than the mode or at another pitch, a buffer not locked
//! for the display, a failed in-fence) leaves the offset, the frame on screen and its
//! `released` as they were. The firmware's own refusals (a tag unanswered, a size it
//! changed, base 0) cannot be provoked in QEMU's model within the driver's limits: they
//! are host-tested (drivers/bcm2835-mbox/tests/host.rs).
//!
//! Prints `display: preferred=<W>x<H>`, `test <case> ... ok` per case and, after the last
//! case, the on-screen marker board.toml `[tests.display]` requires.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;

use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, PixelFormat,
    Surface, SurfaceDesc,
};
use dmasync_hal::dma::{Coherency, DmaMemory};
use dmasync_raspi3b::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_raspi3b::arch::{console, ensure, println, test_info};
use dmasync_raspi3b::display::{self, DISPLAY_DEVICE, Display};
use dmasync_raspi3b::{demo, memory_map, setup_failed};
use dmasync_sync::fence::{FenceError, FenceProducer, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer};
use dmasync_sync::{Fence, FenceResult};

dmasync_aarch64::entry!(main, 40);

const MODE: DisplayMode = DisplayMode {
    width: 640,
    height: 480,
    format: PixelFormat::Xrgb8888,
};
const FULL: SurfaceDesc = SurfaceDesc::packed(640, 480, PixelFormat::Xrgb8888);
/// Words of the pixel format (0x00RRGGBB).
const RED: u32 = 0x00ff_0000;
const BLUE: u32 = 0x0000_00ff;

struct Ctx {
    display: RefCell<Display>,
    domain: &'static demo::Domain,
    /// The framebuffer's two buffers, registered by the first case.
    fb: RefCell<Option<&'static [SyncBuffer; 2]>>,
    /// A full-size buffer from the DMA pool: not the framebuffer's.
    elsewhere: &'static SyncBuffer,
    /// `released` of the frame on screen.
    on_screen: RefCell<Option<Fence>>,
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let b = dmasync_raspi3b::init(x0);
    let pool = demo::dma_pool(&b);
    let domain = demo::domain(Duration::from_secs(10));
    let d = display::open(domain, pool, 2).unwrap_or_else(|e| setup_failed(format_args!("{e}")));
    let pref = d.preferred_mode();
    println!("display: preferred={}x{}", pref.width, pref.height);
    let region = pool
        .alloc(MODE.framebuffer_bytes(), Coherency::NonCoherent)
        .unwrap_or_else(|e| setup_failed(format_args!("DMA pool: {e}")));
    let elsewhere: &'static SyncBuffer =
        Box::leak(Box::new(domain.buffer("elsewhere", region).unwrap_or_else(
            |_| setup_failed(format_args!("sync domain refused a buffer")),
        )));
    let ctx = Ctx {
        display: RefCell::new(d),
        domain,
        fb: RefCell::new(None),
        elsewhere,
        on_screen: RefCell::new(None),
    };
    testkit::run(
        &ctx,
        &[
            Test {
                name: "mode_set_with_two_buffers",
                run: mode_set_with_two_buffers,
            },
            Test {
                name: "fenced_flips_in_order",
                run: fenced_flips_in_order,
            },
            Test {
                name: "refusals_keep_the_previous_frame",
                run: refusals_keep_the_previous_frame,
            },
            Test {
                name: "failed_in_fence_keeps_the_previous_frame",
                run: failed_in_fence_keeps_the_previous_frame,
            },
        ],
    )
}

fn fail(why: impl core::fmt::Display) -> Failure {
    Failure(alloc::format!("{why}"))
}

fn fb(ctx: &Ctx, i: usize) -> Result<&'static SyncBuffer, Failure> {
    ctx.fb
        .borrow()
        .map(|b| &b[i])
        .ok_or_else(|| fail("the framebuffer's buffers are not registered (mode set failed)"))
}

/// Fills `buf` with `color` through a CPU-write sync set.
fn fill(ctx: &Ctx, buf: &SyncBuffer, color: u32) -> TestResult {
    let mut set = ctx.domain.set();
    set.add(buf, Access::CPU_WRITE).map_err(fail)?;
    let locked = set.lock().map_err(fail)?;
    locked
        .cpu_write(buf)
        .map_err(fail)?
        .with_mut(|bytes| {
            for px in bytes.chunks_exact_mut(4) {
                px.copy_from_slice(&color.to_le_bytes());
            }
        })
        .map_err(fail)?;
    locked.unlock().map_err(fail)
}

/// Locks `buf` for `access` and flips it as a `desc` surface.
fn flip(
    ctx: &Ctx,
    buf: &SyncBuffer,
    access: Access,
    desc: SurfaceDesc,
    in_fence: Option<&Fence>,
) -> Result<FlipFences, EngineError> {
    let mut set = ctx.domain.set();
    set.add(buf, access).map_err(EngineError::Sync)?;
    let locked = set.lock().map_err(EngineError::Sync)?;
    let display = ctx.display.borrow();
    match display.flip(locked, Surface::new(buf, desc), in_fence) {
        Ok(f) => Ok(f),
        Err(rejected) => {
            rejected.returned.unlock().map_err(EngineError::Sync)?;
            Err(rejected.error)
        }
    }
}

/// The firmware's virtual offset now.
fn offset(ctx: &Ctx) -> Result<(u32, u32), Failure> {
    ctx.display.borrow().virtual_offset().map_err(fail)
}

fn mode_set_with_two_buffers(ctx: &Ctx) -> TestResult {
    ensure!(ctx.display.borrow().mode().is_none(), "a mode at open");
    let bufs: Vec<SyncBuffer> =
        display::set_mode_and_register(&mut ctx.display.borrow_mut(), ctx.domain, MODE)
            .map_err(fail)?;
    let d = ctx.display.borrow();
    let f = d
        .framebuffer()
        .ok_or_else(|| fail("no framebuffer after the mode set"))?;
    test_info!(
        "framebuffer at {:#x}, pitch {}, {} bytes for {} buffers",
        f.base,
        f.pitch,
        f.size,
        f.buffers
    );
    ensure!(d.mode() == Some(MODE), "mode {:?}", d.mode());
    ensure!(f.buffers == 2 && bufs.len() == 2, "{} buffers", bufs.len());
    ensure!(f.pitch == MODE.width * 4, "pitch {}", f.pitch);
    ensure!(
        memory_map::VC_WINDOW.contains(&(f.base as usize)),
        "base {:#x} outside the VideoCore's memory",
        f.base
    );
    ensure!(
        f.size as usize >= 2 * f.buffer_bytes(),
        "{} bytes allocated",
        f.size
    );
    ensure!(
        bufs[1].region().bus().0 == f.base + f.buffer_bytes() as u64,
        "buffer 1 is not below buffer 0"
    );
    drop(d);
    ensure!(offset(ctx)? == (0, 0), "offset after the mode set");
    let arr: [SyncBuffer; 2] = bufs.try_into().map_err(|_| fail("not two buffers"))?;
    *ctx.fb.borrow_mut() = Some(Box::leak(Box::new(arr)));
    // The same mode again is a no-op.
    ctx.display.borrow_mut().set_mode(MODE).map_err(fail)?;
    Ok(())
}

fn fenced_flips_in_order(ctx: &Ctx) -> TestResult {
    let (b0, b1) = (fb(ctx, 0)?, fb(ctx, 1)?);
    let d = || ctx.display.borrow();
    fill(ctx, b1, RED)?;
    fill(ctx, b0, BLUE)?;
    let in1 = FenceProducer::one_off();
    let f1 = flip(
        ctx,
        b1,
        Access::dma_read(DISPLAY_DEVICE),
        FULL,
        Some(&in1.fence()),
    )
    .map_err(fail)?;
    let in0 = FenceProducer::one_off();
    let f0 = flip(
        ctx,
        b0,
        Access::dma_read(DISPLAY_DEVICE),
        FULL,
        Some(&in0.fence()),
    )
    .map_err(fail)?;
    ensure!(d().service() == 0, "flip 1 presented before its in-fence");
    ensure!(
        offset(ctx)? == (0, 0),
        "the offset moved before the in-fence"
    );
    // The second flip's fence first: it still waits behind the first (in order).
    in0.signal();
    ensure!(d().service() == 0, "flip 0 overtook flip 1");
    ensure!(
        f0.presented.status() == FenceStatus::Pending,
        "0 presented early"
    );
    in1.signal();
    // One service presents both, in order: 1 then 0 (1 released by 0).
    ensure!(d().service() == 2, "not both presented");
    ensure!(
        f1.presented.status() == FenceStatus::Ok,
        "1: {:?}",
        f1.presented.status()
    );
    ensure!(
        f1.released.status() == FenceStatus::Ok,
        "1 not released by 0"
    );
    ensure!(
        f0.presented.status() == FenceStatus::Ok,
        "0: {:?}",
        f0.presented.status()
    );
    ensure!(
        f0.released.status() == FenceStatus::Pending,
        "0 released on screen"
    );
    ensure!(
        offset(ctx)? == (0, 0),
        "buffer 0 on screen, offset {:?}",
        offset(ctx)?
    );
    ensure!(
        d().on_screen() == Some(0),
        "on screen {:?}",
        d().on_screen()
    );
    // Buffer 1 is free: the CPU writes it, and it goes on screen alone.
    fill(ctx, b1, RED)?;
    let f1 = flip(ctx, b1, Access::dma_read(DISPLAY_DEVICE), FULL, None).map_err(fail)?;
    ensure!(d().service() == 1, "flip not presented");
    ensure!(
        offset(ctx)? == (0, 480),
        "buffer 1 on screen, offset {:?}",
        offset(ctx)?
    );
    ensure!(
        f0.released.status() == FenceStatus::Ok,
        "0 not released by 1"
    );
    ensure!(
        f1.released.status() == FenceStatus::Pending,
        "1 released on screen"
    );
    *ctx.on_screen.borrow_mut() = Some(f1.released);
    Ok(())
}

/// Buffer 1 is still on screen: offset, driver state and its `released`.
fn previous_frame_stays(ctx: &Ctx, after: &str) -> TestResult {
    let d = ctx.display.borrow();
    ensure!(d.service() == 0, "{after}: presented");
    ensure!(d.pending_flips() == 0, "{after}: queued");
    ensure!(
        d.on_screen() == Some(1),
        "{after}: on screen {:?}",
        d.on_screen()
    );
    drop(d);
    ensure!(
        offset(ctx)? == (0, 480),
        "{after}: offset {:?}",
        offset(ctx)?
    );
    if let Some(r) = ctx.on_screen.borrow().as_ref() {
        ensure!(
            r.status() == FenceStatus::Pending,
            "{after}: the frame on screen was released: {:?}",
            r.status()
        );
    }
    Ok(())
}

fn refusals_keep_the_previous_frame(ctx: &Ctx) -> TestResult {
    let b0 = fb(ctx, 0)?;
    let other = DisplayMode {
        width: 800,
        height: 600,
        ..MODE
    };
    let r = ctx.display.borrow_mut().set_mode(other);
    ensure!(
        r == Err(EngineError::ModeRefused {
            width: 800,
            height: 600
        }),
        "another mode: {r:?}"
    );
    ensure!(
        ctx.display.borrow().mode() == Some(MODE),
        "the mode changed"
    );
    previous_frame_stays(ctx, "another mode")?;

    let e = flip(
        ctx,
        ctx.elsewhere,
        Access::dma_read(DISPLAY_DEVICE),
        FULL,
        None,
    );
    ensure!(
        matches!(
            e,
            Err(EngineError::BadSurface {
                buffer: "elsewhere",
                ..
            })
        ),
        "a buffer from the pool: {e:?}"
    );
    previous_frame_stays(ctx, "a foreign buffer")?;

    let half = SurfaceDesc::packed(320, 480, PixelFormat::Xrgb8888);
    let e = flip(ctx, b0, Access::dma_read(DISPLAY_DEVICE), half, None);
    ensure!(
        matches!(
            e,
            Err(EngineError::FramebufferTooSmall { buffer: "fb0", .. })
        ),
        "half a frame: {e:?}"
    );
    previous_frame_stays(ctx, "half a frame")?;

    let padded = SurfaceDesc {
        stride: 640 * 4 + 64,
        ..FULL
    };
    let e = flip(ctx, b0, Access::dma_read(DISPLAY_DEVICE), padded, None);
    ensure!(
        matches!(
            e,
            Err(EngineError::BadSurface { buffer: "fb0", .. }
                | EngineError::FramebufferTooSmall { buffer: "fb0", .. })
        ),
        "another pitch: {e:?}"
    );
    previous_frame_stays(ctx, "another pitch")?;

    let e = flip(ctx, b0, Access::CPU_READ, FULL, None);
    ensure!(
        matches!(e, Err(EngineError::NotLockedFor { buffer: "fb0", .. })),
        "locked for the CPU: {e:?}"
    );
    let e = flip(ctx, b0, Access::dma_read(demo::DMA_DEVICE), FULL, None);
    ensure!(
        matches!(e, Err(EngineError::NotLockedFor { buffer: "fb0", .. })),
        "locked for the DMA: {e:?}"
    );
    previous_frame_stays(ctx, "not locked for the display")
}

fn failed_in_fence_keeps_the_previous_frame(ctx: &Ctx) -> TestResult {
    let b0 = fb(ctx, 0)?;
    let bad = Fence::signalled(FenceResult::Err(FenceError::Timeout));
    let f = flip(ctx, b0, Access::dma_read(DISPLAY_DEVICE), FULL, Some(&bad)).map_err(fail)?;
    ensure!(
        ctx.display.borrow().service() == 0,
        "a failed frame presented"
    );
    ensure!(
        f.presented.status() == FenceStatus::Err(FenceError::Timeout),
        "presented: {:?}",
        f.presented.status()
    );
    ensure!(
        f.released.status() == FenceStatus::Err(FenceError::Timeout),
        "released: {:?}",
        f.released.status()
    );
    previous_frame_stays(ctx, "a failed in-fence")?;
    // What a screendump must show now: buffer 1, all red.
    if let Err(e) =
        console::request_screendump(1, MODE.width, MODE.height, console::HOST_ACK_TIMEOUT)
    {
        test_info!("screendump not taken: {e}");
    }
    println!("display: on screen fb=fb1 color={RED:#010x}");
    Ok(())
}
