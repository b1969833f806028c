//! The demo's on-target scenarios, written once for every board: each board's test binary
//! brings up its engine, display and domain, then runs these with its own console hooks.
//! board.toml says what the host checks on top (the screendumps, the report lines).

use alloc::format;
use alloc::string::String;
use core::fmt;

use dmasync_engine::{DisplayFlip, DisplayMode, DisplayService, DmaEngine, Engine2dControl};
use dmasync_hal::dma::{DeviceMemory, MemorySystem};
use dmasync_soft::SoftEngine2d;
use dmasync_sync::FenceError;

use crate::pipeline::{FrameError, FrameReport, Pipeline, Totals};

/// What a scenario needs from the board's console.
#[derive(Clone, Copy, Debug)]
pub struct Hooks {
    /// Logs one frame (defmt line, plain text for problems).
    pub log_frame: fn(&FrameReport),
    /// Prints an informational line of the test.
    pub info: fn(fmt::Arguments<'_>),
    /// Asks the host for a screendump of `frame` and waits for it; `Err` says why not.
    pub screendump: fn(frame: u32, mode: DisplayMode) -> Result<(), String>,
}

/// `dma`, when given, moves the overlay as one step of every frame
/// ([`Pipeline::run_frame_with_dma`]).
///
/// Runs frames `0..=last of dumped` and has the host dump each frame in `dumped` while it is
/// on screen (the host compares them with the reference). Every frame must complete with the
/// reference checksum.
pub fn frames_on_screen<M, D, E, X>(
    pipeline: &Pipeline<'_, M>,
    engine: &SoftEngine2d<E>,
    dma: Option<&X>,
    display: &D,
    dumped: &[u32],
    hooks: &Hooks,
) -> Result<(), String>
where
    M: MemorySystem,
    D: DisplayFlip + DisplayService,
    E: DeviceMemory,
    X: DmaEngine,
{
    let last = dumped.iter().copied().max().unwrap_or(0);
    for frame in 0..=last {
        let r = pipeline.run(engine, dma, display, frame);
        (hooks.log_frame)(&r);
        if !r.ok() {
            return Err(format!(
                "frame {frame} did not complete correctly (error {:?}, checksum {:?}, reference {:?})",
                r.error, r.checksum, r.expected
            ));
        }
        if dumped.contains(&frame) {
            // The frame stays on screen until the host has taken (and compared) its dump.
            (hooks.screendump)(frame, pipeline.mode())
                .map_err(|e| format!("frame {frame}: the host did not take the screendump: {e}"))?;
            let m = pipeline.mode();
            (hooks.info)(format_args!(
                "frame {frame} ({}x{}) dumped by the host",
                m.width, m.height
            ));
        }
    }
    Ok(())
}

/// The 2D engine stops completing commands at `hung_frame` of `frames`: the frame must be
/// reported as a hang the watchdog timed out (one abandoned submission), the engine reset,
/// and every other frame correct; the last one is dumped for the host to compare. The
/// domain's hold deadline must be short and its watchdog running.
pub fn hung_engine<M, D, E, X>(
    pipeline: &Pipeline<'_, M>,
    engine: &SoftEngine2d<E>,
    dma: Option<&X>,
    display: &D,
    hung_frame: u32,
    frames: u32,
    hooks: &Hooks,
) -> Result<Totals, String>
where
    M: MemorySystem,
    D: DisplayFlip + DisplayService,
    E: DeviceMemory,
    X: DmaEngine,
{
    let mut totals = Totals::default();
    for frame in 0..frames {
        if frame == hung_frame {
            engine.set_stalled(true);
            (hooks.info)(format_args!(
                "frame {frame}: the 2D engine stops completing commands"
            ));
        }
        let r = pipeline.run(engine, dma, display, frame);
        (hooks.log_frame)(&r);
        totals.add(&r);
        if frame == hung_frame {
            let want = Some(FrameError::EngineHung {
                error: FenceError::Timeout,
                abandoned: 1,
            });
            if r.error != want {
                return Err(format!(
                    "frame {frame}: expected the hang to be reported as a timeout with one \
                     abandoned submission, got {:?}",
                    r.error
                ));
            }
            if r.sync.expired == 0 {
                return Err(format!("no holder was expired: {:?}", r.sync));
            }
            if engine.is_stalled() {
                return Err("the reset did not clear the stall".into());
            }
            if engine.pending() != 0 {
                return Err(format!("{} submissions still queued", engine.pending()));
            }
            if let Some(e) = &r.error {
                (hooks.info)(format_args!("frame {frame}: reported: {e}"));
            }
        } else if !r.ok() {
            return Err(format!(
                "frame {frame}: {:?} (checksum {:?}, reference {:?})",
                r.error, r.checksum, r.expected
            ));
        }
    }
    if totals.failed != 1 || totals.engine_resets != 1 {
        return Err(format!(
            "{} failed frames, {} engine resets",
            totals.failed, totals.engine_resets
        ));
    }
    // The frame after the recovery, on screen: the host compares it with the reference.
    let last = frames - 1;
    (hooks.screendump)(last, pipeline.mode())
        .map_err(|e| format!("frame {last}: the host did not take the screendump: {e}"))?;
    Ok(totals)
}
