//! qemu-virt's display: virtio-gpu when QEMU has one, else ramfb.
//!
//! The choice is data: board.toml gives each QEMU variant its display device
//! (`-device virtio-gpu-device` or `-device ramfb`), and [`open`] finds what the machine
//! has — a virtio-mmio slot whose device ID is 16 (the device tree lists the slots,
//! `virtio,mmio`), else the fw_cfg file "etc/ramfb" (fw_cfg's registers from the device
//! tree, `qemu,fw-cfg-mmio`). Both back ends are behind [`DisplayControl`],
//! [`DisplayFlip`] and [`DisplayService`] through [`Display`].
//!
//! Flips complete in [`DisplayService::service`], which the owner calls from its loop
//! (virtqueue commands block, so they never run inside a fence callback).

use alloc::boxed::Box;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use dmasync_hal::dma::MemorySystem;

use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, PixelFormat,
    Rejected, Surface,
};
use dmasync_hal::dma::{DeviceId, DriverDma};
use dmasync_ramfb::Ramfb;
use dmasync_ramfb::fw_cfg::{FwCfgError, MmioFwCfg};
use dmasync_sync::fence::Fence;
use dmasync_sync::syncset::Locked;
use dmasync_virtio_gpu::{GpuError, VirtioGpu};

use crate::arch::cache::DataCache;
use crate::devicetree::DtInfo;
use crate::memory_map;

/// The bus-master id of the display's scanout: framebuffers are registered in sync sets
/// with `Access::dma_read(DISPLAY_DEVICE)`.
pub const DISPLAY_DEVICE: DeviceId = DeviceId(0x0d15);

/// ramfb has no native resolution; this board's choice (VGA, 1.2 MB at 32 bpp).
pub const RAMFB_PREFERRED: DisplayMode = DisplayMode {
    width: 640,
    height: 480,
    format: PixelFormat::Xrgb8888,
};

/// qemu-virt's [`DriverDma`] for the display drivers' own memory: identity map (bus =
/// physical = virtual) and the CPU's data cache.
#[derive(Debug)]
pub struct BoardDma;

// SAFETY: qemu-virt runs on an identity map (crate::init), so a device reaches the byte at
// CPU address `v` at bus address `v` (and `virt_of` is the identity too); `DataCache`
// maintains the data cache by VA to the Point of Coherency for all of it.
unsafe impl DriverDma for BoardDma {
    type Cache = DataCache;
    fn cache() -> DataCache {
        DataCache
    }
    fn bus_of(virt: usize) -> u64 {
        virt as u64
    }
    fn virt_of(bus: u64) -> usize {
        bus as usize
    }
}

/// The virtio-gpu back end as this board instantiates it.
pub type BoardVirtioGpu = VirtioGpu<BoardDma>;
/// The ramfb back end as this board instantiates it.
pub type BoardRamfb = Ramfb<MmioFwCfg, BoardDma>;

/// The display the machine has.
#[derive(Debug)]
pub enum Display {
    /// virtio-gpu over virtio-mmio (boxed: it carries its command pages and queue state).
    VirtioGpu(Box<BoardVirtioGpu>),
    /// QEMU's ramfb over fw_cfg DMA.
    Ramfb(BoardRamfb),
}

impl Display {
    /// "virtio-gpu" or "ramfb" (as board.toml names them).
    pub fn backend(&self) -> &'static str {
        match self {
            Self::VirtioGpu(_) => "virtio-gpu",
            Self::Ramfb(_) => "ramfb",
        }
    }

    /// Flips queued and not yet presented.
    pub fn pending_flips(&self) -> usize {
        match self {
            Self::VirtioGpu(d) => d.pending_flips(),
            Self::Ramfb(d) => d.pending_flips(),
        }
    }
}

/// Why no display could be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisplayError {
    /// [`open`] was called before; the devices have one driver each.
    AlreadyOpen,
    /// Neither a virtio-gpu nor ramfb is present.
    NoDevice,
    /// The virtio-gpu was found but did not come up.
    VirtioGpu(GpuError),
    /// fw_cfg is there but ramfb could not be used.
    Ramfb(FwCfgError),
    /// A device-tree register range lies outside the MMIO window.
    BadRegisters {
        /// Which device.
        what: &'static str,
        /// Its base.
        base: usize,
    },
}

impl fmt::Display for DisplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyOpen => f.write_str("display: already opened"),
            Self::NoDevice => f.write_str(
                "display: no virtio-gpu (virtio-mmio device ID 16) and no fw_cfg \"etc/ramfb\"; \
                 start QEMU with `-global virtio-mmio.force-legacy=false -device \
                 virtio-gpu-device` or `-device ramfb`",
            ),
            Self::VirtioGpu(e) => write!(f, "display: virtio-gpu: {e}"),
            Self::Ramfb(e) => write!(f, "display: ramfb: {e}"),
            Self::BadRegisters { what, base } => {
                write!(
                    f,
                    "display: {what} registers at {base:#x} are outside the MMIO window"
                )
            }
        }
    }
}

static OPENED: AtomicBool = AtomicBool::new(false);

/// Finds and brings up the machine's display (see the module documentation). Nothing is
/// on screen and no mode is set until the caller sets one and flips.
pub fn open(dt: &DtInfo) -> Result<Display, DisplayError> {
    if OPENED.swap(true, Ordering::AcqRel) {
        return Err(DisplayError::AlreadyOpen);
    }
    let gpu_slot = dt
        .virtio_mmio_slots()
        .iter()
        .copied()
        .find(|&(base, size)| {
            memory_map::virtio_mmio_device_id(base, size) == Some(memory_map::VIRTIO_ID_GPU)
        });
    if let Some((base, size)) = gpu_slot {
        // SAFETY: `OPENED` makes this the only call; the slot is in the MMIO window (checked
        // by `virtio_mmio_device_id` and `virtio_mmio`), mapped as device memory for good.
        let regs =
            unsafe { memory_map::virtio_mmio(base, size) }.ok_or(DisplayError::BadRegisters {
                what: "virtio-mmio",
                base,
            })?;
        // SAFETY: as above: the register block of the slot, used by this driver only.
        let gpu = unsafe { VirtioGpu::new(regs, size, DISPLAY_DEVICE) }
            .map_err(DisplayError::VirtioGpu)?;
        return Ok(Display::VirtioGpu(Box::new(gpu)));
    }
    let Some((base, size)) = dt.fw_cfg else {
        return Err(DisplayError::NoDevice);
    };
    // SAFETY: `OPENED` makes this the only user of fw_cfg.
    let io = unsafe { memory_map::fw_cfg(base, size) }.ok_or(DisplayError::BadRegisters {
        what: "fw_cfg",
        base,
    })?;
    match Ramfb::new(io, RAMFB_PREFERRED, DISPLAY_DEVICE) {
        Ok(r) => Ok(Display::Ramfb(r)),
        Err(FwCfgError::NoSuchFile(_)) => Err(DisplayError::NoDevice),
        Err(e) => Err(DisplayError::Ramfb(e)),
    }
}

impl DisplayControl for Display {
    fn preferred_mode(&self) -> DisplayMode {
        match self {
            Self::VirtioGpu(d) => d.preferred_mode(),
            Self::Ramfb(d) => d.preferred_mode(),
        }
    }

    fn mode(&self) -> Option<DisplayMode> {
        match self {
            Self::VirtioGpu(d) => d.mode(),
            Self::Ramfb(d) => d.mode(),
        }
    }

    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        match self {
            Self::VirtioGpu(d) => d.set_mode(mode),
            Self::Ramfb(d) => d.set_mode(mode),
        }
    }
}

impl DisplayService for Display {
    fn service(&self) -> usize {
        match self {
            Self::VirtioGpu(d) => d.service(),
            Self::Ramfb(d) => d.service(),
        }
    }
}

impl DisplayFlip for Display {
    fn device(&self) -> DeviceId {
        DISPLAY_DEVICE
    }

    fn flip<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>> {
        match self {
            Self::VirtioGpu(d) => d.flip(locked, fb, in_fence),
            Self::Ramfb(d) => d.flip(locked, fb, in_fence),
        }
    }
}
