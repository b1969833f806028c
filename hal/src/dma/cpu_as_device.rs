//! Device-side memory access for a bus master a CPU core emulates (a software 2D engine on a
//! spare core), on an identity-mapped board.
//!
//! ## Why a CPU core must behave like a non-coherent master
//!
//! Buffers are registered for such an engine as a **non-coherent** device, like the hardware
//! engines it stands in for (FIMG2D, the i.MX ISI). The sync layer then plans the cache
//! maintenance for such a device: it cleans what a CPU wrote before the engine reads it, and
//! *invalidates* what the engine wrote before a CPU reads it. A core running the engine,
//! however, is coherent with the other cores: its loads and stores go through its own data
//! cache (and an outer cache, where there is one). Two things would break if it used plain
//! loads and stores:
//!
//! 1. After the engine writes a frame, another core invalidates the read-back rows to the
//!    point of coherency. The invalidate is broadcast to every core in the inner-shareable
//!    domain (and an outer cache is shared): the engine core's *dirty* lines would be
//!    discarded, and the rendered pixels with them (a lost write the simulator would flag).
//! 2. A real device reads DRAM. The engine core would read through the caches and could see
//!    data the sync layer has not handed over yet, hiding a missing clean that a hardware
//!    engine would suffer from.
//!
//! So [`CpuAsDevice`] makes the core act as a master that sees DRAM only: it cleans and
//! invalidates through every level before reading (so the read misses in every cache and
//! fetches what memory holds) and after writing (so the data is in DRAM and no copy of it,
//! dirty or clean, is left for a later invalidate to discard). On QEMU, which models no
//! caches, this costs only the instructions; on hardware it is what makes the derived policy
//! true for this engine.

use super::{BusAddr, DeviceId, DeviceMemory};
use crate::cache::{CacheMaintenance, VirtRange};

/// A bus master emulated by a CPU core: bus = physical = virtual, with clean+invalidate
/// through `C` around every access (module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuAsDevice<C>(C);

impl<C: CacheMaintenance> CpuAsDevice<C> {
    /// The core as a master that reaches memory at bus = virtual, maintained through `cache`.
    ///
    /// # Safety
    ///
    /// Bus address `b` is virtual address `b` for every region the master is given (an
    /// identity map), and `cache` maintains every cache level between the CPUs and memory
    /// for those addresses.
    pub const unsafe fn identity_mapped(cache: C) -> Self {
        Self(cache)
    }
}

// SAFETY: the constructor's contract makes bus address `b` the virtual address `b`; the
// caller's contract puts `[bus, bus + len)` inside a live DMA region (mapped normal RAM) that
// `dev` may read or write now, so forming the slices is sound. Clean+invalidate of those
// lines only moves data between caches and memory (partial lines at the ends belong to the
// same region, which is line-aligned), so no other data changes.
unsafe impl<C: CacheMaintenance> DeviceMemory for CpuAsDevice<C> {
    unsafe fn device_read(&self, _dev: DeviceId, bus: BusAddr, out: &mut [u8]) {
        let src = bus.0 as usize;
        // SAFETY: see the impl comment: mapped, inside a region `dev` may read now.
        unsafe {
            self.0.clean_invalidate(VirtRange::new(src, out.len()));
            core::ptr::copy_nonoverlapping(src as *const u8, out.as_mut_ptr(), out.len());
        }
    }

    unsafe fn device_write(&self, _dev: DeviceId, bus: BusAddr, data: &[u8]) {
        let dst = bus.0 as usize;
        // SAFETY: see the impl comment: mapped, inside a region `dev` may write now, and
        // nobody else accesses it while the engine holds it.
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), dst as *mut u8, data.len());
            self.0.clean_invalidate(VirtRange::new(dst, data.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use core::cell::RefCell;

    /// Records each clean+invalidate; the order against the copy is what matters.
    struct Recorder(RefCell<Vec<(usize, usize)>>);
    // SAFETY: a host test fake that performs no maintenance and only records the calls.
    unsafe impl CacheMaintenance for &Recorder {
        fn line_size(&self) -> usize {
            64
        }
        unsafe fn clean(&self, _: VirtRange) {
            unreachable!("a CPU-as-device access only cleans+invalidates")
        }
        unsafe fn invalidate(&self, _: VirtRange) {
            unreachable!("a CPU-as-device access only cleans+invalidates")
        }
        unsafe fn clean_invalidate(&self, r: VirtRange) {
            self.0.borrow_mut().push((r.start, r.len));
        }
    }

    #[test]
    fn reads_and_writes_go_through_memory_with_maintenance_around_them() {
        let rec = Recorder(RefCell::new(Vec::new()));
        // SAFETY: host test: the buffer is ours and addressed at its virtual address.
        let dev = unsafe { CpuAsDevice::identity_mapped(&rec) };
        let mut mem = vec![0u8; 256];
        let at = mem.as_mut_ptr() as usize;
        // SAFETY: [at, at + 8) lies in `mem`, which nothing else touches meanwhile.
        unsafe {
            dev.device_write(
                DeviceId(1),
                BusAddr(at as u64 + 8),
                &[1, 2, 3, 4, 5, 6, 7, 8],
            )
        };
        let mut out = [0u8; 4];
        // SAFETY: as above.
        unsafe { dev.device_read(DeviceId(1), BusAddr(at as u64 + 10), &mut out) };
        assert_eq!(out, [3, 4, 5, 6]);
        assert_eq!(*rec.0.borrow(), [(at + 8, 8), (at + 10, 4)]);
        drop(mem);
    }
}
