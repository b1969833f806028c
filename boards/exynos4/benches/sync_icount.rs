//! On-target benchmark: instructions per dmasync operation on the Cortex-A9, counted by the
//! ARMv7 PMU under QEMU `-icount shift=0` (deterministic: the same image gives the same
//! counts on every run). Run it with `cargo xtask bench --board exynos4`; it is not an
//! on-target test (a `[[bench]]` target, which `cargo xtask test` does not build).
//!
//! The cases are boards/common/sync_icount_cases.rs, shared with qemu-virt, so the ARMv7-A
//! figures sit next to the AArch64 ones (doc/benchmarks.md). The sync domain maintains both
//! cache levels (L1 by MVA, the PL310 by PA), as the board does; the buffers are coherent
//! regions, so no maintenance is issued in the measured loops.
#![no_std]
#![no_main]

extern crate alloc;

use core::time::Duration;

use dmasync_exynos4::arch::{cpu, exit_code, println, semihosting};
use dmasync_exynos4::dma;
use dmasync_protocol::bench;

#[path = "../../common/sync_icount_cases.rs"]
mod cases;
#[path = "support/pmu.rs"]
mod pmu;

/// The PMU's retired-instruction count, the console and the set-up failure exit.
struct Board;

impl cases::Target for Board {
    fn measure<F: FnMut()>(&self, mut f: F) -> u64 {
        let saved = cpu::mask_irqs();
        let t0 = pmu::instructions();
        for _ in 0..cases::ITERS {
            f();
        }
        let t1 = pmu::instructions();
        cpu::restore_irqs(saved);
        u64::from(t1.wrapping_sub(t0))
    }

    fn println(&self, args: core::fmt::Arguments<'_>) {
        println!("{args}");
    }

    fn fail(&self, args: core::fmt::Arguments<'_>) -> ! {
        dmasync_exynos4::setup_failed(args)
    }
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    if !pmu::start() {
        println!(
            "bench: the PMU does not count instructions (1000 nops did not count): run under \
             QEMU -icount shift=0 (cargo xtask bench --board exynos4)"
        );
        semihosting::exit(exit_code::SETUP_FAILED);
    }
    // CPU 1 halts in WFI (IRQs masked, none routed to it): the count is machine-wide, and a
    // core spinning in its park loop on every SEV would be counted with the measured code.
    dmasync_exynos4::release_secondary(|_| {
        loop {
            cpu::wait_for_interrupt_masked();
        }
    });
    // The default hold deadline; nothing is held across the measurements.
    let domain = dma::domain(&board, Duration::from_secs(5));
    cases::run(&Board, domain, &dma::heap_dma(&board));
    println!("{}", bench::DONE);
    semihosting::exit(exit_code::OK)
}
