//! The access-type table, one transition at a time (doc/sync-model.md has the same table).

use super::*;

const LINE: usize = 64;
const BASE: usize = 0x10_0000;
const DEV: DeviceId = DeviceId(1);
const OTHER_DEV: DeviceId = DeviceId(2);

fn tracker() -> CoherencyTracker {
    CoherencyTracker::new(BASE, 4 * LINE, LINE, Coherency::NonCoherent)
}

fn ops(p: &Plan) -> Vec<(CacheOp, usize, usize)> {
    p.ops
        .iter()
        .map(|(op, r)| (*op, r.start - BASE, r.len))
        .collect()
}

fn after(prev: Access, next: Access) -> Vec<(CacheOp, usize, usize)> {
    let mut t = tracker();
    t.plan(prev, None).unwrap();
    ops(&t.plan(next, None).unwrap())
}

const WHOLE: usize = 4 * LINE;

#[test]
fn clean_before_a_device_reads_what_a_cpu_wrote() {
    assert_eq!(
        after(Access::CPU_WRITE, Access::dma_read(DEV)),
        [(CacheOp::Clean, 0, WHOLE)]
    );
    assert_eq!(
        after(Access::CPU_READ_WRITE, Access::dma_read(DEV)),
        [(CacheOp::Clean, 0, WHOLE)]
    );
}

#[test]
fn clean_before_a_device_overwrites_what_a_cpu_wrote() {
    // Otherwise a later eviction of the dirty lines would overwrite the device's data.
    assert_eq!(
        after(Access::CPU_WRITE, Access::dma_write(DEV)),
        [(CacheOp::Clean, 0, WHOLE)]
    );
}

#[test]
fn invalidate_before_a_cpu_reads_what_a_device_wrote() {
    assert_eq!(
        after(Access::dma_write(DEV), Access::CPU_READ),
        [(CacheOp::Invalidate, 0, WHOLE)]
    );
    assert_eq!(
        after(Access::dma_read_write(DEV), Access::CPU_READ),
        [(CacheOp::Invalidate, 0, WHOLE)]
    );
}

#[test]
fn invalidate_before_a_cpu_writes_over_what_a_device_wrote() {
    assert_eq!(
        after(Access::dma_write(DEV), Access::CPU_WRITE),
        [(CacheOp::Invalidate, 0, WHOLE)]
    );
}

#[test]
fn nothing_when_nothing_is_needed() {
    let cases = [
        (Access::CPU_READ, Access::CPU_READ),
        (Access::CPU_WRITE, Access::CPU_READ),
        (Access::CPU_WRITE, Access::CPU_WRITE),
        (Access::CPU_READ, Access::dma_read(DEV)),
        (Access::CPU_READ, Access::dma_write(DEV)),
        (Access::dma_read(DEV), Access::CPU_READ),
        (Access::dma_read(DEV), Access::CPU_WRITE),
        (Access::dma_write(DEV), Access::dma_read(OTHER_DEV)),
        (Access::dma_write(DEV), Access::dma_write(OTHER_DEV)),
        (Access::dma_read(DEV), Access::dma_read(OTHER_DEV)),
    ];
    for (prev, next) in cases {
        assert_eq!(after(prev, next), [], "{prev:?} then {next:?}");
    }
}

#[test]
fn a_fresh_buffer_needs_nothing() {
    for a in [
        Access::CPU_READ,
        Access::CPU_WRITE,
        Access::dma_read(DEV),
        Access::dma_write(DEV),
    ] {
        assert!(tracker().plan(a, None).unwrap().is_empty(), "{a:?}");
    }
}

#[test]
fn maintenance_is_done_once_not_at_every_handover() {
    let mut t = tracker();
    t.plan(Access::CPU_WRITE, None).unwrap();
    assert_eq!(t.plan(Access::dma_read(DEV), None).unwrap().ops.len(), 1);
    assert!(
        t.plan(Access::dma_read(OTHER_DEV), None)
            .unwrap()
            .is_empty(),
        "already clean"
    );
    t.plan(Access::dma_write(DEV), None).unwrap();
    assert_eq!(t.plan(Access::CPU_READ, None).unwrap().ops.len(), 1);
    assert!(
        t.plan(Access::CPU_READ, None).unwrap().is_empty(),
        "already invalidated"
    );
}

#[test]
fn only_the_declared_range_is_maintained_rounded_to_lines() {
    let mut t = tracker();
    t.plan(Access::CPU_WRITE, Some(10..70)).unwrap(); // lines 0 and 1
    assert_eq!(
        ops(&t.plan(Access::dma_read(DEV), None).unwrap()),
        [(CacheOp::Clean, 0, 2 * LINE)]
    );
    t.plan(Access::dma_write(DEV), Some(3 * LINE..3 * LINE + 1))
        .unwrap(); // line 3
    // A CPU read of lines 0-1 needs nothing; of line 3 an invalidate of that line only.
    assert!(
        t.plan(Access::CPU_READ, Some(0..2 * LINE))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ops(&t.plan(Access::CPU_READ, Some(100..WHOLE)).unwrap()),
        [(CacheOp::Invalidate, 3 * LINE, LINE)]
    );
}

#[test]
fn separate_dirty_runs_give_separate_operations() {
    let mut t = tracker();
    t.plan(Access::CPU_WRITE, Some(0..1)).unwrap();
    t.plan(Access::CPU_WRITE, Some(2 * LINE..2 * LINE + 1))
        .unwrap();
    let p = t.plan(Access::dma_read(DEV), None).unwrap();
    assert_eq!(
        ops(&p),
        [(CacheOp::Clean, 0, LINE), (CacheOp::Clean, 2 * LINE, LINE)]
    );
    assert_eq!(p.bytes(), 2 * LINE);
}

#[test]
fn coherent_devices_are_on_the_cache_side() {
    let snooper = Access {
        agent: Agent::Device(DEV, Coherency::Coherent),
        mode: AccessMode::ReadWrite,
    };
    assert_eq!(after(Access::CPU_WRITE, snooper), []);
    assert_eq!(after(snooper, Access::CPU_READ), []);
    // A snooping device's writes may sit in CPU caches: a non-coherent reader needs a clean.
    assert_eq!(
        after(snooper, Access::dma_read(OTHER_DEV)),
        [(CacheOp::Clean, 0, WHOLE)]
    );
    // And it must not read cached lines a non-coherent device made stale.
    assert_eq!(
        after(Access::dma_write(OTHER_DEV), snooper),
        [(CacheOp::Invalidate, 0, WHOLE)]
    );
}

#[test]
fn uncached_buffers_never_need_maintenance() {
    let mut t = CoherencyTracker::new(BASE, 4 * LINE, LINE, Coherency::Coherent);
    for a in [
        Access::CPU_WRITE,
        Access::dma_read(DEV),
        Access::dma_write(DEV),
        Access::CPU_READ,
    ] {
        assert!(t.plan(a, None).unwrap().is_empty());
    }
}

#[test]
fn bad_ranges_are_rejected_and_change_nothing() {
    let mut t = tracker();
    t.plan(Access::CPU_WRITE, None).unwrap();
    assert_eq!(
        t.plan(Access::dma_read(DEV), Some(0..WHOLE + 1)),
        Err(RangeError {
            range: (0, WHOLE + 1),
            len: WHOLE
        })
    );
    assert_eq!(
        t.plan(Access::dma_read(DEV), Some(8..8)),
        Err(RangeError {
            range: (8, 8),
            len: WHOLE
        })
    );
    assert!(
        t.may_be_dirty(),
        "the failed plans did not pretend to clean"
    );
    let msg = std::format!(
        "{}",
        RangeError {
            range: (0, 300),
            len: WHOLE
        }
    );
    assert_eq!(msg, "declared range 0..300 is outside the 256-byte buffer");
}

/// `needs_maintenance` predicts exactly whether `plan` returns operations, and changes
/// nothing (the sync set relies on it to decide, before committing, whether to publish its
/// `ready` fence).
#[test]
fn needs_maintenance_predicts_the_plan_without_changing_state() {
    let accesses = [
        Access::CPU_READ,
        Access::CPU_WRITE,
        Access::CPU_READ_WRITE,
        Access::dma_read(DEV),
        Access::dma_write(DEV),
        Access::dma_read_write(OTHER_DEV),
    ];
    let ranges = [
        None,
        Some(0..1),
        Some(LINE - 1..LINE + 1),
        Some(2 * LINE..WHOLE),
    ];
    // Every pair of a first access and a second, over every range: the first sets up the
    // state, the second is predicted then planned.
    for first in accesses {
        for r1 in ranges.clone() {
            for next in accesses {
                for r2 in ranges.clone() {
                    let mut t = tracker();
                    t.plan(first, r1.clone()).unwrap();
                    let before = t.clone();
                    let predicted = t.needs_maintenance(next, r2.clone());
                    assert_eq!(
                        (t.may_be_dirty(), t.may_be_stale()),
                        (before.may_be_dirty(), before.may_be_stale())
                    );
                    let plan = t.plan(next, r2.clone()).unwrap();
                    assert_eq!(
                        predicted,
                        !plan.is_empty(),
                        "{first:?} {r1:?} then {next:?} {r2:?}: plan {plan:?}"
                    );
                }
            }
        }
    }
    // Rejected ranges and uncached buffers need nothing.
    let t = tracker();
    assert!(!t.needs_maintenance(Access::CPU_READ, Some(3..3)));
    assert!(!t.needs_maintenance(Access::CPU_READ, Some(0..WHOLE + 1)));
    let mut u = CoherencyTracker::new(BASE, WHOLE, LINE, Coherency::Coherent);
    u.plan(Access::dma_write(DEV), None).unwrap();
    assert!(!u.needs_maintenance(Access::CPU_READ, None));
}

/// A line size that is not a power of two (not a real cache, but `new` accepts it in
/// release builds) still rounds ranges out to whole lines.
#[test]
#[cfg(not(debug_assertions))]
fn odd_line_sizes_round_like_powers_of_two() {
    let mut t = CoherencyTracker::new(0, 96 * 4, 96, Coherency::NonCoherent);
    t.plan(Access::CPU_WRITE, Some(100..101)).unwrap();
    let plan = t.plan(Access::dma_read(DEV), None).unwrap();
    assert_eq!(plan.ops.len(), 1);
    assert_eq!((plan.ops[0].1.start, plan.ops[0].1.len), (96, 96));
}
