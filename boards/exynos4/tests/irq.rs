//! Interrupts through the Exynos4210's external GIC: an SGI sent to the other core runs its
//! handler there, an SGI to itself runs on the sender, each exactly once; and a dmasync fence
//! signalled from an IRQ handler on cpu 1 wakes a waiter parked in WFE on cpu 0.
//!
//! Expected output: `test <case> ... ok` per case, then `verdict: ok (3 cases)`; exit 0.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use dmasync_exynos4::Board;
use dmasync_exynos4::arch::spin::SpinLock;
use dmasync_exynos4::arch::testkit::{self, Test, TestResult};
use dmasync_exynos4::arch::{cpu, ensure, gic, global_timer};
use dmasync_sync::FenceProducer;

const SGI_COUNT: u32 = 1;
const SGI_SELF: u32 = 2;
const SGI_SIGNAL: u32 = 3;
const PRIORITY: u8 = 0x80;

static ON_CPU1: AtomicU32 = AtomicU32::new(0);
static WRONG_CORE: AtomicBool = AtomicBool::new(false);
static ON_SELF: AtomicU32 = AtomicU32::new(0);
static READY: AtomicBool = AtomicBool::new(false);
static FOR_IRQ: SpinLock<Option<FenceProducer>> = SpinLock::new(None);

fn count_on_cpu1(_: u32) {
    if cpu::core_number() != 1 {
        WRONG_CORE.store(true, Ordering::Relaxed);
    }
    ON_CPU1.fetch_add(1, Ordering::AcqRel);
}

fn count_on_self(_: u32) {
    ON_SELF.fetch_add(1, Ordering::AcqRel);
}

fn signal_from_irq(_: u32) {
    if let Some(p) = FOR_IRQ.lock().take() {
        p.signal();
    }
}

fn secondary(_core: usize) -> ! {
    dmasync_exynos4::secondary_bring_up();
    for sgi in [SGI_COUNT, SGI_SIGNAL] {
        if let Err(e) = gic::enable_private(sgi, PRIORITY) {
            panic!("cpu 1: enabling SGI {sgi}: {e:?}");
        }
    }
    cpu::enable_irqs();
    READY.store(true, Ordering::Release);
    loop {
        aarch32_cpu::asm::wfi();
    }
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    let handlers = [
        (SGI_COUNT, count_on_cpu1 as fn(u32)),
        (SGI_SELF, count_on_self),
        (SGI_SIGNAL, signal_from_irq),
    ];
    for (sgi, h) in handlers {
        gic::register_handler(sgi, h).expect("SGI IDs are in range");
    }
    dmasync_exynos4::release_secondary(secondary);
    testkit::run(
        &board,
        &[
            Test {
                name: "sgi_to_the_other_core",
                run: sgi_to_the_other_core,
            },
            Test {
                name: "sgi_to_itself",
                run: sgi_to_itself,
            },
            Test {
                name: "fence_signalled_from_an_irq_on_the_other_core",
                run: fence_signalled_from_an_irq_on_the_other_core,
            },
        ],
    )
}

/// Waits (bounded, 5 s of the global timer) until `done` holds.
fn wait_for(what: &str, done: impl Fn() -> bool) -> TestResult {
    let hz = global_timer::frequency();
    let start = global_timer::counter();
    while !done() {
        ensure!(
            global_timer::counter() - start < 5 * hz,
            "{what} did not happen within 5 s"
        );
        core::hint::spin_loop();
    }
    Ok(())
}

fn sgi_to_the_other_core(_: &Board) -> TestResult {
    wait_for("cpu 1 getting ready", || READY.load(Ordering::Acquire))?;
    gic::send_sgi(SGI_COUNT, 0b10).map_err(|e| testkit::Failure(alloc::format!("{e:?}")))?;
    wait_for("the SGI's handler on cpu 1", || {
        ON_CPU1.load(Ordering::Acquire) >= 1
    })?;
    ensure!(
        !WRONG_CORE.load(Ordering::Relaxed),
        "the handler ran on cpu 0"
    );
    // Exactly once: give a duplicate a moment to show up.
    let until = global_timer::counter() + global_timer::frequency() / 100;
    while global_timer::counter() < until {
        core::hint::spin_loop();
    }
    let n = ON_CPU1.load(Ordering::Acquire);
    ensure!(n == 1, "the handler ran {n} times for one SGI");
    Ok(())
}

fn sgi_to_itself(_: &Board) -> TestResult {
    gic::enable_private(SGI_SELF, PRIORITY)
        .map_err(|e| testkit::Failure(alloc::format!("{e:?}")))?;
    gic::send_sgi(SGI_SELF, 0b01).map_err(|e| testkit::Failure(alloc::format!("{e:?}")))?;
    // IRQs are still masked here: the SGI is pending, not taken.
    ensure!(
        ON_SELF.load(Ordering::Acquire) == 0,
        "handler ran with IRQs masked"
    );
    cpu::enable_irqs();
    wait_for("the SGI's handler on cpu 0", || {
        ON_SELF.load(Ordering::Acquire) >= 1
    })?;
    cpu::mask_irqs();
    let n = ON_SELF.load(Ordering::Acquire);
    ensure!(n == 1, "the handler ran {n} times for one SGI");
    Ok(())
}

fn fence_signalled_from_an_irq_on_the_other_core(_: &Board) -> TestResult {
    let producer = FenceProducer::one_off();
    let fence = producer.fence();
    *FOR_IRQ.lock() = Some(producer);
    gic::send_sgi(SGI_SIGNAL, 0b10).map_err(|e| testkit::Failure(alloc::format!("{e:?}")))?;
    // No deadline: parked in WFE until the handler's signal sends an event.
    let result = fence.wait();
    ensure!(result.is_ok(), "fence ended with {result:?}");
    ensure!(
        FOR_IRQ.lock().is_none(),
        "the IRQ handler never took the producer"
    );
    Ok(())
}

extern crate alloc;
