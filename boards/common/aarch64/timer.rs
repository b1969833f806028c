//! Shared by every AArch64 board: each board's `tests/timer.rs` names its board crate
//! `board` and makes this file its module (`#[path]`), so the body is written once.
//!
//! Timer: the EL1 physical timer interrupt is delivered, never before its deadline, and
//! `DelayNs` never returns early. Timings are asserted as lower bounds only; overshoot is
//! printed as information.
//!
//! Expected output: `test <case> ... ok` for each case with `info:` lines, then
//! `verdict: ok (4 cases)`; exit code 0.

use board::arch::testkit::{self, Test, TestResult};
use board::arch::timer::{self, GenericTimer, PhysicalTimer};
use board::arch::{cpu, ensure, test_info};
use board::{Board, ticks};
use dmasync_hal::clock::{ns_to_ticks, ticks_to_ns};
use dmasync_hal::platform;
use embedded_hal::delay::DelayNs;

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = board::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "monotonic_clock",
                run: monotonic_clock,
            },
            Test {
                name: "interrupt_not_before_deadline",
                run: interrupt_not_before_deadline,
            },
            Test {
                name: "periodic_ticks",
                run: periodic_ticks,
            },
            Test {
                name: "delay_never_early",
                run: delay_never_early,
            },
        ],
    )
}

fn monotonic_clock(_: &Board) -> TestResult {
    let clock = GenericTimer;
    ensure!(
        clock.frequency_hz() == timer::counter_frequency(),
        "frequency mismatch"
    );
    let mut last = clock.ticks();
    for _ in 0..10_000 {
        let t = clock.ticks();
        ensure!(t >= last, "counter went backwards: {last} -> {t}");
        last = t;
    }
    // The one clock of the binary (the platform's, installed by the board) follows the
    // counter and is never early.
    let a = platform::now().as_nanos();
    GenericTimer.delay_us(10);
    let b = platform::now().as_nanos();
    ensure!(
        b >= a + 10_000,
        "platform::now advanced {} ns over a 10 us delay",
        b - a
    );
    Ok(())
}

fn interrupt_not_before_deadline(_: &Board) -> TestResult {
    let hz = timer::counter_frequency();
    let before = ticks::count();
    let deadline = PhysicalTimer.arm_in(hz / 500); // 2 ms
    // Until the deadline no tick may arrive (IRQs are enabled; a premature one would land).
    // Read the count first, then the counter: if the tick was handled before the count read
    // while the later counter read is still before the deadline, it came early.
    loop {
        let c = ticks::count();
        let now = timer::counter();
        if now >= deadline {
            break;
        }
        ensure!(
            c == before,
            "tick delivered at or before counter {now}, deadline {deadline}"
        );
    }
    // Generous bounds: they only catch a lost interrupt; QEMU's timer callbacks can lag the
    // guest counter on a loaded host.
    let give_up = deadline + 5 * hz;
    while ticks::count() == before && timer::counter() < give_up {
        cpu::wait_for_event();
    }
    ensure!(
        ticks::count() > before,
        "no timer interrupt within 5 s of the deadline"
    );
    ensure!(!ticks::ever_early(), "the handler ran before CNTP_CVAL");
    test_info!(
        "delivered {} ns after the deadline (worst so far)",
        ticks_to_ns(ticks::max_lateness(), hz)
    );
    Ok(())
}

fn periodic_ticks(_: &Board) -> TestResult {
    let hz = timer::counter_frequency();
    let period = hz / 1000; // 1 ms
    let before = ticks::count();
    let start = timer::counter();
    ticks::start_periodic(period);
    let give_up = start + 5 * hz;
    while ticks::count() < before + 5 && timer::counter() < give_up {
        cpu::wait_for_event();
    }
    let elapsed = timer::counter() - start;
    ticks::stop();
    let got = ticks::count() - before;
    ensure!(got >= 5, "only {got} ticks in 5 s at a 1 ms period");
    ensure!(
        elapsed >= 5 * period,
        "5 ticks in {elapsed} counter ticks, less than 5 periods"
    );
    test_info!(
        "5 ticks at 1 ms took {} us",
        ticks_to_ns(elapsed, hz) / 1000
    );
    ensure!(
        !ticks::ever_early(),
        "a periodic tick ran before its deadline"
    );
    Ok(())
}

fn delay_never_early(_: &Board) -> TestResult {
    let hz = timer::counter_frequency();
    let mut d = GenericTimer;
    for ns in [1u32, 15, 16, 17, 100, 1_000, 10_000, 100_000, 1_000_000] {
        let t0 = timer::counter();
        d.delay_ns(ns);
        let took = timer::counter() - t0;
        ensure!(
            took >= ns_to_ticks(u64::from(ns), hz),
            "delay_ns({ns}) took {took} ticks"
        );
        test_info!(
            "delay_ns({ns}): {} ns (overshoot {} ns)",
            ticks_to_ns(took, hz),
            ticks_to_ns(took, hz).saturating_sub(u64::from(ns))
        );
    }
    for us in [1u32, 7, 100, 2_000] {
        let t0 = timer::counter();
        d.delay_us(us);
        let took = timer::counter() - t0;
        ensure!(
            took >= ns_to_ticks(u64::from(us) * 1_000, hz),
            "delay_us({us}) took {took} ticks"
        );
    }
    for ms in [1u32, 3] {
        let t0 = timer::counter();
        d.delay_ms(ms);
        let took = timer::counter() - t0;
        ensure!(
            took >= ns_to_ticks(u64::from(ms) * 1_000_000, hz),
            "delay_ms({ms}) took {took} ticks"
        );
        test_info!(
            "delay_ms({ms}): overshoot {} ns",
            ticks_to_ns(took, hz).saturating_sub(u64::from(ms) * 1_000_000)
        );
    }
    Ok(())
}
