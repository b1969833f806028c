//! The demo's frames on FIMD0 equal the host reference renderer's, pixel for pixel: the seed
//! pipeline (CPU overlay, the MDMA PL330 moving it, software 2D engine on CPU 1, FIMD0 flip,
//! checksum read-back) runs
//! frames 0..=4 exactly as the demo does; each frame's flip is completed by the screendump
//! the pipeline asks for (QEMU draws FIMD frames only for one under `-display none`), and
//! after frames 1 and 4 the test asks again. board.toml `[tests.demo_screenshot]` has xtask
//! compare every dump with the reference. The scenario is
//! `dmasync_demo::scenarios::frames_on_screen`, shared with qemu-virt.
#![no_std]
#![no_main]

use core::time::Duration;

use dmasync_demo::{Pipeline, scenarios};
use dmasync_exynos4::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_exynos4::display::Display;
use dmasync_exynos4::{self as board, demo, dma};

/// The frames the test has dumped once more after they are on screen.
const DUMPED: [u32; 2] = [1, 4];

struct Ctx {
    pipeline: Pipeline<'static, dmasync_hal::dma::DirectMemory<&'static board::BoardCache>>,
    engine: &'static demo::Engine,
    mdma: &'static dmasync_exynos4::mdma::Mdma,
    display: Display,
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let b = board::init();
    let pool = dma::dma_pool(&b);
    let domain = dma::domain(&b, Duration::from_secs(2));
    let engine = demo::start_engine(&b);
    let mdma = dmasync_exynos4::mdma::open(&b, pool, 8);
    let (display, mode) = demo::open_display();
    demo::start_watchdog(domain);
    let pipeline = Pipeline::new(domain, pool, mode, demo::options())
        .unwrap_or_else(|e| board::setup_failed(format_args!("demo pipeline: {e}")));
    let ctx = Ctx {
        pipeline,
        engine,
        mdma,
        display,
    };
    testkit::run(
        &ctx,
        &[Test {
            name: "frames_on_screen_for_comparison",
            run: frames_on_screen_for_comparison,
        }],
    )
}

fn frames_on_screen_for_comparison(ctx: &Ctx) -> TestResult {
    scenarios::frames_on_screen(
        &ctx.pipeline,
        ctx.engine,
        Some(ctx.mdma),
        &ctx.display,
        &DUMPED,
        &demo::hooks(),
    )
    .map_err(Failure)
}
