//! One lock of a sync set while it is held: its done fence, its deadline, and the protocol
//! that lets the watchdog take the buffers back without racing a guard in use.
//!
//! The state word counts CPU guard uses in progress and carries an `EXPIRING` flag:
//! - a guard use enters only while `EXPIRING` is clear, and leaves by decrementing;
//! - the watchdog sets `EXPIRING`; whoever then sees zero uses (the watchdog itself, or the
//!   last guard use leaving) completes the expiry: takes the done producer and signals it
//!   with `Timeout`, which releases the waiters;
//! - unlocking takes the done producer and signals it `Ok`.
//!
//! The done producer sits in an `Option` under a spin lock, so exactly one of "unlock",
//! "expiry" and "the device finished" (after [`Locked::unlock_after`]) signals it: there is
//! never a silent unlock, and the waiters are never released while a guard is in use.
//!
//! [`Locked::unlock_after`]: super::set::Locked::unlock_after

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::pin::Pin;

use crate::fence::{FenceCallback, FenceError, FenceProducer, FenceResult};
use crate::shim::atomic::{AtomicU8, AtomicU32, Ordering};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::platform::Instant;

use super::policy::Access;

const EXPIRING: u32 = 1 << 31;
const USERS: u32 = EXPIRING - 1;

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
            outcome: AtomicU8::new(Outcome::Held as u8),
            completion: IrqSpinLock::new(None),
        })
    }

    /// A guard use starts: `Err` once the watchdog has started taking the buffers back.
    pub(crate) fn enter(&self) -> Result<(), super::SyncError> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & EXPIRING != 0 || self.outcome() != Outcome::Held {
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

    /// A guard use ends; the last one out completes a pending expiry.
    pub(crate) fn leave(&self) {
        let prev = self.state.fetch_sub(1, Ordering::AcqRel);
        if prev == EXPIRING | 1 {
            self.finish(Err(FenceError::Timeout), Outcome::Expired);
        }
    }

    /// The watchdog: past the deadline at `now`, starts the expiry (completed now if no
    /// guard is in use). Returns whether this call expired the holder.
    pub(crate) fn expire_if_overdue(&self, now: Instant) -> bool {
        if now < self.deadline || self.outcome() != Outcome::Held {
            return false;
        }
        let prev = self.state.fetch_or(EXPIRING, Ordering::AcqRel);
        if prev & EXPIRING != 0 {
            return false;
        }
        if prev & USERS == 0 {
            return self.finish(Err(FenceError::Timeout), Outcome::Expired);
        }
        // A guard use is in progress: it completes the expiry when it leaves.
        true
    }

    /// Releases the buffers with `result`, unless the watchdog took them first.
    pub(crate) fn release(&self, result: FenceResult) -> Result<(), super::SyncError> {
        if self.finish(result, Outcome::Released) {
            Ok(())
        } else {
            Err(super::SyncError::Expired)
        }
    }

    /// Signals the done fence once; `true` if this call did.
    fn finish(&self, result: FenceResult, outcome: Outcome) -> bool {
        let producer = {
            let mut g = self.done.lock();
            g.with(|d| d.take())
        };
        let Some(producer) = producer else {
            return false;
        };
        // Release: whoever sees the outcome also sees everything before it (as the spin
        // lock that held it before did); only the taker of `done` writes it.
        self.outcome.store(outcome as u8, Ordering::Release);
        match result {
            Ok(()) => producer.signal(),
            Err(e) => producer.signal_error(e),
        }
        true
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
