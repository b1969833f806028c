//! `cargo xtask bench`: on-target benchmarks, counted in instructions under QEMU `-icount`.
//!
//! Builds the board's `[[bench]]` targets (`boards/<board>/benches/*.rs`, firmware images that
//! print `bench <case>: ...`, `result <case>: N instructions/op` and `ratio ...` lines), boots
//! each one under QEMU with `-icount shift=0` (precise, deterministic instruction counting:
//! the PMU's INST_RETIRED event counts exactly the guest's instructions) the given number of
//! times, prints its figures, and checks that every run printed the same figures. Not part of
//! `cargo xtask test`.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::boards::{Board, Variant};
use crate::cargo::{self, Artifact};
use crate::decode::Defmt;
use crate::qemu::{self, Ending};
use crate::{firmware, provision, toolchain};

/// QEMU's `-icount` options for deterministic instruction counting: one instruction per
/// virtual nanosecond, precise mode (what QEMU's PMU needs for INST_RETIRED). A board may
/// add `sleep=off` (board.toml `[qemu] bench_icount`): when every vCPU is idle, the virtual
/// clock then jumps to the next timer deadline instead of following the host's clock, so
/// idle stretches stop depending on the host's load. imx8mp-evk's headless frame needs it
/// (4 cores; without it one frame varied 4x between runs); qemu-virt's frame waits for
/// virtio-gpu, which QEMU completes at host pace either way, and keeps the default so its
/// figures stay comparable with the earlier ones.
pub const ICOUNT: &str = "shift=0";

/// The `-icount` argument pair for `board`.
fn icount_args(board: &Board) -> Result<Vec<String>> {
    let opts = board.qemu.bench_icount.as_deref().unwrap_or(ICOUNT);
    if !opts.split(',').any(|o| o == "shift=0") {
        bail!(
            "board {}: [qemu] bench_icount = {opts:?} lacks shift=0, which the PMU's \
             INST_RETIRED needs (precise icount)",
            board.name
        );
    }
    Ok(vec!["-icount".into(), opts.into()])
}

/// Largest relative difference between two runs' figures that are accepted as the same
/// measurement. Images with only the CPU in the measured region repeat exactly; one that
/// waits for a device (the demo frame and virtio-gpu) varies by a few hundred instructions
/// in millions, because QEMU's main loop completes device requests at host pace.
const TOLERANCE: f64 = 0.001;

/// A bench image prints this when its measured region waits for a device that QEMU runs at
/// host pace (its main loop), so its counts include a varying number of wait-loop
/// instructions: differences between runs are then reported, not failed.
use dmasync_protocol::bench::DEVICE_PACED;

/// The largest relative difference between corresponding numbers of two runs' figure
/// lines; `None` when they differ in anything but numbers.
fn relative_difference(a: &[String], b: &[String]) -> Option<f64> {
    fn split(line: &str) -> (String, Vec<f64>) {
        let mut text = String::new();
        let mut nums = Vec::new();
        let mut cur = String::new();
        for c in line.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_digit() || (c == '.' && !cur.is_empty()) {
                cur.push(c);
            } else {
                if !cur.is_empty() {
                    nums.push(cur.trim_end_matches('.').parse().unwrap_or(f64::NAN));
                    text.push('#');
                    cur.clear();
                }
                text.push(c);
            }
        }
        (text, nums)
    }
    if a.len() != b.len() {
        return None;
    }
    let mut worst = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let ((tx, nx), (ty, ny)) = (split(x), split(y));
        if tx != ty || nx.len() != ny.len() {
            return None;
        }
        for (p, q) in nx.iter().zip(&ny) {
            let d = (p - q).abs() / p.abs().max(q.abs()).max(1.0);
            if d.is_nan() {
                return None;
            }
            worst = worst.max(d);
        }
    }
    Some(worst)
}

/// Lines of a benchmark's output that carry figures (the rest is boot chatter): every line
/// that starts like a `bench` / `result` / `ratio` figure, well-formed or not (they are
/// compared as text and numbers, `relative_difference`).
fn figures(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| dmasync_protocol::bench::parse_figure(l).is_some())
        .cloned()
        .collect()
}

/// `cargo build --release -p <package> --target <target> --benches`: the bench images.
fn build_benches(root: &Path, board: &Board) -> Result<Vec<Artifact>> {
    let mut cmd = cargo::cargo(root);
    cmd.args([
        "build",
        "--release",
        "-p",
        &board.package,
        "--target",
        &board.target,
        "--benches",
        "--message-format=json-render-diagnostics",
    ]);
    println!("$ {}", cargo::display(&cmd));
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", cargo::display(&cmd)))?;
    if !out.status.success() {
        bail!(
            "building the benchmarks of {} failed (compiler messages above)",
            board.package
        );
    }
    Ok(
        cargo::artifacts_from_json(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .filter(|a| a.kind == "bench")
            .collect(),
    )
}

pub fn bench(
    root: &Path,
    board: &Board,
    filters: &[String],
    runs: u32,
    timeout: f64,
) -> Result<ExitCode> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let timeout = Duration::try_from_secs_f64(timeout)
        .context("--timeout must be a positive number of seconds")?;
    toolchain::ensure_pinned(root)?;
    let all = build_benches(root, board)?;
    if all.is_empty() {
        bail!(
            "board {} has no [[bench]] targets (boards/{}/benches/*.rs)",
            board.name,
            board.name
        );
    }
    let chosen: Vec<&Artifact> = all
        .iter()
        .filter(|a| filters.is_empty() || filters.iter().any(|f| a.name.contains(f.as_str())))
        .collect();
    if chosen.is_empty() {
        let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        bail!(
            "no benchmark of {} matches {:?}; there are: {}",
            board.name,
            filters,
            names.join(", ")
        );
    }
    let qemu_bin = provision::ensure(&board.qemu.binary)?;
    // The board's default machine shape, plus icount.
    let variant = Variant {
        name: "default".into(),
        machine: board.qemu.machine.clone(),
        args: board.qemu.args.clone(),
        expect: Vec::new(),
        tests: None,
    };
    let extra = icount_args(board)?;
    let mut failed = false;
    for art in chosen {
        let image = firmware::Image::read(art)?;
        image.check_fits(board.ram_range(&variant.args)?)?;
        let bytes = std::fs::read(&art.path)
            .with_context(|| format!("cannot read {}", art.path.display()))?;
        let defmt = Defmt::from_elf(&bytes, root).unwrap_or_else(|_| Defmt::none());
        let scratch = tempfile::Builder::new()
            .prefix("xtask-bench-")
            .tempdir()
            .context("cannot create a temporary directory for the image")?;
        let kernel = firmware::kernel_image(board, &art.path, scratch.path())?;
        let args = qemu::command_line(&variant, &kernel, &extra);
        println!("==> bench {} on {} ({} runs)", art.name, board.name, runs);
        println!("$ {} {}", qemu_bin.path.display(), args.join(" "));
        let mut first: Option<Vec<String>> = None;
        for run in 1..=runs {
            let outcome = qemu::run(&qemu_bin.path, &args, &defmt, Some(timeout), &mut |_| {})?;
            let got = figures(&outcome.lines);
            if outcome.ending != Ending::Exited(0) || got.is_empty() {
                failed = true;
                println!(
                    "bench {} run {run}: {}; last lines:",
                    art.name,
                    qemu::describe(outcome.ending)
                );
                for l in outcome.lines.iter().rev().take(10).rev() {
                    println!("    | {l}");
                }
                for l in &outcome.stderr {
                    println!("    qemu: {l}");
                }
                break;
            }
            match &first {
                None => {
                    for l in &got {
                        println!("    {l}");
                    }
                    first = Some(got);
                }
                Some(f) if *f == got => println!("    run {run}: the same figures (deterministic)"),
                Some(f) => {
                    let diff = relative_difference(f, &got);
                    let paced = outcome.lines.iter().any(|l| l.contains(DEVICE_PACED));
                    match diff {
                        Some(d) if paced => println!(
                            "    run {run}: figures up to {:.2} % from run 1; the image says it \
                             waits for a device (`{DEVICE_PACED}`), so they are not expected \
                             to repeat:",
                            d * 100.0
                        ),
                        Some(d) if d <= TOLERANCE => println!(
                            "    run {run}: figures within {:.4} % of run 1, not identical \
                             (expected when the measured region waits for a device):",
                            d * 100.0
                        ),
                        _ => {
                            failed = true;
                            println!("    run {run}: figures DIFFER from run 1:");
                        }
                    }
                    for (a, b) in f.iter().zip(&got).filter(|(a, b)| a != b) {
                        println!("      run 1: {a}\n      run {run}: {b}");
                    }
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icount_options_come_from_board_toml_and_keep_shift_0() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let boards = crate::boards::Boards::load(&root).unwrap();
        let virt = boards.get("qemu-virt").unwrap();
        assert_eq!(icount_args(virt).unwrap(), ["-icount", "shift=0"]);
        let imx = boards.get("imx8mp-evk").unwrap();
        assert_eq!(icount_args(imx).unwrap(), ["-icount", "shift=0,sleep=off"]);
        let mut bad = imx.clone();
        bad.qemu.bench_icount = Some("shift=auto,sleep=off".into());
        let e = icount_args(&bad).unwrap_err().to_string();
        assert!(e.contains("lacks shift=0"), "{e}");
    }

    #[test]
    fn relative_difference_compares_numbers_only() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = l(&["bench f: 1000000 instructions", "ratio x: 4.36x"]);
        assert_eq!(relative_difference(&a, &a), Some(0.0));
        let b = l(&["bench f: 1000500 instructions", "ratio x: 4.36x"]);
        let d = relative_difference(&a, &b).unwrap();
        assert!((d - 500.0 / 1_000_500.0).abs() < 1e-12, "{d}");
        let c = l(&["bench g: 1000000 instructions", "ratio x: 4.36x"]);
        assert_eq!(relative_difference(&a, &c), None);
        assert_eq!(relative_difference(&a, &a[..1]), None);
        let e = l(&["bench f: 2000000 instructions", "ratio x: 4.36x"]);
        assert!(relative_difference(&a, &e).unwrap() > TOLERANCE);
    }

    #[test]
    fn figures_keep_only_bench_result_and_ratio_lines() {
        let lines: Vec<String> = [
            "qemu-virt: EL1 cpus=2",
            "bench empty: 2002 instructions over 1000 iterations = 2.0 per iteration",
            "INFO something  (file:1)",
            "result fence_signal: 119 instructions/op",
            "ratio a / b: 5.17x",
            "bench: done",
        ]
        .map(String::from)
        .into();
        // Only figures: not the banner, not defmt lines, not the closing `bench: done`.
        assert_eq!(
            figures(&lines),
            vec![lines[1].clone(), lines[3].clone(), lines[4].clone()]
        );
    }
}
