//! The display on target (virtio-gpu or ramfb, whichever the variant's QEMU has): the
//! preferred mode is set, two dmasync-managed framebuffers (filled by the CPU through sync
//! sets, then locked for the display's read) are flipped behind in-fences, and presented /
//! released fences signal in order; every bad input is refused with its error while the
//! previous frame stays on screen; on virtio-gpu, a device error response (ATTACH_BACKING of
//! memory QEMU cannot map) fails the flip with `DeviceError` and the previous frame stays.
//!
//! It prints `display: backend=<virtio-gpu|ramfb> preferred=<W>x<H>`, `test <case> ... ok`
//! per case and, once the last case has run, the on-screen marker (what a screendump must
//! show) that board.toml `[tests.display]` requires, the one place it is written.
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
use dmasync_hal::cache::CacheMaintenance;
use dmasync_hal::dma::{BusAddr, Coherency, DirectMemory, DmaRegion};
use dmasync_qemu_virt::arch::cache::DataCache;
use dmasync_qemu_virt::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_qemu_virt::arch::{console, ensure, println, test_info};
use dmasync_qemu_virt::display::{self, DISPLAY_DEVICE, Display};
use dmasync_qemu_virt::{Board, setup_failed};
use dmasync_sync::fence::{FenceError, FenceProducer, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};
use dmasync_sync::{Fence, FenceResult};

dmasync_aarch64::entry!(main, 40);

type Domain = SyncDomain<DirectMemory<DataCache>>;

const RED: u32 = 0x00ff_0000;
const GREEN: u32 = 0x0000_ff00;

struct Ctx {
    display: RefCell<Display>,
    domain: &'static Domain,
    /// Two full-mode framebuffers.
    fb: [&'static SyncBuffer; 2],
    /// A buffer a quarter of the mode's size.
    small: &'static SyncBuffer,
    /// A full-size buffer at a bus address with no RAM behind it (never touched by the CPU).
    no_ram: &'static SyncBuffer,
    /// `released` of the frame on screen, kept to check it stays pending.
    on_screen: RefCell<Option<Fence>>,
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_qemu_virt::init(x0);
    let display = display::open(&board.dt).unwrap_or_else(|e| setup_failed(format_args!("{e}")));
    let pref = display.preferred_mode();
    println!(
        "display: backend={} preferred={}x{}",
        display.backend(),
        pref.width,
        pref.height
    );
    let ctx = make_ctx(&board, display);
    testkit::run(
        &ctx,
        &[
            Test {
                name: "flip_without_mode_is_refused",
                run: flip_without_mode,
            },
            Test {
                name: "refused_modes_leave_no_mode",
                run: refused_modes_leave_no_mode,
            },
            Test {
                name: "preferred_mode_is_set",
                run: preferred_mode_is_set,
            },
            Test {
                name: "two_fenced_flips_present_and_release_in_order",
                run: two_fenced_flips,
            },
            Test {
                name: "too_small_framebuffer_is_refused",
                run: too_small_framebuffer,
            },
            Test {
                name: "buffer_not_locked_for_display_read_is_refused",
                run: not_locked_for_display,
            },
            Test {
                name: "refused_mode_keeps_mode_and_frame",
                run: refused_mode_keeps_mode,
            },
            Test {
                name: "device_error_keeps_the_previous_frame",
                run: device_error,
            },
            Test {
                name: "failed_in_fence_cancels_the_flip",
                run: failed_in_fence,
            },
        ],
    )
}

fn make_ctx(board: &Board, display: Display) -> Ctx {
    let pref = display.preferred_mode();
    let line = DataCache.line_size();
    let fb_len = pref.framebuffer_bytes().next_multiple_of(4096);
    let small_len = (pref.framebuffer_bytes() / 4).next_multiple_of(4096);
    let (free, free_len) = board.free_ram;
    let mut at = free.next_multiple_of(4096);
    if at + 2 * fb_len + small_len > free + free_len {
        setup_failed(format_args!(
            "display test: {} bytes of free RAM cannot hold two {}x{} framebuffers",
            free_len, pref.width, pref.height
        ));
    }
    // Free RAM after the heap: identity-mapped normal memory nobody else uses in this test.
    let domain: &'static Domain = Box::leak(Box::new(SyncDomain::new(
        DirectMemory(DataCache),
        SyncConfig {
            // A frame stays locked for the display until the next flip replaces it.
            hold_deadline: Duration::from_secs(120),
            ..SyncConfig::default()
        },
    )));
    let mut buffer = |name: &'static str, len: usize| -> &'static SyncBuffer {
        // SAFETY: `[at, at + len)` is free RAM after the heap (checked to fit above), mapped
        // normal memory in the identity map (bus = virtual); this test takes no DMA pool
        // over it and `at` only moves forward, so no other region or reference covers it.
        let region = unsafe {
            DmaRegion::from_raw_parts(at, BusAddr(at as u64), len, Coherency::NonCoherent, line)
        }
        .unwrap_or_else(|e| setup_failed(format_args!("display test region: {e}")));
        at += len;
        let b = domain
            .buffer(name, region)
            .unwrap_or_else(|e| setup_failed(format_args!("display test buffer: {e}")));
        Box::leak(Box::new(b))
    };
    let fb = [buffer("A", fb_len), buffer("B", fb_len)];
    let small = buffer("small", small_len);
    // 4 GiB: above RAM in every variant (at most 512 MiB from 0x4000_0000) and below QEMU
    // virt's high MMIO; nothing answers there, so a device cannot map it. It is not in the
    // identity map either: the CPU never touches it (a fresh buffer locked for a device's
    // read needs no cache maintenance).
    let no_ram_at = 0x1_0000_0000usize;
    // SAFETY: knowingly outside the "mapped memory" promise, to make the device fail: no
    // memory or Rust object is there to alias, and the test never takes a CPU guard or
    // cache maintenance on this buffer (only a device read, which QEMU's device rejects);
    // a CPU access would fault, not corrupt.
    let no_ram_region = unsafe {
        DmaRegion::from_raw_parts(
            no_ram_at,
            BusAddr(no_ram_at as u64),
            fb_len,
            Coherency::NonCoherent,
            line,
        )
    }
    .unwrap_or_else(|e| setup_failed(format_args!("display test region: {e}")));
    let no_ram = Box::leak(Box::new(
        domain
            .buffer("no-ram", no_ram_region)
            .unwrap_or_else(|e| setup_failed(format_args!("display test buffer: {e}"))),
    ));
    Ctx {
        display: RefCell::new(display),
        domain,
        fb,
        small,
        no_ram,
        on_screen: RefCell::new(None),
    }
}

fn fail(why: impl core::fmt::Display) -> Failure {
    Failure(alloc::format!("{why}"))
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
    buf: &'static SyncBuffer,
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
            // The set comes back: release it, the caller still owns its buffer.
            rejected.returned.unlock().map_err(EngineError::Sync)?;
            Err(rejected.error)
        }
    }
}

fn mode(ctx: &Ctx) -> DisplayMode {
    ctx.display.borrow().preferred_mode()
}

fn full(ctx: &Ctx) -> SurfaceDesc {
    let m = mode(ctx);
    SurfaceDesc::packed(m.width, m.height, m.format)
}

/// The frame on screen is still the one the last successful flip put there.
fn previous_frame_stays(ctx: &Ctx) -> TestResult {
    let d = ctx.display.borrow();
    ensure!(d.service() == 0, "a refused flip was presented");
    ensure!(d.pending_flips() == 0, "a refused flip was queued");
    if let Some(released) = ctx.on_screen.borrow().as_ref() {
        ensure!(
            released.status() == FenceStatus::Pending,
            "the frame on screen was released by a refused request: {:?}",
            released.status()
        );
    }
    Ok(())
}

fn flip_without_mode(ctx: &Ctx) -> TestResult {
    ensure!(
        ctx.display.borrow().mode().is_none(),
        "a mode is set at open"
    );
    fill(ctx, ctx.fb[0], RED)?;
    let r = flip(
        ctx,
        ctx.fb[0],
        Access::dma_read(DISPLAY_DEVICE),
        full(ctx),
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

fn refused_modes(ctx: &Ctx) -> [DisplayMode; 3] {
    let f = mode(ctx).format;
    let backend = ctx.display.borrow().backend();
    // virtio-gpu: QEMU refuses a 16384x16384 resource (1 GiB > max_hostmem, 256 MiB);
    // ramfb: QEMU ignores a width over 16000.
    let too_big = if backend == "virtio-gpu" {
        DisplayMode {
            width: 16384,
            height: 16384,
            format: f,
        }
    } else {
        DisplayMode {
            width: 16001,
            height: 480,
            format: f,
        }
    };
    [
        DisplayMode {
            width: 8,
            height: 8,
            format: f,
        },
        DisplayMode {
            width: 0,
            height: 600,
            format: f,
        },
        too_big,
    ]
}

fn refused_modes_leave_no_mode(ctx: &Ctx) -> TestResult {
    for m in refused_modes(ctx) {
        let r = ctx.display.borrow_mut().set_mode(m);
        ensure!(
            r == Err(EngineError::ModeRefused {
                width: m.width,
                height: m.height
            }),
            "set_mode({}x{}) gave {:?}",
            m.width,
            m.height,
            r
        );
        test_info!("refused: {}", r.unwrap_err());
        ensure!(
            ctx.display.borrow().mode().is_none(),
            "a refused mode was set"
        );
    }
    Ok(())
}

fn preferred_mode_is_set(ctx: &Ctx) -> TestResult {
    let m = mode(ctx);
    ensure!(
        m.width >= 16 && m.height >= 16 && m.format == PixelFormat::Xrgb8888,
        "odd preferred mode {m:?}"
    );
    ctx.display.borrow_mut().set_mode(m).map_err(fail)?;
    ensure!(ctx.display.borrow().mode() == Some(m), "mode not set");
    test_info!("mode {}x{}", m.width, m.height);
    Ok(())
}

/// Asks the host (xtask) for a screendump of frame B (all green) and waits for it; without
/// a host that answers (QEMU started by hand) the test carries on after the time-out.
fn screendump(ctx: &Ctx, frame: u32) {
    let m = mode(ctx);
    if let Err(e) = console::request_screendump(frame, m.width, m.height, console::HOST_ACK_TIMEOUT)
    {
        test_info!("screendump {frame} not taken: {e}");
    }
}

fn status(f: &Fence) -> FenceStatus {
    f.status()
}

fn two_fenced_flips(ctx: &Ctx) -> TestResult {
    let d = || ctx.display.borrow();
    // Frame A (red), behind an in-fence that has not signalled.
    fill(ctx, ctx.fb[0], RED)?;
    let in_a = FenceProducer::one_off();
    let a = flip(
        ctx,
        ctx.fb[0],
        Access::dma_read(DISPLAY_DEVICE),
        full(ctx),
        Some(&in_a.fence()),
    )
    .map_err(fail)?;
    ensure!(d().service() == 0, "flip A presented before its in-fence");
    ensure!(
        status(&a.presented) == FenceStatus::Pending,
        "A presented early"
    );
    in_a.signal();
    ensure!(
        d().service() == 1,
        "flip A not presented after its in-fence"
    );
    ensure!(
        status(&a.presented) == FenceStatus::Ok,
        "A: {:?}",
        status(&a.presented)
    );
    ensure!(
        status(&a.released) == FenceStatus::Pending,
        "A released while on screen"
    );

    // Frame B (green), its in-fence already signalled.
    fill(ctx, ctx.fb[1], GREEN)?;
    let in_b = Fence::signalled(FenceResult::Ok(()));
    let b = flip(
        ctx,
        ctx.fb[1],
        Access::dma_read(DISPLAY_DEVICE),
        full(ctx),
        Some(&in_b),
    )
    .map_err(fail)?;
    ensure!(
        status(&b.presented) == FenceStatus::Pending && status(&a.released) == FenceStatus::Pending,
        "B presented or A released before service"
    );
    ensure!(d().service() == 1, "flip B not presented");
    ensure!(
        status(&b.presented) == FenceStatus::Ok,
        "B: {:?}",
        status(&b.presented)
    );
    ensure!(
        status(&a.released) == FenceStatus::Ok,
        "A not released when B was presented: {:?}",
        status(&a.released)
    );
    ensure!(
        status(&b.released) == FenceStatus::Pending,
        "B released while on screen"
    );
    // A's lock went with its release: the CPU can write A again at once.
    fill(ctx, ctx.fb[0], RED)?;
    *ctx.on_screen.borrow_mut() = Some(b.released);
    screendump(ctx, 1);
    Ok(())
}

fn too_small_framebuffer(ctx: &Ctx) -> TestResult {
    let m = mode(ctx);
    let desc = SurfaceDesc::packed(m.width / 2, m.height / 2, m.format);
    let r = flip(ctx, ctx.small, Access::dma_read(DISPLAY_DEVICE), desc, None);
    match r {
        Err(
            e @ EngineError::FramebufferTooSmall {
                buffer: "small", ..
            },
        ) => {
            test_info!("refused: {e}")
        }
        other => return Err(fail(alloc::format!("gave {:?}", other.map(|_| ())))),
    }
    // A full-mode surface in the small buffer: too small as well, named by its buffer.
    let r = flip(
        ctx,
        ctx.small,
        Access::dma_read(DISPLAY_DEVICE),
        full(ctx),
        None,
    );
    ensure!(
        matches!(r, Err(EngineError::FramebufferTooSmall { buffer: "small", need, have })
            if need == m.framebuffer_bytes() && have < need),
        "full-mode surface in a small buffer gave {:?}",
        r.map(|_| ())
    );
    previous_frame_stays(ctx)
}

fn not_locked_for_display(ctx: &Ctx) -> TestResult {
    // Locked for the CPU's read, not the display's.
    let r = flip(ctx, ctx.fb[0], Access::CPU_READ, full(ctx), None);
    match r {
        Err(
            e @ EngineError::NotLockedFor {
                buffer: "A",
                wanted: "read",
            },
        ) => {
            test_info!("refused: {e}")
        }
        other => {
            return Err(fail(alloc::format!(
                "CPU-read lock gave {:?}",
                other.map(|_| ())
            )));
        }
    }
    // Locked for another device's read.
    let other = dmasync_hal::dma::DeviceId(DISPLAY_DEVICE.0 + 1);
    let r = flip(ctx, ctx.fb[0], Access::dma_read(other), full(ctx), None);
    ensure!(
        matches!(r, Err(EngineError::NotLockedFor { buffer: "A", .. })),
        "another device's lock gave {:?}",
        r.map(|_| ())
    );
    // Locked for the display, but for writing only.
    let r = flip(
        ctx,
        ctx.fb[0],
        Access::dma_write(DISPLAY_DEVICE),
        full(ctx),
        None,
    );
    ensure!(
        matches!(
            r,
            Err(EngineError::NotLockedFor {
                buffer: "A",
                wanted: "read"
            })
        ),
        "a display-write lock gave {:?}",
        r.map(|_| ())
    );
    previous_frame_stays(ctx)
}

fn refused_mode_keeps_mode(ctx: &Ctx) -> TestResult {
    let m = mode(ctx);
    for bad in refused_modes(ctx) {
        let r = ctx.display.borrow_mut().set_mode(bad);
        ensure!(
            matches!(r, Err(EngineError::ModeRefused { .. })),
            "set_mode({}x{}) gave {:?}",
            bad.width,
            bad.height,
            r
        );
        ensure!(
            ctx.display.borrow().mode() == Some(m),
            "a refused mode replaced the current one"
        );
    }
    previous_frame_stays(ctx)
}

/// virtio-gpu answers ATTACH_BACKING of memory it cannot map with an error response: the
/// flip fails with `DeviceError(code)` and the previous frame stays. (ramfb gives no
/// feedback at all — QEMU silently ignores a config it cannot map — so there the case only
/// says so.)
fn device_error(ctx: &Ctx) -> TestResult {
    if ctx.display.borrow().backend() != "virtio-gpu" {
        test_info!("ramfb reports no device errors; nothing to provoke");
        return Ok(());
    }
    let f = flip(
        ctx,
        ctx.no_ram,
        Access::dma_read(DISPLAY_DEVICE),
        full(ctx),
        None,
    )
    .map_err(fail)?;
    let presented = ctx.display.borrow().service();
    ensure!(presented == 0, "a flip of unbacked memory was presented");
    let st = status(&f.presented);
    ensure!(
        matches!(st, FenceStatus::Err(FenceError::DeviceError(code)) if code >= 0x1200),
        "presented fence of the failed flip: {st:?}"
    );
    ensure!(
        status(&f.released) == st,
        "released fence of the failed flip: {:?}",
        status(&f.released)
    );
    test_info!("device error: {st:?}");
    previous_frame_stays(ctx)
}

fn failed_in_fence(ctx: &Ctx) -> TestResult {
    let in_f = FenceProducer::one_off();
    let f = flip(
        ctx,
        ctx.fb[0],
        Access::dma_read(DISPLAY_DEVICE),
        full(ctx),
        Some(&in_f.fence()),
    )
    .map_err(fail)?;
    in_f.signal_error(FenceError::DeviceError(7));
    let presented = ctx.display.borrow().service();
    ensure!(
        presented == 0,
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
    fill(ctx, ctx.fb[0], RED)?;
    previous_frame_stays(ctx)?;
    let m = mode(ctx);
    println!(
        "display: on screen fb=B color={:#010x} {}x{}",
        GREEN, m.width, m.height
    );
    // After every refusal the screen must still show B.
    screendump(ctx, 2);
    Ok(())
}
