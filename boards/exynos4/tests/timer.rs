//! The timer interrupt: each core's MCT local timer, through the external GIC, interrupts
//! every millisecond on its own core; the k-th tick never comes before k periods after the
//! start (measured on the A9 global timer, a different clock); stopping it stops the ticks.
//!
//! Expected output: `test <case> ... ok` per case with `info:` lines, then
//! `verdict: ok (2 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dmasync_exynos4::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_exynos4::arch::{cpu, ensure, global_timer, test_info};
use dmasync_exynos4::{Board, ticks};
use dmasync_hal::clock::ticks_to_ns;

const PERIOD_NS: u64 = 1_000_000;
const TICKS: u64 = 20;

/// cpu 1's verdict: 0 running, 1 passed, 2 failed.
static CPU1_DONE: AtomicU64 = AtomicU64::new(0);
static CPU1_EARLY: AtomicBool = AtomicBool::new(false);

/// Starts this core's tick and watches `TICKS` of them: returns (programmed period ns,
/// whether any came early, elapsed ns).
fn run_ticks(core: usize) -> Result<(u64, bool, u64), alloc::string::String> {
    let hz = global_timer::frequency();
    let before = ticks::count_on(core);
    let t0 = global_timer::counter();
    let period = ticks::start_on_this_core(PERIOD_NS).map_err(|e| alloc::format!("{e:?}"))?;
    cpu::enable_irqs();
    let mut early = false;
    let mut seen = 0;
    while seen < TICKS {
        let n = ticks::count_on(core) - before;
        if n > seen {
            let elapsed = ticks_to_ns(global_timer::counter() - t0, hz);
            // Tick n (1-based) is due n periods after the start at the earliest.
            if elapsed < n * period {
                early = true;
            }
            seen = n;
        }
        if ticks_to_ns(global_timer::counter() - t0, hz) > 5_000_000_000 {
            cpu::mask_irqs();
            return Err(alloc::format!("only {seen} of {TICKS} ticks within 5 s"));
        }
        core::hint::spin_loop();
    }
    cpu::mask_irqs();
    let elapsed = ticks_to_ns(global_timer::counter() - t0, hz);
    ticks::stop_on_this_core().map_err(|e| alloc::format!("{e:?}"))?;
    Ok((period, early, elapsed))
}

fn secondary(_core: usize) -> ! {
    dmasync_exynos4::secondary_bring_up();
    let verdict = match run_ticks(1) {
        Ok((_, early, _)) => {
            CPU1_EARLY.store(early, Ordering::Relaxed);
            1
        }
        Err(_) => 2,
    };
    CPU1_DONE.store(verdict, Ordering::Release);
    loop {
        cpu::wait_for_interrupt_masked();
    }
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    testkit::run(
        &board,
        &[
            Test {
                name: "boot_core_ticks_never_early_and_stop",
                run: boot_core_ticks,
            },
            Test {
                name: "cpu1_ticks_on_its_own_timer",
                run: cpu1_ticks,
            },
        ],
    )
}

fn boot_core_ticks(_: &Board) -> TestResult {
    let (period, early, elapsed) = run_ticks(0).map_err(Failure)?;
    ensure!(
        period >= PERIOD_NS,
        "programmed period {period} ns < {PERIOD_NS} ns"
    );
    ensure!(!early, "a tick came before its due time");
    test_info!("{TICKS} ticks of {period} ns took {} us", elapsed / 1000);
    // Stopped: no more ticks (give one a few periods to show up).
    let after = ticks::count_on(0);
    cpu::enable_irqs();
    let hz = global_timer::frequency();
    let until = global_timer::counter() + hz / 100;
    while global_timer::counter() < until {
        core::hint::spin_loop();
    }
    cpu::mask_irqs();
    let extra = ticks::count_on(0) - after;
    ensure!(extra == 0, "{extra} ticks after the timer was stopped");
    Ok(())
}

fn cpu1_ticks(_: &Board) -> TestResult {
    dmasync_exynos4::release_secondary(secondary);
    let hz = global_timer::frequency();
    let start = global_timer::counter();
    while CPU1_DONE.load(Ordering::Acquire) == 0 {
        ensure!(
            global_timer::counter() - start < 10 * hz,
            "cpu 1 did not finish within 10 s"
        );
        core::hint::spin_loop();
    }
    ensure!(
        CPU1_DONE.load(Ordering::Acquire) == 1,
        "cpu 1 did not get {TICKS} ticks within 5 s"
    );
    ensure!(
        !CPU1_EARLY.load(Ordering::Relaxed),
        "a tick on cpu 1 came early"
    );
    ensure!(ticks::count_on(0) >= TICKS, "cpu 0's count changed meaning");
    test_info!("cpu 1 took {} ticks on MCT L1", ticks::count_on(1));
    Ok(())
}
