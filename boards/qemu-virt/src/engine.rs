//! The 2D engine of qemu-virt: the software engine (`dmasync_soft::SoftEngine2d`) running
//! on CPU 1, and the memory path it uses as a bus master.
//!
//! ## Why a CPU core must behave like a non-coherent master here
//!
//! Buffers are registered for the engine as a **non-coherent** device, like the hardware
//! 2D engines this board stands in for (FIMG2D, the i.MX ISI). The sync layer then plans
//! the cache maintenance for such a device: it cleans what a CPU wrote before the engine
//! reads it, and *invalidates* what the engine wrote before a CPU reads it. A core running
//! the engine, however, is coherent with the other cores: its loads and stores go through
//! its own data cache. Two things would break if it used plain loads and stores:
//!
//! 1. After the engine writes a frame, CPU 0 invalidates the read-back rows by VA to the
//!    Point of Coherency. `dc ivac` is broadcast to every core in the inner-shareable
//!    domain: the engine core's *dirty* lines would be discarded, and the rendered pixels
//!    with them (a lost write the simulator would flag).
//! 2. A real device reads DRAM. The engine core would read through the caches and could
//!    see data the sync layer has not handed over yet, hiding a missing clean that a
//!    hardware engine would suffer from.
//!
//! So [`CpuAsDeviceMemory`] makes the core act as a master that sees DRAM only: it
//! cleans+invalidates to the Point of Coherency (`dc civac`) before reading (so the read
//! misses in every cache and fetches what memory holds) and after writing (so the data is
//! in DRAM and no copy of it, dirty or clean, is left in this core's cache for a later
//! invalidate to discard). On QEMU, which models no caches, this costs only the
//! instructions; on hardware it is what makes the derived policy true for this engine.

use dmasync_hal::dma::{BusAddr, DeviceId, DeviceMemory};

use crate::arch::cache;

/// Device-side memory access for a bus master emulated by a CPU core: bus = physical =
/// virtual (qemu-virt's identity map), with clean+invalidate to the Point of Coherency
/// around every access (module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuAsDeviceMemory;

// SAFETY: with the identity map, bus address `b` is the virtual address `b`; the caller's
// contract puts `[bus, bus + len)` inside a live DMA region (mapped normal RAM) that `dev`
// may read or write now, so forming the slices is sound. `dc civac` on those lines only
// moves data between cache and memory (partial lines at the ends belong to the same region,
// which is line-aligned), so no other data changes.
unsafe impl DeviceMemory for CpuAsDeviceMemory {
    unsafe fn device_read(&self, _dev: DeviceId, bus: BusAddr, out: &mut [u8]) {
        let src = bus.0 as usize as *const u8;
        // SAFETY: see the impl comment: mapped, inside a region `dev` may read now.
        unsafe {
            cache::clean_invalidate(src, out.len());
            core::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len());
        }
    }

    unsafe fn device_write(&self, _dev: DeviceId, bus: BusAddr, data: &[u8]) {
        let dst = bus.0 as usize as *mut u8;
        // SAFETY: see the impl comment: mapped, inside a region `dev` may write now, and
        // nobody else accesses it while the engine holds it.
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            cache::clean_invalidate(dst, data.len());
        }
    }
}
