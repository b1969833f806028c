//! Property test: random sequences of valid and invalid KDS operations against the reference
//! model in `model/kds.rs`, which recomputes every grant from scratch (what it checks is
//! described there); this file generates the sequences.

#[path = "model/kds.rs"]
mod model;

use model::{MAX, Op, run};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::NewResource),
        1 => any::<usize>().prop_map(Op::RemoveResource),
        6 => (
            prop_oneof![
                8 => prop::collection::vec((any::<usize>(), any::<bool>()), 0..=2),
                1 => prop::collection::vec((any::<usize>(), any::<bool>()), 0..=MAX + 2),
            ],
            prop::option::weighted(0.05, 0..MAX + 2),
            0u8..3,
            prop::bool::weighted(0.15),
        )
            .prop_map(|(picks, foreign_at, completion, try_only)| Op::Enqueue {
                picks,
                foreign_at,
                completion,
                try_only
            }),
        3 => any::<usize>().prop_map(Op::Release),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::TryCancel),
        1 => any::<usize>().prop_map(Op::Drop),
        1 => Just(Op::RunWork),
        1 => any::<usize>().prop_map(Op::Wait0),
        1 => any::<usize>().prop_map(Op::StaleQuery),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn kds_matches_the_reference_model(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops)?;
    }
}
