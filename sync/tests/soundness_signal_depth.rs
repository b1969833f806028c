//! Issue #10 point 6: signalling must not need stack proportional to nesting depth. A
//! 100 000-deep nesting signalled on a thread with a 64 KiB stack must complete.
//!
//! On the old recursive signal path each level cost a few hundred bytes of stack, so both
//! tests overflowed the 64 KiB stack and the test binary aborted (SIGSEGV, "thread has
//! overflowed its stack"). Signalling is iterative now (sync/src/fence/deferred.rs).
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use std::pin::Pin;
use std::thread;

use dmasync_sync::fence::{FenceCallback, Timeline, all_of};
use dmasync_sync::{Fence, FenceError, FenceProducer, FenceResult};

const DEPTH: usize = if cfg!(miri) { 200 } else { 100_000 };
const STACK: usize = 64 * 1024;

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("spawn the 64 KiB-stack thread")
        .join()
        .expect("the small-stack thread panicked");
}

#[test]
fn a_100_000_deep_all_of_nesting_signals_on_a_64k_stack() {
    let t = Timeline::new();
    let p = t.next_fence();
    let mut levels: Vec<Fence> = Vec::with_capacity(DEPTH + 1);
    levels.push(p.fence());
    for i in 0..DEPTH {
        let next = all_of([&levels[i]]);
        levels.push(next);
    }
    on_small_stack(move || p.signal_error(FenceError::DeviceError(3)));
    for (i, f) in levels.iter().enumerate() {
        assert_eq!(
            f.status().result(),
            Some(Err(FenceError::DeviceError(3))),
            "level {i}"
        );
    }
}

#[test]
fn a_100_000_long_chain_of_callbacks_signalling_the_next_producer_on_a_64k_stack() {
    type Cb = Pin<Box<FenceCallback<Box<dyn FnMut(FenceResult) + Send>>>>;
    let t = Timeline::new();
    let producers: Vec<FenceProducer> = (0..=DEPTH).map(|_| t.next_fence()).collect();
    let fences: Vec<Fence> = producers.iter().map(FenceProducer::fence).collect();
    let mut producers = producers.into_iter();
    let first = producers.next().unwrap();
    let mut cbs: Vec<Cb> = producers
        .map(|next| {
            let mut slot = Some(next);
            let f: Box<dyn FnMut(FenceResult) + Send> = Box::new(move |r| {
                if let Some(p) = slot.take() {
                    match r {
                        Ok(()) => p.signal(),
                        Err(e) => p.signal_error(e),
                    }
                }
            });
            Box::pin(FenceCallback::new(f))
        })
        .collect();
    for (f, cb) in fences.iter().zip(cbs.iter_mut()) {
        f.add_callback(cb.as_mut()).unwrap();
    }
    on_small_stack(move || first.signal());
    for (i, f) in fences.iter().enumerate() {
        assert_eq!(f.status().result(), Some(Ok(())), "link {i}");
    }
    drop(cbs);
}
