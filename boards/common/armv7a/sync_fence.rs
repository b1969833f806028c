//! Shared by the ARMv7-A boards (exynos4, qemu-virt-a15): each board's `tests/sync_fence.rs` names
//! its board crate `board` and makes this file its module (`#[path]`), so the body is written
//! once. A board provides `init()`, `Board`, `release_secondary(entry)` (exynos4 through its
//! park, qemu-virt-a15 through PSCI `CPU_ON`) and `arch` (dmasync-armv7a, whose `clock` is the
//! counter the board started).
//!
//! dmasync on target: a fence signalled from the other core wakes a waiter, both with a
//! timeout (the deadline path, a bounded spin) and without one (parked in WFE, woken by the
//! signaller's SEV); a wait with a timeout ends and never before its deadline; dropping a
//! producer signals its fence with an error.
//!
//! Expected output: `test <case> ... ok` per case with `info:` lines, then
//! `verdict: ok (3 cases)`; exit code 0.

use core::time::Duration;

use board::Board;
use board::arch::clock::{self, Delay};
use board::arch::spin::SpinLock;
use board::arch::testkit::{self, Test, TestResult};
use board::arch::{ensure, test_info};
use dmasync_hal::clock::{ns_to_ticks, ticks_to_ns};
use dmasync_sync::{FenceProducer, FenceStatus};
use embedded_hal::delay::DelayNs;

/// Handed to cpu 1, which signals it 2 ms after taking it.
static FOR_CORE: SpinLock<Option<FenceProducer>> = SpinLock::new(None);

fn secondary(_core: usize) -> ! {
    loop {
        let p = FOR_CORE.lock().take();
        if let Some(p) = p {
            Delay.delay_ms(2);
            p.signal();
        }
        core::hint::spin_loop();
    }
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = board::init();
    board::release_secondary(secondary);
    testkit::run(
        &board,
        &[
            Test {
                name: "signalled_by_other_core_with_timeout",
                run: signalled_by_other_core_with_timeout,
            },
            Test {
                name: "signalled_by_other_core_parked",
                run: signalled_by_other_core_parked,
            },
            Test {
                name: "wait_timeout_expires",
                run: wait_timeout_expires,
            },
        ],
    )
}

fn signalled_by_other_core_with_timeout(_: &Board) -> TestResult {
    let producer = FenceProducer::one_off();
    let fence = producer.fence();
    let hz = clock::frequency();
    let t0 = clock::counter();
    *FOR_CORE.lock() = Some(producer);
    let status = fence.wait_timeout(Duration::from_secs(5));
    let took = clock::counter() - t0;
    ensure!(
        status == FenceStatus::Ok,
        "fence status {status:?} after waiting"
    );
    ensure!(
        took >= ns_to_ticks(2_000_000, hz),
        "woke after {took} ticks, before the 2 ms signal"
    );
    test_info!(
        "woken {} us after handing over the producer (signal at 2 ms)",
        ticks_to_ns(took, hz) / 1000
    );
    Ok(())
}

fn signalled_by_other_core_parked(_: &Board) -> TestResult {
    let producer = FenceProducer::one_off();
    let fence = producer.fence();
    let hz = clock::frequency();
    let t0 = clock::counter();
    *FOR_CORE.lock() = Some(producer);
    // No deadline: the waiter parks in WFE until cpu 1's signal sends an event.
    let result = fence.wait();
    let took = clock::counter() - t0;
    ensure!(result.is_ok(), "fence ended with {result:?}");
    ensure!(
        took >= ns_to_ticks(2_000_000, hz),
        "woke after {took} ticks, before the 2 ms signal"
    );
    test_info!(
        "parked waiter woken {} us after the hand-over",
        ticks_to_ns(took, hz) / 1000
    );
    Ok(())
}

fn wait_timeout_expires(_: &Board) -> TestResult {
    let producer = FenceProducer::one_off();
    let fence = producer.fence();
    let hz = clock::frequency();
    let t0 = clock::counter();
    let status = fence.wait_timeout(Duration::from_millis(5));
    let took = clock::counter() - t0;
    ensure!(
        status == FenceStatus::Pending,
        "unsignalled fence reports {status:?}"
    );
    ensure!(
        took >= ns_to_ticks(5_000_000, hz),
        "timed out after {took} ticks, before 5 ms"
    );
    test_info!(
        "5 ms timeout returned after {} us",
        ticks_to_ns(took, hz) / 1000
    );
    drop(producer);
    ensure!(
        fence.is_signalled(),
        "dropping the producer did not signal (with an error)"
    );
    Ok(())
}
