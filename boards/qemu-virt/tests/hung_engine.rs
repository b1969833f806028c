//! A hung 2D engine: the software engine on CPU 1 stops completing commands mid-run. With a
//! short hold deadline, the next user of the frame it was rendering (the display's lock)
//! gets the watchdog's timeout, the engine's buffers are taken back, the demo loop reports
//! the hang, resets the engine and goes on; later frames are correct again (CPU read-back
//! checksums equal the reference renderer's, and the last one is compared on screen by the
//! host). The scenario is `dmasync_demo::scenarios::hung_engine`, shared by the boards. The
//! hang report and the screendump the host must compare are required by board.toml
//! `[tests.hung_engine]`, the one place they are written.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use core::time::Duration;

use dmasync_demo::{Options, Pipeline, scenarios};
use dmasync_qemu_virt::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_qemu_virt::{Board, demo};

dmasync_aarch64::entry!(main, 40);

/// How long a holder may keep its buffers: the engine's set is taken back this long after
/// it locked them.
/// (The display also holds the frame on screen for a frame or two; the deadline must
/// leave room for that on a loaded host, or its set would be expired as well.)
const HOLD: Duration = Duration::from_secs(1);
const HUNG_FRAME: u32 = 2;
const FRAMES: u32 = 7;

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_qemu_virt::init(x0);
    testkit::run(
        &board,
        &[Test {
            name: "hung_engine_times_out_is_reset_and_the_demo_goes_on",
            run: hung_engine,
        }],
    )
}

fn hung_engine(board: &Board) -> TestResult {
    let pool = demo::dma_pool(board);
    let domain = demo::domain(HOLD);
    let engine = demo::start_engine(board);
    demo::start_watchdog(board, domain);
    let (display, mode) = demo::open_display(board);
    let pipeline = Pipeline::new(domain, pool, mode, Options::default())
        .map_err(|e| Failure(format!("demo pipeline: {e}")))?;
    let totals = scenarios::hung_engine(
        &pipeline,
        engine,
        None::<&dmasync_demo::NoDma>,
        &display,
        HUNG_FRAME,
        FRAMES,
        &demo::hooks(),
    )
    .map_err(Failure)?;
    demo::print_totals(&totals);
    Ok(())
}
