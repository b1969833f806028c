//! Screendumps: the guest's request line and the host's acknowledgement
//! (doc/console-protocol.md, "Screendumps: the marker and the acknowledgement").
//!
//! The target prints a [`Request`] (`dmasync-screendump frame=<N> width=<W> height=<H>`,
//! plain text, a line of its own) when frame N is on screen and waits; xtask parses it with
//! [`parse_request`], takes a QMP screendump, then writes [`ACK`] to the guest's UART. A guest
//! that waited in vain prints [`NoAck`], which is not a request.

use core::fmt;

/// The request line's first word. Printed by the target (arch/aarch64
/// `console::request_screendump`); searched for by xtask's [`parse_request`].
pub const MARKER: &str = "dmasync-screendump";

/// The byte xtask sends to the guest's UART once a requested dump is taken (ASCII ACK),
/// also when the dump or its check failed, so the guest never waits in vain. The guest
/// (arch/aarch64 `console::wait_for_host_ack`) accepts any byte.
pub const ACK: u8 = 0x06;

/// A screendump request: frame N, W x H pixels, is on screen. `Display` writes the request
/// line without its newline: `dmasync-screendump frame=<N> width=<W> height=<H>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub frame: u32,
    pub width: u32,
    pub height: u32,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Request {
            frame,
            width,
            height,
        } = self;
        write!(f, "{MARKER} frame={frame} width={width} height={height}")
    }
}

/// The guest's notice that no acknowledgement came for `frame` (`why`: the time-out); it
/// carries on. Printed by the target; xtask's [`parse_request`] does not take it for a
/// request: `dmasync-screendump: no acknowledgement for frame <N> (<why>); continuing`.
#[derive(Debug, Clone, Copy)]
pub struct NoAck<D> {
    pub frame: u32,
    pub why: D,
}

impl<D: fmt::Display> fmt::Display for NoAck<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MARKER}: no acknowledgement for frame {} ({}); continuing",
            self.frame, self.why
        )
    }
}

/// What is wrong with a line that starts like a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestErrorKind<'a> {
    /// A word after the marker is not `key=value`.
    NotKeyValue { word: &'a str },
    /// A key other than `frame`, `width`, `height`.
    UnknownField { key: &'a str },
    /// A value that is not a decimal `u32`.
    NotANumber { key: &'a str, value: &'a str },
    /// `width=0` or `height=0`.
    EmptySize,
    /// One of the three fields is missing.
    MissingField,
}

/// A malformed request: what is wrong, and the (trimmed) line it is wrong in. `Display`
/// names both, e.g. ``width=x is not a number in `dmasync-screendump frame=1 width=x ...` ``.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestError<'a> {
    pub kind: RequestErrorKind<'a>,
    pub line: &'a str,
}

impl fmt::Display for RequestError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match self.kind {
            RequestErrorKind::NotKeyValue { word } => {
                write!(f, "'{word}' is not key=value in `{line}`")
            }
            RequestErrorKind::UnknownField { key } => {
                write!(f, "unknown field '{key}' in `{line}`")
            }
            RequestErrorKind::NotANumber { key, value } => {
                write!(f, "{key}={value} is not a number in `{line}`")
            }
            RequestErrorKind::EmptySize => write!(f, "empty frame size in `{line}`"),
            RequestErrorKind::MissingField => {
                write!(f, "needs frame=, width= and height= in `{line}`")
            }
        }
    }
}

/// Parses a console line (xtask, for every line of a run). `None`: the line is no
/// screendump request (the marker followed by ` frame=` occurs nowhere in it; so
/// [`NoAck`] is none). `Some(Err)`: it starts like one but is malformed. Text before the
/// marker (another core's partial line) is tolerated.
pub fn parse_request(line: &str) -> Option<Result<Request, RequestError<'_>>> {
    let at = find_request(line)?;
    let rest = &line[at + MARKER.len()..];
    let err = |kind| {
        Some(Err(RequestError {
            kind,
            line: line.trim(),
        }))
    };
    let mut fields = [None; 3];
    for word in rest.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            return err(RequestErrorKind::NotKeyValue { word });
        };
        let slot = match key {
            "frame" => 0,
            "width" => 1,
            "height" => 2,
            _ => return err(RequestErrorKind::UnknownField { key }),
        };
        match value.parse::<u32>() {
            Ok(v) => fields[slot] = Some(v),
            Err(_) => return err(RequestErrorKind::NotANumber { key, value }),
        }
    }
    match fields {
        [Some(frame), Some(width), Some(height)] if width > 0 && height > 0 => Some(Ok(Request {
            frame,
            width,
            height,
        })),
        [Some(_), Some(_), Some(_)] => err(RequestErrorKind::EmptySize),
        _ => err(RequestErrorKind::MissingField),
    }
}

/// Where `"<MARKER> frame="` first starts in `line`.
fn find_request(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find(MARKER) {
        let at = from + i;
        if line[at + MARKER.len()..].starts_with(" frame=") {
            return Some(at);
        }
        from = at + MARKER.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request {
                frame: 12,
                width: 640,
                height: 480,
            },
            Request {
                frame: 0,
                width: 1,
                height: u32::MAX,
            },
        ] {
            let line = render(&r);
            assert_eq!(parse_request(&line), Some(Ok(r)), "{line}");
        }
        assert_eq!(
            render(&Request {
                frame: 4,
                width: 640,
                height: 480
            }),
            "dmasync-screendump frame=4 width=640 height=480"
        );
    }

    #[test]
    fn requests_are_parsed_and_checked() {
        // Another core's unfinished text in front of it.
        assert!(matches!(
            parse_request("cpu1: partdmasync-screendump frame=1 width=2 height=3"),
            Some(Ok(Request { frame: 1, .. }))
        ));
        assert_eq!(parse_request("hello"), None);
        // The guest's own time-out notice is not a request.
        let notice = render(&NoAck {
            frame: 3,
            why: "...",
        });
        assert_eq!(
            notice,
            "dmasync-screendump: no acknowledgement for frame 3 (...); continuing"
        );
        assert_eq!(parse_request(&notice), None);
        let e = parse_request("dmasync-screendump frame=1 width=x height=3 ")
            .unwrap()
            .unwrap_err();
        assert_eq!(
            e.kind,
            RequestErrorKind::NotANumber {
                key: "width",
                value: "x"
            }
        );
        assert_eq!(
            render(&e),
            "width=x is not a number in `dmasync-screendump frame=1 width=x height=3`"
        );
        let e = parse_request("dmasync-screendump frame=1 width=2")
            .unwrap()
            .unwrap_err();
        assert!(
            render(&e).contains("needs frame=, width= and height="),
            "{e}"
        );
        let e = parse_request("dmasync-screendump frame=1 width=2 height=3 depth=4")
            .unwrap()
            .unwrap_err();
        assert!(render(&e).contains("unknown field 'depth'"), "{e}");
        let e = parse_request("dmasync-screendump frame=1 width=0 height=3")
            .unwrap()
            .unwrap_err();
        assert!(render(&e).starts_with("empty frame size in `"), "{e}");
        let e = parse_request("dmasync-screendump frame=1 width height=3")
            .unwrap()
            .unwrap_err();
        assert_eq!(
            render(&e),
            "'width' is not key=value in `dmasync-screendump frame=1 width height=3`"
        );
    }
}
