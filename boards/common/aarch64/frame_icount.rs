//! On-target benchmark: instructions per frame of the demo's seed pipeline (CPU overlay,
//! software 2D engine on cpu 1, display flip, checksum read-back), under QEMU
//! `-icount shift=0`. Run with `cargo xtask bench --board B frame`.
//!
//! Shared by the AArch64 boards: each board's `benches/frame_icount.rs` names its board crate
//! `board` and makes this file its module (`#[path]`); the board's `demo` module provides
//! `dma_pool`, `domain`, `start_engine`, `open_display` and `DEVICE_PACED`.
//!
//! The count covers **every core**: under icount QEMU runs the vCPUs round-robin, and the
//! PMU's `INST_RETIRED` reads one machine-wide count. It therefore includes the engine's work
//! on cpu 1 and cpu 0's wait loops (WFE returns at once under TCG, so waiting executes
//! instructions). On qemu-virt it is **not** deterministic: the frame waits for the display
//! device, which QEMU completes in its main loop at host pace, so the wait loops run a varying
//! number of times (from a few hundred instructions up to ~25 % of a frame between runs on a
//! loaded host); the image says so (`bench mode: device-paced`, from the board's
//! `demo::DEVICE_PACED`) and xtask reports the spread. A headless board (imx8mp-evk's
//! software display) waits for nothing QEMU paces, and its runs must agree. The first
//! frames (one per frame buffer) are run before measuring, because
//! they create the display's resources.
use core::time::Duration;

use board::arch::{exit_code, println, semihosting, timer};
use board::demo;
use dmasync_demo::{Options, Pipeline};
use dmasync_hal::clock::ticks_to_ns;
use dmasync_protocol::bench;

#[path = "pmu.rs"]
mod pmu;

dmasync_aarch64::entry!(main, 40);

/// Frames run before measuring (the triple buffer's first use of each buffer).
const WARM_UP: u32 = 3;
/// Frames measured, one count each.
const MEASURED: u32 = 4;

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let b = board::init(x0);
    if !pmu::start() {
        println!(
            "bench: the PMU does not count INST_RETIRED (PMCEID0_EL0 bit 8 clear): run under \
             QEMU -icount shift=0 (cargo xtask bench)"
        );
        semihosting::exit(exit_code::SETUP_FAILED);
    }
    let pool = demo::dma_pool(&b);
    let domain = demo::domain(Duration::from_secs(2));
    let engine = demo::start_engine(&b);
    let (display, mode) = demo::open_display(&b);
    let pipeline = Pipeline::new(domain, pool, mode, Options::default())
        .unwrap_or_else(|e| board::setup_failed(format_args!("demo pipeline: {e}")));
    for frame in 0..WARM_UP {
        let r = pipeline.run_frame(engine, &display, frame);
        if !r.ok() {
            board::setup_failed(format_args!("warm-up frame {frame} failed: {:?}", r.error));
        }
    }
    if demo::DEVICE_PACED {
        // The frame waits for a device QEMU completes at host pace (virtio-gpu, ramfb):
        // tell `cargo xtask bench` not to expect identical counts.
        println!("{}", bench::DEVICE_PACED);
    }
    let mut total = 0u64;
    for frame in WARM_UP..WARM_UP + MEASURED {
        let c0 = timer::counter();
        let t0 = pmu::instructions();
        let r = pipeline.run_frame(engine, &display, frame);
        let t1 = pmu::instructions();
        // The event counter has 32 bits. Under -icount shift=0 one instruction is one
        // virtual nanosecond, so the generic timer says whether it could have wrapped.
        let ns = ticks_to_ns(timer::counter() - c0, timer::counter_frequency());
        if ns >= 1 << 32 {
            board::setup_failed(format_args!(
                "frame {frame} took {ns} virtual ns: more instructions than the 32-bit counter holds"
            ));
        }
        if !r.ok() {
            board::setup_failed(format_args!("frame {frame} failed: {:?}", r.error));
        }
        let n = u64::from(t1.wrapping_sub(t0));
        total += n;
        let case = format_args!("frame_{frame}");
        let detail = format_args!(" ({}x{}, all cores)", mode.width, mode.height);
        println!(
            "{}",
            bench::Bench {
                case,
                instructions: n,
                detail
            }
        );
    }
    let mean = total / u64::from(MEASURED);
    let detail = format_args!(" (mean of {MEASURED}, all cores)");
    println!(
        "{}",
        bench::Result {
            case: "frame",
            instructions: mean,
            per: "frame",
            detail
        }
    );
    println!("{}", bench::DONE);
    semihosting::exit(exit_code::OK)
}
