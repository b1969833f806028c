//! The seed pipeline demo's board side, shared by the AArch64 boards (one file, `#[path]`
//! in qemu-virt's src/demo.rs and imx8mp-evk's src/lib.rs) and used by each board's `demo`
//! binary and the on-target tests that run it: DMA memory, the sync domain, the software 2D
//! engine on CPU 1, the watchdog, the demo mode and the per-frame log. What differs — the
//! display and where the command line comes from — is each board's.

use alloc::boxed::Box;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use core::time::Duration;

use dmasync_engine::{DisplayMode, PixelFormat};
use dmasync_hal::dma::{DeviceId, DirectMemory};
use dmasync_soft::{Soft2dConfig, SoftEngine2d};
use dmasync_sync::syncset::{SyncConfig, SyncDomain};

use crate::arch::cache::DataCache;
use crate::arch::cpu;
use crate::dma_pool::DmaPool;
use crate::engine::{CpuAsDeviceMemory, cpu_as_device};
use crate::{Board, setup_failed};

/// The demo's sync domain: the boot core's data cache, CPU bytes at their virtual address.
pub type Domain = SyncDomain<DirectMemory<DataCache>>;
/// The 2D engine: the software engine, run by [`ENGINE_CPU`].
pub type Engine = SoftEngine2d<CpuAsDeviceMemory>;

/// The bus-master number of the 2D engine in sync sets.
pub const ENGINE_DEVICE: DeviceId = DeviceId(0x2D);
/// The logical core that runs the 2D engine.
pub const ENGINE_CPU: usize = 1;

static ENGINE: AtomicPtr<Engine> = AtomicPtr::new(ptr::null_mut());
static STOP: AtomicBool = AtomicBool::new(false);

/// The entry of every secondary core: bring-up, then CPU 1 runs the engine's worker loop
/// (parking in WFE while the queue is empty; a submission's SEV wakes it) and the others
/// idle.
fn secondary_entry(index: usize) -> ! {
    crate::secondary_bring_up(index);
    if index == ENGINE_CPU {
        let engine = ENGINE.load(Ordering::Acquire);
        // SAFETY: `start_engine` stored a pointer to a leaked (hence 'static) engine before
        // it started this core, and never changes it afterwards.
        if let Some(engine) = unsafe { engine.as_ref() } {
            defmt::info!("cpu {=usize}: 2D engine worker running", index);
            engine.run(&STOP);
        }
    }
    loop {
        cpu::wait_for_interrupt();
    }
}

/// Creates the software engine, starts every secondary core and waits until they
/// reported in; CPU 1 runs the engine. Exits with the set-up code on failure.
pub fn start_engine(board: &Board) -> &'static Engine {
    if board.cpu_count() <= ENGINE_CPU {
        setup_failed(format_args!(
            "the software 2D engine needs a second core; the board has {}",
            board.cpu_count()
        ));
    }
    let engine: &'static Engine = Box::leak(Box::new(SoftEngine2d::new(
        ENGINE_DEVICE,
        cpu_as_device(),
        Soft2dConfig {
            max_width: 2048,
            max_height: 2048,
            ..Soft2dConfig::default()
        },
    )));
    ENGINE.store(ptr::from_ref(engine).cast_mut(), Ordering::Release);
    let expected = board.cpu_count() - 1;
    if let Err(e) = crate::start_secondaries(board, secondary_entry) {
        setup_failed(format_args!("starting secondaries: {e:?}"));
    }
    let online =
        crate::wait_for_secondaries(expected, crate::SECONDARIES_PATIENCE_S * board.timer_hz());
    if online != expected {
        setup_failed(format_args!(
            "only {online} of {expected} secondaries reported in"
        ));
    }
    engine
}

/// DMA memory for the frame buffers: the RAM the heap left free.
///
/// # Panics
///
/// On a second call: two pools over the same RAM would hand out the same memory twice.
pub fn dma_pool(board: &Board) -> &'static DmaPool {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::AcqRel) {
        panic!("demo::dma_pool called twice: the free RAM already belongs to a pool");
    }
    let (start, len) = board.free_ram;
    // SAFETY: `free_ram` is identity-mapped normal RAM after the image and heap (on qemu-virt
    // clear of the device tree), that `init` handed to nobody else; only this pool uses it from now on
    // (`TAKEN` makes this the only call that gets here).
    let pool = unsafe { DmaPool::identity_mapped(start, len, DataCache) };
    Box::leak(Box::new(pool.unwrap_or_else(|e| {
        panic!("the free RAM {start:#x}+{len:#x} cannot be a DMA pool: {e}")
    })))
}

/// The demo's sync domain with `hold_deadline` (how long a holder, e.g. the engine's set,
/// may keep buffers before the watchdog takes them back).
pub fn domain(hold_deadline: Duration) -> &'static Domain {
    Box::leak(Box::new(SyncDomain::new(
        DirectMemory(DataCache),
        SyncConfig {
            hold_deadline,
            ..SyncConfig::default()
        },
    )))
}

/// The mode the demo asks for: VGA-sized, small enough for TCG to composite quickly.
pub const DEMO_MODE: DisplayMode = DisplayMode {
    width: 640,
    height: 480,
    format: PixelFormat::Xrgb8888,
};

/// Starts the board's periodic sync-set watchdog for `domain` on this core, so a holder
/// past its deadline (a hung engine's set) is expired even when nobody waits in `lock`.
pub fn start_watchdog(board: &Board, domain: &'static Domain) {
    crate::watchdog::start(board.virtual_timer_intid(), domain)
        .unwrap_or_else(|e| setup_failed(format_args!("sync-set watchdog: {e}")));
}

pub use dmasync_demo::console::{hooks, log_frame, print_totals};
