//! Property tests of the fence rules against a reference model.
#![allow(clippy::needless_range_loop)] // the model indexes parallel arrays
#![cfg(not(loom))]

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;

use dmasync_sync::fence::{
    AlreadySignalled, CallbackRemoval, FenceCallback, Timeline, all_of, any_of,
};
use dmasync_sync::{Fence, FenceError, FenceProducer, FenceResult, FenceStatus};

#[derive(Clone, Debug)]
enum Op {
    SetError(FenceError),
    Add(usize),
    Remove(usize),
    Signal,
    SignalError(FenceError),
    DropProducer,
    Poll,
}

fn error() -> impl Strategy<Value = FenceError> {
    prop_oneof![
        Just(FenceError::Cancelled),
        Just(FenceError::Timeout),
        any::<u32>().prop_map(FenceError::DeviceError),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        error().prop_map(Op::SetError),
        (0..4usize).prop_map(Op::Add),
        (0..4usize).prop_map(Op::Remove),
        Just(Op::Signal),
        error().prop_map(Op::SignalError),
        Just(Op::DropProducer),
        Just(Op::Poll),
    ]
}

type Cb = FenceCallback<Box<dyn FnMut(FenceResult) + Send>>;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any sequence of operations on one fence behaves like the model: signalled at most
    /// once, error only if set before signal, each queued callback runs exactly once with
    /// the final result, removal and late adds behave as documented.
    #[test]
    fn fence_follows_the_model(ops in proptest::collection::vec(op(), 1..24)) {
        let mut producer = Some(FenceProducer::one_off());
        let fence = producer.as_ref().unwrap().fence();
        let log: Arc<Mutex<Vec<(usize, FenceResult)>>> = Arc::new(Mutex::new(Vec::new()));
        let mut cbs: Vec<Pin<Box<Cb>>> = (0..4)
            .map(|i| {
                let l = log.clone();
                let f: Box<dyn FnMut(FenceResult) + Send> =
                    Box::new(move |r| l.lock().unwrap().push((i, r)));
                Box::pin(FenceCallback::new(f))
            })
            .collect();
        // Model.
        let mut m_result: Option<FenceResult> = None;
        let mut m_error: Option<FenceError> = None;
        let mut m_queued = [false; 4];
        let mut m_ran_count = [0usize; 4];
        let mut m_ran_last = [false; 4];

        // The producer goes away at the end in any case.
        for op in ops.into_iter().chain([Op::DropProducer]) {
            match op {
                Op::SetError(e) => {
                    if let Some(p) = &producer {
                        prop_assert_eq!(p.set_error(e), m_result.is_none());
                        if m_result.is_none() { m_error = Some(e); }
                    }
                }
                Op::Add(i) => {
                    let r = fence.add_callback(cbs[i].as_mut());
                    match m_result {
                        Some(res) => {
                            prop_assert_eq!(r, Err(AlreadySignalled { result: res }));
                            m_queued[i] = false;
                            // A re-add moved it out of its old (signalled) fence: still ran.
                        }
                        None => { prop_assert!(r.is_ok()); m_queued[i] = true; m_ran_last[i] = false; }
                    }
                }
                Op::Remove(i) => {
                    let r = cbs[i].as_mut().remove();
                    let expect = if m_queued[i] && m_result.is_none() {
                        CallbackRemoval::Removed
                    } else if m_ran_last[i] {
                        CallbackRemoval::AlreadyRan
                    } else {
                        CallbackRemoval::NotQueued
                    };
                    prop_assert_eq!(r, expect);
                    m_queued[i] = false;
                }
                Op::Signal | Op::SignalError(_) | Op::DropProducer => {
                    if let Some(p) = producer.take() {
                        let res = match op {
                            Op::Signal => { p.signal(); m_error.map_or(Ok(()), Err) }
                            Op::SignalError(e) => { p.signal_error(e); Err(e) }
                            _ => { drop(p); Err(m_error.unwrap_or(FenceError::Cancelled)) }
                        };
                        m_result = Some(res);
                        for i in 0..4 {
                            if m_queued[i] { m_ran_count[i] += 1; m_ran_last[i] = true; m_queued[i] = false; }
                        }
                    }
                }
                Op::Poll => {}
            }
            let expect_status = match m_result {
                None => FenceStatus::Pending,
                Some(Ok(())) => FenceStatus::Ok,
                Some(Err(e)) => FenceStatus::Err(e),
            };
            prop_assert_eq!(fence.status(), expect_status);
            prop_assert_eq!(fence.timestamp().is_some(), m_result.is_some());
        }
        prop_assert!(producer.is_none());
        let log = log.lock().unwrap();
        for i in 0..4 {
            let runs: Vec<_> = log.iter().filter(|(j, _)| *j == i).collect();
            prop_assert_eq!(runs.len(), m_ran_count[i]);
            for (_, r) in runs {
                prop_assert_eq!(Some(*r), m_result);
            }
        }
    }

    /// all-of = first error in signalling order, else Ok, once every child signalled;
    /// any-of = outcome of the first child to signal.
    #[test]
    fn aggregates_follow_the_model(
        outcomes in proptest::collection::vec(proptest::option::of(error()), 1..8),
        order_seed in any::<u64>(),
        pre_signalled in any::<u8>(),
    ) {
        let n = outcomes.len();
        let mut order: Vec<usize> = (0..n).collect();
        // Deterministic shuffle from the seed.
        let mut s = order_seed | 1;
        for i in (1..n).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            order.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let producers: Vec<_> = (0..n).map(|_| FenceProducer::one_off()).collect();
        let fences: Vec<Fence> = producers.iter().map(|p| p.fence()).collect();
        let mut slots: Vec<Option<FenceProducer>> = producers.into_iter().map(Some).collect();
        let signal = |slots: &mut Vec<Option<FenceProducer>>, i: usize| {
            let p = slots[i].take().unwrap();
            match outcomes[i] { None => p.signal(), Some(e) => p.signal_error(e) }
        };
        // Some children signal before the aggregate is built.
        let k = (pre_signalled as usize) % (n + 1);
        for &i in &order[..k] { signal(&mut slots, i); }
        let all = all_of(&fences);
        let any = any_of(&fences);
        for (step, &i) in order[k..].iter().enumerate() {
            prop_assert_eq!(all.status(), FenceStatus::Pending);
            signal(&mut slots, i);
            let _ = step;
        }
        // Children already signalled when the aggregate is built are seen in child order,
        // the rest in signalling order.
        let mut seen: Vec<usize> = order[..k].to_vec();
        seen.sort_unstable();
        seen.extend_from_slice(&order[k..]);
        let first_err = seen.iter().find_map(|&i| outcomes[i]);
        prop_assert_eq!(all.status().result(), Some(first_err.map_or(Ok(()), Err)));
        let first = outcomes[seen[0]];
        prop_assert_eq!(any.status().result(), Some(first.map_or(Ok(()), Err)));
    }

    /// Timeline order: is_later / later_of agree with seqno order on one timeline.
    #[test]
    fn timeline_order(a in 0usize..20, b in 0usize..20) {
        let t = Timeline::new();
        let ps: Vec<_> = (0..20).map(|_| t.next_fence()).collect();
        let (fa, fb) = (ps[a].fence(), ps[b].fence());
        prop_assert_eq!(fa.is_later(&fb), Some(a > b));
        let later = Fence::later_of(&fa, &fb).unwrap();
        prop_assert_eq!(later.seqno(), fa.seqno().max(fb.seqno()));
    }
}
