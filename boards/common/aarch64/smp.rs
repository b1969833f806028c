//! Shared by every AArch64 board: each board's `tests/smp.rs` names its board crate
//! `board` and makes this file its module (`#[path]`), so the body is written once.
//!
//! SMP: every secondary core the board lists (device tree or PSCI) is started with PSCI CPU_ON, turns on its
//! MMU, vectors, GIC CPU interface and timer interrupt, takes one tick and reports in by
//! MPIDR within a bounded wait. Then all cores contend on `critical-section`.
//!
//! Expected output: one defmt `cpu N online` frame per secondary, then
//! `test <case> ... ok` per case and `verdict: ok (3 cases)`; exit code 0.

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use board::arch::testkit::{self, Test, TestResult};
use board::arch::{cpu, ensure, test_info, timer};
use board::{Board, ticks};
use critical_section::Mutex;
use dmasync_hal::clock::ticks_to_ns;

dmasync_aarch64::entry!(main, 40);

const ROUNDS: u64 = 20_000;

static GO: AtomicBool = AtomicBool::new(false);
static DONE: AtomicUsize = AtomicUsize::new(0);
static SHARED: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

fn hammer() {
    for _ in 0..ROUNDS {
        // A non-atomic read-modify-write: only mutual exclusion keeps the count exact.
        critical_section::with(|cs| {
            let c = SHARED.borrow(cs);
            c.set(core::hint::black_box(c.get()) + 1);
        });
    }
}

fn secondary(index: usize) -> ! {
    board::secondary_bring_up(index);
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    hammer();
    DONE.fetch_add(1, Ordering::AcqRel);
    loop {
        cpu::wait_for_interrupt();
    }
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = board::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "all_secondaries_report_in",
                run: all_secondaries_report_in,
            },
            Test {
                name: "secondary_timer_ticks",
                run: secondary_timer_ticks,
            },
            Test {
                name: "critical_section_across_cores",
                run: critical_section_across_cores,
            },
        ],
    )
}

fn all_secondaries_report_in(board: &Board) -> TestResult {
    let hz = timer::counter_frequency();
    let expected = board.cpu_count() - 1;
    let t0 = timer::counter();
    let started = board::start_secondaries(board, secondary);
    ensure!(
        started == Ok(expected),
        "start_secondaries: {started:?}, expected Ok({expected})"
    );
    let patience = board::SECONDARIES_PATIENCE_S;
    let online = board::wait_for_secondaries(expected, patience * hz);
    ensure!(
        online == expected,
        "{online} of {expected} secondaries reported in within {patience} s"
    );
    for (index, mpidr, at) in board::reported_cores() {
        ensure!(
            board.cpu_mpidrs().get(index) == Some(&mpidr),
            "cpu {index} reported MPIDR {mpidr:#x}, device tree says {:#x?}",
            board.cpu_mpidrs().get(index)
        );
        ensure!(
            mpidr != cpu::mpidr(),
            "a secondary reported the boot core's MPIDR"
        );
        test_info!(
            "cpu {index} MPIDR {mpidr:#x} reported in after {} us",
            ticks_to_ns(at - t0, hz) / 1000
        );
    }
    Ok(())
}

fn secondary_timer_ticks(board: &Board) -> TestResult {
    for (index, _, _) in board::reported_cores() {
        ensure!(
            ticks::count_on(index) >= 1,
            "cpu {index} took no timer tick"
        );
    }
    ensure!(
        board::reported_cores().count() == board.cpu_count() - 1,
        "cores missing"
    );
    Ok(())
}

fn critical_section_across_cores(board: &Board) -> TestResult {
    let others = board.cpu_count() - 1;
    GO.store(true, Ordering::Release);
    hammer();
    let hz = timer::counter_frequency();
    let give_up = timer::counter() + 10 * hz;
    while DONE.load(Ordering::Acquire) < others && timer::counter() < give_up {
        core::hint::spin_loop();
    }
    ensure!(
        DONE.load(Ordering::Acquire) == others,
        "secondaries did not finish within 10 s"
    );
    let total = critical_section::with(|cs| SHARED.borrow(cs).get());
    let want = ROUNDS * (others as u64 + 1);
    ensure!(
        total == want,
        "counter {total}, expected {want}: lost updates"
    );
    Ok(())
}
