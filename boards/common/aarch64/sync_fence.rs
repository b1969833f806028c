//! Shared by every AArch64 board: each board's `tests/sync_fence.rs` names its board crate
//! `board` and makes this file its module (`#[path]`), so the body is written once.
//!
//! dmasync on target: fences signalled from another core and from an interrupt handler wake
//! a core parked in WFE; a wait with a timeout ends (via the timer event stream) and never
//! before its deadline; a 10 000-level aggregate signalled from the timer interrupt, while
//! the interrupted code is itself in the middle of a signal, completes on the 16 KiB IRQ stack
//! and neither context loses a callback.
//!
//! Expected output: `test <case> ... ok` per case with `info:` lines, then
//! `verdict: ok (4 cases)`; exit code 0.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use board::arch::spin::SpinLock;
use board::arch::testkit::{self, Test, TestResult};
use board::arch::timer::{self, GenericTimer, PhysicalTimer};
use board::arch::{cpu, ensure, irq, test_info};
use board::{Board, ticks};
use dmasync_hal::clock::{ns_to_ticks, ticks_to_ns};
use dmasync_sync::fence::{FenceCallback, all_of};
use dmasync_sync::{Fence, FenceProducer, FenceStatus};
use embedded_hal::delay::DelayNs;

dmasync_aarch64::entry!(main, 40);

type Producer = FenceProducer;

/// Handed to cpu 1 (signals 2 ms after taking it) or to the timer IRQ handler.
static FOR_CORE: SpinLock<Option<Producer>> = SpinLock::new(None);
static FOR_IRQ: SpinLock<Option<Producer>> = SpinLock::new(None);

fn secondary(index: usize) -> ! {
    board::secondary_bring_up(index);
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
    let board = board::init(x0);
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
            Test {
                name: "deep_aggregate_signalled_from_irq_mid_signal",
                run: deep_aggregate_from_irq_mid_signal,
            },
        ],
    )
}

fn signalled_by_other_core(board: &Board) -> TestResult {
    ensure!(board.cpu_count() >= 2, "needs a second core");
    let started = board::start_secondaries(board, secondary);
    ensure!(started.is_ok(), "starting secondaries: {started:?}");
    let n = board.cpu_count() - 1;
    ensure!(
        board::wait_for_secondaries(
            n,
            board::SECONDARIES_PATIENCE_S * timer::counter_frequency()
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
    irq::register_handler(board.timer_intid(), timer_signals_fence)
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
    ticks::install(board.timer_intid()).map_err(|e| testkit::Failure(alloc_fmt(e)))?;
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

/// Levels of `all_of` nesting. Recursive signalling used a few hundred bytes of stack per
/// level, so this many would need megabytes; the IRQ runs on its core's exception stack of
/// `stacks::EXCEPTION_STACK_PAGES` (4) pages = 16 KiB.
const DEEP_LEVELS: usize = 10_000;

/// Callbacks run, by the IRQ's drain (the top level's) and the thread's (the deferred one).
static TOP_RAN: AtomicUsize = AtomicUsize::new(0);
static DEFERRED_RAN: AtomicUsize = AtomicUsize::new(0);
/// `DEFERRED_RAN` as the thread's callback saw it after the IRQ had drained.
static DEFERRED_SEEN_MID_SIGNAL: AtomicUsize = AtomicUsize::new(usize::MAX);

fn deep_aggregate_from_irq_mid_signal(board: &Board) -> TestResult {
    const { assert!(board::arch::stacks::EXCEPTION_STACK_PAGES == 4) };
    let leaf = Producer::one_off();
    let mut levels: Vec<Fence> = Vec::with_capacity(DEEP_LEVELS + 1);
    levels.push(leaf.fence());
    for i in 0..DEEP_LEVELS {
        let next = all_of([&levels[i]]);
        levels.push(next);
    }
    let mut on_top = Box::pin(FenceCallback::new(|r| {
        if r.is_ok() {
            TOP_RAN.fetch_add(1, Ordering::Relaxed);
        }
    }));
    levels[DEEP_LEVELS]
        .add_callback(on_top.as_mut())
        .map_err(|e| testkit::Failure(alloc_fmt(e)))?;

    // Thread level: `outer`'s callback signals `inner` (whose callback is now deferred on
    // this context's queue), then lets the timer IRQ fire and signal the leaf while this
    // signal is still running, and waits for the IRQ to have drained the whole aggregate.
    irq::register_handler(board.timer_intid(), timer_signals_fence)
        .map_err(|e| testkit::Failure(alloc_fmt(e)))?;
    let outer = Producer::one_off();
    let inner = Producer::one_off();
    let inner_fence = inner.fence();
    let mut on_inner = Box::pin(FenceCallback::new(|_| {
        DEFERRED_RAN.fetch_add(1, Ordering::Relaxed);
    }));
    inner_fence
        .add_callback(on_inner.as_mut())
        .map_err(|e| testkit::Failure(alloc_fmt(e)))?;
    let top = levels[DEEP_LEVELS].clone();
    let hz = timer::counter_frequency();
    let mut inner = Some(inner);
    let mut leaf = Some(leaf);
    let mut on_outer = Box::pin(FenceCallback::new(move |_| {
        if let Some(p) = inner.take() {
            p.signal();
        }
        *FOR_IRQ.lock() = leaf.take();
        PhysicalTimer.arm_in(ns_to_ticks(1_000_000, hz));
        // Bounded so a regression fails instead of hanging; IRQs are unmasked here.
        let give_up = timer::counter() + 5 * hz;
        while !top.is_signalled() && timer::counter() < give_up {
            core::hint::spin_loop();
        }
        // The deferred callback must not have run yet: it is on this drain's queue, which
        // the IRQ (its own context) never touches.
        DEFERRED_SEEN_MID_SIGNAL.store(DEFERRED_RAN.load(Ordering::Relaxed), Ordering::Relaxed);
    }));
    outer
        .fence()
        .add_callback(on_outer.as_mut())
        .map_err(|e| testkit::Failure(alloc_fmt(e)))?;
    outer.signal();
    ticks::install(board.timer_intid()).map_err(|e| testkit::Failure(alloc_fmt(e)))?;
    ensure!(
        levels[DEEP_LEVELS].status() == FenceStatus::Ok,
        "top of the aggregate: {:?}",
        levels[DEEP_LEVELS].status()
    );
    ensure!(
        levels.iter().all(|f| f.status() == FenceStatus::Ok),
        "a level did not signal"
    );
    ensure!(
        TOP_RAN.load(Ordering::Relaxed) == 1,
        "top callback ran {} times",
        TOP_RAN.load(Ordering::Relaxed)
    );
    ensure!(
        DEFERRED_SEEN_MID_SIGNAL.load(Ordering::Relaxed) == 0,
        "the thread's deferred callback ran during its callback (or the IRQ ran it)"
    );
    ensure!(
        DEFERRED_RAN.load(Ordering::Relaxed) == 1,
        "the thread's deferred callback ran {} times",
        DEFERRED_RAN.load(Ordering::Relaxed)
    );
    test_info!("{DEEP_LEVELS}-level all_of signalled from the timer IRQ (16 KiB stack) mid-signal");
    Ok(())
}
