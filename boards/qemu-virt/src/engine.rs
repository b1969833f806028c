//! The 2D engine of qemu-virt: the software engine (`dmasync_soft::SoftEngine2d`) running
//! on CPU 1, reaching memory as a non-coherent bus master would
//! ([`dmasync_hal::dma::CpuAsDevice`] explains why a core must), through this board's data
//! cache maintenance (clean+invalidate by VA to the point of coherency, `dc civac`).

use dmasync_hal::dma::CpuAsDevice;

use crate::arch::cache::DataCache;

/// Device-side memory access of the engine core.
pub type CpuAsDeviceMemory = CpuAsDevice<DataCache>;

/// The engine core's memory path.
pub fn cpu_as_device() -> CpuAsDeviceMemory {
    // SAFETY: qemu-virt's identity map makes bus = virtual for all of RAM, and `DataCache`
    // maintains the one cache level (to the point of coherency) the cores have for it.
    unsafe { CpuAsDevice::identity_mapped(DataCache) }
}
