//! The 2D engine of the AArch64 boards without one QEMU models (qemu-virt; imx8mp-evk, whose
//! GC520L QEMU does not have): the software engine (`dmasync_soft::SoftEngine2d`) running
//! on CPU 1, reaching memory as a non-coherent bus master would
//! ([`dmasync_hal::dma::CpuAsDevice`] explains why a core must), through this board's data
//! cache maintenance (clean+invalidate by VA to the point of coherency, `dc civac`). One file,
//! a module of each board crate (`#[path]` in their src/lib.rs).

use dmasync_hal::dma::CpuAsDevice;

use crate::arch::cache::DataCache;

/// Device-side memory access of the engine core.
pub type CpuAsDeviceMemory = CpuAsDevice<DataCache>;

/// The engine core's memory path.
pub fn cpu_as_device() -> CpuAsDeviceMemory {
    // SAFETY: the board's identity map makes bus = virtual for all of RAM, and `DataCache`
    // maintains every cache level the cores have for it (by VA, to the point of coherency).
    unsafe { CpuAsDevice::identity_mapped(DataCache) }
}
