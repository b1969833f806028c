//! The seed pipeline (triple-buffered frames, CPU-drawn overlay, 2D engine composite,
//! display scan-out, CPU checksum read-back) through sync sets on the non-coherent memory
//! simulator: zero violations, and exactly the maintenance the line-by-line minimum needs.
//! The same replay, with the baseline policies, is what `benches/pipeline.rs` reports.

#[allow(dead_code)]
#[path = "../benches/support/pipeline.rs"]
mod pipeline;

use dmasync_hal::cache::CacheOp;
use pipeline::{Policy, Shape};

/// Two rounds of triple buffering: every frame buffer is reused once.
const FRAMES: usize = 6;

#[test]
fn sync_sets_issue_exactly_the_minimum_maintenance_for_the_seed_pipeline() {
    let shape = Shape::seed(FRAMES);
    let dm = pipeline::run(&shape, Policy::Dmasync);
    assert!(dm.violations.is_empty(), "{}", dm.violations[0]);
    let min = pipeline::minimum(&shape);
    assert_eq!(dm.tally, min, "operations and bytes, per kind");
    assert_eq!(dm.domain_counts, Some((min.calls(), min.bytes())));
    // Per frame: clean the overlay before the engine reads it; invalidate the checksum band
    // before the CPU reads it; nothing else.
    assert_eq!(min.calls[CacheOp::Clean as usize], FRAMES as u64);
    assert_eq!(min.calls[CacheOp::Invalidate as usize], FRAMES as u64);
    assert_eq!(
        min.bytes[CacheOp::Invalidate as usize],
        (FRAMES * shape.checksum_bytes().len()) as u64
    );
}

#[test]
fn the_baselines_are_correct_and_not_below_the_minimum() {
    let shape = Shape::seed(3);
    let min = pipeline::minimum(&shape);
    for policy in [Policy::WholeCleanInvalidate, Policy::LinuxStreaming] {
        let r = pipeline::run(&shape, policy);
        assert!(r.violations.is_empty(), "{policy:?}: {}", r.violations[0]);
        assert!(r.tally.calls() >= min.calls() && r.tally.bytes() >= min.bytes());
    }
}

#[test]
fn without_maintenance_the_simulator_sees_the_hazards() {
    let r = pipeline::run(&Shape::seed(3), Policy::Nothing);
    let text: String = r.violations.iter().map(|v| format!("{v}\n")).collect();
    assert!(text.contains("stale read by Device"), "{text}");
    assert!(text.contains("stale read by Cpu"), "{text}");
}
