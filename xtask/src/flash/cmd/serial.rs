//! The serial port to U-Boot's console: a USB-serial adapter (`/dev/ttyUSB0`) or the pty
//! QEMU's `-serial pty` gives. Raw mode through rustix's termios (safe wrappers; xtask is
//! `forbid(unsafe_code)`), not the `serialport` crate: see doc/flashing.md.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{FlockOperation, OFlags, flock};
use rustix::termios::{OptionalActions, QueueSelector, tcflush, tcgetattr, tcsetattr};

use dmasync_xtask::flash::xymodem::Link;

/// An open, locked, raw-mode serial port with a read-ahead buffer: bytes a console match
/// did not use stay for the next reader (the transfer protocol's first `C`).
pub struct Port {
    file: File,
    path: PathBuf,
    pending: Vec<u8>,
    /// The other side hung up (QEMU exited): reads return nothing more.
    closed: bool,
}

impl Port {
    pub fn open(path: &Path, baud: u32) -> Result<Port> {
        if !path.exists() {
            bail!(
                "no such serial port {}: is the USB-serial adapter plugged in? (it shows up as \
                 /dev/ttyUSB<n> or /dev/ttyACM<n>; `ls /dev/serial/by-id/` lists them)",
                path.display()
            );
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags((OFlags::NOCTTY | OFlags::NONBLOCK).bits() as i32)
            .open(path)
            .with_context(|| format!("cannot open serial port {}", path.display()))?;
        // Terminal programs (picocom, tio, minicom) take the same advisory lock.
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if e == rustix::io::Errno::WOULDBLOCK {
                bail!(
                    "serial port {} is busy: another program holds it (a terminal like picocom, \
                     tio, minicom or screen?); close it and try again",
                    path.display()
                );
            }
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
        let mut tio = tcgetattr(&file)
            .map_err(|e| anyhow::anyhow!("{} is not a serial port ({e})", path.display()))?;
        tio.make_raw();
        tio.set_speed(baud)
            .with_context(|| format!("{} does not take {baud} baud", path.display()))?;
        tcsetattr(&file, OptionalActions::Now, &tio)
            .with_context(|| format!("cannot set raw mode on {}", path.display()))?;
        // Later opens by others fail with EBUSY (root is exempt; the flock above still holds).
        let _ = rustix::termios::ioctl_tiocexcl(&file);
        // Stale input from before we came (a half-typed line) is not U-Boot's answer.
        let _ = tcflush(&file, QueueSelector::IFlush);
        Ok(Port {
            file,
            path: path.to_path_buf(),
            pending: Vec::new(),
            closed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Reads what arrives within `timeout` into the buffer; false when nothing came.
    fn fill(&mut self, timeout: Duration) -> io::Result<bool> {
        if self.closed {
            return Ok(false);
        }
        let ts = Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&self.file, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let hangup = fds[0].revents().contains(PollFlags::HUP);
        let mut buf = [0u8; 4096];
        match self.file.read(&mut buf) {
            Ok(0) => {
                self.closed = true;
                Ok(false)
            }
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            // A pty whose other side closed reads EIO.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                self.closed = true;
                Ok(false)
            }
            Err(e) if hangup => {
                let _ = e;
                self.closed = true;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Everything buffered or arriving within `timeout`.
    pub fn read_some(&mut self, timeout: Duration) -> io::Result<Vec<u8>> {
        if self.pending.is_empty() {
            self.fill(timeout)?;
        }
        Ok(std::mem::take(&mut self.pending))
    }

    /// Drops input until the line is quiet for `quiet`.
    pub fn drain(&mut self, quiet: Duration) -> io::Result<()> {
        self.pending.clear();
        while self.fill(quiet)? {
            self.pending.clear();
        }
        Ok(())
    }

    pub fn write_str(&mut self, s: &str) -> io::Result<()> {
        self.send(s.as_bytes())
    }

    /// Reads until one of `needles` appears and returns the text up to the end of that line;
    /// bytes after it stay buffered. `None` when `timeout` passes (or the line closes) first;
    /// then everything read is returned in `seen`.
    pub fn expect(
        &mut self,
        needles: &[&str],
        timeout: Duration,
        seen: &mut Vec<u8>,
    ) -> io::Result<Option<(usize, String)>> {
        let deadline = Instant::now() + timeout;
        loop {
            for (i, needle) in needles.iter().enumerate() {
                if let Some(at) = find(&self.pending, needle.as_bytes()) {
                    let mut end = at + needle.len();
                    // The rest of the matched line too, when it is there already.
                    if let Some(nl) = self.pending[end..].iter().position(|&b| b == b'\n') {
                        end += nl + 1;
                    }
                    let text: Vec<u8> = self.pending.drain(..end).collect();
                    seen.extend_from_slice(&text);
                    return Ok(Some((i, String::from_utf8_lossy(&text).into_owned())));
                }
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                seen.extend_from_slice(&self.pending);
                return Ok(None);
            };
            if !self.fill(left.min(Duration::from_millis(200)))? && self.closed {
                seen.extend_from_slice(&self.pending);
                return Ok(None);
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Link for Port {
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<u8>> {
        if self.pending.is_empty() {
            self.fill(timeout)?;
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.pending.remove(0)))
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.file.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let mut fds = [PollFd::new(&self.file, PollFlags::OUT)];
                    let ts = Timespec {
                        tv_sec: 5,
                        tv_nsec: 0,
                    };
                    if poll(&mut fds, Some(&ts))? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the serial port took no data for 5 s",
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_port_is_named() {
        let e = Port::open(Path::new("/dev/ttyUSB-not-here"), 115200)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("no such serial port /dev/ttyUSB-not-here"),
            "{e}"
        );
    }

    #[test]
    fn a_plain_file_is_not_a_serial_port() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let e = format!("{:#}", Port::open(f.path(), 115200).err().unwrap());
        assert!(e.contains("is not a serial port"), "{e}");
    }

    #[test]
    fn a_locked_port_is_busy() {
        // The lock is what a terminal program holds; a second open must say "busy".
        let f = tempfile::NamedTempFile::new().unwrap();
        let holder = File::open(f.path()).unwrap();
        flock(&holder, FlockOperation::NonBlockingLockExclusive).unwrap();
        let e = format!("{:#}", Port::open(f.path(), 115200).err().unwrap());
        assert!(e.contains("is busy"), "{e}");
    }

    #[test]
    fn find_bytes() {
        assert_eq!(find(b"abc=> ", b"=> "), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
    }
}
