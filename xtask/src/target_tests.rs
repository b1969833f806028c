//! On-target tests: every test binary of a board, once per QEMU variant, judged by the
//! semihosting exit code and the expected console lines.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::boards::{Board, Variant};
use crate::cargo::{self, Images};
use crate::console::missing_expectations;
use crate::decode::Defmt;
use crate::firmware::{self, Image};
use crate::provision::{self, Qemu};
use crate::qemu::{self, Ending};
use crate::report::Section;
use crate::screendump::{self, Screendumps};
use crate::{gdb, qmp, reference};

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
    if wanted.is_empty() && !sel.wants_test(gdb::GDB_TEST) {
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
            match run_one(root, board, &qemu, artifact, name, variant, sel, false) {
                Ok(()) => section.pass(),
                Err(why) => section.fail(format!("{label}: {why}")),
            }
        }
    }
    if sel.wants_test(gdb::GDB_TEST) {
        gdb_verdict(board, &qemu, &artifacts, &variants, sel, section);
    }
}

/// The scripted-gdb test ([`gdb::run_test`]) under the first selected variant: one verdict.
fn gdb_verdict(
    board: &Board,
    qemu: &Qemu,
    artifacts: &[cargo::Artifact],
    variants: &[Variant],
    sel: &Selection,
    section: &mut Section,
) {
    let Some(variant) = variants.iter().find(|v| v.runs(gdb::DEBUGGED_TEST)) else {
        return;
    };
    let label = format!("{}/{} [{}]", board.name, gdb::GDB_TEST, variant.name);
    match gdb::run_test(board, qemu, artifacts, variant, sel.timeout, sel.verbose) {
        Ok(()) => {
            println!("test {label} ... ok (attached, stopped in init, pc read back)");
            section.pass();
        }
        Err(why) => {
            println!("test {label} ... FAILED");
            for w in &why {
                println!("    why: {w}");
            }
            section.fail(format!(
                "{label}: {}",
                why.first().cloned().unwrap_or_default()
            ));
        }
    }
}

/// `cargo xtask test NAME --board B --gdb`: the one test NAME selects, under `variant` or
/// the first variant that runs it, halted for a debugger, with no timeout. Returns whether
/// it passed.
pub fn debug_one(
    root: &Path,
    board: &Board,
    filters: &[String],
    variant: Option<&str>,
    verbose: bool,
) -> Result<bool> {
    let names = cargo::test_target_names(root, &board.package)?;
    let name = pick_one(&names, filters)?;
    let variants = board.variants();
    let variant = match variant {
        Some(v) => variants
            .iter()
            .find(|x| x.name == v && x.runs(&name))
            .with_context(|| format!("variant '{v}' of {} does not run {name}", board.name))?,
        None => variants
            .iter()
            .find(|x| x.runs(&name))
            .with_context(|| format!("no variant of {} runs {name}", board.name))?,
    };
    let artifacts = cargo::build_images(root, &board.package, &board.target, Images::Tests)?;
    let artifact = artifacts
        .iter()
        .find(|a| a.kind == "test" && a.name == name)
        .with_context(|| format!("{}/{name}: cargo built no executable for it", board.name))?;
    let qemu = provision::ensure(&board.qemu.binary)?;
    gdb::ensure()?;
    println!("==> {}: {}", board.name, provision::describe(&qemu));
    let sel = Selection {
        filters,
        variant: Some(&variant.name),
        // Unused: a run under gdb waits for the person at the debugger.
        timeout: Duration::MAX,
        verbose,
    };
    Ok(run_one(root, board, &qemu, artifact, &name, variant, &sel, true).is_ok())
}

/// The one test name `filters` selects for `--gdb`: a name equal to the one filter, else the
/// only name containing it.
fn pick_one(names: &[String], filters: &[String]) -> Result<String> {
    let [filter] = filters else {
        bail!(
            "--gdb debugs one on-target test: give exactly one test name (tests: {})",
            names.join(", ")
        );
    };
    if let Some(exact) = names.iter().find(|n| *n == filter) {
        return Ok(exact.clone());
    }
    let matching: Vec<&String> = names
        .iter()
        .filter(|n| n.contains(filter.as_str()))
        .collect();
    match matching[..] {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no on-target test matches '{filter}'; tests: {}",
            names.join(", ")
        ),
        _ => bail!(
            "--gdb debugs one test, but '{filter}' matches {}; give one of them",
            matching
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The time a test may run: `--timeout`, or the test's own board.toml `timeout` when that is
/// longer (never shorter: `--timeout` is the floor the user asked for).
fn test_timeout(cli: Duration, own: Option<f64>) -> Duration {
    own.map_or(cli, |s| cli.max(Duration::from_secs_f64(s)))
}

/// One verdict. Err carries the first reason, for the summary. With `gdb`, QEMU starts
/// halted with its gdbstub, the attach command is printed, the console is shown and there
/// is no timeout.
#[allow(clippy::too_many_arguments)]
fn run_one(
    root: &Path,
    board: &Board,
    qemu: &Qemu,
    artifact: &cargo::Artifact,
    name: &str,
    variant: &Variant,
    sel: &Selection,
    gdb: bool,
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
    let mut extra: Vec<String> = qmp::qemu_args(&socket).into();
    if gdb {
        let gdb_socket = scratch.path().join("gdb.sock");
        extra.extend(gdb::qemu_args(&gdb_socket));
        gdb::print_attach_instructions(&artifact.path, &gdb_socket, board);
    }
    let args = qemu::command_line(variant, &kernel, &extra);
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
    if sel.verbose || gdb {
        println!("$ {} {}", qemu.path.display(), args.join(" "));
    }
    let verbose = sel.verbose || gdb;
    let outcome = qemu::run_with_screendumps(
        &qemu.path,
        &args,
        &defmt,
        (!gdb).then_some(test_timeout(sel.timeout, expectation.timeout)),
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

    #[test]
    fn a_tests_own_timeout_only_lengthens_the_cli_one() {
        let cli = Duration::from_secs(30);
        assert_eq!(test_timeout(cli, None), cli);
        assert_eq!(test_timeout(cli, Some(120.0)), Duration::from_secs(120));
        assert_eq!(test_timeout(cli, Some(5.0)), cli);
    }

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

    #[test]
    fn gdb_picks_exactly_one_test() {
        let names = lines(&["boot", "boot_ticks", "timer", "data_abort"]);
        assert_eq!(pick_one(&names, &lines(&["boot"])).unwrap(), "boot");
        assert_eq!(pick_one(&names, &lines(&["abort"])).unwrap(), "data_abort");
        let e = pick_one(&names, &lines(&["boo"])).unwrap_err().to_string();
        assert!(e.contains("matches boot, boot_ticks"), "{e}");
        let e = pick_one(&names, &lines(&["nope"])).unwrap_err().to_string();
        assert!(e.contains("no on-target test matches 'nope'"), "{e}");
        let e = pick_one(&names, &[]).unwrap_err().to_string();
        assert!(e.contains("exactly one test name"), "{e}");
        assert!(pick_one(&names, &lines(&["boot", "timer"])).is_err());
    }
}
