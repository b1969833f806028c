//! Unwrap, merge and the children iterator, after Linux's st-dma-fence-unwrap self-test
//! (drivers/dma-buf/st-dma-fence-unwrap.c: sanitycheck, unwrap_array, unwrap_chain,
//! unwrap_chain_array, unwrap_merge, unwrap_merge_duplicate, unwrap_merge_seqno,
//! unwrap_merge_order, unwrap_merge_complex, unwrap_merge_complex_seqno) — the test ideas,
//! written from the semantics — plus the timestamp and error rules.
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use std::thread;
use std::time::Duration;

use dmasync_sync::fence::{FenceChain, Timeline, all_of, any_of, merge, unwrap};
use dmasync_sync::{Fence, FenceError, FenceProducer, FenceStatus};

fn leaves(f: &Fence) -> Vec<Fence> {
    unwrap(f).collect()
}

fn same(a: &[Fence], b: &[&Fence]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Fence::ptr_eq(x, y))
}

/// The leaves of `f`, as a set (order not part of the contract of merge).
fn has_exactly(f: &Fence, want: &[&Fence]) -> bool {
    let got = leaves(f);
    got.len() == want.len() && want.iter().all(|w| got.iter().any(|g| Fence::ptr_eq(g, w)))
}

#[test]
fn sanitycheck_a_plain_fence_is_its_own_leaf() {
    let p = FenceProducer::one_off();
    let f = p.fence();
    assert!(same(&leaves(&f), &[&f]));
    assert!(
        Fence::ptr_eq(&merge([&f]), &f),
        "merge of one pending fence is that fence"
    );
    assert_eq!(f.children().count(), 0);
}

#[test]
fn unwrap_array() {
    let ps: Vec<FenceProducer> = (0..3).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let all = all_of(&fs);
    assert!(same(&leaves(&all), &[&fs[0], &fs[1], &fs[2]]));
}

#[test]
fn unwrap_chain() {
    let ps: Vec<FenceProducer> = (0..3).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let mut chain = FenceChain::new();
    for (i, f) in fs.iter().enumerate() {
        chain.add(f, i as u64 + 1);
    }
    // Newest point first, as the walk goes.
    assert!(same(
        &leaves(chain.head().unwrap()),
        &[&fs[2], &fs[1], &fs[0]]
    ));
}

#[test]
fn unwrap_chain_array() {
    let ps: Vec<FenceProducer> = (0..4).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let mut chain = FenceChain::new();
    chain.add(&all_of(&fs[..2]), 1);
    chain.add(&all_of(&fs[2..]), 2);
    assert!(same(
        &leaves(chain.head().unwrap()),
        &[&fs[2], &fs[3], &fs[0], &fs[1]]
    ));
}

#[test]
fn unwrap_skips_signalled_points_of_a_chain() {
    let mut ps: Vec<Option<FenceProducer>> =
        (0..3).map(|_| Some(FenceProducer::one_off())).collect();
    let fs: Vec<Fence> = ps.iter().map(|p| p.as_ref().unwrap().fence()).collect();
    let mut chain = FenceChain::new();
    for (i, f) in fs.iter().enumerate() {
        chain.add(f, i as u64 + 1);
    }
    ps[1].take().unwrap().signal();
    assert!(same(&leaves(chain.head().unwrap()), &[&fs[2], &fs[0]]));
}

#[test]
fn unwrap_merge() {
    let ps: Vec<FenceProducer> = (0..3).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let two = merge([&fs[0], &fs[1]]);
    assert!(two.is_aggregate());
    assert!(has_exactly(&two, &[&fs[0], &fs[1]]));
    let three = merge([&two, &fs[2]]);
    assert!(has_exactly(&three, &[&fs[0], &fs[1], &fs[2]]), "flattened");
    assert!(three.children().all(|(c, _)| !c.is_aggregate()));
}

#[test]
fn unwrap_merge_duplicate() {
    let p = FenceProducer::one_off();
    let f = p.fence();
    let m = merge([&f, &f]);
    assert!(Fence::ptr_eq(&m, &f), "one fence twice is that fence");
}

#[test]
fn unwrap_merge_seqno_keeps_the_latest_per_context() {
    let t = Timeline::new();
    let (a, b) = (t.next_fence(), t.next_fence());
    let (fa, fb) = (a.fence(), b.fence());
    assert!(Fence::ptr_eq(&merge([&fa, &fb]), &fb));
    assert!(Fence::ptr_eq(&merge([&fb, &fa]), &fb), "in either order");
}

#[test]
fn unwrap_merge_order() {
    let ps: Vec<FenceProducer> = (0..2).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let ab = all_of([&fs[0], &fs[1]]);
    let ba = all_of([&fs[1], &fs[0]]);
    let m = merge([&ab, &ba]);
    assert!(has_exactly(&m, &[&fs[0], &fs[1]]));
}

#[test]
fn unwrap_merge_complex() {
    let ps: Vec<FenceProducer> = (0..2).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let m1 = merge([&fs[0], &fs[1]]);
    let m2 = merge([&fs[1], &fs[0]]);
    let mut chain = FenceChain::new();
    chain.add(&m1, 1);
    chain.add(&m2, 2);
    let m = merge([chain.head().unwrap(), &m1, &fs[0]]);
    assert!(has_exactly(&m, &[&fs[0], &fs[1]]));
}

#[test]
fn unwrap_merge_complex_seqno() {
    let t1 = Timeline::new();
    let t2 = Timeline::new();
    let a1 = t1.next_fence();
    let a2 = t1.next_fence();
    let b1 = t2.next_fence();
    let b2 = t2.next_fence();
    let (fa1, fa2, fb1, fb2) = (a1.fence(), a2.fence(), b1.fence(), b2.fence());
    let m1 = merge([&fa1, &fb2]);
    let m2 = merge([&fa2, &fb1]);
    let m = merge([&m1, &m2]);
    assert!(
        has_exactly(&m, &[&fa2, &fb2]),
        "the latest of each timeline"
    );
}

#[test]
fn merge_drops_signalled_fences() {
    let t = Timeline::new();
    let done = t.next_fence();
    let pending = FenceProducer::one_off();
    let (fd, fp) = (done.fence(), pending.fence());
    done.signal();
    assert!(Fence::ptr_eq(&merge([&fd, &fp]), &fp));
}

#[test]
fn merge_of_signalled_fences_is_stamped_with_the_latest_timestamp() {
    let a = FenceProducer::one_off();
    let b = FenceProducer::one_off();
    let (fa, fb) = (a.fence(), b.fence());
    a.signal();
    thread::sleep(Duration::from_millis(2));
    b.signal();
    let ts = fb.timestamp().unwrap();
    assert!(ts > fa.timestamp().unwrap());
    thread::sleep(Duration::from_millis(2));
    let m = merge([&fb, &fa]);
    assert_eq!(m.status(), FenceStatus::Ok);
    assert_eq!(
        m.timestamp(),
        Some(ts),
        "the latest child's, not the merge's"
    );
    assert!(!Fence::ptr_eq(&m, &fa) && !Fence::ptr_eq(&m, &fb));
}

#[test]
fn merge_of_nothing_is_signalled() {
    assert_eq!(merge([]).status(), FenceStatus::Ok);
}

#[test]
fn merge_keeps_an_error_of_a_signalled_fence() {
    let failed = FenceProducer::one_off();
    let pending = FenceProducer::one_off();
    let (ff, fp) = (failed.fence(), pending.fence());
    failed.signal_error(FenceError::DeviceError(4));
    let m = merge([&ff, &fp]);
    assert_eq!(
        m.status(),
        FenceStatus::Pending,
        "still waits for the pending one"
    );
    pending.signal();
    assert_eq!(m.status(), FenceStatus::Err(FenceError::DeviceError(4)));
    // Only the failed one left: it is the result.
    assert!(Fence::ptr_eq(&merge([&ff]), &ff));
}

#[test]
fn an_any_of_is_a_leaf() {
    let ps: Vec<FenceProducer> = (0..2).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let any = any_of(&fs);
    assert!(
        same(&leaves(&any), &[&any]),
        "flattening would make it all-of"
    );
    let third = FenceProducer::one_off();
    let ft = third.fence();
    let m = merge([&any, &ft]);
    let mut ps = ps.into_iter();
    ps.next().unwrap().signal();
    third.signal();
    assert!(m.is_signalled(), "one child of the any-of is enough");
}

#[test]
fn children_iterates_an_aggregate_with_status() {
    let ps: Vec<FenceProducer> = (0..3).map(|_| FenceProducer::one_off()).collect();
    let fs: Vec<Fence> = ps.iter().map(FenceProducer::fence).collect();
    let all = all_of(&fs);
    let mut ps = ps.into_iter();
    ps.next().unwrap().signal_error(FenceError::Timeout);
    ps.next().unwrap().signal();
    let kids: Vec<(Fence, FenceStatus)> = all.children().collect();
    assert_eq!(kids.len(), 3);
    assert!(kids.iter().zip(&fs).all(|((k, _), f)| Fence::ptr_eq(k, f)));
    assert_eq!(
        kids.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [
            FenceStatus::Err(FenceError::Timeout),
            FenceStatus::Ok,
            FenceStatus::Pending
        ]
    );
    assert_eq!(all.children().size_hint(), (3, Some(3)));
}

#[test]
fn deeply_nested_aggregates_unwrap_and_drop_without_deep_recursion() {
    let depth = if cfg!(miri) { 200 } else { 100_000 };
    thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let p = FenceProducer::one_off();
            let leaf = p.fence();
            let mut top = all_of([&leaf]);
            for _ in 0..depth {
                top = all_of([&top]);
            }
            // Only `top` holds the nesting now; unwrapping and dropping it are iterative.
            assert!(same(&leaves(&top), &[&leaf]));
            assert!(Fence::ptr_eq(&merge([&top]), &leaf));
            p.signal();
            assert!(top.is_signalled());
            drop(top);
        })
        .unwrap()
        .join()
        .expect("the small-stack thread panicked");
}
