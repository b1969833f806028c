//! The demo: the seed pipeline on Exynos 4. Per frame the CPU draws an overlay, the MDMA
//! PL330 moves it to where the 2D engine reads it, the software
//! 2D engine on CPU 1 composites the scene into the back buffer (FIMG2D is not modelled by
//! QEMU), FIMD0 flips to it once the engine's fence signals, and the CPU reads back a
//! checksum band — every access through dmasync sync sets (doc/architecture.md, "The demo
//! pipeline").
//!
//! Runs `frames=N` frames from the command line (`cargo xtask run --board exynos4 --frames
//! N`; default 60), logs each frame (defmt), prints the totals, asks the host for a
//! screendump of the last frame and exits 0 when every frame completed with the reference
//! checksum.
#![no_std]
#![no_main]

use core::time::Duration;

use dmasync_demo::{Pipeline, Totals, args};
use dmasync_exynos4::arch::{console, exit_code, println, semihosting};
use dmasync_exynos4::{self as board, demo, dma};

#[dmasync_armv7a::entry]
fn main() -> ! {
    let b = board::init();
    let args =
        args::parse(demo::bootargs()).unwrap_or_else(|e| board::setup_failed(format_args!("{e}")));
    defmt::info!(
        "board {=str} ({=str}), {=usize} CPUs; demo: {=u32} frames",
        board::BOARD_NAME,
        b.machine.name(),
        b.cpu_count,
        args.frames
    );
    let pool = dma::dma_pool(&b);
    let domain = dma::domain(&b, Duration::from_secs(2));
    let engine = demo::start_engine(&b);
    let mdma = board::mdma::open(&b, pool, 8);
    let (display, mode) = demo::open_display();
    demo::start_watchdog(domain);
    defmt::info!(
        "DMA pool: {=usize} KiB free; software 2D engine on cpu {=usize}",
        pool.free_bytes() / 1024,
        demo::ENGINE_CPU
    );
    let pipeline = Pipeline::new(domain, pool, mode, demo::options())
        .unwrap_or_else(|e| board::setup_failed(format_args!("demo pipeline: {e}")));

    let mut totals = Totals::default();
    for frame in 0..args.frames {
        let r = pipeline.run_frame_with_dma(engine, mdma, &display, frame);
        demo::log_frame(&r);
        totals.add(&r);
        if frame + 1 == args.frames && r.ok() {
            // The last frame is on screen: let the host take its screenshot.
            let _ = console::request_screendump(
                frame,
                mode.width,
                mode.height,
                console::HOST_ACK_TIMEOUT,
            );
        }
    }
    demo::print_totals(&totals);
    if totals.failed == 0 {
        println!("demo: all {} frames correct", totals.frames);
        semihosting::exit(exit_code::OK)
    } else {
        println!("demo: {} of {} frames failed", totals.failed, totals.frames);
        semihosting::exit(exit_code::TEST_FAILED)
    }
}
