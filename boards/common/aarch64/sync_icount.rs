//! On-target benchmark: instructions per dmasync operation, counted by the PMU under QEMU
//! `-icount shift=0` (deterministic: the same image gives the same counts on every run).
//! Run it with `cargo xtask bench`; it is not an on-target test (a `[[bench]]` target, which
//! `cargo xtask test` does not build).
//!
//! The counter is PMU event counter 0 programmed with event 0x08 `INST_RETIRED` (Arm ARM
//! D13, "PMU events"). QEMU's TCG PMU implements that event only in precise icount mode
//! (target/arm: `instructions_supported()` is `icount_enabled() == ICOUNT_PRECISE`, counting
//! `icount_get_raw()`), and says so in PMCEID0_EL0 bit 8, which the image checks: without
//! `-icount` it prints why it cannot measure and exits with code 4.
//!
//! Shared by the AArch64 boards: each board's `benches/sync_icount.rs` names its board crate
//! `board` and makes this file its module (`#[path]`), as the on-target test bodies are.
//! The cases are boards/common/sync_icount_cases.rs, shared with the ARMv7 boards too; the
//! image prints `bench <case>: <instructions> instructions over <iters> iterations` per case, and
//! the per-operation figure.
use board::arch::cache::DataCache;
use board::arch::{cpu, exit_code, println, semihosting};
use dmasync_hal::dma::DirectMemory;
use dmasync_protocol::bench;
use dmasync_sync::syncset::{SyncConfig, SyncDomain};

#[path = "../sync_icount_cases.rs"]
mod cases;
#[path = "pmu.rs"]
mod pmu;

dmasync_aarch64::entry!(main, 40);

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
        board::setup_failed(args)
    }
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let _board = board::init(x0);
    if !pmu::start() {
        println!(
            "bench: the PMU does not count INST_RETIRED (PMCEID0_EL0 bit 8 clear): run under \
             QEMU -icount shift=0 (cargo xtask bench)"
        );
        semihosting::exit(exit_code::SETUP_FAILED);
    }
    let domain = alloc::boxed::Box::leak(alloc::boxed::Box::new(SyncDomain::new(
        DirectMemory(DataCache),
        SyncConfig::default(),
    )));
    cases::run(&Board, domain, &board::dma_pool::heap_dma());
    println!("{}", bench::DONE);
    semihosting::exit(exit_code::OK)
}
