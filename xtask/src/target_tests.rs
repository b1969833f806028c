//! On-target tests: every test binary of a board, once per QEMU variant, judged by the
//! semihosting exit code and the expected console lines.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::boards::{Board, Variant};
use crate::cargo::{self, Images};
use crate::console::missing_expectations;
use crate::decode::Defmt;
use crate::firmware::{self, Image};
use crate::provision::{self, Qemu};
use crate::qemu::{self, Ending};
use crate::report::Section;
use crate::screendump::{self, Screendumps};
use crate::{qmp, reference};

/// Console lines shown for a failing test.
const TAIL_LINES: usize = 25;

/// Which tests and variants to run.
#[derive(Debug)]
pub struct Selection<'a> {
    pub filters: &'a [String],
    pub variant: Option<&'a str>,
    pub timeout: Duration,
    pub verbose: bool,
}

impl Selection<'_> {
    pub fn wants_test(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    fn wants_variant(&self, v: &Variant) -> bool {
        self.variant.is_none_or(|name| v.name == name)
    }
}

/// Why a finished run did not pass; empty when it passed.
pub fn judge(ending: Ending, lines: &[String], exit_code: i32, expect: &[String]) -> Vec<String> {
    let mut why = Vec::new();
    match ending {
        Ending::Exited(code) if code == exit_code => {}
        Ending::Exited(_) => why.push(format!(
            "{}; expected exit code {exit_code} ({})",
            qemu::describe(ending),
            qemu::exit_code_meaning(exit_code)
        )),
        other => why.push(qemu::describe(other)),
    }
    for missing in missing_expectations(lines, expect) {
        why.push(format!("expected line not printed: '{missing}'"));
    }
    why
}

/// Runs the selected on-target tests of one board, adding one verdict per (test, variant).
pub fn run_board(
    root: &Path,
    board: &Board,
    sel: &Selection,
    qemus: &mut BTreeMap<String, Result<Qemu, String>>,
    section: &mut Section,
) {
    let names = match cargo::test_target_names(root, &board.package) {
        Ok(names) => names,
        Err(e) => return section.fail(format!("{}: {e:#}", board.name)),
    };
    for key in board.tests.keys() {
        if !names.contains(key) {
            section.note(format!(
                "{}: board.toml has [tests.{key}] but {} has no such test",
                board.name, board.package
            ));
        }
    }
    // What the port has still to fill in (board.toml `todo`, written by new-board).
    if !board.todo.is_empty() {
        println!("note: {}: still to fill in (board.toml todo):", board.name);
        for item in &board.todo {
            println!("    - {item}");
        }
        section.note(format!(
            "{}: {} board.toml todo item(s) open",
            board.name,
            board.todo.len()
        ));
    }
    let wanted: Vec<&String> = names.iter().filter(|n| sel.wants_test(n)).collect();
    if wanted.is_empty() {
        let why = if names.is_empty() {
            format!(
                "{}: {} has no [[test]] binaries yet",
                board.name, board.package
            )
        } else {
            format!("{}: no test matches the filter", board.name)
        };
        println!("note: {why}");
        return section.note(why);
    }

    let artifacts = match cargo::build_images(root, &board.package, &board.target, Images::Tests) {
        Ok(a) => a,
        Err(e) => return section.fail(format!("{}: {e:#}", board.name)),
    };
    let qemu = qemus
        .entry(board.qemu.binary.clone())
        .or_insert_with(|| provision::ensure(&board.qemu.binary).map_err(|e| format!("{e:#}")));
    let qemu = match qemu {
        Ok(q) => q.clone(),
        Err(e) => {
            return section.fail(format!(
                "{}: on-target tests skipped: QEMU cannot be provided: {e}",
                board.name
            ));
        }
    };
    println!("==> {}: {}", board.name, provision::describe(&qemu));

    let variants: Vec<Variant> = board
        .variants()
        .into_iter()
        .filter(|v| sel.wants_variant(v))
        .collect();
    for name in wanted {
        let Some(artifact) = artifacts
            .iter()
            .find(|a| a.kind == "test" && &a.name == name)
        else {
            section.fail(format!(
                "{}/{name}: cargo built no executable for it",
                board.name
            ));
            continue;
        };
        // A variant may run only some tests (board.toml `qemu.variant.tests`).
        for variant in variants.iter().filter(|v| v.runs(name)) {
            let label = format!("{}/{name} [{}]", board.name, variant.name);
            match run_one(root, board, &qemu, artifact, name, variant, sel) {
                Ok(()) => section.pass(),
                Err(why) => section.fail(format!("{label}: {why}")),
            }
        }
    }
}

/// One verdict. Err carries the first reason, for the summary.
fn run_one(
    root: &Path,
    board: &Board,
    qemu: &Qemu,
    artifact: &cargo::Artifact,
    name: &str,
    variant: &Variant,
    sel: &Selection,
) -> Result<(), String> {
    let label = format!("{}/{name} [{}]", board.name, variant.name);
    let fail = |why: Vec<String>, lines: &[String], stderr: &[String]| -> Result<(), String> {
        println!("test {label} ... FAILED");
        for w in &why {
            println!("    why: {w}");
        }
        for line in stderr {
            println!("    qemu: {line}");
        }
        let from = lines.len().saturating_sub(TAIL_LINES);
        if lines.is_empty() {
            println!("    (no console output)");
        } else if !sel.verbose {
            println!("    last {} console lines:", lines.len() - from);
            for line in &lines[from..] {
                println!("    | {line}");
            }
        }
        Err(why.first().cloned().unwrap_or_default())
    };

    let image = Image::read(artifact).map_err(|e| format!("{e:#}"))?;
    let fits = board
        .ram_range(&variant.args)
        .and_then(|ram| image.check_fits(ram));
    if let Err(e) = fits {
        return fail(vec![format!("{e:#}")], &[], &[]);
    }
    let bytes = std::fs::read(&artifact.path).map_err(|e| e.to_string())?;
    let defmt = Defmt::from_elf(&bytes, root).unwrap_or_else(|_| Defmt::none());
    let expectation = board.expectation(name);
    // A private directory per run: QEMU's QMP socket and its raw screendumps.
    let scratch = tempfile::Builder::new()
        .prefix("xtask-qemu-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let socket = scratch.path().join("qmp.sock");
    let kernel = firmware::kernel_image(board, &artifact.path, scratch.path())
        .map_err(|e| format!("{e:#}"))?;
    let args = qemu::command_line(variant, &kernel, &qmp::qemu_args(&socket));
    let check = screendump::Check::from(expectation.screendump);
    let mut dumps = Screendumps::new(
        socket,
        scratch.path().to_path_buf(),
        screendump::screenshot_dir(root),
        format!("{}-{name}-{}", board.name, variant.name),
        check,
        reference::renderer(check),
    )
    .map_err(|e| format!("{e:#}"))?;
    if sel.verbose {
        println!("$ {} {}", qemu.path.display(), args.join(" "));
    }
    let verbose = sel.verbose;
    let outcome = qemu::run_with_screendumps(
        &qemu.path,
        &args,
        &defmt,
        Some(sel.timeout),
        Some(&mut dumps),
        &mut |line| {
            if verbose {
                println!("    | {line}");
            }
        },
    )
    .map_err(|e| format!("{e:#}"))?;

    let mut expect = expectation.expect.clone();
    expect.extend(variant.expect.iter().cloned());
    let mut why = judge(
        outcome.ending,
        &outcome.lines,
        expectation.exit_code,
        &expect,
    );
    why.extend(dumps.problems());
    let print_screenshots = || {
        for taken in &dumps.taken {
            if let Some(path) = &taken.path {
                let checked = match (check, &taken.problem) {
                    (c, None) if c.compares() => " (equals the reference)",
                    _ => "",
                };
                println!(
                    "    screenshot of frame {}: {}{checked}",
                    taken.request.frame,
                    path.strip_prefix(root).unwrap_or(path).display()
                );
            }
        }
    };
    if !why.is_empty() && outcome.lines.is_empty() && !outcome.stderr.is_empty() {
        why.insert(0, "QEMU failed before the guest printed anything".into());
    }
    if why.is_empty() {
        println!(
            "test {label} ... ok ({:.2} s)",
            outcome.elapsed.as_secs_f64()
        );
        print_screenshots();
        Ok(())
    } else {
        let verdict = fail(why, &outcome.lines, &outcome.stderr);
        print_screenshots();
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exit_code_and_lines_must_both_match() {
        let out = lines(&["EXCEPTION: data abort", "EC=0x25 FAR=0x0"]);
        let want = lines(&["EXCEPTION", "EC=0x25", "FAR=0x"]);
        assert!(judge(Ending::Exited(3), &out, 3, &want).is_empty());

        let why = judge(Ending::Exited(0), &out, 3, &want);
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("exit code 0") && why[0].contains("expected exit code 3"));

        let why = judge(Ending::Exited(3), &out[..1], 3, &want);
        assert_eq!(
            why,
            vec![
                "expected line not printed: 'EC=0x25'",
                "expected line not printed: 'FAR=0x'"
            ]
        );
    }

    #[test]
    fn hangs_and_signals_fail() {
        let t = Ending::TimedOut(Duration::from_secs(30));
        assert!(judge(t, &[], 0, &[])[0].contains("timed out after 30"));
        assert!(judge(Ending::Signalled(11), &[], 0, &[])[0].contains("signal 11"));
    }

    #[test]
    fn filters_are_substrings() {
        let f = vec!["abort".to_string(), "boot".to_string()];
        let sel = Selection {
            filters: &f,
            variant: None,
            timeout: Duration::from_secs(1),
            verbose: false,
        };
        assert!(sel.wants_test("data_abort"));
        assert!(sel.wants_test("boot"));
        assert!(!sel.wants_test("timer"));
    }
}
