//! The host half of the screendump protocol (doc/console-protocol.md): the guest prints
//! `dmasync-screendump frame=<N> width=<W> height=<H>` and waits; xtask takes a QMP
//! screendump, saves it as PNG (and compares it with the reference frame when the test asks
//! for that), then sends one byte (0x06) to the guest's UART so it carries on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::pixels::{self, Comparison, Rgb};
use crate::qmp::Qmp;

pub use dmasync_protocol::screendump::{ACK, Request};

/// `None`: the line is no screendump request. `Some(Err)`: it starts like one but is
/// malformed (the error says which field, in which line). Parsed by
/// `dmasync_protocol::screendump::parse_request`.
pub fn parse_request(line: &str) -> Option<Result<Request, String>> {
    dmasync_protocol::screendump::parse_request(line).map(|r| r.map_err(|e| e.to_string()))
}

/// What to do with each screendump of a run (board.toml `[tests.<name>] screendump`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Check {
    /// Save it; the verdict does not depend on what it shows.
    #[default]
    Save,
    /// Compare it, pixel for pixel, with the reference renderer's frame of the same number
    /// and size; any difference fails the test.
    CompareReference,
    /// Compare it, pixel for pixel, with the FIMD test scene's frame of that number as QEMU's
    /// FIMD model composes it (`dmasync_fimd::scene`, whose blend is `dmasync_fimd::blend`).
    CompareFimdBlend,
}

impl Check {
    /// Whether the dumps are compared with an expected frame (and so need a renderer).
    pub fn compares(self) -> bool {
        matches!(self, Check::CompareReference | Check::CompareFimdBlend)
    }
}

/// The expected frame N at W x H as XRGB8888 bytes (B, G, R, X; tight stride), or why the
/// renderer could not produce it.
pub type Reference = dyn Fn(u32, u32, u32) -> Result<Vec<u8>, String>;

/// One screendump the guest asked for.
#[derive(Debug, Clone)]
pub struct Taken {
    pub request: Request,
    /// The saved PNG (target/xtask/screenshots/...), when the dump succeeded.
    pub path: Option<PathBuf>,
    /// Why this dump fails the run: QMP error, wrong size, differs from the reference.
    pub problem: Option<String>,
}

/// Takes the screendumps one QEMU run asks for. The QMP connection is made on the first
/// request (QEMU's socket exists long before the guest gets there).
pub struct Screendumps<'r> {
    socket: PathBuf,
    qmp: Option<Qmp>,
    scratch: PathBuf,
    out_dir: PathBuf,
    stem: String,
    check: Check,
    reference: Option<&'r Reference>,
    pub taken: Vec<Taken>,
    /// Marker lines that did not parse (each one fails the run).
    pub bad_requests: Vec<String>,
}

impl std::fmt::Debug for Screendumps<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screendumps")
            .field("socket", &self.socket)
            .field("stem", &self.stem)
            .field("check", &self.check)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

/// Where screenshots go: `<workspace>/target/xtask/screenshots`.
pub fn screenshot_dir(root: &Path) -> PathBuf {
    root.join("target").join("xtask").join("screenshots")
}

impl<'r> Screendumps<'r> {
    /// `socket`: QEMU's QMP socket; `scratch`: a private directory for QEMU's raw dumps;
    /// files are saved as `<out_dir>/<stem>-frame<N>.png`. `CompareReference` needs
    /// `reference`.
    pub fn new(
        socket: PathBuf,
        scratch: PathBuf,
        out_dir: PathBuf,
        stem: String,
        check: Check,
        reference: Option<&'r Reference>,
    ) -> Result<Self> {
        if check.compares() && reference.is_none() {
            bail!("screendump = {check:?} needs a reference renderer");
        }
        Ok(Screendumps {
            socket,
            qmp: None,
            scratch,
            out_dir,
            stem,
            check,
            reference,
            taken: Vec::new(),
            bad_requests: Vec::new(),
        })
    }

    /// Serves one request: dump, save, check. Never fails the protocol: whatever goes wrong
    /// is recorded in the returned [`Taken`], and the caller acknowledges either way, so the
    /// guest is never left waiting.
    pub fn serve(&mut self, request: Request) -> &Taken {
        let mut taken = Taken {
            request,
            path: None,
            problem: None,
        };
        match self.dump(request) {
            Ok(actual) => {
                let path = self
                    .out_dir
                    .join(format!("{}-frame{}.png", self.stem, request.frame));
                match pixels::save_png(&actual, &path) {
                    Ok(()) => taken.path = Some(path),
                    Err(e) => taken.problem = Some(format!("{e:#}")),
                }
                if taken.problem.is_none() {
                    taken.problem = self.check(request, &actual).err();
                }
            }
            Err(e) => taken.problem = Some(format!("frame {}: {e:#}", request.frame)),
        }
        self.taken.push(taken);
        self.taken.last().expect("just pushed")
    }

    fn dump(&mut self, request: Request) -> Result<Rgb> {
        if self.qmp.is_none() {
            self.qmp = Some(Qmp::connect(&self.socket, Duration::from_secs(5))?);
        }
        let qmp = self.qmp.as_mut().expect("connected above");
        let base = self.scratch.join(format!("frame{}", request.frame));
        let (file, _) = qmp.screendump(&base)?;
        let bytes =
            std::fs::read(&file).with_context(|| format!("QEMU wrote no {}", file.display()))?;
        let _ = std::fs::remove_file(&file);
        pixels::decode(&bytes).with_context(|| format!("QEMU's dump {}", file.display()))
    }

    fn check(&self, request: Request, actual: &Rgb) -> Result<(), String> {
        let Request {
            frame,
            width,
            height,
        } = request;
        if (actual.width, actual.height) != (width, height) {
            return Err(format!(
                "frame {frame}: the guest said {width}x{height} is on screen, QEMU's screendump is {}x{}",
                actual.width, actual.height
            ));
        }
        let (true, Some(reference)) = (self.check.compares(), self.reference) else {
            return Ok(());
        };
        let expected = reference(frame, width, height)
            .map_err(|e| format!("frame {frame}: reference renderer: {e}"))
            .and_then(|bytes| {
                Rgb::from_xrgb8888(&bytes, width, height)
                    .map_err(|e| format!("frame {frame}: reference renderer: {e:#}"))
            })?;
        match pixels::compare(&expected, actual) {
            Comparison::Equal => Ok(()),
            other => {
                let stem = format!("{}-frame{frame}", self.stem);
                let files = match pixels::write_mismatch(&self.out_dir, &stem, &expected, actual) {
                    Ok(paths) => paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    Err(e) => format!("(could not write the comparison images: {e:#})"),
                };
                Err(format!(
                    "frame {frame} differs from the reference: {other}; see {files}"
                ))
            }
        }
    }

    /// Records a marker line that did not parse.
    pub fn bad_request(&mut self, why: String) {
        self.bad_requests
            .push(format!("malformed screendump request: {why}"));
    }

    /// Every problem: malformed requests first, then the dumps' in order.
    pub fn problems(&self) -> Vec<String> {
        self.bad_requests
            .iter()
            .cloned()
            .chain(self.taken.iter().filter_map(|t| t.problem.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_and_checked() {
        assert_eq!(
            parse_request("dmasync-screendump frame=12 width=640 height=480"),
            Some(Ok(Request {
                frame: 12,
                width: 640,
                height: 480
            }))
        );
        // Another core's unfinished text in front of it.
        assert!(matches!(
            parse_request("cpu1: partdmasync-screendump frame=1 width=2 height=3"),
            Some(Ok(Request { frame: 1, .. }))
        ));
        assert_eq!(parse_request("hello"), None);
        // The guest's own time-out notice is not a request.
        assert_eq!(
            parse_request("dmasync-screendump: no acknowledgement for frame 3 (...); continuing"),
            None
        );
        let e = parse_request("dmasync-screendump frame=1 width=x height=3")
            .unwrap()
            .unwrap_err();
        assert!(e.contains("width=x is not a number"), "{e}");
        let e = parse_request("dmasync-screendump frame=1 width=2")
            .unwrap()
            .unwrap_err();
        assert!(e.contains("needs frame=, width= and height="), "{e}");
        let e = parse_request("dmasync-screendump frame=1 width=2 height=3 depth=4")
            .unwrap()
            .unwrap_err();
        assert!(e.contains("unknown field 'depth'"), "{e}");
        let e = parse_request("dmasync-screendump frame=1 width=0 height=3")
            .unwrap()
            .unwrap_err();
        assert!(e.contains("empty frame size"), "{e}");
    }

    #[test]
    fn compare_reference_needs_a_reference() {
        let e = Screendumps::new(
            "s".into(),
            "t".into(),
            "o".into(),
            "x".into(),
            Check::CompareReference,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("reference renderer"));
    }

    /// The checks after a dump, without QEMU: size, then the reference comparison.
    #[test]
    fn checks_name_the_frame_and_the_difference() {
        let dir = tempfile::tempdir().unwrap();
        // A reference computed here: the frame number in the red channel of pixel (1, 0).
        let reference = |frame: u32, w: u32, h: u32| -> Result<Vec<u8>, String> {
            let mut v = vec![0u8; (w * h * 4) as usize];
            v[4 + 2] = frame as u8;
            Ok(v)
        };
        let dumps = Screendumps::new(
            "s".into(),
            dir.path().into(),
            dir.path().into(),
            "qemu-virt-screendump-default".into(),
            Check::CompareReference,
            Some(&reference),
        )
        .unwrap();
        let req = |frame| Request {
            frame,
            width: 4,
            height: 2,
        };
        let mut actual = Rgb::filled(4, 2, [0, 0, 0]);
        actual.set_pixel(1, 0, [7, 0, 0]);
        assert_eq!(dumps.check(req(7), &actual), Ok(()));
        let e = dumps.check(req(8), &actual).unwrap_err();
        assert!(e.starts_with("frame 8 differs from the reference: 1 of 8 pixels differ; first at (1, 0): expected rgb(8, 0, 0), got rgb(7, 0, 0)"), "{e}");
        assert!(
            e.contains("qemu-virt-screendump-default-frame8-diff.png"),
            "{e}"
        );
        assert!(
            dir.path()
                .join("qemu-virt-screendump-default-frame8-expected.png")
                .is_file()
        );
        let e = dumps
            .check(
                Request {
                    frame: 7,
                    width: 640,
                    height: 480,
                },
                &actual,
            )
            .unwrap_err();
        assert!(
            e.contains("the guest said 640x480") && e.contains("is 4x2"),
            "{e}"
        );

        // Save-only: any picture of the announced size passes.
        let save = Screendumps::new(
            "s".into(),
            dir.path().into(),
            dir.path().into(),
            "x".into(),
            Check::Save,
            None,
        )
        .unwrap();
        assert_eq!(save.check(req(8), &actual), Ok(()));
    }
}
