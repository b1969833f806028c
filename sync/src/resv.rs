//! Reservation objects: per-buffer fence slots by usage, published under a ww-mutex.
//!
//! A [`ReservationObject`] is what every shared buffer carries (Linux's `dma_resv`): a
//! wound/wait mutex of the Wait-Die class (so a submission can lock many buffers without
//! deadlock, see [`crate::ww`]) plus the fences of the work that uses the buffer, each
//! tagged with a [`Usage`]. Ordering lives in the fences; the lock is held only to publish
//! them.
//!
//! Writers (lock held) [`ResvGuard::reserve`] slots — the only step that can fail — and
//! then, past the point of no return, [`FenceSlot::add`] fences, which cannot fail. A fence
//! replaces an older one of the same timeline. Readers need no lock: [`ReservationObject::
//! test_signalled`], [`ReservationObject::wait_timeout`], [`ReservationObject::fences`] and
//! [`ReservationObject::aggregate`] take a snapshot under a short internal spin lock and
//! wait outside it.
//!
//! Storage is a fixed array of `N` slots (const generic, default 8): no allocation on any
//! path, and "reserve" fails cleanly when the buffer has `N` unsignalled fences from
//! different timelines (signalled ones are pruned to make room).
//!
//! ```
//! use core::time::Duration;
//! use dmasync_sync::fence::Timeline;
//! use dmasync_sync::resv::{ReservationObject, Usage};
//!
//! let buf: ReservationObject = ReservationObject::new();
//! let engine = Timeline::new();
//! let job = engine.next_fence();
//! {
//!     let guard = buf.lock();
//!     let [slot] = guard.reserve::<1>().expect("room for one fence");
//!     // ... submit the job; from here on nothing may fail ...
//!     slot.add(&job.fence(), Usage::Write);
//! }
//! // A reader must wait for writers: Usage::for_access(false) == Usage::Write.
//! assert!(!buf.test_signalled(Usage::for_access(false)));
//! job.signal();
//! assert!(buf.wait_timeout(Usage::Read, Duration::from_secs(1)).is_signalled());
//! ```

use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

use crate::fence::{Fence, FenceStatus, all_of};
use crate::ww::{AcquireCtx, LockSet, WaitDie, WwError, WwGuard, WwMutex, WwMutexGuard};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::platform::{self, Instant};

/// How a fence uses the buffer. Ordered `Kernel < Write < Read < Bookkeep`; asking for a
/// usage means that class **and all below it**.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Usage {
    /// Memory management (migration, clears): everybody waits for these.
    Kernel,
    /// Implicitly synchronised writers.
    Write,
    /// Implicitly synchronised readers (readers do not wait for each other).
    Read,
    /// Not part of implicit sync (explicitly synced work, page-table updates): only memory
    /// management waits for these.
    Bookkeep,
}

impl Usage {
    /// The implicit-sync rule: a new **write** must wait for readers and writers
    /// ([`Usage::Read`]); a new **read** waits for writers only ([`Usage::Write`]).
    pub const fn for_access(write: bool) -> Usage {
        if write { Usage::Read } else { Usage::Write }
    }
}

/// Why [`ResvGuard::reserve`] failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResvError {
    /// Not enough free slots even after dropping signalled fences: the object holds
    /// `capacity` slots in total.
    NoSpace {
        /// The object's slot count `N`.
        capacity: usize,
    },
}

impl fmt::Display for ResvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResvError::NoSpace { capacity } => {
                write!(f, "no free fence slot (capacity {capacity})")
            }
        }
    }
}

impl core::error::Error for ResvError {}

/// The ww-mutex payload of a reservation object. Holding `&mut ResvLock` proves the lock
/// is held; a [`LockSet`] of many buffers hands these out (see
/// [`ReservationObject::locked_in`]).
#[derive(Debug, Default)]
pub struct ResvLock {
    _private: (),
}

struct Entry {
    fence: Fence,
    usage: Usage,
}

struct Slots<const N: usize> {
    entries: [Option<Entry>; N],
    /// Slots promised to outstanding [`FenceSlot`]s.
    reserved: usize,
}

impl<const N: usize> Slots<N> {
    fn used(&self) -> usize {
        self.entries.iter().filter(|e| e.is_some()).count()
    }

    /// Room for `k` more reservations without pruning.
    fn fits(&self, k: usize) -> bool {
        self.used() + self.reserved + k <= N
    }

    /// Where [`FenceSlot::add`] puts `fence`: the slot of a fence it implies (same
    /// timeline, not newer, and not in a lower — more widely waited-for — class), or of a
    /// fence that already signalled, else a free slot; never `skip`. `None`: no room.
    fn place(&self, fence: &Fence, usage: Usage, skip: Option<usize>) -> Option<usize> {
        let ctx = fence.context();
        let seqno = fence.seqno();
        let usable = |i: usize| skip != Some(i);
        self.entries
            .iter()
            .enumerate()
            .position(|(i, e)| {
                usable(i)
                    && e.as_ref().is_some_and(|e| {
                        (e.fence.context() == ctx && e.usage >= usage && e.fence.seqno() <= seqno)
                            || e.fence.inner.is_done_quietly()
                    })
            })
            .or_else(|| {
                // A free slot, unless outstanding reservations are promised all of them.
                let free = self.entries.iter().filter(|e| e.is_none()).count()
                    - usize::from(skip.is_some_and(|i| self.entries[i].is_none()));
                if free <= self.reserved {
                    return None;
                }
                self.entries
                    .iter()
                    .enumerate()
                    .position(|(i, e)| usable(i) && e.is_none())
            })
    }
}

/// A buffer's reservation object: a Wait-Die ww-mutex plus up to `N` fences by usage.
pub struct ReservationObject<const N: usize = 8> {
    ww: WwMutex<ResvLock, WaitDie>,
    slots: IrqSpinLock<Slots<N>>,
}

impl<const N: usize> fmt::Debug for ReservationObject<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (used, reserved) = {
            let mut g = self.slots.lock();
            g.with(|s| (s.used(), s.reserved))
        };
        f.debug_struct("ReservationObject")
            .field("locked", &self.ww.is_locked())
            .field("fences", &used)
            .field("reserved", &reserved)
            .field("capacity", &N)
            .finish()
    }
}

impl<const N: usize> Default for ReservationObject<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Fences moved out of the slots, dropped after the spin lock is released (a drop may
/// free a fence; keep that out of the interrupts-masked section).
type Evicted<const N: usize> = [Option<Fence>; N];

impl<const N: usize> ReservationObject<N> {
    /// An unlocked object with no fences.
    pub fn new() -> Self {
        ReservationObject {
            ww: WwMutex::new(ResvLock::default()),
            slots: IrqSpinLock::new(Slots {
                entries: [const { None }; N],
                reserved: 0,
            }),
        }
    }

    /// The number of fence slots.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The ww-mutex, for locking many buffers with an [`AcquireCtx`] or a [`LockSet`].
    pub fn ww_mutex(&self) -> &WwMutex<ResvLock, WaitDie> {
        &self.ww
    }

    /// Locks this object alone (no acquire context); may block, never fails.
    pub fn lock(&self) -> ResvGuard<'_, N> {
        ResvGuard {
            resv: self,
            _hold: Hold::Plain(self.ww.lock()),
        }
    }

    /// Locks without waiting, or `None` if someone holds it.
    pub fn try_lock(&self) -> Option<ResvGuard<'_, N>> {
        Some(ResvGuard {
            resv: self,
            _hold: Hold::Plain(self.ww.try_lock()?),
        })
    }

    /// Locks as part of the transaction `ctx` (see [`AcquireCtx::lock`]): `Deadlock` means
    /// back off, `Already` means `ctx` holds it already.
    pub fn lock_in<'a>(
        &'a self,
        ctx: &'a AcquireCtx<WaitDie>,
    ) -> Result<ResvGuard<'a, N>, WwError> {
        Ok(ResvGuard {
            resv: self,
            _hold: Hold::Ctx(ctx.lock(&self.ww)?),
        })
    }

    /// After a `Deadlock` and releasing everything: blocks for this object (see
    /// [`AcquireCtx::lock_slow`]).
    pub fn lock_slow_in<'a>(
        &'a self,
        ctx: &'a AcquireCtx<WaitDie>,
    ) -> Result<ResvGuard<'a, N>, WwError> {
        Ok(ResvGuard {
            resv: self,
            _hold: Hold::Ctx(ctx.lock_slow(&self.ww)?),
        })
    }

    /// The writer view of this object if `set` holds its lock (`None` otherwise). For
    /// submissions that lock all their buffers with [`LockSet::lock_all`].
    pub fn locked_in<'s>(
        &'s self,
        set: &'s mut LockSet<'_, ResvLock, WaitDie>,
    ) -> Option<ResvGuard<'s, N>> {
        let proof = set.get_mut(&self.ww)?;
        Some(ResvGuard {
            resv: self,
            _hold: Hold::Borrowed(proof),
        })
    }

    /// `true` if every fence of `usage` (and the classes below it) has signalled. No lock
    /// needed; never blocks. (A memory-backed fence counts as signalled once its word has
    /// passed.)
    pub fn test_signalled(&self, usage: Usage) -> bool {
        let mut g = self.slots.lock();
        g.with(|s| {
            s.entries
                .iter()
                .flatten()
                .filter(|e| e.usage <= usage)
                .all(|e| e.fence.inner.is_done_quietly())
        })
    }

    /// Waits for every fence of `usage` (and below) with one overall `timeout` (zero:
    /// poll). Returns [`FenceStatus::Pending`] if the timeout expired, else `Ok`, or the
    /// first error found (in slot order) if any fence failed.
    pub fn wait_timeout(&self, usage: Usage, timeout: Duration) -> FenceStatus {
        if timeout.is_zero() {
            return self
                .fences(usage)
                .fold(FenceStatus::Ok, |acc, (f, _)| combine(acc, f.status()));
        }
        self.wait_until(usage, Some(platform::now().saturating_add(timeout)))
    }

    /// Like [`ReservationObject::wait_timeout`] with an absolute deadline (`None`: forever).
    pub fn wait_until(&self, usage: Usage, deadline: Option<Instant>) -> FenceStatus {
        self.fences(usage).fold(FenceStatus::Ok, |acc, (f, _)| {
            if acc == FenceStatus::Pending {
                return acc;
            }
            combine(acc, f.wait_until(deadline))
        })
    }

    /// A snapshot of the fences of `usage` (and below), with their usage, in slot order.
    /// Includes signalled fences that were not yet pruned.
    pub fn fences(&self, usage: Usage) -> ResvFences<N> {
        let mut out: [Option<(Fence, Usage)>; N] = [const { None }; N];
        let mut g = self.slots.lock();
        g.with(|s| {
            let wanted = s.entries.iter().flatten().filter(|e| e.usage <= usage);
            for (slot, e) in out.iter_mut().zip(wanted) {
                *slot = Some((e.fence.clone(), e.usage));
            }
        });
        drop(g);
        ResvFences {
            items: out,
            next: 0,
        }
    }

    /// One fence for everything of `usage` (and below): a signalled stub if there is
    /// nothing, the fence itself if there is one, else an [`all_of`] aggregate (which
    /// allocates). Do not add it back to a reservation object; add its parts.
    pub fn aggregate(&self, usage: Usage) -> Fence {
        let mut fences = self.fences(usage);
        let first = match fences.next() {
            None => return Fence::signalled(Ok(())),
            Some((f, _)) => f,
        };
        match fences.next() {
            None => first,
            Some((second, _)) => {
                let rest: alloc::vec::Vec<Fence> = fences.map(|(f, _)| f).collect();
                all_of([&first, &second].into_iter().chain(rest.iter()))
            }
        }
    }

    /// The read-only side of this object: queries of its fences, no lock and no way to
    /// add one. What [`SyncBuffer::reservation`](crate::syncset::SyncBuffer::reservation)
    /// hands out, so that the sync set stays the only writer of its buffers' fences.
    pub fn view(&self) -> ResvView<'_, N> {
        ResvView { resv: self }
    }

    fn reserve_k(&self, k: usize) -> Result<(), ResvError> {
        let mut g = self.slots.lock();
        // Common case: room without pruning, so no eviction array to build and drop.
        if g.with(|s| s.fits(k)) {
            g.with(|s| s.reserved += k);
            return Ok(());
        }
        let mut evicted: Evicted<N> = [const { None }; N];
        let r = g.with(|s| {
            // Make room: signalled fences no longer order anything.
            for (slot, out) in s.entries.iter_mut().zip(evicted.iter_mut()) {
                if slot
                    .as_ref()
                    .is_some_and(|e| e.fence.inner.is_done_quietly())
                {
                    *out = slot.take().map(|e| e.fence);
                }
            }
            if !s.fits(k) {
                return Err(ResvError::NoSpace { capacity: N });
            }
            s.reserved += k;
            Ok(())
        });
        drop(g);
        drop(evicted);
        r
    }

    fn add(&self, fence: &Fence, usage: Usage) {
        let new = fence.clone();
        let mut g = self.slots.lock();
        let old = g.with(|s| {
            debug_assert!(s.reserved > 0);
            s.reserved -= 1;
            // The reservation guarantees a free slot when nothing is replaced:
            // used + reserved <= N holds under this lock, and we held one reservation.
            let idx = s.place(&new, usage, None).unwrap_or(0);
            s.entries[idx].replace(Entry { fence: new, usage })
        });
        drop(g);
        drop(old);
    }

    /// The sync sets' fast path: one slot-lock section that does what `reserve`, a check of
    /// the earlier fences and `add` do in several. Returns whether some fence of
    /// `wait_for` (or a class below it) is still pending, then publishes `done` with
    /// `done_usage` and, if given, `ready` with [`Usage::Kernel`], by the rules of
    /// [`FenceSlot::add`]. All or nothing: `Err(NoSpace)` publishes neither.
    ///
    /// Reached through [`ResvGuard::publish`], so the caller's transaction holds this
    /// object's ww-mutex (nobody else reserves or adds meanwhile), exactly as for
    /// [`ResvGuard::reserve`]; `ready` must not be on `done`'s timeline. The fences' earlier
    /// users are not snapshotted here (that would clone every fence): on `Ok(true)` take
    /// [`ReservationObject::fences`] while still holding the guard and skip the two fences
    /// just published.
    fn publish_locked(
        &self,
        wait_for: Usage,
        done: &Fence,
        done_usage: Usage,
        ready: Option<&Fence>,
    ) -> Result<bool, ResvError> {
        debug_assert!(
            self.ww.is_locked(),
            "publish_locked needs the ww-mutex held"
        );
        let done_new = done.clone();
        let ready_new = ready.cloned();
        let mut g = self.slots.lock();
        let r = g.with(|s| {
            let pending = s
                .entries
                .iter()
                .flatten()
                .any(|e| e.usage <= wait_for && !e.fence.inner.is_done_quietly());
            // Outstanding tokens of our own transaction (none in the sync sets) keep their
            // room: place only into slots that leave `reserved` of them free.
            let Some(i_done) = s.place(&done_new, done_usage, None) else {
                return Err(ResvError::NoSpace { capacity: N });
            };
            let i_ready = match &ready_new {
                Some(f) => match s.place(f, Usage::Kernel, Some(i_done)) {
                    Some(i) => Some(i),
                    None => return Err(ResvError::NoSpace { capacity: N }),
                },
                None => None,
            };
            let old_done = s.entries[i_done].replace(Entry {
                fence: done_new,
                usage: done_usage,
            });
            let old_ready = match (i_ready, ready_new) {
                (Some(i), Some(fence)) => s.entries[i].replace(Entry {
                    fence,
                    usage: Usage::Kernel,
                }),
                _ => None,
            };
            Ok((pending, old_done, old_ready))
        });
        drop(g);
        // Replaced fences are dropped outside the spin lock (a drop may free).
        r.map(|(pending, _old_done, _old_ready)| pending)
    }

    /// Takes back what [`ReservationObject::publish_locked`] published (`fences`, matched
    /// by identity), for a sync-set lock that fails on a later buffer. Fences those two
    /// replaced stay gone: they had signalled, or were implied by the new one, which the
    /// caller signals before it returns. Reached through [`ResvGuard::unpublish`].
    fn unpublish_locked(&self, fences: [Option<&Fence>; 2]) {
        debug_assert!(
            self.ww.is_locked(),
            "unpublish_locked needs the ww-mutex held"
        );
        let mut out: [Option<Entry>; 2] = [None, None];
        let mut g = self.slots.lock();
        g.with(|s| {
            let mut n = 0;
            for slot in s.entries.iter_mut() {
                let ours = slot
                    .as_ref()
                    .is_some_and(|e| fences.iter().flatten().any(|f| Fence::ptr_eq(&e.fence, f)));
                if ours && n < out.len() {
                    out[n] = slot.take();
                    n += 1;
                }
            }
        });
        drop(g);
        drop(out);
    }
}

fn combine(acc: FenceStatus, next: FenceStatus) -> FenceStatus {
    match (acc, next) {
        (FenceStatus::Pending, _) | (_, FenceStatus::Pending) => FenceStatus::Pending,
        (FenceStatus::Err(e), _) => FenceStatus::Err(e),
        (FenceStatus::Ok, n) => n,
    }
}

// The guards are held for their `Drop` (unlock) and the borrow for its lifetime.
#[allow(dead_code)]
enum Hold<'a> {
    Plain(WwMutexGuard<'a, ResvLock, WaitDie>),
    Ctx(WwGuard<'a, ResvLock, WaitDie>),
    Borrowed(&'a mut ResvLock),
}

/// Proof that a reservation object's ww-mutex is held: the writer side. Dropping it
/// unlocks (unless it borrows a [`LockSet`]'s lock, which the set releases).
///
/// Every constructor takes the lock of `resv` itself (or finds it in a lock set), so a
/// guard names the one object it holds ([`ResvGuard::object`]); since the ww-mutex admits
/// one holder, at most one guard per object exists at a time. The sync sets' tracker cell
/// relies on both (`SyncBuffer::tracker`).
#[must_use = "dropping the guard unlocks the reservation object"]
pub struct ResvGuard<'a, const N: usize = 8> {
    resv: &'a ReservationObject<N>,
    _hold: Hold<'a>,
}

impl<const N: usize> fmt::Debug for ResvGuard<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResvGuard").field(self.resv).finish()
    }
}

impl<'a, const N: usize> ResvGuard<'a, N> {
    /// The object this guard holds.
    pub fn object(&self) -> &'a ReservationObject<N> {
        self.resv
    }

    /// Reserves `K` slots and returns one token per slot. Fails only with
    /// [`ResvError::NoSpace`]. Adding through a token cannot fail; an unused token gives
    /// its slot back when dropped. Tokens borrow the guard: a reservation is only valid
    /// while the lock is held (Linux checks this at unlock in debug builds; here it does
    /// not compile).
    pub fn reserve<const K: usize>(&self) -> Result<[FenceSlot<'_, N>; K], ResvError> {
        self.resv.reserve_k(K)?;
        Ok(core::array::from_fn(|_| FenceSlot {
            resv: self.resv,
            _guard: PhantomData,
        }))
    }

    /// Reserves one slot (call repeatedly for a count known only at run time).
    pub fn reserve_one(&self) -> Result<FenceSlot<'_, N>, ResvError> {
        self.resv.reserve_k(1)?;
        Ok(FenceSlot {
            resv: self.resv,
            _guard: PhantomData,
        })
    }

    /// The sync sets' fused reserve + check + add, under this guard (the lock it needs is
    /// the guard's): see [`ReservationObject::publish_locked`].
    pub(crate) fn publish(
        &self,
        wait_for: Usage,
        done: &Fence,
        done_usage: Usage,
        ready: Option<&Fence>,
    ) -> Result<bool, ResvError> {
        self.resv.publish_locked(wait_for, done, done_usage, ready)
    }

    /// Takes back what [`ResvGuard::publish`] published, under this guard: see
    /// [`ReservationObject::unpublish_locked`].
    pub(crate) fn unpublish(&self, fences: [Option<&Fence>; 2]) {
        self.resv.unpublish_locked(fences)
    }
}

/// One reserved fence slot of a locked reservation object. [`FenceSlot::add`] consumes it
/// and cannot fail.
#[must_use = "an unused slot is given back when dropped"]
pub struct FenceSlot<'g, const N: usize = 8> {
    resv: &'g ReservationObject<N>,
    /// Ties the slot to the guard's borrow, so it cannot outlive the lock.
    _guard: PhantomData<&'g mut ()>,
}

impl<const N: usize> fmt::Debug for FenceSlot<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FenceSlot")
    }
}

impl<const N: usize> FenceSlot<'_, N> {
    /// Publishes `fence` with `usage`. If a fence of the same timeline with the same or a
    /// higher usage is there and `fence` is not older, `fence` replaces it (the later fence
    /// implies the earlier); a signalled fence's slot is reused; otherwise it takes the
    /// reserved free slot. Cannot fail.
    pub fn add(self, fence: &Fence, usage: Usage) {
        let resv = self.resv;
        core::mem::forget(self);
        resv.add(fence, usage);
    }
}

impl<const N: usize> Drop for FenceSlot<'_, N> {
    fn drop(&mut self) {
        let mut g = self.resv.slots.lock();
        g.with(|s| s.reserved -= 1);
    }
}

/// A read-only view of a [`ReservationObject`] ([`ReservationObject::view`]): the lock-free
/// queries, nothing that locks the object, reserves a slot or adds a fence, and no way back
/// to the object itself. Whoever owns an object but must let others see its fences (a
/// [`SyncBuffer`](crate::syncset::SyncBuffer)'s, which only its sync sets may lock) hands
/// out this.
#[derive(Clone, Copy)]
pub struct ResvView<'a, const N: usize = 8> {
    resv: &'a ReservationObject<N>,
}

impl<const N: usize> fmt::Debug for ResvView<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResvView").field(self.resv).finish()
    }
}

impl<const N: usize> ResvView<'_, N> {
    /// The number of fence slots ([`ReservationObject::capacity`]).
    pub const fn capacity(&self) -> usize {
        N
    }

    /// See [`ReservationObject::test_signalled`].
    pub fn test_signalled(&self, usage: Usage) -> bool {
        self.resv.test_signalled(usage)
    }

    /// See [`ReservationObject::wait_timeout`].
    pub fn wait_timeout(&self, usage: Usage, timeout: Duration) -> FenceStatus {
        self.resv.wait_timeout(usage, timeout)
    }

    /// See [`ReservationObject::wait_until`].
    pub fn wait_until(&self, usage: Usage, deadline: Option<Instant>) -> FenceStatus {
        self.resv.wait_until(usage, deadline)
    }

    /// See [`ReservationObject::fences`]: waiter handles only, which cannot signal.
    pub fn fences(&self, usage: Usage) -> ResvFences<N> {
        self.resv.fences(usage)
    }

    /// See [`ReservationObject::aggregate`].
    pub fn aggregate(&self, usage: Usage) -> Fence {
        self.resv.aggregate(usage)
    }
}

/// A snapshot of a reservation object's fences: yields `(fence, usage)`.
pub struct ResvFences<const N: usize = 8> {
    items: [Option<(Fence, Usage)>; N],
    next: usize,
}

impl<const N: usize> fmt::Debug for ResvFences<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.items[self.next..].iter().flatten())
            .finish()
    }
}

impl<const N: usize> Iterator for ResvFences<N> {
    type Item = (Fence, Usage);

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.items.get_mut(self.next)?.take();
        self.next += 1;
        item
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
