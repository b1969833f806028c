//! One lock of a sync set while it is held: its done fence, its deadline, and the protocol
//! that lets the watchdog take the buffers back without racing a use in progress.
//!
//! The state word counts uses in progress — CPU guard uses, device bursts through a
//! [`DeviceLease`], and the whole of a device job handed over with
//! [`Locked::unlock_after`] — and carries two flags, `EXPIRING` and `RELEASING`, of which
//! exactly one is ever set (whoever sets one first wins; the other is refused):
//! - a use enters only while both flags are clear, and leaves by decrementing;
//! - the watchdog sets `EXPIRING`, a release sets `RELEASING` (with its result stored
//!   first); whoever then sees zero uses (the setter itself, or the last use leaving)
//!   completes it: takes the done producer and signals it, with `Timeout` for an expiry,
//!   with the stored result for a release.
//!
//! So the waiters are never released while a use is in progress, whether the holder ends
//! by expiry or by release, and a use that starts after either began is refused.
//!
//! The done producer sits in an `Option` under a spin lock, so it is signalled exactly
//! once: there is never a silent unlock.
//!
//! [`Locked::unlock_after`]: super::set::Locked::unlock_after
//! [`DeviceLease`]: super::lease::DeviceLease

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::pin::Pin;

use crate::fence::{FenceCallback, FenceError, FenceProducer, FenceResult};
use crate::shim::atomic::{AtomicU8, AtomicU32, Ordering};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::platform::Instant;

use super::policy::Access;

/// The deadline of a hold the watchdog never ends: the end of time, which
/// `Instant::saturating_add` gives for `Duration::MAX` (`SyncSet::hold_without_deadline`).
pub(crate) const NEVER: Instant = Instant(u64::MAX);

const EXPIRING: u32 = 1 << 31;
const RELEASING: u32 = 1 << 30;
/// Either flag: the holder is ending, no use may enter.
const ENDING: u32 = EXPIRING | RELEASING;
const USERS: u32 = RELEASING - 1;

/// The buffers a holder holds, with their access types (for the debug dump). Shared with
/// the sync set, which builds it once per registration change, not once per lock.
pub(crate) type HeldBuffers = Arc<[(&'static str, Access)]>;

pub(crate) type Completion = Pin<Box<FenceCallback<Box<dyn FnMut(FenceResult) + Send>>>>;

/// How a holder's done fence was (or will be) signalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Outcome {
    /// Still held.
    Held,
    /// Released by its owner (or by its device's completion).
    Released,
    /// Taken back by the watchdog.
    Expired,
}

pub(crate) struct Holder {
    pub(crate) set_id: u64,
    pub(crate) deadline: Instant,
    pub(crate) buffers: HeldBuffers,
    state: AtomicU32,
    done: IrqSpinLock<Option<FenceProducer>>,
    /// What a release signals `done` with, stored before `RELEASING` is set, for the last
    /// use out. A holder is released at most once (its `Locked`, or its job's completion).
    result: IrqSpinLock<FenceResult>,
    /// An [`Outcome`], written once (by whoever takes `done`) before the fence signals.
    outcome: AtomicU8,
    /// The callback that signals `done` when the device finishes (`unlock_after`).
    pub(crate) completion: IrqSpinLock<Option<Completion>>,
}

impl core::fmt::Debug for Holder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Holder")
            .field("set", &self.set_id)
            .field("deadline", &self.deadline)
            .field("buffers", &self.buffers)
            .finish_non_exhaustive()
    }
}

impl Holder {
    pub(crate) fn new(
        set_id: u64,
        deadline: Instant,
        buffers: HeldBuffers,
        done: FenceProducer,
    ) -> Arc<Self> {
        Arc::new(Self {
            set_id,
            deadline,
            buffers,
            state: AtomicU32::new(0),
            done: IrqSpinLock::new(Some(done)),
            result: IrqSpinLock::new(Ok(())),
            outcome: AtomicU8::new(Outcome::Held as u8),
            completion: IrqSpinLock::new(None),
        })
    }

    /// Makes a finished holder of the same set the holder of a new lock, in place of a
    /// fresh allocation. `&mut` proves no one else can see it: the caller got it from
    /// [`Arc::get_mut`], so no watchdog list, lease, completion callback or guard holds a
    /// reference (strong or weak) that could observe the old state changing.
    pub(crate) fn renew(&mut self, deadline: Instant, buffers: HeldBuffers, done: FenceProducer) {
        self.deadline = deadline;
        self.buffers = buffers;
        // Plain stores through `&mut` (loom's atomics have no `get_mut`): nobody else sees
        // them; the `Arc` that publishes this holder to the watchdog orders them.
        self.state.store(0, Ordering::Relaxed);
        *self.done.get_mut() = Some(done);
        *self.result.get_mut() = Ok(());
        self.outcome.store(Outcome::Held as u8, Ordering::Relaxed);
        *self.completion.get_mut() = None;
    }

    /// A use starts: `Err` once the watchdog has started taking the buffers back, or the
    /// holder is being released.
    pub(crate) fn enter(&self) -> Result<(), super::SyncError> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & ENDING != 0 || self.outcome() != Outcome::Held {
                return Err(super::SyncError::Expired);
            }
            debug_assert!(s & USERS < USERS);
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => s = now,
            }
        }
    }

    /// `Err(Expired)` once the watchdog has started taking the buffers back: checked before
    /// handing out a guard or a bus address.
    pub(crate) fn ensure_live(&self) -> Result<(), super::SyncError> {
        self.enter()?;
        self.leave();
        Ok(())
    }

    /// True once the watchdog has started (or completed) taking the buffers back.
    pub(crate) fn is_expiring(&self) -> bool {
        self.state.load(Ordering::Acquire) & EXPIRING != 0 || self.outcome() == Outcome::Expired
    }

    /// A use ends; the last one out completes a pending expiry or release. Returns whether
    /// an expiry had started before this use ended (the use ran to its end, but the holder
    /// is lost: its waiters get `Timeout`).
    pub(crate) fn leave(&self) -> bool {
        let prev = self.state.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(prev & USERS > 0, "leave without enter");
        if prev & USERS == 1 {
            self.complete(prev);
        }
        prev & EXPIRING != 0
    }

    /// No use is left and `flags` says how the holder ends: signal `done` accordingly.
    fn complete(&self, flags: u32) {
        if flags & EXPIRING != 0 {
            self.finish(Err(FenceError::Timeout), Outcome::Expired);
        } else if flags & RELEASING != 0 {
            let result = {
                let mut g = self.result.lock();
                g.with(|r| *r)
            };
            self.finish(result, Outcome::Released);
        }
    }

    /// The watchdog: past the deadline at `now`, starts the expiry (completed now if no
    /// use is in progress, else by the last use out). Returns whether this call expired the
    /// holder: `false` when it is not overdue, or a release or an expiry began first.
    /// A deadline at the end of time ([`NEVER`]: a set held without deadline, or one so
    /// long it saturated) is never overdue.
    pub(crate) fn expire_if_overdue(&self, now: Instant) -> bool {
        if self.deadline == NEVER || now < self.deadline || self.outcome() != Outcome::Held {
            return false;
        }
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & ENDING != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | EXPIRING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if s & USERS == 0 {
            self.complete(EXPIRING);
        }
        true
    }

    /// Releases the buffers with `result` (at once, or when the uses in progress — a
    /// device burst — have ended), unless the watchdog started taking them back first.
    pub(crate) fn release(&self, result: FenceResult) -> Result<(), super::SyncError> {
        // The common case, no use in progress and no expiry begun: `RELEASING` with no use
        // left means nobody else will complete the holder (uses cannot enter any more and
        // the watchdog's CAS needs both flags clear), so this call completes it directly,
        // without storing the result for a last use out.
        if self
            .state
            .compare_exchange(0, RELEASING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.finish(result, Outcome::Released);
            return Ok(());
        }
        // The release counts as a use of its own while it sets the flag, so the last one
        // out (maybe this call) completes it.
        if self.begin_release(result, 1) {
            self.leave();
            Ok(())
        } else {
            Err(super::SyncError::Expired)
        }
    }

    /// The job that was one use since [`Locked::unlock_after`] ended with `result`:
    /// releases with it unless an expiry began meanwhile, and ends the job's use (which
    /// completes an expiry that was waiting for it).
    ///
    /// [`Locked::unlock_after`]: super::set::Locked::unlock_after
    pub(crate) fn release_job(&self, result: FenceResult) -> Result<(), super::SyncError> {
        let won = self.begin_release(result, 0);
        self.leave();
        if won {
            Ok(())
        } else {
            Err(super::SyncError::Expired)
        }
    }

    /// Sets `RELEASING` (adding `uses`) unless the holder is already ending.
    fn begin_release(&self, result: FenceResult, uses: u32) -> bool {
        // Stored before the flag, so whoever sees the flag finds the result.
        {
            let mut g = self.result.lock();
            g.with(|r| *r = result);
        }
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & ENDING != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                (s + uses) | RELEASING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Signals the done fence (once: the state word lets only one completion through; the
    /// `Option` makes a second one a no-op).
    fn finish(&self, result: FenceResult, outcome: Outcome) {
        let producer = {
            let mut g = self.done.lock();
            g.with(|d| d.take())
        };
        let Some(producer) = producer else {
            return;
        };
        // Release: whoever sees the outcome also sees everything before it (as the spin
        // lock that held it before did); only the taker of `done` writes it.
        self.outcome.store(outcome as u8, Ordering::Release);
        match result {
            Ok(()) => producer.signal(),
            Err(e) => producer.signal_error(e),
        }
    }

    pub(crate) fn outcome(&self) -> Outcome {
        match self.outcome.load(Ordering::Acquire) {
            x if x == Outcome::Held as u8 => Outcome::Held,
            x if x == Outcome::Released as u8 => Outcome::Released,
            _ => Outcome::Expired,
        }
    }

    /// True when the domain may drop its reference: the holder has finished, and its
    /// completion callback (if any) is no longer queued or running — unhooked here if its
    /// fence is still pending. While the callback runs, the domain's reference keeps the
    /// holder alive, so the callback's own reference is never the last one: dropping the
    /// holder drops the callback node, which must never happen inside that callback.
    pub(crate) fn is_reclaimable(&self) -> bool {
        if !self.is_finished() {
            return false;
        }
        let mut g = self.completion.lock();
        g.with(|c| match c {
            Some(cb) => cb.as_mut().try_remove().is_some(),
            None => true,
        })
    }

    /// True once the done fence has been signalled (by anyone).
    pub(crate) fn is_finished(&self) -> bool {
        self.outcome() != Outcome::Held
    }
}
