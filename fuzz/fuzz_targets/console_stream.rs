//! xtask reads the firmware's UART through `console::Splitter` (text and `0xFF` .. `0x00`
//! frames on one stream) and `console::Console`, which turns frames into lines with
//! `decode::Defmt` (rzcobs-encoded defmt frames).
//! Invariants: nothing panics; how reads split the stream changes nothing (the pieces and the
//! lines are those of one read); text pieces carry no delimiter and frames no `0x00`; the
//! pieces give back the stream's bytes but for the `0x00`s that delimit or are ignored; every
//! frame is formatted exactly once, decoded or `<malformed ...>`, into at least one line; no
//! line holds a newline (a message with newlines makes several lines).
#![no_main]
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::sync::OnceLock;

use dmasync_protocol::framing::{FRAME_END, FRAME_START, is_text_byte};
use dmasync_xtask::console::{Console, FrameFormatter, Piece, Splitter};
use dmasync_xtask::decode::Defmt;
use libfuzzer_sys::fuzz_target;

/// A defmt table like a firmware image's: a timestamp, log levels, println, arguments of
/// several types (what the firmware's frames carry), rzcobs as the console protocol needs.
const TABLE: &str = r#"{
  "timestamp": {"string": {"tag": "Timestamp", "string": "{=u64:us}"}, "raw_symbol": "ts"},
  "entries": {
    "1": {"string": {"tag": "Println", "string": "hello"}, "raw_symbol": "a"},
    "2": {"string": {"tag": "Info", "string": "cpu {=u8} up, {=str}"}, "raw_symbol": "b"},
    "3": {"string": {"tag": "Error", "string": "fence {=u32:#x} timed out after {=u64} ns"}, "raw_symbol": "c"},
    "4": {"string": {"tag": "Warn", "string": "{=[u8]:x} {=i16} {=bool}"}, "raw_symbol": "d"},
    "5": {"string": {"tag": "Debug", "string": "{=istr}: {=f32}"}, "raw_symbol": "e"},
    "6": {"string": {"tag": "Str", "string": "interned"}, "raw_symbol": "f"}
  },
  "bitflags": {},
  "encoding": "Rzcobs"
}"#;

fn defmt() -> &'static Defmt {
    static DEFMT: OnceLock<Defmt> = OnceLock::new();
    DEFMT.get_or_init(|| {
        let table = serde_json::from_str(TABLE).expect("the table's JSON");
        Defmt::from_table(table).expect("an rzcobs table")
    })
}

/// Counts the frames it formats, so the target can see each makes one line.
struct Counting<'d> {
    inner: &'d Defmt,
    frames: Cell<usize>,
}

impl FrameFormatter for Counting<'_> {
    fn format(&self, frame: &[u8]) -> String {
        self.frames.set(self.frames.get() + 1);
        self.inner.format(frame)
    }
}

/// Adjacent text pieces as one: reads may cut text anywhere.
fn merged(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    for p in pieces {
        match (out.last_mut(), p) {
            (Some(Piece::Text(a)), Piece::Text(b)) => a.extend(b),
            (_, p) => out.push(p),
        }
    }
    out
}

/// The first byte picks the read sizes (1..=8 bytes, cycling); the rest is the stream.
fn chunks(data: &[u8]) -> Option<(Vec<&[u8]>, &[u8])> {
    let (&seed, stream) = data.split_first()?;
    let mut out = Vec::new();
    let mut rest = stream;
    let mut k = usize::from(seed);
    while !rest.is_empty() {
        let n = (k % 8 + 1).min(rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
        k = k / 8 + usize::from(seed) + n;
    }
    Some((out, stream))
}

fuzz_target!(|data: &[u8]| {
    let Some((reads, stream)) = chunks(data) else {
        return;
    };

    // The splitter: one read vs many.
    let mut whole = Splitter::default();
    let mut pieces = Vec::new();
    whole.push(stream, &mut pieces);
    pieces.extend(whole.finish());
    let mut cut = Splitter::default();
    let mut cut_pieces = Vec::new();
    for r in &reads {
        cut.push(r, &mut cut_pieces);
    }
    cut_pieces.extend(cut.finish());
    let pieces = merged(pieces);
    assert_eq!(merged(cut_pieces), pieces, "reads changed the pieces");

    let mut rebuilt = Vec::new();
    let mut frames = 0;
    for (i, p) in pieces.iter().enumerate() {
        match p {
            Piece::Text(t) => {
                assert!(
                    t.iter().all(|&b| is_text_byte(b)),
                    "delimiter in text {t:?}"
                );
                rebuilt.extend(t);
            }
            Piece::Frame(f) => {
                assert!(!f.contains(&FRAME_END), "0x00 inside frame {f:?}");
                rebuilt.push(FRAME_START);
                rebuilt.extend(f);
                rebuilt.push(FRAME_END);
                frames += 1;
            }
            Piece::Unterminated(n) => {
                assert_eq!(i, pieces.len() - 1, "an unterminated frame before the end");
                assert!(!stream[stream.len() - n..].contains(&FRAME_END));
                assert_eq!(stream[stream.len() - n - 1], FRAME_START);
                rebuilt.push(FRAME_START);
                rebuilt.extend(&stream[stream.len() - n..]);
                frames += 1;
            }
        }
    }
    // Only 0x00s are dropped (ignored in text mode) and none is invented.
    let no_end = |b: &[u8]| {
        b.iter()
            .copied()
            .filter(|&b| b != FRAME_END)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        no_end(&rebuilt),
        no_end(stream),
        "the pieces lost or changed bytes"
    );
    assert!(rebuilt.len() <= stream.len());

    // The console: one read vs many, and each frame formatted once.
    let one = Counting {
        inner: defmt(),
        frames: Cell::new(0),
    };
    let mut console = Console::new(&one);
    let mut lines = console.feed(stream);
    lines.extend(console.finish());
    assert_eq!(
        lines,
        console.lines(),
        "returned lines are not the kept ones"
    );
    let many = Counting {
        inner: defmt(),
        frames: Cell::new(0),
    };
    let mut cut_console = Console::new(&many);
    let mut cut_lines = Vec::new();
    for r in &reads {
        cut_lines.extend(cut_console.feed(r));
    }
    cut_lines.extend(cut_console.finish());
    assert_eq!(cut_lines, lines, "reads changed the lines");
    let unterminated = usize::from(matches!(pieces.last(), Some(Piece::Unterminated(_))));
    assert_eq!(one.frames.get() + unterminated, frames, "frames formatted");
    assert_eq!(many.frames.get(), one.frames.get());
    assert!(lines.len() >= frames, "fewer lines than frames");
    assert!(
        lines.iter().all(|l| !l.contains('\n')),
        "a line with a newline: {lines:?}"
    );
});
