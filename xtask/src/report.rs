//! Counting: libtest summaries, per-section tallies and the one closing line.

/// Counts from libtest's `test result: ok. 3 passed; 0 failed; 1 ignored; ...` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// How many `test result:` lines were seen (one per test binary / doctest run).
    pub summaries: u64,
}

impl Counts {
    pub fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        // "ok. 3 passed; 0 failed; ..." -> the fields after the first ". "
        let Some((_, fields)) = rest.split_once(". ") else {
            return;
        };
        let mut seen = false;
        for field in fields.split(';') {
            let mut words = field.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => continue,
            }
            seen = true;
        }
        if seen {
            self.summaries += 1;
        }
    }

    pub fn parse(output: &str) -> Self {
        let mut c = Counts::default();
        for line in output.lines() {
            c.add_line(line);
        }
        c
    }
}

/// One section of `cargo xtask test` (checks, host tests, loom, miri, target tests).
#[derive(Debug)]
pub struct Section {
    pub name: &'static str,
    pub passed: u64,
    pub failed: u64,
    /// Short notes for the summary: what failed, what was skipped and why.
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(name: &'static str) -> Self {
        Section {
            name,
            passed: 0,
            failed: 0,
            notes: Vec::new(),
        }
    }

    pub fn pass(&mut self) {
        self.passed += 1;
    }

    pub fn fail(&mut self, why: impl Into<String>) {
        self.failed += 1;
        self.notes.push(why.into());
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Test cases counted from libtest output, plus one failure when the command failed
    /// without any failing case (a build error, a crash, a missing toolchain).
    pub fn add_cargo_test(&mut self, what: &str, counts: Counts, success: bool) {
        self.passed += counts.passed;
        self.failed += counts.failed;
        if counts.failed > 0 {
            self.notes
                .push(format!("{what}: {} test case(s) failed", counts.failed));
        }
        if !success && counts.failed == 0 {
            self.fail(format!(
                "{what}: failed, but no test case did (a build error, a crash or a Miri report; see its output)"
            ));
        }
        if success && counts.summaries == 0 {
            self.note(format!("{what}: ran no test"));
        }
    }
}

/// The per-section summary and the closing `N passed, N failed` line.
pub fn summary(sections: &[Section]) -> (Vec<String>, bool) {
    let mut lines = vec!["summary:".to_string()];
    let (mut passed, mut failed) = (0, 0);
    for s in sections {
        passed += s.passed;
        failed += s.failed;
        // Deliberately not in the `N passed, N failed` form: that line is the total alone.
        lines.push(format!(
            "  {:<13} {:>4} ok {:>4} failed",
            s.name, s.passed, s.failed
        ));
        for note in &s.notes {
            lines.push(format!("      - {note}"));
        }
    }
    lines.push(format!("{passed} passed, {failed} failed"));
    (lines, failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_summaries_are_summed() {
        let out = "\
running 3 tests
test a ... ok
test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

     Running tests/x.rs
test result: FAILED. 4 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s
   Doc-tests dmasync
test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
        let c = Counts::parse(out);
        assert_eq!(
            c,
            Counts {
                passed: 7,
                failed: 2,
                ignored: 1,
                summaries: 3
            }
        );
    }

    #[test]
    fn other_lines_do_not_count() {
        let c = Counts::parse("test foo ... ok\n3 passed, 1 failed\ntest result: garbage\n");
        assert_eq!(c, Counts::default());
    }

    #[test]
    fn a_failed_command_without_failed_cases_counts_as_one_failure() {
        let mut s = Section::new("host tests");
        s.add_cargo_test("cargo test", Counts::default(), false);
        assert_eq!((s.passed, s.failed), (0, 1));
        let mut s = Section::new("host tests");
        s.add_cargo_test(
            "cargo test",
            Counts::parse("test result: FAILED. 1 passed; 1 failed; 0 ignored"),
            false,
        );
        assert_eq!((s.passed, s.failed), (1, 1));
    }

    #[test]
    fn closing_line_is_the_exact_total() {
        let mut a = Section::new("checks");
        a.pass();
        a.fail("clippy (host)");
        let mut b = Section::new("target tests");
        b.passed = 5;
        let (lines, ok) = summary(&[a, b]);
        assert!(!ok);
        assert_eq!(lines.last().unwrap(), "6 passed, 1 failed");
        // Only the last line has the closing form.
        let closing = lines
            .iter()
            .filter(|l| l.contains(" passed, ") && l.ends_with(" failed"))
            .count();
        assert_eq!(closing, 1);
        let (lines, ok) = summary(&[]);
        assert!(ok);
        assert_eq!(lines.last().unwrap(), "0 passed, 0 failed");
    }
}
