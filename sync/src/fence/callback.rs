//! Intrusive callback nodes: queued on a fence without allocating, run by the signaller.

use core::fmt;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::ptr;

use super::{AlreadySignalled, FenceInner, FenceResult};
use crate::list::{Linked, Links};
use crate::shim::Arc;
use crate::shim::UnsafeCell;
use crate::shim::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use dmasync_hal::platform;

pub(crate) const NODE_IDLE: u8 = 0;
pub(crate) const NODE_QUEUED: u8 = 1;
pub(crate) const NODE_RAN: u8 = 2;

/// The link every waiter embeds first (`#[repr(C)]`), so the signaller can reach its
/// owner from the node pointer.
///
/// `state`: IDLE (not queued) -> QUEUED (in a fence's list; set under the fence lock) ->
/// either IDLE again (removed under the lock before the fence signalled) or RAN (set with
/// Release by `run` as its very last access to the node, after which the owner may free
/// or reuse it).
#[repr(C)]
pub(crate) struct Node {
    /// On the fence's callback list (`crate::list`), owned by it while `QUEUED`.
    pub(crate) links: Links<Node>,
    pub(crate) state: AtomicU8,
    /// `run` only wakes a blocked waiter and never signals anything, so a nested signal runs
    /// it at once instead of deferring it (see `deferred`): waiters are woken when `signal`
    /// returns.
    pub(crate) leaf: bool,
    /// The outcome a deferred node will run with (`encode_error`'s kind byte and code),
    /// stored by the signaller that deferred it and read by the same context's drain.
    pub(crate) deferred_kind: AtomicU8,
    pub(crate) deferred_code: AtomicU32,
    /// Called by the signaller with the fence outcome. Must mark the node `NODE_RAN`
    /// (Release) as its last access to it.
    pub(crate) run: unsafe fn(*const Node, FenceResult),
}

// SAFETY: `links` returns the node's own `links` field, always the same one, and nothing
// but `List` touches that field.
unsafe impl Linked for Node {
    unsafe fn links(node: *const Self) -> *const Links<Self> {
        // SAFETY: `node` is live (contract); the field address is taken without making a
        // reference to the node.
        unsafe { &raw const (*node).links }
    }
}

impl Node {
    pub(crate) fn new(run: unsafe fn(*const Node, FenceResult)) -> Self {
        Node {
            links: Links::new(),
            state: AtomicU8::new(NODE_IDLE),
            leaf: false,
            deferred_kind: AtomicU8::new(0),
            deferred_code: AtomicU32::new(0),
            run,
        }
    }

    /// A node whose `run` only wakes a waiter (see [`Node::leaf`]).
    fn new_leaf(run: unsafe fn(*const Node, FenceResult)) -> Self {
        Node {
            leaf: true,
            ..Node::new(run)
        }
    }

    /// Marks the node done: the signaller's last access.
    ///
    /// # Safety
    /// `node` must be valid; after this call the caller must not touch the node again.
    pub(crate) unsafe fn mark_ran(node: *const Node) {
        // SAFETY: valid per the contract.
        unsafe { (*node).state.store(NODE_RAN, Ordering::Release) };
    }
}

/// What [`FenceCallback::remove`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackRemoval {
    /// It was queued and has been removed before running: it will not run.
    Removed,
    /// It already ran (the fence signalled); it has finished running.
    AlreadyRan,
    /// It was not queued on any fence.
    NotQueued,
}

impl CallbackRemoval {
    pub(crate) fn from_idle_state(st: u8) -> Self {
        if st == NODE_RAN {
            CallbackRemoval::AlreadyRan
        } else {
            CallbackRemoval::NotQueued
        }
    }
}

/// A caller-owned callback that can be queued on a [`Fence`](super::Fence) without
/// allocating (an intrusive node, like Linux's `dma_fence_cb`).
///
/// Pin it (`core::pin::pin!` on the stack or `Box::pin`) and pass it to
/// [`Fence::add_callback`](super::Fence::add_callback). It runs at most once per
/// registration, in the signalling context — possibly an interrupt handler, so keep it
/// short and non-blocking — with no fence lock held: it may take locks, add callbacks or
/// signal other fences. A fence signalled from inside a callback is signalled (and its
/// blocked waiters woken) when that `signal` returns, but its callbacks run later, after the
/// running callback returns and before the outermost `signal` of this context returns
/// (breadth first; see the fence section of doc/sync-model.md), so stack use does not grow
/// with nesting. It can be queued again after it ran or was removed. Dropping it removes it
/// (waiting for a concurrently running invocation to finish, so the closure is never used
/// after drop); so do not drop or remove it from inside its own invocation, from inside
/// another callback when the fence it is queued on was signalled by this context (it is
/// deferred, waiting for the very drain that waits for you), or from an interrupt handler
/// that may have interrupted the signaller on the same core.
#[repr(C)]
pub struct FenceCallback<F: FnMut(FenceResult) + Send + 'static> {
    node: Node,
    /// The fence it was last queued on (keeps that fence alive for removal).
    fence: Option<Arc<FenceInner>>,
    func: UnsafeCell<F>,
    _pin: PhantomPinned,
}

// SAFETY: the closure is `Send`; the node is only touched under the fence lock or by the
// signaller that owns it between detach and RAN.
unsafe impl<F: FnMut(FenceResult) + Send + 'static> Send for FenceCallback<F> {}
// SAFETY: shared access (`&self`) exposes only atomic state reads.
unsafe impl<F: FnMut(FenceResult) + Send + 'static> Sync for FenceCallback<F> {}

impl<F: FnMut(FenceResult) + Send + 'static> fmt::Debug for FenceCallback<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FenceCallback")
            .field("queued", &self.is_queued())
            .finish_non_exhaustive()
    }
}

impl<F: FnMut(FenceResult) + Send + 'static> FenceCallback<F> {
    /// A callback that will call `func` with the fence's outcome.
    pub fn new(func: F) -> Self {
        FenceCallback {
            node: Node::new(Self::run),
            fence: None,
            func: UnsafeCell::new(func),
            _pin: PhantomPinned,
        }
    }

    /// `true` while queued and not yet run.
    pub fn is_queued(&self) -> bool {
        self.node.state.load(Ordering::Acquire) == NODE_QUEUED
    }

    /// Removes the callback from the fence it was queued on. Reports whether it was
    /// removed before running, already ran (and has finished), or was not queued.
    pub fn remove(self: Pin<&mut Self>) -> CallbackRemoval {
        // SAFETY: we only take the `fence` field out; nothing is moved.
        let this = unsafe { self.get_unchecked_mut() };
        let node = ptr::from_ref(&*this).cast::<Node>();
        match this.fence.take() {
            // SAFETY: the node is pinned and, if queued, queued on `fence`.
            Some(fence) => unsafe { fence.remove_node(node) },
            None => CallbackRemoval::from_idle_state(this.node.state.load(Ordering::Acquire)),
        }
    }

    /// Like [`Self::remove`], but never waits: `None` while the fence's signaller is
    /// still running (or about to run) this callback.
    pub(crate) fn try_remove(self: Pin<&mut Self>) -> Option<CallbackRemoval> {
        // SAFETY: we only touch the `fence` field; nothing is moved.
        let this = unsafe { self.get_unchecked_mut() };
        let node = ptr::from_ref(&*this).cast::<Node>();
        match &this.fence {
            Some(fence) => {
                // SAFETY: the node is pinned and, if queued, queued on `fence`.
                let r = unsafe { fence.try_remove_node(node) };
                if r.is_some() {
                    this.fence = None;
                }
                r
            }
            None => Some(CallbackRemoval::from_idle_state(
                this.node.state.load(Ordering::Acquire),
            )),
        }
    }

    pub(crate) fn register(
        mut self: Pin<&mut Self>,
        fence: &Arc<FenceInner>,
    ) -> Result<(), AlreadySignalled> {
        self.as_mut().remove();
        // SAFETY: nothing is moved out; the node stays where it was pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let node = ptr::from_ref(&*this).cast::<Node>();
        // SAFETY: pinned, not queued (removed above), and `Drop` removes it before the
        // memory goes away; the pointer covers the whole struct, as `run` needs.
        match unsafe { fence.add_node(node) } {
            Ok(()) => {
                this.fence = Some(fence.clone());
                Ok(())
            }
            Err(result) => Err(AlreadySignalled { result }),
        }
    }

    /// # Safety
    /// `node` points to the `node` field of a live `FenceCallback<F>` (derived from a
    /// pointer to the whole struct) that the calling signaller owns.
    unsafe fn run(node: *const Node, result: FenceResult) {
        /// Marks the node RAN when the closure returns or unwinds: a panicking callback
        /// must not leave its owner's drop waiting forever.
        struct MarkRan(*const Node);
        impl Drop for MarkRan {
            fn drop(&mut self) {
                // SAFETY: the node is valid until marked (`run`'s contract); this is the
                // last access.
                unsafe { Node::mark_ran(self.0) };
            }
        }
        let this = node.cast::<Self>();
        let _mark = MarkRan(node);
        // SAFETY: per the contract; the closure is only touched here while the node is
        // detached and not yet RAN, and by nobody else (the owner waits for RAN).
        unsafe { (*this).func.with_mut(|f| (*f)(result)) };
    }
}

impl<F: FnMut(FenceResult) + Send + 'static> Drop for FenceCallback<F> {
    fn drop(&mut self) {
        if let Some(fence) = self.fence.take() {
            let node = ptr::from_ref(&*self).cast::<Node>();
            // SAFETY: pinned until now; if queued, queued on `fence`. After this returns
            // the signaller no longer touches the node.
            unsafe { fence.remove_node(node) };
        }
    }
}

/// The on-stack waiter of a blocking wait: wakes the parked context.
#[repr(C)]
pub(crate) struct ParkWaiter {
    node: Node,
    woken: AtomicBool,
    unparker: platform::Unparker,
    _pin: PhantomPinned,
}

impl ParkWaiter {
    pub(crate) fn new() -> Self {
        ParkWaiter {
            node: Node::new_leaf(Self::run),
            woken: AtomicBool::new(false),
            unparker: platform::unparker(),
            _pin: PhantomPinned,
        }
    }

    pub(crate) fn node_ptr(self: Pin<&Self>) -> *const Node {
        ptr::from_ref(self.get_ref()).cast::<Node>()
    }

    pub(crate) fn woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    /// # Safety
    /// `node` is the node of a live, pinned `ParkWaiter` owned by this signaller.
    unsafe fn run(node: *const Node, _result: FenceResult) {
        let this = node.cast::<Self>();
        // Release the node *before* waking: the woken waiter then never has to wait for
        // us in `remove_node` (spinning there while this thread is descheduled cost more
        // than the wake-up itself). The unparker is cloned first because the waiter may
        // return and free the node as soon as it is marked.
        // SAFETY: the waiter cannot return before the node is marked RAN, so the fields
        // are valid until `mark_ran`; after it we only use our clone.
        let unparker = unsafe {
            let u = (*this).unparker.clone();
            (*this).woken.store(true, Ordering::Release);
            Node::mark_ran(node);
            u
        };
        platform::unpark(&unparker);
    }
}
