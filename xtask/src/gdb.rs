//! `--gdb`: QEMU starts halted (`-S`) with its gdbstub on a unix socket, and xtask prints
//! the `gdb-multiarch` command that attaches to it with the image's symbols. The ELF is what
//! gdb reads symbols from, also for boards that boot a raw image made from it (the bytes sit
//! at the addresses the ELF gives, board.toml `load_address`).
//!
//! The target tests prove it per board with a scripted gdb ([`GDB_TEST`]): attach, break at
//! the board's `init`, continue, read the pc back, kill.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use object::{Object, ObjectSymbol};

use crate::boards::{Board, Variant};
use crate::cargo;
use crate::decode::Defmt;
use crate::flash_cmd::tools::{self, Tool};
use crate::provision::Qemu;
use crate::qemu::{self, Ending};
use dmasync_xtask::flash::usbtools::{self, Invocation};

/// Debian's gdb for every architecture QEMU emulates (bookworm: 13.1).
pub const GDB_MULTIARCH: Tool = Tool {
    file: "/usr/bin/gdb-multiarch",
    package: "gdb-multiarch",
    purpose: "the debugger for `--gdb` and the gdb test",
};

/// The verdict name of the scripted-gdb test in the target tests (a FILTER selects it).
pub const GDB_TEST: &str = "gdb";

/// The on-target test binary the gdb test debugs: every board has one (new-board writes it).
pub const DEBUGGED_TEST: &str = "boot";

/// What QEMU prints when gdb kills it (gdbstub/gdbstub.c, the `k` packet).
const KILLED_BY_GDB: &str = "QEMU: Terminated via GDBstub";

/// What the scripted gdb prints the pc as, to find it in its output.
const PC_MARK: &str = "dmasync-gdb pc=";

/// Installs gdb-multiarch when missing (as root with apt), else fails with the command.
pub fn ensure() -> Result<PathBuf> {
    tools::ensure(&[GDB_MULTIARCH])?;
    Ok(PathBuf::from(GDB_MULTIARCH.file))
}

/// QEMU arguments: halted before the first instruction, gdbstub on `socket` (a unix socket:
/// no port to pick, none to collide with another run). QEMU creates it at start-up.
pub fn qemu_args(socket: &Path) -> Vec<String> {
    vec![
        "-S".to_string(),
        "-gdb".to_string(),
        format!("unix:{},server=on,wait=off", socket.display()),
    ]
}

/// The command a person runs to attach: symbols from `elf`, the target at `socket`.
pub fn attach_command(elf: &Path, socket: &Path) -> Invocation {
    Invocation {
        program: "gdb-multiarch".to_string(),
        args: vec![
            "-q".to_string(),
            elf.display().to_string(),
            "-ex".to_string(),
            format!("target remote {}", socket.display()),
        ],
    }
}

/// The lines `run --gdb` and `test --gdb` print before QEMU starts.
pub fn print_attach_instructions(elf: &Path, socket: &Path, board: &Board) {
    let krate = board.package.replace('-', "_");
    println!(
        "==> QEMU starts halted, its gdbstub on {}",
        socket.display()
    );
    println!("==> attach from another shell with:");
    println!("    {}", attach_command(elf, socket));
    println!(
        "    e.g. `break {krate}::init`, `continue`; `kill` ends QEMU, `detach` lets the guest \
         run on; Ctrl-C here stops QEMU"
    );
}

/// The board's `init` in the image's symbol table: `<crate>::init` of board.toml's
/// `package`, legacy-mangled (`_ZN<len><crate>4init17h<hash>E`) or v0-mangled
/// (`_RNvC<disambiguator><len><crate>4init`). Returns the mangled name and its address
/// (the Thumb bit cleared).
pub fn init_symbol(elf: &[u8], package: &str) -> Result<(String, u64)> {
    let file = object::File::parse(elf).context("not an ELF file")?;
    let functions = file
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text)
        .filter_map(|s| Some((s.name().ok()?, s.address())));
    find_init(functions, file.is_64(), package)
}

/// [`init_symbol`] over (name, address) of the image's function symbols.
fn find_init<'n>(
    mut functions: impl Iterator<Item = (&'n str, u64)>,
    is_64: bool,
    package: &str,
) -> Result<(String, u64)> {
    let krate = package.replace('-', "_");
    let legacy = format!("_ZN{}{krate}4init17h", krate.len());
    let v0_tail = format!("{}{krate}4init", krate.len());
    let is_init = |name: &str| {
        let legacy_hash = name
            .strip_prefix(&legacy)
            .and_then(|r| r.strip_suffix('E'))
            .is_some_and(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()));
        legacy_hash || (name.starts_with("_RNvC") && name.ends_with(&v0_tail))
    };
    // On 32-bit ARM bit 0 of a function symbol says Thumb; the pc has it clear.
    let thumb_mask = if is_64 { !0 } else { !1 };
    functions
        .find_map(|(name, addr)| is_init(name).then(|| (name.to_string(), addr & thumb_mask)))
        .with_context(|| {
            format!(
                "no function {krate}::init in the image's symbol table (inlined by LTO, or the \
                 board's init has another name); give it #[inline(never)] so a debugger can \
                 break in it"
            )
        })
}

/// The scripted session: attach, break at `addr`, continue to it, print the pc and the
/// symbol there, kill QEMU.
pub fn script(elf: &Path, socket: &Path, addr: u64) -> Invocation {
    let mut args: Vec<String> = vec!["-nx".into(), "-batch".into()];
    for cmd in [
        "set pagination off".to_string(),
        "set confirm off".to_string(),
        format!("target remote {}", socket.display()),
        format!("break *{addr:#x}"),
        "continue".to_string(),
        format!("printf \"{PC_MARK}%#lx\\n\", $pc"),
        "info symbol $pc".to_string(),
        "kill".to_string(),
    ] {
        args.push("-ex".into());
        args.push(cmd);
    }
    args.push(elf.display().to_string());
    Invocation {
        program: "gdb-multiarch".to_string(),
        args,
    }
}

/// Why a scripted session's output does not show gdb stopped at `addr` in `<crate>::init`;
/// empty when it does.
pub fn judge_transcript(lines: &[String], krate: &str, addr: u64) -> Vec<String> {
    let mut why = Vec::new();
    let want_pc = format!("{PC_MARK}{addr:#x}");
    match lines.iter().find_map(|l| l.trim().strip_prefix(PC_MARK)) {
        Some(pc) if format!("{PC_MARK}{pc}") == want_pc => {}
        Some(pc) => why.push(format!(
            "gdb stopped at pc={pc}, not at {krate}::init ({addr:#x})"
        )),
        None => why.push("gdb printed no pc: the breakpoint was not hit".to_string()),
    }
    // `Thread 1 hit Breakpoint 1, dmasync_qemu_virt::init (x0=0) at ...` (with -smp > 1).
    let hit = format!("Breakpoint 1, {krate}::init (");
    if !lines.iter().any(|l| l.contains(&hit)) {
        why.push(format!(
            "gdb did not report breakpoint 1 hit in {krate}::init"
        ));
    }
    // `info symbol $pc`: `dmasync_qemu_virt::init::hfd37eff024ddc039 in section .text` (gdb
    // demangles, legacy names keep their hash). Not `init::{{closure}}`.
    let named_init = |l: &String| {
        l.split_once(" in section ").is_some_and(|(sym, _)| {
            sym.strip_prefix(krate)
                .and_then(|r| r.strip_prefix("::init"))
                .is_some_and(|r| {
                    r.is_empty()
                        || r.strip_prefix("::h").is_some_and(|h| {
                            h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit())
                        })
                })
        })
    };
    if !lines.iter().any(named_init) {
        why.push(format!(
            "gdb's `info symbol $pc` did not name {krate}::init (symbols not read from the ELF?)"
        ));
    }
    why
}

/// The gdb test of one board: its `boot` test binary under `variant`, halted, attached by
/// the scripted gdb. Err carries the reasons.
pub fn run_test(
    board: &Board,
    qemu: &Qemu,
    artifacts: &[cargo::Artifact],
    variant: &Variant,
    timeout: Duration,
    verbose: bool,
) -> Result<(), Vec<String>> {
    let one = |e: anyhow::Error| vec![format!("{e:#}")];
    let gdb = ensure().map_err(one)?;
    let artifact = artifacts
        .iter()
        .find(|a| a.kind == "test" && a.name == DEBUGGED_TEST)
        .ok_or_else(|| {
            vec![format!(
                "{} has no `{DEBUGGED_TEST}` on-target test to debug",
                board.package
            )]
        })?;
    let elf = std::fs::read(&artifact.path)
        .with_context(|| format!("cannot read {}", artifact.path.display()))
        .map_err(one)?;
    let (symbol, addr) = init_symbol(&elf, &board.package).map_err(one)?;
    let scratch = tempfile::Builder::new()
        .prefix("xtask-gdb-")
        .tempdir()
        .context("cannot create a temporary directory for the gdb socket")
        .map_err(one)?;
    let socket = scratch.path().join("gdb.sock");
    let kernel =
        crate::firmware::kernel_image(board, &artifact.path, scratch.path()).map_err(one)?;
    let args = qemu::command_line(variant, &kernel, &qemu_args(&socket));
    let session = script(&artifact.path, &socket, addr);
    if verbose {
        println!("    break at {symbol} = {addr:#x}");
        println!("$ {} {}", qemu.path.display(), args.join(" "));
        println!("$ {session}");
    }

    // gdb on its own thread; QEMU on this one (its console decoder stays here).
    // Set when QEMU has ended: a QEMU that never made its socket must not keep gdb waiting.
    let qemu_done = Arc::new(AtomicBool::new(false));
    let gdb_thread = {
        let socket = socket.clone();
        let session = session.clone();
        let qemu_done = Arc::clone(&qemu_done);
        std::thread::spawn(move || -> Result<usbtools::Run> {
            let deadline = Instant::now() + timeout;
            while !socket.exists() {
                if Instant::now() >= deadline || qemu_done.load(Ordering::SeqCst) {
                    bail!("QEMU did not create its gdb socket {}", socket.display());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            usbtools::run(&session, Some(&gdb), timeout, &mut |_| {})
        })
    };
    let defmt = Defmt::from_elf(&elf, Path::new(".")).unwrap_or_else(|_| Defmt::none());
    let outcome = qemu::run(&qemu.path, &args, &defmt, Some(timeout), &mut |line| {
        if verbose {
            println!("    | {line}");
        }
    })
    .map_err(one);
    qemu_done.store(true, Ordering::SeqCst);
    let outcome = outcome?;
    let gdb_run = gdb_thread
        .join()
        .map_err(|_| vec!["the gdb thread panicked".to_string()])?
        .map_err(one)?;

    let mut why = Vec::new();
    if let Ending::TimedOut(_) = outcome.ending {
        why.push(format!(
            "QEMU {}: gdb's `kill` did not end it",
            qemu::describe(outcome.ending)
        ));
    }
    // gdb's `kill` ends QEMU, so gdb's last command fails ("Remote communication error")
    // and its exit status says nothing; QEMU's own message says the kill arrived.
    if gdb_run.timed_out {
        if let Err(e) = gdb_run.check(&session, timeout) {
            why.push(format!("{e:#}"));
        }
    } else if !outcome.stderr.iter().any(|l| l.contains(KILLED_BY_GDB)) {
        why.push(format!(
            "QEMU did not say '{KILLED_BY_GDB}': gdb's `kill` did not reach it ({})",
            qemu::describe(outcome.ending)
        ));
    }
    let krate = board.package.replace('-', "_");
    why.extend(judge_transcript(&gdb_run.stdout, &krate, addr));
    if why.is_empty() {
        return Ok(());
    }
    for line in &gdb_run.output {
        why.push(format!("gdb: {line}"));
    }
    for line in &outcome.stderr {
        why.push(format!("qemu: {line}"));
    }
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn qemu_waits_halted_on_a_unix_socket() {
        assert_eq!(
            qemu_args(Path::new("/tmp/x/gdb.sock")),
            ["-S", "-gdb", "unix:/tmp/x/gdb.sock,server=on,wait=off"]
        );
    }

    #[test]
    fn the_printed_command_names_the_elf_and_the_socket() {
        assert_eq!(
            attach_command(Path::new("target/t/demo"), Path::new("/tmp/x/gdb.sock")).to_string(),
            "gdb-multiarch -q target/t/demo -ex 'target remote /tmp/x/gdb.sock'"
        );
    }

    #[test]
    fn the_script_breaks_at_the_address_and_kills() {
        let s = script(Path::new("e"), Path::new("/s"), 0x4000_8abc).args;
        let cmds: Vec<&str> = s
            .windows(2)
            .filter(|w| w[0] == "-ex")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(cmds[2], "target remote /s");
        assert_eq!(cmds[3], "break *0x40008abc");
        assert_eq!(cmds.last(), Some(&"kill"));
        assert_eq!(s.last().map(String::as_str), Some("e"));
        assert!(s.contains(&"-batch".to_string()));
    }

    #[test]
    fn transcripts_are_judged() {
        // What gdb-multiarch 13.1 printed for qemu-virt's boot test.
        let good = lines(&[
            "0x0000000040200000 in entry ()",
            "Breakpoint 1 at 0x40207814: file boards/qemu-virt/src/lib.rs, line 172.",
            "",
            "Thread 1 hit Breakpoint 1, dmasync_qemu_virt::init (x0=0) at boards/qemu-virt/src/lib.rs:172",
            "172\tpub fn init(x0: u64) -> Board {",
            "dmasync-gdb pc=0x40207814",
            "dmasync_qemu_virt::init::hfd37eff024ddc039 in section .text",
            "Remote communication error.  Target disconnected.: Broken pipe.",
        ]);
        assert!(judge_transcript(&good, "dmasync_qemu_virt", 0x4020_7814).is_empty());
        let why = judge_transcript(&good, "dmasync_qemu_virt", 0x4020_7818);
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("pc=0x40207814, not at"), "{why:?}");
        let why = judge_transcript(&good[..2], "dmasync_qemu_virt", 0x4020_7814);
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].contains("no pc"));
        // A prefix of the right address is not the right address.
        let short = lines(&[
            "Breakpoint 1, x::init (",
            "dmasync-gdb pc=0x4020781",
            "x::init in section .text",
        ]);
        assert_eq!(judge_transcript(&short, "x", 0x4020_7814).len(), 1);
        assert!(judge_transcript(&short, "x", 0x4020781).is_empty());
        // Stopped in the closure, or another crate's init: not the board's init.
        let closure = lines(&[
            "Breakpoint 1, x::init (",
            "dmasync-gdb pc=0x10",
            "x::init::{{closure}}::h9661764dd7b20798 in section .text",
        ]);
        assert!(judge_transcript(&closure, "x", 0x10)[0].contains("info symbol"));
        assert!(!judge_transcript(&good, "dmasync_qemu", 0x4020_7814).is_empty());
    }

    /// `init` is found by its mangled name, not its closure, not another crate's.
    #[test]
    fn init_is_found_by_its_mangled_name() {
        let symbols = [
            ("_start", 0x4020_0000u64),
            (
                "_ZN17dmasync_qemu_virt4init28_$u7b$$u7b$closure$u7d$$u7d$17h9661764dd7b20798E",
                0x10,
            ),
            ("_ZN14dmasync_armv7a3mmu4init17h4d75f4c20b6294dfE", 0x20),
            (
                "_ZN17dmasync_qemu_virt4init17hfd37eff024ddc039E",
                0x4020_7815,
            ),
            ("_RNvCs1234_15dmasync_exynos44init", 0x4000_c904),
        ];
        let (name, addr) = find_init(symbols.into_iter(), true, "dmasync-qemu-virt").unwrap();
        assert_eq!(name, "_ZN17dmasync_qemu_virt4init17hfd37eff024ddc039E");
        assert_eq!(addr, 0x4020_7815);
        // 32-bit ARM: the Thumb bit is not part of the address gdb stops at.
        let (_, addr) = find_init(symbols.into_iter(), false, "dmasync-qemu-virt").unwrap();
        assert_eq!(addr, 0x4020_7814);
        // v0 mangling.
        let (name, _) = find_init(symbols.into_iter(), false, "dmasync-exynos4").unwrap();
        assert_eq!(name, "_RNvCs1234_15dmasync_exynos44init");
        let e = find_init(symbols.into_iter(), true, "dmasync-imx8mp-evk")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no function dmasync_imx8mp_evk::init") && e.contains("inline(never)"),
            "{e}"
        );
        assert!(init_symbol(b"not an elf", "x").is_err());
    }
}
