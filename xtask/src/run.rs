//! `cargo xtask run`: boot one image in QEMU and show what it says.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::boards::{Board, Variant};
use crate::cli::RunArgs;
use crate::decode::Defmt;
use crate::firmware::{self, Image};
use crate::{cargo, provision, qemu};

pub fn run(root: &Path, board: &Board, args: &RunArgs) -> Result<ExitCode> {
    let timeout = args
        .timeout
        .map(|s| Duration::try_from_secs_f64(s).context("--timeout must be a positive number"))
        .transpose()?;
    let elf = match &args.elf {
        Some(path) => path.clone(),
        None => firmware::build_demo(root, board)?,
    };
    let image = Image::read(&cargo::Artifact {
        name: board.demo.clone(),
        kind: "bin".into(),
        path: elf.clone(),
    })?;
    // The board's default machine shape; `-- args` may add devices or change `-m`.
    let variant = Variant {
        name: "default".into(),
        machine: board.qemu.machine.clone(),
        args: board.qemu.args.clone(),
        expect: Vec::new(),
    };
    let mut all_args = variant.args.clone();
    all_args.extend(args.qemu_args.iter().cloned());
    image.check_fits(board.ram_range(&all_args)?)?;

    let qemu = provision::ensure(&board.qemu.binary)?;
    let bytes = std::fs::read(&elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let defmt = Defmt::from_elf(&bytes, root).unwrap_or_else(|e| {
        eprintln!("warning: defmt frames will show as malformed: {e:#}");
        Defmt::none()
    });
    let qemu_args = qemu::command_line(&variant, &elf, &args.qemu_args);
    println!(
        "==> {} on {} ({}); {}; Ctrl-C stops it",
        elf.strip_prefix(root).unwrap_or(&elf).display(),
        board.name,
        provision::describe(&qemu),
        if defmt.has_table() {
            "defmt frames decoded"
        } else {
            "no defmt table in the image"
        }
    );
    println!("$ {} {}", qemu.path.display(), qemu_args.join(" "));
    let outcome = qemu::run(&qemu.path, &qemu_args, &defmt, timeout, &mut |line| {
        println!("{line}");
        let _ = std::io::stdout().flush();
    })?;
    for line in &outcome.stderr {
        eprintln!("qemu: {line}");
    }
    let first = outcome
        .first_output
        .map(|d| format!("{} ms", d.as_millis()))
        .unwrap_or_else(|| "no output".into());
    println!(
        "==> boot to first output: {first}; total {:.2} s",
        outcome.elapsed.as_secs_f64()
    );
    match outcome.ending {
        qemu::Ending::Exited(0) => {
            println!("==> {}", qemu::describe(outcome.ending));
            Ok(ExitCode::SUCCESS)
        }
        qemu::Ending::Exited(code) if outcome.lines.is_empty() && !outcome.stderr.is_empty() => {
            bail!(
                "QEMU exited with status {code} before the guest printed anything (its messages are above)"
            )
        }
        qemu::Ending::Exited(code) => {
            eprintln!("error: guest {}", qemu::describe(outcome.ending));
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        other => bail!("{}", qemu::describe(other)),
    }
}
