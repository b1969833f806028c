//! Caches on target: the MMU, L1 caches and branch prediction are on, maintenance is by the
//! A15's 64-byte lines with no outer cache to drive (DCCMVAC and friends reach the Point of
//! Coherency, which covers the integrated L2), and clean, invalidate and clean+invalidate over
//! aligned and unaligned ranges leave the data as written (the cases shared with exynos4,
//! boards/common/armv7a/cache_cases.rs).
//!
//! What this proves and what it cannot: QEMU models no caches, so this shows the operations
//! run without faulting on real translation tables; that their order and coverage keep data
//! correct is proven on the host (arch/armv7a's cache tests, the non-coherent simulator).
//!
//! Expected output: `test <case> ... ok` per case, then `verdict: ok (3 cases)`; exit 0.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_qemu_virt_a15 as board;

/// The cases shared by the ARMv7-A boards.
#[path = "../../common/armv7a/cache_cases.rs"]
mod cases;

use board::Board;
use board::arch::testkit::{self, Test, TestResult};
use board::arch::{ensure, mmu};
use dmasync_hal::cache::CacheMaintenance;

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = board::init();
    testkit::run(
        &board,
        &[
            Test {
                name: "mmu_l1_on_no_outer_cache",
                run: mmu_l1_on_no_outer_cache,
            },
            Test {
                name: "maintenance_keeps_data",
                run: |b| cases::maintenance_keeps_data(b.cache),
            },
            Test {
                name: "partial_lines_keep_their_neighbours",
                run: |b| cases::partial_lines_keep_their_neighbours(b.cache),
            },
        ],
    )
}

fn mmu_l1_on_no_outer_cache(board: &Board) -> TestResult {
    let (m, d, i, z) = mmu::enabled();
    ensure!(m && d && i && z, "MMU={m} D$={d} I$={i} BP={z}");
    ensure!(
        board.cache.outer().is_none(),
        "an outer cache is configured on a Cortex-A15"
    );
    // CTR.DminLine = 4 words << 4 = 64 bytes (Cortex-A15 TRM 4.3.3; QEMU's cortex-a15 CTR
    // 0x8444c004, target/arm/cpu32.c).
    ensure!(
        board.cache.line_size() == 64,
        "maintenance line {} bytes, expected 64 (Cortex-A15)",
        board.cache.line_size()
    );
    Ok(())
}
