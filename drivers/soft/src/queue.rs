//! A bounded, in-order job queue shared by a submitting side (any core) and one worker
//! (another core, or a host thread): the command queue of a software device.
//!
//! - [`JobQueue::push`] queues a job with its optional in-fence and returns the job's
//!   completion fence, or gives the job back when the queue is full. It never blocks.
//! - [`JobQueue::run_one`] (the worker) takes the oldest job, waits for its in-fence, runs
//!   it through a caller-supplied executor and signals its fence. An in-fence that ends with
//!   an error fails the job with that error; the job is not executed.
//! - [`JobQueue::reset`] abandons every queued job and the running one: their fences signal
//!   [`FenceError::DeviceError`]`(`[`ABANDONED`]`)`. When it returns, the worker touches
//!   none of their buffers any more (see [`RunGuard`]).
//! - [`JobQueue::set_stalled`] is fault injection: a stalled queue hands out no new job
//!   (a hung engine); jobs stay queued, their fences pending. A reset clears the stall.
//! - [`JobQueue::deadline_ordered`] makes a queue that runs first the queued job whose
//!   completion fence a waiter gave the earliest deadline ([`Fence::set_deadline`]), if its
//!   in-fence has signalled (a job still waiting never holds up the others); otherwise, and
//!   without deadlines, jobs run in submission order. For engines whose jobs are independent
//!   once their in-fences signalled (buffers are ordered by the sync sets, not the queue);
//!   a display's flips stay in order.
//!
//! Shared state lives behind a [`dmasync_hal::lock::IrqSpinLock`] (interrupts masked on
//! the holder's core, spinning on other cores; no-op masking on the host). The lock is held
//! only for queue bookkeeping, never while data moves or a fence is signalled (fence
//! callbacks run in the signaller's context and may take other locks, this one included).
//!
//! The worker never holds the job's fence producer: it stays in the queue (`running`), so a
//! reset can signal it even while the worker is busy. Each memory access the worker makes
//! for a job is bracketed by [`RunGuard::access`], which a reset waits out and then shuts,
//! so no access of an abandoned job can land after its fence signalled.

use alloc::collections::VecDeque;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::platform;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult, FenceStatus};

/// The device error code a job's fence signals with when [`JobQueue::reset`] abandoned it:
/// `FenceError::DeviceError(ABANDONED)` (0x5E5E7 reads "reset").
pub const ABANDONED: u32 = 0x5E5E7;

/// How often a waiting worker looks for a reset or a stop request (it also wakes at once on
/// the in-fence's signal and on every submission).
const POLL: Duration = Duration::from_millis(1);

// `run` word: (job seqno << 2) | phase.
const IDLE: u64 = 0;
const BUSY: u64 = 1;
const CANCELLED: u64 = 2;
/// Busy, and a reset waits for the access to end: no further access may start.
const BUSY_CANCEL: u64 = 3;

struct Queued<J> {
    seq: u64,
    job: J,
    in_fence: Option<Fence>,
    done: FenceProducer,
}

struct State<J> {
    queue: VecDeque<Queued<J>>,
    /// The job the worker runs now: its seqno and completion producer.
    running: Option<(u64, FenceProducer)>,
    stalled: bool,
    /// The worker's wake handle, published before it parks.
    worker: Option<platform::Unparker>,
    next_seq: u64,
    /// Places reserved by tickets not yet committed.
    reserved: usize,
}

/// What one [`JobQueue::run_one`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to run: the queue is empty, stalled, or another worker runs a job.
    Idle,
    /// The oldest job waits for its in-fence ([`JobQueue::run_ready`] only).
    Waiting,
    /// A job ended and its fence signalled with this result: `Ok` when it ran, the
    /// in-fence's error when that failed (the job did not run), or the executor's error.
    Completed(FenceResult),
    /// A reset abandoned the job while it waited or ran; its fence signalled
    /// `DeviceError(ABANDONED)`.
    Abandoned,
    /// A stop was requested while the job waited for its in-fence: it went back to the
    /// head of the queue, untouched.
    Deferred,
}

/// Lets the executor of a running job touch memory, unless a reset abandoned the job.
pub struct RunGuard<'q> {
    run: &'q AtomicU64,
    seq: u64,
}

impl fmt::Debug for RunGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunGuard").field("job", &self.seq).finish()
    }
}

impl RunGuard<'_> {
    /// Runs `f` (one bounded burst of memory accesses for the job, e.g. one row) unless the
    /// job was abandoned; `None` then, and `f` did not run. A reset that starts while `f`
    /// runs waits for it to return before it signals the job's fence.
    pub fn access<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let idle = self.seq << 2 | IDLE;
        if self
            .run
            .compare_exchange(
                idle,
                self.seq << 2 | BUSY,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return None;
        }
        let r = f();
        // Leave: back to idle, or, if a reset asked meanwhile, to cancelled (which lets the
        // reset go on). Only the worker moves the word away from BUSY or BUSY_CANCEL.
        if self
            .run
            .compare_exchange(
                self.seq << 2 | BUSY,
                idle,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_err()
        {
            self.run.store(self.seq << 2 | CANCELLED, Ordering::Release);
        }
        Some(r)
    }

    /// True once a reset abandoned the job.
    pub fn is_abandoned(&self) -> bool {
        self.run.load(Ordering::Acquire) != self.seq << 2 | IDLE
    }
}

/// A bounded in-order job queue with fences; see the module documentation.
pub struct JobQueue<J> {
    state: IrqSpinLock<State<J>>,
    run: AtomicU64,
    capacity: usize,
    /// Run a ready job with the earliest deadline first (see the module docs).
    by_deadline: bool,
}

impl<J> fmt::Debug for JobQueue<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobQueue")
            .field("capacity", &self.capacity)
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl<J> JobQueue<J> {
    /// An empty queue holding at most `capacity` jobs (queued plus running; at least 1).
    /// Allocates its storage once, here.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            state: IrqSpinLock::new(State {
                queue: VecDeque::with_capacity(capacity),
                running: None,
                stalled: false,
                worker: None,
                next_seq: 1,
                reserved: 0,
            }),
            run: AtomicU64::new(0),
            capacity,
            by_deadline: false,
        }
    }

    /// Like [`JobQueue::new`], but the worker takes first the job whose completion fence has
    /// the earliest deadline and whose in-fence has signalled (see the module docs).
    pub fn deadline_ordered(capacity: usize) -> Self {
        Self {
            by_deadline: true,
            ..Self::new(capacity)
        }
    }

    /// The queued job (not the head) whose completion fence has the earliest deadline, with
    /// its in-fence: the candidate to run before the head.
    fn most_urgent(&self) -> Option<(u64, Option<Fence>)> {
        // Reading a producer's deadline takes only that fence's lock (a leaf lock that runs
        // no callback), so it may be read under the queue's lock.
        self.with(|s| {
            let head = s.queue.front().and_then(|q| q.done.deadline());
            let (at, q) = s
                .queue
                .iter()
                .skip(1)
                .filter_map(|q| q.done.deadline().map(|d| (d, q)))
                .min_by_key(|(d, _)| *d)?;
            head.is_none_or(|h| at < h)
                .then(|| (q.seq, q.in_fence.clone()))
        })
    }

    /// Runs `f` on the shared state under the queue's lock (interrupts masked, a few
    /// instructions of bookkeeping: nothing in `f` signals, waits or runs user code).
    fn with<R>(&self, f: impl FnOnce(&mut State<J>) -> R) -> R {
        f(&mut self.state.lock())
    }

    /// Jobs it holds at most (queued plus running).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs accepted and not yet completed (queued plus running, plus places reserved by
    /// submissions in progress).
    pub fn pending(&self) -> usize {
        self.with(|s| s.queue.len() + s.reserved + usize::from(s.running.is_some()))
    }

    /// Queues `job` to run after `in_fence`; returns the fence that signals when it has
    /// run. Gives `job` back when the queue is full.
    pub fn push(&self, job: J, in_fence: Option<&Fence>) -> Result<Fence, J> {
        match self.reserve() {
            Some(t) => {
                let f = t.fence();
                t.commit(job, in_fence);
                Ok(f)
            }
            None => Err(job),
        }
    }

    /// Reserves a place in the queue and the job's completion fence, without making a job
    /// visible to the worker yet; `None` when the queue is full. A submission uses this to
    /// hand the fence to `Locked::unlock_after` *before* the job can run, so a job never
    /// runs on buffers whose lock could not be handed over.
    pub fn reserve(&self) -> Option<Ticket<'_, J>> {
        self.with(|s| {
            if s.queue.len() + s.reserved + usize::from(s.running.is_some()) >= self.capacity {
                return None;
            }
            s.reserved += 1;
            Some(())
        })?;
        // A fresh context per job: jobs of concurrent submitters may be committed in
        // another order than reserved, and fences of one timeline must signal in order.
        let done = FenceProducer::one_off();
        Some(Ticket {
            queue: self,
            done: Some(done),
        })
    }

    /// Fault injection: while stalled the worker takes no new job (a hung engine); queued
    /// jobs stay queued with their fences pending. [`JobQueue::reset`] clears it.
    pub fn set_stalled(&self, stalled: bool) {
        let worker = self.with(|s| {
            s.stalled = stalled;
            s.worker.clone()
        });
        if let Some(w) = worker {
            platform::unpark(&w);
        }
    }

    /// True while stalled.
    pub fn is_stalled(&self) -> bool {
        self.with(|s| s.stalled)
    }

    /// Abandons the running job and every queued one, oldest first: each fence signals
    /// `DeviceError(ABANDONED)`. Clears a stall. Returns how many were abandoned.
    ///
    /// When it returns, the worker makes no further memory access for an abandoned job.
    /// It waits for an access in progress ([`RunGuard::access`]), which is bounded.
    pub fn reset(&self) -> usize {
        // Storage for the jobs to come, allocated outside the lock.
        let fresh = VecDeque::with_capacity(self.capacity);
        let (running, queued, worker) = self.with(|s| {
            s.stalled = false;
            let queued = core::mem::replace(&mut s.queue, fresh);
            (s.running.take(), queued, s.worker.clone())
        });
        let mut n = 0;
        if let Some((seq, done)) = running {
            // Shut the job's access gate: no new access may start, and one in progress
            // is waited out (it is bounded: a row, a chunk).
            let word = |phase| seq << 2 | phase;
            loop {
                let cur = self.run.load(Ordering::Acquire);
                if cur >> 2 != seq || cur == word(CANCELLED) {
                    // The worker moved on to another job, or the gate is shut.
                    break;
                }
                let next = match cur & 3 {
                    IDLE => word(CANCELLED),
                    BUSY => word(BUSY_CANCEL),
                    _ => {
                        platform::relax();
                        continue;
                    }
                };
                let _ = self
                    .run
                    .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire);
            }
            done.signal_error(FenceError::DeviceError(ABANDONED));
            n += 1;
        }
        for q in queued {
            q.done.signal_error(FenceError::DeviceError(ABANDONED));
            n += 1;
        }
        if let Some(w) = worker {
            platform::unpark(&w);
        }
        n
    }

    /// Wakes the worker if it is parked (e.g. after setting its stop flag).
    pub fn wake_worker(&self) {
        if let Some(w) = self.with(|s| s.worker.clone()) {
            platform::unpark(&w);
        }
    }

    /// The worker: takes the oldest job, waits for its in-fence, runs `exec` on it and
    /// signals its fence with `exec`'s result. `stop` is consulted while waiting for an
    /// in-fence (the job then goes back to the head of the queue).
    ///
    /// Only one job runs at a time: while one runs, other callers get [`Step::Idle`].
    pub fn run_one(
        &self,
        stop: &AtomicBool,
        exec: impl FnOnce(&J, &RunGuard<'_>) -> FenceResult,
    ) -> Step {
        self.run_inner(stop, false, exec)
    }

    /// Like [`JobQueue::run_one`], but never waits: when the oldest job's in-fence has not
    /// signalled yet, returns [`Step::Waiting`] and leaves it queued. For devices serviced
    /// from a loop that must not block (a display's vblank).
    pub fn run_ready(&self, exec: impl FnOnce(&J, &RunGuard<'_>) -> FenceResult) -> Step {
        self.run_inner(&AtomicBool::new(false), true, exec)
    }

    fn run_inner(
        &self,
        stop: &AtomicBool,
        only_ready: bool,
        exec: impl FnOnce(&J, &RunGuard<'_>) -> FenceResult,
    ) -> Step {
        // Only the head's in-fence is looked at here, outside the lock:
        // checking a fence may signal it (a memory-backed one) and run its callbacks.
        let mut ready_seq = None;
        if self.by_deadline
            && let Some((seq, in_fence)) = self.most_urgent()
            && in_fence.as_ref().is_none_or(Fence::is_signalled)
        {
            ready_seq = Some(seq);
        }
        if only_ready && ready_seq.is_none() {
            let head = self.with(|s| s.queue.front().map(|q| (q.seq, q.in_fence.clone())));
            match head {
                None => return Step::Idle,
                Some((_, Some(f))) if !f.is_signalled() => return Step::Waiting,
                Some((seq, _)) => ready_seq = Some(seq),
            }
        }
        let taken = self.with(|s| {
            if s.stalled || s.running.is_some() {
                return None;
            }
            let at = match ready_seq {
                None => 0,
                Some(seq) => match s.queue.iter().position(|q| q.seq == seq) {
                    Some(i) => i,
                    // A reset replaced the queue meanwhile; the caller looks again.
                    None => return None,
                },
            };
            let q = s.queue.remove(at)?;
            s.running = Some((q.seq, q.done));
            self.run.store(q.seq << 2 | IDLE, Ordering::Release);
            Some((q.seq, q.job, q.in_fence))
        });
        let Some((seq, job, in_fence)) = taken else {
            return Step::Idle;
        };
        let guard = RunGuard {
            run: &self.run,
            seq,
        };
        let mut result: FenceResult = Ok(());
        if let Some(f) = &in_fence {
            loop {
                match f.wait_until(Some(platform::now().saturating_add(POLL))) {
                    FenceStatus::Ok => break,
                    FenceStatus::Err(e) => {
                        result = Err(e);
                        break;
                    }
                    FenceStatus::Pending => {}
                }
                if guard.is_abandoned() {
                    return Step::Abandoned;
                }
                if stop.load(Ordering::Acquire) {
                    return if self.put_back(seq, in_fence.clone(), job) {
                        Step::Deferred
                    } else {
                        Step::Abandoned
                    };
                }
            }
        }
        if result.is_ok() {
            result = exec(&job, &guard);
        }
        drop(job);
        self.finish(seq, result)
    }

    /// Returns a job that waited for its in-fence to the head of the queue. `false` (and
    /// the job dropped) if a reset abandoned it meanwhile.
    fn put_back(&self, seq: u64, in_fence: Option<Fence>, job: J) -> bool {
        self.with(|s| match s.running.take() {
            Some((rs, done)) if rs == seq => {
                s.queue.push_front(Queued {
                    seq,
                    job,
                    in_fence,
                    done,
                });
                true
            }
            other => {
                s.running = other;
                false
            }
        })
    }

    /// Signals the job's fence unless a reset took it; outside the lock.
    fn finish(&self, seq: u64, result: FenceResult) -> Step {
        let done = self.with(|s| match s.running.take() {
            Some((rs, done)) if rs == seq => Some(done),
            other => {
                s.running = other;
                None
            }
        });
        match done {
            Some(done) => {
                match result {
                    Ok(()) => done.signal(),
                    Err(e) => done.signal_error(e),
                }
                Step::Completed(result)
            }
            None => Step::Abandoned,
        }
    }

    /// Parks the calling worker until a submission, a stall change, a reset or
    /// [`JobQueue::wake_worker`] — or about `idle` passed — unless there is a job to take.
    pub fn park_idle(&self, idle: Duration) {
        let me = platform::unparker();
        let work = self.with(|s| {
            s.worker = Some(me);
            !s.stalled && s.running.is_none() && !s.queue.is_empty()
        });
        if !work {
            platform::park(Some(platform::now().saturating_add(idle)));
        }
    }

    /// The worker loop: runs jobs until `stop` is set, parking when there is nothing to do.
    /// `exec` runs each job (see [`JobQueue::run_one`]).
    pub fn run(&self, stop: &AtomicBool, mut exec: impl FnMut(&J, &RunGuard<'_>) -> FenceResult) {
        while !stop.load(Ordering::Acquire) {
            match self.run_one(stop, &mut exec) {
                Step::Idle | Step::Waiting => self.park_idle(Duration::from_millis(10)),
                Step::Completed(_) | Step::Abandoned | Step::Deferred => {}
            }
        }
    }
}

/// A reserved place in a [`JobQueue`] and the job's completion fence; see
/// [`JobQueue::reserve`]. Dropping it unused frees the place and signals the fence
/// `Cancelled`.
pub struct Ticket<'q, J> {
    queue: &'q JobQueue<J>,
    done: Option<FenceProducer>,
}

impl<J> fmt::Debug for Ticket<'_, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").field("done", &self.done).finish()
    }
}

impl<J> Ticket<'_, J> {
    /// The fence that signals when the job has run.
    pub fn fence(&self) -> Fence {
        self.done
            .as_ref()
            .map(FenceProducer::fence)
            .unwrap_or_else(|| {
                // Unreachable: `done` is taken only by `commit`/`abort`, which consume self.
                Fence::signalled(Err(FenceError::Cancelled))
            })
    }

    /// Makes the job visible to the worker, to run after `in_fence`.
    pub fn commit(mut self, job: J, in_fence: Option<&Fence>) {
        let Some(done) = self.done.take() else {
            return;
        };
        let in_fence = in_fence.cloned();
        let q = self.queue;
        let worker = q.with(|s| {
            s.reserved -= 1;
            let seq = s.next_seq;
            s.next_seq += 1;
            s.queue.push_back(Queued {
                seq,
                job,
                in_fence,
                done,
            });
            s.worker.clone()
        });
        if let Some(w) = worker {
            platform::unpark(&w);
        }
    }

    /// Gives the place back and signals the fence with `error`: the job will not run.
    pub fn abort(mut self, error: FenceError) {
        self.release();
        if let Some(done) = self.done.take() {
            done.signal_error(error);
        }
    }

    fn release(&self) {
        self.queue.with(|s| s.reserved -= 1);
    }
}

impl<J> Drop for Ticket<'_, J> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            self.release();
            done.signal_error(FenceError::Cancelled);
        }
    }
}
