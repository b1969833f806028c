//! SMP: both Cortex-A9s contend on `critical-section` (the ecosystem's lock, which the heap
//! uses) and on the firmware's spin lock, each doing non-atomic read-modify-writes that only
//! mutual exclusion keeps exact; the heap is used from both cores at once.
//!
//! Expected output: `test <case> ... ok` per case and `verdict: ok (<n> cases)`; exit 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use critical_section::Mutex;
use dmasync_exynos4::Board;
use dmasync_exynos4::arch::spin::SpinLock;
use dmasync_exynos4::arch::testkit::{self, Test, TestResult};
use dmasync_exynos4::arch::{cpu, ensure, global_timer};

const ROUNDS: u64 = 20_000;

static GO: AtomicBool = AtomicBool::new(false);
static DONE: AtomicUsize = AtomicUsize::new(0);
static SHARED: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));
static SPIN_SHARED: SpinLock<u64> = SpinLock::new(0);
static HEAP_OK: AtomicBool = AtomicBool::new(false);

fn hammer() {
    for _ in 0..ROUNDS {
        critical_section::with(|cs| {
            let c = SHARED.borrow(cs);
            c.set(core::hint::black_box(c.get()) + 1);
        });
        let mut g = SPIN_SHARED.lock();
        *g = core::hint::black_box(*g) + 1;
    }
}

fn churn_heap() -> bool {
    let mut ok = true;
    for round in 0..200u32 {
        let v: Vec<u32> = (0..(64 + round)).collect();
        ok &= v.iter().enumerate().all(|(i, &x)| x == i as u32);
    }
    ok
}

fn secondary(_core: usize) -> ! {
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    hammer();
    HEAP_OK.store(churn_heap(), Ordering::Release);
    DONE.fetch_add(1, Ordering::AcqRel);
    loop {
        cpu::wait_for_interrupt_masked();
    }
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    dmasync_exynos4::release_secondary(secondary);
    testkit::run(
        &board,
        &[Test {
            name: "locks_and_heap_across_cores",
            run: locks_and_heap_across_cores,
        }],
    )
}

fn locks_and_heap_across_cores(_: &Board) -> TestResult {
    GO.store(true, Ordering::Release);
    hammer();
    let mine = churn_heap();
    let hz = global_timer::frequency();
    let start = global_timer::counter();
    while DONE.load(Ordering::Acquire) < 1 {
        ensure!(
            global_timer::counter() - start < 20 * hz,
            "cpu 1 did not finish within 20 s"
        );
        core::hint::spin_loop();
    }
    let cs_total = critical_section::with(|cs| SHARED.borrow(cs).get());
    let spin_total = *SPIN_SHARED.lock();
    ensure!(
        cs_total == 2 * ROUNDS,
        "critical-section count {cs_total}, expected {}: lost updates",
        2 * ROUNDS
    );
    ensure!(
        spin_total == 2 * ROUNDS,
        "spin lock count {spin_total}, expected {}: lost updates",
        2 * ROUNDS
    );
    ensure!(
        mine && HEAP_OK.load(Ordering::Acquire),
        "heap data corrupted under contention"
    );
    Ok(())
}
