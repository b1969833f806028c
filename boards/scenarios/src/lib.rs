//! The on-target concurrency scenarios, written once for every board: [`smp_stress`] (every
//! core runs a seeded plan of multi-buffer transactions through sync sets, `LockSet` and KDS
//! under an exclusion and content oracle) and [`misbehaving_client`] (a holder that never
//! unlocks is expired by the board's periodic watchdog). Each board's test binary calls the
//! scenario's cases from its `testkit::run` list and maps an `Err(String)` to its `Failure`,
//! as `dmasync_demo::scenarios` is called by the boards' `hung_engine` and `demo_screenshot`.
//!
//! # What a board provides
//!
//! One [`Target`] impl (qemu-virt's and exynos4's are `boards/*/tests/scenario_target/mod.rs`;
//! an i.MX 8M Plus board writes the same few lines over its own crate):
//!
//! - **cores**: how many take part ([`Target::cores`], at most [`MAX_CORES`]), how the others
//!   are started ([`Target::start_secondaries`]: every other core enters `entry(index)` with
//!   its index `1..cores`) and what each does first ([`Target::secondary_bring_up`]: its
//!   interrupt controller interface and whatever else the board needs) and last
//!   ([`Target::idle`]);
//! - **time**: the monotonic counter and its frequency, used only to bound waits (a hang
//!   fails a case instead of the host's time-out) and for `info:` figures, never asserted;
//! - **memory**: the [`MemorySystem`] of the sync domains (the board's cache maintenance
//!   over its CPU mapping, e.g. `DirectMemory<DataCache>`), and the heap as [`DmaMemory`]
//!   for the buffers;
//! - **the sync-set watchdog** for `misbehaving_client`: start it periodically (from a timer
//!   interrupt on the calling core, cpu 0) for a domain, and its run and expiry counts;
//! - **events**: WFE, and SEV after a barrier that makes earlier stores visible;
//! - **console**: [`Target::info`] prints an `info:` line of the running case.
//!
//! The scenarios keep their state in statics of this crate (the secondaries get only their
//! index), so each runs once per binary: one scenario per test image, as the boards build them.
#![no_std]

extern crate alloc;

use alloc::string::String;
use core::fmt;

use dmasync_hal::dma::{DmaMemory, MemorySystem};
use dmasync_sync::syncset::Watched;

pub mod misbehaving_client;
pub mod smp_stress;

/// Most cores a scenario runs on (the per-core statics are this long).
pub const MAX_CORES: usize = 8;

/// What the scenarios need from a board (see the crate documentation).
///
/// Methods with a receiver run on cpu 0, inside a test case, with the board at hand; the
/// associated functions without one also run on secondaries, which have only their index.
pub trait Target {
    /// The memory system of the scenarios' sync domains.
    type Memory: MemorySystem + Send + Sync + 'static;
    /// DMA memory the buffers are allocated from (the heap: regions are never freed).
    type Dma: DmaMemory;

    /// Cores taking part, cpu 0 included.
    fn cores(&self) -> usize;
    /// Cache maintenance and CPU access for a new sync domain.
    fn memory(&self) -> Self::Memory;
    /// DMA memory for the scenario's buffers.
    fn heap_dma(&self) -> Self::Dma;
    /// Starts every other core into `entry(index)`, index `1..cores`; returns how many it
    /// started. `Err` says why a core could not be started. Called once per binary.
    fn start_secondaries(&self, entry: fn(usize) -> !) -> Result<usize, String>;
    /// Starts the board's periodic sync-set watchdog for `domain` on the calling core,
    /// interrupts enabled there.
    fn start_watchdog(&self, domain: &'static dyn Watched) -> Result<(), String>;
    /// How many checks the board's watchdog has run.
    fn watchdog_runs(&self) -> u64;
    /// How many holders the board's watchdog has expired.
    fn watchdog_expired(&self) -> u64;

    /// What secondary `index` does first, on its own core, before the scenario's code.
    fn secondary_bring_up(index: usize);
    /// Where a secondary goes when its part is done: never returns.
    fn idle() -> !;
    /// The monotonic counter, in ticks of [`Target::frequency`].
    fn counter() -> u64;
    /// Ticks per second of [`Target::counter`].
    fn frequency() -> u64;
    /// Waits for an event (SEV, an interrupt) or returns at once if one is latched.
    fn wait_for_event();
    /// Makes earlier stores visible to the other cores, then wakes every core in WFE.
    fn send_event();
    /// Prints an `info:` line of the running case.
    fn info(args: fmt::Arguments<'_>);
}

/// Returns `Err(String)` from the enclosing case with a formatted reason unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(alloc::format!($($arg)+));
        }
    };
}
pub(crate) use ensure;

/// Waits until `done()` or `patience_s` seconds have passed (WFE between looks, so every
/// waker must SEV); returns whether it was done. A bound on a hang, never a measurement.
fn wait_until<T: Target>(patience_s: u64, mut done: impl FnMut() -> bool) -> bool {
    let give_up = T::counter().saturating_add(patience_s.saturating_mul(T::frequency()));
    while !done() {
        if T::counter() > give_up {
            return done();
        }
        T::wait_for_event();
    }
    true
}

/// Milliseconds in `ticks` of [`Target::frequency`], for `info:` lines.
fn millis<T: Target>(ticks: u64) -> u64 {
    dmasync_hal::clock::ticks_to_ns(ticks, T::frequency()) / 1_000_000
}
