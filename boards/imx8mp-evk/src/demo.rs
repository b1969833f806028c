//! The seed pipeline demo on imx8mp-evk: the board side shared by the AArch64 boards
//! (boards/common/aarch64/board/demo.rs: DMA memory, the sync domain, the software 2D engine
//! on CPU 1, the watchdog, the per-frame log), and what is this board's own: a headless
//! display and the command line from semihosting.
//!
//! **No display is exercised.** QEMU's LCDIF1/2 are unimplemented devices (reads 0, writes
//! ignored: hardware.md §1.3), so there is nothing to scan out to. The display end of the
//! pipeline is the software display ([`dmasync_soft::SoftDisplay`]): flips wait for the
//! engine's fence, each presentation reads the frame buffer as a non-coherent master would
//! (through [`crate::engine::cpu_as_device`]) into a screen in RAM, and the demo compares that
//! screen with the reference renderer's frame ([`screen_matches_reference`]) instead of a
//! host screendump.

use alloc::format;
use alloc::string::String;

use dmasync_demo::reference;
use dmasync_engine::{DisplayControl, DisplayMode};
use dmasync_hal::dma::DeviceId;
use dmasync_soft::SoftDisplay;

use crate::engine::{CpuAsDeviceMemory, cpu_as_device};
use crate::setup_failed;

#[path = "../../common/aarch64/board/demo.rs"]
mod shared;
pub use shared::*;

/// The headless display: the software display over the engine core's memory path.
pub type Display = SoftDisplay<CpuAsDeviceMemory>;

/// The bus-master number of the software display in sync sets.
pub const DISPLAY_DEVICE: DeviceId = DeviceId(0xD1);

/// Flips the software display queues (the pipeline has at most two in flight).
const FLIP_QUEUE: usize = 4;

/// Whether a frame waits for a device QEMU runs at host pace (`cargo xtask bench` then
/// reports the spread between runs instead of failing it): no, the software display is
/// paced by the CPU and the generic timer only, both deterministic under `-icount`.
pub const DEVICE_PACED: bool = false;

/// Opens the software display in [`DEMO_MODE`] (the board argument is for the same call on
/// every board; a headless display needs nothing of it). Exits with the set-up code if it
/// refuses.
pub fn open_display(_board: &crate::Board) -> (Display, DisplayMode) {
    let mut d = SoftDisplay::new(DISPLAY_DEVICE, cpu_as_device(), DEMO_MODE, &[], FLIP_QUEUE);
    d.set_mode(DEMO_MODE)
        .unwrap_or_else(|e| setup_failed(format_args!("software display: {e}")));
    defmt::info!(
        "display: software (headless; QEMU models no LCDIF), mode {=u32}x{=u32}",
        DEMO_MODE.width,
        DEMO_MODE.height
    );
    (d, DEMO_MODE)
}

/// Compares what the software display shows with the reference renderer's `frame`, pixel
/// for pixel (the colour bytes; XRGB8888's X byte is what a scanout ignores, as the host's
/// RGB screendump comparison on qemu-virt does): `Err` names the first differing pixel and
/// how many differ.
pub fn screen_matches_reference(display: &Display, frame: u32) -> Result<(), String> {
    let (mode, screen) = display
        .screen()
        .ok_or_else(|| String::from("the software display has no mode set"))?;
    let want = reference::try_reference_frame(frame, mode.width, mode.height)
        .map_err(|e| format!("reference frame {frame}: {e}"))?;
    if screen.len() != want.len() {
        return Err(format!(
            "frame {frame}: screen has {} bytes, the reference {}",
            screen.len(),
            want.len()
        ));
    }
    let bpp = mode.format.bytes_per_pixel();
    let mut differ = screen
        .chunks_exact(bpp)
        .zip(want.chunks_exact(bpp))
        .enumerate()
        .filter(|(_, (a, b))| a[..3] != b[..3]);
    match differ.next() {
        None => Ok(()),
        Some((i, (got, exp))) => {
            let (x, y) = (i as u32 % mode.width, i as u32 / mode.width);
            Err(format!(
                "frame {frame}: screen differs from the reference at ({x}, {y}): {got:02x?} \
                 instead of {exp:02x?}; {} pixels differ",
                1 + differ.count()
            ))
        }
    }
}

/// The command line semihosting passes (QEMU: the image's file name, then `-append`'s
/// words; `cargo xtask run --frames N` appends `frames=N`). There is no device tree to carry
/// bootargs. Exits with the set-up code if the host refuses or answers nonsense.
pub fn bootargs() -> &'static str {
    let buf = alloc::boxed::Box::leak(alloc::vec![0u8; 1024].into_boxed_slice());
    crate::arch::semihosting::command_line(buf)
        .unwrap_or_else(|e| setup_failed(format_args!("semihosting command line: {e:?}")))
}
