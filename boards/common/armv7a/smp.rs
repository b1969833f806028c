//! Shared by the ARMv7-A boards (exynos4, qemu-virt-a15): each board's `tests/smp.rs` names
//! its board crate `board` and makes this file its module (`#[path]`), so the body is written
//! once. A board provides `init()`, `Board`, `release_secondary(entry)` (exynos4 through its
//! park, qemu-virt-a15 through PSCI `CPU_ON`) and `arch` (dmasync-armv7a, whose `clock` is the
//! counter the board started).
//!
//! SMP: two cores contend on `critical-section` (the ecosystem's lock, which the heap
//! uses) and on the firmware's spin lock, each doing non-atomic read-modify-writes that only
//! mutual exclusion keeps exact; the heap is used from both cores at once.
//!
//! Expected output: `test <case> ... ok` per case and `verdict: ok (<n> cases)`; exit 0.

use alloc::vec::Vec;
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use board::Board;
use board::arch::spin::SpinLock;
use board::arch::testkit::{self, Test, TestResult};
use board::arch::{clock, cpu, ensure};
use critical_section::Mutex;

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
    let board = board::init();
    board::release_secondary(secondary);
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
    let hz = clock::frequency();
    let start = clock::counter();
    while DONE.load(Ordering::Acquire) < 1 {
        ensure!(
            clock::counter() - start < 20 * hz,
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
