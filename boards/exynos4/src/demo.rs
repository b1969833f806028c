//! The seed pipeline demo on Exynos 4, shared by the `demo` binary and the on-target tests
//! that run it (`demo_screenshot`, `hung_engine`): DMA memory and the sync domain
//! ([`crate::dma`]), the software 2D engine on CPU 1 (FIMG2D is not modelled by QEMU), FIMD0
//! as the display, the watchdog, and the per-frame log.

use alloc::boxed::Box;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use core::time::Duration;

use dmasync_demo::{FrameRequest, Options};
use dmasync_engine::{DisplayControl, DisplayMode};
use dmasync_hal::dma::{CpuAsDevice, DeviceId};
use dmasync_soft::{Soft2dConfig, SoftEngine2d};

use crate::arch::{cpu, println};
use crate::display::{self, Display};
use crate::dma::Domain;
use crate::{Board, BoardCache, setup_failed};

/// The 2D engine: the software engine, run by [`ENGINE_CPU`], reaching memory as a
/// non-coherent master through both cache levels ([`CpuAsDevice`] says why).
pub type Engine = SoftEngine2d<CpuAsDevice<&'static BoardCache>>;

/// The bus-master number of the 2D engine in sync sets.
pub const ENGINE_DEVICE: DeviceId = DeviceId(0x2D);
/// The core that runs the 2D engine.
pub const ENGINE_CPU: usize = 1;

static ENGINE: AtomicPtr<Engine> = AtomicPtr::new(ptr::null_mut());
static STOP: AtomicBool = AtomicBool::new(false);
static STARTED: AtomicBool = AtomicBool::new(false);
/// How long CPU 1 may take to report its worker running.
const SECONDARY_PATIENCE_S: u64 = 2;

/// CPU 1's entry: bring-up, then the engine's worker loop (parking in WFE while the queue is
/// empty; a submission's SEV wakes it).
fn engine_core(core: usize) -> ! {
    crate::secondary_bring_up();
    let engine = ENGINE.load(Ordering::Acquire);
    // SAFETY: `start_engine` stored a pointer to a leaked (hence 'static) engine before it
    // released this core, and never changes it afterwards.
    if let Some(engine) = unsafe { engine.as_ref() } {
        STARTED.store(true, Ordering::Release);
        defmt::info!("cpu {=usize}: 2D engine worker running", core);
        engine.run(&STOP);
    }
    loop {
        cpu::wait_for_interrupt_masked();
    }
}

/// Creates the software engine and releases CPU 1 to run it.
pub fn start_engine(board: &Board) -> &'static Engine {
    if board.cpu_count <= ENGINE_CPU {
        setup_failed(format_args!(
            "the software 2D engine needs a second core; the SCU reports {}",
            board.cpu_count
        ));
    }
    // SAFETY: the identity map makes bus = virtual for all of DRAM, and the board's cache
    // maintains both levels (L1 by MVA, the PL310 by PA) between the cores and memory.
    let memory = unsafe { CpuAsDevice::identity_mapped(board.cache) };
    let engine: &'static Engine = Box::leak(Box::new(SoftEngine2d::new(
        ENGINE_DEVICE,
        memory,
        Soft2dConfig {
            max_width: 2048,
            max_height: 2048,
            ..Soft2dConfig::default()
        },
    )));
    ENGINE.store(ptr::from_ref(engine).cast_mut(), Ordering::Release);
    crate::release_secondary(engine_core);
    let give_up = crate::arch::global_timer::counter()
        + crate::arch::global_timer::frequency() * SECONDARY_PATIENCE_S;
    while !STARTED.load(Ordering::Acquire) {
        if crate::arch::global_timer::counter() > give_up {
            setup_failed(format_args!("cpu {ENGINE_CPU} did not start the 2D engine"));
        }
        core::hint::spin_loop();
    }
    engine
}

/// Opens FIMD0, routes its frame interrupt here, unmasks IRQs on this core and sets
/// [`display::PREFERRED_MODE`]. Exits with the set-up code on failure.
pub fn open_display() -> (Display, DisplayMode) {
    let mut d = display::open().unwrap_or_else(|e| setup_failed(format_args!("{e}")));
    cpu::enable_irqs();
    let mode = d.preferred_mode();
    d.set_mode(mode)
        .unwrap_or_else(|e| setup_failed(format_args!("FIMD0 refused {mode:?}: {e}")));
    println!("display: FIMD0 {}x{}", mode.width, mode.height);
    (d, mode)
}

/// Asks the host for a screendump of `frame`: QEMU's FIMD draws (and raises its frame
/// interrupt) only for one under `-display none`; with a window it draws every refresh and
/// the request rarely comes.
fn request_frame(frame: u32, mode: DisplayMode) {
    // No answer (QEMU started by hand): the flip then times out and the frame says so.
    let _ = dmasync_demo::console::screendump(frame, mode);
}

/// The pipeline's options on this board: a flip not presented within 50 ms (more than one
/// refreshes of QEMU's window) asks the host for the frame.
pub fn options() -> Options {
    Options {
        frame_request: Some(FrameRequest {
            after: Duration::from_millis(50),
            request: request_frame,
        }),
        ..Options::default()
    }
}

/// Starts the board's periodic sync-set watchdog for `domain` on this core, so a holder past
/// its deadline (a hung engine's set) is expired even when nobody waits in `lock`.
pub fn start_watchdog(domain: &'static Domain) {
    crate::watchdog::start(domain)
        .unwrap_or_else(|e| setup_failed(format_args!("sync-set watchdog: {e}")));
}

pub use dmasync_demo::console::{hooks, log_frame, print_totals};

/// The kernel command line (`cargo xtask run --frames N` passes `frames=N` as QEMU's
/// `-append`), empty when there is none: read through semihosting, whose command line is the
/// image's file name, a space, then the `-append` string.
pub fn bootargs() -> &'static str {
    let buf: &'static mut [u8] = Box::leak(alloc::vec![0u8; 1024].into_boxed_slice());
    match crate::arch::semihosting::command_line(buf) {
        Some(line) => line.split_once(' ').map_or("", |(_, args)| args.trim()),
        None => "",
    }
}
