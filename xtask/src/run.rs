//! `cargo xtask run`: boot one image in QEMU and show what it says.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dmasync_protocol::bootargs::Frames;

use crate::boards::{Board, Variant};
use crate::cli::RunArgs;
use crate::decode::Defmt;
use crate::firmware::{self, Image};
use crate::screendump::{self, Screendumps};
use crate::{cargo, gdb, provision, qemu, qmp, toolchain};

pub fn run(root: &Path, board: &Board, args: &RunArgs) -> Result<ExitCode> {
    let timeout = args
        .timeout
        .map(|s| Duration::try_from_secs_f64(s).context("--timeout must be a positive number"))
        .transpose()?;
    let elf = match &args.elf {
        Some(path) => path.clone(),
        None => {
            toolchain::ensure_pinned(root)?;
            firmware::build_demo(root, board)?
        }
    };
    let image = Image::read(&cargo::Artifact {
        name: board.demo.clone().unwrap_or_else(|| "image".into()),
        kind: "bin".into(),
        path: elf.clone(),
    })?;
    // The board's default machine shape; `-- args` may add devices or change `-m`.
    let variant = Variant {
        name: "default".into(),
        machine: board.qemu.machine.clone(),
        args: board.qemu.args.clone(),
        expect: Vec::new(),
        tests: None,
    };
    let mut all_args = variant.args.clone();
    all_args.extend(args.qemu_args.iter().cloned());
    image.check_fits(board.ram_range(&all_args)?)?;

    let qemu = provision::ensure(&board.qemu.binary)?;
    let display = if args.gui {
        gui_display(&qemu.path, &variant.machine, &all_args)?
    } else {
        "none"
    };
    let bytes = std::fs::read(&elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let defmt = Defmt::from_elf(&bytes, root).unwrap_or_else(|e| {
        eprintln!("warning: defmt frames will show as malformed: {e:#}");
        Defmt::none()
    });
    // QMP socket and raw screendumps live in a private directory removed after the run.
    let scratch = tempfile::Builder::new()
        .prefix("xtask-qemu-")
        .tempdir()
        .context("cannot create a temporary directory for QEMU's QMP socket")?;
    let socket = scratch.path().join("qmp.sock");
    let mut extra: Vec<String> = qmp::qemu_args(&socket).into();
    extra.extend(frames_args(args.frames));
    if args.gdb {
        gdb::ensure()?;
        let gdb_socket = scratch.path().join("gdb.sock");
        extra.extend(gdb::qemu_args(&gdb_socket));
        gdb::print_attach_instructions(&elf, &gdb_socket, board);
    }
    extra.extend(args.qemu_args.iter().cloned());
    let kernel = firmware::kernel_image(board, &elf, scratch.path())?;
    let qemu_args = qemu::command_line_with_display(&variant, &kernel, display, &extra);
    let mut dumps = Screendumps::new(
        socket,
        scratch.path().to_path_buf(),
        screendump::screenshot_dir(root),
        format!(
            "{}-{}",
            board.name,
            elf.file_name().unwrap_or_default().to_string_lossy()
        ),
        screendump::Check::Save,
        None,
    )?;
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
    let outcome = qemu::run_with_screendumps(
        &qemu.path,
        &qemu_args,
        &defmt,
        timeout,
        Some(&mut dumps),
        &mut |line| {
            println!("{line}");
            let _ = std::io::stdout().flush();
        },
    )?;
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
    let problems = dumps.problems();
    for p in &problems {
        eprintln!("error: screendump: {p}");
    }
    // The last thing a run prints: where the final frame's picture is.
    match dumps.taken.iter().rev().find(|t| t.path.is_some()) {
        Some(t) => {
            let path = t.path.as_deref().expect("found with a path");
            println!(
                "==> screenshot of frame {} ({}x{}): {}",
                t.request.frame,
                t.request.width,
                t.request.height,
                path.strip_prefix(root).unwrap_or(path).display()
            );
        }
        None if problems.is_empty() && !outcome.lines.is_empty() => {
            println!("==> no screenshot: the guest asked for none");
        }
        None => {}
    }
    match outcome.ending {
        qemu::Ending::Exited(0) if !problems.is_empty() => {
            eprintln!(
                "error: the guest finished, but {} screendump(s) failed (above)",
                problems.len()
            );
            Ok(ExitCode::FAILURE)
        }
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

/// `--frames N` as QEMU arguments: the kernel command line `frames=N`, which QEMU's `virt`
/// puts into the device tree's /chosen/bootargs also for an ELF `-kernel`
/// (hw/arm/boot.c, arm_load_dtb; checked with `-machine dumpdtb=`).
pub fn frames_args(frames: Option<u32>) -> Vec<String> {
    frames
        .map(|n| vec!["-append".to_string(), Frames(n).to_string()])
        .unwrap_or_default()
}

/// QEMU `-device` models (and machines) that give the guest something to show.
const DISPLAY_DEVICES: &[&str] = &[
    "ramfb",
    "virtio-gpu",
    "virtio-gpu-device",
    "virtio-gpu-pci",
    "virtio-gpu-gl-device",
    "virtio-gpu-gl-pci",
    "VGA",
    "bochs-display",
];
/// Machines with a built-in display controller (Exynos4210 FIMD).
const DISPLAY_MACHINES: &[&str] = &["smdkc210", "nuri"];

/// Whether this QEMU command line has a display: a display `-device` or such a machine.
pub fn has_display(machine: &str, args: &[String]) -> bool {
    let machine_name = machine.split(',').next().unwrap_or_default();
    if DISPLAY_MACHINES.contains(&machine_name) {
        return true;
    }
    args.windows(2).any(|w| {
        w[0] == "-device" && DISPLAY_DEVICES.contains(&w[1].split(',').next().unwrap_or_default())
    })
}

/// The first windowed backend in `qemu -display help` output: gtk, else sdl.
pub fn pick_window_backend(display_help: &str) -> Option<&'static str> {
    let listed: Vec<&str> = display_help.lines().map(str::trim).collect();
    ["gtk", "sdl"].into_iter().find(|b| listed.contains(b))
}

/// `--gui`: the display backend to use, or a clear error saying what is missing.
fn gui_display(qemu: &Path, machine: &str, args: &[String]) -> Result<&'static str> {
    if !has_display(machine, args) {
        bail!(
            "--gui: this QEMU command line has no display device, so a window would stay empty \
             (the board's qemu.args have none of {}; add one after `--`, e.g. `-- -device ramfb`)",
            DISPLAY_DEVICES.join(", ")
        );
    }
    // QEMU lists only the UI backends whose modules it can load (Debian packages gtk and
    // sdl as modules in qemu-system-gui).
    let out = std::process::Command::new(qemu)
        .args(["-display", "help"])
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} -display help", qemu.display()))?;
    let Some(backend) = pick_window_backend(&String::from_utf8_lossy(&out.stdout)) else {
        bail!(
            "--gui: {} has no windowed display backend (gtk or sdl); install its UI modules: \
             `sudo apt-get install qemu-system-gui`",
            qemu.display()
        );
    };
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        bail!(
            "--gui: no graphical session (neither DISPLAY nor WAYLAND_DISPLAY is set), so QEMU \
             cannot open a {backend} window; run from a desktop session or over `ssh -X`"
        );
    }
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn frames_become_bootargs() {
        assert_eq!(frames_args(Some(30)), strings(&["-append", "frames=30"]));
        assert!(frames_args(None).is_empty());
    }

    #[test]
    fn displays_are_recognised() {
        assert!(has_display(
            "virt",
            &strings(&["-m", "128M", "-device", "ramfb"])
        ));
        assert!(has_display(
            "virt",
            &strings(&["-device", "virtio-gpu-device,xres=640,yres=480"])
        ));
        assert!(has_display("smdkc210", &[]));
        assert!(!has_display(
            "virt",
            &strings(&["-device", "virtio-net-device"])
        ));
        // `ramfb` as the value of some other option is not a device.
        assert!(!has_display("virt", &strings(&["-name", "ramfb"])));
    }

    #[test]
    fn window_backend_from_display_help() {
        // The output of Debian's QEMU 10.0.2 with qemu-system-gui installed.
        let full = "Available display backend types:\nnone\ngtk\nsdl\negl-headless\ncurses\n\
                    spice-app\ndbus\n\nSome display backends support suboptions, ...\n";
        assert_eq!(pick_window_backend(full), Some("gtk"));
        let sdl_only = "Available display backend types:\nnone\nsdl\ncurses\n";
        assert_eq!(pick_window_backend(sdl_only), Some("sdl"));
        let headless = "Available display backend types:\nnone\ncurses\ndbus\n";
        assert_eq!(pick_window_backend(headless), None);
    }
}
