//! Timer: the generic timer's PL1 physical timer interrupt (PPI 14, INTID 30) is delivered
//! through the GIC on both cores, periodically and never before its deadline; the clock the
//! board started is the generic timer's. Timings are asserted as lower bounds only; overshoot
//! is printed as information.
//!
//! Expected output: `test <case> ... ok` per case with `info:` lines, then
//! `verdict: ok (3 cases)`; exit code 0.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use dmasync_hal::clock::ticks_to_ns;
use dmasync_qemu_virt_a15::arch::generic_timer::{self, ticks};
use dmasync_qemu_virt_a15::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_qemu_virt_a15::arch::{clock, cpu, ensure, test_info};
use dmasync_qemu_virt_a15::{Board, memory_map};

/// 10 ms at the counter's rate.
fn period() -> u64 {
    clock::frequency() / 100
}

/// Waits until core `core` has taken `n` ticks, at most 5 s; returns the ns it took.
fn wait_for_ticks(core: usize, n: u64) -> Result<u64, Failure> {
    let hz = clock::frequency();
    let t0 = clock::counter();
    while ticks::count_of(core) < n {
        if ticks_to_ns(clock::counter() - t0, hz) > 5_000_000_000 {
            return Err(Failure(alloc::format!(
                "cpu {core}: {} of {n} ticks within 5 s",
                ticks::count_of(core)
            )));
        }
        core::hint::spin_loop();
    }
    Ok(ticks_to_ns(clock::counter() - t0, hz))
}

extern crate alloc;

/// The secondary's ticks, started once it has its GIC interface (0 = not yet).
static SECONDARY_STARTED_AT: AtomicU64 = AtomicU64::new(0);

fn secondary(_core: usize) -> ! {
    dmasync_qemu_virt_a15::secondary_bring_up();
    let ok = ticks::install(memory_map::TIMER_INTID).is_ok() && ticks::start(period()).is_ok();
    if ok {
        SECONDARY_STARTED_AT.store(clock::counter().max(1), Ordering::Release);
        cpu::enable_irqs();
    }
    loop {
        cpu::wait_for_event();
    }
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_qemu_virt_a15::init();
    testkit::run(
        &board,
        &[
            Test {
                name: "clock_is_the_generic_timer",
                run: clock_is_the_generic_timer,
            },
            Test {
                name: "periodic_ticks_never_early",
                run: periodic_ticks_never_early,
            },
            Test {
                name: "secondary_ticks",
                run: secondary_ticks,
            },
        ],
    )
}

fn clock_is_the_generic_timer(_: &Board) -> TestResult {
    ensure!(
        clock::source() == clock::Source::GenericTimer,
        "clock source {:?}",
        clock::source()
    );
    let a = clock::counter();
    let g = generic_timer::counter();
    let b = clock::counter();
    ensure!(
        a <= g && g <= b,
        "clock {a}, CNTPCT {g}, clock {b}: not one counter"
    );
    ensure!(
        ticks::start(0) == Err(ticks::TickError::ZeroPeriod),
        "a zero period was accepted"
    );
    Ok(())
}

fn periodic_ticks_never_early(_: &Board) -> TestResult {
    ticks::install(memory_map::TIMER_INTID)
        .map_err(|e| Failure(alloc::format!("timer PPI set-up: {e:?}")))?;
    let t0 = clock::counter();
    ticks::start(period()).map_err(|e| Failure(alloc::format!("ticks: {e:?}")))?;
    cpu::enable_irqs();
    let took = wait_for_ticks(0, 10)?;
    ticks::stop();
    let elapsed = clock::counter() - t0;
    ensure!(!ticks::came_early(0), "a tick came before its deadline");
    // Ten ticks cannot have happened before ten periods passed.
    ensure!(
        elapsed >= 10 * period(),
        "10 ticks after {elapsed} counter ticks < 10 periods of {}",
        period()
    );
    // Stopped: no tick in the next three periods.
    let stopped_at = ticks::count();
    let until = clock::counter() + 3 * period();
    while clock::counter() < until {
        core::hint::spin_loop();
    }
    ensure!(
        ticks::count() == stopped_at,
        "{} ticks after stop",
        ticks::count() - stopped_at
    );
    test_info!("10 ticks of 10 ms in {} us", took / 1000);
    Ok(())
}

fn secondary_ticks(board: &Board) -> TestResult {
    ensure!(board.cpu_count >= 2, "one core only");
    dmasync_qemu_virt_a15::release_secondary(secondary);
    let hz = clock::frequency();
    let t0 = clock::counter();
    while SECONDARY_STARTED_AT.load(Ordering::Acquire) == 0 {
        ensure!(
            clock::counter() - t0 < 10 * hz,
            "cpu 1 did not start its ticks within 10 s"
        );
        core::hint::spin_loop();
    }
    let took = wait_for_ticks(1, 5)?;
    ensure!(
        !ticks::came_early(1),
        "a tick of cpu 1 came before its deadline"
    );
    ensure!(ticks::count_of(0) >= 10, "cpu 0's count changed");
    test_info!("cpu 1: 5 ticks in {} us", took / 1000);
    Ok(())
}
