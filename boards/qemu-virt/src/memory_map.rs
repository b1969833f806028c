//! QEMU virt's fixed memory map and the one place device pointers are created.
//!
//! Addresses from QEMU hw/arm/virt.c `base_memmap[]` (QEMU 10.0). Only what cannot come from
//! the device tree lives here: the console (it must work before the device tree is found, to
//! report that it was not) and where to look for the device tree. The GIC frames, RAM size,
//! CPUs, PSCI conduit and timer interrupt are read from the device tree (crate::devicetree).

use core::ptr::NonNull;

use arm_pl011_uart::{PL011Registers, Uart, UniqueMmioPointer};

/// `VIRT_MEM`: start of RAM; its size is whatever `-m` says (read from the device tree).
pub const RAM_BASE: usize = 0x4000_0000;

/// Everything below RAM is flash, MMIO or PCIe windows (`VIRT_FLASH` .. `VIRT_PCIE_ECAM`):
/// mapped as Device-nGnRE in one go.
pub const MMIO_WINDOW: core::ops::Range<usize> = 0..RAM_BASE;

/// `VIRT_UART` (UART0, `serial_hd(0)`, the console).
pub const UART0_BASE: usize = 0x0900_0000;

/// Most RAM QEMU virt gives the low RAM region (virt.c `LEGACY_RAMLIMIT_GB`, 255 GiB): a
/// device tree claiming more is rejected rather than mapped.
pub const RAM_LIMIT: usize = 255 << 30;

/// Where QEMU puts its generated device tree for an ELF linked above the RAM base
/// (hw/arm/boot.c: the DTB goes at `loader_start`, i.e. the RAM base, when it fits below the
/// image). A Linux-style boot passes it in x0 instead.
pub const DTB_PROBE_ADDRESS: usize = RAM_BASE;

/// The console UART. QEMU's PL011 needs no set-up; on real boards firmware configured the
/// line, which we keep (so no baud-rate programming here).
///
/// # Safety
///
/// Call once: the returned driver must be the only user of UART0. The address is mapped as
/// device memory (or the MMU is off).
pub unsafe fn uart0() -> Uart<'static> {
    let regs = NonNull::new(UART0_BASE as *mut PL011Registers).expect("UART0 is not at 0");
    // SAFETY: UART0_BASE is the PL011 of QEMU virt (virt.c VIRT_UART); the caller guarantees
    // this is the only driver instance for it.
    Uart::new(unsafe { UniqueMmioPointer::new(regs) })
}

/// GIC architecture revision from the distributor's peripheral ID register 2 (ArchRev,
/// bits 7:4): GICv2 has GICD_PIDR2 at 0xFE8, GICv3 at 0xFFE8 (Arm IHI 0048B 4.3.x,
/// IHI 0069 12.9.x). Lets a test check the device tree against the hardware.
pub fn gic_arch_revision(frames: &dmasync_aarch64::gic::GicFrames) -> u32 {
    use dmasync_aarch64::gic::GicFrames;
    let addr = match *frames {
        GicFrames::V2 { gicd, .. } => gicd + 0xfe8,
        GicFrames::V3 { gicd, .. } => gicd + 0xffe8,
    };
    // SAFETY: `frames` come from this machine's device tree and lie in the MMIO window mapped
    // as device memory; PIDR2 is a read-only ID register without side effects, so this read
    // cannot disturb the GIC driver that owns the frame.
    let pidr2 = unsafe { core::ptr::read_volatile(addr as *const u32) };
    (pidr2 >> 4) & 0xf
}

/// virtio-mmio magic value, "virt" little-endian (virtio spec 1.2 §4.2.2, MagicValue at 0x000).
pub const VIRTIO_MMIO_MAGIC: u32 = 0x7472_6976;
/// virtio device ID of a GPU (virtio spec 1.2 §5: 16).
pub const VIRTIO_ID_GPU: u32 = 16;

/// Whether `[base, base + size)` lies in the MMIO window (mapped as device memory by `init`).
fn in_mmio_window(base: usize, size: usize) -> bool {
    size > 0
        && MMIO_WINDOW.contains(&base)
        && base
            .checked_add(size)
            .is_some_and(|end| end <= MMIO_WINDOW.end)
}

/// The device ID in a virtio-mmio slot (0: empty slot), or `None` if the slot is outside the
/// MMIO window, too small or does not carry the virtio magic value.
pub fn virtio_mmio_device_id(base: usize, size: usize) -> Option<u32> {
    if !in_mmio_window(base, size) || size < 0x100 {
        return None;
    }
    // SAFETY: the slot comes from this machine's device tree and lies in the MMIO window
    // mapped as device memory; MagicValue (0x000) and DeviceID (0x008) are read-only
    // registers without side effects (virtio spec 1.2 §4.2.2).
    let (magic, id) = unsafe {
        (
            core::ptr::read_volatile(base as *const u32),
            core::ptr::read_volatile((base + 8) as *const u32),
        )
    };
    (magic == VIRTIO_MMIO_MAGIC).then_some(id)
}

/// The register block of a virtio-mmio slot, for `dmasync_virtio_gpu::VirtioGpu::new`.
/// `None` if the slot is outside the MMIO window.
///
/// # Safety
///
/// Call at most once per slot: the driver given the pointer must be its only user.
pub unsafe fn virtio_mmio(
    base: usize,
    size: usize,
) -> Option<NonNull<virtio_drivers::transport::mmio::VirtIOHeader>> {
    if !in_mmio_window(base, size) {
        return None;
    }
    NonNull::new(base as *mut virtio_drivers::transport::mmio::VirtIOHeader)
}

/// QEMU's fw_cfg registers (`qemu,fw-cfg-mmio`, virt.c `VIRT_FW_CFG`: 0x0902_0000 + 0x18).
/// `None` if the block is outside the MMIO window or smaller than the DMA register's end.
///
/// # Safety
///
/// Call once: the returned driver must be the only user of fw_cfg.
pub unsafe fn fw_cfg(base: usize, size: usize) -> Option<dmasync_ramfb::fw_cfg::MmioFwCfg> {
    if !in_mmio_window(base, size) || size < 0x18 {
        return None;
    }
    // SAFETY: the block comes from the device tree, lies in the MMIO window mapped as
    // device memory and holds the three registers; the caller makes this the only user.
    Some(unsafe { dmasync_ramfb::fw_cfg::MmioFwCfg::new(base) })
}
