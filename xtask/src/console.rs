//! The firmware console stream (doc/console-protocol.md): plain text and `0xFF`-introduced,
//! `0x00`-terminated defmt frames on one byte stream, split apart and turned into lines.

use dmasync_protocol::framing::{FRAME_END, FRAME_START};

/// One piece of the stream, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text bytes (never `0x00`/`0xFF`); may stop mid-line, more may follow.
    Text(Vec<u8>),
    /// The bytes between `0xFF` and `0x00`, delimiters excluded.
    Frame(Vec<u8>),
    /// The stream ended inside a frame that had this many bytes.
    Unterminated(usize),
}

/// Byte-level state machine; reads may split anything anywhere.
#[derive(Debug, Default)]
pub struct Splitter {
    frame: Option<Vec<u8>>,
}

impl Splitter {
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Piece>) {
        let mut text = Vec::new();
        for &b in bytes {
            match &mut self.frame {
                Some(frame) if b == FRAME_END => {
                    out.push(Piece::Frame(std::mem::take(frame)));
                    self.frame = None;
                }
                Some(frame) => frame.push(b),
                None if b == FRAME_START => {
                    if !text.is_empty() {
                        out.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    self.frame = Some(Vec::new());
                }
                None if b == FRAME_END => {}
                None => text.push(b),
            }
        }
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
    }

    /// End of stream: report a frame left open.
    pub fn finish(&mut self) -> Option<Piece> {
        self.frame.take().map(|f| Piece::Unterminated(f.len()))
    }
}

/// Turns a complete defmt frame into one display line.
pub trait FrameFormatter {
    fn format(&self, frame: &[u8]) -> String;
}

/// Formats the line for a frame that could not be decoded.
pub fn malformed(len: usize) -> String {
    format!("<malformed defmt frame, {len} bytes>")
}

impl std::fmt::Debug for Console<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("splitter", &self.splitter)
            .field("partial", &self.partial)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

/// Console lines as they complete; keeps every line for expectations and failure reports.
pub struct Console<'f> {
    splitter: Splitter,
    formatter: &'f dyn FrameFormatter,
    partial: Vec<u8>,
    lines: Vec<String>,
}

impl<'f> Console<'f> {
    pub fn new(formatter: &'f dyn FrameFormatter) -> Self {
        Console {
            splitter: Splitter::default(),
            formatter,
            partial: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Feeds raw bytes; returns the lines completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut pieces = Vec::new();
        self.splitter.push(bytes, &mut pieces);
        let first_new = self.lines.len();
        for piece in pieces {
            self.take(piece);
        }
        self.lines[first_new..].to_vec()
    }

    /// End of stream: flushes a partial line and an open frame; returns the lines added.
    pub fn finish(&mut self) -> Vec<String> {
        let first_new = self.lines.len();
        self.flush_partial();
        if let Some(piece) = self.splitter.finish() {
            self.take(piece);
        }
        self.lines[first_new..].to_vec()
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    fn take(&mut self, piece: Piece) {
        match piece {
            Piece::Text(bytes) => {
                for &b in &bytes {
                    if b == b'\n' {
                        self.flush_line();
                    } else {
                        self.partial.push(b);
                    }
                }
            }
            Piece::Frame(frame) => {
                // A log line always stands on its own line, after any text before it.
                self.flush_partial();
                // A message may hold newlines (a `{=str}` argument, `println!("a\nb")`):
                // each becomes its own line, as on a terminal, so a line never holds one.
                let text = self.formatter.format(&frame);
                for line in text.split('\n') {
                    self.lines
                        .push(line.strip_suffix('\r').unwrap_or(line).to_string());
                }
            }
            Piece::Unterminated(len) => {
                self.flush_partial();
                self.lines.push(malformed(len));
            }
        }
    }

    fn flush_partial(&mut self) {
        if !self.partial.is_empty() {
            self.flush_line();
        }
    }

    fn flush_line(&mut self) {
        let mut line = String::from_utf8_lossy(&self.partial).into_owned();
        if line.ends_with('\r') {
            line.pop();
        }
        self.lines.push(line);
        self.partial.clear();
    }
}

/// The expected lines that no console line contains (substring match per line).
pub fn missing_expectations<'e>(lines: &[String], expected: &'e [String]) -> Vec<&'e str> {
    expected
        .iter()
        .filter(|want| !lines.iter().any(|line| line.contains(want.as_str())))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shows the frame bytes so tests can see exactly what was framed.
    struct Hex;
    impl FrameFormatter for Hex {
        fn format(&self, frame: &[u8]) -> String {
            if frame.is_empty() {
                return malformed(0);
            }
            let hex: Vec<String> = frame.iter().map(|b| format!("{b:02x}")).collect();
            format!("frame[{}]", hex.join(" "))
        }
    }

    fn pieces(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        out.extend(s.finish());
        out
    }

    fn lines(chunks: &[&[u8]]) -> Vec<String> {
        let mut console = Console::new(&Hex);
        let mut streamed = Vec::new();
        for c in chunks {
            streamed.extend(console.feed(c));
        }
        streamed.extend(console.finish());
        assert_eq!(streamed, console.lines(), "streamed lines == kept lines");
        streamed
    }

    struct Multi;
    impl FrameFormatter for Multi {
        fn format(&self, _: &[u8]) -> String {
            "INFO  first\r\nsecond\nthird".to_string()
        }
    }

    #[test]
    fn a_message_with_newlines_makes_several_lines() {
        let mut c = Console::new(&Multi);
        let mut lines = c.feed(b"text\xff\x01\x00after\n");
        lines.extend(c.finish());
        assert_eq!(lines, ["text", "INFO  first", "second", "third", "after"]);
    }

    #[test]
    fn text_and_frames_are_separated() {
        let got = pieces(&[b"hi\n\xff\x01\x02\x00bye\n"]);
        assert_eq!(
            got,
            vec![
                Piece::Text(b"hi\n".to_vec()),
                Piece::Frame(vec![1, 2]),
                Piece::Text(b"bye\n".to_vec())
            ]
        );
    }

    #[test]
    fn zero_in_text_is_ignored() {
        assert_eq!(
            pieces(&[b"a\x00b\x00\x00\n"]),
            vec![Piece::Text(b"ab\n".to_vec())]
        );
        assert_eq!(lines(&[b"\x00ok\n"]), vec!["ok"]);
    }

    #[test]
    fn ff_inside_a_frame_is_frame_data() {
        assert_eq!(
            pieces(&[b"\xff\x05\xff\x06\x00"]),
            vec![Piece::Frame(vec![5, 0xff, 6])]
        );
    }

    #[test]
    fn frame_split_across_reads() {
        let whole = lines(&[b"boot\n\xff\x10\x20\x30\x00done\n"]);
        let split = lines(&[b"bo", b"ot\n\xff\x10", b"\x20", b"\x30", b"\x00do", b"ne\n"]);
        assert_eq!(whole, vec!["boot", "frame[10 20 30]", "done"]);
        assert_eq!(split, whole);
        // Byte by byte as well.
        let bytes = b"boot\n\xff\x10\x20\x30\x00done\n";
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(lines(&singles), whole);
    }

    #[test]
    fn text_before_a_frame_gets_its_own_line() {
        assert_eq!(
            lines(&[b"partial\xff\x01\x00rest\n"]),
            vec!["partial", "frame[01]", "rest"]
        );
    }

    #[test]
    fn malformed_frames_do_not_stop_the_stream() {
        // A panic path closes an open frame with a lone 0x00, then prints text.
        let got = lines(&[b"\xff\x00", b"\xff\x07\x08", b"\x00", b"panicked at x\n"]);
        assert_eq!(
            got,
            vec![
                "<malformed defmt frame, 0 bytes>",
                "frame[07 08]",
                "panicked at x"
            ]
        );
        // A stream that ends inside a frame reports it.
        assert_eq!(
            lines(&[b"x\n\xff\x01\x02"]),
            vec!["x", "<malformed defmt frame, 2 bytes>"]
        );
    }

    #[test]
    fn crlf_and_invalid_utf8_are_tolerated() {
        assert_eq!(
            lines(&[b"a\r\nb\xc3\n", b"tail"]),
            vec!["a", "b\u{fffd}", "tail"]
        );
    }

    #[test]
    fn expectations_match_substrings_per_line() {
        let lines: Vec<String> = ["EXCEPTION at EL1", "EC=0x25 ESR=0x96000045", "FAR=0x0"]
            .map(String::from)
            .to_vec();
        let want: Vec<String> = ["EXCEPTION", "EC=0x25", "FAR=0x"]
            .map(String::from)
            .to_vec();
        assert!(missing_expectations(&lines, &want).is_empty());
        // Each expected string must sit inside one line, not across two.
        let across = vec!["EC=0x25 FAR".to_string()];
        assert_eq!(missing_expectations(&lines, &across), vec!["EC=0x25 FAR"]);
        assert_eq!(missing_expectations(&[], &want).len(), 3);
    }
}
