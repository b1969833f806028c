//! A small QMP client (QEMU Machine Protocol, docs/interop/qmp-spec.rst in QEMU): JSON
//! objects, one per line, over the unix socket QEMU opens for
//! `-qmp unix:<path>,server=on,wait=off`. The server greets with `{"QMP": {...}}`; the
//! client must send `qmp_capabilities` before any other command. Replies are
//! `{"return": ...}` or `{"error": {"class", "desc"}}`; asynchronous `{"event": ...}`
//! messages may arrive in between and are skipped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// The arguments that give QEMU a QMP server on `socket` (does not wait for a client).
pub fn qemu_args(socket: &Path) -> [String; 2] {
    [
        "-qmp".to_string(),
        format!("unix:{},server=on,wait=off", socket.display()),
    ]
}

/// How long one reply may take: a screendump waits for the device's display update.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// A QEMU error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuError {
    pub class: String,
    pub desc: String,
}

impl std::fmt::Display for QemuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QEMU refused: {} ({})", self.desc, self.class)
    }
}

impl std::error::Error for QemuError {}

/// The picture format QEMU wrote a screendump in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    Png,
    Ppm,
}

/// What one QMP message means to the command that sent `id`.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An asynchronous event, or a reply carrying another id: not ours, read on.
    Skip,
    /// `{"return": ...}`: the command's value.
    Return(Value),
    /// `{"error": {"class", "desc"}}`: QEMU refused the command.
    Error(QemuError),
}

/// One line from the socket as a QMP message: a JSON object (QEMU ends lines with `\r\n`).
/// The error quotes the line.
pub fn parse_message(line: &str) -> Result<Value, String> {
    let line = line.trim_end();
    match serde_json::from_str::<Value>(line) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(format!("not a JSON object: {line:?}")),
        Err(e) => Err(format!("not a JSON message: {line:?} ({e})")),
    }
}

/// The QEMU version in the greeting `{"QMP": {"version": {"qemu": {...}}}}`; fields QEMU
/// leaves out count as 0. The error quotes the message.
pub fn greeting_version(greeting: &Value) -> Result<(u64, u64, u64), String> {
    let Some(v) = greeting.get("QMP") else {
        return Err(format!(
            "expected the greeting {{\"QMP\": ...}}, got {greeting}"
        ));
    };
    let n = |k: &str| v["version"]["qemu"][k].as_u64().unwrap_or(0);
    Ok((n("major"), n("minor"), n("micro")))
}

/// What `message` means to the command with `id`. The error quotes the message.
pub fn classify(message: &Value, id: u64) -> Result<Reply, String> {
    if message.get("event").is_some() {
        return Ok(Reply::Skip);
    }
    // Replies carry our id back; one with another id (a stale reply) is not ours.
    if message.get("id").is_some_and(|i| i != &json!(id)) {
        return Ok(Reply::Skip);
    }
    if let Some(ret) = message.get("return") {
        return Ok(Reply::Return(ret.clone()));
    }
    if let Some(err) = message.get("error") {
        return Ok(Reply::Error(QemuError {
            class: err["class"].as_str().unwrap_or("?").to_string(),
            desc: err["desc"].as_str().unwrap_or("?").to_string(),
        }));
    }
    Err(format!("unexpected reply {message}"))
}

/// Whether QEMU refused a PNG screendump because it cannot write PNG (a build without
/// libpng), so PPM is worth a try.
pub fn refuses_png(e: &QemuError) -> bool {
    e.desc.contains("format") || e.desc.contains("PNG")
}

#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    socket: PathBuf,
    next_id: u64,
    /// The QEMU version from the greeting, e.g. (10, 0, 2).
    pub version: (u64, u64, u64),
    /// Cleared when QEMU rejects `format: "png"` (a build without libpng): PPM from then on.
    png_ok: bool,
}

impl Qmp {
    /// Connects to QEMU's QMP socket, retrying for up to `patience` while QEMU starts and
    /// creates it, then reads the greeting and enters command mode.
    pub fn connect(socket: &Path, patience: Duration) -> Result<Self> {
        let deadline = Instant::now() + patience;
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                // Not there yet (QEMU still starting): try again shortly.
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "cannot connect to QEMU's QMP socket {} within {:.1} s (did QEMU start with -qmp?)",
                            socket.display(),
                            patience.as_secs_f32()
                        )
                    });
                }
            }
        };
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .context("QMP socket: cannot set a read timeout")?;
        let writer = stream.try_clone().context("QMP socket: cannot clone")?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            socket: socket.to_path_buf(),
            next_id: 1,
            version: (0, 0, 0),
            png_ok: true,
        };
        let greeting = qmp.read_message()?;
        qmp.version = greeting_version(&greeting)
            .map_err(|why| anyhow!("QMP socket {}: {why}", socket.display()))?;
        qmp.execute("qmp_capabilities", None)
            .context("QMP handshake (qmp_capabilities) failed")?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => anyhow!(
                    "QMP socket {}: no reply within {} s",
                    self.socket.display(),
                    REPLY_TIMEOUT.as_secs()
                ),
                _ => anyhow!("QMP socket {}: read failed: {e}", self.socket.display()),
            })?;
        if n == 0 {
            bail!(
                "QMP socket {} closed: QEMU has exited or dropped the connection",
                self.socket.display()
            );
        }
        parse_message(&line).map_err(|why| anyhow!("QMP socket {}: {why}", self.socket.display()))
    }

    /// Runs one command; returns its `return` value. An `error` reply becomes a
    /// [`QemuError`] (reachable with `downcast_ref`).
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "execute": command, "id": id });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes()).map_err(|e| {
            anyhow!(
                "QMP socket {}: cannot send `{command}` ({e}): QEMU has exited?",
                self.socket.display()
            )
        })?;
        loop {
            let message = self.read_message()?;
            match classify(&message, id) {
                Ok(Reply::Skip) => continue,
                Ok(Reply::Return(ret)) => return Ok(ret),
                Ok(Reply::Error(e)) => {
                    return Err(anyhow::Error::new(e).context(format!("QMP `{command}`")));
                }
                Err(why) => bail!("QMP `{command}`: {why}"),
            }
        }
    }

    /// Saves what console 0 shows to `base` + `.png` (or `.ppm` when this QEMU cannot write
    /// PNG); returns the file written and its format.
    pub fn screendump(&mut self, base: &Path) -> Result<(PathBuf, DumpFormat)> {
        if self.png_ok {
            let path = base.with_extension("png");
            let args = json!({ "filename": path.display().to_string(), "format": "png" });
            match self.execute("screendump", Some(args)) {
                Ok(_) => return Ok((path, DumpFormat::Png)),
                Err(e) if e.downcast_ref::<QemuError>().is_some_and(refuses_png) => {
                    // A QEMU without libpng says so; PPM always works.
                    self.png_ok = false;
                }
                Err(e) => return Err(e),
            }
        }
        let path = base.with_extension("ppm");
        let args = json!({ "filename": path.display().to_string() });
        self.execute("screendump", Some(args))?;
        Ok((path, DumpFormat::Ppm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fake QMP server: greets, then answers each command line with `reply(cmd)` (one or
    /// more lines); stops after `commands` commands or when the client goes.
    fn fake_server(
        socket: &Path,
        commands: usize,
        reply: impl Fn(&Value) -> Vec<String> + Send + 'static,
    ) -> std::thread::JoinHandle<Vec<Value>> {
        let listener = UnixListener::bind(socket).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            writeln!(
                w,
                r#"{{"QMP": {{"version": {{"qemu": {{"micro": 2, "minor": 0, "major": 10}}, "package": "x"}}, "capabilities": ["oob"]}}}}"#
            )
            .unwrap();
            let mut seen = Vec::new();
            for _ in 0..commands {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let cmd: Value = serde_json::from_str(&line).unwrap();
                for out in reply(&cmd) {
                    // QEMU ends lines with \r\n.
                    write!(w, "{out}\r\n").unwrap();
                }
                seen.push(cmd);
            }
            seen
        })
    }

    fn ok(cmd: &Value) -> String {
        json!({"return": {}, "id": cmd["id"]}).to_string()
    }

    #[test]
    fn handshake_then_screendump_png_skipping_events() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let server = fake_server(&sock, 2, |cmd| {
            let mut out = vec![];
            if cmd["execute"] == "screendump" {
                out.push(
                    r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}"#
                        .to_string(),
                );
            }
            out.push(ok(cmd));
            out
        });
        let mut qmp = Qmp::connect(&sock, Duration::from_secs(5)).unwrap();
        assert_eq!(qmp.version, (10, 0, 2));
        let (path, fmt) = qmp.screendump(&dir.path().join("shot")).unwrap();
        assert_eq!(fmt, DumpFormat::Png);
        assert_eq!(path, dir.path().join("shot.png"));
        let seen = server.join().unwrap();
        assert_eq!(seen[0]["execute"], "qmp_capabilities");
        assert_eq!(seen[1]["execute"], "screendump");
        assert_eq!(seen[1]["arguments"]["format"], "png");
        assert_eq!(seen[1]["arguments"]["filename"], path.display().to_string());
    }

    #[test]
    fn png_refused_falls_back_to_ppm() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let server = fake_server(&sock, 3, |cmd| {
            if cmd["arguments"]["format"] == "png" {
                vec![
                    json!({"error": {"class": "GenericError",
                    "desc": "Parameter 'format' does not accept value 'png'"}, "id": cmd["id"]})
                    .to_string(),
                ]
            } else {
                vec![ok(cmd)]
            }
        });
        let mut qmp = Qmp::connect(&sock, Duration::from_secs(5)).unwrap();
        let (path, fmt) = qmp.screendump(&dir.path().join("shot")).unwrap();
        assert_eq!(
            (fmt, path.extension().unwrap().to_str()),
            (DumpFormat::Ppm, Some("ppm"))
        );
        let seen = server.join().unwrap();
        assert!(seen[2]["arguments"].get("format").is_none());
    }

    #[test]
    fn qemu_errors_and_a_vanished_qemu_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let server = fake_server(&sock, 2, |cmd| {
            if cmd["execute"] == "screendump" {
                vec![
                    json!({"error": {"class": "GenericError",
                    "desc": "There is no QemuConsole I can screendump from."}, "id": cmd["id"]})
                    .to_string(),
                ]
            } else {
                vec![ok(cmd)]
            }
        });
        let mut qmp = Qmp::connect(&sock, Duration::from_secs(5)).unwrap();
        let e = qmp.screendump(&dir.path().join("shot")).unwrap_err();
        let q = e.downcast_ref::<QemuError>().expect("a QEMU error");
        assert_eq!(q.class, "GenericError");
        let text = format!("{e:#}");
        assert!(
            text.contains("QMP `screendump`") && text.contains("no QemuConsole"),
            "{text}"
        );
        server.join().unwrap();
        // The server thread has ended and closed the socket: like QEMU exiting.
        let e = format!("{:#}", qmp.execute("query-status", None).unwrap_err());
        assert!(e.contains("closed") || e.contains("cannot send"), "{e}");
    }

    #[test]
    fn messages_are_classified_without_a_socket() {
        let m = |line: &str| parse_message(line).unwrap();
        assert_eq!(
            classify(&m("{\"return\": {\"x\": 1}, \"id\": 7}\r\n"), 7),
            Ok(Reply::Return(json!({"x": 1})))
        );
        assert_eq!(
            classify(&m(r#"{"return": {}, "id": 6}"#), 7),
            Ok(Reply::Skip)
        );
        assert_eq!(classify(&m(r#"{"event": "STOP"}"#), 7), Ok(Reply::Skip));
        let Ok(Reply::Error(e)) = classify(&m(r#"{"error": {"class": "C", "desc": "no PNG"}}"#), 1)
        else {
            panic!("an error reply")
        };
        assert_eq!((e.class.as_str(), refuses_png(&e)), ("C", true));
        let e = classify(&m(r#"{"what": 1}"#), 1).unwrap_err();
        assert!(e.contains(r#"{"what":1}"#), "{e}");
        for bad in ["[1]", "{", ""] {
            let e = parse_message(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        assert_eq!(
            greeting_version(&m(
                r#"{"QMP": {"version": {"qemu": {"major": 9, "minor": 2}}}}"#
            )),
            Ok((9, 2, 0))
        );
        assert!(
            greeting_version(&m("{}"))
                .unwrap_err()
                .contains("expected the greeting")
        );
    }

    #[test]
    fn no_socket_and_no_greeting_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = format!(
            "{:#}",
            Qmp::connect(&dir.path().join("none.sock"), Duration::from_millis(50)).unwrap_err()
        );
        assert!(e.contains("cannot connect to QEMU's QMP socket"), "{e}");

        let sock = dir.path().join("bad.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"{\"hello\": 1}\r\n").unwrap();
        });
        let e = format!(
            "{:#}",
            Qmp::connect(&sock, Duration::from_secs(5)).unwrap_err()
        );
        assert!(e.contains("expected the greeting"), "{e}");
        t.join().unwrap();
    }
}
