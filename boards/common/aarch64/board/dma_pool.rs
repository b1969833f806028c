//! DMA memory for frame buffers and other device-shared buffers: a carve-out of the RAM the
//! heap left free ([`Board::free_ram`](crate::Board::free_ram)), and the heap itself.
//!
//! One file, a module of each AArch64 board crate (`#[path]` in qemu-virt's and
//! imx8mp-evk's src/lib.rs). Both boards' identity maps make bus = physical = virtual (no
//! IOMMU or bus offset in front of RAM on either machine), and RAM is mapped normal
//! cacheable (write-back), so every region is [`Coherency::NonCoherent`] for the devices
//! that use it as far as the sync layer plans: the CPUs cache it, the devices do not snoop
//! (QEMU models no caches, but the code is written for the hardware it stands for). The
//! bump allocator is the portable [`CarveOut`], shared with the other boards.
//!
//! [`Coherency::NonCoherent`]: dmasync_hal::dma::Coherency::NonCoherent

use dmasync_hal::dma::CarveOut;

use crate::arch::cache::DataCache;

/// A pool of DMA memory over identity-mapped, normal cacheable RAM, maintained by
/// virtual address to the point of coherency.
pub type DmaPool = CarveOut<DataCache>;

/// The heap as DMA memory: for buffers a program allocates and frees at will (the pool only
/// gives back its most recent region). RAM is identity-mapped, so a device reaches each heap
/// byte at its virtual address, and [`crate::arch::cache::DataCache`] maintains
/// the caches the CPUs use for it (by VA to the point of coherency, which covers every cache
/// level: the Cortex-A53's L2 included on imx8mp-evk).
pub fn heap_dma() -> dmasync_hal::dma::HeapDma<crate::arch::cache::DataCache> {
    // SAFETY: the identity map covers all of RAM, the heap included, so bus = virtual for
    // every heap byte; the heap is normal cacheable memory, which `DataCache` maintains by
    // virtual address (to the point of coherency, as devices need).
    unsafe { dmasync_hal::dma::HeapDma::identity_mapped(crate::arch::cache::DataCache) }
}
