//! Checks the model checker itself: loom must run the interleaving in which a spawned
//! signaller finishes before the main thread looks at the fence. Loom 0.7.2 as released never
//! did (tokio-rs/loom#392, #166: the signaller's first access is a load, which hid the main
//! thread's load from DPOR), so every fence model here passed without checking that order.
//! The workspace patches loom (third_party/loom, doc/testing.md "Loom, patched"); this test
//! fails if that patch is lost.
//!
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!  cargo test --release -p dmasync-sync --test loom_explores`
#![cfg(loom)]

use std::sync::Mutex;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

use dmasync_sync::FenceProducer;

/// Runs `model` under loom and returns the set of outcomes its iterations reported.
fn outcomes(model: fn() -> bool) -> Vec<bool> {
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    loom::model(move || {
        let outcome = model();
        let mut v = s.lock().unwrap();
        if !v.contains(&outcome) {
            v.push(outcome);
        }
    });
    let mut v = seen.lock().unwrap().clone();
    v.sort();
    v
}

#[test]
fn a_signal_racing_a_status_check_is_seen_both_ways() {
    let seen = outcomes(|| {
        let p = FenceProducer::one_off();
        let f = p.fence();
        let t = thread::spawn(move || p.signal());
        let signalled_first = f.is_signalled();
        t.join().unwrap();
        signalled_first
    });
    assert_eq!(seen, [false, true], "loom ran only these orders: {seen:?}");
}

/// The bare shape of the upstream bug: the spawned thread loads, then stores.
#[test]
fn a_load_before_a_store_does_not_hide_the_race() {
    let seen = outcomes(|| {
        let a = Arc::new(AtomicU64::new(0));
        let b = a.clone();
        let t = thread::spawn(move || {
            let _ = b.load(Ordering::Relaxed);
            b.store(1, Ordering::Release);
        });
        let stored_first = a.load(Ordering::Acquire) == 1;
        t.join().unwrap();
        stored_first
    });
    assert_eq!(seen, [false, true], "loom ran only these orders: {seen:?}");
}
