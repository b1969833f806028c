//! Iterative signalling: the callbacks of a fence signalled from inside a callback are
//! deferred to the signalling context's outermost `signal`, so stack use does not grow with
//! nesting (a callback chain or aggregate nesting of any depth runs in a loop).
//!
//! Each execution context (a thread; on a board, a core's thread level or its interrupt
//! level — `platform::context_word`) has at most one *drain*: the outermost `signal` on that
//! context that has callbacks to run. It publishes a [`Queue`] on its stack frame through the
//! context word, runs its own fence's callbacks oldest first, then runs the queue batch by
//! batch until it is empty, and clears the word. A `signal` that finds the word set (it was
//! called, directly or through an aggregate, by a callback the drain is running) has already
//! set `SIGNALLED`; it wakes the fence's blocked waiters (leaf nodes) at once, appends the
//! other nodes to the queue, oldest first, each with the outcome to run with, and returns.
//! A batch is everything deferred while the previous batch ran, so callbacks run fence by
//! fence in the order the fences were signalled (breadth first), oldest first per fence.
//!
//! Nothing here is shared between contexts: the word is the context's own and the queue and
//! the links and deferred outcome of the nodes on it are touched only by that context (a
//! node's owner waits for `NODE_RAN` before touching it, as for any signalled fence). An
//! interrupt handler that signals while the code it interrupted is mid-drain has its own
//! word, so it drains its own callbacks before it returns and never sees the other queue.
//! The fences themselves are not referenced: a deferred node needs only its owner.

use core::cell::Cell;
use core::ptr;

use super::callback::Node;
use super::{FenceResult, decode_result, encode_error};
use crate::list::List;
use crate::shim::atomic::Ordering;
use dmasync_hal::platform;

/// The nodes deferred on this context, most recent first (`push_front`; run from the back).
struct Queue {
    nodes: Cell<List<Node>>,
}

/// Clears the context word when the drain ends, on unwinding too: the word must never
/// point at a dead frame.
struct Draining;

impl Drop for Draining {
    fn drop(&mut self) {
        platform::set_context_word(ptr::null_mut());
    }
}

/// Runs `list`'s callbacks now if this context is not draining yet (and then everything
/// they signal, before returning), else wakes its blocked waiters now and defers the rest
/// to the drain.
///
/// # Safety
/// `list` was detached from a signalled fence under its lock by the calling context; every
/// node stays valid until its `run` marks it `NODE_RAN`, after which it is not touched again.
pub(super) unsafe fn run_or_defer(list: List<Node>, result: FenceResult) {
    let word = platform::context_word();
    if !word.is_null() {
        // SAFETY: a non-null word is this context's drain queue, alive on the drain's stack
        // frame until it clears the word; only this context uses it.
        let queue = unsafe { &*word.cast_const().cast::<Queue>() };
        // SAFETY: passed on from our caller.
        unsafe { defer(queue, list, result) };
        return;
    }
    let queue = Queue {
        nodes: Cell::new(List::new()),
    };
    platform::set_context_word(ptr::from_ref(&queue).cast_mut().cast());
    let _draining = Draining;
    // The drain reads each node's neighbour before yielding it: once run, a node may be
    // freed or reused.
    for node in list.drain_from_back() {
        // SAFETY: yielded, not yet run: valid (the contract); running it is ours.
        unsafe { ((*node).run)(node, result) };
    }
    loop {
        let batch = queue.nodes.replace(List::new());
        if batch.is_empty() {
            break;
        }
        for node in batch.drain_from_back() {
            // SAFETY: deferred by this context (below) from a list detached as above, so
            // valid until run; its outcome was stored before it was queued.
            unsafe {
                let n = &*node;
                let r = decode_result(
                    (u64::from(n.deferred_kind.load(Ordering::Relaxed)) << 8)
                        | (u64::from(n.deferred_code.load(Ordering::Relaxed)) << 32),
                );
                (n.run)(node, r);
            }
        }
    }
}

/// The nested case: wake blocked waiters (their `run` only unparks, never signals), queue
/// the other nodes with their outcome.
///
/// # Safety
/// As for [`run_or_defer`]; `queue` is this context's drain queue.
unsafe fn defer(queue: &Queue, list: List<Node>, result: FenceResult) {
    let e = result.err().map_or(0, encode_error);
    let mut pending = queue.nodes.replace(List::new());
    for node in list.drain_from_back() {
        // SAFETY: yielded by the drain of a list detached by this context: valid and ours
        // until run. A leaf runs now (and is marked RAN); any other node goes on the queue,
        // which this context owns, in FIFO order, so the drain runs it oldest first.
        unsafe {
            if (*node).leaf {
                ((*node).run)(node, result);
            } else {
                (*node)
                    .deferred_kind
                    .store((e >> 8) as u8, Ordering::Relaxed);
                (*node)
                    .deferred_code
                    .store((e >> 32) as u32, Ordering::Relaxed);
                pending.push_front(node);
            }
        }
    }
    queue.nodes.set(pending);
}
