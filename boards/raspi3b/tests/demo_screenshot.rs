//! The demo's frames on the firmware framebuffer equal the host reference renderer's, pixel
//! for pixel: the seed pipeline (CPU overlay, the BCM2835 DMA moving it, software 2D engine
//! on CPU 1, flip by virtual offset, checksum read-back) runs frames 0..=4 exactly as the
//! demo does, and after frames 1 and 4 the test asks the host for a screendump. board.toml
//! `[tests.demo_screenshot]` has xtask compare every dump with the reference. The scenario
//! is `dmasync_demo::scenarios::frames_on_screen`, shared with qemu-virt and exynos4.
#![no_std]
#![no_main]

use core::time::Duration;

use dmasync_demo::{Options, Pipeline, scenarios};
use dmasync_raspi3b::arch::cache::DataCache;
use dmasync_raspi3b::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_raspi3b::display::Display;
use dmasync_raspi3b::{self as board, demo};

dmasync_aarch64::entry!(main, 40);

/// The frames the test has dumped once they are on screen.
const DUMPED: [u32; 2] = [1, 4];

struct Ctx {
    pipeline: Pipeline<'static, dmasync_hal::dma::DirectMemory<DataCache>>,
    engine: &'static demo::Engine,
    dma: &'static demo::Dma,
    display: Display,
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let b = board::init(x0);
    let pool = demo::dma_pool(&b);
    let domain = demo::domain(Duration::from_secs(2));
    let engine = demo::start_engine(&b);
    demo::start_watchdog(&b, domain);
    let dma = demo::open_dma(pool);
    let (display, mode, frames) = demo::open_display(domain, pool);
    let pipeline = Pipeline::with_frames(domain, pool, mode, Options::default(), frames)
        .unwrap_or_else(|e| board::setup_failed(format_args!("demo pipeline: {e}")));
    let ctx = Ctx {
        pipeline,
        engine,
        dma,
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
        Some(ctx.dma),
        &ctx.display,
        &DUMPED,
        &demo::hooks(),
    )
    .map_err(Failure)
}
