//! `cargo xtask fuzz [TARGET] [--time S]` and the "fuzz" section of `cargo xtask test`:
//! the cargo-fuzz targets of fuzz/ (its own workspace, nightly only, as Miri), each run for a
//! while, one summary line per target (doc/testing.md "Fuzzing").

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::cargo::{self, cargo};
use crate::report::Section;
use crate::toolchain::{self, Wanted};

/// The fuzz crate's directory under the workspace root.
pub const DIR: &str = "fuzz";
/// Seconds each target runs in the CI smoke (`cargo xtask test`): long enough to get past the
/// seeds into mutations, short enough for every target in a couple of minutes.
pub const SMOKE_SECS: u64 = 10;
/// The install command when cargo-fuzz is missing.
const INSTALL: [&str; 4] = ["+nightly", "install", "cargo-fuzz", "--locked"];

/// The `[[bin]]` names of fuzz/Cargo.toml, in file order: the fuzz targets.
pub fn targets_from_manifest(text: &str) -> Result<Vec<String>> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| anyhow::anyhow!("not valid TOML: {e}"))?;
    let Some(bins) = table.get("bin") else {
        bail!("no [[bin]] entries (one per fuzz target)");
    };
    let bins = bins.as_array().context("`bin` is not an array of tables")?;
    let mut names = Vec::new();
    for (i, bin) in bins.iter().enumerate() {
        let name = bin
            .get("name")
            .and_then(toml::Value::as_str)
            .with_context(|| format!("[[bin]] number {} has no `name`", i + 1))?;
        names.push(name.to_string());
    }
    if names.is_empty() {
        bail!("no [[bin]] entries (one per fuzz target)");
    }
    Ok(names)
}

/// The targets of the checkout's fuzz/Cargo.toml.
pub fn targets(root: &Path) -> Result<Vec<String>> {
    let path = root.join(DIR).join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    targets_from_manifest(&text).with_context(|| format!("{}", path.display()))
}

/// libFuzzer's figures at the end of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Inputs executed (`stat::number_of_executed_units`, else `Done N runs`, else the last
    /// status line's `#N`).
    pub execs: u64,
    pub execs_per_sec: Option<u64>,
    /// Coverage points (`cov:`) and features (`ft:`) of the last status line.
    pub cov: Option<u64>,
    pub ft: Option<u64>,
    /// Corpus entries and their total size in bytes (`corp: N/Sb`).
    pub corpus: Option<(u64, u64)>,
    /// Seconds, from `Done N runs in S second(s)`.
    pub secs: Option<u64>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        write!(f, "{} execs", self.execs)?;
        if let Some(s) = self.secs {
            write!(f, " in {s} s")?;
        }
        if let Some(r) = self.execs_per_sec {
            write!(f, " ({r}/s)")?;
        }
        write!(f, ", cov {}, ft {}", opt(self.cov), opt(self.ft))?;
        match self.corpus {
            Some((n, b)) if b >= 1 << 20 => write!(f, ", corpus {n} ({} MiB)", b >> 20),
            Some((n, b)) if b >= 1 << 10 => write!(f, ", corpus {n} ({} KiB)", b >> 10),
            Some((n, b)) => write!(f, ", corpus {n} ({b} b)"),
            None => write!(f, ", corpus ?"),
        }
    }
}

/// The number after `key` in a status line (`cov: 123`), if any.
fn field(line: &str, key: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == key)?;
    words.next().map(str::to_string)
}

/// `corp: 2854/3533Kb`: entries and total size, which libFuzzer prints in b, Kb or Mb.
fn corpus_size(text: &str) -> Option<(u64, u64)> {
    let (n, size) = text.split_once('/')?;
    let (digits, shift) = if let Some(d) = size.strip_suffix("Mb") {
        (d, 20)
    } else if let Some(d) = size.strip_suffix("Kb") {
        (d, 10)
    } else {
        (size.strip_suffix('b')?, 0)
    };
    Some((
        n.parse().ok()?,
        digits.parse::<u64>().ok()?.checked_mul(1 << shift)?,
    ))
}

/// libFuzzer's final figures in its output (stderr); None when it printed no status line
/// (it never started).
pub fn parse_stats(output: &str) -> Option<Stats> {
    let mut stats = Stats::default();
    let mut seen = false;
    for line in output.lines().map(str::trim) {
        // `#1234	DONE   cov: 456 ft: 1234 corp: 12/345b lim: 4096 exec/s: 2057 rss: 45Mb`
        if let Some(rest) = line.strip_prefix('#')
            && let Some(n) = rest.split_whitespace().next()
            && let Ok(n) = n.parse::<u64>()
            && line.contains("cov:")
        {
            seen = true;
            stats.execs = n;
            let num = |k: &str| field(line, k).and_then(|v| v.parse().ok());
            stats.cov = num("cov:").or(stats.cov);
            stats.ft = num("ft:").or(stats.ft);
            stats.execs_per_sec = num("exec/s:").or(stats.execs_per_sec);
            // Every status line has the corpus as it is then; a later one replaces it.
            stats.corpus = field(line, "corp:").as_deref().and_then(corpus_size);
        } else if let Some(rest) = line.strip_prefix("Done ") {
            // `Done 1234 runs in 10 second(s)`
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let [n, "runs", "in", s, ..] = words[..]
                && let (Ok(n), Ok(s)) = (n.parse(), s.parse())
            {
                seen = true;
                stats.execs = n;
                stats.secs = Some(s);
            }
        } else if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            if let Ok(n) = v.trim().parse() {
                seen = true;
                stats.execs = n;
            }
        } else if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:")
            && let Ok(r) = v.trim().parse()
        {
            stats.execs_per_sec = Some(r);
        }
    }
    seen.then_some(stats)
}

/// Where libFuzzer wrote the input that crashed (`Test unit written to <path>`), if it did.
pub fn crash_artifact(output: &str) -> Option<PathBuf> {
    output.lines().find_map(|l| {
        let (_, path) = l.split_once("Test unit written to ")?;
        let path = path.trim();
        (!path.is_empty()).then(|| PathBuf::from(path))
    })
}

/// One target's outcome.
#[derive(Debug)]
pub enum Outcome {
    /// Ran its time without a crash.
    Clean(Stats),
    /// Crashed (or failed to run): what to say, with the artifact path when there is one.
    Failed(String),
}

/// Nightly and cargo-fuzz, installed when missing, each with an `install:` line.
pub fn ensure_tools(root: &Path) -> Result<()> {
    toolchain::ensure(&Wanted {
        channel: "nightly".into(),
        profile: Some("minimal".into()),
        targets: Vec::new(),
        components: Vec::new(),
        why: "the fuzz step".into(),
    })?;
    let mut probe = cargo(root);
    probe
        .args(["+nightly", "fuzz", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if probe.status().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let mut install = cargo(root);
    install.args(INSTALL);
    println!(
        "install: cargo-fuzz is not installed (the fuzz step; takes a few minutes): $ cargo {}",
        INSTALL.join(" ")
    );
    if !cargo::run_plain(install)? {
        bail!(
            "`cargo {}` failed; install cargo-fuzz with it and run again",
            INSTALL.join(" ")
        );
    }
    Ok(())
}

/// `cargo +nightly fuzz build` of one target, or of all: build errors are reported as such,
/// before any target runs.
fn build(root: &Path, target: Option<&str>) -> Result<()> {
    let mut cmd = cargo(root);
    cmd.args(["+nightly", "fuzz", "build", "--fuzz-dir", DIR]);
    cmd.args(target);
    if !cargo::run_plain(cmd)? {
        bail!("building the fuzz targets failed (compiler messages above)");
    }
    Ok(())
}

fn run_command(root: &Path, target: &str, secs: u64) -> Command {
    let mut cmd = cargo(root);
    cmd.args(["+nightly", "fuzz", "run", "--fuzz-dir", DIR, target, "--"])
        .arg(format!("-max_total_time={secs}"))
        .arg("-print_final_stats=1");
    cmd
}

/// Runs one target for `secs` seconds, echoing libFuzzer's progress lines (not every new
/// coverage line) and keeping its output for the figures.
pub fn run_target(root: &Path, target: &str, secs: u64) -> Outcome {
    let mut cmd = run_command(root, target, secs);
    println!("$ {}", cargo::display(&cmd));
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot run cargo fuzz: {e}")),
    };
    // libFuzzer writes to stderr; the target's own prints (a panic message) go to stdout.
    let stdout = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("{line}");
                all.push_str(&line);
                all.push('\n');
            }
            all
        })
    });
    let mut output = String::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            // Progress only: not every new unit, function or recommended dictionary entry.
            let noisy = (line.starts_with('#')
                && !(line.contains("INITED") || line.contains("pulse") || line.contains("DONE")))
                || line.trim_start().starts_with("NEW_FUNC")
                || (line.starts_with('"') && line.contains("# Uses:"));
            if !noisy {
                eprintln!("{line}");
            }
            output.push_str(&line);
            output.push('\n');
        }
    }
    if let Some(t) = stdout {
        output.push_str(&t.join().unwrap_or_default());
    }
    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(format!("cannot wait for cargo fuzz: {e}")),
    };
    let stats = parse_stats(&output);
    match (status.success(), crash_artifact(&output), stats) {
        (true, _, Some(stats)) => Outcome::Clean(stats),
        (true, _, None) => Outcome::Failed("ran, but libFuzzer printed no figures".into()),
        (false, Some(path), _) => Outcome::Failed(format!(
            "crashed; input saved in {} (rerun: cargo +nightly fuzz run --fuzz-dir {DIR} {target} {})",
            path.display(),
            path.display()
        )),
        (false, None, _) => Outcome::Failed(format!(
            "cargo fuzz run failed with {status} (output above)"
        )),
    }
}

/// Which targets `name` selects: all when None; an unknown one is an error naming the known.
pub fn select(all: &[String], name: Option<&str>) -> Result<Vec<String>> {
    match name {
        None => Ok(all.to_vec()),
        Some(n) if all.iter().any(|t| t == n) => Ok(vec![n.to_string()]),
        Some(n) => bail!("unknown fuzz target '{n}'; targets: {}", all.join(", ")),
    }
}

/// Runs the targets for `secs` each, one pass or failure per target in `section`, one
/// summary line each.
fn run_all(root: &Path, targets: &[String], secs: u64, section: &mut Section) -> Vec<String> {
    let mut lines = Vec::new();
    for target in targets {
        match run_target(root, target, secs) {
            Outcome::Clean(stats) => {
                section.pass();
                lines.push(format!("fuzz {target}: ok, {stats}"));
            }
            Outcome::Failed(why) => {
                lines.push(format!("fuzz {target}: FAILED, {why}"));
                section.fail(format!("{target}: {why}"));
            }
        }
    }
    lines
}

/// `cargo xtask fuzz [TARGET] [--time S]`: Ok(true) when no target crashed.
pub fn fuzz(root: &Path, target: Option<&str>, secs: u64) -> Result<bool> {
    if secs == 0 {
        bail!("--time must be at least 1 second");
    }
    let chosen = select(&targets(root)?, target)?;
    ensure_tools(root)?;
    build(root, target)?;
    let mut section = Section::new("fuzz");
    let lines = run_all(root, &chosen, secs, &mut section);
    println!();
    for line in &lines {
        println!("{line}");
    }
    Ok(section.failed == 0)
}

/// The "fuzz" section of `cargo xtask test`: every target for [`SMOKE_SECS`], set-up
/// included (nightly and cargo-fuzz on a fresh machine).
pub fn smoke(root: &Path) -> Section {
    let mut s = Section::new("fuzz");
    let targets = match targets(root) {
        Ok(t) => t,
        Err(e) => {
            s.fail(format!("{e:#}"));
            return s;
        }
    };
    if let Err(e) = ensure_tools(root).and_then(|()| build(root, None)) {
        s.fail(format!("{e:#}"));
        return s;
    }
    for line in run_all(root, &targets, SMOKE_SECS, &mut s) {
        println!("{line}");
        s.note(line);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end of a real 10 s run (cargo fuzz run ... -- -max_total_time=10
    /// -print_final_stats=1), `NEW` lines shortened.
    const RUN: &str = "\
INFO: Running with entropic power schedule (0xFF, 100).
INFO: Seed: 2794133475
INFO: Loaded 1 modules   (48731 inline 8-bit counters): 48731 [0x5581, 0x5591),
INFO:        5 files found in fuzz/corpus/board_toml
#6	INITED cov: 1532 ft: 1533 corp: 5/2893b exec/s: 0 rss: 48Mb
#7	NEW    cov: 1540 ft: 1561 corp: 6/3012b lim: 4096 exec/s: 0 rss: 48Mb L: 119/2286 MS: 1 ChangeBit-
#65536	pulse  cov: 2210 ft: 4410 corp: 310/40Kb lim: 4096 exec/s: 21845 rss: 301Mb
#201764	DONE   cov: 2291 ft: 4797 corp: 352/44Kb lim: 4096 exec/s: 18342 rss: 312Mb
Done 201764 runs in 11 second(s)
stat::number_of_executed_units: 201764
stat::average_exec_per_sec:     18342
stat::new_units_added:          611
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              312
";

    #[test]
    fn final_figures_are_read() {
        assert_eq!(
            parse_stats(RUN),
            Some(Stats {
                execs: 201_764,
                execs_per_sec: Some(18_342),
                cov: Some(2291),
                ft: Some(4797),
                corpus: Some((352, 44 << 10)),
                secs: Some(11),
            })
        );
        assert_eq!(
            parse_stats(RUN).unwrap().to_string(),
            "201764 execs in 11 s (18342/s), cov 2291, ft 4797, corpus 352 (44 KiB)"
        );
    }

    #[test]
    fn a_run_cut_short_keeps_the_last_status_line() {
        // A crash: no DONE, no final stats.
        let cut: String = RUN.lines().take(7).map(|l| format!("{l}\n")).collect();
        let s = parse_stats(&cut).unwrap();
        assert_eq!((s.execs, s.cov, s.ft), (65_536, Some(2210), Some(4410)));
        assert_eq!((s.corpus, s.secs), (Some((310, 40 << 10)), None));
        let cut: String = RUN.lines().take(6).map(|l| format!("{l}\n")).collect();
        assert_eq!(parse_stats(&cut).unwrap().corpus, Some((6, 3012)));
        // A status line whose corpus does not parse does not keep an older figure.
        let odd = format!("{cut}#9\tpulse  cov: 1 ft: 1 corp: 7/3Gb exec/s: 1\n");
        assert_eq!(parse_stats(&odd).unwrap().corpus, None);
        assert_eq!(corpus_size("2854/3533Kb"), Some((2854, 3533 << 10)));
        assert_eq!(corpus_size("3/2Mb"), Some((3, 2 << 20)));
        assert_eq!(
            parse_stats("error: could not compile `dmasync-fuzz`\n"),
            None
        );
        assert_eq!(parse_stats(""), None);
    }

    #[test]
    fn the_crash_artifact_is_found() {
        let out = "\
thread '<unnamed>' panicked at fuzz_targets/board_toml.rs:30:17:
accepted variant tiny cannot hold the image
==4242== ERROR: libFuzzer: deadly signal
artifact_prefix='/w/fuzz/artifacts/board_toml/'; Test unit written to /w/fuzz/artifacts/board_toml/crash-da39a3ee
Base64: AA==
";
        assert_eq!(
            crash_artifact(out),
            Some(PathBuf::from("/w/fuzz/artifacts/board_toml/crash-da39a3ee"))
        );
        assert_eq!(crash_artifact(RUN), None);
    }

    #[test]
    fn targets_are_the_bins_in_order() {
        let text = "[package]\nname = \"f\"\n[workspace]\n\
            [[bin]]\nname = \"b\"\npath = \"b.rs\"\n[[bin]]\nname = \"a\"\npath = \"a.rs\"\n";
        assert_eq!(targets_from_manifest(text).unwrap(), ["b", "a"]);
        let none = format!(
            "{:#}",
            targets_from_manifest("[package]\nname = \"f\"\n").unwrap_err()
        );
        assert!(none.contains("no [[bin]]"), "{none}");
        let nameless = format!(
            "{:#}",
            targets_from_manifest("[[bin]]\nname = \"a\"\n[[bin]]\npath = \"x.rs\"\n").unwrap_err()
        );
        assert!(
            nameless.contains("[[bin]] number 2 has no `name`"),
            "{nameless}"
        );
        assert!(targets_from_manifest("[[bin]\n").is_err());
    }

    #[test]
    fn the_checkouts_targets_include_the_xtask_ones() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let all = targets(root).unwrap();
        for t in [
            "board_toml",
            "console_stream",
            "qmp_reply",
            "screendump_request",
        ] {
            assert!(all.iter().any(|a| a == t), "{t} missing from {all:?}");
        }
        // Every target has its source and at least one committed seed.
        for t in &all {
            assert!(
                root.join(DIR)
                    .join(format!("fuzz_targets/{t}.rs"))
                    .is_file(),
                "{t}"
            );
            let seeds = std::fs::read_dir(root.join(DIR).join("corpus").join(t))
                .map(|d| {
                    d.flatten()
                        .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
                        .count()
                })
                .unwrap_or(0);
            assert!(
                seeds > 0,
                "fuzz target {t} has no seed-* in fuzz/corpus/{t}"
            );
        }
    }

    #[test]
    fn selection_and_the_run_line() {
        let all = vec!["a".to_string(), "b".to_string()];
        assert_eq!(select(&all, None).unwrap(), all);
        assert_eq!(select(&all, Some("b")).unwrap(), ["b"]);
        let e = select(&all, Some("c")).unwrap_err().to_string();
        assert_eq!(e, "unknown fuzz target 'c'; targets: a, b");
        let line = cargo::display(&run_command(Path::new("/w"), "a", 7));
        assert!(
            line.ends_with(
                "cargo +nightly fuzz run --fuzz-dir fuzz a -- -max_total_time=7 -print_final_stats=1"
            ),
            "{line}"
        );
    }
}
