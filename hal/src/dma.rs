//! DMA memory: regions a device can address, with their CPU (virtual) and bus addresses.
//!
//! A device sees memory at *bus* addresses (physical, or behind an IOMMU/offset); the CPU
//! at *virtual* addresses. A [`DmaRegion`] records both, its length and whether the device
//! that uses it is cache-coherent, and it is aligned to the cache line at both ends so that
//! maintenance on it can never touch a neighbour's bytes.

use core::fmt;

mod carve_out;
mod cpu_as_device;
mod heap;
pub use carve_out::CarveOut;
pub use cpu_as_device::CpuAsDevice;
pub use heap::HeapDma;

use crate::cache::{CacheMaintenance, CacheOp, VirtRange};

/// An address as a device (bus master) sees it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusAddr(pub u64);

impl fmt::Debug for BusAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bus:{:#x}", self.0)
    }
}

/// A bus master other than a CPU (a DMA engine, a 2D engine, a display controller),
/// numbered by the board or the simulator that registers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub u16);

/// Whether the device using a buffer sees the CPU caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coherency {
    /// The interconnect snoops CPU caches: no maintenance needed, only ordering.
    Coherent,
    /// The device reads and writes memory only: CPU caches must be cleaned/invalidated.
    NonCoherent,
}

/// Why a DMA region could not be described or allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DmaError {
    /// Zero-length regions cannot be shared with a device.
    ZeroLength,
    /// An address or length is not a multiple of the cache line (`line` bytes).
    Misaligned {
        /// What was misaligned: "virtual start", "bus start" or "length".
        what: &'static str,
        /// The offending value.
        value: u64,
        /// The required alignment.
        line: usize,
    },
    /// The region would wrap around the end of the address space.
    Overflow,
    /// No memory left for an allocation of this size.
    OutOfMemory {
        /// Bytes requested.
        requested: usize,
    },
    /// The line size is not a power of two.
    BadLineSize(usize),
}

impl fmt::Display for DmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DmaError::ZeroLength => write!(f, "a DMA region cannot be empty"),
            DmaError::Misaligned { what, value, line } => {
                write!(
                    f,
                    "DMA region {what} {value:#x} is not a multiple of the {line}-byte cache line"
                )
            }
            DmaError::Overflow => write!(f, "DMA region wraps around the address space"),
            DmaError::OutOfMemory { requested } => {
                write!(f, "no DMA memory left for {requested} bytes")
            }
            DmaError::BadLineSize(l) => write!(f, "cache line size {l} is not a power of two"),
        }
    }
}

/// Which memory a [`DmaRegion`] belongs to: the machine's own memory
/// ([`MemoryId::SYSTEM`], every board), or one instance of a simulated memory, which has
/// its own address space (two simulators may hand out the same addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryId(u32);

impl MemoryId {
    /// The machine's memory: what [`DmaRegion::from_raw_parts`] describes.
    pub const SYSTEM: MemoryId = MemoryId(0);

    /// A memory identity no other call returned (for a simulated memory's address space).
    pub fn fresh() -> MemoryId {
        use core::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        // 4 billion simulated memories in one program would wrap into SYSTEM's id.
        assert!(id != 0, "MemoryId space exhausted");
        MemoryId(id)
    }
}

/// A contiguous buffer visible to the CPU at `virt` and to devices at `bus`.
///
/// A region is a *capability*: holding one is the right to hand its bytes to the CPU as
/// slices and to devices as bus addresses. So it is neither `Clone` nor `Copy`, and safe
/// code cannot make one: regions come from a [`DmaMemory`] allocator, or from
/// [`from_raw_parts`](Self::from_raw_parts), whose caller promises what an allocator
/// would. Whoever owns the region (a `SyncBuffer`, once registered) owns the memory;
/// dropping a region leaks the memory rather than guess who could reuse it.
#[derive(Debug, PartialEq, Eq)]
pub struct DmaRegion {
    virt: usize,
    bus: BusAddr,
    len: usize,
    coherency: Coherency,
    memory: MemoryId,
}

impl DmaRegion {
    /// Describes memory of the machine ([`MemoryId::SYSTEM`]) as a region, checking that
    /// both addresses and the length are multiples of `line` (the cache line), so
    /// maintenance on the region stays inside it.
    ///
    /// # Safety
    ///
    /// For as long as the region (or a buffer made from it) lives:
    /// - `[virt, virt + len)` is mapped, readable and writable normal memory that a device
    ///   reaches at `[bus, bus + len)`;
    /// - nothing else uses it: no Rust reference, no other region, no allocator that could
    ///   hand it out again. The memory is this region's until the region is given back to
    ///   where it came from (a buffer that owns it hands it back once idle:
    ///   `SyncBuffer::into_region`).
    pub unsafe fn from_raw_parts(
        virt: usize,
        bus: BusAddr,
        len: usize,
        coherency: Coherency,
        line: usize,
    ) -> Result<Self, DmaError> {
        // SAFETY: the caller's contract is `from_raw_parts_in`'s, for the machine's memory.
        unsafe { Self::from_raw_parts_in(MemoryId::SYSTEM, virt, bus, len, coherency, line) }
    }

    /// [`from_raw_parts`](Self::from_raw_parts) for the memory `memory` (a simulated
    /// memory's allocator; boards use `from_raw_parts`).
    ///
    /// # Safety
    ///
    /// As for `from_raw_parts`, with "mapped memory" meaning memory of `memory`'s address
    /// space: the range is that memory's, and nothing else uses it while the region lives.
    pub unsafe fn from_raw_parts_in(
        memory: MemoryId,
        virt: usize,
        bus: BusAddr,
        len: usize,
        coherency: Coherency,
        line: usize,
    ) -> Result<Self, DmaError> {
        if !line.is_power_of_two() {
            return Err(DmaError::BadLineSize(line));
        }
        if len == 0 {
            return Err(DmaError::ZeroLength);
        }
        let mask = line as u64 - 1;
        for (what, value) in [
            ("virtual start", virt as u64),
            ("bus start", bus.0),
            ("length", len as u64),
        ] {
            if value & mask != 0 {
                return Err(DmaError::Misaligned { what, value, line });
            }
        }
        if virt.checked_add(len).is_none() || bus.0.checked_add(len as u64).is_none() {
            return Err(DmaError::Overflow);
        }
        Ok(Self {
            virt,
            bus,
            len,
            coherency,
            memory,
        })
    }

    /// The memory the region belongs to.
    pub const fn memory(&self) -> MemoryId {
        self.memory
    }
    /// CPU address of the first byte.
    pub const fn virt(&self) -> usize {
        self.virt
    }
    /// Device address of the first byte.
    pub const fn bus(&self) -> BusAddr {
        self.bus
    }
    /// Length in bytes (a whole number of cache lines).
    pub const fn len(&self) -> usize {
        self.len
    }
    /// Always false: regions are never empty.
    pub const fn is_empty(&self) -> bool {
        false
    }
    /// Whether the device using this region is cache-coherent.
    pub const fn coherency(&self) -> Coherency {
        self.coherency
    }
    /// The CPU range of the region.
    pub const fn virt_range(&self) -> crate::cache::VirtRange {
        crate::cache::VirtRange::new(self.virt, self.len)
    }

    /// The bus address of CPU address `virt`, if it lies in the region.
    pub fn virt_to_bus(&self, virt: usize) -> Option<BusAddr> {
        let off = virt.checked_sub(self.virt)?;
        (off < self.len).then(|| BusAddr(self.bus.0 + off as u64))
    }

    /// The CPU address of bus address `bus`, if it lies in the region.
    pub fn bus_to_virt(&self, bus: BusAddr) -> Option<usize> {
        let off = bus.0.checked_sub(self.bus.0)?;
        (off < self.len as u64).then(|| self.virt + off as usize)
    }
}

/// Where DMA regions come from (a carve-out, a heap, the simulator's DRAM).
///
/// # Safety
///
/// Implementors hand out regions that are mapped at `virt`, reachable by devices at
/// `bus`, and not handed out again until freed.
pub unsafe trait DmaMemory {
    /// The cache line every region is aligned to.
    fn line_size(&self) -> usize;

    /// Allocates `len` bytes (rounded up to whole cache lines), zeroed.
    fn alloc(&self, len: usize, coherency: Coherency) -> Result<DmaRegion, DmaError>;

    /// Returns a region to the allocator.
    ///
    /// # Safety
    ///
    /// `region` came from this allocator's `alloc`, was not freed before, and neither the
    /// CPU nor any device uses it any more.
    unsafe fn free(&self, region: DmaRegion);
}

/// How CPU code reaches the bytes of DMA memory.
///
/// On real hardware the bytes are at the region's virtual address ([`DirectMemory`]). The
/// host simulator has no bytes there: its implementation routes every access through its
/// cache model, so code above this trait runs unchanged against both.
///
/// # Safety
///
/// Implementors give `f` exactly the bytes `[virt, virt + len)` of the memory behind the
/// region, and for `with_bytes_mut` make `f`'s writes the CPU's writes to those bytes.
pub unsafe trait CpuMemory {
    /// Whether `region` is memory this implementation reaches: a region of another
    /// memory (another simulator's address space) must not be used with it. The machine's
    /// memory owns every [`MemoryId::SYSTEM`] region.
    fn owns(&self, region: &DmaRegion) -> bool {
        region.memory() == MemoryId::SYSTEM
    }

    /// Runs `f` on the bytes `[virt, virt + len)` for reading.
    ///
    /// # Safety
    ///
    /// The range lies in a region from this memory's allocator, and no one writes it while
    /// `f` runs (the caller holds a read lock on the buffer).
    unsafe fn with_bytes<R>(&self, virt: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R;

    /// Runs `f` on the bytes `[virt, virt + len)` for writing.
    ///
    /// # Safety
    ///
    /// The range lies in a region from this memory's allocator, and no one else reads or
    /// writes it while `f` runs (the caller holds a write lock on the buffer).
    unsafe fn with_bytes_mut<R>(
        &self,
        virt: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R;
}

// SAFETY: forwards unchanged to an implementation that upholds the contract.
unsafe impl<T: CpuMemory + ?Sized> CpuMemory for &T {
    fn owns(&self, region: &DmaRegion) -> bool {
        (**self).owns(region)
    }
    unsafe fn with_bytes<R>(&self, virt: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).with_bytes(virt, len, f) }
    }
    unsafe fn with_bytes_mut<R>(
        &self,
        virt: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).with_bytes_mut(virt, len, f) }
    }
}

/// DMA memory mapped at its virtual address (every real board), kept coherent with the
/// devices by the cache maintenance `C` (the architecture's, or [`CoherentNoop`] on a
/// coherent interconnect).
///
/// [`CoherentNoop`]: crate::cache::CoherentNoop
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectMemory<C>(pub C);

// SAFETY: the bytes of a region are at its virtual address; the caller's contract makes the
// shared or exclusive slice valid for the duration of `f`.
unsafe impl<C> CpuMemory for DirectMemory<C> {
    unsafe fn with_bytes<R>(&self, virt: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        // SAFETY: `virt..virt+len` is mapped memory of a live region (DmaMemory contract) and
        // nobody writes it while `f` runs (caller's contract).
        f(unsafe { core::slice::from_raw_parts(virt as *const u8, len) })
    }

    unsafe fn with_bytes_mut<R>(
        &self,
        virt: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        // SAFETY: as above, and the caller has exclusive access for the duration of `f`.
        f(unsafe { core::slice::from_raw_parts_mut(virt as *mut u8, len) })
    }
}

// SAFETY: forwards unchanged to `C`, which upholds the contract.
unsafe impl<C: CacheMaintenance> CacheMaintenance for DirectMemory<C> {
    fn line_size(&self) -> usize {
        self.0.line_size()
    }
    fn is_coherent(&self) -> bool {
        self.0.is_coherent()
    }
    unsafe fn perform(&self, op: CacheOp, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.0.perform(op, range) }
    }
    unsafe fn clean(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.0.clean(range) }
    }
    unsafe fn invalidate(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.0.invalidate(range) }
    }
    unsafe fn clean_invalidate(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.0.clean_invalidate(range) }
    }
}

/// The memory of one sync domain: how the CPU reaches the bytes ([`CpuMemory`]) and how its
/// caches are kept coherent with the devices ([`CacheMaintenance`]), as one type so that
/// the types above (a domain, its sets, their locks and guards) carry one parameter.
/// [`DirectMemory`] is every board's; the host simulator (`dmasync-sim`) is the other.
pub trait MemorySystem: CacheMaintenance + CpuMemory {}

impl<T: CacheMaintenance + CpuMemory + ?Sized> MemorySystem for T {}

/// The platform facts a driver needs for the DMA memory it owns itself — descriptor rings,
/// command pages, access blocks it allocates on the heap, as opposed to the shared buffers
/// that reach it through sync sets: the cache maintenance for that memory, and the
/// translation between CPU (virtual) and bus addresses. A board implements it once; every
/// driver that programs a device with addresses of its own memory takes it as a type
/// parameter (virtio-gpu's virtqueues, ramfb's fw_cfg DMA access block).
///
/// The functions are associated (no `self`) because drivers reach them from contexts that
/// hold no board handle (virtio-drivers' `Hal` is a set of associated functions).
///
/// # Safety
///
/// For every CPU address `virt` of memory a driver may allocate or hand to its device (the
/// heap, and the buffers of the driver's own requests):
///
/// - `bus_of(virt)` is the address at which a device reaches the byte the CPU reaches at
///   `virt`, and `virt_of(bus_of(virt)) == virt`;
/// - `cache()` maintains the caches the CPU uses for that memory (to the point where the
///   device sees it), so that a clean makes the CPU's writes visible to the device and an
///   invalidate makes the device's writes visible to the CPU.
///
/// Drivers rely on this to hand bus addresses to hardware: a wrong translation makes a
/// device read or write memory the driver does not own.
pub unsafe trait DriverDma: 'static {
    /// The cache maintenance for the driver's memory (normal, cacheable memory).
    type Cache: CacheMaintenance;
    /// The cache maintenance handle (a unit value on real architectures).
    fn cache() -> Self::Cache;
    /// Bus address of CPU address `virt`.
    fn bus_of(virt: usize) -> u64;
    /// CPU address of bus address `bus` (the inverse of [`bus_of`](Self::bus_of)).
    fn virt_of(bus: u64) -> usize;
}

/// How a bus master reaches memory by bus address: the data path of a software device (the
/// software 2D engine, a test DMA engine), or of a simulated one.
///
/// A real non-coherent master reads and writes DRAM only. An implementation for a software
/// engine running on a CPU core must behave the same (see the board's implementation:
/// it cleans and invalidates around each access), or the cache policy derived for a
/// non-coherent device would be wrong for it.
///
/// # Safety
///
/// Implementors read and write exactly the bytes `[bus, bus + len)` of the memory behind a
/// region, as the device `dev` would.
pub unsafe trait DeviceMemory {
    /// Device `dev` reads `out.len()` bytes at `bus`.
    ///
    /// # Safety
    ///
    /// The range lies in a region from this memory's allocator that `dev` may read now
    /// (the caller holds a lock on the buffer for `dev`'s read access).
    unsafe fn device_read(&self, dev: DeviceId, bus: BusAddr, out: &mut [u8]);

    /// Device `dev` writes `data` at `bus`.
    ///
    /// # Safety
    ///
    /// The range lies in a region from this memory's allocator that `dev` may write now
    /// (the caller holds a lock on the buffer for `dev`'s write access).
    unsafe fn device_write(&self, dev: DeviceId, bus: BusAddr, data: &[u8]);
}

// SAFETY: forwards unchanged to an implementation that upholds the contract.
unsafe impl<T: DeviceMemory + ?Sized> DeviceMemory for &T {
    unsafe fn device_read(&self, dev: DeviceId, bus: BusAddr, out: &mut [u8]) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).device_read(dev, bus, out) }
    }
    unsafe fn device_write(&self, dev: DeviceId, bus: BusAddr, data: &[u8]) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).device_write(dev, bus, data) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A region that is only inspected here, never given to a memory or a device.
    fn describe(
        virt: usize,
        bus: BusAddr,
        len: usize,
        coherency: Coherency,
        line: usize,
    ) -> Result<DmaRegion, DmaError> {
        // SAFETY: the region is only compared and its address arithmetic checked; nothing
        // ever reads or writes the memory it names.
        unsafe { DmaRegion::from_raw_parts(virt, bus, len, coherency, line) }
    }

    #[test]
    fn region_rejects_each_bad_input_by_name() {
        let nc = Coherency::NonCoherent;
        assert_eq!(
            describe(0x1000, BusAddr(0x8000_1000), 0, nc, 64),
            Err(DmaError::ZeroLength)
        );
        assert_eq!(
            describe(0x1004, BusAddr(0x8000_1000), 64, nc, 64),
            Err(DmaError::Misaligned {
                what: "virtual start",
                value: 0x1004,
                line: 64
            })
        );
        assert_eq!(
            describe(0x1000, BusAddr(0x8000_1020), 64, nc, 64),
            Err(DmaError::Misaligned {
                what: "bus start",
                value: 0x8000_1020,
                line: 64
            })
        );
        assert_eq!(
            describe(0x1000, BusAddr(0x8000_1000), 65, nc, 64),
            Err(DmaError::Misaligned {
                what: "length",
                value: 65,
                line: 64
            })
        );
        assert_eq!(
            describe(0x1000, BusAddr(0), 64, nc, 48),
            Err(DmaError::BadLineSize(48))
        );
        assert_eq!(
            describe(usize::MAX - 63, BusAddr(0), 128, nc, 64),
            Err(DmaError::Overflow)
        );
    }

    #[test]
    fn translation_is_inverse_and_bounded() {
        let r = describe(
            0x4000,
            BusAddr(0x9000_0000),
            0x200,
            Coherency::NonCoherent,
            64,
        )
        .unwrap();
        assert_eq!(r.virt_to_bus(0x4000), Some(BusAddr(0x9000_0000)));
        assert_eq!(r.virt_to_bus(0x41FF), Some(BusAddr(0x9000_01FF)));
        assert_eq!(r.virt_to_bus(0x4200), None);
        assert_eq!(r.virt_to_bus(0x3FFF), None);
        assert_eq!(r.bus_to_virt(BusAddr(0x9000_0123)), Some(0x4123));
        assert_eq!(r.bus_to_virt(BusAddr(0x9000_0200)), None);
        for off in (0..0x200).step_by(7) {
            assert_eq!(
                r.bus_to_virt(r.virt_to_bus(0x4000 + off).unwrap()),
                Some(0x4000 + off)
            );
        }
    }

    #[test]
    fn errors_explain_themselves() {
        let e = DmaError::Misaligned {
            what: "length",
            value: 65,
            line: 64,
        };
        assert_eq!(
            std::format!("{e}"),
            "DMA region length 0x41 is not a multiple of the 64-byte cache line"
        );
    }

    #[test]
    fn direct_memory_gives_the_real_bytes() {
        let memory = DirectMemory(crate::cache::CoherentNoop { line_size: 64 });
        let mut backing = [0u8; 16];
        let virt = backing.as_mut_ptr() as usize;
        // SAFETY: `backing` is live, exclusively ours, and 16 bytes long.
        unsafe { memory.with_bytes_mut(virt + 4, 4, |b| b.fill(9)) };
        // SAFETY: as above.
        let sum: u32 =
            unsafe { memory.with_bytes(virt, 16, |b| b.iter().map(|&x| u32::from(x)).sum()) };
        assert_eq!(sum, 36);
        assert_eq!(backing[4..8], [9; 4]);
    }
}
