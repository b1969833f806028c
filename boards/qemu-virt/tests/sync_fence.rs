//! dmasync on target: fences signalled from another core and from an interrupt handler wake
//! a core parked in WFE; a wait with a timeout ends (via the timer event stream) and never
//! before its deadline.
//!
//! Expected output: `test <case> ... ok` per case with `info:` lines, then
//! `verdict: ok (3 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;

use core::time::Duration;

use dmasync_hal::clock::{ns_to_ticks, ticks_to_ns};
use dmasync_qemu_virt::arch::spin::SpinLock;
use dmasync_qemu_virt::arch::testkit::{self, Test, TestResult};
use dmasync_qemu_virt::arch::timer::{self, GenericTimer, PhysicalTimer};
use dmasync_qemu_virt::arch::{cpu, ensure, gic, test_info};
use dmasync_qemu_virt::{Board, ticks};
use dmasync_sync::{FenceProducer, FenceStatus};
use embedded_hal::delay::DelayNs;

dmasync_aarch64::entry!(main, 40);

type Producer = FenceProducer;

/// Handed to cpu 1 (signals 2 ms after taking it) or to the timer IRQ handler.
static FOR_CORE: SpinLock<Option<Producer>> = SpinLock::new(None);
static FOR_IRQ: SpinLock<Option<Producer>> = SpinLock::new(None);

fn secondary(index: usize) -> ! {
    dmasync_qemu_virt::secondary_bring_up(index);
    if index != 1 {
        loop {
            cpu::wait_for_interrupt();
        }
    }
    loop {
        let p = FOR_CORE.lock().take();
        if let Some(p) = p {
            GenericTimer.delay_ms(2);
            p.signal();
        }
        core::hint::spin_loop();
    }
}

fn timer_signals_fence(_intid: u32) {
    PhysicalTimer.disarm();
    if let Some(p) = FOR_IRQ.lock().take() {
        p.signal();
    }
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_qemu_virt::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "fence_signalled_by_other_core",
                run: signalled_by_other_core,
            },
            Test {
                name: "fence_signalled_from_irq",
                run: signalled_from_irq,
            },
            Test {
                name: "wait_timeout_expires_not_early",
                run: wait_timeout_expires,
            },
        ],
    )
}

fn signalled_by_other_core(board: &Board) -> TestResult {
    ensure!(board.dt.cpu_count >= 2, "needs a second core");
    let started = dmasync_qemu_virt::start_secondaries(board, secondary);
    ensure!(started.is_ok(), "starting secondaries: {started:?}");
    let n = board.dt.cpu_count - 1;
    ensure!(
        dmasync_qemu_virt::wait_for_secondaries(
            n,
            dmasync_qemu_virt::SECONDARIES_PATIENCE_S * timer::counter_frequency()
        ) == n,
        "secondaries did not report in"
    );
    let producer = Producer::one_off();
    let fence = producer.fence();
    let hz = timer::counter_frequency();
    let t0 = timer::counter();
    *FOR_CORE.lock() = Some(producer);
    let status = fence.wait_timeout(Duration::from_secs(5));
    let took = timer::counter() - t0;
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

fn signalled_from_irq(board: &Board) -> TestResult {
    gic::register_handler(board.dt.timer_intid, timer_signals_fence)
        .map_err(|e| testkit::Failure(alloc_fmt(e)))?;
    let producer = Producer::one_off();
    let fence = producer.fence();
    *FOR_IRQ.lock() = Some(producer);
    let hz = timer::counter_frequency();
    let deadline = PhysicalTimer.arm_in(ns_to_ticks(3_000_000, hz));
    let status = fence.wait_timeout(Duration::from_secs(5));
    let now = timer::counter();
    ensure!(
        status == FenceStatus::Ok,
        "fence status {status:?} after waiting"
    );
    ensure!(now >= deadline, "woke before the timer deadline");
    test_info!(
        "woken {} us after the timer deadline",
        ticks_to_ns(now - deadline, hz) / 1000
    );
    // Give the tick handler back to the board.
    ticks::install(board.dt.timer_intid).map_err(|e| testkit::Failure(alloc_fmt(e)))?;
    Ok(())
}

fn wait_timeout_expires(_: &Board) -> TestResult {
    let producer = Producer::one_off();
    let fence = producer.fence();
    let hz = timer::counter_frequency();
    let t0 = timer::counter();
    let status = fence.wait_timeout(Duration::from_millis(5));
    let took = timer::counter() - t0;
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

fn alloc_fmt(e: impl core::fmt::Debug) -> alloc::string::String {
    alloc::format!("{e:?}")
}
