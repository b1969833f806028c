//! The QEMU rehearsal: Debian's U-Boot for QEMU (`u-boot-qemu`) as the machine's firmware,
//! its console on a pty, so `flash --via uboot-serial` talks to real U-Boot exactly as it
//! would over a USB-serial adapter (hardware.md §5.2).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::boards::{Board, Variant};
use crate::provision::Qemu;
use crate::qemu::GroupGuard;

/// Debian's U-Boot build for a QEMU binary, and the package that has it.
pub fn uboot_for(qemu_binary: &str) -> Option<&'static str> {
    match qemu_binary {
        "qemu-system-aarch64" => Some("/usr/lib/u-boot/qemu_arm64/u-boot.bin"),
        "qemu-system-arm" => Some("/usr/lib/u-boot/qemu_arm/u-boot.bin"),
        _ => None,
    }
}

/// Whether the board's U-Boot flow can be rehearsed here: Debian's U-Boot builds are for the
/// `virt` machine only (exynos4 needs smdkc210, which they do not support).
pub fn supported(board: &Board) -> bool {
    board.flash.uboot_serial.is_some()
        && board.qemu.machine.split(',').next() == Some("virt")
        && uboot_for(&board.qemu.binary).is_some()
}

/// `char device redirected to /dev/pts/3 (label serial0)` -> /dev/pts/3.
pub fn parse_pty(line: &str) -> Option<PathBuf> {
    let rest = line.split("char device redirected to ").nth(1)?;
    let path = rest.split_whitespace().next()?;
    path.starts_with("/dev/").then(|| PathBuf::from(path))
}

/// A running QEMU with U-Boot; dropping it kills the process group.
pub struct Rehearsal {
    guard: GroupGuard,
    pub pty: PathBuf,
    pub command: String,
}

/// The QEMU arguments: the board's machine shape with U-Boot as `-bios` and the UART on a pty.
pub fn command_line(variant: &Variant, uboot: &Path) -> Vec<String> {
    let mut args = vec!["-M".to_string(), variant.machine.clone()];
    args.extend(variant.args.iter().cloned());
    for a in [
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "pty",
        "-no-reboot",
        "-semihosting-config",
        "enable=on,target=native",
        "-bios",
    ] {
        args.push(a.to_string());
    }
    args.push(uboot.display().to_string());
    args
}

impl Rehearsal {
    /// `extra` goes after the standard arguments (the SD image as a virtio disk).
    pub fn start(
        qemu: &Qemu,
        variant: &Variant,
        uboot: &Path,
        extra: &[String],
    ) -> Result<Rehearsal> {
        let mut args = command_line(variant, uboot);
        args.extend(extra.iter().cloned());
        let command = format!("{} {}", qemu.path.display(), args.join(" "));
        let mut cmd = Command::new(&qemu.path);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = GroupGuard::spawn(cmd)
            .with_context(|| format!("cannot start {}", qemu.path.display()))?;
        let stdout = guard.child.stdout.take().context("QEMU stdout not piped")?;
        let stderr = guard.child.stderr.take().context("QEMU stderr not piped")?;
        let (tx, rx) = mpsc::channel::<String>();
        for from in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(from).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut said = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(pty) = parse_pty(&line) {
                        // Keep draining QEMU's messages so it never blocks on a full pipe.
                        std::thread::spawn(move || for _ in rx {});
                        return Ok(Rehearsal {
                            guard,
                            pty,
                            command,
                        });
                    }
                    said.push(line);
                }
                Err(_) => break,
            }
        }
        guard.kill();
        bail!(
            "QEMU did not say which pty its serial port is on (expected \"char device \
             redirected to /dev/pts/N\"); it printed: {}",
            if said.is_empty() {
                "nothing".to_string()
            } else {
                said.join(" | ")
            }
        )
    }

    /// QEMU's exit code once it has exited (the firmware's semihosting exit), waiting at
    /// most `wait`; `None` if it is still running (it is then killed by drop).
    pub fn exit_code(&mut self, wait: Duration) -> Result<Option<i32>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.guard.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pty_is_read_from_qemu_s_message() {
        assert_eq!(
            parse_pty("char device redirected to /dev/pts/3 (label serial0)"),
            Some(PathBuf::from("/dev/pts/3"))
        );
        assert_eq!(parse_pty("qemu-system-aarch64: warning: x"), None);
        assert_eq!(parse_pty("char device redirected to nowhere"), None);
    }

    #[test]
    fn the_command_line_boots_u_boot_with_a_pty() {
        let v = Variant {
            name: "d".into(),
            machine: "virt".into(),
            args: vec!["-m".into(), "128M".into()],
            expect: vec![],
            tests: None,
        };
        let args = command_line(&v, Path::new("/usr/lib/u-boot/qemu_arm64/u-boot.bin")).join(" ");
        assert_eq!(
            args,
            "-M virt -m 128M -display none -monitor none -serial pty -no-reboot \
             -semihosting-config enable=on,target=native -bios /usr/lib/u-boot/qemu_arm64/u-boot.bin"
        );
    }
}
