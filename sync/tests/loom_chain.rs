//! Loom model checks of fence chains (issue #15): a chain node signals only once its own
//! fence and every earlier point have signalled, whatever order the producers on other
//! threads signal in; and `find_seqno`, which walks the links and prunes the signalled ones,
//! may race those signals without losing a point or returning a node that is not what the
//! point needs.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!  cargo test --release -p dmasync-sync --test loom_chain`
#![cfg(loom)]

use loom::thread;

use dmasync_sync::fence::FenceChain;
use dmasync_sync::{FenceProducer, FenceStatus};

/// Two points signalled from two threads in either order: the head (point 2) completes
/// only after both fences have, and then it is signalled without error.
#[test]
fn head_signals_after_every_point_in_any_order() {
    loom::model(|| {
        let (p1, p2) = (FenceProducer::one_off(), FenceProducer::one_off());
        let (f1, f2) = (p1.fence(), p2.fence());
        let mut chain = FenceChain::new();
        let _n1 = chain.add(&f1, 1);
        let head = chain.add(&f2, 2);
        let a = thread::spawn(move || p1.signal());
        let b = thread::spawn(move || p2.signal());
        // While the producers race: a signalled head means both points are done.
        if head.is_signalled() {
            assert!(f1.is_signalled() && f2.is_signalled());
        }
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(head.status(), FenceStatus::Ok);
    });
}

/// `find_seqno(1)` racing point 1's signal (and so the pruning of its link): the answer is
/// point 1's node (still needed) or, once point 1 is done, a fence that is signalled or the
/// next node; never an error, and whatever it returned ends signalled after both points.
#[test]
fn find_seqno_races_a_signal_and_its_pruning() {
    loom::model(|| {
        let (p1, p2) = (FenceProducer::one_off(), FenceProducer::one_off());
        let (f1, f2) = (p1.fence(), p2.fence());
        let mut chain = FenceChain::new();
        let n1 = chain.add(&f1, 1);
        let head = chain.add(&f2, 2);
        let signaller = thread::spawn(move || p1.signal());
        let found = chain.find_seqno(1).expect("point 1 is in the chain");
        if !found.is_signalled() && !f1.is_signalled() {
            // Point 1 not done when we looked: it must have given point 1's own node, or
            // (if the signal landed mid-walk) the head.
            assert!(found.seqno() == n1.seqno() || found.seqno() == head.seqno());
        }
        signaller.join().unwrap();
        p2.signal();
        assert!(
            found.is_signalled(),
            "what find_seqno returned never completed"
        );
        assert_eq!(head.status(), FenceStatus::Ok);
        // After everything signalled, looking again prunes to a signalled answer.
        assert!(chain.find_seqno(1).unwrap().is_signalled());
    });
}
