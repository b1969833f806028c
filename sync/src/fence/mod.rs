//! Fences: one-shot completion events that CPUs, interrupt handlers and devices signal.
//!
//! A fence goes `pending -> signalled` exactly once, optionally carrying a [`FenceError`]
//! that was set before signalling. The two ends are different types:
//!
//! - [`FenceProducer`] is the only handle that can signal (or set an error). It cannot be
//!   cloned; `signal` consumes it, so signalling twice does not compile. Dropping it
//!   unsignalled signals [`FenceError::Cancelled`], so nobody waits forever.
//! - [`Fence`] is the shareable, waitable handle: non-blocking [`Fence::status`], blocking
//!   [`Fence::wait_timeout`] (a zero timeout polls), intrusive callbacks
//!   ([`FenceCallback`]), and a `Future` ([`Fence::wait_async`]).
//!
//! Fences live on timelines ([`FenceContext`], [`Timeline`]): within one context a later
//! seqno implies the earlier ones. A context is a capability: only its [`Timeline`] makes
//! fences on it ([`FenceProducer::one_off`] makes one on a context of its own), so nobody
//! can forge a "later" fence on another's timeline. [`all_of`]/[`any_of`] aggregate fences;
//! [`MemTimeline`] keeps the seqno in a DMA-visible word that hardware can poll.
//!
//! ```
//! use core::pin::pin;
//! use core::time::Duration;
//! use dmasync_sync::fence::{FenceCallback, FenceStatus, Timeline};
//! use dmasync_sync::FenceError;
//!
//! let engine = Timeline::new();
//! let job = engine.next_fence(); // the producer: the driver keeps it
//! let done = job.fence(); // waiters get clones of this
//! let mut on_done = pin!(FenceCallback::new(|r| assert_eq!(r, Err(FenceError::DeviceError(3)))));
//! done.add_callback(on_done.as_mut()).unwrap();
//! assert_eq!(done.wait_timeout(Duration::ZERO), FenceStatus::Pending); // zero = poll
//! // In the engine's interrupt handler:
//! job.signal_error(FenceError::DeviceError(3));
//! assert_eq!(done.wait(), Err(FenceError::DeviceError(3)));
//! assert!(done.timestamp().is_some());
//! ```
//!
//! # Contexts
//!
//! Signalling takes the fence's internal spin lock (interrupts masked) for a few
//! instructions, never allocates and never blocks, so it is allowed from an interrupt
//! handler. Callbacks run in the signaller's context *after* that lock is released — see
//! [`FenceCallback`] for why. A signal made from inside a callback completes the fence and
//! wakes its blocked waiters at once but defers its callbacks to the outermost signal of the
//! same context, so stack use does not grow with nesting (doc/sync-model.md, *Nested
//! signals are iterative*).

mod aggregate;
mod callback;
mod chain;
mod deadline;
mod deferred;
mod future;
#[forbid(unsafe_code)]
mod mem;
#[forbid(unsafe_code)]
mod timeline;
mod unwrap;

use alloc::boxed::Box;
use core::fmt;
use core::pin::Pin;
use core::ptr;
use core::time::Duration;

use crate::list::List;
use crate::shim::Arc;
use crate::shim::UnsafeCell;
use crate::shim::atomic::{AtomicU32, AtomicU64, Ordering};
use dmasync_hal::platform::{self, Instant};

pub use aggregate::{Children, all_of, any_of};
pub use callback::{CallbackRemoval, FenceCallback};
pub use chain::{ChainError, FenceChain, find_seqno};
pub use future::FenceWait;
pub use mem::MemTimeline;
pub use timeline::{FenceContext, Timeline};
pub use unwrap::{Leaves, merge, unwrap};

use callback::{NODE_QUEUED, Node};

/// Why a fence completed unsuccessfully. Set before signalling, reported with the status.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FenceError {
    /// The work was cancelled; also what a [`FenceProducer`] dropped unsignalled reports.
    Cancelled,
    /// The work did not complete in time (watchdog / hang recovery force-completed it).
    Timeout,
    /// The device reported an error; the code is device specific.
    DeviceError(u32),
}

/// The outcome of a signalled fence: `Ok(())` or the error set before signalling.
pub type FenceResult = Result<(), FenceError>;

/// Where a fence is: still pending, signalled successfully, or signalled with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FenceStatus {
    /// Not signalled yet.
    Pending,
    /// Signalled without error.
    Ok,
    /// Signalled with this error.
    Err(FenceError),
}

impl FenceStatus {
    /// `true` unless [`FenceStatus::Pending`].
    pub const fn is_signalled(self) -> bool {
        !matches!(self, FenceStatus::Pending)
    }

    /// The result if signalled, `None` while pending.
    pub const fn result(self) -> Option<FenceResult> {
        match self {
            FenceStatus::Pending => None,
            FenceStatus::Ok => Some(Ok(())),
            FenceStatus::Err(e) => Some(Err(e)),
        }
    }

    fn from_result(r: FenceResult) -> Self {
        match r {
            Ok(()) => FenceStatus::Ok,
            Err(e) => FenceStatus::Err(e),
        }
    }
}

/// Returned by [`Fence::add_callback`] when the fence had already signalled: the callback
/// was not queued and will not run; `result` is the fence's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadySignalled {
    /// The outcome the fence signalled with.
    pub result: FenceResult,
}

// ---- state word ---------------------------------------------------------------------------
//
// bit 0      LOCKED     the internal spin lock (guards `head` and every state change)
// bit 1      SIGNALLED  one-way; set under the lock together with the final error bits
// bits 8-15  error kind (0 = none)
// bits 32-63 error payload (device error code)
const LOCKED: u64 = 1;
const SIGNALLED: u64 = 1 << 1;
const ERR_MASK: u64 = 0xffff_ffff_0000_ff00;
const ERR_KIND_SHIFT: u32 = 8;
const ERR_CODE_SHIFT: u32 = 32;

const fn encode_error(e: FenceError) -> u64 {
    let (kind, code) = match e {
        FenceError::Cancelled => (1u64, 0u32),
        FenceError::Timeout => (2, 0),
        FenceError::DeviceError(c) => (3, c),
    };
    (kind << ERR_KIND_SHIFT) | ((code as u64) << ERR_CODE_SHIFT)
}

const fn decode_result(state: u64) -> FenceResult {
    let code = (state >> ERR_CODE_SHIFT) as u32;
    match (state >> ERR_KIND_SHIFT) & 0xff {
        0 => Ok(()),
        1 => Err(FenceError::Cancelled),
        2 => Err(FenceError::Timeout),
        _ => Err(FenceError::DeviceError(code)),
    }
}

/// `true` if a 32-bit memory seqno `word` has reached `seqno` (wrap-safe: valid while the
/// two are less than 2^31 apart).
pub(crate) const fn seqno32_passed(word: u32, seqno: u32) -> bool {
    (word.wrapping_sub(seqno) as i32) >= 0
}

/// How often a blocked CPU waiter re-reads the memory word of a memory-backed fence.
const MEM_POLL_PERIOD: Duration = Duration::from_micros(20);

/// The shared part of a fence. One allocation per fence; handles are `Arc`s to it.
pub(crate) struct FenceInner {
    state: AtomicU64,
    /// The queued callback nodes, most recently added first (`List::push_front`). Guarded
    /// by `LOCKED`; emptied for good (taken by the signaller) when `SIGNALLED` is set.
    callbacks: UnsafeCell<List<Node>>,
    /// Nanoseconds of `platform::now()` at signal; valid once `SIGNALLED` is seen with Acquire.
    /// Before the signal the same word holds the earliest deadline hint (nanoseconds,
    /// [`NO_DEADLINE`] if none), read and lowered only under `LOCKED` (see `deadline.rs`):
    /// Linux's cb_list/timestamp union idea, so deadlines cost the fence no byte and the
    /// signal no instruction (the signal overwrites the hint with the timestamp).
    timestamp: AtomicU64,
    context: u64,
    seqno: u64,
    /// One pointer for what only some fences have, so the shared part stays 64 bytes: null;
    /// or, memory-backed, the DMA-visible word that reaches `seqno` when done (`mem()`); or,
    /// tagged with bit 0, an aggregate's bookkeeping (its child nodes, `aggregate()`), a
    /// `Box` owned by this output fence so it is freed with the fence's last reference, not
    /// on the signal path. Written only by the constructors.
    extra: *const (),
}

/// Bit 0 of `FenceInner::extra`: an aggregate's `Box` (both pointees are at least 4-aligned).
/// Chain nodes are aggregates too (of their fence and the previous node; `chain.rs`).
const EXTRA_AGGREGATE: usize = 1;

/// The deadline word of a pending fence without a deadline hint.
const NO_DEADLINE: u64 = u64::MAX;

// SAFETY: `callbacks` and the nodes on it are only touched with the LOCKED bit held (or,
// after SIGNALLED, only by the one signaller that detached them); `extra` is immutable after
// construction and points to `Sync` data (an atomic word, an aggregate's atomics and nodes);
// everything else is atomic or immutable.
unsafe impl Send for FenceInner {}
// SAFETY: as for Send: all shared mutation is atomic or serialised by the LOCKED bit.
unsafe impl Sync for FenceInner {}

/// Proof that the fence lock is held; `state` is the word to publish on unlock.
struct Locked<'a> {
    fence: &'a FenceInner,
    state: u64,
    irq: usize,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Release: publishes list/timestamp changes made under the lock (and SIGNALLED).
        self.fence
            .state
            .store(self.state & !LOCKED, Ordering::Release);
        platform::interrupts_restore(self.irq);
    }
}

impl FenceInner {
    pub(crate) fn new(context: u64, seqno: u64, mem: Option<&'static AtomicU32>) -> Self {
        FenceInner {
            state: AtomicU64::new(0),
            callbacks: UnsafeCell::new(List::new()),
            timestamp: AtomicU64::new(NO_DEADLINE),
            context,
            seqno,
            extra: mem.map_or(ptr::null(), |w| ptr::from_ref(w).cast()),
        }
    }

    /// A pending fence that owns an aggregate's bookkeeping.
    fn new_aggregate(context: u64, seqno: u64, agg: Box<aggregate::Aggregate>) -> Self {
        let mut f = Self::new(context, seqno, None);
        f.extra = Box::into_raw(agg)
            .cast_const()
            .cast::<()>()
            .map_addr(|a| a | EXTRA_AGGREGATE);
        f
    }

    /// The memory word of a memory-backed fence.
    fn mem(&self) -> Option<&'static AtomicU32> {
        if self.extra.addr() & EXTRA_AGGREGATE != 0 {
            return None;
        }
        // SAFETY: an untagged non-null `extra` is the `&'static AtomicU32` given to `new`.
        unsafe { self.extra.cast::<AtomicU32>().as_ref() }
    }

    /// The bookkeeping of an aggregate's output fence.
    fn aggregate(&self) -> Option<&aggregate::Aggregate> {
        if self.extra.addr() & EXTRA_AGGREGATE == 0 {
            return None;
        }
        // SAFETY: a tagged `extra` is the `Box` of `new_aggregate`, alive until our drop.
        unsafe {
            self.extra
                .map_addr(|a| a & !EXTRA_AGGREGATE)
                .cast::<aggregate::Aggregate>()
                .as_ref()
        }
    }

    /// The bookkeeping of an aggregate's output fence, for its owner (`aggregate::release`).
    fn aggregate_mut(&mut self) -> Option<&mut aggregate::Aggregate> {
        if self.extra.addr() & EXTRA_AGGREGATE == 0 {
            return None;
        }
        // SAFETY: a tagged `extra` is the `Box` of `new_aggregate` (made from `into_raw`'s
        // mutable pointer), alive until our drop; `&mut self` makes the access exclusive.
        unsafe {
            self.extra
                .map_addr(|a| a & !EXTRA_AGGREGATE)
                .cast::<aggregate::Aggregate>()
                .cast_mut()
                .as_mut()
        }
    }

    /// `true` for an aggregate's (or chain node's) output fence: it holds its children.
    fn is_container(&self) -> bool {
        self.extra.addr() & EXTRA_AGGREGATE != 0
    }

    fn new_signalled(context: u64, seqno: u64, result: FenceResult) -> Self {
        Self::new_signalled_at(context, seqno, result, platform::now())
    }

    fn new_signalled_at(context: u64, seqno: u64, result: FenceResult, at: Instant) -> Self {
        let f = Self::new(context, seqno, None);
        f.timestamp.store(at.0, Ordering::Relaxed);
        let err = match result {
            Ok(()) => 0,
            Err(e) => encode_error(e),
        };
        f.state.store(SIGNALLED | err, Ordering::Release);
        f
    }

    /// Masks interrupts and spins until LOCKED is ours.
    fn lock(&self) -> Locked<'_> {
        let irq = platform::interrupts_disable();
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED == 0 {
                match self.state.compare_exchange_weak(
                    s,
                    s | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        return Locked {
                            fence: self,
                            state: s,
                            irq,
                        };
                    }
                    Err(now) => s = now,
                }
            } else {
                platform::relax();
                s = self.state.load(Ordering::Relaxed);
            }
        }
    }

    /// The status without side effects (memory word not consulted).
    fn peek(&self) -> FenceStatus {
        let s = self.state.load(Ordering::Acquire);
        if s & SIGNALLED != 0 {
            FenceStatus::from_result(decode_result(s))
        } else {
            FenceStatus::Pending
        }
    }

    /// `true` if this is a memory-backed fence whose word has reached its seqno.
    fn mem_passed(&self) -> bool {
        match self.mem() {
            Some(w) => seqno32_passed(w.load(Ordering::Acquire), self.seqno as u32),
            None => false,
        }
    }

    /// Done (signalled, or a memory word that has passed) without signalling anything:
    /// safe to call under another lock.
    pub(crate) fn is_done_quietly(&self) -> bool {
        self.peek().is_signalled() || self.mem_passed()
    }

    /// The status; a memory-backed fence whose word has passed is signalled here.
    pub(crate) fn status(&self) -> FenceStatus {
        let st = self.peek();
        if st.is_signalled() || !self.mem_passed() {
            return st;
        }
        self.signal(None);
        self.peek()
    }

    /// Records `e` as the error the fence will signal with; `false` if already signalled.
    pub(crate) fn set_error(&self, e: FenceError) -> bool {
        let mut g = self.lock();
        if g.state & SIGNALLED != 0 {
            return false;
        }
        g.state = (g.state & !ERR_MASK) | encode_error(e);
        true
    }

    /// Signals the fence (with `error` if given, else with the error set before, if any),
    /// wakes its blocked waiters, then runs its callbacks — or, when called from inside a
    /// callback, defers them to this context's outermost signal (see [`deferred`]), so stack
    /// use does not grow with nesting. `false` if it was already signalled. Never allocates,
    /// frees or blocks beyond the few instructions of the internal lock.
    pub(crate) fn signal(&self, error: Option<FenceError>) -> bool {
        if self.state.load(Ordering::Relaxed) & SIGNALLED != 0 {
            return false;
        }
        if let Some(w) = self.mem() {
            // Hardware that polls the word must see completion even when the CPU signals
            // (success or error): never move the word backwards.
            let seq = self.seqno as u32;
            let _ = w.fetch_update(Ordering::Release, Ordering::Relaxed, |cur| {
                (!seqno32_passed(cur, seq)).then_some(seq)
            });
        }
        let now = platform::now();
        let (detached, result) = {
            let mut g = self.lock();
            if g.state & SIGNALLED != 0 {
                return false;
            }
            if let Some(e) = error {
                g.state = (g.state & !ERR_MASK) | encode_error(e);
            }
            g.state |= SIGNALLED;
            self.timestamp.store(now.0, Ordering::Relaxed);
            // SAFETY: we hold the lock, which guards the list.
            let detached = self.callbacks.with_mut(|l| unsafe { (*l).take() });
            (detached, decode_result(g.state))
            // Unlock here: SIGNALLED, the error and the timestamp become visible together.
        };
        if detached.is_empty() {
            return true;
        }
        // Callbacks run after the lock is dropped. Linux runs them under the fence lock;
        // then a callback that takes another lock (or signals another fence whose waiter
        // holds that lock) creates the lock inversion that bit dma_fence_array. Here a
        // callback may take any lock, add callbacks or signal other fences.
        // SAFETY: the nodes were detached under the lock; owners cannot free a QUEUED node
        // of a signalled fence until it is marked RAN (see `remove_node`).
        unsafe { deferred::run_or_defer(detached, result) };
        true
    }

    /// Queues `node`; `Err` (node untouched) if the fence is already signalled.
    ///
    /// # Safety
    /// `node` must be valid, not queued on any fence, and stay valid and unmoved until it
    /// is removed with [`FenceInner::remove_node`] or has been marked `NODE_RAN`.
    pub(crate) unsafe fn add_node(&self, node: *const Node) -> Result<(), FenceResult> {
        let g = self.lock();
        if g.state & SIGNALLED != 0 {
            return Err(decode_result(g.state));
        }
        // SAFETY: lock held and the fence not signalled; node contract passed on.
        unsafe { self.link_locked(&g, node) };
        drop(g);
        Ok(())
    }

    /// Pushes `node` onto the list.
    ///
    /// # Safety
    /// `g` is this fence's lock, the fence is not signalled, and `node` meets the contract
    /// of [`FenceInner::add_node`].
    unsafe fn link_locked(&self, g: &Locked<'_>, node: *const Node) {
        debug_assert!(core::ptr::eq(g.fence, self) && g.state & SIGNALLED == 0);
        // SAFETY: lock held: we own the list and the links of every queued node. `node` is
        // valid and on no list, and stays valid until removed or marked RAN after the
        // signaller's drain yielded it (the contract): `List::push_front`'s contract.
        unsafe {
            self.callbacks.with_mut(|l| (*l).push_front(node));
            (*node).state.store(NODE_QUEUED, Ordering::Relaxed);
        }
    }

    /// Unlinks `node` if it is still queued here. If the fence has signalled, waits until
    /// the signaller has finished with the node (so it may be freed afterwards).
    ///
    /// # Safety
    /// `node` must be valid and, if queued, queued on this fence.
    pub(crate) unsafe fn remove_node(&self, node: *const Node) -> CallbackRemoval {
        // SAFETY: the caller's contract.
        if let Some(r) = unsafe { self.try_remove_node(node) } {
            return r;
        }
        // Signalled: a node still QUEUED belongs to the signaller until it is marked RAN.
        loop {
            // SAFETY: node valid per the contract.
            let st = unsafe { (*node).state.load(Ordering::Acquire) };
            if st != NODE_QUEUED {
                return CallbackRemoval::from_idle_state(st);
            }
            platform::relax();
        }
    }

    /// Like [`Self::remove_node`], but never waits: `None` when the fence has signalled
    /// and its signaller has not yet finished running the node. For owners that must not
    /// wait — e.g. one that may be running inside that very callback.
    ///
    /// # Safety
    /// As for `remove_node`.
    pub(crate) unsafe fn try_remove_node(&self, node: *const Node) -> Option<CallbackRemoval> {
        let g = self.lock();
        // SAFETY: node valid per the contract.
        let st = unsafe { (*node).state.load(Ordering::Acquire) };
        if g.state & SIGNALLED == 0 {
            if st != NODE_QUEUED {
                return Some(CallbackRemoval::from_idle_state(st));
            }
            // SAFETY: lock held and node valid; a queued node of an unsignalled fence is
            // on this fence's list (`List::remove`'s contract), which we own while locked.
            unsafe {
                self.callbacks.with_mut(|l| (*l).remove(node));
                (*node).state.store(callback::NODE_IDLE, Ordering::Relaxed);
            }
            drop(g);
            return Some(CallbackRemoval::Removed);
        }
        drop(g);
        if st == NODE_QUEUED {
            None
        } else {
            Some(CallbackRemoval::from_idle_state(st))
        }
    }

    /// Blocks until signalled or `deadline` passes. Returns the status at return.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> FenceStatus {
        let st = self.status();
        if st.is_signalled() {
            return st;
        }
        if deadline.is_some_and(|d| platform::now() >= d) {
            return st;
        }
        let waiter = callback::ParkWaiter::new();
        let waiter = core::pin::pin!(waiter);
        let node = waiter.as_ref().node_ptr();
        // SAFETY: the waiter is pinned on this stack frame and removed (waiting out a
        // running callback) before the frame ends, below.
        if unsafe { self.add_node(node) }.is_err() {
            return self.peek();
        }
        loop {
            if waiter.woken() || self.status().is_signalled() {
                break;
            }
            // Read the clock only when there is a deadline to check or a word to poll.
            let now = (deadline.is_some() || self.mem().is_some()).then(platform::now);
            if let (Some(d), Some(now)) = (deadline, now)
                && now >= d
            {
                break;
            }
            let park_until = match (self.mem(), now) {
                (Some(_), Some(now)) => {
                    let poll = now.saturating_add(MEM_POLL_PERIOD);
                    Some(deadline.map_or(poll, |d| d.min(poll)))
                }
                _ => deadline,
            };
            platform::park(park_until);
        }
        // SAFETY: node is ours and, if queued, queued on this fence.
        unsafe { self.remove_node(node) };
        self.peek()
    }

    fn timestamp(&self) -> Option<Instant> {
        if self.state.load(Ordering::Acquire) & SIGNALLED != 0 {
            Some(Instant(self.timestamp.load(Ordering::Relaxed)))
        } else {
            None
        }
    }
}

impl Drop for FenceInner {
    fn drop(&mut self) {
        if self.extra.addr() & EXTRA_AGGREGATE != 0 {
            let agg = self
                .extra
                .map_addr(|a| a & !EXTRA_AGGREGATE)
                .cast::<aggregate::Aggregate>()
                .cast_mut();
            // SAFETY: the `Box` of `new_aggregate`, dropped once (here, with the fence). No
            // node can still be queued: each queued node holds a reference to this fence.
            // `release` frees the children it held without recursing (a 100 000-node chain).
            aggregate::release(unsafe { Box::from_raw(agg) });
        }
    }
}

impl fmt::Debug for FenceInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fence")
            .field("context", &self.context)
            .field("seqno", &self.seqno)
            .field("status", &self.peek())
            .field("memory_backed", &self.mem().is_some())
            .field("container", &self.is_container())
            .finish()
    }
}

// ---- handles ------------------------------------------------------------------------------

/// Bytes of one fence's shared allocation (state, callback list head, timestamp, context,
/// seqno, one pointer to the memory word or an aggregate's bookkeeping, and the two
/// reference counts of the `Arc`). The handles
/// themselves are one pointer each.
pub const fn shared_size() -> usize {
    core::mem::size_of::<FenceInner>() + 2 * core::mem::size_of::<usize>()
}

/// The shareable, waitable handle of a fence. Cheap to clone (a reference count).
///
/// It cannot signal: only the [`FenceProducer`] can.
pub struct Fence {
    pub(crate) inner: Arc<FenceInner>,
}

impl Clone for Fence {
    fn clone(&self) -> Self {
        Fence {
            inner: self.inner.clone(),
        }
    }
}

impl fmt::Debug for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Fence {
    /// A fence that is already signalled with `result`, on a fresh context (a "stub": for
    /// "nothing to wait for"). Allocates.
    pub fn signalled(result: FenceResult) -> Self {
        Fence {
            inner: Arc::new(FenceInner::new_signalled(
                FenceContext::new().id(),
                0,
                result,
            )),
        }
    }

    /// Pending, Ok or Err. Never blocks. For a memory-backed fence this reads the memory
    /// word and, if it has passed, signals the fence (running its callbacks here).
    pub fn status(&self) -> FenceStatus {
        self.inner.status()
    }

    /// `true` once signalled (with or without error). Never blocks.
    pub fn is_signalled(&self) -> bool {
        self.status().is_signalled()
    }

    /// Blocks until signalled or `timeout` elapses and returns the status then:
    /// [`FenceStatus::Pending`] means the timeout expired. A zero timeout only polls.
    pub fn wait_timeout(&self, timeout: Duration) -> FenceStatus {
        if timeout.is_zero() {
            return self.status();
        }
        self.inner
            .wait_until(Some(platform::now().saturating_add(timeout)))
    }

    /// Blocks until signalled or the platform clock reaches `deadline` (`None`: forever).
    pub fn wait_until(&self, deadline: Option<Instant>) -> FenceStatus {
        self.inner.wait_until(deadline)
    }

    /// Blocks until signalled and returns the outcome.
    pub fn wait(&self) -> FenceResult {
        loop {
            if let Some(r) = self.inner.wait_until(None).result() {
                return r;
            }
        }
    }

    /// Queues `cb` to run once when the fence signals, in the signalling context (possibly
    /// an interrupt handler), after the fence's lock is released, oldest callback first.
    ///
    /// If the fence has already signalled, `cb` is not queued and does not run: the
    /// outcome is returned in [`AlreadySignalled`]. A `cb` still queued on another fence
    /// is removed from it first.
    pub fn add_callback<F>(&self, cb: Pin<&mut FenceCallback<F>>) -> Result<(), AlreadySignalled>
    where
        F: FnMut(FenceResult) + Send + 'static,
    {
        cb.register(&self.inner)
    }

    /// A future that resolves to the outcome when the fence signals.
    pub fn wait_async(&self) -> FenceWait {
        FenceWait::new(self.inner.clone())
    }

    /// When the fence signalled (platform clock at signal time); `None` while pending.
    pub fn timestamp(&self) -> Option<Instant> {
        self.inner.timestamp()
    }

    /// The timeline this fence belongs to: an identifier for comparison and debugging,
    /// not a way to make fences on it (see [`FenceContext`]).
    pub fn context(&self) -> FenceContext {
        FenceContext::from_id(self.inner.context)
    }

    /// The position on its timeline. Seqnos are `u64` and never wrap in practice (2^64
    /// fences), so comparisons are plain `>` — no wrap-safe arithmetic as Linux's 32-bit
    /// seqnos need (memory-backed fences compare their 32-bit *word* wrap-safely).
    pub fn seqno(&self) -> u64 {
        self.inner.seqno
    }

    /// `Some(true)` if `self` comes after `other` on the same timeline, `Some(false)` if
    /// not, `None` if they are on different timelines (no order).
    pub fn is_later(&self, other: &Fence) -> Option<bool> {
        (self.inner.context == other.inner.context).then(|| self.inner.seqno > other.inner.seqno)
    }

    /// The later of two fences of one timeline (it implies the other); `None` if they are
    /// on different timelines.
    pub fn later_of<'a>(a: &'a Fence, b: &'a Fence) -> Option<&'a Fence> {
        a.is_later(b).map(|a_later| if a_later { a } else { b })
    }

    /// `true` if both handles refer to the same fence.
    pub fn ptr_eq(a: &Fence, b: &Fence) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// For a memory-backed fence: the word's address and the value it reaches (wrap-safe
    /// `>=`) when the fence is done — what a device that waits by polling memory is
    /// programmed with.
    ///
    /// An address, not a reference: a store that reached the value would complete the
    /// fence, and a waiter must not be able to do that from safe code (only the
    /// [`MemTimeline`]'s owner and its device write the word).
    pub fn memory_wait(&self) -> Option<(*const AtomicU32, u32)> {
        self.inner
            .mem()
            .map(|w| (core::ptr::from_ref(w), self.inner.seqno as u32))
    }
}

/// `fence.await` resolves to the outcome (see [`FenceWait`]).
impl core::future::IntoFuture for Fence {
    type Output = FenceResult;
    type IntoFuture = FenceWait;

    fn into_future(self) -> FenceWait {
        FenceWait::new(self.inner)
    }
}

/// `(&fence).await` resolves to the outcome without consuming the handle.
impl core::future::IntoFuture for &Fence {
    type Output = FenceResult;
    type IntoFuture = FenceWait;

    fn into_future(self) -> FenceWait {
        self.wait_async()
    }
}

/// The signalling end of a fence. Not `Clone`: exactly one producer per fence.
///
/// Dropping it unsignalled signals [`FenceError::Cancelled`] (a memory-backed fence whose
/// word has already passed signals success instead), so waiters never hang on a producer
/// that went away.
///
/// Signalling may drop the last reference and free the fence: an interrupt handler whose
/// allocator must not run there keeps a [`Fence`] clone and drops it later.
pub struct FenceProducer {
    inner: Arc<FenceInner>,
}

impl fmt::Debug for FenceProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FenceProducer").field(&self.inner).finish()
    }
}

impl FenceProducer {
    /// A new pending fence at `seqno` on timeline `context`. Allocates (once, here: the
    /// signal path never does).
    ///
    /// Crate-private: a context is a capability, so only the owner of `context` (a
    /// [`Timeline`], or [`FenceProducer::one_off`] with a context it just allocated) may
    /// call this. A public form would let anyone forge a later fence on someone else's
    /// timeline, which a reservation object lets replace the pending earlier one.
    pub(crate) fn new(context: FenceContext, seqno: u64) -> Self {
        FenceProducer {
            inner: Arc::new(FenceInner::new(context.id(), seqno, None)),
        }
    }

    /// A new pending fence alone on a fresh context (seqno 1): for one-off completions
    /// that are not part of an ordered stream, or that may complete out of order with
    /// their siblings (a [`Timeline`] requires signalling in seqno order). Allocates (once,
    /// here: the signal path never does). Take waiter handles with
    /// [`FenceProducer::fence`].
    pub fn one_off() -> Self {
        Self::new(FenceContext::new(), 1)
    }

    pub(crate) fn from_inner(inner: FenceInner) -> Self {
        FenceProducer {
            inner: Arc::new(inner),
        }
    }

    /// A waitable handle to this producer's fence.
    pub fn fence(&self) -> Fence {
        Fence {
            inner: self.inner.clone(),
        }
    }

    /// Records the error the fence will signal with (the last one set wins). `false` if
    /// the fence already signalled (a memory-backed fence can complete by itself).
    pub fn set_error(&self, error: FenceError) -> bool {
        self.inner.set_error(error)
    }

    /// The current status (a memory-backed fence may have completed through its word).
    pub fn status(&self) -> FenceStatus {
        self.inner.status()
    }

    /// Signals the fence: with the error set before, if any, else success. Runs the
    /// callbacks in this context (called from inside a callback: after that callback
    /// returns). Callable from interrupt handlers.
    pub fn signal(self) {
        self.inner.signal(None);
    }

    /// Sets `error` and signals.
    pub fn signal_error(self, error: FenceError) {
        self.inner.signal(Some(error));
    }

    /// The fence's timeline.
    pub fn context(&self) -> FenceContext {
        FenceContext::from_id(self.inner.context)
    }

    /// The fence's seqno.
    pub fn seqno(&self) -> u64 {
        self.inner.seqno
    }
}

impl Drop for FenceProducer {
    fn drop(&mut self) {
        if self.inner.peek().is_signalled() {
            return;
        }
        // Keep an error the producer already set; otherwise the work is cancelled — unless
        // a memory-backed fence's device already reported completion through its word.
        let error_set = self.inner.state.load(Ordering::Relaxed) & ERR_MASK != 0;
        let error = if error_set || self.inner.mem_passed() {
            None
        } else {
            Some(FenceError::Cancelled)
        };
        self.inner.signal(error);
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
