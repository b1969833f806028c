//! DMA memory and sync domains: the RAM above the heap as a [`CarveOut`] pool, maintained
//! through the board's two cache levels.
//!
//! The identity map makes bus = physical = virtual and DRAM is normal write-back cacheable,
//! so every region is non-coherent for the devices as far as the sync layer plans: FIMD and
//! the PL330s snoop neither the A9s' L1 nor the PL310, which sits between the cores and the
//! memory bus while the devices reach DRAM beside it: hence L1 by MVA, then PL310 by PA. QEMU models no
//! caches; that this maintenance is the right one is proven on the simulator (doc/testing.md).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use dmasync_hal::dma::{CarveOut, DirectMemory};
use dmasync_sync::syncset::{SyncConfig, SyncDomain};

use crate::{Board, BoardCache, setup_failed};

/// DMA memory over identity-mapped, normal cacheable RAM.
pub type DmaPool = CarveOut<&'static BoardCache>;

/// A sync domain of this board: CPU access to buffers through the identity map, cache
/// maintenance through both levels.
pub type Domain = SyncDomain<DirectMemory<&'static BoardCache>>;

/// DMA memory for frame buffers, DMA programs and transfer buffers: the RAM above the heap.
///
/// # Panics
///
/// On a second call: two pools over the same RAM would hand out the same memory twice.
pub fn dma_pool(board: &Board) -> &'static DmaPool {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::AcqRel) {
        panic!("dma::dma_pool called twice: the free RAM already belongs to a pool");
    }
    let (start, len) = board.free_ram;
    // SAFETY: `free_ram` is identity-mapped normal RAM above the image, stacks and heap that
    // `init` handed to nobody else; only this pool uses it from now on (`TAKEN` makes this the
    // only call that gets here); `board.cache` maintains both cache levels for it.
    match unsafe { DmaPool::identity_mapped(start, len, board.cache) } {
        Ok(pool) => Box::leak(Box::new(pool)),
        Err(e) => setup_failed(format_args!(
            "the free RAM {start:#x}+{len:#x} cannot be a DMA pool: {e}"
        )),
    }
}

/// A sync domain whose sets may hold buffers for `hold_deadline` before a watchdog takes them
/// back.
pub fn domain(board: &Board, hold_deadline: Duration) -> &'static Domain {
    Box::leak(Box::new(SyncDomain::new(
        DirectMemory(board.cache),
        SyncConfig {
            hold_deadline,
            ..SyncConfig::default()
        },
    )))
}

/// The heap as DMA memory: for buffers a program allocates and frees at will (the pool only
/// gives back its most recent region).
pub fn heap_dma(board: &Board) -> dmasync_hal::dma::HeapDma<&'static BoardCache> {
    // SAFETY: the identity map covers all of DRAM, the heap included, so bus = virtual for
    // every heap byte; the heap is normal cacheable memory, which `board.cache` maintains
    // through both levels.
    unsafe { dmasync_hal::dma::HeapDma::identity_mapped(board.cache) }
}
