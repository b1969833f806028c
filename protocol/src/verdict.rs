//! The plain-text lines of an on-target test binary (doc/console-protocol.md, "Verdicts").
//!
//! Printed by the target's testkit (arch/aarch64 `testkit::run`) and by test binaries that
//! judge themselves; read by people and by board.toml `expect` entries. xtask judges a run by
//! the exit code ([`crate::exit`]), not by these lines, and never parses them. Guests never
//! print a line of the form `N passed, N failed`: that line belongs to xtask alone.

use core::fmt;

/// `test <case> ... ok`: one case passed.
#[derive(Debug, Clone, Copy)]
pub struct CaseOk<'a> {
    pub case: &'a str,
}

impl fmt::Display for CaseOk<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "test {} ... ok", self.case)
    }
}

/// `test <case> ... FAILED: <why>`: one case failed.
#[derive(Debug, Clone, Copy)]
pub struct CaseFailed<'a, D> {
    pub case: &'a str,
    pub why: D,
}

impl<D: fmt::Display> fmt::Display for CaseFailed<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "test {} ... FAILED: {}", self.case, self.why)
    }
}

/// The closing line: `verdict: ok (<n> cases)` or `verdict: FAILED (<k> of <n> cases)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Cases that failed.
    pub failed: usize,
    /// Cases run.
    pub cases: usize,
}

impl Verdict {
    /// Whether every case passed.
    pub const fn ok(&self) -> bool {
        self.failed == 0
    }

    /// The exit code that goes with this verdict ([`crate::exit::OK`] or
    /// [`crate::exit::TEST_FAILED`]).
    pub const fn exit_code(&self) -> u32 {
        if self.ok() {
            crate::exit::OK
        } else {
            crate::exit::TEST_FAILED
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok() {
            write!(f, "verdict: ok ({} cases)", self.cases)
        } else {
            write!(
                f,
                "verdict: FAILED ({} of {} cases)",
                self.failed, self.cases
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    #[test]
    fn lines_are_exactly_the_documented_ones() {
        assert_eq!(render(&CaseOk { case: "fence" }), "test fence ... ok");
        assert_eq!(
            render(&CaseFailed {
                case: "fence",
                why: "late by 3 ms"
            }),
            "test fence ... FAILED: late by 3 ms"
        );
        let ok = Verdict {
            failed: 0,
            cases: 4,
        };
        assert_eq!(render(&ok), "verdict: ok (4 cases)");
        assert_eq!(ok.exit_code(), crate::exit::OK);
        let bad = Verdict {
            failed: 1,
            cases: 1,
        };
        assert_eq!(render(&bad), "verdict: FAILED (1 of 1 cases)");
        assert_eq!(bad.exit_code(), crate::exit::TEST_FAILED);
        // Never the xtask-only closing form.
        assert!(!render(&bad).contains(" passed, "));
    }
}
