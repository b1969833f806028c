//! Command-line interface (`cargo xtask --help`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// dmasync's build, run and test tool. Board facts come from boards/<board>/board.toml.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    propagate_version = true,
    after_help = "Examples:\n  \
        cargo xtask run                                boot the demo of the default board (qemu-virt)\n  \
        cargo xtask test                               everything CI runs\n  \
        cargo xtask test timer --variant a53x2-gicv3   one on-target test under one variant\n\n\
        Environment: DMASYNC_QEMU_DIR=<dir> takes QEMU from <dir> instead of PATH.\n\
        More: doc/testing.md"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Build a board's firmware (bins and on-target test binaries) and check they fit in RAM.
    Build(BuildArgs),
    /// Build the board's demo and boot it in QEMU, showing its console with defmt decoded.
    ///
    /// Exits with the guest's semihosting exit code (0 = finished; see
    /// doc/console-protocol.md for the others).
    Run(RunArgs),
    /// Run the checks and tests: fmt, clippy, host tests, loom, Miri, a short run of every
    /// fuzz target, then every on-target test under every QEMU variant of the board(s).
    ///
    /// Ends with one line `N passed, N failed` and exits non-zero if anything failed.
    /// Giving a FILTER or --variant runs only the on-target tests.
    Test(TestArgs),
    /// Everything `test` runs, for every board (what CI runs).
    Ci,
    /// Add what the toolchains lack: the targets and components rust-toolchain.toml lists,
    /// and nightly with miri and rust-src (then `cargo +nightly miri setup`). QEMU is
    /// provisioned by run/test/bench when they need it. `build`, `run`, `test` and `bench`
    /// add the pinned toolchain's missing parts themselves; ci/setup runs this.
    Setup,
    /// Build the board's on-target benchmarks (boards/<board>/benches) and run each under
    /// QEMU -icount (deterministic instruction counts), several times to show determinism.
    Bench(BenchArgs),
    /// Run the cargo-fuzz targets of fuzz/ (nightly; installs cargo-fuzz when missing), each
    /// for --time seconds, and print libFuzzer's final figures per target. A crash prints
    /// the saved input's path and fails.
    Fuzz(FuzzArgs),
    /// Load a board's firmware onto the real board (or its QEMU rehearsal) and boot it:
    /// the methods are the board's `[flash.<method>]` tables in board.toml. doc/flashing.md.
    ///
    /// `--via uboot-serial` uploads a uImage to U-Boot over the console (YMODEM or XMODEM),
    /// checks U-Boot's size and CRC32, runs `bootm` and then shows the console with defmt
    /// decoded, until the firmware's verdict line (or --timeout, or Ctrl-C). `--via sd-image`
    /// builds a card image (with --device, writes it to a card after asking); `--via dfu`,
    /// `uuu` and `fastboot` run that tool with the commands --dry-run shows.
    Flash(FlashArgs),
    /// Write a new board crate under boards/NAME (Cargo.toml, board.toml, memory.ld, boot and
    /// console wiring, memory map, a boot on-target test, README with the checklist) and add
    /// it to the workspace members. Knows the machines xtask has facts for; refuses others.
    NewBoard(NewBoardArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    cargo xtask flash --board qemu-virt --via uboot-serial --qemu --test boot   rehearse in QEMU\n  \
    cargo xtask flash --board exynos4 --via uboot-serial --port /dev/ttyUSB0\n  \
    cargo xtask flash --board exynos4 --via dfu --dry-run                        show the steps")]
pub struct FlashArgs {
    #[command(flatten)]
    pub board: BoardArg,
    /// The method: one the board declares (uboot-serial, sd-image, dfu, uuu, fastboot).
    #[arg(long, value_name = "METHOD", value_parser = parse_method)]
    pub via: dmasync_xtask::flash::config::Method,
    /// The serial port to U-Boot's console (uboot-serial), e.g. /dev/ttyUSB0.
    #[arg(long, value_name = "PORT", conflicts_with = "qemu")]
    pub port: Option<PathBuf>,
    /// Transfer protocol for uboot-serial: U-Boot's `loady`, `loadx` or `loadb`.
    #[arg(long, value_name = "P", value_parser = ["ymodem", "xmodem", "kermit"], default_value = "ymodem")]
    pub protocol: String,
    /// Rehearse in QEMU: boot Debian's U-Boot for QEMU with its console on a pty and flash
    /// to that (uboot-serial on `virt` boards).
    #[arg(long)]
    pub qemu: bool,
    /// Print every step and command without doing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Flash this on-target test binary (e.g. `boot`) instead of the board's demo.
    #[arg(long, value_name = "NAME", conflicts_with = "elf")]
    pub test: Option<String>,
    /// Flash this ELF instead of building the board's demo.
    #[arg(long, value_name = "PATH")]
    pub elf: Option<PathBuf>,
    /// sd-image: write the card image to this block device (the whole device, e.g.
    /// /dev/sdb), after showing its size and model and asking; refused for a device with a
    /// mounted partition or in use by LVM/RAID. Read back and compared after writing.
    #[arg(long, value_name = "DEV", conflicts_with = "qemu")]
    pub device: Option<PathBuf>,
    /// Do not ask before writing --device (for scripts). The system-disk checks still apply.
    #[arg(long)]
    pub yes: bool,
    /// Stop watching the console after this many seconds (default: until the verdict line,
    /// or Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

fn parse_method(s: &str) -> Result<dmasync_xtask::flash::config::Method, String> {
    s.parse()
}

#[derive(Debug, Args)]
pub struct NewBoardArgs {
    /// The board's name: boards/NAME, package dmasync-NAME (lower-case letters, digits, '-').
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The board's architecture.
    #[arg(long, value_enum)]
    pub arch: crate::new_board::Arch,
    /// The QEMU machine it runs on (`-M`): `virt` for aarch64.
    #[arg(long, value_name = "M")]
    pub qemu_machine: Option<String>,
    /// Start from an existing board's facts (not supported yet: refused with the reason).
    #[arg(long, value_name = "BOARD")]
    pub like: Option<String>,
}

impl NewBoardArgs {
    /// What new_board works from.
    pub fn request(&self) -> crate::new_board::Request {
        crate::new_board::Request {
            name: self.name.clone(),
            arch: self.arch,
            qemu_machine: self.qemu_machine.clone(),
            like: self.like.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// Only this target (a `[[bin]]` of fuzz/Cargo.toml; default: every target).
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    /// Seconds each target runs (libFuzzer -max_total_time).
    #[arg(long, default_value_t = 60, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    pub time: u64,
}

#[derive(Debug, Args)]
pub struct BoardArg {
    /// Board name: a directory under boards/ with a board.toml.
    #[arg(long, default_value = "qemu-virt", value_name = "BOARD")]
    pub board: String,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub board: BoardArg,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub board: BoardArg,
    /// Kill QEMU after this many seconds (default: wait for the guest to exit or Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Boot this ELF instead of building the board's demo.
    #[arg(long, value_name = "PATH")]
    pub elf: Option<PathBuf>,
    /// Frames the demo renders; reaches the guest as the kernel command line `frames=N`
    /// (QEMU `-append`: the device tree's /chosen/bootargs on qemu-virt, semihosting
    /// SYS_GET_CMDLINE on exynos4 and imx8mp-evk). Default: the demo's own.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub frames: Option<u32>,
    /// Show the board's display in a QEMU window (gtk, else sdl). Needs a display device
    /// in the board's QEMU command line, a graphical session and QEMU's UI modules
    /// (Debian: qemu-system-gui).
    #[arg(long)]
    pub gui: bool,
    /// Start QEMU halted with its gdbstub (a unix socket) and print the `gdb-multiarch`
    /// command that attaches with the image's symbols (installs gdb-multiarch when root).
    #[arg(long)]
    pub gdb: bool,
    /// Extra QEMU arguments, after `--` (e.g. `-- -device virtio-gpu-device`).
    #[arg(last = true, value_name = "QEMU_ARGS")]
    pub qemu_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Only this board's on-target tests (default: every board).
    #[arg(long, value_name = "BOARD")]
    pub board: Option<String>,
    /// Run only on-target tests whose name contains one of these.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Only the host packages (installed when missing), checks, host tests, loom, Miri and the
    /// fuzz smoke: no QEMU.
    #[arg(long, conflicts_with_all = ["target_only", "filters", "variant"])]
    pub host_only: bool,
    /// Only the on-target tests in QEMU.
    #[arg(long)]
    pub target_only: bool,
    /// Only this QEMU variant (a `[[qemu.variant]]` name in board.toml).
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    /// Seconds before a hung on-target test is killed.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub timeout: f64,
    /// Print every on-target test's console, not only the failing ones'.
    #[arg(long, short)]
    pub verbose: bool,
    /// Debug one on-target test: QEMU starts halted with its gdbstub and the `gdb-multiarch`
    /// command to attach is printed. Needs --board and a FILTER naming one test; runs it under
    /// --variant or the first variant that runs it, with no timeout.
    #[arg(long, requires = "board", conflicts_with = "host_only")]
    pub gdb: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub board: BoardArg,
    /// Run only benchmarks whose name contains one of these.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Runs per benchmark; runs must agree within 0.1 % unless the image says it waits for a
    /// device (doc/testing.md).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub runs: u32,
    /// Seconds before a hung benchmark run is killed.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub timeout: f64,
}

impl TestArgs {
    /// What `cargo xtask ci` runs.
    pub fn everything() -> Self {
        TestArgs {
            board: None,
            filters: Vec::new(),
            host_only: false,
            target_only: false,
            variant: None,
            timeout: 30.0,
            verbose: false,
            gdb: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_qemu_args_after_dashes() {
        let cli = Cli::try_parse_from(["x", "run", "--timeout", "5", "--", "-d", "int"]).unwrap();
        let Cmd::Run(args) = cli.command else {
            panic!("expected run")
        };
        assert_eq!(args.board.board, "qemu-virt");
        assert_eq!(args.qemu_args, vec!["-d", "int"]);
    }

    #[test]
    fn run_flags() {
        let cli =
            Cli::try_parse_from(["x", "run", "--frames", "12", "--gui", "--board", "b"]).unwrap();
        let Cmd::Run(args) = cli.command else {
            panic!("expected run")
        };
        assert_eq!(args.frames, Some(12));
        assert!(args.gui);
        assert_eq!(args.board.board, "b");
        let cli = Cli::try_parse_from(["x", "run"]).unwrap();
        let Cmd::Run(args) = cli.command else {
            panic!("expected run")
        };
        assert_eq!((args.frames, args.gui, args.gdb), (None, false, false));
        let Cmd::Run(args) = Cli::try_parse_from(["x", "run", "--gdb"]).unwrap().command else {
            panic!("expected run")
        };
        assert!(args.gdb);
        for bad in ["0", "many", "4294967296"] {
            let e = Cli::try_parse_from(["x", "run", "--frames", bad]).unwrap_err();
            assert!(e.to_string().contains("--frames"), "{bad}: {e}");
        }
        assert!(Cli::try_parse_from(["x", "run", "--frames", "-3"]).is_err());
    }

    #[test]
    fn fuzz_takes_a_target_and_a_time() {
        let cli = Cli::try_parse_from(["x", "fuzz", "qmp_reply", "--time", "600"]).unwrap();
        let Cmd::Fuzz(args) = cli.command else {
            panic!("expected fuzz")
        };
        assert_eq!(
            (args.target.as_deref(), args.time),
            (Some("qmp_reply"), 600)
        );
        let Cmd::Fuzz(args) = Cli::try_parse_from(["x", "fuzz"]).unwrap().command else {
            panic!("expected fuzz")
        };
        assert_eq!((args.target, args.time), (None, 60));
        assert!(Cli::try_parse_from(["x", "fuzz", "--time", "0"]).is_err());
    }

    #[test]
    fn flash_takes_a_method_and_checks_it() {
        let cli = Cli::try_parse_from([
            "x",
            "flash",
            "--board",
            "exynos4",
            "--via",
            "dfu",
            "--dry-run",
        ])
        .unwrap();
        let Cmd::Flash(args) = cli.command else {
            panic!("expected flash")
        };
        assert_eq!(args.via, dmasync_xtask::flash::config::Method::Dfu);
        assert!(args.dry_run && !args.qemu);
        assert_eq!(args.protocol, "ymodem");
        let e = Cli::try_parse_from(["x", "flash", "--via", "tftp"]).unwrap_err();
        assert!(e.to_string().contains("unknown flash method 'tftp'"), "{e}");
        assert!(
            Cli::try_parse_from([
                "x",
                "flash",
                "--via",
                "uboot-serial",
                "--protocol",
                "zmodem"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "x",
                "flash",
                "--via",
                "uboot-serial",
                "--qemu",
                "--port",
                "/dev/x"
            ])
            .is_err()
        );
    }

    #[test]
    fn new_board_takes_an_arch_from_a_fixed_list() {
        let cli = Cli::try_parse_from([
            "x",
            "new-board",
            "b",
            "--arch",
            "aarch64",
            "--qemu-machine",
            "virt",
        ])
        .unwrap();
        let Cmd::NewBoard(args) = cli.command else {
            panic!("expected new-board")
        };
        let r = args.request();
        assert_eq!(
            (r.name.as_str(), r.qemu_machine.as_deref()),
            ("b", Some("virt"))
        );
        assert_eq!(r.arch, crate::new_board::Arch::Aarch64);
        let e = Cli::try_parse_from(["x", "new-board", "b", "--arch", "riscv"]).unwrap_err();
        assert!(
            e.to_string().contains("riscv") && e.to_string().contains("armv7a"),
            "{e}"
        );
        assert!(Cli::try_parse_from(["x", "new-board", "b"]).is_err());
    }

    #[test]
    fn host_only_conflicts_with_filters() {
        assert!(Cli::try_parse_from(["x", "test", "--host-only", "boot"]).is_err());
        let cli = Cli::try_parse_from(["x", "test", "boot", "timer", "--variant", "v"]).unwrap();
        let Cmd::Test(args) = cli.command else {
            panic!("expected test")
        };
        assert_eq!(args.filters, vec!["boot", "timer"]);
        assert_eq!(args.timeout, 30.0);
        assert!(!args.gdb);
    }

    #[test]
    fn test_gdb_needs_a_board() {
        let e = Cli::try_parse_from(["x", "test", "boot", "--gdb"]).unwrap_err();
        assert!(e.to_string().contains("--board"), "{e}");
        let cli =
            Cli::try_parse_from(["x", "test", "boot", "--gdb", "--board", "exynos4"]).unwrap();
        let Cmd::Test(args) = cli.command else {
            panic!("expected test")
        };
        assert!(args.gdb);
        assert!(
            Cli::try_parse_from(["x", "test", "--host-only", "--gdb", "--board", "b"]).is_err()
        );
    }
}
