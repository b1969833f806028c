//! `cargo xtask`: build, run and test dmasync firmware. See `cargo xtask --help` and
//! doc/testing.md.
#![forbid(unsafe_code)]

mod bench;
mod cargo;
mod cli;
mod firmware;
// `cargo xtask flash` (its library half is dmasync_xtask::flash).
#[path = "flash/cmd/mod.rs"]
mod flash_cmd;
mod fuzz;
mod gdb;
mod image;
mod new_board;
mod provision;
mod qemu;
mod reference;
mod report;
mod run;
mod steps;
mod target_tests;
mod toolchain;
#[cfg(test)]
mod unsafe_table;

// The library half (src/lib.rs); at the crate root so `crate::boards` etc. keep working.
use dmasync_xtask::{boards, console, decode, qmp, screendump};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::boards::Boards;
use crate::cli::{Cli, Cmd, TestArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask is not inside a workspace")
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let root = workspace_root()?;
    qemu::install_interrupt_handler()?;
    // new-board writes a board; it must work whatever the other boards' files say.
    if let Cmd::NewBoard(args) = &cli.command {
        new_board::run(&root, &args.request())?;
        return Ok(ExitCode::SUCCESS);
    }
    let boards = Boards::load(&root)?;
    match cli.command {
        Cmd::NewBoard(_) => unreachable!("handled above"),
        Cmd::Build(args) => {
            toolchain::ensure_pinned(&root)?;
            firmware::build(&root, boards.get(&args.board.board)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run(args) => run::run(&root, boards.get(&args.board.board)?, &args),
        Cmd::Test(args) => steps::test(&root, &boards, &args),
        Cmd::Ci => steps::test(&root, &boards, &TestArgs::everything()),
        Cmd::Setup => {
            toolchain::ensure_pinned(&root)?;
            toolchain::ensure_miri(&root)?;
            // U-Boot for the flash rehearsal, the tools the host tests check xtask's output
            // with (mkimage, dfu-util, fastboot, uuu), gdb-multiarch for the gdb test.
            let mut tools = vec![flash_cmd::tools::UBOOT_QEMU_ARM64, gdb::GDB_MULTIARCH];
            tools.extend_from_slice(flash_cmd::tools::HOST_TEST_TOOLS);
            flash_cmd::tools::ensure(&tools)?;
            println!(
                "setup: toolchains complete (rust-toolchain.toml, nightly with Miri); u-boot-qemu, \
                 u-boot-tools, dfu-util, fastboot, uuu and gdb-multiarch present"
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench(args) => bench::bench(
            &root,
            boards.get(&args.board.board)?,
            &args.filters,
            args.runs,
            args.timeout,
        ),
        Cmd::Flash(args) => flash_cmd::flash(&root, boards.get(&args.board.board)?, &args),
        Cmd::Fuzz(args) => Ok(if fuzz::fuzz(&root, args.target.as_deref(), args.time)? {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
    }
}
