//! A misbehaving client: a task on cpu 1 locks buffers and never unlocks. The board's
//! periodic watchdog (`dmasync_raspi3b::watchdog`, the virtual-timer interrupt, INTID 27,
//! on cpu 0) — not a waiter — takes them back at the hold deadline; another core then gets
//! them; the misbehaving task's next guard use and its late unlock both say `Expired`;
//! well-behaved users of other buffers are not disturbed. The scenario is
//! `dmasync_scenarios::misbehaving_client`, shared by the boards; this file is raspi3b's
//! entry and case list.
//!
//! Expected output: `test <case> ... ok` per case, then `verdict: ok (4 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_raspi3b as board;

mod scenario_target;

use dmasync_raspi3b::arch::testkit::{self, Failure, Test};
use dmasync_scenarios::misbehaving_client as mc;
use scenario_target::Pi3;

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_raspi3b::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "watchdog_starts",
                run: |b| mc::watchdog_starts(&Pi3(b)).map_err(Failure),
            },
            Test {
                name: "holder_expired_by_periodic_watchdog_without_waiter",
                run: |b| mc::expired_without_waiter(&Pi3(b)).map_err(Failure),
            },
            Test {
                name: "expired_holder_sees_expired_on_use_and_unlock",
                run: |b| mc::expired_holder_told(&Pi3(b)).map_err(Failure),
            },
            Test {
                name: "waiter_gets_predecessor_timeout_then_the_buffer",
                run: |b| mc::waiter_gets_timeout(&Pi3(b)).map_err(Failure),
            },
        ],
    )
}
