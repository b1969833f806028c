//! Cache maintenance per frame of the seed pipeline on the non-coherent memory simulator
//! (`cargo bench -p dmasync-sync --bench pipeline`; optional argument: frames,
//! default 60).
//!
//! Counts, not times: the simulator counts every maintenance operation, so the figures are
//! deterministic and need no statistics. dmasync's sync sets are compared with (a) clean +
//! invalidate of the whole buffer on every hand-over, (b) the Linux streaming-DMA rule on
//! whole buffers, and the line-by-line minimum — all on the same access sequence in the same
//! run (see `support/pipeline.rs` for the pipeline and the exact baseline rules). Every
//! simulated policy must finish with zero violations: a wrong baseline is no baseline.

use std::time::Instant;

use dmasync_hal::cache::CacheOp;

// The two-level parts (Shape::armv7, run_sync_sets, minimum_per_level, Run::stats) serve
// tests/pipeline_two_level.rs only.
#[allow(dead_code)]
#[path = "support/pipeline.rs"]
mod pipeline;

use pipeline::{Policy, Shape, Tally};

fn per_frame(x: u64, frames: usize) -> String {
    let v = x as f64 / frames as f64;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn row(name: &str, t: &Tally, frames: usize, min: &Tally) {
    let c = CacheOp::Clean as usize;
    let i = CacheOp::Invalidate as usize;
    let ci = CacheOp::CleanInvalidate as usize;
    println!(
        "| {name} | {} | {} | {} | {} | {:.2}x | {:.1}x |",
        per_frame(t.calls(), frames),
        per_frame(t.bytes(), frames),
        format_args!(
            "{}/{}/{}",
            per_frame(t.calls[c], frames),
            per_frame(t.calls[i], frames),
            per_frame(t.calls[ci], frames)
        ),
        format_args!(
            "{}/{}/{}",
            per_frame(t.bytes[c], frames),
            per_frame(t.bytes[i], frames),
            per_frame(t.bytes[ci], frames)
        ),
        t.calls() as f64 / min.calls() as f64,
        t.bytes() as f64 / min.bytes() as f64,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; the only other argument we take is the frame count.
    let frames = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(60);
    let shape = Shape::seed(frames);
    println!(
        "seed pipeline: {}x{} XRGB frames ({} B) x3, {}x{} overlay ({} B), checksum rows {:?} \
         ({} B), {} frames",
        shape.width,
        shape.height,
        shape.frame_bytes(),
        shape.overlay,
        shape.overlay,
        shape.overlay_bytes(),
        shape.checksum_rows,
        shape.checksum_bytes().len(),
        frames
    );

    let min = pipeline::minimum(&shape);
    let mut runs = Vec::new();
    for policy in [
        Policy::Dmasync,
        Policy::WholeCleanInvalidate,
        Policy::LinuxStreaming,
        Policy::Nothing,
    ] {
        let t0 = Instant::now();
        let r = pipeline::run(&shape, policy);
        eprintln!(
            "{}: {} violation(s), simulated in {:.1} s",
            policy.name(),
            r.violations.len(),
            t0.elapsed().as_secs_f64()
        );
        if policy == Policy::Nothing {
            assert!(
                !r.violations.is_empty(),
                "the simulator must see the hazards maintenance prevents"
            );
        } else {
            assert!(
                r.violations.is_empty(),
                "{} is not a valid baseline: {}",
                policy.name(),
                r.violations[0]
            );
        }
        if let Some((ops, bytes)) = r.domain_counts {
            assert_eq!(
                (ops, bytes),
                (r.tally.calls(), r.tally.bytes()),
                "the domain's counters agree with the simulator's"
            );
        }
        runs.push((policy, r));
    }

    println!();
    println!(
        "| policy | ops/frame | bytes/frame | clean/inval/clean+inval ops | clean/inval/clean+inval \
         bytes | ops vs min | bytes vs min |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (policy, r) in &runs {
        if *policy != Policy::Nothing {
            row(policy.name(), &r.tally, frames, &min);
        }
    }
    row("minimum (MinimumMaintenance)", &min, frames, &min);

    let dm = &runs[0].1.tally;
    println!();
    println!(
        "dmasync == minimum: {} (ops {} vs {}, bytes {} vs {})",
        *dm == min,
        dm.calls(),
        min.calls(),
        dm.bytes(),
        min.bytes()
    );
    for (policy, r) in &runs[1..3] {
        println!(
            "reduction vs {}: ops {:.2}x, bytes {:.1}x",
            policy.name(),
            r.tally.calls() as f64 / dm.calls() as f64,
            r.tally.bytes() as f64 / dm.bytes() as f64
        );
    }
    println!(
        "negative control (no maintenance): {} violation(s)",
        runs[3].1.violations.len()
    );
}
