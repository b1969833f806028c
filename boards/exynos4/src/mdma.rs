//! The memory-to-memory PL330 (MDMA) as the board's DMA engine ([`dmasync_pl330`]), its
//! completion and fault interrupt (external-GIC ID 66) routed to the core that opens it.

use alloc::boxed::Box;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use dmasync_armv7a::{cpu, gic};
use dmasync_hal::dma::{DeviceId, DirectMemory};
use dmasync_pl330::{Pl330, Pl330Config, Pl330Mmio};

use crate::dma::DmaPool;
use crate::{Board, BoardCache, memory_map, setup_failed};

/// The MDMA driver: programs in the board's DMA pool, buffers of the board's sync domains.
pub type Mdma = Pl330<Pl330Mmio, DirectMemory<&'static BoardCache>>;

/// The bus-master id buffers are locked for: `Access::dma_read(MDMA_DEVICE)` and so on.
pub const MDMA_DEVICE: DeviceId = DeviceId(0x330);
/// Interrupt priority of the MDMA (lower is more urgent; like the tick's).
pub const MDMA_PRIORITY: u8 = 0x80;

static FOR_IRQ: AtomicPtr<Mdma> = AtomicPtr::new(ptr::null_mut());

fn on_mdma_irq(_: u32) {
    let d = FOR_IRQ.load(Ordering::Acquire);
    // SAFETY: `open` stores a leaked (never freed) driver before enabling the interrupt; only
    // shared references are made from it, and the driver is `Sync` for its IRQ path.
    if let Some(d) = unsafe { d.as_ref() } {
        d.on_interrupt();
    }
}

/// Takes the MDMA with `queue_depth` jobs, its programs in `pool`, and routes its interrupt
/// to the calling core, which then unmasks IRQs. Exits with the set-up code on failure.
pub fn open(board: &Board, pool: &'static DmaPool, queue_depth: usize) -> &'static Mdma {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::AcqRel) {
        setup_failed(format_args!("the MDMA is already open"));
    }
    let config = Pl330Config {
        device: MDMA_DEVICE,
        queue_depth,
    };
    // SAFETY: taken once (TAKEN): the only driver of the MDMA.
    let io = unsafe { memory_map::pl330_mdma() };
    let mdma: &'static Mdma = match Pl330::new(io, config, pool, DirectMemory(board.cache)) {
        Ok(d) => Box::leak(Box::new(d)),
        Err(e) => setup_failed(format_args!("MDMA: {e}")),
    };
    FOR_IRQ.store(ptr::from_ref(mdma).cast_mut(), Ordering::Release);
    let on_this_core = 1 << cpu::core_number();
    if let Err(e) = gic::register_handler(memory_map::MDMA_IRQ, on_mdma_irq)
        .and_then(|()| gic::enable_shared(memory_map::MDMA_IRQ, MDMA_PRIORITY, false, on_this_core))
    {
        setup_failed(format_args!("MDMA interrupt: {e:?}"));
    }
    mdma
}
