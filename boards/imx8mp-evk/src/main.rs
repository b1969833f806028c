//! The demo: the seed pipeline on imx8mp-evk, headless. Per frame the CPU draws an overlay,
//! the software 2D engine on CPU 1 composites the scene into the back buffer, the software
//! display flips to it once the engine's fence signals, and the CPU reads back a checksum
//! band, verified against the reference renderer — every access through dmasync sync sets.
//! QEMU models no LCDIF, so no display is exercised: the last frame's software screen is
//! compared with the reference frame in the guest instead of a host screendump
//! (`dmasync_imx8mp_evk::demo`).
//!
//! Runs `frames=N` frames from the semihosting command line (`cargo xtask run --board
//! imx8mp-evk --frames N`; default 60), logs each frame (defmt), prints the totals and exits
//! 0 when every frame completed with the reference checksum and the last screen matched.
#![no_std]
#![no_main]

use core::time::Duration;

use dmasync_demo::{Options, Pipeline, Totals, args};
use dmasync_imx8mp_evk::arch::{exit_code, println, semihosting};
use dmasync_imx8mp_evk::{self as board, demo};

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _x1: u64, _x2: u64, _x3: u64) -> ! {
    let b = board::init(x0);
    let args =
        args::parse(demo::bootargs()).unwrap_or_else(|e| board::setup_failed(format_args!("{e}")));
    defmt::info!(
        "board {=str}, EL{=u8}, {=usize} CPUs, GIC {=str}; demo: {=u32} frames",
        board::BOARD_NAME,
        b.el,
        b.cpu_count,
        b.gic_version().name(),
        args.frames
    );

    let pool = demo::dma_pool(&b);
    let domain = demo::domain(Duration::from_secs(2));
    let engine = demo::start_engine(&b);
    demo::start_watchdog(&b, domain);
    let (display, mode) = demo::open_display(&b);
    defmt::info!(
        "DMA pool: {=usize} KiB free; software 2D engine on cpu {=usize}",
        pool.free_bytes() / 1024,
        demo::ENGINE_CPU
    );
    let pipeline = Pipeline::new(domain, pool, mode, Options::default())
        .unwrap_or_else(|e| board::setup_failed(format_args!("demo pipeline: {e}")));

    let mut totals = Totals::default();
    let mut screen_ok = true;
    for frame in 0..args.frames {
        let r = pipeline.run_frame(engine, &display, frame);
        demo::log_frame(&r);
        totals.add(&r);
        if frame + 1 == args.frames && r.ok() {
            // The last frame is on the (software) screen: check it where a host would dump it.
            match demo::screen_matches_reference(&display, frame) {
                Ok(()) => {
                    println!("demo: frame {frame} on the software screen equals the reference")
                }
                Err(e) => {
                    println!("demo: {e}");
                    screen_ok = false;
                }
            }
        }
    }
    demo::print_totals(&totals);
    if totals.failed == 0 && screen_ok {
        println!(
            "demo: all {} frames correct (headless: software display, no LCDIF)",
            totals.frames
        );
        semihosting::exit(exit_code::OK)
    } else {
        println!(
            "demo: {} of {} frames failed{}",
            totals.failed,
            totals.frames,
            if screen_ok {
                ""
            } else {
                "; the last screen differs from the reference"
            }
        );
        semihosting::exit(exit_code::TEST_FAILED)
    }
}
