//! Running QEMU: locating the binary, its command line, and one guest run with a timeout,
//! console decoding and process-group hygiene (no QEMU outlives xtask).

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::process::{Pid, Signal, WaitOptions, kill_process_group, waitpid};

use crate::boards::Variant;
use crate::console::{Console, FrameFormatter};
use crate::screendump::{self, Screendumps};

/// Oldest QEMU whose behaviour doc/boards.md and hardware.md were measured with.
pub const MIN_VERSION: (u32, u32) = (10, 0);

/// Where to look for QEMU instead of `PATH` (also the way to simulate a machine without it).
pub const DIR_OVERRIDE_VAR: &str = "DMASYNC_QEMU_DIR";

/// Finds `binary` in `$DMASYNC_QEMU_DIR` when set, else on `PATH`.
pub fn locate(binary: &str) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = match std::env::var_os(DIR_OVERRIDE_VAR) {
        Some(dir) => vec![PathBuf::from(dir)],
        None => std::env::split_paths(&std::env::var_os("PATH")?).collect(),
    };
    dirs.into_iter()
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
}

/// `QEMU emulator version 10.0.2 (Debian ...)` -> (10, 0, 2).
pub fn parse_version(output: &str) -> Option<(u32, u32, u32)> {
    let first = output.lines().next()?;
    let rest = first.split("version ").nth(1)?;
    let word = rest.split_whitespace().next()?;
    let mut nums = word.split('.').map(|n| {
        n.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    let major = nums.next()??;
    let minor = nums.next().flatten().unwrap_or(0);
    let patch = nums.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// Runs `<qemu> --version`.
pub fn version_of(path: &Path) -> Result<(u32, u32, u32)> {
    let out = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} --version", path.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).with_context(|| {
        format!(
            "cannot read a version from `{} --version`: {:?}",
            path.display(),
            text.lines().next().unwrap_or_default()
        )
    })
}

/// The full QEMU argument list for one image under one variant. `extra` goes last so a user
/// can add devices or override options.
pub fn command_line(variant: &Variant, kernel: &Path, extra: &[String]) -> Vec<String> {
    command_line_with_display(variant, kernel, "none", extra)
}

/// [`command_line`] with a display backend other than `none` (`gtk`, `sdl`: a window).
pub fn command_line_with_display(
    variant: &Variant,
    kernel: &Path,
    display: &str,
    extra: &[String],
) -> Vec<String> {
    let mut args = vec!["-M".to_string(), variant.machine.clone()];
    args.extend(variant.args.iter().cloned());
    args.extend(["-display".to_string(), display.to_string()]);
    for a in [
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
    ] {
        args.push(a.to_string());
    }
    args.push(kernel.display().to_string());
    args.extend(extra.iter().cloned());
    args
}

/// How a QEMU run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// QEMU exited; with semihosting this is the guest's exit code.
    Exited(i32),
    /// QEMU was killed by a signal it did not get from us.
    Signalled(i32),
    /// The timeout expired; xtask killed the process group.
    TimedOut(Duration),
}

#[derive(Debug)]
pub struct Outcome {
    pub ending: Ending,
    pub lines: Vec<String>,
    /// QEMU's own messages (bad options, missing files): not guest output.
    pub stderr: Vec<String>,
    pub first_output: Option<Duration>,
    pub elapsed: Duration,
}

/// Process group of the QEMU that runs right now (0: none), for the Ctrl-C handler.
static RUNNING_GROUP: AtomicI32 = AtomicI32::new(0);

/// How long a QEMU gets to exit after SIGTERM before its group gets SIGKILL. Normally QEMU
/// exits at once ("terminating on signal 15"); one whose main loop is stuck (a raspi3b DMA
/// of a length that is not a multiple of 4, issue #14) never handles the signal.
pub(crate) const TERM_GRACE: Duration = Duration::from_secs(2);

/// Installs the Ctrl-C handler: stop and reap the running QEMU group, then exit 130.
pub fn install_interrupt_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        let group = RUNNING_GROUP.swap(0, Ordering::SeqCst);
        if group > 0
            && let Some(pid) = Pid::from_raw(group)
        {
            // The group leader is our child, its pid is the group's id.
            stop_group(
                group,
                || waitpid(Some(pid), WaitOptions::NOHANG).map_or(true, |s| s.is_some()),
                || {
                    let _ = waitpid(Some(pid), WaitOptions::empty());
                },
            );
        }
        eprintln!("error: interrupted");
        std::process::exit(130);
    })
    .context("cannot install the Ctrl-C handler")
}

fn signal_group(group: i32, signal: Signal) {
    // A stale group gives ESRCH, which is fine: nothing is left to signal.
    if let Some(pgid) = Pid::from_raw(group) {
        let _ = kill_process_group(pgid, signal);
    }
}

fn kill_group(group: i32) {
    signal_group(group, Signal::KILL);
}

/// Stops a process group whose leader is our child: SIGTERM, up to [`TERM_GRACE`] for the
/// leader to exit (`try_reap` reaps it if it has, true once reaped), then SIGKILL and a
/// blocking `reap`. Whatever is left in the group afterwards gets SIGKILL too.
fn stop_group(group: i32, mut try_reap: impl FnMut() -> bool, reap: impl FnOnce()) {
    signal_group(group, Signal::TERM);
    let deadline = Instant::now() + TERM_GRACE;
    let mut reaped = try_reap();
    while !reaped && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        reaped = try_reap();
    }
    // Also when the leader went: a member that ignores SIGTERM must not outlive it. The id
    // still names this group while any member lives, so it cannot hit someone else's.
    kill_group(group);
    if !reaped {
        reap();
    }
}

/// Owns a QEMU child and its process group; dropping it stops and reaps the group (SIGTERM,
/// then SIGKILL after [`TERM_GRACE`]), so every early return (error, timeout) leaves nothing
/// behind. Also used by `flash --qemu`.
pub(crate) struct GroupGuard {
    pub(crate) child: Child,
    group: i32,
    reaped: bool,
}

impl GroupGuard {
    pub(crate) fn spawn(mut cmd: Command) -> Result<Self> {
        // Own process group: a terminal's Ctrl-C reaches xtask, which then kills the group.
        cmd.process_group(0);
        let child = cmd.spawn()?;
        let group = i32::try_from(child.id()).context("child pid out of range")?;
        RUNNING_GROUP.store(group, Ordering::SeqCst);
        Ok(GroupGuard {
            child,
            group,
            reaped: false,
        })
    }

    pub(crate) fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let status = self.child.try_wait().context("cannot wait for QEMU")?;
        if status.is_some() {
            self.reaped = true;
            RUNNING_GROUP.store(0, Ordering::SeqCst);
            // Anything QEMU left running in its group goes with it. The group id cannot have
            // been reused yet: we reaped its leader a moment ago.
            kill_group(self.group);
        }
        Ok(status)
    }

    /// Stops the group (SIGTERM, SIGKILL after [`TERM_GRACE`]) and reaps the leader.
    pub(crate) fn kill(&mut self) {
        if !self.reaped {
            let child = std::cell::RefCell::new(&mut self.child);
            stop_group(
                self.group,
                // An error from waitpid means there is no child left to wait for.
                || child.borrow_mut().try_wait().map_or(true, |s| s.is_some()),
                || {
                    let _ = child.borrow_mut().wait();
                },
            );
            self.reaped = true;
            RUNNING_GROUP.store(0, Ordering::SeqCst);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

enum Event {
    Stdout(Vec<u8>),
    StdoutClosed,
    Stderr(Vec<u8>),
    StderrClosed,
}

fn pump(mut from: impl Read, tx: mpsc::Sender<Event>, data: fn(Vec<u8>) -> Event, end: Event) {
    let mut buf = [0u8; 4096];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx.send(data(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(end);
}

/// Runs QEMU to the end, or until `timeout`. `on_line` sees each console line as it completes.
/// For runs that serve no screendumps (`bench`; `run` and `test` use
/// [`run_with_screendumps`]).
pub fn run(
    qemu: &Path,
    args: &[String],
    formatter: &dyn FrameFormatter,
    timeout: Option<Duration>,
    on_line: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    run_with_screendumps(qemu, args, formatter, timeout, None, on_line)
}

/// [`run`], also serving the guest's screendump requests (doc/console-protocol.md): on each
/// `dmasync-screendump ...` line `dumps` takes and saves the screendump, then the guest gets
/// its acknowledgement byte on the UART (QEMU's stdin, which `-serial stdio` connects to the
/// guest's receive side). `args` must give QEMU the QMP socket `dumps` uses.
pub fn run_with_screendumps(
    qemu: &Path,
    args: &[String],
    formatter: &dyn FrameFormatter,
    timeout: Option<Duration>,
    mut dumps: Option<&mut Screendumps<'_>>,
    on_line: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let mut cmd = Command::new(qemu);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut guard =
        GroupGuard::spawn(cmd).with_context(|| format!("cannot start {}", qemu.display()))?;
    // The guest's UART receive side; kept open for the whole run (EOF is not a byte).
    let mut guest_rx = guard.child.stdin.take();
    let (tx, rx) = mpsc::channel();
    let stdout = guard.child.stdout.take().context("QEMU stdout not piped")?;
    let stderr = guard.child.stderr.take().context("QEMU stderr not piped")?;
    let tx_err = tx.clone();
    std::thread::spawn(move || pump(stdout, tx, Event::Stdout, Event::StdoutClosed));
    std::thread::spawn(move || pump(stderr, tx_err, Event::Stderr, Event::StderrClosed));

    let deadline = timeout.map(|t| started + t);
    let mut console = Console::new(formatter);
    let mut stderr_bytes = Vec::new();
    let mut first_output = None;
    let (mut stdout_open, mut stderr_open) = (true, true);
    let mut timed_out = false;
    // The console decides when the run is over: QEMU closes stdout when it exits.
    while stdout_open {
        let event = match deadline {
            Some(d) => match rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                Ok(e) => e,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(e) => e,
                Err(_) => break,
            },
        };
        match event {
            Event::Stdout(bytes) => {
                first_output.get_or_insert_with(|| started.elapsed());
                for line in console.feed(&bytes) {
                    on_line(&line);
                    if let Some(dumps) = dumps.as_deref_mut() {
                        serve_screendump(dumps, &line, guest_rx.as_mut());
                    }
                }
            }
            Event::Stderr(bytes) => stderr_bytes.extend(bytes),
            Event::StdoutClosed => stdout_open = false,
            Event::StderrClosed => stderr_open = false,
        }
    }

    // stdout closed: QEMU has exited or is about to; still bounded by the deadline.
    let ending = loop {
        if timed_out {
            guard.kill();
            break Ending::TimedOut(timeout.unwrap_or_default());
        }
        if let Some(status) = guard.try_wait()? {
            break match (status.code(), status.signal()) {
                (Some(code), _) => Ending::Exited(code),
                (None, Some(sig)) => Ending::Signalled(sig),
                (None, None) => bail!("QEMU ended with an unknown status {status:?}"),
            };
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            continue;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    for line in console.finish() {
        on_line(&line);
    }
    // QEMU's last messages; bounded, in case something else still holds the pipe.
    let grace = Instant::now() + Duration::from_millis(500);
    while stderr_open {
        match rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
            Ok(Event::Stderr(bytes)) => stderr_bytes.extend(bytes),
            Ok(Event::StderrClosed) | Err(_) => stderr_open = false,
            Ok(_) => {}
        }
    }
    Ok(Outcome {
        ending,
        lines: console.lines().to_vec(),
        stderr: String::from_utf8_lossy(&stderr_bytes)
            .lines()
            .map(str::to_string)
            .collect(),
        first_output,
        elapsed: started.elapsed(),
    })
}

/// Handles one console line: when it is a screendump request, take the dump and acknowledge.
/// A malformed request is recorded and acknowledged too, so the guest never waits in vain.
fn serve_screendump(dumps: &mut Screendumps<'_>, line: &str, guest_rx: Option<&mut ChildStdin>) {
    let Some(request) = screendump::parse_request(line) else {
        return;
    };
    match request {
        Ok(request) => {
            dumps.serve(request);
        }
        Err(why) => dumps.bad_request(why),
    }
    if let Some(rx) = guest_rx {
        // QEMU gone: the run is ending anyway and its exit status tells why.
        let _ = rx.write_all(&[screendump::ACK]).and_then(|()| rx.flush());
    }
}

/// The meaning of a guest exit code (doc/console-protocol.md).
pub fn exit_code_meaning(code: i32) -> &'static str {
    u32::try_from(code)
        .ok()
        .and_then(dmasync_protocol::exit::meaning)
        .unwrap_or("not a dmasync exit code (QEMU itself may have failed: see its messages)")
}

/// `exit code 3 (unexpected CPU exception ...)`.
pub fn describe(ending: Ending) -> String {
    match ending {
        Ending::Exited(code) => format!("exit code {code} ({})", exit_code_meaning(code)),
        Ending::Signalled(sig) => format!("QEMU died by signal {sig}"),
        Ending::TimedOut(t) => format!("timed out after {} s; QEMU killed", t.as_secs_f32()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_real_banners() {
        let debian = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n\
                      Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n";
        assert_eq!(parse_version(debian), Some((10, 0, 2)));
        assert_eq!(
            parse_version("QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)"),
            Some((7, 2, 19))
        );
        assert_eq!(
            parse_version("QEMU emulator version 9.2.50 (v9.2.0-1234-gabc)"),
            Some((9, 2, 50))
        );
        assert_eq!(
            parse_version("QEMU emulator version 11.0-rc1"),
            Some((11, 0, 0))
        );
        assert_eq!(parse_version("something else"), None);
        assert_eq!(parse_version(""), None);
        assert!((10, 0, 2) >= (MIN_VERSION.0, MIN_VERSION.1, 0));
        assert!((7, 2, 19) < (MIN_VERSION.0, MIN_VERSION.1, 0));
    }

    #[test]
    fn command_line_order() {
        let v = Variant {
            name: "x".into(),
            machine: "virt,gic-version=3".into(),
            args: vec!["-m".into(), "128M".into()],
            expect: vec![],
            tests: None,
        };
        let args = command_line(&v, Path::new("/t/boot"), &["-d".into(), "int".into()]);
        let joined = args.join(" ");
        assert_eq!(
            joined,
            "-M virt,gic-version=3 -m 128M -display none -monitor none -serial stdio -no-reboot \
             -semihosting-config enable=on,target=native -kernel /t/boot -d int"
        );
    }

    #[test]
    fn exit_codes_are_explained() {
        assert!(describe(Ending::Exited(3)).contains("CPU exception"));
        assert!(describe(Ending::Exited(42)).contains("not a dmasync exit code"));
        assert!(describe(Ending::Signalled(9)).contains("signal 9"));
        assert!(describe(Ending::TimedOut(Duration::from_secs(2))).contains("timed out"));
    }

    struct Plain;
    impl FrameFormatter for Plain {
        fn format(&self, frame: &[u8]) -> String {
            format!("frame {}", frame.len())
        }
    }

    /// The tests that spawn through [`GroupGuard`] share [`RUNNING_GROUP`]: one at a time.
    static GROUP_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Whether `/proc/<pid>` shows a live process (not a zombie), waiting a while for init to
    /// reap an orphan.
    fn gone(pid: &str) -> bool {
        let stat = format!("/proc/{}/stat", pid.trim());
        (0..500).any(|_| {
            let alive = std::fs::read_to_string(&stat)
                .is_ok_and(|s| !s.contains(") Z ") && !s.contains(") X "));
            if alive {
                std::thread::sleep(Duration::from_millis(10));
            }
            !alive
        })
    }

    /// A QEMU that ignores SIGTERM (a stuck main loop): the kill escalates to SIGKILL and
    /// reaps it, and its group (here a sleeping child, also ignoring SIGTERM) goes too.
    #[test]
    fn a_process_ignoring_sigterm_is_killed_and_reaped() {
        let _one = GROUP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let child_pid = dir.path().join("child");
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!(
                "trap '' TERM; sleep 60 & echo $! > {}; echo up; wait",
                child_pid.display()
            ))
            .stdout(Stdio::piped());
        let mut guard = GroupGuard::spawn(cmd).unwrap();
        let leader = guard.child.id();
        let mut up = [0u8; 3];
        guard
            .child
            .stdout
            .take()
            .unwrap()
            .read_exact(&mut up)
            .unwrap();
        assert_eq!(&up, b"up\n");
        guard.kill();
        // Reaped by the kill itself: the status is there, and it is SIGKILL's.
        let status = guard.child.try_wait().unwrap().expect("reaped by kill");
        assert_eq!(status.signal(), Some(9), "{status:?}");
        assert_eq!(RUNNING_GROUP.load(Ordering::SeqCst), 0);
        assert!(!Path::new(&format!("/proc/{leader}")).exists());
        let sleeper = std::fs::read_to_string(&child_pid).unwrap();
        assert!(gone(&sleeper), "the group's sleeping child survived");
        drop(guard);

        // One that handles SIGTERM gets the chance to: it exits on its own (status 7).
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("trap 'exit 7' TERM; echo up; while :; do sleep 1; done")
            .stdout(Stdio::piped());
        let mut guard = GroupGuard::spawn(cmd).unwrap();
        let mut up = [0u8; 3];
        guard
            .child
            .stdout
            .take()
            .unwrap()
            .read_exact(&mut up)
            .unwrap();
        guard.kill();
        let status = guard.child.try_wait().unwrap().expect("reaped by kill");
        assert_eq!(status.code(), Some(7), "{status:?}");
    }

    /// The runner's process handling, with `sh` standing in for QEMU.
    #[test]
    fn run_collects_output_exit_code_and_kills_on_timeout() {
        let _one = GROUP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let sh = Path::new("/bin/sh");
        let script = |s: &str| vec!["-c".to_string(), s.to_string()];
        let mut seen = Vec::new();
        let out = run(
            sh,
            &script("printf 'hello\\n\\377\\001\\002\\000'; echo oops >&2; exit 3"),
            &Plain,
            Some(Duration::from_secs(20)),
            &mut |l| seen.push(l.to_string()),
        )
        .unwrap();
        assert_eq!(out.ending, Ending::Exited(3));
        assert_eq!(out.lines, vec!["hello", "frame 2"]);
        assert_eq!(seen, out.lines);
        assert_eq!(out.stderr, vec!["oops"]);
        assert!(out.first_output.is_some());

        // QEMU exits while something in its group still holds stderr: no waiting for it.
        let out = run(
            sh,
            &script("sleep 20 >&2 & echo bye"),
            &Plain,
            None,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(out.ending, Ending::Exited(0));
        assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);

        // A hung guest: the whole group (sh and its sleeping child) is killed.
        let pid_file = std::env::temp_dir().join(format!("xtask-qemu-test-{}", std::process::id()));
        let out = run(
            sh,
            &script(&format!(
                "sleep 30 & echo $! > {}; echo up; wait",
                pid_file.display()
            )),
            &Plain,
            Some(Duration::from_millis(500)),
            &mut |_| {},
        )
        .unwrap();
        assert!(matches!(out.ending, Ending::TimedOut(_)));
        assert_eq!(out.lines, vec!["up"]);
        assert!(out.elapsed < Duration::from_secs(10));
        assert_eq!(RUNNING_GROUP.load(Ordering::SeqCst), 0);
        let sleeper = std::fs::read_to_string(&pid_file).unwrap();
        let _ = std::fs::remove_file(&pid_file);
        // The grandchild was killed; init reaps it shortly after.
        assert!(
            gone(&sleeper),
            "the guest's child process survived the timeout"
        );
    }
}
