//! Fence chains, after Linux's st-dma-fence-chain self-test (drivers/dma-buf/
//! st-dma-fence-chain.c: sanitycheck, find_seqno, find_signaled, find_out_of_order,
//! find_gap, find_race, signal_forward/backward, wait_forward/backward/random) — the test
//! ideas, written from the semantics — plus the depth cases issue #15 asks for.
#![cfg(not(loom))]
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use dmasync_sync::fence::{ChainError, FenceChain, Timeline, find_seqno};
use dmasync_sync::{Fence, FenceError, FenceProducer, FenceStatus};

/// Nodes per chain (Linux uses 64 for most cases; Miri is slow).
const COUNT: usize = if cfg!(miri) { 8 } else { 64 };
const DEEP: usize = if cfg!(miri) { 300 } else { 100_000 };

/// `count` one-off fences chained at points `seqno(i)`.
struct Chain {
    producers: Vec<Option<FenceProducer>>,
    fences: Vec<Fence>,
    nodes: Vec<Fence>,
    chain: FenceChain,
}

impl Chain {
    fn new(count: usize, seqno: impl Fn(usize) -> u64) -> Self {
        let mut chain = FenceChain::new();
        let producers: Vec<FenceProducer> = (0..count).map(|_| FenceProducer::one_off()).collect();
        let fences: Vec<Fence> = producers.iter().map(FenceProducer::fence).collect();
        let nodes = fences
            .iter()
            .enumerate()
            .map(|(i, f)| chain.add(f, seqno(i)))
            .collect();
        Chain {
            producers: producers.into_iter().map(Some).collect(),
            fences,
            nodes,
            chain,
        }
    }

    fn signal(&mut self, i: usize) {
        self.producers[i].take().expect("signalled once").signal();
    }

    fn tail(&self) -> &Fence {
        self.chain.head().expect("not empty")
    }
}

#[test]
fn sanitycheck_a_node_signals_with_its_fence() {
    let mut c = Chain::new(1, |_| 1);
    assert!(c.nodes[0].is_chain_node());
    assert_eq!(c.nodes[0].status(), FenceStatus::Pending);
    c.signal(0);
    assert_eq!(c.nodes[0].status(), FenceStatus::Ok);
    assert!(c.nodes[0].timestamp().is_some());
}

#[test]
fn nodes_in_order_share_one_context_and_keep_their_seqno() {
    let c = Chain::new(COUNT, |i| i as u64 + 1);
    for (i, n) in c.nodes.iter().enumerate() {
        assert_eq!(n.seqno(), i as u64 + 1);
        assert_eq!(n.context(), c.nodes[0].context());
        assert_eq!(n.is_later(&c.nodes[0]), Some(i > 0));
    }
    assert_eq!(c.chain.last_seqno(), COUNT as u64);
}

#[test]
fn find_seqno_from_the_tail_and_from_each_node() {
    let c = Chain::new(COUNT, |i| i as u64 + 1);
    // Point 0 is a no-op: the fence itself.
    assert!(Fence::ptr_eq(&find_seqno(c.tail(), 0).unwrap(), c.tail()));
    for i in 0..COUNT {
        let want = &c.nodes[i];
        let got = find_seqno(c.tail(), i as u64 + 1).unwrap();
        assert!(Fence::ptr_eq(&got, want), "point {} from the tail", i + 1);
        let got = find_seqno(want, i as u64 + 1).unwrap();
        assert!(Fence::ptr_eq(&got, want), "point {} from itself", i + 1);
        assert_eq!(
            find_seqno(want, i as u64 + 2).unwrap_err(),
            ChainError::FuturePoint {
                requested: i as u64 + 2,
                head: i as u64 + 1
            },
            "a later point from node {i}"
        );
        if i > 0 {
            let got = find_seqno(want, i as u64).unwrap();
            assert!(
                Fence::ptr_eq(&got, &c.nodes[i - 1]),
                "point {i} from node {i}"
            );
        }
    }
    assert_eq!(
        c.chain
            .find_seqno(COUNT as u64 + 1)
            .unwrap_err()
            .to_string(),
        {
            format!(
                "point {} is later than the chain's head (seqno {COUNT})",
                COUNT + 1
            )
        }
    );
}

#[test]
fn find_seqno_on_a_plain_fence_is_an_error() {
    let t = Timeline::new();
    let p = t.next_fence();
    assert_eq!(
        find_seqno(&p.fence(), 1).unwrap_err(),
        ChainError::NotAChain
    );
    assert_eq!(
        FenceChain::new().find_seqno(1).unwrap_err(),
        ChainError::FuturePoint {
            requested: 1,
            head: 0
        }
    );
    assert!(FenceChain::new().find_seqno(0).unwrap().is_signalled());
}

#[test]
fn find_signaled_gives_a_signalled_fence_or_the_node() {
    let mut c = Chain::new(2, |i| i as u64 + 1);
    c.signal(0);
    let got = find_seqno(c.tail(), 1).unwrap();
    assert!(
        got.is_signalled() || Fence::ptr_eq(&got, &c.nodes[0]),
        "a completed point gives nothing to wait for"
    );
    assert!(got.is_signalled());
}

#[test]
fn find_out_of_order_waits_for_the_earliest_unsignalled() {
    // Signal the middle of 1-2-3: point 2 still needs fence 1, and node 2 is pruned.
    let mut c = Chain::new(3, |i| i as u64 + 1);
    c.signal(1);
    let got = find_seqno(c.tail(), 2).unwrap();
    assert!(Fence::ptr_eq(&got, &c.nodes[0]));
    assert_eq!(
        c.nodes[1].status(),
        FenceStatus::Pending,
        "node 2 needs node 1"
    );
    // The tail's link skipped node 2: its children are its fence and node 1.
    let kids: Vec<Fence> = c.tail().children().map(|(f, _)| f).collect();
    assert_eq!(kids.len(), 2);
    assert!(Fence::ptr_eq(&kids[0], &c.fences[2]));
    assert!(Fence::ptr_eq(&kids[1], &c.nodes[0]));
}

#[test]
fn find_gap_gives_the_node_covering_the_point() {
    let c = Chain::new(COUNT, |i| 2 * i as u64 + 2);
    for i in 0..COUNT {
        let got = find_seqno(&c.nodes[i], 2 * i as u64 + 1).unwrap();
        assert!(Fence::ptr_eq(&got, &c.nodes[i]), "gap point {}", 2 * i + 1);
        let got = find_seqno(c.tail(), 2 * i as u64 + 1).unwrap();
        assert!(
            Fence::ptr_eq(&got, &c.nodes[i]),
            "gap point {} from the tail",
            2 * i + 1
        );
    }
}

#[test]
fn a_seqno_not_above_the_head_starts_a_new_context_at_the_heads_seqno() {
    // Linux's rule: the node gets a fresh context and seqno max(prev, seqno).
    let t = Timeline::new();
    let ps: Vec<FenceProducer> = (0..3).map(|_| t.next_fence()).collect();
    let mut chain = FenceChain::new();
    let a = chain.add(&ps[0].fence(), 5);
    let b = chain.add(&ps[1].fence(), 3);
    let c = chain.add(&ps[2].fence(), 7);
    assert_ne!(a.context(), b.context());
    assert_eq!(b.seqno(), 5, "raised to the previous node's");
    assert_eq!(
        c.context(),
        b.context(),
        "in order again: the new context is reused"
    );
    // Point 3 from the head: the walk stops where the context changes (b), and b needs a.
    let got = find_seqno(&c, 3).unwrap();
    assert!(Fence::ptr_eq(&got, &b));
    let mut ps = ps.into_iter();
    ps.next().unwrap().signal();
    assert_eq!(b.status(), FenceStatus::Pending);
    ps.next().unwrap().signal();
    assert_eq!(b.status(), FenceStatus::Ok);
    assert_eq!(c.status(), FenceStatus::Pending);
    ps.next().unwrap().signal();
    assert_eq!(c.status(), FenceStatus::Ok);
}

#[test]
fn signal_forward() {
    let mut c = Chain::new(COUNT, |i| i as u64 + 1);
    for i in 0..COUNT {
        c.signal(i);
        assert!(c.nodes[i].is_signalled(), "node {i} after its fence");
        if i + 1 < COUNT {
            assert!(!c.nodes[i + 1].is_signalled(), "node {} too early", i + 1);
        }
    }
}

#[test]
fn signal_backward() {
    let mut c = Chain::new(COUNT, |i| i as u64 + 1);
    for i in (1..COUNT).rev() {
        c.signal(i);
        assert!(!c.nodes[i].is_signalled(), "node {i} before node 0");
    }
    c.signal(0);
    assert!(c.nodes.iter().all(Fence::is_signalled));
}

#[test]
fn a_node_carries_the_first_error_of_its_points() {
    let mut c = Chain::new(3, |i| i as u64 + 1);
    c.producers[0]
        .take()
        .unwrap()
        .signal_error(FenceError::DeviceError(9));
    c.signal(1);
    c.signal(2);
    assert_eq!(
        c.nodes[0].status(),
        FenceStatus::Err(FenceError::DeviceError(9))
    );
    assert_eq!(
        c.tail().status(),
        FenceStatus::Err(FenceError::DeviceError(9))
    );
}

fn wait_in_a_thread(order: impl Iterator<Item = usize>) {
    let mut c = Chain::new(COUNT, |i| i as u64 + 1);
    let tail = c.tail().clone();
    let waiter = thread::spawn(move || tail.wait());
    for i in order {
        c.signal(i);
    }
    assert_eq!(waiter.join().unwrap(), Ok(()));
}

#[test]
fn wait_forward() {
    wait_in_a_thread(0..COUNT);
}

#[test]
fn wait_backward() {
    wait_in_a_thread((0..COUNT).rev());
}

#[test]
fn wait_random() {
    // A fixed pseudo-random permutation (xorshift), so a failure reproduces.
    let mut order: Vec<usize> = (0..COUNT).collect();
    let mut x: u32 = 0x9e37_79b9;
    for i in (1..COUNT).rev() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        order.swap(i, x as usize % (i + 1));
    }
    wait_in_a_thread(order.into_iter());
}

#[test]
fn find_race_signal_while_walking() {
    // Walkers call find_seqno on random points while another thread signals every fence:
    // each answer is a node at or before the point's node, or signalled, and pruning never
    // loses a pending point.
    let rounds = if cfg!(miri) { 1 } else { 20 };
    for _ in 0..rounds {
        let mut c = Chain::new(COUNT, |i| i as u64 + 1);
        let nodes = Arc::new(c.nodes.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let walkers: Vec<_> = (0..2)
            .map(|w| {
                let nodes = nodes.clone();
                let stop = stop.clone();
                thread::spawn(move || {
                    let tail = nodes.last().unwrap().clone();
                    let mut n = w;
                    while !stop.load(Ordering::Acquire) {
                        let point = (n % COUNT) as u64 + 1;
                        n += 7;
                        let got = find_seqno(&tail, point).unwrap();
                        if got.is_signalled() {
                            continue;
                        }
                        let at = nodes
                            .iter()
                            .position(|x| Fence::ptr_eq(x, &got))
                            .expect("find_seqno gave a node of this chain");
                        assert!(at < point as usize, "point {point} gave node {at}");
                    }
                })
            })
            .collect();
        for i in 0..COUNT {
            c.signal(i);
        }
        stop.store(true, Ordering::Release);
        for w in walkers {
            w.join().unwrap();
        }
        assert!(c.nodes.iter().all(Fence::is_signalled));
        assert!(find_seqno(c.tail(), 1).unwrap().is_signalled());
    }
}

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(f)
        .expect("spawn the 64 KiB-stack thread")
        .join()
        .expect("the small-stack thread panicked");
}

#[test]
fn a_100_000_node_chain_dropped_unsignalled_from_the_head_on_a_64k_stack() {
    // The head holds the whole chain: dropping it must free 100 000 nodes iteratively.
    on_small_stack(|| {
        let t = Timeline::new();
        let p = t.next_fence();
        let f = p.fence();
        let mut chain = FenceChain::new();
        for i in 0..DEEP {
            chain.add(&f, i as u64 + 1);
        }
        let head = chain.head().unwrap().clone();
        drop(chain);
        // Each node's wait on its fence holds it; signalling cascades iteratively.
        p.signal();
        assert!(head.is_signalled());
        drop(head);
    });
}

#[test]
fn a_100_000_node_chain_signals_and_is_dropped_on_a_64k_stack() {
    on_small_stack(|| {
        let t = Timeline::new();
        let ps: Vec<FenceProducer> = (0..DEEP).map(|_| t.next_fence()).collect();
        let mut chain = FenceChain::new();
        for (i, p) in ps.iter().enumerate() {
            chain.add(&p.fence(), i as u64 + 1);
        }
        let head = chain.head().unwrap().clone();
        // Backwards: every node waits until the very first fence signals, then the whole
        // chain completes in one cascade.
        for p in ps.into_iter().rev() {
            p.signal();
        }
        assert_eq!(head.status(), FenceStatus::Ok);
        assert!(find_seqno(&head, 1).unwrap().is_signalled());
        drop(chain);
        drop(head);
    });
}

#[test]
fn a_chain_can_contain_a_chain_node_without_a_cycle() {
    // Linux says chains must not contain chains; here it is merely an older node.
    let t = Timeline::new();
    let p = t.next_fence();
    let mut chain = FenceChain::new();
    let first = chain.add(&p.fence(), 1);
    let second = chain.add(&first, 2);
    assert!(!second.is_signalled());
    p.signal();
    assert!(first.is_signalled() && second.is_signalled());
}

#[test]
fn a_100_000_node_chain_of_signalled_fences_is_freed_by_its_head_on_a_64k_stack() {
    // All nodes signal while being built, so only the links hold them: the head's last
    // reference frees all 100 000 (each freed node would drop the next one recursively).
    on_small_stack(|| {
        let done = Fence::signalled(Ok(()));
        let mut chain = FenceChain::new();
        for i in 0..DEEP {
            chain.add(&done, i as u64 + 1);
        }
        assert!(chain.head().unwrap().is_signalled());
        drop(chain);
    });
}
