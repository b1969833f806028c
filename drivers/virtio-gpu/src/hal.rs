//! virtio-drivers' [`Hal`], routed through dmasync's cache layer.
//!
//! virtio-drivers calls [`Hal::share`] on every buffer it puts on a virtqueue and
//! [`Hal::unshare`] when the device has used it. On a non-coherent bus master those are the
//! two points where the CPU's cache must be reconciled with memory: clean before the device
//! reads what the CPU wrote (a request), invalidate before the CPU reads what the device
//! wrote (a response). This implementation does exactly that through the board's
//! [`CacheMaintenance`] ([`DriverDma::cache`]), so the same driver is right on hardware
//! whose virtio device is not cache-coherent with the CPU. (QEMU models no caches; the
//! maintenance is still executed.)
//!
//! The virtqueue rings themselves come from [`Hal::dma_alloc`]; virtio-drivers reads and
//! writes them with volatile accesses and assumes the ring memory is coherent with the
//! device, as the virtio spec does (§2.7: the rings are shared memory; the transport
//! defines coherency). `dma_alloc` cleans and invalidates the zeroed pages so the device
//! starts from what the CPU sees.

use core::alloc::Layout;
use core::marker::PhantomData;
use core::ptr::NonNull;

use dmasync_hal::cache::{CacheMaintenance, VirtRange};
use dmasync_hal::dma::DriverDma;
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// virtio-drivers' HAL over the board's [`DriverDma`] (cache maintenance and bus
/// translation for the driver's own memory): DMA pages from the global allocator, and
/// share/unshare as cache maintenance.
#[derive(Debug)]
pub struct CacheHal<D: DriverDma>(PhantomData<D>);

fn range(buffer: NonNull<[u8]>) -> VirtRange {
    VirtRange::new(buffer.cast::<u8>().as_ptr() as usize, buffer.len())
}

// SAFETY: `dma_alloc` returns page-aligned, zeroed, exclusively owned memory from the global
// allocator (never aliased until `dma_dealloc` frees it with the same layout); the addresses
// handed to the device are translated by `D`, whose contract makes them the device's view of
// the same bytes; `share`/`unshare` only perform cache maintenance on the caller's buffer.
unsafe impl<D: DriverDma> Hal for CacheHal<D> {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Ok(layout) = Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE) else {
            return (0, NonNull::dangling());
        };
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            // virtio-drivers reports a zero physical address as `Error::DmaError`.
            return (0, NonNull::dangling());
        };
        // SAFETY: the pages were just allocated (mapped normal memory) and nothing else
        // holds data in them; writing the zeroes back makes them what the device sees.
        unsafe {
            D::cache().clean_invalidate(VirtRange::new(ptr.as_ptr() as usize, layout.size()))
        };
        (D::bus_of(ptr.as_ptr() as usize), ptr)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        let Ok(layout) = Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE) else {
            return -1;
        };
        // SAFETY: the caller passes what `dma_alloc` returned for `pages`, so this is the
        // pointer and layout of a live allocation of the global allocator.
        unsafe { alloc::alloc::dealloc(vaddr.as_ptr(), layout) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only the PCI transport asks (for BARs); the MMIO transport this crate uses never
        // does. Identity through the platform's translation.
        NonNull::new(D::virt_of(paddr) as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let r = range(buffer);
        // SAFETY: the caller guarantees `buffer` is valid memory nobody else touches during
        // the call; cleaning writes back the CPU's bytes (what the device must read), and for
        // a buffer the device writes, the clean+invalidate also drops lines the CPU could
        // otherwise evict over the device's data later.
        unsafe {
            match direction {
                BufferDirection::DriverToDevice => D::cache().clean(r),
                BufferDirection::DeviceToDriver | BufferDirection::Both => {
                    D::cache().clean_invalidate(r)
                }
            }
        }
        D::bus_of(r.start)
    }

    unsafe fn unshare(_paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        if direction == BufferDirection::DriverToDevice {
            return;
        }
        // SAFETY: as for `share`. The device wrote the buffer; lines the CPU may have
        // fetched speculatively since `share` are stale and go. Clean+invalidate rather than
        // invalidate because the buffer's first and last lines may be shared with other data
        // (they are clean here, so no stale byte is written back over the device's).
        unsafe { D::cache().clean_invalidate(range(buffer)) };
    }
}
