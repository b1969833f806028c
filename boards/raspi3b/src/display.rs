//! The display: the Raspberry Pi firmware's framebuffer over the mailbox property channel
//! (`dmasync-bcm2835-mbox`), its buffers registered in the demo's sync domain as regions over
//! the VideoCore memory the firmware allocated them in.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use dmasync_bcm2835_mbox::Mailbox;
use dmasync_bcm2835_mbox::fb::{FbError, Framebuffer, MboxFb};
use dmasync_engine::DisplayMode;
use dmasync_hal::cache::CacheMaintenance;
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DirectMemory, DmaMemory, DmaRegion};
use dmasync_hal::mmio::MmioWindow;
use dmasync_sync::syncset::SyncBuffer;

use crate::arch::cache::DataCache;
use crate::demo::Domain;
use crate::memory_map;

/// The display driver of this board.
pub type Display = MboxFb<'static, MmioWindow, DirectMemory<DataCache>>;

/// The bus-master number of the framebuffer's scanout in sync sets.
pub const DISPLAY_DEVICE: DeviceId = DeviceId(0xFB);
/// The bus-master number of the firmware reading and writing the mailbox message buffer.
pub const MAILBOX_DEVICE: DeviceId = DeviceId(0x8B);
/// Buffers of the framebuffer: the demo pipeline's three.
pub const BUFFERS: usize = dmasync_demo::pipeline::BUFFERS;

/// Names of the framebuffer's buffers in sync sets.
const NAMES: [&str; 3] = ["fb0", "fb1", "fb2"];

/// Opens the mailbox's property channel (its message buffer from `memory`, registered in
/// `domain`) and the framebuffer with `buffers` buffers.
///
/// # Panics
///
/// On a second call: the mailbox has one driver.
pub fn open(
    domain: &'static Domain,
    memory: &impl DmaMemory,
    buffers: usize,
) -> Result<Display, FbError> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::AcqRel) {
        panic!("display::open called twice: the mailbox already has a driver");
    }
    // SAFETY: called once (`TAKEN`), so this is the mailbox's only driver.
    let regs = unsafe { memory_map::mailbox_registers() };
    let mbox = Mailbox::new(regs, domain, memory, MAILBOX_DEVICE)?;
    MboxFb::new(mbox, buffers, DISPLAY_DEVICE)
}

/// Why the framebuffer's buffers were not registered.
#[derive(Debug)]
pub enum RegisterError {
    /// The firmware refused the mode.
    Mode(FbError),
    /// The framebuffer is not where this board maps the VideoCore's memory.
    OutsideWindow(Framebuffer),
    /// Already registered once.
    Twice,
    /// The region or the sync domain refused a buffer.
    Refused(&'static str),
}

impl core::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Mode(e) => write!(f, "{e}"),
            Self::OutsideWindow(fb) => write!(
                f,
                "framebuffer {:#x}+{:#x} is outside the VideoCore window {:#x}..{:#x}",
                fb.base,
                fb.buffer_bytes() * fb.buffers,
                memory_map::VC_WINDOW.start,
                memory_map::VC_WINDOW.end
            ),
            Self::Twice => write!(f, "the framebuffer's buffers are registered already"),
            Self::Refused(why) => write!(f, "framebuffer buffer refused: {why}"),
        }
    }
}

/// Sets `mode` (allocating the framebuffer) and registers each of its buffers in `domain`,
/// buffer `i` as `fb<i>`. Once per program: the buffers are the domain's from then on.
pub fn set_mode_and_register(
    display: &mut Display,
    domain: &Domain,
    mode: DisplayMode,
) -> Result<Vec<SyncBuffer>, RegisterError> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    let fb = display.allocate(mode).map_err(RegisterError::Mode)?;
    let end = fb.base + (fb.buffer_bytes() * fb.buffers) as u64;
    if fb.base < memory_map::VC_WINDOW.start as u64 || end > memory_map::VC_WINDOW.end as u64 {
        return Err(RegisterError::OutsideWindow(fb));
    }
    if REGISTERED.swap(true, Ordering::AcqRel) {
        return Err(RegisterError::Twice);
    }
    let line = DataCache.line_size();
    (0..fb.buffers)
        .map(|i| {
            let at = fb.buffer_base(i);
            // SAFETY: the buffer lies in VC_WINDOW (checked above), which `init` maps as
            // normal memory at its physical address, and the mailbox and QEMU's scanout reach
            // it at that address (raspi3b.md §5). It is the firmware's framebuffer, which the
            // driver allocates once and never moves; `REGISTERED` makes this the one place
            // regions over it are made, and the buffers do not overlap. Nothing else of ours
            // uses VideoCore memory.
            let region = unsafe {
                DmaRegion::from_raw_parts(
                    at as usize,
                    BusAddr(at),
                    fb.buffer_bytes(),
                    Coherency::NonCoherent,
                    line,
                )
            }
            .map_err(|_| RegisterError::Refused("not whole cache lines"))?;
            domain
                .buffer(NAMES[i], region)
                .map_err(|_| RegisterError::Refused("the sync domain refused it"))
        })
        .collect()
}
