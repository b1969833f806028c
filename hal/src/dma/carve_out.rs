//! DMA memory from a carve-out: a range of identity-mapped RAM set aside for frame buffers and
//! other device-shared buffers, handed out by a bump pointer.
//!
//! Each region is rounded out to whole cache lines. `free` gives memory back only when the
//! region is the most recent allocation (a stack discipline, which is how demos and tests use
//! it); other regions stay allocated for the rest of the run, which is safe (never handed out
//! twice) and simple. Boards whose devices reach RAM at its CPU address share this one copy.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::{BusAddr, Coherency, DmaError, DmaMemory, DmaRegion};
use crate::cache::{CacheMaintenance, VirtRange};

/// A pool of DMA memory over `[start, end)` of identity-mapped RAM, maintained through `C`.
#[derive(Debug)]
pub struct CarveOut<C> {
    start: usize,
    end: usize,
    next: AtomicUsize,
    cache: C,
}

impl<C: CacheMaintenance> CarveOut<C> {
    /// A pool over `[start, start + len)`, shrunk inwards to whole cache lines.
    ///
    /// # Safety
    ///
    /// The range is RAM that devices reach at its virtual address (an identity map), used by
    /// nothing else for the rest of the program (not the image, stacks, heap or a device
    /// tree), and `cache` maintains the caches the CPUs use for it.
    pub unsafe fn identity_mapped(start: usize, len: usize, cache: C) -> Result<Self, DmaError> {
        let line = cache.line_size();
        if !line.is_power_of_two() {
            return Err(DmaError::BadLineSize(line));
        }
        let first = start
            .checked_next_multiple_of(line)
            .ok_or(DmaError::Overflow)?;
        let end = start.checked_add(len).ok_or(DmaError::Overflow)? & !(line - 1);
        Ok(Self {
            start: first,
            end: end.max(first),
            next: AtomicUsize::new(first),
            cache,
        })
    }

    /// Bytes not yet handed out.
    pub fn free_bytes(&self) -> usize {
        self.end.saturating_sub(self.next.load(Ordering::Relaxed))
    }

    /// The pool's range.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.start..self.end
    }

    /// The cache maintenance the pool was built with.
    pub fn cache(&self) -> &C {
        &self.cache
    }
}

// SAFETY: regions come from a bump pointer advanced atomically over a range nobody else
// uses (the constructor's contract), so no two live regions overlap; a region is returned
// to the pool only when it is the last one handed out and its user is done (`free`'s
// contract). The constructor's contract makes the bus address the virtual one.
unsafe impl<C: CacheMaintenance> DmaMemory for CarveOut<C> {
    fn line_size(&self) -> usize {
        self.cache.line_size()
    }

    fn alloc(&self, len: usize, coherency: Coherency) -> Result<DmaRegion, DmaError> {
        if len == 0 {
            return Err(DmaError::ZeroLength);
        }
        let line = self.cache.line_size();
        let rounded = len
            .checked_next_multiple_of(line)
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
        // SAFETY: [at, at + rounded) lies in the pool (checked above), is RAM used by nothing
        // else (constructor), and was just reserved for this region alone.
        unsafe {
            core::ptr::write_bytes(at as *mut u8, 0, rounded);
            self.cache.clean_invalidate(VirtRange::new(at, rounded));
        }
        // SAFETY: as above: RAM reserved for this region alone until `free`; the
        // constructor's contract makes the bus address the virtual one.
        unsafe { DmaRegion::from_raw_parts(at, BusAddr(at as u64), rounded, coherency, line) }
    }

    unsafe fn free(&self, region: DmaRegion) {
        // Only the most recent allocation can go back; others stay allocated.
        let end = region.virt() + region.len();
        let _ = self
            .next
            .compare_exchange(end, region.virt(), Ordering::AcqRel, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CoherentNoop;
    use alloc::vec;

    /// A pool over a heap buffer of `len` bytes starting `skew` bytes past a line boundary.
    fn with_pool(len: usize, skew: usize, f: impl FnOnce(&CarveOut<CoherentNoop>, usize)) {
        let mut backing = vec![0xAAu8; len + 128];
        let base = (backing.as_mut_ptr() as usize).next_multiple_of(64) + skew;
        // SAFETY: host test: `backing` outlives the pool and nothing else touches it.
        let pool = unsafe { CarveOut::identity_mapped(base, len, CoherentNoop { line_size: 64 }) }
            .unwrap();
        f(&pool, base);
        drop(backing);
    }

    #[test]
    fn regions_are_line_aligned_zeroed_and_disjoint() {
        with_pool(4096, 10, |pool, base| {
            // The unaligned start is rounded up; the end down.
            assert_eq!(pool.range().start, base - 10 + 64);
            assert_eq!(pool.range().end % 64, 0);
            let a = pool.alloc(100, Coherency::NonCoherent).unwrap();
            let b = pool.alloc(1, Coherency::NonCoherent).unwrap();
            assert_eq!((a.len(), b.len()), (128, 64));
            assert_eq!(a.virt() % 64, 0);
            assert_eq!(a.bus().0, a.virt() as u64);
            assert!(a.virt() + a.len() <= b.virt());
            // SAFETY: a's bytes are ours and nobody else reads or writes them.
            let bytes = unsafe { core::slice::from_raw_parts(a.virt() as *const u8, a.len()) };
            assert!(
                bytes.iter().all(|&x| x == 0),
                "the 0xAA fill must be zeroed"
            );
        });
    }

    #[test]
    fn exhaustion_names_the_request_and_free_is_last_in_first_out() {
        with_pool(1024, 0, |pool, _| {
            let a = pool.alloc(512, Coherency::NonCoherent).unwrap();
            let b = pool.alloc(512, Coherency::NonCoherent).unwrap();
            assert_eq!(
                pool.alloc(1, Coherency::NonCoherent),
                Err(DmaError::OutOfMemory { requested: 1 })
            );
            let (a_at, b_at) = (a.virt(), b.virt());
            // Freeing `a` first gives nothing back (it is not the most recent region).
            // SAFETY: neither region is used any more.
            unsafe { pool.free(a) };
            assert_eq!(pool.free_bytes(), 0);
            // SAFETY: as above.
            unsafe { pool.free(b) };
            assert_eq!(pool.free_bytes(), 512);
            let c = pool.alloc(512, Coherency::NonCoherent).unwrap();
            assert_eq!(c.virt(), b_at);
            assert_ne!(c.virt(), a_at);
            assert_eq!(
                pool.alloc(0, Coherency::Coherent),
                Err(DmaError::ZeroLength)
            );
        });
    }

    #[test]
    fn a_line_size_that_is_not_a_power_of_two_is_refused() {
        // SAFETY: refused before anything is touched.
        let r =
            unsafe { CarveOut::identity_mapped(0x1000, 0x1000, CoherentNoop { line_size: 48 }) };
        assert_eq!(r.err(), Some(DmaError::BadLineSize(48)));
    }
}
