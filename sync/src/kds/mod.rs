//! Queued acquisition of many resources at once: ARM KDS's model, with its bugs fixed.
//!
//! A [`KdsDomain`] owns a set of [`Resource`]s, each with a FIFO queue. A request names N
//! resources, each [`Sharing::Shared`] or [`Sharing::Exclusive`], and is appended to all N queues
//! in one step under the domain lock. On every queue a link is **granted** iff it is at the
//! head, or it is shared and every link ahead of it is shared: shared requests behind a shared
//! head run together, and a shared request never overtakes a queued exclusive one. A request
//! is granted when all its links are; then its completion fires — a callback run directly or
//! deferred to the domain's [`WorkQueue`], a `Future`
//! ([`Request::granted`]), or a blocking wait with timeout ([`Request::wait`]). Releasing a
//! request unlinks it everywhere and grants whoever that unblocks.
//!
//! # Why one lock per domain: deadlock freedom and its cost
//!
//! Enqueue and release take the domain's lock once and touch every queue of the request
//! inside it. So for any two requests A and B that share resources, A is ahead of B on *every*
//! common queue or behind it on every one: the queues are globally consistent, and no
//! cycle "A waits for B on X while B waits for A on Y" can form. No ordering discipline, no
//! back-off, no retry — which is what makes KDS easy to use from drivers. The cost: every
//! enqueue/release in a domain is serialised (split unrelated resources into separate
//! domains), release is O(length of the granted prefix) per resource, and service is strict
//! FIFO (no priorities, no reordering). Resources of different domains cannot be mixed in one
//! request ([`KdsError::ForeignResource`]), because that would lose the consistency.
//!
//! # Contexts
//!
//! The domain lock is an interrupt-masking spin lock held for the queue update only; no user
//! code (callback, waker, closure drop) ever runs under it. Direct callbacks run in the
//! context that caused the grant (the enqueuer or releaser, possibly an interrupt handler),
//! after the lock is dropped. They never recurse: if a direct callback releases or enqueues
//! and that grants another direct callback, the new one is queued and run by the loop already
//! running callbacks (on this core or another) once the current one returns — KDS instead
//! recursed once per link of a long chain. Deferred callbacks run wherever
//! [`WorkQueue::run_pending`] is called (a worker thread on the host, a task or idle loop on
//! target). Callbacks must not block and must not cancel or release their own request.
//!
//! Release, cancel and grant never allocate (queue capacity is reserved at enqueue).
//! Enqueue, resource creation and waker registration allocate, so this module needs `alloc`
//! (request sets are dynamic); the rest of the crate's `no_std` rules apply.
//!
//! # What is fixed relative to KDS
//!
//! - `pending` changes only on a link's ungranted -> granted transition; releasing a shared
//!   owner in the middle of a queue changes nobody's count (KDS-2013 re-triggered already
//!   triggered links, firing callbacks early or wrapping the counter).
//! - Cancelling a queued exclusive request grants the shared run behind it (KDS-2012 hung).
//! - Cancel versus grant is race-free: when [`Request::cancel`] returns, the callback has
//!   either completed or will never run ([`CancelOutcome`] says which), and a callback owns
//!   everything it uses (`'static` closure), so no use-after-free is possible by construction.
//! - Repeats anywhere in a request are rejected (KDS checked only the tail link), as are
//!   requests over more than [`KdsDomain::max_resources`] resources (KDS only warned).
//! - Releasing a handle twice or using it after cancel does not compile: [`Request::release`]
//!   and [`Request::cancel`] consume it. Stale [`RequestId`]s and [`Resource`]s are detected by
//!   generation and answered with an `Err`.
//!
//! ```
//! use dmasync_sync::kds::{Sharing, Completion, KdsDomain};
//!
//! let domain = KdsDomain::new();
//! let (fb, tex) = (domain.new_resource().unwrap(), domain.new_resource().unwrap());
//! let gpu = domain
//!     .enqueue(&[(fb, Sharing::Exclusive), (tex, Sharing::Shared)], Completion::None)
//!     .unwrap();
//! assert!(gpu.is_granted());
//! let mut display = domain.enqueue(&[(fb, Sharing::Shared)], Completion::None).unwrap();
//! assert!(!display.is_granted());
//! gpu.release().unwrap();
//! display.wait(None).unwrap();
//! display.release().unwrap();
//! ```
//!
//! Double release is a compile error:
//!
//! ```compile_fail,E0382
//! use dmasync_sync::kds::{Sharing, Completion, KdsDomain};
//! let domain = KdsDomain::new();
//! let r = domain.new_resource().unwrap();
//! let req = domain.enqueue(&[(r, Sharing::Shared)], Completion::None).unwrap();
//! req.release().unwrap();
//! req.release().unwrap(); // use of moved value
//! ```
//!
//! and so is using a request after cancelling it:
//!
//! ```compile_fail,E0382
//! use dmasync_sync::kds::{Sharing, Completion, KdsDomain};
//! let domain = KdsDomain::new();
//! let r = domain.new_resource().unwrap();
//! let req = domain.enqueue(&[(r, Sharing::Shared)], Completion::None).unwrap();
//! req.cancel();
//! let _ = req.is_granted(); // use of moved value
//! ```

mod domain;
mod queue;
#[cfg(all(test, not(loom)))]
mod tests;

use alloc::boxed::Box;
use core::fmt;

pub use domain::{Granted, KdsDomain, Request, WorkQueue};

/// Default for [`KdsDomain::max_resources`]. KDS warned above 10 ("may increase latency");
/// we refuse above this many with [`KdsError::TooManyResources`].
pub const DEFAULT_MAX_RESOURCES: usize = 16;

/// How a request wants one resource: shared with other holders, or alone. (Named for
/// what it decides, apart from `syncset::Access`, which is *who* touches a buffer and *how*.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// Together with other shared holders (e.g. a reader, a scan-out).
    Shared,
    /// Alone (e.g. a writer).
    Exclusive,
}

/// A resource of one [`KdsDomain`], created by [`KdsDomain::new_resource`].
///
/// A small copyable name: a buffer stores it, requests list it. It stays valid until
/// [`KdsDomain::remove_resource`]; afterwards every use is [`KdsError::UnknownResource`], and
/// using it with another domain is [`KdsError::ForeignResource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    domain: u64,
    index: u32,
    generation: u32,
}

/// Names one request of a domain; stale once the request is released or cancelled.
///
/// Callbacks receive it; [`KdsDomain::is_granted`] and friends answer
/// [`KdsError::UnknownRequest`] for a stale id (slot reuse is told apart by a generation
/// counter, which would have to wrap 2^32 times on one slot to collide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    index: u32,
    generation: u32,
}

/// What to run when a request is granted (every one of its resources is held).
///
/// A callback owns what it uses (`'static`), receives the request's id, and runs at most
/// once, never under the domain lock. It must not block, and must not release or cancel its
/// own request (that would wait for itself); it may enqueue, release or cancel others.
pub enum Completion {
    /// Nothing runs; the owner waits ([`Request::wait`]), awaits ([`Request::granted`]) or
    /// polls ([`Request::is_granted`]).
    None,
    /// Runs in the context that caused the grant, after the domain lock is dropped: the
    /// enqueuer when granted at once (before `enqueue` returns), else the releaser — possibly
    /// an interrupt handler. If direct callbacks are already being run on some core (nested
    /// release from a callback, or another core), it is run by that loop instead, after the
    /// current callback: iteration, never recursion.
    Direct(Box<dyn FnOnce(RequestId) + Send + 'static>),
    /// Queued on the domain's [`WorkQueue`] and run by whoever drains it.
    Deferred(Box<dyn FnOnce(RequestId) + Send + 'static>),
}

impl Completion {
    /// A [`Completion::Direct`] callback.
    pub fn direct(f: impl FnOnce(RequestId) + Send + 'static) -> Self {
        Completion::Direct(Box::new(f))
    }

    /// A [`Completion::Deferred`] callback.
    pub fn deferred(f: impl FnOnce(RequestId) + Send + 'static) -> Self {
        Completion::Deferred(Box::new(f))
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Completion::None => "Completion::None",
            Completion::Direct(_) => "Completion::Direct(..)",
            Completion::Deferred(_) => "Completion::Deferred(..)",
        })
    }
}

/// What [`Request::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The request was still waiting; it left every queue and its callback will never run.
    Dequeued,
    /// The request had been granted and is now released. `callback_ran` says whether its
    /// callback completed (true) or was taken off its run queue unrun (false, and it never
    /// will run). Always false for [`Completion::None`].
    Released {
        /// The callback completed before cancel returned.
        callback_ran: bool,
    },
}

/// Why a KDS operation was refused. Nothing was changed by a refused operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KdsError {
    /// The request names more resources than [`KdsDomain::max_resources`].
    TooManyResources {
        /// Resources named.
        requested: usize,
        /// The domain's limit.
        max: usize,
    },
    /// The request names this resource more than once (it would wait for itself).
    DuplicateResource(Resource),
    /// The resource was created by another domain.
    ForeignResource(Resource),
    /// The resource was removed.
    UnknownResource(Resource),
    /// [`KdsDomain::remove_resource`] on a resource that requests are queued on.
    ResourceBusy(Resource),
    /// The request is not (or no longer) live in this domain.
    UnknownRequest(RequestId),
    /// [`Request::release`] before the request was granted (cancel it instead).
    NotGranted,
    /// A wait or acquire with a timeout ran out before the grant.
    Timeout,
    /// [`KdsDomain::try_acquire`]: not every resource is available right now.
    WouldBlock,
    /// [`Request::try_cancel`]: the request's callback is running right now.
    CallbackRunning,
    /// More than 2^32 live resources or requests.
    Exhausted,
}

impl fmt::Display for KdsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KdsError::TooManyResources { requested, max } => {
                write!(
                    f,
                    "request names {requested} resources, the domain allows {max}"
                )
            }
            KdsError::DuplicateResource(r) => write!(f, "request names {r:?} twice"),
            KdsError::ForeignResource(r) => write!(f, "{r:?} belongs to another domain"),
            KdsError::UnknownResource(r) => write!(f, "{r:?} was removed"),
            KdsError::ResourceBusy(r) => write!(f, "{r:?} still has queued requests"),
            KdsError::UnknownRequest(id) => write!(f, "{id:?} is not live"),
            KdsError::NotGranted => f.write_str("release of a request that is not granted"),
            KdsError::Timeout => f.write_str("timed out before the grant"),
            KdsError::WouldBlock => f.write_str("resources not available now"),
            KdsError::CallbackRunning => f.write_str("the request's callback is running"),
            KdsError::Exhausted => f.write_str("too many live resources or requests"),
        }
    }
}

impl core::error::Error for KdsError {}

/// A refused operation's error together with the handle it consumed, handed back unchanged
/// (the request is still live: release or cancel it again). Named for what it carries, apart
/// from the engine's `Rejected`, which returns a refused submission's sync set.
#[derive(Debug)]
pub struct ReturnedHandle<T> {
    /// Why.
    pub error: KdsError,
    /// The handle the operation consumed, unchanged.
    pub handle: T,
}

impl<T> fmt::Display for ReturnedHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}
