//! One conversation with U-Boot over its console: stop autoboot, upload, check, boot, then
//! stay on the console decoding defmt as `cargo xtask run` does (crate::console).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use dmasync_xtask::flash::config::UbootSerial;
use dmasync_xtask::flash::uboot;
use dmasync_xtask::flash::xymodem::{self, Protocol};

use super::serial::Port;
use crate::console::{Console, FrameFormatter};

/// How long U-Boot may take to show its prompt (power-on to countdown on a real board).
const PROMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one console command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The prompt as it appears when U-Boot waits for a command: at the start of a line (so
/// `=> ` is not found inside crc32's `==> `).
fn prompt_at_line_start(cfg: &UbootSerial) -> String {
    format!("\n{}", cfg.prompt)
}

/// The last bytes of what came, for error messages.
fn tail(seen: &[u8]) -> String {
    if seen.is_empty() {
        return "nothing".into();
    }
    let text = String::from_utf8_lossy(&seen[seen.len().saturating_sub(200)..]).into_owned();
    format!("{text:?}")
}

/// Sends a newline each second until U-Boot shows its prompt (a newline also stops the
/// autoboot countdown), then lets the line go quiet.
pub fn stop_autoboot(port: &mut Port, cfg: &UbootSerial) -> Result<()> {
    stop_autoboot_within(port, cfg, PROMPT_TIMEOUT)
}

fn stop_autoboot_within(port: &mut Port, cfg: &UbootSerial, limit: Duration) -> Result<()> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < limit {
        port.write_str("\n")?;
        if port
            .expect(
                &[prompt_at_line_start(cfg).as_str()],
                Duration::from_secs(1),
                &mut seen,
            )?
            .is_some()
        {
            // The countdown may have swallowed a newline and the rest printed prompts.
            port.drain(Duration::from_millis(300))?;
            return Ok(());
        }
        if port.is_closed() {
            break;
        }
    }
    bail!(
        "U-Boot did not answer on {} ({}): sent a newline every second for {:.0} s, expected \
         its prompt {:?} (or {:?}); received: {}. Is the board powered, the adapter on the \
         console UART, the baud rate {}?",
        port.path().display(),
        cfg.console,
        started.elapsed().as_secs_f64(),
        cfg.prompt,
        uboot::AUTOBOOT,
        tail(&seen),
        cfg.baud
    )
}

/// Runs one command and returns its output (between the echoed line and the next prompt).
pub fn command(port: &mut Port, cfg: &UbootSerial, cmd: &str) -> Result<String> {
    port.write_str(&format!("{cmd}\n"))?;
    let mut seen = Vec::new();
    // The echo first, so a prompt inside it is not taken for the end.
    if port.expect(&[cmd], COMMAND_TIMEOUT, &mut seen)?.is_none() {
        bail!(
            "U-Boot did not echo `{cmd}` within {} s; received: {}",
            COMMAND_TIMEOUT.as_secs(),
            tail(&seen)
        );
    }
    let mut out = Vec::new();
    if port
        .expect(
            &[prompt_at_line_start(cfg).as_str()],
            COMMAND_TIMEOUT,
            &mut out,
        )?
        .is_none()
    {
        bail!(
            "`{cmd}`: no prompt {:?} within {} s; received: {}",
            cfg.prompt,
            COMMAND_TIMEOUT.as_secs(),
            tail(&out)
        );
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A byte counter: indicatif's bar on a terminal, a line per quarter otherwise.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    printed_quarter: u64,
}

impl Progress {
    pub(super) fn new(total: u64, what: &str) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(what.to_string());
            bar
        });
        if bar.is_none() {
            println!("{what}: 0/{total} bytes");
        }
        Progress {
            bar,
            total,
            printed_quarter: 0,
        }
    }

    pub(super) fn update(&mut self, done: u64, started: Instant) {
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None => {
                let quarter = done * 4 / self.total.max(1);
                if quarter > self.printed_quarter {
                    self.printed_quarter = quarter;
                    let secs = started.elapsed().as_secs_f64().max(1e-3);
                    println!(
                        "  {done}/{} bytes ({:.0} KiB/s)",
                        self.total,
                        done as f64 / 1024.0 / secs
                    );
                }
            }
        }
    }

    pub(super) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `loadx`/`loady` the image to the staging address, then check what U-Boot got: the size
/// it reports and the CRC32 its `crc32` command computes over the received bytes.
pub fn upload(port: &mut Port, cfg: &UbootSerial, protocol: Protocol, image: &[u8]) -> Result<()> {
    let size = image.len() as u64;
    check_window(cfg, size)?;
    let load = uboot::load_command(protocol, cfg.staging_address);
    println!("  U-Boot: {load}");
    port.write_str(&format!("{load}\n"))?;
    let mut seen = Vec::new();
    let ready = uboot::ready_line(protocol);
    if port
        .expect(&[ready.as_str()], COMMAND_TIMEOUT, &mut seen)?
        .is_none()
    {
        bail!(
            "sent `{load}`, expected {ready:?} within {} s; received: {} (U-Boot built without \
             CONFIG_CMD_LOADB?)",
            COMMAND_TIMEOUT.as_secs(),
            tail(&seen)
        );
    }
    let started = Instant::now();
    let mut progress = Progress::new(size, protocol.name());
    let sent = xymodem::send(
        port,
        protocol,
        "dmasync.uimg",
        image,
        &xymodem::Options::default(),
        &mut |done| progress.update(done, started),
    );
    progress.finish();
    if let Err(e) = sent {
        // U-Boot returns to its prompt after a cancel or its own timeout.
        bail!("{} upload failed: {e}", protocol.name());
    }
    let secs = started.elapsed().as_secs_f64();
    let mut out = Vec::new();
    if port
        .expect(
            &[prompt_at_line_start(cfg).as_str()],
            COMMAND_TIMEOUT,
            &mut out,
        )?
        .is_none()
    {
        bail!(
            "after the upload U-Boot showed no prompt within {} s; received: {}",
            COMMAND_TIMEOUT.as_secs(),
            tail(&out)
        );
    }
    let text = String::from_utf8_lossy(&out);
    let reported = uboot::parse_total_size(&text).with_context(|| {
        format!("U-Boot did not report `## Total Size` after the upload; it printed {text:?}")
    })?;
    uboot::check_total(protocol, size, reported)?;
    let crc = command(port, cfg, &uboot::crc_command(cfg.staging_address, size))?;
    let theirs = uboot::parse_crc32(&crc)
        .with_context(|| format!("cannot read U-Boot's crc32 answer {crc:?}"))?;
    let ours = crc32fast::hash(image);
    if theirs != ours {
        bail!(
            "U-Boot's CRC32 of the {size} received bytes is {theirs:08x}, the image's is \
             {ours:08x}: the transfer corrupted it"
        );
    }
    println!(
        "  sent {size} bytes in {secs:.2} s ({:.0} KiB/s); U-Boot got {reported} bytes, CRC32 \
         {theirs:08x} matches",
        size as f64 / 1024.0 / secs.max(1e-3)
    );
    Ok(())
}

/// An image larger than the load window is refused before anything is sent.
fn check_window(cfg: &UbootSerial, size: u64) -> Result<()> {
    if size > cfg.staging_size {
        bail!(
            "the image is {size} bytes, larger than the board's load window of {} bytes at \
             {:#x} (board.toml flash.uboot-serial.staging_size)",
            cfg.staging_size,
            cfg.staging_address
        );
    }
    Ok(())
}

/// How the console watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The firmware printed its verdict line.
    Verdict {
        ok: bool,
    },
    /// The line closed (QEMU exited: semihosting exit in the rehearsal).
    Closed,
    TimedOut,
}

/// `bootm`, then the console until the verdict line, the line closing, or `timeout`.
pub fn boot_and_watch(
    port: &mut Port,
    cfg: &UbootSerial,
    formatter: &dyn FrameFormatter,
    timeout: Option<Duration>,
    on_line: &mut dyn FnMut(&str),
) -> Result<(End, Vec<String>)> {
    let boot = uboot::boot_command_for(cfg.image, cfg.staging_address, &cfg.fdt);
    println!("  U-Boot: {boot}");
    port.write_str(&format!("{boot}\n"))?;
    watch(port, &boot, COMMAND_TIMEOUT, formatter, timeout, on_line)
}

/// Waits up to `start` for U-Boot to jump into the image (after `what`: a `bootm` sent, or
/// distro boot running a boot script), then shows the console as [`boot_and_watch`] does.
pub fn watch(
    port: &mut Port,
    what: &str,
    start: Duration,
    formatter: &dyn FrameFormatter,
    timeout: Option<Duration>,
    on_line: &mut dyn FnMut(&str),
) -> Result<(End, Vec<String>)> {
    let mut seen = Vec::new();
    // U-Boot's last words before the jump (boot/bootm_os.c, "Starting kernel ...").
    let found = port.expect(
        &["Starting kernel", "Bad Data CRC", "Wrong Image", "ERROR"],
        start,
        &mut seen,
    )?;
    match found {
        Some((0, _)) => {}
        Some(_) => bail!("bootm refused the image: {}", tail(&seen)),
        None => bail!(
            "{what}: expected \"Starting kernel\" within {} s; received: {}",
            start.as_secs(),
            tail(&seen)
        ),
    }
    let started = Instant::now();
    let mut console = Console::new(formatter);
    loop {
        let left = match timeout {
            Some(t) => match t.checked_sub(started.elapsed()) {
                Some(l) => l,
                None => return Ok((End::TimedOut, console.lines().to_vec())),
            },
            None => Duration::from_millis(500),
        };
        let bytes = port.read_some(left.min(Duration::from_millis(500)))?;
        for line in console.feed(&bytes) {
            on_line(&line);
            let _ = std::io::stdout().flush();
            if let Some(rest) = line.strip_prefix("verdict: ") {
                let ok = rest.starts_with("ok");
                for l in console.finish() {
                    on_line(&l);
                }
                return Ok((End::Verdict { ok }, console.lines().to_vec()));
            }
        }
        if port.is_closed() {
            for l in console.finish() {
                on_line(&l);
            }
            return Ok((End::Closed, console.lines().to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmasync_xtask::flash::config::ImageFormat;
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

    fn cfg() -> UbootSerial {
        UbootSerial {
            console: "ttyAMA0".into(),
            baud: 115200,
            prompt: "=> ".into(),
            image: ImageFormat::Uimage,
            staging_address: 0x4100_0000,
            staging_size: 0x1000,
            fdt: "${fdtcontroladdr}".into(),
        }
    }

    #[test]
    fn an_image_past_the_load_window_is_refused() {
        assert!(check_window(&cfg(), 0x1000).is_ok());
        let e = check_window(&cfg(), 0x1001).unwrap_err().to_string();
        assert!(
            e.contains("4097 bytes, larger than the board's load window of 4096"),
            "{e}"
        );
    }

    /// A pty whose other end nobody answers on: a board that is off, or the wrong port.
    #[test]
    fn a_silent_u_boot_is_reported_with_what_was_sent_and_expected() {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let slave = ptsname(&master, Vec::new()).unwrap();
        let path = std::path::PathBuf::from(slave.to_str().unwrap());
        let mut port = Port::open(&path, 115200).unwrap();
        let e = stop_autoboot_within(&mut port, &cfg(), Duration::from_secs(2))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("U-Boot did not answer on {}", path.display())),
            "{e}"
        );
        assert!(e.contains("sent a newline every second"), "{e}");
        assert!(e.contains("expected its prompt \"=> \""), "{e}");
        assert!(e.contains("received: nothing"), "{e}");
        // What the port wrote did reach the other side: the newlines.
        let mut buf = [0u8; 16];
        let n = rustix::io::read(&master, &mut buf).unwrap();
        assert!(
            n >= 1 && buf[..n].iter().all(|&b| b == b'\n' || b == b'\r'),
            "{:?}",
            &buf[..n]
        );
    }
}
