//! `Future` support: await a fence from any async executor.

use core::fmt;
use core::future::Future;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::ptr;
use core::task::{Context, Poll, Waker};

use super::callback::Node;
use super::{FenceInner, FenceResult};
use crate::shim::Arc;
use crate::shim::UnsafeCell;

/// A future that resolves to the fence's outcome. Created by
/// [`Fence::wait_async`](super::Fence::wait_async).
///
/// It queues an intrusive callback node (no allocation) that wakes the task's `Waker` from
/// the signalling context — possibly an interrupt handler, so use an executor whose waker
/// may be called there. The waker slot is guarded by the fence lock while the node is
/// queued and owned by the signaller once the fence signalled, so a poll racing the signal
/// never loses the wake-up. Dropping the future dequeues the node.
///
/// A memory-backed fence is re-checked on every poll, but only wakes the task when it is
/// signalled through its producer or when a CPU observes its word (`status`, a blocking
/// wait, or [`MemTimeline::poll_fence`](super::MemTimeline::poll_fence) called from a timer).
#[repr(C)]
pub struct FenceWait {
    node: Node,
    fence: Arc<FenceInner>,
    waker: UnsafeCell<Option<Waker>>,
    queued: bool,
    _pin: PhantomPinned,
}

// SAFETY: the waker slot is only touched under the fence lock or by the signaller that owns
// the detached node; `Waker` is Send + Sync.
unsafe impl Send for FenceWait {}
// SAFETY: `&FenceWait` exposes nothing mutable.
unsafe impl Sync for FenceWait {}

impl fmt::Debug for FenceWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FenceWait")
            .field("fence", &self.fence)
            .field("queued", &self.queued)
            .finish()
    }
}

impl FenceWait {
    pub(crate) fn new(fence: Arc<FenceInner>) -> Self {
        FenceWait {
            node: Node::new(Self::run),
            fence,
            waker: UnsafeCell::new(None),
            queued: false,
            _pin: PhantomPinned,
        }
    }

    /// # Safety
    /// `node` is the node of a live, pinned `FenceWait` owned by this signaller.
    unsafe fn run(node: *const Node, _result: FenceResult) {
        let this = node.cast::<Self>();
        // SAFETY: the signaller owns the detached node until RAN; the owner never touches
        // the waker of a signalled fence's queued node (it waits for RAN first).
        let waker = unsafe { (*this).waker.with_mut(|w| (*w).take()) };
        // SAFETY: last access to the node.
        unsafe { Node::mark_ran(node) };
        // Wake after releasing the node: the waker is ours now.
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Future for FenceWait {
    type Output = FenceResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<FenceResult> {
        // SAFETY: nothing is moved out of the pinned struct.
        let this = unsafe { self.get_unchecked_mut() };
        let node = ptr::from_ref(&*this).cast::<Node>();
        if let Some(r) = this.fence.status().result() {
            if this.queued {
                // SAFETY: queued on this fence; waits until the signaller is done with it.
                unsafe { this.fence.remove_node(node) };
                this.queued = false;
            }
            return Poll::Ready(r);
        }
        let old_waker;
        {
            let g = this.fence.lock();
            if g.state & super::SIGNALLED != 0 {
                drop(g);
                if this.queued {
                    // SAFETY: as above.
                    unsafe { this.fence.remove_node(node) };
                    this.queued = false;
                }
                // SIGNALLED seen: peek is the final result.
                return Poll::Ready(this.fence.peek().result().unwrap_or(Ok(())));
            }
            // Lock held and the fence not signalled: the signaller cannot be using the
            // waker slot, so we may replace it.
            // SAFETY: guarded by the fence lock while the node is (or is about to be) queued.
            old_waker = this
                .waker
                .with_mut(|w| unsafe { (*w).replace(cx.waker().clone()) });
            if !this.queued {
                // SAFETY: lock held, fence pending; the future is pinned and Drop removes
                // the node before the memory goes away.
                unsafe { this.fence.link_locked(&g, node) };
                this.queued = true;
            }
        }
        // Dropped outside the fence lock: a waker's drop may run executor code.
        drop(old_waker);
        Poll::Pending
    }
}

impl Drop for FenceWait {
    fn drop(&mut self) {
        if self.queued {
            let node = ptr::from_ref(&*self).cast::<Node>();
            // SAFETY: queued on this fence; returns once the signaller is done with it.
            unsafe { self.fence.remove_node(node) };
        }
    }
}
