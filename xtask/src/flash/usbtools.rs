//! The USB methods (`dfu`, `fastboot`, `uuu`) are carried out by their own tools; this is the
//! exact command lines (and uuu's script) xtask runs, and a runner that shows a tool's
//! output as it comes, reports its exit status, and stops it after a time limit (fastboot
//! and uuu wait for a device forever).

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::config::{Dfu, Fastboot, Uuu};
use super::uboot;

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
}

impl Invocation {
    fn new(program: &str, args: &[&str]) -> Self {
        Invocation {
            program: program.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl fmt::Display for Invocation {
    /// As a shell would take it: arguments with shell characters in single quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for a in &self.args {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
            if plain {
                write!(f, " {a}")?;
            } else {
                write!(f, " '{}'", a.replace('\'', r"'\''"))?;
            }
        }
        Ok(())
    }
}

/// `dfu-util -d <usb_id> -a <alt> -D <image>`: the board must already be in U-Boot's `dfu`
/// (the table's `uboot_command`); without a device dfu-util fails at once.
pub fn dfu(d: &Dfu, image: &Path) -> Invocation {
    Invocation::new(
        "dfu-util",
        &[
            "-d",
            &d.usb_id,
            "-a",
            &d.alt,
            "-D",
            &image.to_string_lossy(),
        ],
    )
}

/// `fastboot stage <image>` (to U-Boot's fastboot buffer), then `fastboot oem run:<bootm>`
/// (U-Boot's `CONFIG_FASTBOOT_OEM_RUN`).
pub fn fastboot(f: &Fastboot, image: &Path) -> Vec<Invocation> {
    vec![
        Invocation::new("fastboot", &["stage", &image.to_string_lossy()]),
        Invocation::new(
            "fastboot",
            &[
                "oem",
                &format!(
                    "run:{}",
                    uboot::boot_command_for(f.image, f.staging_address, &f.fdt)
                ),
            ],
        ),
    ]
}

/// File names as the uuu script uses them: uuu resolves a script's paths relative to the
/// script's own directory, so the script, the boot loader and the image go side by side.
pub const UUU_SCRIPT: &str = "dmasync.uuu";

/// The uuu script: the i.MX 8M Plus ROM takes the boot loader by serial download (SDPS,
/// as uuu's built-in `spl` script does for MX865 = i.MX 8M Plus), then U-Boot's fastboot
/// gadget takes the image into `staging_address` and `bootm` runs it (`acmd`: not waiting
/// for an answer, bootm does not return).
pub fn uuu_script(u: &Uuu, bootloader: &str, image: &str) -> String {
    format!(
        "uuu_version 1.2.39\n\
         # dmasync: serial-download U-Boot, then fastboot the image and bootm it\n\
         SDPS: boot -f {bootloader}\n\
         FB: ucmd setenv fastboot_buffer {:#x}\n\
         FB: download -f {image}\n\
         FB: acmd {}\n\
         FB: done\n",
        u.staging_address,
        uboot::boot_command_for(u.image, u.staging_address, &u.fdt)
    )
}

/// `uuu -t <secs> <script>`: uuu's own wait for a device, so "no device" is uuu's error.
pub fn uuu(script: &Path, wait: Duration) -> Invocation {
    Invocation::new(
        "uuu",
        &[
            "-t",
            &wait.as_secs().max(1).to_string(),
            &script.to_string_lossy(),
        ],
    )
}

/// How a tool run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The exit code; None when it was stopped at the time limit or died of a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    /// stdout and stderr lines, in the order they came (roughly, between the two).
    pub output: Vec<String>,
    /// Each stream's own lines, in order: what the error shows, whatever the interleaving.
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Run {
    /// Ok for exit code 0; otherwise an error with the command, how it ended and its last
    /// lines (where a tool says "no device").
    pub fn check(&self, inv: &Invocation, limit: Duration) -> Result<()> {
        if self.code == Some(0) {
            return Ok(());
        }
        let how = if self.timed_out {
            format!(
                "was stopped after {} s (no answer: no device?)",
                limit.as_secs()
            )
        } else {
            match self.code {
                Some(c) => format!("failed with exit status {c}"),
                None => "was killed by a signal".to_string(),
            }
        };
        let last = |lines: &[String]| {
            let l: Vec<&str> = lines
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            l[l.len().saturating_sub(3)..].join(" | ")
        };
        let said = [last(&self.stdout), last(&self.stderr)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" | ");
        bail!(
            "`{inv}` {how}; it said: {}",
            if said.is_empty() { "nothing" } else { &said }
        )
    }
}

/// Removes terminal colour and cursor sequences (uuu writes them) from a line.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// Runs `inv` with stdin closed, passing each output line to `on_line` as it comes, and
/// kills it when `limit` passes. `program` overrides the executable (the tools' absolute
/// paths).
pub fn run(
    inv: &Invocation,
    program: Option<&Path>,
    limit: Duration,
    on_line: &mut dyn FnMut(&str),
) -> Result<Run> {
    let exe: PathBuf = program.map_or_else(|| PathBuf::from(&inv.program), Path::to_path_buf);
    let mut child = Command::new(&exe)
        .args(&inv.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let (tx, rx) = mpsc::channel::<(bool, String)>();
    let pipes: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().expect("piped")),
        Box::new(child.stderr.take().expect("piped")),
    ];
    // Detached readers: a grandchild still holding a pipe must not keep xtask waiting.
    for (is_err, p) in pipes.into_iter().enumerate() {
        let is_err = is_err == 1;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(p).split(b'\n').map_while(|l| l.ok()) {
                if tx
                    .send((is_err, plain(&String::from_utf8_lossy(&line))))
                    .is_err()
                {
                    break;
                }
            }
        });
    }
    drop(tx);
    let started = Instant::now();
    let mut r = Run {
        code: None,
        timed_out: false,
        output: Vec::new(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    let mut keep = |(is_err, line): (bool, String), r: &mut Run| {
        on_line(&line);
        if is_err { &mut r.stderr } else { &mut r.stdout }.push(line.clone());
        r.output.push(line);
    };
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(got) => keep(got, &mut r),
            // Both pipes closed: the tool is done (or handed them to no one).
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if started.elapsed() >= limit {
            r.timed_out = true;
            let _ = child.kill();
            break;
        }
    }
    let status = child.wait().context("cannot reap the tool")?;
    // Lines that came while it was being stopped.
    for got in rx.try_iter() {
        keep(got, &mut r);
    }
    if !r.timed_out {
        r.code = status.code();
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::config::FlashMethods;

    fn methods() -> FlashMethods {
        toml::from_str(
            r#"
[dfu]
image = "uimage"
uboot_command = "dfu 0 ram 0"
alt = "dmasync"
usb_id = "04e8:6601"
staging_address = 0x4100_0000
staging_size = 0x0100_0000

[uuu]
image = "uimage"
bootloader = "flash.bin"
staging_address = 0x4048_0000
fdt = "${fdt_addr_r}"

[fastboot]
image = "uimage"
staging_address = 0x4048_0000
fdt = "${fdt_addr_r}"
"#,
        )
        .unwrap()
    }

    #[test]
    fn the_commands_are_exact() {
        let m = methods();
        let img = Path::new("target/flash/b/boot.uimg");
        assert_eq!(
            dfu(m.dfu.as_ref().unwrap(), img).to_string(),
            "dfu-util -d 04e8:6601 -a dmasync -D target/flash/b/boot.uimg"
        );
        let fb: Vec<String> = fastboot(m.fastboot.as_ref().unwrap(), img)
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(
            fb,
            [
                "fastboot stage target/flash/b/boot.uimg",
                "fastboot oem 'run:bootm 0x40480000 - ${fdt_addr_r}'"
            ]
        );
        // The argument itself carries no quotes: they are only for showing it.
        assert_eq!(
            fastboot(m.fastboot.as_ref().unwrap(), img)[1].args[1],
            "run:bootm 0x40480000 - ${fdt_addr_r}"
        );
        assert_eq!(
            uuu(Path::new("d/dmasync.uuu"), Duration::from_secs(30)).to_string(),
            "uuu -t 30 d/dmasync.uuu"
        );
        assert_eq!(
            uuu_script(m.uuu.as_ref().unwrap(), "flash.bin", "boot.uimg"),
            "uuu_version 1.2.39\n\
             # dmasync: serial-download U-Boot, then fastboot the image and bootm it\n\
             SDPS: boot -f flash.bin\n\
             FB: ucmd setenv fastboot_buffer 0x40480000\n\
             FB: download -f boot.uimg\n\
             FB: acmd bootm 0x40480000 - ${fdt_addr_r}\n\
             FB: done\n"
        );
    }

    #[test]
    fn the_uuu_script_is_one_uuu_accepts() {
        // uuu -dry parses the script and checks its files without a device.
        let uuu = crate::flash::required_tool("/usr/bin/uuu", "uuu");
        let m = methods();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("flash.bin"), b"spl").unwrap();
        std::fs::write(dir.path().join("boot.uimg"), b"image").unwrap();
        let script = dir.path().join(UUU_SCRIPT);
        std::fs::write(
            &script,
            uuu_script(m.uuu.as_ref().unwrap(), "flash.bin", "boot.uimg"),
        )
        .unwrap();
        let dry = Invocation {
            program: "uuu".into(),
            args: vec!["-dry".into(), script.to_string_lossy().into_owned()],
        };
        let r = run(&dry, Some(uuu), Duration::from_secs(60), &mut |_| {}).unwrap();
        r.check(&dry, Duration::from_secs(60)).unwrap();
        // And it does reject a broken one, so the check above means something.
        std::fs::write(&script, "uuu_version 1.2.39\nSDPS: bot -f flash.bin\n").unwrap();
        let r = run(&dry, Some(uuu), Duration::from_secs(60), &mut |_| {}).unwrap();
        let e = r
            .check(&dry, Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Unknown Command"), "{e}");
    }

    #[test]
    fn exit_status_and_output_are_reported() {
        let inv = Invocation::new(
            "sh",
            &["-c", "echo one; echo \"\x1b[91mtwo\x1b[0m\" >&2; exit 3"],
        );
        let mut seen = Vec::new();
        let r = run(&inv, None, Duration::from_secs(60), &mut |l| {
            seen.push(l.to_string())
        })
        .unwrap();
        assert_eq!(r.code, Some(3));
        assert!(!r.timed_out);
        seen.sort();
        assert_eq!(seen, ["one", "two"]);
        let e = r
            .check(&inv, Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(e.contains("failed with exit status 3"), "{e}");
        let ok = Invocation::new("true", &[]);
        run(&ok, None, Duration::from_secs(60), &mut |_| {})
            .unwrap()
            .check(&ok, Duration::from_secs(60))
            .unwrap();
    }

    #[test]
    fn a_tool_that_waits_forever_is_stopped() {
        let inv = Invocation::new(
            "sh",
            &["-c", "echo '< waiting for any device >'; exec sleep 600"],
        );
        let r = run(&inv, None, Duration::from_secs(1), &mut |_| {}).unwrap();
        assert!(r.timed_out);
        let e = r
            .check(&inv, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("was stopped after 1 s") && e.contains("< waiting for any device >"),
            "{e}"
        );
    }

    #[test]
    fn without_a_device_the_tools_own_error_is_surfaced() {
        let m = methods();
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("boot.uimg");
        std::fs::write(&img, b"image").unwrap();
        let limit = Duration::from_secs(20);
        let dfu_util = crate::flash::required_tool("/usr/bin/dfu-util", "dfu-util");
        let inv = dfu(m.dfu.as_ref().unwrap(), &img);
        let r = run(&inv, Some(dfu_util), limit, &mut |_| {}).unwrap();
        let e = r.check(&inv, limit).unwrap_err().to_string();
        assert!(!r.timed_out, "dfu-util does not wait: {e}");
        assert!(e.contains("No DFU capable USB device available"), "{e}");

        // fastboot waits for a device with no limit of its own: ours stops it.
        let fastboot_bin = crate::flash::required_tool("/usr/bin/fastboot", "fastboot");
        let inv = &fastboot(m.fastboot.as_ref().unwrap(), &img)[0];
        let short = Duration::from_secs(2);
        let r = run(inv, Some(fastboot_bin), short, &mut |_| {}).unwrap();
        let e = r.check(inv, short).unwrap_err().to_string();
        assert!(r.timed_out && e.contains("waiting for any device"), "{e}");

        let uuu_bin = crate::flash::required_tool("/usr/bin/uuu", "uuu");
        std::fs::write(dir.path().join("flash.bin"), b"spl").unwrap();
        let script = dir.path().join(UUU_SCRIPT);
        std::fs::write(
            &script,
            uuu_script(m.uuu.as_ref().unwrap(), "flash.bin", "boot.uimg"),
        )
        .unwrap();
        let inv = uuu(&script, Duration::from_secs(1));
        let r = run(&inv, Some(uuu_bin), limit, &mut |_| {}).unwrap();
        let e = r.check(&inv, limit).unwrap_err().to_string();
        assert!(!r.timed_out, "uuu -t stops by itself: {e}");
        assert!(e.contains("Timeout: Wait for Known USB Device"), "{e}");
    }
}
