//! Sequences of KDS operations (new/remove resource, enqueue and try_acquire with repeated,
//! stale, foreign or too many resources, release, cancel, try_cancel, drop, deferred work,
//! zero-timeout waits, stale request ids) against the reference model that
//! `sync/tests/kds_model.rs` also runs: the model recomputes every grant from scratch and
//! predicts every result, every queue, every pending count and every callback run.
#![no_main]
#![forbid(unsafe_code)]

#[path = "../../sync/tests/model/kds.rs"]
mod model;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use model::{MAX, Op};

const MAX_OPS: usize = 160;

/// `Op` with fields of any value; `into_op` bounds the resource lists (the model takes every
/// index modulo).
#[derive(Arbitrary, Debug)]
enum FOp {
    NewResource,
    RemoveResource(u8),
    Enqueue {
        picks: Vec<(u8, bool)>,
        foreign_at: Option<u8>,
        completion: u8,
        try_only: bool,
    },
    Release(u8),
    Cancel(u8),
    TryCancel(u8),
    Drop(u8),
    RunWork,
    Wait0(u8),
    StaleQuery(u8),
}

fn into_op(op: FOp) -> Op {
    let k = usize::from;
    match op {
        FOp::NewResource => Op::NewResource,
        FOp::RemoveResource(i) => Op::RemoveResource(k(i)),
        FOp::Enqueue {
            mut picks,
            foreign_at,
            completion,
            try_only,
        } => {
            // Up to two past the domain's maximum, so `TooManyResources` comes up.
            picks.truncate(MAX + 2);
            Op::Enqueue {
                picks: picks.into_iter().map(|(i, s)| (k(i), s)).collect(),
                foreign_at: foreign_at.map(|p| k(p) % (MAX + 2)),
                completion: completion % 3,
                try_only,
            }
        }
        FOp::Release(i) => Op::Release(k(i)),
        FOp::Cancel(i) => Op::Cancel(k(i)),
        FOp::TryCancel(i) => Op::TryCancel(k(i)),
        FOp::Drop(i) => Op::Drop(k(i)),
        FOp::RunWork => Op::RunWork,
        FOp::Wait0(i) => Op::Wait0(k(i)),
        FOp::StaleQuery(i) => Op::StaleQuery(k(i)),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    // An exhausted `Unstructured` still yields (zeroed) values: stop at the input's end.
    while ops.len() < MAX_OPS && !u.is_empty() {
        match u.arbitrary::<FOp>() {
            Ok(op) => ops.push(into_op(op)),
            Err(_) => break,
        }
    }
    if let Err(e) = model::run(&ops) {
        panic!("KDS disagrees with the model: {e}\nops: {ops:#?}");
    }
});
