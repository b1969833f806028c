//! SMP stress: every core PSCI reports (the four Cortex-A53s of board.toml's `-smp 4`) runs a seeded plan of
//! random multi-buffer transactions against shared buffers through sync sets, `LockSet` and
//! KDS, under an exclusion and content oracle; every core's completed counts must equal its
//! plan. The scenario is `dmasync_scenarios::smp_stress`, shared by the boards (its doc says
//! what is checked); this file is raspi3b's entry and case list.
//!
//! Expected output: `test <case> ... ok` per case, then `verdict: ok (4 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_raspi3b as board;

mod scenario_target;

use dmasync_raspi3b::arch::testkit::{self, Failure, Test};
use dmasync_scenarios::smp_stress;
use scenario_target::Pi3;

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_raspi3b::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "secondaries_start",
                run: |b| smp_stress::secondaries_start(&Pi3(b)).map_err(Failure),
            },
            Test {
                name: "every_core_finishes_its_plan",
                run: |b| smp_stress::every_core_finishes(&Pi3(b)).map_err(Failure),
            },
            Test {
                name: "oracle_exclusion_and_content",
                run: |b| smp_stress::oracle_exclusion_and_content(&Pi3(b)).map_err(Failure),
            },
            Test {
                name: "completed_counts_match_plan",
                run: |b| smp_stress::completed_counts_match_plan(&Pi3(b)).map_err(Failure),
            },
        ],
    )
}
