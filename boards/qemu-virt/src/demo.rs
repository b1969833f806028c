//! The seed pipeline demo on qemu-virt: the board side shared by the AArch64 boards
//! (boards/common/aarch64/board/demo.rs: DMA memory, the sync domain, the software 2D engine
//! on CPU 1, the watchdog, the per-frame log), and what is qemu-virt's own: the display
//! (virtio-gpu or ramfb) and the kernel command line from the device tree.

use dmasync_engine::{DisplayControl, DisplayMode};

use crate::display::{self, Display};
use crate::{Board, setup_failed};

#[path = "../../common/aarch64/board/demo.rs"]
mod shared;
pub use shared::*;

/// Whether a frame waits for a device QEMU runs at host pace: yes, virtio-gpu and ramfb
/// complete in QEMU's main loop, so `cargo xtask bench` reports the spread between runs of
/// frame_icount instead of failing it.
pub const DEVICE_PACED: bool = true;

/// Opens the machine's display (virtio-gpu or ramfb, whichever QEMU has) and sets
/// [`DEMO_MODE`], or the display's preferred mode if it refuses that one. Exits with the
/// set-up code when there is no display or no mode can be set.
pub fn open_display(board: &Board) -> (Display, DisplayMode) {
    let mut d = display::open(&board.dt).unwrap_or_else(|e| setup_failed(format_args!("{e}")));
    let mode = match d.set_mode(DEMO_MODE) {
        Ok(()) => DEMO_MODE,
        Err(first) => {
            let preferred = d.preferred_mode();
            d.set_mode(preferred).unwrap_or_else(|e| {
                setup_failed(format_args!(
                    "display {}: mode {}x{} refused ({first}), preferred mode refused too ({e})",
                    d.backend(),
                    DEMO_MODE.width,
                    DEMO_MODE.height
                ))
            });
            preferred
        }
    };
    defmt::info!(
        "display: {=str}, mode {=u32}x{=u32}",
        d.backend(),
        mode.width,
        mode.height
    );
    (d, mode)
}

/// The kernel command line (`/chosen/bootargs`), empty when there is none.
pub fn bootargs(board: &Board) -> &'static str {
    // SAFETY: the device tree was validated by `init` at this address, lies in RAM that
    // nothing overwrites (the heap and the DMA pool keep clear of it), and lives forever.
    match unsafe { fdt::Fdt::from_ptr(board.dt.dtb.0 as *const u8) } {
        Ok(fdt) => fdt.chosen().bootargs().unwrap_or(""),
        Err(_) => "",
    }
}
