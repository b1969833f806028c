//! The demo: the seed pipeline on raspi3b. Per frame the CPU draws an overlay, the BCM2835
//! DMA moves it to where the 2D engine reads it, the software 2D engine on CPU 1 composites
//! the scene into the back buffer (one of the firmware framebuffer's three), the framebuffer
//! flips to it (virtual offset) once the engine's fence signals, and the CPU reads back a
//! checksum band — every access through dmasync sync sets (doc/architecture.md, "The demo
//! pipeline").
//!
//! Runs `frames=N` frames from the command line (`cargo xtask run --board raspi3b --frames
//! N`; default 60), logs each frame (defmt), prints the totals, asks the host for a
//! screendump of the last frame and exits 0 when every frame completed with the reference
//! checksum.
#![no_std]
#![no_main]

use core::time::Duration;

use dmasync_demo::{Options, Pipeline, Totals, args};
use dmasync_raspi3b::arch::{console, exit_code, println, semihosting};
use dmasync_raspi3b::{self as board, demo};

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _x1: u64, _x2: u64, _x3: u64) -> ! {
    let b = board::init(x0);
    let args =
        args::parse(demo::bootargs()).unwrap_or_else(|e| board::setup_failed(format_args!("{e}")));
    defmt::info!(
        "board {=str}, EL{=u8}, {=usize} CPUs; demo: {=u32} frames",
        board::BOARD_NAME,
        b.el,
        b.cpu_count,
        args.frames
    );

    let pool = demo::dma_pool(&b);
    let domain = demo::domain(Duration::from_secs(2));
    let engine = demo::start_engine(&b);
    demo::start_watchdog(&b, domain);
    let dma = demo::open_dma(pool);
    let (display, mode, frames) = demo::open_display(domain, pool);
    defmt::info!(
        "DMA pool: {=usize} KiB free; software 2D engine on cpu {=usize}",
        pool.free_bytes() / 1024,
        demo::ENGINE_CPU
    );
    let pipeline = Pipeline::with_frames(domain, pool, mode, Options::default(), frames)
        .unwrap_or_else(|e| board::setup_failed(format_args!("demo pipeline: {e}")));

    let mut totals = Totals::default();
    for frame in 0..args.frames {
        let r = pipeline.run_frame_with_dma(engine, dma, &display, frame);
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
