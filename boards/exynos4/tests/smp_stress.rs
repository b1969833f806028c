//! SMP stress: both Cortex-A9s run a seeded plan of
//! random multi-buffer transactions against shared buffers through sync sets, `LockSet` and
//! KDS, under an exclusion and content oracle; every core's completed counts must equal its
//! plan. The scenario is `dmasync_scenarios::smp_stress`, shared by the boards (its doc says
//! what is checked); this file is exynos4's entry and case list.
//!
//! Expected output: `test <case> ... ok` per case, then `verdict: ok (4 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;

mod scenario_target;

use dmasync_exynos4::arch::testkit::{self, Failure, Test};
use dmasync_scenarios::smp_stress;
use scenario_target::Exynos4;

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    testkit::run(
        &board,
        &[
            Test {
                name: "secondaries_start",
                run: |b| smp_stress::secondaries_start(&Exynos4(b)).map_err(Failure),
            },
            Test {
                name: "every_core_finishes_its_plan",
                run: |b| smp_stress::every_core_finishes(&Exynos4(b)).map_err(Failure),
            },
            Test {
                name: "oracle_exclusion_and_content",
                run: |b| smp_stress::oracle_exclusion_and_content(&Exynos4(b)).map_err(Failure),
            },
            Test {
                name: "completed_counts_match_plan",
                run: |b| smp_stress::completed_counts_match_plan(&Exynos4(b)).map_err(Failure),
            },
        ],
    )
}
