//! Property test: random sequences of valid and invalid sync-set operations against the
//! reference model in `model/syncset.rs` (issue #4), on the non-coherent memory simulator.
//! The model, its harness and what they check are described there; this file generates
//! the sequences and keeps the minimal sequences of the bugs the model found.

#[path = "model/syncset.rs"]
mod model;

use model::{BUFFERS, GuardUse, Op, Pick, RangeKind, SETS, run};
use proptest::prelude::*;

fn pick() -> impl Strategy<Value = Pick> + Clone {
    prop_oneof![
        3 => (0usize..8).prop_map(Pick::Fit),
        1 => (0..BUFFERS.len()).prop_map(Pick::Any),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let set = 0..SETS.len();
    let buf = pick();
    let range = prop_oneof![
        4 => Just(RangeKind::Whole),
        3 => (0usize..8, 0usize..8).prop_map(|(a, b)| RangeKind::Inside(a, b)),
        2 => (0usize..300, 0usize..300).prop_map(|(a, b)| RangeKind::Raw(a, b)),
    ];
    prop_oneof![
        10 => (set.clone(), buf.clone(), 0u8..8, range)
            .prop_map(|(set, buf, access, range)| Op::Add { set, buf, access, range }),
        2 => (set.clone(), buf.clone()).prop_map(|(set, buf)| Op::Remove { set, buf }),
        1 => set.clone().prop_map(|set| Op::Clear { set }),
        8 => set.clone().prop_map(|set| Op::Lock { set }),
        4 => (set.clone(), buf.clone()).prop_map(|(set, buf)| Op::CpuRead { set, buf }),
        4 => (set.clone(), buf.clone()).prop_map(|(set, buf)| Op::CpuWrite { set, buf }),
        4 => (set.clone(), buf.clone(), 0u8..4).prop_map(|(set, buf, dev)| Op::Dma { set, buf, dev }),
        6 => (set.clone(), buf.clone(), any::<bool>())
            .prop_map(|(set, buf, write)| Op::GuardFit { set, buf, write }),
        12 => (0usize..8, prop_oneof![
            4 => Just(GuardUse::Read),
            4 => any::<u8>().prop_map(GuardUse::Write),
            1 => Just(GuardUse::Watchdog),
        ], 0usize..2)
            .prop_map(|(k, how, cpu)| Op::UseGuard { k, how, cpu }),
        3 => (0usize..8).prop_map(|k| Op::DropGuard { k }),
        5 => set.clone().prop_map(|set| Op::Unlock { set }),
        1 => set.clone().prop_map(|set| Op::DropLocked { set }),
        3 => (set.clone(), prop::option::weighted(0.3, 0u32..3))
            .prop_map(|(set, done)| Op::UnlockAfter { set, done }),
        3 => (0usize..4, 0u32..3).prop_map(|(k, code)| Op::SignalWork { k, code }),
        2 => (0usize..2).prop_map(|domain| Op::Watchdog { domain }),
        1 => (
            0usize..2,
            prop::sample::select(vec![0usize, 16, 32, 64, 128]),
            prop::sample::select(vec![0usize, 16, 32, 64]),
            prop::sample::select(vec![0usize, 16, 32, 64, 96, 128, 100]),
            prop::sample::select(vec![16usize, 32, 64, 128, 48]),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(domain, virt_off, bus_off, len, line, overflow)| Op::Region {
                domain,
                virt_off,
                bus_off,
                len,
                line,
                overflow
            }),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn sync_sets_match_the_reference_model(
        ops in prop::collection::vec(op(), 1..96),
        seed in 1u64..1000,
    ) {
        run(&ops, seed)?;
    }
}

// Minimal sequences of the bugs this model found, kept as plain tests.

/// Buffer ids are per domain, and `remove` (and the guards' lookup) compared ids only: a
/// foreign buffer with a registered buffer's id removed that buffer (`Ok` instead of
/// `NotRegistered`), and `cpu_read`/`dma` of it gave a guard for the registered one.
#[test]
fn a_foreign_buffer_sharing_a_registered_buffers_id_is_not_registered() {
    let ops = [
        Op::Add {
            set: 2,
            buf: Pick::Any(1),
            access: 0,
            range: RangeKind::Whole,
        },
        Op::Remove {
            set: 2,
            buf: Pick::Any(5),
        },
        Op::Lock { set: 2 },
        Op::CpuRead {
            set: 2,
            buf: Pick::Any(5),
        },
    ];
    run(&ops, 1).unwrap();
}

/// A set's `done` fences shared one timeline, so a second lock of the set replaced the
/// first lock's still pending `done` in the buffer's reservation object: with the device
/// still reading after `unlock_after`, unlocking the second lock made the buffer idle, and
/// a writer would not have waited for the device.
#[test]
fn a_set_locked_again_while_its_device_still_works_keeps_the_buffer_busy() {
    let ops = [
        Op::Add {
            set: 0,
            buf: Pick::Any(0),
            access: 0,
            range: RangeKind::Whole,
        },
        Op::Lock { set: 0 },
        Op::UnlockAfter { set: 0, done: None },
        Op::Lock { set: 0 },
        Op::UnlockAfter {
            set: 0,
            done: Some(0),
        },
        // A writer of the same buffer must wait for the device: in the short domain that
        // means the watchdog expires the device's holder and the writer fails.
        Op::Add {
            set: 1,
            buf: Pick::Any(0),
            access: 1,
            range: RangeKind::Whole,
        },
        Op::Lock { set: 1 },
    ];
    run(&ops, 1).unwrap();
}
