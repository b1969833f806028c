//! The demo's frames on screen equal the host reference renderer's, pixel for pixel: the
//! seed pipeline (CPU overlay, software 2D engine on CPU 1, display flip, checksum read-back)
//! runs frames 0..=4 exactly as the demo does; after frames 1 and 4 are on screen the guest
//! asks for a screendump (doc/console-protocol.md). board.toml `[tests.demo_screenshot]`
//! has xtask compare each dump with `dmasync_demo::reference::try_reference_frame(N, W, H)`
//! on the host, failing the verdict, naming the frame and the differing pixels, if they
//! differ, and requires both dumps' markers (doc/testing.md); it is the one place those
//! expectations are written.
#![no_std]
#![no_main]

use core::time::Duration;

use dmasync_demo::{Options, Pipeline, scenarios};
use dmasync_qemu_virt::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_qemu_virt::display::Display;
use dmasync_qemu_virt::{self as board, Board, demo};

dmasync_aarch64::entry!(main, 40);

/// The frames whose screendumps the host compares.
const DUMPED: [u32; 2] = [1, 4];

struct Ctx {
    pipeline: Pipeline<'static, dmasync_hal::dma::DirectMemory<board::arch::cache::DataCache>>,
    engine: &'static demo::Engine,
    display: Display,
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let b: Board = board::init(x0);
    let pool = demo::dma_pool(&b);
    let domain = demo::domain(Duration::from_secs(2));
    let engine = demo::start_engine(&b);
    demo::start_watchdog(&b, domain);
    let (display, mode) = demo::open_display(&b);
    let pipeline = Pipeline::new(domain, pool, mode, Options::default())
        .unwrap_or_else(|e| board::setup_failed(format_args!("demo pipeline: {e}")));
    let ctx = Ctx {
        pipeline,
        engine,
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
        None::<&dmasync_demo::NoDma>,
        &ctx.display,
        &DUMPED,
        &demo::hooks(),
    )
    .map_err(Failure)
}
