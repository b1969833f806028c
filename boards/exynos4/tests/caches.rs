//! Caches on target: the MMU, L1 caches and branch prediction are on, the PL310 is enabled,
//! and clean, invalidate and clean+invalidate through both levels (L1 by MVA, then or after
//! the PL310 by physical address, in each direction's order) run over aligned and unaligned
//! ranges and leave the data as written.
//!
//! What this proves and what it cannot: QEMU models no caches (its l2x0 is register storage),
//! so this shows the operations reach the right registers without faulting on real
//! translation tables; that the *order* and *coverage* keep data correct is proven on the host
//! against recording fakes (arch/armv7a cache tests) and the non-coherent memory simulator.
//!
//! Expected output: `test <case> ... ok` per case, then `verdict: ok (3 cases)`; exit 0.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_exynos4 as board;

/// The cases shared by the ARMv7-A boards.
#[path = "../../common/armv7a/cache_cases.rs"]
mod cases;

use dmasync_exynos4::Board;
use dmasync_exynos4::arch::testkit::{self, Test, TestResult};
use dmasync_exynos4::arch::{ensure, mmu};
use dmasync_hal::cache::CacheMaintenance;

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    testkit::run(
        &board,
        &[
            Test {
                name: "mmu_l1_and_pl310_on",
                run: mmu_l1_and_pl310_on,
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

fn pl310(board: &Board) -> &dmasync_pl310::Pl310 {
    board.cache.outer().expect("the board always has its PL310")
}

fn mmu_l1_and_pl310_on(board: &Board) -> TestResult {
    let (m, d, i, z) = mmu::enabled();
    ensure!(m && d && i && z, "MMU={m} D$={d} I$={i} BP={z}");
    let l2 = pl310(board);
    ensure!(l2.is_enabled(), "PL310 CTRL bit 0 clear after init");
    // L2C-310 part number 0x0C in bits 9:6 (CACHE_ID 0x410000C8 = r3p2 in QEMU).
    let id = l2.cache_id();
    ensure!(
        id >> 24 == 0x41 && (id >> 6) & 0xf == 0x3,
        "CACHE_ID {id:#x} is not an ARM L2C-310"
    );
    ensure!(
        board.cache.line_size() == 32,
        "maintenance line {} bytes, expected 32 (A9 L1 and PL310)",
        board.cache.line_size()
    );
    Ok(())
}
