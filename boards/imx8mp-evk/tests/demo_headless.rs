//! The demo headless: the seed pipeline (CPU overlay, software 2D engine on CPU 1, software
//! display flip, checksum read-back) runs frames 0..=4 exactly as the demo does; every frame
//! must complete with the reference renderer's checksum, and frames 1 and 4, once presented,
//! must be on the software screen pixel for pixel as the reference renderer draws them. The
//! shape of qemu-virt's `demo_screenshot`, without screendumps: QEMU models no LCDIF, so no
//! display is exercised and the guest compares the software screen itself
//! (`dmasync_imx8mp_evk::demo`).
//!
//! Expected output: `test <case> ... ok`, then `verdict: ok (1 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use core::time::Duration;

use dmasync_demo::{Options, Pipeline};
use dmasync_imx8mp_evk::arch::test_info;
use dmasync_imx8mp_evk::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_imx8mp_evk::demo::{self, Display};
use dmasync_imx8mp_evk::{self as board, Board};

dmasync_aarch64::entry!(main, 40);

/// The frames whose screens are compared (as demo_screenshot dumps on qemu-virt).
const COMPARED: [u32; 2] = [1, 4];

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
            name: "frames_match_reference_headless",
            run: frames_match_reference_headless,
        }],
    )
}

fn frames_match_reference_headless(ctx: &Ctx) -> TestResult {
    let last = COMPARED.iter().copied().max().unwrap_or(0);
    for frame in 0..=last {
        let r = ctx.pipeline.run_frame(ctx.engine, &ctx.display, frame);
        demo::log_frame(&r);
        if !r.ok() || r.expected.is_none() {
            return Err(Failure(format!(
                "frame {frame} did not complete correctly (error {:?}, checksum {:?}, reference {:?})",
                r.error, r.checksum, r.expected
            )));
        }
        if COMPARED.contains(&frame) {
            demo::screen_matches_reference(&ctx.display, frame).map_err(Failure)?;
            test_info!(
                "frame {frame}: software screen equals the reference ({} flips presented)",
                ctx.display.presented()
            );
        }
    }
    Ok(())
}
