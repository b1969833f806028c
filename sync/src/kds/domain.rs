//! The domain: the lock around the queues, completions (callbacks, wakers, parked threads),
//! and the request handle.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::mem;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use super::queue::{Entry, Queues};
use super::{
    CancelOutcome, Completion, DEFAULT_MAX_RESOURCES, KdsError, RequestId, Resource,
    ReturnedHandle, Sharing,
};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::platform::{self, Instant};

type Callback = Box<dyn FnOnce(RequestId) + Send + 'static>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Direct,
    Deferred,
}

/// Where a request's callback is. Moves only forward: Waiting -> Ready -> Running -> Done,
/// or straight to Done when cancel takes it (it then never runs).
enum CbState {
    /// No callback.
    None,
    /// Not granted yet; the callback is here.
    Waiting(Callback, Kind),
    /// Granted; the callback sits on the direct or deferred run queue.
    Ready(Kind),
    /// Taken off the run queue and running now (outside the lock).
    Running,
    /// Completed, or taken away by cancel.
    Done,
}

/// Per-request completion state, kept next to the request's queue entry.
struct Extra {
    cb: CbState,
    /// A thread blocked in [`Request::wait`].
    waiter: Option<platform::Unparker>,
    /// A task awaiting [`Request::granted`].
    waker: Option<Waker>,
    /// A context in [`Request::cancel`] waiting for the running callback to return.
    canceller: Option<platform::Unparker>,
    /// Released (or dropped) while its callback was running: finish the release when the
    /// callback returns. This is what lets a callback release its own request.
    release_on_return: bool,
}

struct Job {
    id: RequestId,
    f: Callback,
}

/// Everything behind the domain lock.
struct State {
    q: Queues<Extra>,
    /// Granted direct callbacks, run in FIFO order by one drainer at a time.
    direct: VecDeque<Job>,
    /// Someone is running `direct` (so a nested or concurrent grant only queues).
    draining: bool,
    /// Granted deferred callbacks: the work queue.
    deferred: VecDeque<Job>,
    /// Workers parked in [`WorkQueue::wait`], by ticket.
    workers: Vec<(u64, platform::Unparker)>,
    next_ticket: u64,
    /// Wakers of granted requests, woken outside the lock.
    wakers: VecDeque<Waker>,
}

/// What to do after dropping the lock.
#[derive(Default, Clone, Copy)]
struct After {
    wake: bool,
    direct: bool,
}

impl State {
    const fn new(max: usize) -> Self {
        Self {
            q: Queues::new(max),
            direct: VecDeque::new(),
            draining: false,
            deferred: VecDeque::new(),
            workers: Vec::new(),
            next_ticket: 0,
            wakers: VecDeque::new(),
        }
    }

    fn after(&self) -> After {
        After {
            wake: !self.wakers.is_empty(),
            direct: !self.draining && !self.direct.is_empty(),
        }
    }

    fn mark_running(&mut self, id: RequestId) {
        if let Ok(e) = self.q.entry_mut(id) {
            e.extra.cb = CbState::Running;
        }
    }

    /// The callback of `id` returned. Finishes a release requested meanwhile, handing back
    /// the removed entry for the caller to drop outside the lock.
    fn mark_done(&mut self, id: RequestId) -> Option<Extra> {
        let e = self.q.entry_mut(id).ok()?;
        e.extra.cb = CbState::Done;
        if let Some(c) = e.extra.canceller.take() {
            // Platform contract: unpark never blocks or allocates, so it may run here.
            platform::unpark(&c);
        }
        if e.extra.release_on_return {
            remove_request(self, id).ok()
        } else {
            None
        }
    }
}

/// Runs when a request's last link is granted (under the lock): wakes its waiter, moves its
/// waker and callback to the run queues. Capacity for those pushes was reserved at enqueue,
/// so this never allocates.
fn on_granted(
    id: RequestId,
    e: &mut Entry<Extra>,
    direct: &mut VecDeque<Job>,
    deferred: &mut VecDeque<Job>,
    wakers: &mut VecDeque<Waker>,
    workers: &[(u64, platform::Unparker)],
) {
    if let Some(u) = e.extra.waiter.take() {
        platform::unpark(&u);
    }
    if let Some(w) = e.extra.waker.take() {
        wakers.push_back(w);
    }
    match mem::replace(&mut e.extra.cb, CbState::None) {
        CbState::Waiting(f, Kind::Direct) => {
            direct.push_back(Job { id, f });
            e.extra.cb = CbState::Ready(Kind::Direct);
        }
        CbState::Waiting(f, Kind::Deferred) => {
            deferred.push_back(Job { id, f });
            e.extra.cb = CbState::Ready(Kind::Deferred);
            for (_, w) in workers {
                platform::unpark(w);
            }
        }
        other => e.extra.cb = other,
    }
}

/// Removes request `id` from the queues (granting whoever that unblocks).
fn remove_request(st: &mut State, id: RequestId) -> Result<Extra, KdsError> {
    let State {
        q,
        direct,
        deferred,
        wakers,
        workers,
        ..
    } = st;
    q.remove(id, |gid, e| {
        on_granted(gid, e, direct, deferred, wakers, workers)
    })
}

/// What a release or cancel does about a callback that is running right now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Wait for it to return (the cancel guarantee).
    Cancel,
    /// Refuse with `CallbackRunning`.
    TryCancel,
    /// Only for a granted request; finish when it returns (a callback may release itself).
    Release,
    /// Handle dropped: finish when it returns, never wait.
    Drop,
}

/// What one pass of cancel found.
enum CancelStep {
    Done {
        outcome: CancelOutcome,
        // Dropped outside the lock: user closures and wakers.
        _callback: Option<Callback>,
        _extra: Extra,
        after: After,
    },
    /// The callback is running; we registered to be unparked when it returns.
    Park,
    /// The callback is running; the release completes when it returns.
    Deferred,
    Refused(KdsError),
}

/// A queued-acquisition domain: resources, their FIFO queues, and the one lock that makes
/// enqueue and release atomic across all resources of a request. See the
/// [module docs](super) for the model and guarantees.
///
/// Build it in a `static` on target (`KdsDomain::new()` is `const`), or on the stack / in a
/// `Box` on the host; requests borrow it.
pub struct KdsDomain {
    state: IrqSpinLock<State>,
}

impl fmt::Debug for KdsDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KdsDomain")
            .field("max_resources", &self.max_resources())
            .finish_non_exhaustive()
    }
}

impl Default for KdsDomain {
    fn default() -> Self {
        Self::new()
    }
}

impl KdsDomain {
    /// An empty domain allowing [`DEFAULT_MAX_RESOURCES`] resources per request.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self::with_max_resources(DEFAULT_MAX_RESOURCES)
    }

    /// An empty domain allowing at most `max` resources per request.
    #[cfg(not(loom))]
    pub const fn with_max_resources(max: usize) -> Self {
        Self {
            state: IrqSpinLock::new(State::new(max)),
        }
    }

    /// An empty domain allowing [`DEFAULT_MAX_RESOURCES`] resources per request.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self::with_max_resources(DEFAULT_MAX_RESOURCES)
    }

    /// An empty domain allowing at most `max` resources per request.
    #[cfg(loom)]
    pub fn with_max_resources(max: usize) -> Self {
        Self {
            state: IrqSpinLock::new(State::new(max)),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        self.state.lock().with(f)
    }

    /// Most resources one request may name.
    pub fn max_resources(&self) -> usize {
        self.with(|st| st.q.max_resources())
    }

    /// Creates a resource with an empty queue.
    pub fn new_resource(&self) -> Result<Resource, KdsError> {
        self.with(|st| st.q.new_resource())
    }

    /// Removes a resource. Refused with [`KdsError::ResourceBusy`] while any request is queued
    /// on it (KDS-2013's `kds_resource_term` -EBUSY); afterwards the handle is stale.
    pub fn remove_resource(&self, r: Resource) -> Result<(), KdsError> {
        self.with(|st| st.q.remove_resource(r))
    }

    /// Number of requests (owners and waiters) queued on `r`.
    pub fn queue_len(&self, r: Resource) -> Result<usize, KdsError> {
        self.with(|st| st.q.queue_len(r))
    }

    /// `r`'s queue from head to tail: (request, access, granted) per link.
    pub fn queue(&self, r: Resource) -> Result<Vec<(RequestId, Sharing, bool)>, KdsError> {
        self.with(|st| st.q.links(r))
    }

    /// Whether live request `id` holds all its resources.
    pub fn is_granted(&self, id: RequestId) -> Result<bool, KdsError> {
        self.with(|st| st.q.entry(id).map(|e| e.is_granted()))
    }

    /// How many of live request `id`'s resources are not granted yet.
    pub fn pending(&self, id: RequestId) -> Result<usize, KdsError> {
        self.with(|st| st.q.entry(id).map(|e| e.pending()))
    }

    /// Requests currently queued or granted.
    pub fn live_requests(&self) -> usize {
        self.with(|st| st.q.live_requests())
    }

    /// The queue of deferred callbacks, for a worker to drain.
    pub fn work_queue(&self) -> WorkQueue<'_> {
        WorkQueue { domain: self }
    }

    /// Queues a request on every resource in `resources` at once, in FIFO order.
    ///
    /// If it is granted at once, a [`Completion::Direct`] callback runs before this returns
    /// (so do not hold locks the callback takes). Refused, with nothing queued, for too many
    /// resources, a repeated, removed or foreign resource. An empty list is granted at once.
    pub fn enqueue(
        &self,
        resources: &[(Resource, Sharing)],
        completion: Completion,
    ) -> Result<Request<'_>, KdsError> {
        self.enqueue_inner(resources, completion, false)
    }

    /// Takes every resource now or nothing: `Err(WouldBlock)` (nothing queued) unless every
    /// link would be granted at once. KDS's zero-timeout `kds_waitall`, without the
    /// enqueue-then-roll-back.
    pub fn try_acquire(&self, resources: &[(Resource, Sharing)]) -> Result<Request<'_>, KdsError> {
        self.enqueue_inner(resources, Completion::None, true)
    }

    /// Queues a request and blocks until it is granted, or `timeout` passes (`None`: no
    /// limit). On timeout the request is withdrawn — unless it was granted in the meantime,
    /// which then counts as success — and `Err(Timeout)` is returned.
    pub fn acquire(
        &self,
        resources: &[(Resource, Sharing)],
        timeout: Option<Duration>,
    ) -> Result<Request<'_>, KdsError> {
        let mut req = self.enqueue(resources, Completion::None)?;
        match req.wait(timeout) {
            Ok(()) => Ok(req),
            Err(e) => {
                let id = req.id;
                // Withdraw atomically unless granted meanwhile.
                let withdrawn = self.with(|st| match st.q.entry(id) {
                    Ok(en) if !en.is_granted() => {
                        remove_request(st, id).ok().map(|en| (en, st.after()))
                    }
                    _ => None,
                });
                match withdrawn {
                    Some((entry, after)) => {
                        mem::forget(req);
                        drop(entry);
                        self.follow_up(after);
                        Err(e)
                    }
                    None => Ok(req),
                }
            }
        }
    }

    fn enqueue_inner(
        &self,
        list: &[(Resource, Sharing)],
        completion: Completion,
        only_if_granted: bool,
    ) -> Result<Request<'_>, KdsError> {
        let cb = match completion {
            Completion::None => CbState::None,
            Completion::Direct(f) => CbState::Waiting(f, Kind::Direct),
            Completion::Deferred(f) => CbState::Waiting(f, Kind::Deferred),
        };
        let extra = Extra {
            cb,
            waiter: None,
            waker: None,
            canceller: None,
            release_on_return: false,
        };
        let res = self.with(|st| {
            let id = st.q.enqueue(list, only_if_granted, extra)?;
            // Every live request may push one job and one waker before the next enqueue
            // re-reserves: grants and releases then never allocate.
            let live = st.q.live_requests();
            st.direct.reserve(live);
            st.deferred.reserve(live);
            st.wakers.reserve(live);
            let State {
                q,
                direct,
                deferred,
                wakers,
                workers,
                ..
            } = st;
            if let Ok(e) = q.entry_mut(id)
                && e.is_granted()
            {
                on_granted(id, e, direct, deferred, wakers, workers);
            }
            Ok((id, st.after()))
        });
        match res {
            Ok((id, after)) => {
                self.follow_up(after);
                Ok(Request { domain: self, id })
            }
            // `extra` (the user's closure) is dropped here, outside the lock.
            Err((e, extra)) => {
                drop(extra);
                Err(e)
            }
        }
    }

    fn follow_up(&self, after: After) {
        if after.wake {
            self.wake_all();
        }
        if after.direct {
            self.run_direct();
        }
    }

    /// Wakes queued wakers one at a time, each outside the lock.
    fn wake_all(&self) {
        while let Some(w) = self.with(|st| st.wakers.pop_front()) {
            w.wake();
        }
    }

    /// Runs granted direct callbacks until none is left, unless someone else already is.
    /// A callback that releases or enqueues lands back here, finds `draining` set and
    /// returns: its grants are run by this loop — iteration, not recursion.
    fn run_direct(&self) {
        let mut next = self.with(|st| {
            if st.draining {
                return None;
            }
            let job = st.direct.pop_front()?;
            st.draining = true;
            st.mark_running(job.id);
            Some(job)
        });
        while let Some(job) = next.take() {
            let id = job.id;
            let guard = RunGuard {
                domain: self,
                id,
                drainer: true,
            };
            (job.f)(id);
            mem::forget(guard);
            let (n, wake, _released) = self.with(|st| {
                let released = st.mark_done(id);
                let n = match st.direct.pop_front() {
                    Some(n) => {
                        st.mark_running(n.id);
                        Some(n)
                    }
                    None => {
                        st.draining = false;
                        None
                    }
                };
                (n, !st.wakers.is_empty(), released)
            });
            if wake {
                self.wake_all();
            }
            next = n;
        }
    }

    /// Withdraws or releases request `id`; `ending` says what to do about a running callback.
    fn cancel_inner(&self, id: RequestId, ending: Ending) -> Result<CancelOutcome, KdsError> {
        loop {
            let step = self.with(|st| {
                let e = match st.q.entry_mut(id) {
                    Ok(e) => e,
                    Err(err) => return CancelStep::Refused(err),
                };
                let was_granted = e.is_granted();
                if ending == Ending::Release && !was_granted {
                    return CancelStep::Refused(KdsError::NotGranted);
                }
                if let CbState::Running = e.extra.cb {
                    match ending {
                        Ending::TryCancel => return CancelStep::Refused(KdsError::CallbackRunning),
                        Ending::Cancel => {
                            e.extra.canceller = Some(platform::unparker());
                            return CancelStep::Park;
                        }
                        // The resources stay held until the callback returns; whoever runs it
                        // then finishes the release (`mark_done`).
                        Ending::Release | Ending::Drop => {
                            e.extra.release_on_return = true;
                            return CancelStep::Deferred;
                        }
                    }
                }
                let (callback, callback_ran) = match mem::replace(&mut e.extra.cb, CbState::Done) {
                    CbState::Waiting(f, _) => (Some(f), false),
                    CbState::Ready(kind) => {
                        let runq = match kind {
                            Kind::Direct => &mut st.direct,
                            Kind::Deferred => &mut st.deferred,
                        };
                        let f = runq
                            .iter()
                            .position(|j| j.id == id)
                            .and_then(|pos| runq.remove(pos))
                            .map(|j| j.f);
                        (f, false)
                    }
                    CbState::Done => (None, true),
                    CbState::None | CbState::Running => (None, false),
                };
                match remove_request(st, id) {
                    Ok(entry) => CancelStep::Done {
                        outcome: if was_granted {
                            CancelOutcome::Released { callback_ran }
                        } else {
                            CancelOutcome::Dequeued
                        },
                        _callback: callback,
                        _extra: entry,
                        after: st.after(),
                    },
                    Err(err) => CancelStep::Refused(err),
                }
            });
            match step {
                CancelStep::Park => platform::park(None),
                CancelStep::Deferred => return Ok(CancelOutcome::Released { callback_ran: true }),
                CancelStep::Refused(e) => return Err(e),
                CancelStep::Done { outcome, after, .. } => {
                    // The callback (never run) and the entry are dropped here, outside the lock.
                    self.follow_up(after);
                    return Ok(outcome);
                }
            }
        }
    }
}

/// Restores the run state if a callback unwinds (host tests): the request's callback counts
/// as done and the drainer flag is cleared, so no canceller waits forever.
struct RunGuard<'d> {
    domain: &'d KdsDomain,
    id: RequestId,
    drainer: bool,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let (_released, after) = self.domain.with(|st| {
            let released = st.mark_done(self.id);
            if self.drainer {
                st.draining = false;
            }
            (released, st.after())
        });
        if !self.drainer {
            self.domain.follow_up(after);
        }
    }
}

/// One request of a [`KdsDomain`], queued or granted. Owning it is owning the request:
/// [`Request::release`] and [`Request::cancel`] consume it, so double release and use after
/// cancel do not compile. Dropping it withdraws or releases it without ever waiting: an
/// unrun callback is dropped; a running one keeps the resources until it returns.
#[must_use = "dropping a request cancels it"]
pub struct Request<'d> {
    domain: &'d KdsDomain,
    id: RequestId,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request").field("id", &self.id).finish()
    }
}

impl<'d> Request<'d> {
    /// This request's id (what its callback receives).
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// The domain it is queued in.
    pub fn domain(&self) -> &'d KdsDomain {
        self.domain
    }

    /// Whether every resource is held.
    pub fn is_granted(&self) -> bool {
        self.domain.is_granted(self.id).unwrap_or(false)
    }

    /// Resources not granted yet (0 once granted).
    pub fn pending(&self) -> usize {
        self.domain.pending(self.id).unwrap_or(0)
    }

    /// Blocks until granted or `timeout` passes (`None`: no limit; `Some(ZERO)`: poll).
    /// On `Err(Timeout)` the request stays queued: wait again, or cancel it.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<(), KdsError> {
        let deadline: Option<Instant> = timeout.map(|d| platform::now().saturating_add(d));
        let id = self.id;
        loop {
            let timed_out = deadline.is_some_and(|d| platform::now() >= d);
            let granted = self.domain.with(|st| {
                let e = st.q.entry_mut(id)?;
                if e.is_granted() {
                    return Ok(true);
                }
                e.extra.waiter = if timed_out {
                    None
                } else {
                    Some(platform::unparker())
                };
                Ok(false)
            })?;
            if granted {
                return Ok(());
            }
            if timed_out {
                return Err(KdsError::Timeout);
            }
            platform::park(deadline);
        }
    }

    /// A future that completes when the request is granted.
    pub fn granted(&mut self) -> Granted<'_, 'd> {
        Granted { request: self }
    }

    /// Releases a granted request: every resource passes to the next in line. If its
    /// callback is queued but not started, it is dropped unrun. If the callback is running
    /// right now, this returns at once and the resources pass on when the callback returns
    /// (so a callback may release its own request, and exclusion is never cut short).
    /// `Err(NotGranted)` (handle returned) before the grant — use [`Request::cancel`] to
    /// withdraw a waiting request.
    pub fn release(self) -> Result<(), ReturnedHandle<Self>> {
        match self.domain.cancel_inner(self.id, Ending::Release) {
            Ok(_) => {
                mem::forget(self);
                Ok(())
            }
            Err(error) => Err(ReturnedHandle {
                error,
                handle: self,
            }),
        }
    }

    /// Withdraws the request whatever its state. When this returns, its callback either has
    /// completed or will never run ([`CancelOutcome`] says which): a callback running on
    /// another context is waited for (so do not call this from the request's own callback,
    /// nor from an interrupt that may have preempted it — use [`Request::try_cancel`] there).
    pub fn cancel(self) -> CancelOutcome {
        let r = self.domain.cancel_inner(self.id, Ending::Cancel);
        mem::forget(self);
        // The handle owns a live request, so cancel cannot be refused; `Dequeued` is the
        // answer for the (impossible) case of an already-gone request.
        r.unwrap_or(CancelOutcome::Dequeued)
    }

    /// [`Request::cancel`] that never waits: `Err(CallbackRunning)` (handle returned) if the
    /// callback is running right now.
    pub fn try_cancel(self) -> Result<CancelOutcome, ReturnedHandle<Self>> {
        match self.domain.cancel_inner(self.id, Ending::TryCancel) {
            Ok(o) => {
                mem::forget(self);
                Ok(o)
            }
            Err(error) => Err(ReturnedHandle {
                error,
                handle: self,
            }),
        }
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        let _ = self.domain.cancel_inner(self.id, Ending::Drop);
    }
}

/// Future of [`Request::granted`]: ready once the request holds every resource.
#[must_use = "futures do nothing unless polled"]
pub struct Granted<'a, 'd> {
    request: &'a mut Request<'d>,
}

impl fmt::Debug for Granted<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Granted")
            .field("request", &self.request.id)
            .finish()
    }
}

impl Future for Granted<'_, '_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let id = self.request.id;
        // Cloned outside the lock: a waker's clone and drop are executor code.
        let waker = cx.waker().clone();
        let (ready, old) = self.request.domain.with(|st| match st.q.entry_mut(id) {
            Ok(e) if !e.is_granted() => (false, e.extra.waker.replace(waker)),
            _ => (true, Some(waker)),
        });
        drop(old);
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A domain's queue of granted [`Completion::Deferred`] callbacks.
///
/// Any context may drain it: a worker thread on the host (loop on [`WorkQueue::wait`] +
/// [`WorkQueue::run_pending`]), a task or the idle loop on target. Callbacks run one at a
/// time per draining context, in grant order, never under the domain lock.
pub struct WorkQueue<'d> {
    domain: &'d KdsDomain,
}

impl fmt::Debug for WorkQueue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueue")
            .field("len", &self.len())
            .finish()
    }
}

impl WorkQueue<'_> {
    /// Callbacks waiting to run.
    pub fn len(&self) -> usize {
        self.domain.with(|st| st.deferred.len())
    }

    /// No callback waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs the oldest waiting callback; false if there was none.
    pub fn run_one(&self) -> bool {
        let job = self.domain.with(|st| {
            let job = st.deferred.pop_front()?;
            st.mark_running(job.id);
            Some(job)
        });
        let Some(job) = job else {
            return false;
        };
        let guard = RunGuard {
            domain: self.domain,
            id: job.id,
            drainer: false,
        };
        (job.f)(job.id);
        // Marks the callback done and wakes a canceller waiting for it.
        drop(guard);
        true
    }

    /// Runs callbacks until none is waiting; returns how many ran.
    pub fn run_pending(&self) -> usize {
        let mut n = 0;
        while self.run_one() {
            n += 1;
        }
        n
    }

    /// Blocks until a callback is waiting (true) or `timeout` passes (false; `None`: no
    /// limit). Several workers may wait at once; all are woken by new work.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline: Option<Instant> = timeout.map(|d| platform::now().saturating_add(d));
        let mut ticket = None;
        loop {
            let timed_out = deadline.is_some_and(|d| platform::now() >= d);
            let ready = self.domain.with(|st| {
                let ready = !st.deferred.is_empty();
                if ready || timed_out {
                    if let Some(t) = ticket {
                        st.workers.retain(|(w, _)| *w != t);
                    }
                } else if ticket.is_none() {
                    let t = st.next_ticket;
                    st.next_ticket = st.next_ticket.wrapping_add(1);
                    st.workers.push((t, platform::unparker()));
                    ticket = Some(t);
                }
                ready
            });
            if ready {
                return true;
            }
            if timed_out {
                return false;
            }
            platform::park(deadline);
        }
    }
}
