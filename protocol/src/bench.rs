//! The figure lines of `cargo xtask bench` (doc/testing.md, "benchmarks"; doc/benchmarks.md).
//!
//! Printed by the board's bench images (`boards/<board>/benches/*.rs`, plain text); read by
//! xtask (`bench.rs`), which keeps every line [`parse_figure`] recognises as a figure, prints
//! them, and compares them between runs number by number. [`DEVICE_PACED`] tells xtask that
//! the counts depend on host pace and may differ between runs; [`DONE`] ends the figures and
//! is not one.

use core::fmt;

/// Printed by a bench image whose measured region waits for a device QEMU runs at host pace
/// (the demo frame). xtask reports differences between runs of such an image instead of
/// failing it. It is also a figure line (xtask prints it with the figures).
pub const DEVICE_PACED: &str = "bench mode: device-paced";

/// Printed by a bench image after its last figure; not a figure.
pub const DONE: &str = "bench: done";

/// `bench <case>: <instructions> instructions<detail>`: one measured case (`case` any
/// `Display` without `: `, e.g. `format_args!("frame_{n}")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bench<C, D> {
    pub case: C,
    pub instructions: u64,
    /// Written right after `instructions`, e.g. [`PerIteration`] or ` (640x480, all cores)`.
    pub detail: D,
}

impl<C: fmt::Display, D: fmt::Display> fmt::Display for Bench<C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bench {}: {} instructions{}",
            self.case, self.instructions, self.detail
        )
    }
}

/// A [`Bench`] detail: ` over <iterations> iterations = <tenths / 10>.<tenths % 10> per
/// iteration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerIteration {
    pub iterations: u32,
    /// Instructions per iteration, in tenths.
    pub tenths: u64,
}

impl fmt::Display for PerIteration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " over {} iterations = {}.{} per iteration",
            self.iterations,
            self.tenths / 10,
            self.tenths % 10
        )
    }
}

/// `result <case>: <instructions> instructions/<per><detail>`: the figure a case is known
/// by (`per`: `op`, `frame`; `detail` e.g. ` (mean of 4, all cores)` or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Result<'a, D> {
    pub case: &'a str,
    pub instructions: u64,
    pub per: &'a str,
    pub detail: D,
}

impl<D: fmt::Display> fmt::Display for Result<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "result {}: {} instructions/{}{}",
            self.case, self.instructions, self.per, self.detail
        )
    }
}

/// `ratio <case>: <hundredths / 100>.<hundredths % 100, two digits>x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio<'a> {
    pub case: &'a str,
    pub hundredths: u64,
}

impl Ratio<'_> {
    /// `op / base` rounded to hundredths (`base` 0 counts as 1).
    pub const fn hundredths_of(op: u64, base: u64) -> u64 {
        let base = if base == 0 { 1 } else { base };
        (op * 100 + base / 2) / base
    }
}

impl fmt::Display for Ratio<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ratio {}: {}.{:02}x",
            self.case,
            self.hundredths / 100,
            self.hundredths % 100
        )
    }
}

/// A figure line as xtask reads it; `Display` writes it back exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure<'a> {
    /// [`DEVICE_PACED`].
    DevicePaced,
    Bench(Bench<&'a str, &'a str>),
    Result(Result<'a, &'a str>),
    Ratio(Ratio<'a>),
}

impl fmt::Display for Figure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Figure::DevicePaced => f.write_str(DEVICE_PACED),
            Figure::Bench(b) => b.fmt(f),
            Figure::Result(r) => r.fmt(f),
            Figure::Ratio(r) => r.fmt(f),
        }
    }
}

/// What is wrong with a line that starts like a figure (`bench `, `result `, `ratio `).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FigureErrorKind {
    /// No `<case>: ` after the keyword.
    NoCase,
    /// `bench mode: ...` with a mode other than `device-paced`.
    UnknownMode,
    /// The value does not start with a decimal number.
    NotANumber,
    /// `bench`: no ` instructions` after the number; `result`: no ` instructions/<per>`.
    NoInstructions,
    /// `ratio`: not `<int>.<two digits>x`.
    BadRatio,
}

/// A malformed figure line: what is wrong and the line. `Display` names both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FigureError<'a> {
    pub kind: FigureErrorKind,
    pub line: &'a str,
}

impl fmt::Display for FigureError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            FigureErrorKind::NoCase => "no `<case>: ` after the keyword",
            FigureErrorKind::UnknownMode => "unknown bench mode (known: device-paced)",
            FigureErrorKind::NotANumber => "the value is not a decimal number",
            FigureErrorKind::NoInstructions => {
                "the number is not followed by ` instructions` (`result`: `instructions/<per>`)"
            }
            FigureErrorKind::BadRatio => "the ratio is not `<int>.<two digits>x`",
        };
        write!(f, "malformed bench figure: {what} in `{}`", self.line)
    }
}

/// Parses a console line of a bench run. `None`: not a figure line (it does not start with
/// `bench `, `result ` or `ratio `; so neither [`DONE`] nor the image's other `bench: `
/// messages are). `Some(Err)`: it starts like one but does not have the format.
pub fn parse_figure(line: &str) -> Option<core::result::Result<Figure<'_>, FigureError<'_>>> {
    let (keyword, rest) = if let Some(rest) = line.strip_prefix("bench ") {
        ("bench", rest)
    } else if let Some(rest) = line.strip_prefix("result ") {
        ("result", rest)
    } else if let Some(rest) = line.strip_prefix("ratio ") {
        ("ratio", rest)
    } else {
        return None;
    };
    let err = |kind| Err(FigureError { kind, line });
    if line == DEVICE_PACED {
        return Some(Ok(Figure::DevicePaced));
    }
    let Some((case, value)) = rest.split_once(": ") else {
        return Some(err(FigureErrorKind::NoCase));
    };
    if case.is_empty() {
        return Some(err(FigureErrorKind::NoCase));
    }
    Some(match keyword {
        "bench" if case == "mode" => err(FigureErrorKind::UnknownMode),
        "bench" => match leading_number(value) {
            None => err(FigureErrorKind::NotANumber),
            Some((instructions, rest)) => match rest.strip_prefix(" instructions") {
                Some(detail) => Ok(Figure::Bench(Bench {
                    case,
                    instructions,
                    detail,
                })),
                None => err(FigureErrorKind::NoInstructions),
            },
        },
        "result" => match leading_number(value) {
            None => err(FigureErrorKind::NotANumber),
            Some((instructions, rest)) => match rest.strip_prefix(" instructions/") {
                Some(tail) => {
                    let end = tail.find(' ').unwrap_or(tail.len());
                    let (per, detail) = tail.split_at(end);
                    if per.is_empty() {
                        err(FigureErrorKind::NoInstructions)
                    } else {
                        Ok(Figure::Result(Result {
                            case,
                            instructions,
                            per,
                            detail,
                        }))
                    }
                }
                None => err(FigureErrorKind::NoInstructions),
            },
        },
        _ => match parse_ratio(value) {
            Some(hundredths) => Ok(Figure::Ratio(Ratio { case, hundredths })),
            None if leading_number(value).is_none() => err(FigureErrorKind::NotANumber),
            None => err(FigureErrorKind::BadRatio),
        },
    })
}

/// The decimal number at the start of `s` and what follows it.
fn leading_number(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// `<int>.<dd>x` in hundredths.
fn parse_ratio(value: &str) -> Option<u64> {
    let (int, frac) = value.strip_suffix('x')?.split_once('.')?;
    if frac.len() != 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (int, rest) = leading_number(int)?;
    if !rest.is_empty() {
        return None;
    }
    int.checked_mul(100)?.checked_add(frac.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    /// Lines exactly as the qemu-virt bench images print them (baseline run).
    const REAL: &[&str] = &[
        "bench mode: device-paced",
        "bench frame_3: 6436195 instructions (640x480, all cores)",
        "result frame: 6310893 instructions/frame (mean of 4, all cores)",
        "bench empty: 2002 instructions over 1000 iterations = 2.0 per iteration",
        "bench syncset_lock_unlock_1: 1645503 instructions over 1000 iterations = 1645.5 per iteration",
        "result fence_signal: 112 instructions/op",
        "ratio syncset_lock_unlock_1 / acquire_ctx_lockset_1: 4.42x",
        "ratio x: 0.05x",
    ];

    #[test]
    fn real_lines_round_trip() {
        for line in REAL {
            let figure = parse_figure(line).unwrap().unwrap();
            assert_eq!(render(&figure), *line);
        }
    }

    #[test]
    fn formatters_write_what_the_parser_reads() {
        let b = Bench {
            case: "empty",
            instructions: 2002,
            detail: PerIteration {
                iterations: 1000,
                tenths: 20,
            },
        };
        let line = render(&b);
        assert_eq!(
            line,
            "bench empty: 2002 instructions over 1000 iterations = 2.0 per iteration"
        );
        assert_eq!(
            parse_figure(&line),
            Some(Ok(Figure::Bench(Bench {
                case: "empty",
                instructions: 2002,
                detail: " over 1000 iterations = 2.0 per iteration"
            })))
        );
        let r = Result {
            case: "acquire_ctx",
            instructions: 256,
            per: "op",
            detail: "",
        };
        let line = render(&r);
        assert_eq!(line, "result acquire_ctx: 256 instructions/op");
        assert_eq!(parse_figure(&line), Some(Ok(Figure::Result(r))));
        let q = Ratio {
            case: "a / b",
            hundredths: Ratio::hundredths_of(1643, 372),
        };
        let line = render(&q);
        assert_eq!(line, "ratio a / b: 4.42x");
        assert_eq!(parse_figure(&line), Some(Ok(Figure::Ratio(q))));
        assert_eq!(Ratio::hundredths_of(5, 0), 500);
        assert_eq!(parse_figure(DEVICE_PACED), Some(Ok(Figure::DevicePaced)));
    }

    #[test]
    fn other_lines_are_not_figures() {
        for line in [
            DONE,
            "bench: the PMU does not count INST_RETIRED",
            "qemu-virt: EL1 cpus=2",
            "INFO something  (file:1)",
            "benchmark x: 1 instructions",
        ] {
            assert_eq!(parse_figure(line), None, "{line}");
        }
    }

    #[test]
    fn malformed_figures_say_what_is_wrong() {
        let kind = |line| parse_figure(line).unwrap().unwrap_err().kind;
        assert_eq!(kind("bench nothing"), FigureErrorKind::NoCase);
        assert_eq!(kind("bench mode: turbo"), FigureErrorKind::UnknownMode);
        assert_eq!(
            kind("bench x: many instructions"),
            FigureErrorKind::NotANumber
        );
        assert_eq!(kind("bench x: 12 cycles"), FigureErrorKind::NoInstructions);
        assert_eq!(
            kind("result x: 12 instructions"),
            FigureErrorKind::NoInstructions
        );
        assert_eq!(kind("ratio x: 4.4x"), FigureErrorKind::BadRatio);
        assert_eq!(kind("ratio x: fast"), FigureErrorKind::NotANumber);
        let e = parse_figure("result x: 12 cycles/op").unwrap().unwrap_err();
        assert_eq!(
            render(&e),
            "malformed bench figure: the number is not followed by ` instructions` \
             (`result`: `instructions/<per>`) in `result x: 12 cycles/op`"
        );
    }
}
