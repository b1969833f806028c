//! The demo's console output on a bare-metal board (feature `firmware`): the per-frame defmt
//! line and the plain-text problems, the totals, and the [`crate::scenarios::Hooks`] every
//! board's on-target tests use. One copy for all boards: they share `dmasync-firmware`'s
//! console.

use alloc::string::String;
use core::fmt;

use dmasync_engine::DisplayMode;
use dmasync_firmware::{console, println};

use crate::pipeline::{FrameReport, Totals};
use crate::scenarios::Hooks;

/// Logs one frame: a defmt line when it went well, plain text for errors and mismatches
/// (the verdict must never depend on the decoder).
pub fn log_frame(r: &FrameReport) {
    defmt::info!("{}", r);
    for line in r.problem_lines() {
        println!("{line}");
    }
}

/// Prints the run's totals in plain text.
pub fn print_totals(t: &Totals) {
    for line in t.summary_lines() {
        println!("{line}");
    }
}

fn print_info(args: fmt::Arguments<'_>) {
    println!("    info: {args}");
}

/// Asks the host (xtask) for a screendump of `frame` in `mode` and waits for its answer.
pub fn screendump(frame: u32, mode: DisplayMode) -> Result<(), String> {
    console::request_screendump(frame, mode.width, mode.height, console::HOST_ACK_TIMEOUT)
        .map_err(|e| alloc::format!("{e}"))
}

/// The console hooks of [`crate::scenarios`].
pub fn hooks() -> Hooks {
    Hooks {
        log_frame,
        info: print_info,
        screendump,
    }
}
