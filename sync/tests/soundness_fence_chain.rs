//! Attacks on chains, unwrap/merge and deadlines from safe code (issue #15): forge a node on
//! someone else's timeline, signal someone else's fence through a chain, make a cycle, or
//! reach UB through drop orders and races. Run natively and under Miri (doc/testing.md).
//! What does not even compile: tests/compile_fail/fence_chain_*.rs.
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use std::mem;
use std::sync::Arc;
use std::thread;

use dmasync_sync::fence::{FenceChain, Timeline, all_of, find_seqno, merge, unwrap};
use dmasync_sync::resv::Usage;
use dmasync_sync::{Fence, FenceProducer, FenceStatus, Instant, ReservationObject};

#[test]
fn another_chain_appending_after_my_head_gets_its_own_context() {
    let p = FenceProducer::one_off();
    let mut alice = FenceChain::new();
    let head = alice.add(&p.fence(), 5);
    // Mallory can only start a chain of her own, even with Alice's head as its fence and a
    // later seqno: the node is on a fresh context, so it is never "later on Alice's
    // timeline" and cannot replace Alice's point anywhere.
    let mut mallory = FenceChain::new();
    let forged = mallory.add(&head, 6);
    assert_ne!(forged.context(), head.context());
    assert_eq!(forged.is_later(&head), None);
}

#[test]
fn a_reservation_object_keeps_my_point_beside_a_node_made_from_it() {
    let p = FenceProducer::one_off();
    let m = FenceProducer::one_off();
    let mut alice = FenceChain::new();
    let head = alice.add(&p.fence(), 1);
    let mut mallory = FenceChain::new();
    let forged = mallory.add(&m.fence(), 2);
    let resv: ReservationObject = ReservationObject::new();
    {
        let g = resv.lock();
        g.reserve_one().unwrap().add(&head, Usage::Write);
        g.reserve_one().unwrap().add(&forged, Usage::Write);
    }
    m.signal();
    assert!(forged.is_signalled());
    assert!(
        !resv.test_signalled(Usage::Write),
        "Alice's pending point is still waited for"
    );
    p.signal();
    assert!(resv.test_signalled(Usage::Write));
}

#[test]
fn dropping_every_node_never_signals_the_fences_they_hold() {
    let t = Timeline::new();
    let p = t.next_fence();
    let f = p.fence();
    let mut chain = FenceChain::new();
    let n1 = chain.add(&f, 1);
    let n2 = chain.add(&f, 2);
    let m = merge([&n1, &n2]);
    n2.set_deadline(Instant(1));
    drop((chain, n1, n2, m));
    assert_eq!(
        f.status(),
        FenceStatus::Pending,
        "only its producer signals it"
    );
    assert_eq!(
        p.deadline(),
        Some(Instant(1)),
        "a hint is all a waiter can give"
    );
    p.signal();
}

#[test]
fn adding_the_head_to_its_own_chain_is_no_cycle() {
    let p = FenceProducer::one_off();
    let mut chain = FenceChain::new();
    let first = chain.add(&p.fence(), 1);
    let mut last = first.clone();
    for i in 2..6 {
        last = chain.add(&last, i);
    }
    let n = unwrap(&last).count();
    assert!(n >= 1, "unwrapping terminates");
    assert!(find_seqno(&last, 1).is_ok());
    p.signal();
    assert!(last.is_signalled());
}

#[test]
fn forgotten_nodes_and_chains_leak_but_stay_sound() {
    let p = FenceProducer::one_off();
    let mut chain = FenceChain::new();
    let n = chain.add(&p.fence(), 1);
    mem::forget(chain.add(&n, 2));
    mem::forget(chain);
    p.signal();
    assert!(n.is_signalled());
}

#[test]
fn nodes_dropped_while_others_walk_and_signal() {
    let rounds = if cfg!(miri) { 2 } else { 50 };
    for _ in 0..rounds {
        let ps: Vec<FenceProducer> = (0..6).map(|_| FenceProducer::one_off()).collect();
        let mut chain = FenceChain::new();
        let nodes: Vec<Fence> = ps
            .iter()
            .enumerate()
            .map(|(i, p)| chain.add(&p.fence(), i as u64 + 1))
            .collect();
        let head = Arc::new(chain.head().unwrap().clone());
        drop(chain);
        let walker = {
            let head = head.clone();
            thread::spawn(move || {
                for s in 1..=6 {
                    let _ = find_seqno(&head, s);
                    let _ = unwrap(&head).count();
                    head.set_deadline(Instant(s));
                }
            })
        };
        let signaller = thread::spawn(move || {
            for p in ps {
                p.signal();
            }
        });
        drop(nodes);
        let agg = all_of([&*head]);
        walker.join().unwrap();
        signaller.join().unwrap();
        assert!(head.is_signalled() && agg.is_signalled());
    }
}
