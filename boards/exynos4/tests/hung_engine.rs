//! A hung 2D engine on Exynos 4: the software engine on CPU 1 stops completing commands
//! mid-run; the watchdog (on cpu 0's MCT tick) times its set out, the demo loop reports the
//! hang, resets the engine and goes on, later frames are correct again and the last one is
//! compared on screen by the host. The scenario is `dmasync_demo::scenarios::hung_engine`,
//! shared with qemu-virt; board.toml `[tests.hung_engine]` has the expected lines.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use core::time::Duration;

use dmasync_demo::{Pipeline, scenarios};
use dmasync_exynos4::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_exynos4::{Board, demo, dma};

/// How long a holder may keep its buffers (the display holds the frame on screen for a
/// frame or two, and a frame here waits for a screendump: leave room for that).
const HOLD: Duration = Duration::from_secs(1);
const HUNG_FRAME: u32 = 2;
const FRAMES: u32 = 7;

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    testkit::run(
        &board,
        &[Test {
            name: "hung_engine_times_out_is_reset_and_the_demo_goes_on",
            run: hung_engine,
        }],
    )
}

fn hung_engine(board: &Board) -> TestResult {
    let pool = dma::dma_pool(board);
    let domain = dma::domain(board, HOLD);
    let engine = demo::start_engine(board);
    let mdma = dmasync_exynos4::mdma::open(board, pool, 8);
    let (display, mode) = demo::open_display();
    demo::start_watchdog(domain);
    let pipeline = Pipeline::new(domain, pool, mode, demo::options())
        .map_err(|e| Failure(format!("demo pipeline: {e}")))?;
    let totals = scenarios::hung_engine(
        &pipeline,
        engine,
        Some(mdma),
        &display,
        HUNG_FRAME,
        FRAMES,
        &demo::hooks(),
    )
    .map_err(Failure)?;
    demo::print_totals(&totals);
    Ok(())
}
