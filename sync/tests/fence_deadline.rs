//! Deadline hints (Linux's `dma_fence_set_deadline`; st-dma-fence has no deadline case, so
//! these follow the documented semantics, "deadline hints" in drivers/dma-buf/dma-fence.c):
//! the earliest deadline wins, reaches the producer, and passes through aggregates and
//! chains; a signalled fence has none.
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use std::sync::{Arc, Barrier};
use std::thread;

use dmasync_sync::fence::{FenceChain, Timeline, all_of, any_of, merge};
use dmasync_sync::{Fence, FenceProducer, Instant};

#[test]
fn the_earliest_deadline_reaches_the_producer() {
    let t = Timeline::new();
    let p = t.next_fence();
    let f = p.fence();
    assert_eq!(p.deadline(), None);
    f.set_deadline(Instant(5_000));
    assert_eq!(p.deadline(), Some(Instant(5_000)));
    f.clone().set_deadline(Instant(9_000));
    assert_eq!(
        p.deadline(),
        Some(Instant(5_000)),
        "a later hint does not move it"
    );
    f.set_deadline(Instant(1_000));
    assert_eq!(p.deadline(), Some(Instant(1_000)));
    assert_eq!(f.deadline(), Some(Instant(1_000)));
}

#[test]
fn a_signalled_fence_has_no_deadline_and_keeps_its_timestamp() {
    let p = FenceProducer::one_off();
    let f = p.fence();
    f.set_deadline(Instant(7));
    p.signal();
    assert_eq!(f.deadline(), None);
    let ts = f.timestamp().unwrap();
    assert_ne!(ts, Instant(7), "the hint does not leak into the timestamp");
    f.set_deadline(Instant(1));
    assert_eq!(f.timestamp(), Some(ts), "nor does a hint after the signal");
    assert_eq!(f.deadline(), None);
}

#[test]
fn a_deadline_on_an_aggregate_reaches_every_pending_child() {
    let ps: Vec<FenceProducer> = (0..4).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let all = all_of(&fs[..2]);
    let any = any_of(&fs[2..]);
    let outer = all_of([&all, &any]);
    outer.set_deadline(Instant(42));
    for (i, p) in ps.iter().enumerate() {
        assert_eq!(p.deadline(), Some(Instant(42)), "child {i}");
    }
    assert_eq!(all.deadline(), Some(Instant(42)));
    // A later hint on an inner aggregate changes nothing; an earlier one reaches its part.
    any.set_deadline(Instant(50));
    assert_eq!(ps[2].deadline(), Some(Instant(42)));
    all.set_deadline(Instant(10));
    assert_eq!(ps[0].deadline(), Some(Instant(10)));
    assert_eq!(ps[2].deadline(), Some(Instant(42)));
}

#[test]
fn a_deadline_on_a_chain_point_reaches_every_earlier_point() {
    let ps: Vec<FenceProducer> = (0..5).map(|_| FenceProducer::one_off()).collect();
    let mut chain = FenceChain::new();
    for (i, p) in ps.iter().enumerate() {
        chain.add(&p.fence(), i as u64 + 1);
    }
    let point3 = chain.find_seqno(3).unwrap();
    point3.set_deadline(Instant(300));
    for (i, p) in ps.iter().enumerate() {
        let want = (i < 3).then_some(Instant(300));
        assert_eq!(p.deadline(), want, "point {}", i + 1);
    }
}

#[test]
fn a_deadline_on_a_merged_fence_reaches_its_leaves() {
    let ps: Vec<FenceProducer> = (0..3).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let mut chain = FenceChain::new();
    chain.add(&fs[0], 1);
    chain.add(&fs[1], 2);
    let m = merge([chain.head().unwrap(), &fs[2]]);
    m.set_deadline(Instant(77));
    assert!(ps.iter().all(|p| p.deadline() == Some(Instant(77))));
}

#[test]
fn concurrent_hints_keep_the_earliest() {
    let p = FenceProducer::one_off();
    let f = p.fence();
    let start = Arc::new(Barrier::new(4));
    let hints: Vec<_> = (0..4u64)
        .map(|t| {
            let f = f.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for i in (0..200u64).rev() {
                    f.set_deadline(Instant(1_000 + i * 4 + t));
                }
            })
        })
        .collect();
    for h in hints {
        h.join().unwrap();
    }
    assert_eq!(p.deadline(), Some(Instant(1_000)));
}

#[test]
fn a_hint_racing_the_signal_never_becomes_the_timestamp() {
    let rounds = if cfg!(miri) { 4 } else { 300 };
    for _ in 0..rounds {
        let p = FenceProducer::one_off();
        let f = p.fence();
        let g = f.clone();
        let hinter = thread::spawn(move || g.set_deadline(Instant(3)));
        p.signal();
        hinter.join().unwrap();
        assert_ne!(f.timestamp(), Some(Instant(3)));
        assert_eq!(f.deadline(), None);
    }
}
