//! DMA memory for frame buffers and other device-shared buffers: a carve-out of the RAM the
//! heap left free ([`Board::free_ram`](crate::Board::free_ram)).
//!
//! qemu-virt's identity map makes bus = physical = virtual, and RAM is mapped normal
//! cacheable (write-back), so every region is [`Coherency::NonCoherent`] for the devices
//! that use it as far as the sync layer plans: the CPUs cache it, the devices do not snoop
//! (QEMU models no caches, but the code is written for the hardware it stands for).
//!
//! Allocation is a bump pointer over the carve-out, each region rounded out to whole cache
//! lines. `free` gives memory back only when the region is the most recent allocation (a
//! stack discipline, which is how the demo and tests use it); other regions stay allocated
//! for the rest of the run, which is safe (never handed out twice) and simple.

use core::sync::atomic::{AtomicUsize, Ordering};

use dmasync_hal::dma::{BusAddr, Coherency, DmaError, DmaMemory, DmaRegion};

use crate::arch::cache;

/// A pool of DMA memory over `[start, end)` of identity-mapped, normal cacheable RAM.
#[derive(Debug)]
pub struct DmaPool {
    start: usize,
    end: usize,
    next: AtomicUsize,
    line: usize,
}

impl DmaPool {
    /// A pool over `[start, start + len)`.
    ///
    /// # Safety
    ///
    /// The range is RAM mapped normal cacheable in the identity map, used by nothing else
    /// for the rest of the program (not the image, stacks, heap or device tree).
    pub unsafe fn new(start: usize, len: usize) -> Self {
        let line = cache::dcache_line_size();
        let first = start.next_multiple_of(line);
        Self {
            start: first,
            end: (start + len) & !(line - 1),
            next: AtomicUsize::new(first),
            line,
        }
    }

    /// Bytes not yet handed out.
    pub fn free_bytes(&self) -> usize {
        self.end.saturating_sub(self.next.load(Ordering::Relaxed))
    }

    /// The pool's range.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.start..self.end
    }
}

// SAFETY: regions come from a bump pointer advanced atomically over a range nobody else
// uses (the constructor's contract), so no two live regions overlap; a region is returned
// to the pool only when it is the last one handed out and its user is done (`free`'s
// contract). The identity map makes the bus address equal the virtual one.
unsafe impl DmaMemory for DmaPool {
    fn line_size(&self) -> usize {
        self.line
    }

    fn alloc(&self, len: usize, coherency: Coherency) -> Result<DmaRegion, DmaError> {
        if len == 0 {
            return Err(DmaError::ZeroLength);
        }
        let rounded = len
            .checked_next_multiple_of(self.line)
            .ok_or(DmaError::Overflow)?;
        let mut at = self.next.load(Ordering::Relaxed);
        loop {
            let end = at
                .checked_add(rounded)
                .filter(|&e| e <= self.end)
                .ok_or(DmaError::OutOfMemory { requested: len })?;
            match self
                .next
                .compare_exchange_weak(at, end, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => at = now,
            }
        }
        // Zero through the cache, then clean+invalidate: the region starts with zeros in
        // memory and no line of it cached, dirty or clean, so a device's first write can never
        // be overwritten by a late write-back of our zeroing (the sync layer's trackers start
        // from "nothing dirty, nothing stale").
        // SAFETY: [at, at + rounded) lies in the pool (checked above), is mapped RAM used by
        // nothing else, and was just reserved for this region alone.
        unsafe {
            core::ptr::write_bytes(at as *mut u8, 0, rounded);
            cache::clean_invalidate(at as *const u8, rounded);
        }
        // SAFETY: as above: mapped RAM of the machine, reserved for this region alone until
        // `free`; the identity map makes the bus address the virtual one.
        unsafe { DmaRegion::from_raw_parts(at, BusAddr(at as u64), rounded, coherency, self.line) }
    }

    unsafe fn free(&self, region: DmaRegion) {
        // Only the most recent allocation can go back; others stay allocated.
        let end = region.virt() + region.len();
        let _ = self
            .next
            .compare_exchange(end, region.virt(), Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// The heap as DMA memory: for buffers a program allocates and frees at will (the pool only
/// gives back its most recent region). RAM is identity-mapped, so a device reaches each heap
/// byte at its virtual address, and [`DataCache`](crate::arch::cache::DataCache) maintains
/// the caches the CPUs use for it.
pub fn heap_dma() -> dmasync_hal::dma::HeapDma<crate::arch::cache::DataCache> {
    // SAFETY: the identity map covers all of RAM, the heap included, so bus = virtual for
    // every heap byte; the heap is normal cacheable memory, which `DataCache` maintains by
    // virtual address (to the point of coherency, as devices need).
    unsafe { dmasync_hal::dma::HeapDma::identity_mapped(crate::arch::cache::DataCache) }
}
