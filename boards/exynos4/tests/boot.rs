//! Boot: the console carries plain text and defmt frames, we run in SYS mode with IRQs
//! masked, the MMU, caches and branch prediction are on (on both cores), the counter moves and `DelayNs` is never early, the heap works, and CPU1 comes
//! out of its park on its own stack and reports in.
//!
//! Expected output: the banner (board.toml `expect` per variant), `test <case> ... ok` per
//! case and `verdict: ok (<n> cases)`; exit code 0.
#![no_std]
#![no_main]

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use dmasync_exynos4::Board;
use dmasync_exynos4::arch::testkit::{self, Test, TestResult};
use dmasync_exynos4::arch::{cpu, ensure, global_timer, mmu, test_info};
use embedded_hal::delay::DelayNs;

extern crate alloc;

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    testkit::run(
        &board,
        &[
            Test {
                name: "mode_and_interrupt_mask",
                run: mode_and_interrupt_mask,
            },
            Test {
                name: "mmu_and_caches_on",
                run: mmu_and_caches_on,
            },
            Test {
                name: "defmt_frame",
                run: defmt_frame,
            },
            Test {
                name: "counter_and_delay",
                run: counter_and_delay,
            },
            Test {
                name: "heap",
                run: heap,
            },
            Test {
                name: "secondary_reports_in",
                run: secondary_reports_in,
            },
        ],
    )
}

fn mode_and_interrupt_mask(_: &Board) -> TestResult {
    let cpsr = cpu::cpsr();
    ensure!(cpsr & 0x1f == 0x1f, "CPSR {cpsr:#x}: not in SYS mode");
    ensure!(
        cpsr & 0x80 != 0,
        "CPSR {cpsr:#x}: IRQs unmasked before any handler is set up"
    );
    ensure!(
        cpsr & 0x20 == 0,
        "CPSR {cpsr:#x}: in Thumb state, expected ARM"
    );
    Ok(())
}

fn mmu_and_caches_on(_: &Board) -> TestResult {
    let (m, d, i, z) = mmu::enabled();
    ensure!(
        m && d && i && z,
        "cpu 0: MMU={m} D$={d} I$={i} BP={z}, expected all on"
    );
    let guards = mmu::guard_pages().count();
    ensure!(
        guards == 12,
        "{guards} stack guard pages, expected 6 modes x 2 cores"
    );
    Ok(())
}

fn defmt_frame(_: &Board) -> TestResult {
    // xtask decodes this frame; board.toml's [tests.boot] could require the line, the
    // verdict here only proves the logger returned.
    defmt::info!("defmt over the Exynos UART: {=u32:#x}", 0xd15au32);
    Ok(())
}

fn counter_and_delay(_: &Board) -> TestResult {
    let hz = global_timer::frequency();
    ensure!(hz > 0, "global timer frequency is 0");
    let a = global_timer::counter();
    let b = global_timer::counter();
    ensure!(b >= a, "counter went backwards: {a} then {b}");
    let mut delay = global_timer::Delay;
    for ms in [1u32, 5, 20] {
        let t0 = global_timer::counter();
        delay.delay_ms(ms);
        let waited = global_timer::counter() - t0;
        let asked = u64::from(ms) * hz / 1000;
        ensure!(
            waited >= asked,
            "delay_ms({ms}) returned after {waited} ticks < {asked}"
        );
        test_info!("delay_ms({ms}): {waited} ticks (asked {asked})");
    }
    Ok(())
}

fn heap(board: &Board) -> TestResult {
    let v: Vec<u32> = (0..10_000).collect();
    ensure!(
        v.iter().map(|&x| u64::from(x)).sum::<u64>() == 49_995_000,
        "heap data corrupted"
    );
    let addr = v.as_ptr() as usize;
    let (start, size) = board.heap;
    ensure!(
        (start..start + size).contains(&addr),
        "allocation at {addr:#x} outside the heap {start:#x}+{size:#x}"
    );
    Ok(())
}

static REPORTED: AtomicUsize = AtomicUsize::new(usize::MAX);
static SECONDARY_SP: AtomicU32 = AtomicU32::new(0);
/// The secondary's SCTLR M, C, I, Z bits as 1, 2, 4, 8.
static SECONDARY_CACHES: AtomicU32 = AtomicU32::new(0);

fn secondary(core: usize) -> ! {
    let sp: u32;
    // SAFETY: reading SP has no side effects.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack)) };
    SECONDARY_SP.store(sp, Ordering::Relaxed);
    let (m, d, i, z) = mmu::enabled();
    SECONDARY_CACHES.store(
        u32::from(m) | u32::from(d) << 1 | u32::from(i) << 2 | u32::from(z) << 3,
        Ordering::Relaxed,
    );
    defmt::info!("cpu {=usize} online: MPIDR={=u32:#x}", core, cpu::mpidr());
    REPORTED.store(core, Ordering::Release);
    loop {
        cpu::wait_for_interrupt_masked();
    }
}

fn secondary_reports_in(board: &Board) -> TestResult {
    ensure!(
        board.cpu_count == 2,
        "the SCU reports {} CPUs, expected 2",
        board.cpu_count
    );
    dmasync_exynos4::release_secondary(secondary);
    let hz = global_timer::frequency();
    let start = global_timer::counter();
    while REPORTED.load(Ordering::Acquire) == usize::MAX {
        ensure!(
            global_timer::counter() - start < 10 * hz,
            "cpu 1 did not report in within 10 s of its release"
        );
        core::hint::spin_loop();
    }
    let core = REPORTED.load(Ordering::Acquire);
    ensure!(
        core == 1,
        "the released core says it is core {core}, expected 1"
    );
    let caches = SECONDARY_CACHES.load(Ordering::Relaxed);
    ensure!(
        caches == 0b1111,
        "cpu 1: SCTLR M/C/I/Z = {caches:#06b}, expected all on"
    );
    let my_sp: u32;
    // SAFETY: reading SP has no side effects.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) my_sp, options(nomem, nostack)) };
    let its_sp = SECONDARY_SP.load(Ordering::Relaxed);
    // aarch32-rt gives each core its own 64 KiB SYS stack (build.rs `_sys_stack_size`).
    ensure!(
        my_sp.abs_diff(its_sp) >= 32 * 1024,
        "cpu 1's stack ({its_sp:#x}) is within 32 KiB of cpu 0's ({my_sp:#x}): shared stacks?"
    );
    test_info!(
        "cpu 1 reported in after {} us",
        (global_timer::counter() - start) * 1_000_000 / hz
    );
    Ok(())
}
