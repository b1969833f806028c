//! `cargo xtask test`: the steps in order, each reported, none stopping the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::boards::{Board, Boards};
use crate::cargo::{self, cargo};
use crate::cli::TestArgs;
use crate::report::{self, Counts, Section};
use crate::target_tests::{self, Selection};

const AARCH64: &str = "aarch64-unknown-none";
const ARMV7: &str = "armv7a-none-eabi";
/// Portable crates that must build for every bare-metal target.
const PORTABLE_PACKAGES: &[&str] = &[
    "dmasync-hal",
    "dmasync-sync",
    "dmasync-engine",
    "dmasync-soft",
    "dmasync-pl310",
    "dmasync-pl330",
];
/// Architecture crates with host unit tests (recording fakes): their libraries are checked for
/// the bare-metal target, their tests on the host.
const HOST_TESTED_ARCH: &[&str] = &["dmasync-armv7a"];

/// Architecture glue per bare-metal target: linted with the boards, test binaries included.
fn arch_packages(target: &str) -> &'static [&'static str] {
    match target {
        AARCH64 => &["dmasync-firmware", "dmasync-aarch64"],
        ARMV7 => &["dmasync-firmware", "dmasync-armv7a"],
        _ => &[],
    }
}

pub fn test(root: &Path, boards: &Boards, args: &TestArgs) -> Result<ExitCode> {
    let selected: Vec<&Board> = match &args.board {
        Some(name) => vec![boards.get(name)?],
        None => boards.all.iter().collect(),
    };
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .context("--timeout must be a positive number of seconds")?;
    check_selection(root, &selected, args)?;
    if args.gdb {
        let [board] = selected[..] else {
            bail!("--gdb needs --board");
        };
        crate::toolchain::ensure_pinned(root)?;
        let passed = target_tests::debug_one(
            root,
            board,
            &args.filters,
            args.variant.as_deref(),
            args.verbose,
        )?;
        return Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    // Clippy for the bare-metal targets and the firmware builds need them: add whatever the
    // pinned toolchain lacks before anything builds.
    crate::toolchain::ensure_pinned(root)?;

    let narrowed = !args.filters.is_empty() || args.variant.is_some();
    if narrowed && !args.target_only {
        println!("note: FILTER/--variant given: running only the on-target tests");
    }
    let host_steps = !args.target_only && !narrowed;
    let target_steps = !args.host_only;

    let mut sections = Vec::new();
    if host_steps {
        // Before anything links a host test: the pixel oracle needs libpixman-1-dev.
        sections.push(timed("host packages", host_packages));
        sections.push(timed("checks", || checks(root, boards)));
        sections.push(timed("host tests", || host_tests(root)));
        sections.push(timed("loom", || loom(root)));
        sections.push(timed("miri", || miri(root)));
        sections.push(timed("fuzz", || crate::fuzz::smoke(root)));
    }
    if target_steps {
        let sel = Selection {
            filters: &args.filters,
            variant: args.variant.as_deref(),
            timeout,
            verbose: args.verbose,
        };
        sections.push(timed("target tests", || {
            let mut section = Section::new("target tests");
            let mut qemus = BTreeMap::new();
            for board in &selected {
                target_tests::run_board(root, board, &sel, &mut qemus, &mut section);
                crate::flash_cmd::rehearsal_tests(root, board, &sel, &mut section);
            }
            // The board new-board generates, in a copy of the workspace (a whole-workspace
            // check: not part of one board's or one variant's tests).
            if args.board.is_none()
                && args.variant.is_none()
                && sel.wants_test(crate::new_board::SCAFFOLD_TEST)
            {
                crate::new_board::scaffold_check(root, &sel, &mut qemus, &mut section);
            }
            section
        }));
    }

    let (lines, ok) = report::summary(&sections);
    println!();
    for line in lines {
        println!("{line}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Unknown test names and variants are errors before anything slow runs.
fn check_selection(root: &Path, boards: &[&Board], args: &TestArgs) -> Result<()> {
    if let Some(variant) = &args.variant {
        let known: Vec<String> = boards
            .iter()
            .flat_map(|b| b.variants())
            .map(|v| v.name)
            .collect();
        if !known.contains(variant) {
            bail!(
                "unknown variant '{variant}'; variants: {}",
                known.join(", ")
            );
        }
    }
    if args.filters.is_empty() {
        return Ok(());
    }
    let mut names = Vec::new();
    for board in boards {
        names.extend(cargo::test_target_names(root, &board.package)?);
        names.push(crate::gdb::GDB_TEST.to_string());
        if board.flash.uboot_serial.is_some() {
            names.extend(crate::flash_cmd::REHEARSAL_TESTS.map(|(n, _)| n.to_string()));
            names.push(crate::flash_cmd::FIT_REHEARSAL_TEST.to_string());
        }
        if board.flash.sd_image.is_some() {
            names.push(crate::flash_cmd::SD_REHEARSAL_TEST.to_string());
        }
    }
    if args.board.is_none() {
        names.push(crate::new_board::SCAFFOLD_TEST.to_string());
    }
    names.sort();
    names.dedup();
    for filter in &args.filters {
        if !names.iter().any(|n| n.contains(filter.as_str())) {
            let valid = if names.is_empty() {
                "(none yet)".to_string()
            } else {
                names.join(", ")
            };
            bail!("no on-target test matches '{filter}'; tests: {valid}");
        }
    }
    Ok(())
}

fn timed(name: &str, step: impl FnOnce() -> Section) -> Section {
    println!("\n==> {name}");
    let start = Instant::now();
    let mut section = step();
    let took = start.elapsed().as_secs_f64();
    println!("==> {name}: done in {took:.1} s");
    section.note(format!("took {took:.1} s"));
    section
}

/// Runs one check command; one pass or one failure.
fn check(section: &mut Section, what: &str, cmd: Command) {
    match cargo::run_plain(cmd) {
        Ok(true) => section.pass(),
        Ok(false) => section.fail(format!("{what} failed")),
        Err(e) => section.fail(format!("{what}: {e:#}")),
    }
}

/// `cargo clippy -D warnings`: on the host for every target of the default members; for a
/// bare-metal target for `packages`, with their test binaries too when `all_targets` (board
/// and architecture crates, whose tests are `no_std`; the portable crates' tests need std).
fn clippy(root: &Path, target: Option<&str>, packages: &[String], all_targets: bool) -> Command {
    let mut cmd = cargo(root);
    cmd.arg("clippy");
    match target {
        Some(t) => {
            cmd.args(["--target", t]);
            for p in packages {
                cmd.args(["-p", p]);
            }
            if all_targets {
                cmd.arg("--all-targets");
            }
        }
        None => {
            cmd.arg("--all-targets");
        }
    }
    cmd.args(["--", "-D", "warnings"]);
    cmd
}

fn checks(root: &Path, boards: &Boards) -> Section {
    let mut s = Section::new("checks");
    let mut fmt = cargo(root);
    fmt.args(["fmt", "--all", "--", "--check"]);
    check(&mut s, "cargo fmt --check", fmt);
    check(&mut s, "clippy (host)", clippy(root, None, &[], true));
    for target in [AARCH64, ARMV7] {
        // Board packages of this architecture and its glue, test binaries included ...
        let mut firmware: Vec<String> = boards
            .all
            .iter()
            .filter(|b| b.target == target)
            .map(|b| b.package.clone())
            .collect();
        // (arch crates whose unit tests run on the host, like dmasync-armv7a's cache-order
        // tests, join with their library only, below: their tests need std)
        firmware.extend(
            arch_packages(target)
                .iter()
                .filter(|p| !HOST_TESTED_ARCH.contains(p))
                .map(|p| p.to_string()),
        );
        // ... then the portable crates, whose libraries must build without std.
        let mut packages = firmware.clone();
        packages.extend(
            arch_packages(target)
                .iter()
                .filter(|p| HOST_TESTED_ARCH.contains(p))
                .map(|p| p.to_string()),
        );
        packages.extend(PORTABLE_PACKAGES.iter().map(|p| p.to_string()));
        let has_tests = boards.all.iter().any(|b| b.target == target);
        if has_tests {
            check(
                &mut s,
                &format!("clippy ({target}, firmware and tests)"),
                clippy(root, Some(target), &firmware, true),
            );
        }
        check(
            &mut s,
            &format!("clippy ({target})"),
            clippy(root, Some(target), &packages, false),
        );
    }
    s
}

fn counted(section: &mut Section, what: &str, cmd: Command) {
    match cargo::run_echoing(cmd) {
        Ok((ok, out)) => section.add_cargo_test(what, Counts::parse(&out), ok),
        Err(e) => section.fail(format!("{what}: {e:#}")),
    }
}

/// The Debian packages the host tests link ([`crate::provision::HOST_PACKAGES`]) and the
/// tools they check xtask's output with ([`crate::flash_cmd::tools::HOST_TEST_TOOLS`]:
/// mkimage, dfu-util, fastboot, uuu), installed when missing and this machine lets us; a
/// failure here names the commands to run (and those host tests then fail naming them too).
fn host_packages() -> Section {
    let mut s = Section::new("host packages");
    match crate::provision::ensure_host_packages() {
        Ok(installed) => {
            if !installed.is_empty() {
                s.note(format!("installed {}", installed.join(" ")));
            }
            s.pass();
        }
        Err(e) => s.fail(format!("{e:#}")),
    }
    match crate::flash_cmd::tools::ensure(crate::flash_cmd::tools::HOST_TEST_TOOLS) {
        Ok(()) => s.pass(),
        Err(e) => s.fail(format!("host-test tools: {e:#}")),
    }
    s
}

fn host_tests(root: &Path) -> Section {
    let mut s = Section::new("host tests");
    let mut cmd = cargo(root);
    cmd.arg("test");
    counted(&mut s, "cargo test", cmd);
    s
}

/// `sync/tests/<prefix>*.rs` as test names, sorted.
fn test_files(root: &Path, prefix: &str) -> Vec<String> {
    let dir = root.join("sync/tests");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".rs")?;
            stem.starts_with(prefix).then(|| stem.to_string())
        })
        .collect();
    names.sort();
    names
}

fn loom(root: &Path) -> Section {
    let mut s = Section::new("loom");
    let tests = test_files(root, "loom_");
    if tests.is_empty() {
        println!("note: no sync/tests/loom_*.rs yet; nothing to model-check");
        s.note("no sync/tests/loom_*.rs yet");
        return s;
    }
    // Keep the user's flags; add the cfg the loom shim switches on.
    let rustflags = match std::env::var("RUSTFLAGS") {
        Ok(f) if !f.trim().is_empty() => format!("{f} --cfg loom"),
        _ => "--cfg loom".to_string(),
    };
    for test in tests {
        let mut cmd = cargo(root);
        cmd.env("RUSTFLAGS", &rustflags)
            .env("LOOM_MAX_PREEMPTIONS", "2")
            .env("CARGO_TARGET_DIR", target_subdir(root, "loom"))
            // The release profile is tuned for firmware images (fat LTO, one codegen unit,
            // full debug info); for a host model checker that only makes the build slow.
            .env("CARGO_PROFILE_RELEASE_LTO", "off")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only")
            .args(["test", "--release", "-p", "dmasync-sync", "--test", &test]);
        counted(&mut s, &test, cmd);
    }
    s
}

/// A separate target dir so a step's flags never invalidate the normal build.
fn target_subdir(root: &Path, name: &str) -> PathBuf {
    root.join("target").join(name)
}

fn miri(root: &Path) -> Section {
    let mut s = Section::new("miri");
    if let Err(e) = crate::toolchain::ensure_miri(root) {
        s.fail(format!("{e:#}"));
        return s;
    }
    let mut cmd = cargo(root);
    cmd.env("CARGO_TARGET_DIR", target_subdir(root, "miri"))
        .args(["+nightly", "miri", "test", "-p", "dmasync-sync", "--lib"]);
    for test in test_files(root, "miri_") {
        cmd.args(["--test", &test]);
    }
    counted(&mut s, "cargo miri test", cmd);
    // The attacks on the API (issue #10) under Miri too. They leak on purpose
    // (`mem::forget` of guards, sets and contexts is what they try), so Miri's leak check,
    // which would fail them for it, is off for this run only.
    let soundness = test_files(root, "soundness_");
    if !soundness.is_empty() {
        let mut cmd = cargo(root);
        cmd.env("CARGO_TARGET_DIR", target_subdir(root, "miri"))
            .env("MIRIFLAGS", "-Zmiri-ignore-leaks")
            .args(["+nightly", "miri", "test", "-p", "dmasync-sync"]);
        for test in soundness {
            cmd.args(["--test", &test]);
        }
        counted(&mut s, "cargo miri test (soundness)", cmd);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_matching_files_are_steps() {
        let dir = std::env::temp_dir().join(format!("xtask-steps-{}", std::process::id()));
        let tests = dir.join("sync/tests");
        std::fs::create_dir_all(&tests).unwrap();
        for f in [
            "loom_fence.rs",
            "loom_ww.rs",
            "fence.rs",
            "loom_notes.txt",
            "miri_x.rs",
        ] {
            std::fs::write(tests.join(f), "").unwrap();
        }
        assert_eq!(test_files(&dir, "loom_"), vec!["loom_fence", "loom_ww"]);
        assert_eq!(test_files(&dir, "miri_"), vec!["miri_x"]);
        assert!(test_files(Path::new("/nonexistent"), "loom_").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clippy_lines() {
        let root = Path::new("/w");
        let host = cargo::display(&clippy(root, None, &[], true));
        assert!(
            host.ends_with("cargo clippy --all-targets -- -D warnings"),
            "{host}"
        );
        let pk = vec!["dmasync-qemu-virt".to_string(), "dmasync-sync".to_string()];
        let cross = cargo::display(&clippy(root, Some(AARCH64), &pk, false));
        assert!(
            cross.ends_with(
                "cargo clippy --target aarch64-unknown-none -p dmasync-qemu-virt -p dmasync-sync -- -D warnings"
            ),
            "{cross}"
        );
        let tests = cargo::display(&clippy(root, Some(AARCH64), &pk[..1], true));
        assert!(
            tests.ends_with("cargo clippy --target aarch64-unknown-none -p dmasync-qemu-virt --all-targets -- -D warnings"),
            "{tests}"
        );
        assert_eq!(arch_packages(ARMV7), ["dmasync-firmware", "dmasync-armv7a"]);
        assert!(
            HOST_TESTED_ARCH
                .iter()
                .all(|p| arch_packages(ARMV7).contains(p))
        );
    }
}
