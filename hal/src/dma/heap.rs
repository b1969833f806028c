//! The global heap as DMA memory, for systems where devices reach memory at its CPU
//! address: an identity-mapped board's heap, or host tests whose devices are software.

use core::alloc::Layout;

use super::{BusAddr, Coherency, DmaError, DmaMemory, DmaRegion};
use crate::cache::{CacheMaintenance, VirtRange};

/// DMA regions carved from the global allocator, line-aligned, zeroed and with no line of
/// them left in the CPU caches (cleaned and invalidated through `C` after zeroing, so a
/// device's first write can never be overwritten by a late write-back of the zeroing).
///
/// Bus addresses are the virtual ones: construct it only where that is true.
#[derive(Debug)]
pub struct HeapDma<C> {
    cache: C,
}

impl<C: CacheMaintenance> HeapDma<C> {
    /// The heap as DMA memory, maintained through `cache`.
    ///
    /// # Safety
    ///
    /// Every device given a region of it reaches each heap byte at the byte's virtual
    /// address (an identity map, or software devices that use the CPU's addresses), and
    /// `cache` maintains the caches the CPU uses for heap memory.
    pub const unsafe fn identity_mapped(cache: C) -> Self {
        Self { cache }
    }

    fn layout(&self, len: usize) -> Result<Layout, DmaError> {
        let line = self.cache.line_size();
        if !line.is_power_of_two() {
            return Err(DmaError::BadLineSize(line));
        }
        let rounded = len
            .checked_next_multiple_of(line)
            .ok_or(DmaError::Overflow)?;
        Layout::from_size_align(rounded, line).map_err(|_| DmaError::Overflow)
    }
}

// SAFETY: each region is a fresh allocation of the global allocator (no live region or Rust
// object overlaps it) that nothing else uses until `free` returns it with the layout it was
// allocated with; the constructor's contract makes the bus address the virtual one.
unsafe impl<C: CacheMaintenance> DmaMemory for HeapDma<C> {
    fn line_size(&self) -> usize {
        self.cache.line_size()
    }

    fn alloc(&self, len: usize, coherency: Coherency) -> Result<DmaRegion, DmaError> {
        if len == 0 {
            return Err(DmaError::ZeroLength);
        }
        let layout = self.layout(len)?;
        // SAFETY: the layout's size is non-zero (len > 0, rounded up).
        let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
        if p.is_null() {
            return Err(DmaError::OutOfMemory { requested: len });
        }
        let virt = p as usize;
        // SAFETY: `[virt, virt + size)` was just allocated for us alone and zeroed through
        // the cache; writing its dirty lines back and dropping them touches only it.
        unsafe {
            self.cache
                .clean_invalidate(VirtRange::new(virt, layout.size()))
        };
        // SAFETY: a fresh allocation of the heap, ours until `free`; the constructor's
        // contract makes it reachable by devices at its virtual address.
        unsafe {
            DmaRegion::from_raw_parts(
                virt,
                BusAddr(virt as u64),
                layout.size(),
                coherency,
                layout.align(),
            )
        }
    }

    unsafe fn free(&self, region: DmaRegion) {
        let layout = self
            .layout(region.len())
            .expect("a region of this allocator has a valid layout");
        // SAFETY: the caller's contract: `region` came from `alloc` (same rounded length,
        // hence the same layout) and nothing uses it any more.
        unsafe { alloc::alloc::dealloc(region.virt() as *mut u8, layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CoherentNoop;
    use crate::dma::MemoryId;

    #[test]
    fn regions_are_zeroed_aligned_distinct_and_reusable() {
        // SAFETY: host test: nothing but this test touches the regions, at their addresses.
        let heap = unsafe { HeapDma::identity_mapped(CoherentNoop { line_size: 64 }) };
        let a = heap.alloc(100, Coherency::NonCoherent).unwrap();
        let b = heap.alloc(64, Coherency::Coherent).unwrap();
        assert_eq!((a.len(), b.len()), (128, 64));
        assert_eq!(a.virt() % 64, 0);
        assert_eq!(a.bus().0, a.virt() as u64);
        assert_eq!(a.memory(), MemoryId::SYSTEM);
        assert!(a.virt() + a.len() <= b.virt() || b.virt() + b.len() <= a.virt());
        // SAFETY: a's bytes are ours and nobody else reads or writes them.
        let zero = unsafe {
            core::slice::from_raw_parts(a.virt() as *const u8, a.len())
                .iter()
                .all(|&x| x == 0)
        };
        assert!(zero);
        assert_eq!(
            heap.alloc(0, Coherency::Coherent),
            Err(DmaError::ZeroLength)
        );
        // SAFETY: both came from `heap.alloc` and are no longer used.
        unsafe {
            heap.free(a);
            heap.free(b);
        }
    }
}
