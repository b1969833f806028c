//! A tiny on-target test runner for `harness = false` test binaries.
//!
//! Prints, in plain text (doc/console-protocol.md), `test <case> ... ok` or
//! `test <case> ... FAILED: <why>` per case, then `verdict: ok (<n> cases)` or
//! `verdict: FAILED (<k> of <n> cases)`, and exits through semihosting with 0 or 1. A panic
//! inside a case ends the run with the panic handler's code 2 instead.

use alloc::string::String;

use dmasync_protocol::verdict::{CaseFailed, CaseOk, Verdict};

use crate::println;

#[doc(hidden)]
pub use alloc::format as __format;

/// Why a case failed.
#[derive(Debug)]
pub struct Failure(pub String);

/// The result of one case.
pub type TestResult = Result<(), Failure>;

/// A named test case taking a shared context (the board).
#[derive(Debug)]
pub struct Test<C> {
    /// Name printed in `test <name> ... ok`.
    pub name: &'static str,
    /// The case.
    pub run: fn(&C) -> TestResult,
}

/// Fails the current case with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::testkit::Failure($crate::testkit::__format!($($arg)+)));
        }
    };
}

/// Prints an informational line inside a test (timings and the like; never a verdict).
#[macro_export]
macro_rules! test_info {
    ($($arg:tt)+) => { $crate::println!("    info: {}", format_args!($($arg)+)) };
}

/// Runs every case in order, prints the verdict and exits (0: all passed, 1: any failed).
pub fn run<C>(ctx: &C, tests: &[Test<C>]) -> ! {
    let mut failed = 0usize;
    for t in tests {
        match (t.run)(ctx) {
            Ok(()) => println!("{}", CaseOk { case: t.name }),
            Err(Failure(why)) => {
                failed += 1;
                println!("{}", CaseFailed { case: t.name, why });
            }
        }
    }
    let verdict = Verdict {
        failed,
        cases: tests.len(),
    };
    println!("{verdict}");
    crate::exit(verdict.exit_code())
}
