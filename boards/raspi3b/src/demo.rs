//! The seed pipeline demo on raspi3b: the board side shared by the AArch64 boards
//! (boards/common/aarch64/board/demo.rs: DMA memory, the sync domain, the software 2D engine
//! on CPU 1, the watchdog, the per-frame log), and what is this board's own: the BCM2835 DMA
//! that moves the overlay every frame, the firmware framebuffer as the display
//! ([`crate::display`]), and the command line through semihosting.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use dmasync_bcm2835_dma::{Bcm2835Dma, Bcm2835DmaConfig};
use dmasync_engine::{DisplayControl, DisplayMode};
use dmasync_hal::dma::{DeviceId, DirectMemory};
use dmasync_hal::irq::Trigger;
use dmasync_hal::mmio::MmioWindow;
use dmasync_sync::syncset::SyncBuffer;

use crate::arch::cache::DataCache;
use crate::arch::irq;
use crate::display::{self, Display};
use crate::dma_pool::DmaPool;
use crate::{memory_map, setup_failed};

#[path = "../../common/aarch64/board/demo.rs"]
mod shared;
pub use shared::*;

/// The BCM2835 DMA driver of the demo.
pub type Dma = Bcm2835Dma<MmioWindow, DirectMemory<DataCache>>;
/// The bus-master number of the BCM2835 DMA in sync sets.
pub const DMA_DEVICE: DeviceId = DeviceId(0xD0);
/// DMA channels 0 and 1 (full channels; the others are the firmware's on a Pi).
const DMA_CHANNELS: u16 = 0b11;

static DMA: AtomicPtr<Dma> = AtomicPtr::new(ptr::null_mut());

fn on_dma_irq(_: u32) {
    // SAFETY: `open_dma` stores a pointer to the leaked (hence 'static) driver before it
    // enables any DMA interrupt, and never changes it.
    if let Some(d) = unsafe { DMA.load(Ordering::Acquire).as_ref() } {
        d.on_interrupt();
    }
}

/// Opens the BCM2835 DMA on channels 0-1 with its control blocks from `pool`, completion by
/// interrupt (GPU 16-17). Call once. Exits with the set-up code on failure.
pub fn open_dma(pool: &'static DmaPool) -> &'static Dma {
    if !DMA.load(Ordering::Acquire).is_null() {
        setup_failed(format_args!("demo::open_dma called twice"));
    }
    let config = Bcm2835DmaConfig {
        device: DMA_DEVICE,
        channels: DMA_CHANNELS,
        cbs_per_channel: 16,
        queue_depth: 8,
        watchdog_ticks: 1000,
    };
    // SAFETY: called once (checked above): the only driver of the channels of its mask.
    let regs = unsafe { memory_map::dma_registers() };
    let dma: &'static Dma = match Bcm2835Dma::new(regs, config, pool, DirectMemory(DataCache)) {
        Ok(d) => Box::leak(Box::new(d)),
        Err(e) => setup_failed(format_args!("BCM2835 DMA: {e}")),
    };
    DMA.store(ptr::from_ref(dma).cast_mut(), Ordering::Release);
    for ch in [0, 1] {
        let id = memory_map::dma_irq(ch);
        irq::register_handler(id, on_dma_irq)
            .and_then(|()| irq::enable_shared(id, 0x80, Trigger::Level))
            .unwrap_or_else(|e| setup_failed(format_args!("DMA IRQ {id}: {e:?}")));
    }
    dma
}

/// Opens the firmware framebuffer, sets [`DEMO_MODE`] with the pipeline's three buffers and
/// registers them in `domain`. Exits with the set-up code on failure.
pub fn open_display(
    domain: &'static Domain,
    pool: &'static DmaPool,
) -> (Display, DisplayMode, [SyncBuffer; display::BUFFERS]) {
    let mut d = display::open(domain, pool, display::BUFFERS)
        .unwrap_or_else(|e| setup_failed(format_args!("display: {e}")));
    let mode = DEMO_MODE;
    let buffers: Vec<SyncBuffer> = display::set_mode_and_register(&mut d, domain, mode)
        .unwrap_or_else(|e| {
            setup_failed(format_args!("display {}x{}: {e}", mode.width, mode.height))
        });
    let fb = d.framebuffer().expect("a mode was just set");
    if fb.pitch as usize != mode.width as usize * 4 {
        // The pipeline draws packed frames.
        setup_failed(format_args!("framebuffer pitch {} is not packed", fb.pitch));
    }
    defmt::info!(
        "display: firmware framebuffer {=u32}x{=u32} x{=usize} at {=u64:#x}, pitch {=u32}",
        mode.width,
        mode.height,
        fb.buffers,
        fb.base,
        fb.pitch
    );
    let frames: [SyncBuffer; display::BUFFERS] = buffers.try_into().unwrap_or_else(|_| {
        setup_failed(format_args!(
            "framebuffer: not {} buffers",
            display::BUFFERS
        ))
    });
    debug_assert_eq!(d.mode(), Some(mode));
    (d, mode, frames)
}

/// The kernel command line (`cargo xtask run --frames N` passes `frames=N` as QEMU's
/// `-append`), empty when there is none: read through semihosting, whose command line is the
/// image's file name, a space, then the `-append` string.
pub fn bootargs() -> &'static str {
    let buf: &'static mut [u8] = Box::leak(alloc::vec![0u8; 1024].into_boxed_slice());
    match crate::arch::semihosting::command_line(buf) {
        Ok(line) => line.split_once(' ').map_or("", |(_, args)| args.trim()),
        Err(_) => "",
    }
}
