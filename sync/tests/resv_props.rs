//! Property tests of reservation objects: whatever is added, a query of usage U orders
//! after every fence added with a usage <= U (given that timelines signal in order).
#![cfg(not(loom))]

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;

use dmasync_sync::fence::Timeline;
use dmasync_sync::resv::{ReservationObject, ResvError, Usage};
use dmasync_sync::{FenceProducer, FenceStatus};

fn usage() -> impl Strategy<Value = Usage> {
    prop_oneof![
        Just(Usage::Kernel),
        Just(Usage::Write),
        Just(Usage::Read),
        Just(Usage::Bookkeep)
    ]
}

#[derive(Clone, Debug)]
enum Op {
    /// Add the next fence of timeline `t` with `u`.
    Add(usize, Usage),
    /// Re-add the most recent fence of timeline `t` with `u` (same seqno).
    Readd(usize, Usage),
    /// Signal the oldest unsignalled fence of timeline `t`.
    Signal(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize, usage()).prop_map(|(t, u)| Op::Add(t, u)),
        1 => (0..4usize, usage()).prop_map(|(t, u)| Op::Readd(t, u)),
        2 => (0..4usize).prop_map(Op::Signal),
    ]
}

const ALL: [Usage; 4] = [Usage::Kernel, Usage::Write, Usage::Read, Usage::Bookkeep];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn queries_cover_every_added_fence(ops in proptest::collection::vec(op(), 1..40)) {
        let resv: ReservationObject<8> = ReservationObject::new();
        let timelines: Vec<Timeline> = (0..4).map(|_| Timeline::new()).collect();
        // Per timeline: producers not yet signalled, oldest first.
        let mut pending: Vec<std::collections::VecDeque<FenceProducer>> =
            (0..4).map(|_| Default::default()).collect();
        let mut last: Vec<Option<dmasync_sync::Fence>> = vec![None; 4];
        // Everything ever added: (timeline, seqno, usage).
        let mut added: Vec<(usize, u64, Usage)> = Vec::new();
        let mut signalled_upto = [0u64; 4];

        for op in ops {
            match op {
                Op::Add(t, u) | Op::Readd(t, u) => {
                    let fence = match op {
                        Op::Add(..) => {
                            let p = timelines[t].next_fence();
                            let f = p.fence();
                            pending[t].push_back(p);
                            last[t] = Some(f.clone());
                            f
                        }
                        _ => match &last[t] { Some(f) => f.clone(), None => continue },
                    };
                    let g = resv.lock();
                    match g.reserve_one() {
                        Ok(slot) => {
                            slot.add(&fence, u);
                            added.push((t, fence.seqno(), u));
                        }
                        // Full: at most 4 timelines x at most 2 usage "levels" kept per
                        // timeline can be live, and 8 slots suffice for that... unless
                        // demotions pile up; then reserve fails cleanly.
                        Err(ResvError::NoSpace { capacity }) => prop_assert_eq!(capacity, 8),
                        Err(e) => prop_assert!(false, "unexpected {e:?}"),
                    }
                }
                Op::Signal(t) => {
                    if let Some(p) = pending[t].pop_front() {
                        signalled_upto[t] = p.seqno();
                        p.signal();
                    }
                }
            }
            for q in ALL {
                // The rule: for every added fence of usage <= q, the query holds a fence of
                // the same timeline that is at least as late, with a usage <= q (or the
                // added fence is signalled and may have been pruned/replaced).
                let listed: Vec<_> = resv.fences(q).collect();
                let mut newest: HashMap<u64, u64> = HashMap::new();
                for (f, u) in &listed {
                    prop_assert!(*u <= q);
                    let e = newest.entry(f.context().id()).or_default();
                    *e = (*e).max(f.seqno());
                }
                let mut all_done = true;
                for &(t, seq, u) in &added {
                    if u > q { continue; }
                    let done = seq <= signalled_upto[t];
                    all_done &= done;
                    if !done {
                        let ctx = timelines[t].context().id();
                        prop_assert!(
                            newest.get(&ctx).is_some_and(|&s| s >= seq),
                            "query {q:?} lost timeline {t} seqno {seq} ({u:?})"
                        );
                    }
                }
                prop_assert_eq!(resv.test_signalled(q), all_done);
                prop_assert_eq!(
                    resv.wait_timeout(q, Duration::ZERO) == FenceStatus::Ok,
                    all_done
                );
            }
        }
        drop(pending);
    }
}
