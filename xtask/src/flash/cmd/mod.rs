//! `cargo xtask flash`: the command (binary side). The bytes it makes and the protocol it
//! speaks are library code in `dmasync_xtask::flash`; this module drives them: build the
//! image, plan the steps (`--dry-run` prints them), talk to U-Boot, watch the console.

mod rehearsal;
mod serial;
mod session;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use dmasync_xtask::flash::config::{ImageFormat, Method, UbootSerial};
use dmasync_xtask::flash::uimage::{self, Arch, Header, Kind, Os};
use dmasync_xtask::flash::xymodem::Protocol;
use dmasync_xtask::flash::{fit, uboot, usbtools};

use crate::boards::Board;
use crate::cargo::{self, Images};
use crate::cli::FlashArgs;
use crate::decode::Defmt;
use crate::qemu::Ending;
use crate::report::Section;
use crate::target_tests::{self, Selection};
use crate::{firmware, image, provision};

use session::End;

/// The on-target verdicts `cargo xtask test` adds for boards that can be rehearsed: the
/// board's `boot` test flashed through real U-Boot, once per protocol.
/// (Named so that a `boot` filter does not pick them.)
pub const REHEARSAL_TESTS: [(&str, Protocol); 3] = [
    ("flash_serial_ymodem", Protocol::Ymodem),
    ("flash_serial_xmodem", Protocol::Xmodem),
    ("flash_serial_kermit", Protocol::Kermit),
];
/// The SD image verdict: the boot test on a card image that distro boot must find.
pub const SD_REHEARSAL_TEST: &str = "flash_sdimage";
/// The boot test as a FIT image (one kernel node, one configuration), sent with YMODEM and
/// booted with the same `bootm`.
pub const FIT_REHEARSAL_TEST: &str = "flash_serial_fit";
/// The test binary the rehearsal flashes.
const REHEARSAL_IMAGE: &str = "boot";

fn protocol(name: &str) -> Result<Protocol> {
    match name {
        "ymodem" => Ok(Protocol::Ymodem),
        "xmodem" => Ok(Protocol::Xmodem),
        "kermit" => Ok(Protocol::Kermit),
        other => bail!("unknown protocol '{other}'; protocols: ymodem, xmodem, kermit"),
    }
}

/// What `--board`, `--test`/`--elf` pick, in words (for --dry-run) and as a build.
enum Source {
    Elf(PathBuf),
    Test(String),
    Demo,
}

impl Source {
    fn of(args: &FlashArgs) -> Source {
        match (&args.elf, &args.test) {
            (Some(p), _) => Source::Elf(p.clone()),
            (None, Some(t)) => Source::Test(t.clone()),
            (None, None) => Source::Demo,
        }
    }

    fn describe(&self, board: &Board) -> String {
        match self {
            Source::Elf(p) => format!("use the ELF {}", p.display()),
            Source::Test(t) => format!(
                "build the on-target test `{t}`: cargo build --release -p {} --target {} --tests",
                board.package, board.target
            ),
            Source::Demo => format!(
                "build the demo: cargo build --release -p {} --target {} --bin {}",
                board.package,
                board.target,
                board.demo.as_deref().unwrap_or("<none>")
            ),
        }
    }

    fn build(&self, root: &Path, board: &Board) -> Result<PathBuf> {
        match self {
            Source::Elf(p) => Ok(p.clone()),
            Source::Demo => {
                crate::toolchain::ensure_pinned(root)?;
                firmware::build_demo(root, board)
            }
            Source::Test(name) => {
                crate::toolchain::ensure_pinned(root)?;
                test_elf(root, board, name)
            }
        }
    }
}

fn test_elf(root: &Path, board: &Board, name: &str) -> Result<PathBuf> {
    let artifacts = cargo::build_images(root, &board.package, &board.target, Images::Tests)?;
    let names: Vec<&str> = artifacts.iter().map(|a| a.name.as_str()).collect();
    artifacts
        .iter()
        .find(|a| a.kind == "test" && a.name == name)
        .map(|a| a.path.clone())
        .with_context(|| {
            format!(
                "{} has no on-target test '{name}'; tests: {}",
                board.package,
                names.join(", ")
            )
        })
}

/// The uImage of an ELF, written next to the build output (temporary file, then renamed).
struct Prepared {
    elf: PathBuf,
    path: PathBuf,
    bytes: Vec<u8>,
    load: u64,
    entry: u64,
}

fn uimage_args(arch: Arch, load: u64, entry: u64, name: &str) -> String {
    let a = match arch {
        Arch::Arm => "arm",
        Arch::Arm64 => "arm64",
    };
    format!("-A {a} -O linux -T kernel -C none -a {load:#x} -e {entry:#x} -n '{name}'")
}

fn image_name(board: &Board, elf: &Path) -> String {
    let stem = elf.file_stem().unwrap_or_default().to_string_lossy();
    // Test executables carry cargo's hash suffix: `boot-0123abcd`.
    let stem = stem.split('-').next().unwrap_or_default();
    let mut name = format!("dmasync {} {stem}", board.name);
    name.truncate(31);
    name
}

/// An ELF built for another architecture than the board's (an AArch64 test for an ARMv7
/// board) would be wrapped and sent, and crash the board: refused by its ELF machine.
fn check_machine(elf: &Path, bytes: &[u8], arch: Arch, board: &Board) -> Result<()> {
    use object::Object;
    let got = object::File::parse(bytes)
        .with_context(|| format!("{} is not an ELF file", elf.display()))?
        .architecture();
    let want = match arch {
        Arch::Arm64 => object::Architecture::Aarch64,
        Arch::Arm => object::Architecture::Arm,
    };
    if got != want {
        bail!(
            "{} is an ELF for {got:?}, but board '{}' is {} ({want:?})",
            elf.display(),
            board.name,
            board.target
        );
    }
    Ok(())
}

fn prepare(
    root: &Path,
    board: &Board,
    elf: &Path,
    staging: (u64, u64),
    format: ImageFormat,
) -> Result<Prepared> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let bin = uimage::binary_from_elf(&bytes)
        .with_context(|| format!("{} cannot be flashed", elf.display()))?;
    let segments = image::load_segments(&bytes)?;
    image::check_fits(elf, &segments, board.ram_range(&board.qemu.args)?)?;
    let arch = Arch::for_target(&board.target)?;
    check_machine(elf, &bytes, arch, board)?;
    let (load, entry) = (
        u32::try_from(bin.load).context("load address above 4 GiB: no uImage can hold it")?,
        u32::try_from(bin.entry).context("entry above 4 GiB: no uImage can hold it")?,
    );
    let name = image_name(board, elf);
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let header = Header {
        arch,
        os: Os::Linux,
        kind: Kind::Kernel,
        load,
        entry,
        time,
        name,
    };
    let (out, ext) = match format {
        ImageFormat::Uimage => (uimage::write(&header, &bin.bytes)?, "uimg"),
        ImageFormat::Fit => (
            fit::write(
                &fit::Kernel {
                    name: header.name.clone(),
                    arch,
                    os: Os::Linux,
                    load: bin.load,
                    entry: bin.entry,
                    time,
                },
                &bin.bytes,
            )?,
            "itb",
        ),
        ImageFormat::Raw => bail!("image format 'raw' is not built by xtask yet (uimage, fit)"),
    };
    // bootm copies the data from the staging window to the load address: they must not meet.
    let (stage, _) = staging;
    let data_end = bin.load + bin.bytes.len() as u64;
    let staged_end = stage + out.len() as u64;
    if bin.load < staged_end && stage < data_end {
        bail!(
            "the image's bytes {:#x}..{data_end:#x} overlap the staging window \
             {stage:#x}..{staged_end:#x}: bootm would copy it onto itself",
            bin.load
        );
    }
    let dir = root.join("target/flash").join(&board.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stem = header
        .name
        .rsplit(' ')
        .next()
        .unwrap_or("image")
        .to_string();
    let path = dir.join(format!("{stem}.{ext}"));
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, &out)?;
    tmp.persist(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Prepared {
        elf: elf.to_path_buf(),
        path,
        bytes: out,
        load: bin.load,
        entry: bin.entry,
    })
}

/// Every step `flash` would take, as lines (`--dry-run`, and the head of a real run).
fn plan(board: &Board, args: &FlashArgs, source: &Source) -> Result<Vec<String>> {
    let arch = Arch::for_target(&board.target)?;
    let format = method_format(board, args.via);
    let ext = if format == ImageFormat::Fit {
        "itb"
    } else {
        "uimg"
    };
    let uimg = format!("target/flash/{}/<image>.{ext}", board.name);
    let make_uimage = |format: ImageFormat| -> Result<String> {
        match format {
            ImageFormat::Uimage => Ok(format!(
                "make {uimg} from the ELF's loadable bytes, like `mkimage {} -d app.bin {uimg}`",
                uimage_args(arch, board.load_address, board.load_address, "dmasync ...")
            )),
            ImageFormat::Fit => Ok(format!(
                "make {uimg} from the ELF's loadable bytes: a FIT with one image node kernel-1 \
                 (type kernel, os linux, arch {}, load and entry {:#x}, crc32 hash) and \
                 configuration conf-1 (what `mkimage -l` shows)",
                if arch == Arch::Arm64 { "arm64" } else { "arm" },
                board.load_address
            )),
            ImageFormat::Raw => bail!(
                "image format 'raw' is not built by xtask yet (uimage, fit); change the \
                 board's [flash.{}] image",
                args.via
            ),
        }
    };
    let mut steps = vec![source.describe(board)];
    match args.via {
        Method::UbootSerial => {
            let u = board.flash.uboot_serial.as_ref().expect("required");
            let proto = protocol(&args.protocol)?;
            steps.push(make_uimage(u.image)?);
            steps.push(format!(
                "check it is at most {} bytes (load window {:#x}.., staging_size)",
                u.staging_size, u.staging_address
            ));
            if args.qemu {
                let bin = rehearsal::uboot_for(&board.qemu.binary).unwrap_or("<none>");
                let v = &board.variants()[0];
                steps.push(format!(
                    "start U-Boot in QEMU: {} {}",
                    board.qemu.binary,
                    rehearsal::command_line(v, Path::new(bin)).join(" ")
                ));
                steps.push(
                    "read the pty from QEMU's \"char device redirected to /dev/pts/N\"".into(),
                );
            } else {
                let port = args
                    .port
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "<--port>".into());
                steps.push(format!(
                    "open {port} raw 8N1 at {} baud, locked (the board's {})",
                    u.baud, u.console
                ));
            }
            steps.push(format!(
                "stop autoboot: a newline each second until the prompt {:?} (30 s at most)",
                u.prompt
            ));
            steps.push(format!(
                "U-Boot: {}, then send the uImage with {} ({})",
                uboot::load_command(proto, u.staging_address),
                proto.name(),
                match proto {
                    Protocol::Kermit => "short packets, '#' control prefix, type 1 check",
                    _ => "1K blocks, CRC-16",
                }
            ));
            steps.push(format!(
                "check U-Boot's `## Total Size`, then U-Boot: {} must print the image's CRC32",
                uboot::crc_command(u.staging_address, 0).replace(" 0x0", " <size>")
            ));
            steps.push(format!(
                "U-Boot: {}",
                uboot::boot_command_for(u.image, u.staging_address, &u.fdt)
            ));
            steps.push(
                "console: plain text and decoded defmt, until the `verdict:` line, the port \
                 closing, --timeout or Ctrl-C"
                    .into(),
            );
        }
        Method::SdImage => {
            let s = board.flash.sd_image.as_ref().expect("required");
            steps.push(make_uimage(s.image)?);
            steps.push(format!(
                "make boot.scr (a mkimage-format script image): load ${{devtype}} \
                 ${{devnum}}:${{distro_bootpart}} {:#x} dmasync.uimg; {}",
                s.staging_address,
                uboot::boot_command_for(s.image, s.staging_address, &s.fdt)
            ));
            steps.push(format!(
                "write target/flash/{}/sd.img: MBR, one FAT partition of {} MiB from sector {} \
                 holding dmasync.uimg and boot.scr (a temporary file, renamed when complete)",
                board.name, s.boot_partition_mib, s.first_sector
            ));
            if args.qemu {
                steps.push(format!(
                    "start U-Boot in QEMU as for uboot-serial, plus -drive \
                     if=none,format=raw,id=sd,file=target/flash/{}/sd.img -device \
                     virtio-blk-device,drive=sd; no key pressed",
                    board.name
                ));
                steps.push(
                    "console: U-Boot's distro boot finds boot.scr and runs it; then the \
                     firmware's console, defmt decoded, until its verdict"
                        .into(),
                );
            } else if let Some(dev) = &args.device {
                steps.push(format!(
                    "write it to {}: refuse it if a partition of it is mounted (/proc/mounts) \
                     or held by LVM/RAID; show its size and model (/sys/block/<dev>/size, \
                     device/model); {}; write, sync, read back and compare",
                    dev.display(),
                    if args.yes {
                        "--yes: no question"
                    } else {
                        "ask for `yes`"
                    }
                ));
            } else {
                steps.push(
                    "print the command for the card (--device) and the dd equivalent; U-Boot's \
                     distro boot then finds boot.scr"
                        .into(),
                );
            }
        }
        Method::Dfu => {
            let d = board.flash.dfu.as_ref().expect("required");
            steps.push(make_uimage(d.image)?);
            steps.push(format!(
                "on U-Boot's console, before the next step: {}",
                d.uboot_command
            ));
            steps.push(format!(
                "$ {}   ({}; stopped after {} s)",
                usbtools::dfu(d, Path::new(&uimg)),
                tools::status(tools::DFU_UTIL),
                tool_limit(args).as_secs()
            ));
            steps.push(format!(
                "on U-Boot's console: Ctrl-C (leave dfu), then {}",
                uboot::boot_command_for(d.image, d.staging_address, &d.fdt)
            ));
        }
        Method::Uuu => {
            let u = board.flash.uuu.as_ref().expect("required");
            steps.push(make_uimage(u.image)?);
            let dir = format!("target/flash/{}", board.name);
            let loader = bootloader_name(u);
            steps.push(format!(
                "copy {} to {dir}/{loader} and write {dir}/{}:\n{}",
                u.bootloader,
                usbtools::UUU_SCRIPT,
                usbtools::uuu_script(u, &loader, "<image>.uimg")
                    .lines()
                    .map(|l| format!("       | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
            steps.push(format!(
                "$ {}   ({}; uuu waits that long for the board in USB serial download mode)",
                usbtools::uuu(
                    Path::new(&format!("{dir}/{}", usbtools::UUU_SCRIPT)),
                    tool_limit(args)
                ),
                tools::status(tools::UUU)
            ));
        }
        Method::Fastboot => {
            let f = board.flash.fastboot.as_ref().expect("required");
            steps.push(make_uimage(f.image)?);
            for inv in usbtools::fastboot(f, Path::new(&uimg)) {
                steps.push(format!(
                    "$ {inv}   ({}; stopped after {} s)",
                    tools::status(tools::FASTBOOT),
                    tool_limit(args).as_secs()
                ));
            }
        }
    }
    Ok(steps)
}

pub fn flash(root: &Path, board: &Board, args: &FlashArgs) -> Result<ExitCode> {
    board.flash.require(&board.name, args.via)?;
    let rehearsable =
        matches!(args.via, Method::UbootSerial | Method::SdImage) && rehearsal::supported(board);
    if args.qemu && !rehearsable {
        bail!(
            "--qemu rehearses uboot-serial and sd-image on `virt` boards with Debian's U-Boot \
             for QEMU; \
             board '{}' ({}) has no such rehearsal",
            board.name,
            board.qemu.machine
        );
    }
    if (args.device.is_some() || args.yes) && args.via != Method::SdImage {
        bail!("--device and --yes are for --via sd-image (writing the card image)");
    }
    let timeout = args
        .timeout
        .map(|s| Duration::try_from_secs_f64(s).context("--timeout must be a positive number"))
        .transpose()?;
    let source = Source::of(args);
    let steps = plan(board, args, &source)?;
    println!("==> flash {} via {}:", board.name, args.via);
    for (i, s) in steps.iter().enumerate() {
        println!("  {}. {s}", i + 1);
    }
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    if args.via == Method::SdImage {
        return sd_image(root, board, args, &source, timeout);
    }
    if matches!(args.via, Method::Dfu | Method::Uuu | Method::Fastboot) {
        return usb_method(root, board, args, &source);
    }
    let u = board.flash.uboot_serial.as_ref().expect("required");
    let proto = protocol(&args.protocol)?;
    let elf = source.build(root, board)?;
    let prepared = prepare(
        root,
        board,
        &elf,
        (u.staging_address, u.staging_size),
        u.image,
    )?;
    println!(
        "==> {} -> {} ({} bytes, load {:#x}, entry {:#x})",
        prepared
            .elf
            .strip_prefix(root)
            .unwrap_or(&prepared.elf)
            .display(),
        prepared
            .path
            .strip_prefix(root)
            .unwrap_or(&prepared.path)
            .display(),
        prepared.bytes.len(),
        prepared.load,
        prepared.entry
    );
    let defmt = defmt_of(root, &elf);
    let mut print = |line: &str| println!("{line}");
    if args.qemu {
        let outcome = rehearse(board, u, proto, &prepared, &defmt, timeout, &mut print)?;
        println!("==> {}", crate::qemu::describe(outcome.0));
        return Ok(match outcome.0 {
            Ending::Exited(0) => ExitCode::SUCCESS,
            Ending::Exited(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            _ => ExitCode::FAILURE,
        });
    }
    let Some(port) = &args.port else {
        bail!(
            "--via uboot-serial needs --port <serial port> (the USB-serial adapter on the \
             board's {}), or --qemu for the rehearsal",
            u.console
        );
    };
    let mut port = serial::Port::open(port, u.baud)?;
    session::stop_autoboot(&mut port, u)?;
    session::upload(&mut port, u, proto, &prepared.bytes)?;
    let (end, _) = session::boot_and_watch(&mut port, u, &defmt, timeout, &mut print)?;
    Ok(match end {
        End::Verdict { ok: true } => ExitCode::SUCCESS,
        End::Verdict { ok: false } => ExitCode::FAILURE,
        End::Closed => {
            eprintln!("error: the serial port closed");
            ExitCode::FAILURE
        }
        End::TimedOut => {
            println!("==> --timeout reached");
            ExitCode::SUCCESS
        }
    })
}

/// The image format the board's table for `m` asks for.
fn method_format(board: &Board, m: Method) -> ImageFormat {
    let f = &board.flash;
    match m {
        Method::UbootSerial => f.uboot_serial.as_ref().map(|t| t.image),
        Method::SdImage => f.sd_image.as_ref().map(|t| t.image),
        Method::Dfu => f.dfu.as_ref().map(|t| t.image),
        Method::Uuu => f.uuu.as_ref().map(|t| t.image),
        Method::Fastboot => f.fastboot.as_ref().map(|t| t.image),
    }
    .unwrap_or(ImageFormat::Uimage)
}

/// How long a USB tool may wait for its device (--timeout, else a minute): fastboot waits
/// for ever by itself, uuu gets it as `-t`.
fn tool_limit(args: &FlashArgs) -> Duration {
    args.timeout
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(Duration::from_secs(60))
}

/// The boot loader's file name as the uuu script names it (a copy beside the script).
fn bootloader_name(u: &dmasync_xtask::flash::config::Uuu) -> String {
    Path::new(&u.bootloader)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flash.bin".into())
}

/// Runs one tool command, its output shown as it comes, bounded by `limit`.
fn run_tool(tool: tools::Tool, inv: &usbtools::Invocation, limit: Duration) -> Result<()> {
    println!("$ {inv}");
    let r = usbtools::run(inv, Some(Path::new(tool.file)), limit, &mut |l| {
        println!("  {}: {l}", inv.program)
    })?;
    r.check(inv, limit)?;
    println!("==> {} exited with status 0", inv.program);
    Ok(())
}

/// `--via dfu | uuu | fastboot`: the image, then the board's tool with the commands the plan
/// shows.
fn usb_method(root: &Path, board: &Board, args: &FlashArgs, source: &Source) -> Result<ExitCode> {
    let limit = tool_limit(args);
    let tool = match args.via {
        Method::Dfu => tools::DFU_UTIL,
        Method::Uuu => tools::UUU,
        _ => tools::FASTBOOT,
    };
    tools::require(tool)?;
    let staging = match args.via {
        Method::Dfu => {
            let d = board.flash.dfu.as_ref().expect("required");
            (d.staging_address, d.staging_size)
        }
        Method::Uuu => (
            board.flash.uuu.as_ref().expect("required").staging_address,
            0,
        ),
        _ => (
            board
                .flash
                .fastboot
                .as_ref()
                .expect("required")
                .staging_address,
            0,
        ),
    };
    let elf = source.build(root, board)?;
    let prepared = prepare(root, board, &elf, staging, method_format(board, args.via))?;
    println!(
        "==> {} ({} bytes, load {:#x})",
        prepared
            .path
            .strip_prefix(root)
            .unwrap_or(&prepared.path)
            .display(),
        prepared.bytes.len(),
        prepared.load
    );
    match args.via {
        Method::Dfu => {
            let d = board.flash.dfu.as_ref().expect("required");
            run_tool(tool, &usbtools::dfu(d, &prepared.path), limit)?;
            println!(
                "==> now on U-Boot's console: Ctrl-C (leave dfu), then {}",
                uboot::boot_command_for(d.image, d.staging_address, &d.fdt)
            );
        }
        Method::Uuu => {
            let u = board.flash.uuu.as_ref().expect("required");
            let from = root.join(&u.bootloader);
            let dir = prepared.path.parent().expect("in target/flash/<board>");
            let loader = bootloader_name(u);
            let to = dir.join(&loader);
            let same = match (std::fs::canonicalize(&from), std::fs::canonicalize(&to)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            let copied = if same {
                Ok(0)
            } else {
                std::fs::copy(&from, &to)
            };
            copied.with_context(|| {
                format!(
                    "cannot copy the boot loader {} (board.toml flash.uuu.bootloader: the \
                     board's flash.bin, U-Boot with SPL and TF-A)",
                    from.display()
                )
            })?;
            let image = prepared.path.file_name().expect("a file").to_string_lossy();
            let script = dir.join(usbtools::UUU_SCRIPT);
            std::fs::write(&script, usbtools::uuu_script(u, &loader, &image))
                .with_context(|| format!("cannot write {}", script.display()))?;
            run_tool(
                tool,
                &usbtools::uuu(&script, limit),
                limit + Duration::from_secs(30),
            )?;
        }
        _ => {
            let f = board.flash.fastboot.as_ref().expect("required");
            for inv in usbtools::fastboot(f, &prepared.path) {
                run_tool(tool, &inv, limit)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The boot script distro boot runs from the card: load the image, then `bootm` it.
fn boot_script(format: ImageFormat, staging: u64, fdt: &str) -> String {
    format!(
        "load ${{devtype}} ${{devnum}}:${{distro_bootpart}} {staging:#x} {SD_IMAGE_FILE}\n{}\n",
        uboot::boot_command_for(format, staging, fdt)
    )
}

const SD_IMAGE_FILE: &str = "dmasync.uimg";

/// `--via sd-image`: target/flash/<board>/sd.img; with `--qemu`, boots it in QEMU as the
/// machine's virtio disk and lets U-Boot's distro boot find boot.scr.
fn sd_image(
    root: &Path,
    board: &Board,
    args: &FlashArgs,
    source: &Source,
    timeout: Option<Duration>,
) -> Result<ExitCode> {
    let elf = source.build(root, board)?;
    let out = make_sd_image(root, board, &elf)?;
    let shown = out.strip_prefix(root).unwrap_or(&out).display().to_string();
    if let Some(dev) = &args.device {
        write_card(&out, dev, args.yes)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.qemu {
        println!(
            "==> to a card: cargo xtask flash --board {} --via sd-image --device /dev/<card> \
             (it shows the device's size and model and asks), or by hand: sudo dd if={shown} \
             of=/dev/<card> bs=1M conv=fsync",
            board.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ending = rehearse_sd(board, &out, &defmt_of(root, &elf), timeout, &mut |l| {
        println!("{l}")
    })?;
    println!("==> {}", crate::qemu::describe(ending.0));
    Ok(match ending.0 {
        Ending::Exited(0) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// Writes the card image to a block device: named with its size and model, refused when it
/// looks like a system disk, confirmed (or --yes), then read back and compared.
fn write_card(image: &Path, dev: &Path, yes: bool) -> Result<()> {
    use dmasync_xtask::flash::blockdev;
    use std::os::unix::fs::FileTypeExt;
    let meta =
        std::fs::metadata(dev).with_context(|| format!("no such device {}", dev.display()))?;
    if !meta.file_type().is_block_device() {
        bail!("{} is not a block device (see lsblk)", dev.display());
    }
    // /dev/disk/by-id/… links name the same device: sysfs knows it by its kernel name.
    let real = std::fs::canonicalize(dev)?;
    let sys = Path::new("/sys");
    let device = blockdev::inspect(sys, &real)?;
    let mounts = std::fs::read_to_string("/proc/mounts").context("cannot read /proc/mounts")?;
    let size = std::fs::metadata(image)?.len();
    blockdev::decide(
        sys,
        &device,
        &mounts,
        size,
        yes,
        &mut std::io::stdout(),
        &mut std::io::stdin().lock(),
    )?;
    let started = std::time::Instant::now();
    let mut bar: Option<(String, session::Progress)> = None;
    blockdev::write_and_verify(image, &real, &mut |what, done, total| {
        if bar.as_ref().is_none_or(|(w, _)| w != what) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            bar = Some((what.to_string(), session::Progress::new(total, what)));
        }
        if let Some((_, b)) = &mut bar {
            b.update(done, started);
        }
    })?;
    if let Some((_, b)) = bar {
        b.finish();
    }
    println!(
        "==> wrote {size} bytes to {} and read them back: identical",
        device.describe()
    );
    Ok(())
}

/// target/flash/<board>/sd.img holding the ELF's uImage and the boot script.
fn make_sd_image(root: &Path, board: &Board, elf: &Path) -> Result<PathBuf> {
    let s = board.flash.sd_image.as_ref().expect("required");
    let part = u64::from(s.boot_partition_mib) << 20;
    let prepared = prepare(root, board, elf, (s.staging_address, part), s.image)?;
    let script = boot_script(s.image, s.staging_address, &s.fdt);
    let scr = uimage::write_script(
        &Header {
            arch: Arch::for_target(&board.target)?,
            os: Os::Linux,
            kind: Kind::Script,
            load: 0,
            entry: 0,
            time: 0,
            name: "dmasync boot script".into(),
        },
        &script,
    )?;
    let out = root.join("target/flash").join(&board.name).join("sd.img");
    dmasync_xtask::flash::sdimage::write(
        &out,
        s.first_sector,
        s.boot_partition_mib,
        &[("boot.scr", &scr), (SD_IMAGE_FILE, &prepared.bytes)],
    )?;
    let shown = out.strip_prefix(root).unwrap_or(&out).display().to_string();
    println!("==> wrote {shown}: boot.scr ({script:?}) and {SD_IMAGE_FILE}");
    Ok(out)
}

/// Boots `image` as the virt machine's disk under U-Boot, without touching its console:
/// distro boot must find boot.scr by itself.
fn rehearse_sd(
    board: &Board,
    image: &Path,
    defmt: &Defmt,
    timeout: Option<Duration>,
    on_line: &mut dyn FnMut(&str),
) -> Result<(Ending, Vec<String>)> {
    let uboot = rehearsal::uboot_for(&board.qemu.binary).context("no U-Boot for this QEMU")?;
    tools::ensure(&[tools::uboot_qemu(&board.qemu.binary).context("no U-Boot for this QEMU")?])?;
    let qemu = provision::ensure(&board.qemu.binary)?;
    let variant = &board.variants()[0];
    let disk = [
        "-drive".to_string(),
        format!("if=none,format=raw,id=sd,file={}", image.display()),
        "-device".to_string(),
        "virtio-blk-device,drive=sd".to_string(),
    ];
    let mut run = rehearsal::Rehearsal::start(&qemu, variant, Path::new(uboot), &disk)?;
    println!("$ {}", run.command);
    let mut port = serial::Port::open(&run.pty, 115200)?;
    let (end, lines) = session::watch(
        &mut port,
        "U-Boot's distro boot of the SD image",
        Duration::from_secs(60),
        defmt,
        timeout,
        on_line,
    )?;
    let ending = match end {
        End::TimedOut => Ending::TimedOut(timeout.unwrap_or_default()),
        End::Verdict { .. } | End::Closed => match run.exit_code(Duration::from_secs(5))? {
            Some(code) => Ending::Exited(code),
            None => Ending::TimedOut(Duration::from_secs(5)),
        },
    };
    Ok((ending, lines))
}

fn defmt_of(root: &Path, elf: &Path) -> Defmt {
    std::fs::read(elf)
        .map_err(anyhow::Error::from)
        .and_then(|b| Defmt::from_elf(&b, root))
        .unwrap_or_else(|e| {
            eprintln!("warning: defmt frames will show as malformed: {e:#}");
            Defmt::none()
        })
}

/// Flashes `prepared` to U-Boot in QEMU; the ending is QEMU's (the firmware's semihosting
/// exit code), the lines the firmware's console after `bootm`.
fn rehearse(
    board: &Board,
    u: &UbootSerial,
    proto: Protocol,
    prepared: &Prepared,
    defmt: &Defmt,
    timeout: Option<Duration>,
    on_line: &mut dyn FnMut(&str),
) -> Result<(Ending, Vec<String>)> {
    let uboot = rehearsal::uboot_for(&board.qemu.binary).context("no U-Boot for this QEMU")?;
    tools::ensure(&[tools::uboot_qemu(&board.qemu.binary).context("no U-Boot for this QEMU")?])?;
    let qemu = provision::ensure(&board.qemu.binary)?;
    let variant = &board.variants()[0];
    let mut run = rehearsal::Rehearsal::start(&qemu, variant, Path::new(uboot), &[])?;
    println!("$ {}", run.command);
    println!("  U-Boot's console: {}", run.pty.display());
    let mut port = serial::Port::open(&run.pty, u.baud)?;
    session::stop_autoboot(&mut port, u)?;
    session::upload(&mut port, u, proto, &prepared.bytes)?;
    let (end, lines) = session::boot_and_watch(&mut port, u, defmt, timeout, on_line)?;
    let ending = match end {
        End::TimedOut => Ending::TimedOut(timeout.unwrap_or_default()),
        End::Verdict { .. } | End::Closed => match run.exit_code(Duration::from_secs(5))? {
            Some(code) => Ending::Exited(code),
            None => Ending::TimedOut(Duration::from_secs(5)),
        },
    };
    Ok((ending, lines))
}

/// `cargo xtask test`'s flash verdicts for one board: its boot test through real U-Boot in
/// QEMU, once per protocol, judged like the board's other on-target tests (exit code and the
/// expected lines of `[tests.boot]` and the first variant).
pub fn rehearsal_tests(root: &Path, board: &Board, sel: &Selection, section: &mut Section) {
    if !rehearsal::supported(board) {
        return;
    }
    let wanted: Vec<_> = REHEARSAL_TESTS
        .iter()
        .filter(|(name, _)| sel.wants_test(name))
        .collect();
    let sd = board.flash.sd_image.is_some() && sel.wants_test(SD_REHEARSAL_TEST);
    let fit = sel.wants_test(FIT_REHEARSAL_TEST);
    if wanted.is_empty() && !sd && !fit {
        return;
    }
    let u = board.flash.uboot_serial.as_ref().expect("supported");
    let window = (u.staging_address, u.staging_size);
    let prepared = test_elf(root, board, REHEARSAL_IMAGE).and_then(|elf| {
        let fit = prepare(root, board, &elf, window, ImageFormat::Fit)?;
        Ok((
            prepare(root, board, &elf, window, ImageFormat::Uimage)?,
            fit,
        ))
    });
    let (prepared, prepared_fit) = match prepared {
        Ok(p) => p,
        Err(e) => return section.fail(format!("{}/flash: {e:#}", board.name)),
    };
    let defmt = defmt_of(root, &prepared.elf);
    let variant = &board.variants()[0];
    let mut expect = board.expectation(REHEARSAL_IMAGE).expect;
    expect.extend(variant.expect.iter().cloned());
    let runs = wanted
        .iter()
        .map(|(name, proto)| (*name, Some((*proto, &prepared))))
        .chain(fit.then_some((FIT_REHEARSAL_TEST, Some((Protocol::Ymodem, &prepared_fit)))))
        .chain(sd.then_some((SD_REHEARSAL_TEST, None)));
    for (name, serial) in runs {
        let label = format!("{}/{name} [{}]", board.name, variant.name);
        let started = std::time::Instant::now();
        let verbose = sel.verbose;
        let mut show = |l: &str| {
            if verbose {
                println!("    | {l}");
            }
        };
        let cfg = UbootSerial {
            image: if name == FIT_REHEARSAL_TEST {
                ImageFormat::Fit
            } else {
                u.image
            },
            ..u.clone()
        };
        let outcome = match serial {
            Some((proto, prepared)) => rehearse(
                board,
                &cfg,
                proto,
                prepared,
                &defmt,
                Some(sel.timeout),
                &mut show,
            ),
            None => make_sd_image(root, board, &prepared.elf)
                .and_then(|img| rehearse_sd(board, &img, &defmt, Some(sel.timeout), &mut show)),
        };
        let why = match &outcome {
            Ok((ending, lines)) => target_tests::judge(*ending, lines, 0, &expect),
            Err(e) => vec![format!("{e:#}")],
        };
        if why.is_empty() {
            println!(
                "test {label} ... ok ({:.2} s)",
                started.elapsed().as_secs_f64()
            );
            section.pass();
        } else {
            println!("test {label} ... FAILED");
            for w in &why {
                println!("    why: {w}");
            }
            if let Ok((_, lines)) = &outcome {
                for l in &lines[lines.len().saturating_sub(15)..] {
                    println!("    | {l}");
                }
            }
            section.fail(format!("{label}: {}", why[0]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_drop_cargo_s_hash_and_fit_the_header() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let boards = crate::boards::Boards::load(root).unwrap();
        let b = boards.get("qemu-virt").unwrap();
        assert_eq!(
            image_name(b, Path::new("/t/boot-0123abcd")),
            "dmasync qemu-virt boot"
        );
        assert!(image_name(b, Path::new(&"x".repeat(80))).len() <= 31);
    }

    #[test]
    fn every_declared_method_has_a_plan_and_others_are_refused() {
        use clap::Parser;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let boards = crate::boards::Boards::load(root).unwrap();
        for board in &boards.all {
            for m in board.flash.declared() {
                let cli = crate::cli::Cli::try_parse_from([
                    "x",
                    "flash",
                    "--board",
                    &board.name,
                    "--via",
                    m.name(),
                    "--port",
                    "/dev/x",
                ])
                .unwrap();
                let crate::cli::Cmd::Flash(args) = cli.command else {
                    panic!()
                };
                let steps = plan(board, &args, &Source::of(&args)).unwrap();
                assert!(steps.len() >= 3, "{}/{m}: {steps:?}", board.name);
            }
        }
        let virt = boards.get("qemu-virt").unwrap();
        let cli = crate::cli::Cli::try_parse_from(["x", "flash", "--via", "dfu"]).unwrap();
        let crate::cli::Cmd::Flash(args) = cli.command else {
            panic!()
        };
        let e = flash(root, virt, &args).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "board 'qemu-virt' does not declare flash method 'dfu'; it declares: uboot-serial"
            ),
            "{e}"
        );
    }

    fn args_of(argv: &[&str]) -> FlashArgs {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        let crate::cli::Cmd::Flash(args) = cli.command else {
            panic!()
        };
        args
    }

    #[test]
    fn an_elf_of_another_architecture_is_refused() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let boards = crate::boards::Boards::load(root).unwrap();
        let exynos = boards.get("exynos4").unwrap();
        // The host's own executable: x86-64 (or whatever this runs on), never ARMv7.
        let me = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&me).unwrap();
        let e = check_machine(&me, &bytes, Arch::Arm, exynos)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("but board 'exynos4' is armv7a-none-eabi (Arm)"),
            "{e}"
        );
        let e = check_machine(&me, b"not an elf", Arch::Arm, exynos).unwrap_err();
        assert!(e.to_string().contains("is not an ELF file"), "{e}");
    }

    #[test]
    fn the_imx8mp_evk_plans_name_its_u_boot_and_tools() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let boards = crate::boards::Boards::load(root).unwrap();
        let evk = boards.get("imx8mp-evk").unwrap();
        let plan_of = |via: &str| {
            let args = args_of(&[
                "x",
                "flash",
                "--board",
                "imx8mp-evk",
                "--via",
                via,
                "--port",
                "/dev/ttyUSB2",
            ]);
            plan(evk, &args, &Source::of(&args)).unwrap().join("\n")
        };
        let serial = plan_of("uboot-serial");
        for want in [
            "mkimage -A arm64 -O linux -T kernel -C none -a 0x40080000",
            "open /dev/ttyUSB2 raw 8N1 at 115200 baud, locked (the board's ttymxc1)",
            "until the prompt \"u-boot=> \"",
            "U-Boot: loady 0x40480000",
            "U-Boot: bootm 0x40480000 - ${fdt_addr_r}",
        ] {
            assert!(serial.contains(want), "missing {want:?} in\n{serial}");
        }
        let uuu = plan_of("uuu");
        for want in [
            "copy boards/imx8mp-evk/flash.bin to target/flash/imx8mp-evk/flash.bin",
            "| SDPS: boot -f flash.bin",
            "| FB: ucmd setenv fastboot_buffer 0x40480000",
            "| FB: download -f <image>.uimg",
            "| FB: acmd bootm 0x40480000 - ${fdt_addr_r}",
            "$ uuu -t 60 target/flash/imx8mp-evk/dmasync.uuu",
        ] {
            assert!(uuu.contains(want), "missing {want:?} in\n{uuu}");
        }
        let fb = plan_of("fastboot");
        for want in [
            "$ fastboot stage 'target/flash/imx8mp-evk/<image>.uimg'",
            "$ fastboot oem 'run:bootm 0x40480000 - ${fdt_addr_r}'",
        ] {
            assert!(fb.contains(want), "missing {want:?} in\n{fb}");
        }
        let e = flash(
            root,
            evk,
            &args_of(&["x", "flash", "--board", "imx8mp-evk", "--via", "dfu"]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.ends_with("it declares: uboot-serial, uuu, fastboot"),
            "{e}"
        );
    }

    #[test]
    fn the_serial_plan_names_every_command() {
        use clap::Parser;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let boards = crate::boards::Boards::load(root).unwrap();
        let virt = boards.get("qemu-virt").unwrap();
        let cli = crate::cli::Cli::try_parse_from([
            "x",
            "flash",
            "--via",
            "uboot-serial",
            "--qemu",
            "--protocol",
            "xmodem",
            "--test",
            "boot",
        ])
        .unwrap();
        let crate::cli::Cmd::Flash(args) = cli.command else {
            panic!()
        };
        let text = plan(virt, &args, &Source::of(&args)).unwrap().join("\n");
        for want in [
            "--tests",
            "mkimage -A arm64 -O linux -T kernel -C none -a 0x40200000",
            "-serial pty",
            "-bios /usr/lib/u-boot/qemu_arm64/u-boot.bin",
            "U-Boot: loadx 0x41000000",
            "crc32 0x41000000 <size>",
            "U-Boot: bootm 0x41000000 - ${fdtcontroladdr}",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
