//! The demo's plain-text log lines, shared by every board: what a failed frame and the run's
//! totals print (plain text, so the verdict never depends on the defmt decoder).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::pipeline::{FrameReport, Totals};

fn us(ns: u64) -> u64 {
    ns / 1000
}

impl FrameReport {
    /// The lines a frame that went wrong prints: its error, a checksum mismatch; none for a
    /// good frame.
    pub fn problem_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(e) = &self.error {
            lines.push(format!("frame {}: FAILED: {e}", self.frame));
        }
        if let (Some(got), Some(want)) = (self.checksum, self.expected)
            && got != want
        {
            lines.push(format!(
                "frame {}: checksum MISMATCH: read back {got:#010x}, reference {want:#010x}",
                self.frame
            ));
        }
        lines
    }
}

impl Totals {
    /// The run's summary: frames and failures, timing and fence latencies, sync counters.
    pub fn summary_lines(&self) -> [String; 3] {
        let s = &self.sync;
        [
            format!(
                "demo totals: {} frames, {} ok, {} failed ({} checksum mismatches, {} engine resets)",
                self.frames, self.ok, self.failed, self.mismatches, self.engine_resets
            ),
            format!(
                "demo timing: mean frame {} us, max {} us, waiting {} us in all; fence latency: submit->engine done mean {} us, flip->presented mean {} us",
                us(self.frame_ns / u64::from(self.frames.max(1))),
                us(self.max_frame_ns),
                us(self.wait_ns),
                us(Totals::mean(self.engine_ns)),
                us(Totals::mean(self.present_ns)),
            ),
            format!(
                "demo sync: {} locks ({} waited), {} back-offs, cache ops issued {} ({} bytes), avoided {}, expired holders {}, predecessor errors {}",
                s.locks,
                s.contended,
                s.backoffs,
                s.cache_ops,
                s.cache_bytes,
                s.cache_ops_avoided,
                s.expired,
                s.predecessor_errors
            ),
        ]
    }
}

/// The per-frame line boards log over defmt (`defmt::info!("{}", report)`): timings, cache
/// work and the checksum, compressed on the wire.
#[cfg(feature = "defmt")]
impl defmt::Format for FrameReport {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "frame {=u32} buf {=usize}: {=u64} us (wait {=u64} us), engine {=u64} us, present {=u64} us, cache ops {=u64} ({=u64} B), avoided {=u64}, backoffs {=u64}, checksum {=u32:#010x}",
            self.frame,
            self.buffer,
            us(self.frame_ns),
            us(self.wait_ns),
            us(self.engine_ns.unwrap_or(0)),
            us(self.present_ns.unwrap_or(0)),
            self.sync.cache_ops,
            self.sync.cache_bytes,
            self.sync.cache_ops_avoided,
            self.sync.backoffs,
            self.checksum.unwrap_or(0)
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::pipeline::{FrameError, FrameReport, Totals};

    #[test]
    fn a_good_frame_prints_nothing_a_bad_one_names_its_problems() {
        let good = FrameReport {
            frame: 3,
            checksum: Some(7),
            expected: Some(7),
            ..FrameReport::default()
        };
        assert!(good.problem_lines().is_empty());
        let bad = FrameReport {
            frame: 4,
            checksum: Some(7),
            expected: Some(8),
            error: Some(FrameError::PresentTimeout),
            ..FrameReport::default()
        };
        let lines = bad.problem_lines();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("frame 4: FAILED: present"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("read back 0x00000007, reference 0x00000008"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn totals_count_frames_and_failures() {
        let mut t = Totals::default();
        t.add(&FrameReport {
            checksum: Some(1),
            ..FrameReport::default()
        });
        t.add(&FrameReport {
            error: Some(FrameError::PresentTimeout),
            ..FrameReport::default()
        });
        let [totals, timing, sync] = t.summary_lines();
        assert!(
            totals.starts_with("demo totals: 2 frames, 1 ok, 1 failed"),
            "{totals}"
        );
        assert!(timing.starts_with("demo timing: mean frame"), "{timing}");
        assert!(sync.starts_with("demo sync: 0 locks"), "{sync}");
    }
}
