//! The acquire context: one transaction's stamp, lock count and back-off state.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

#[cfg(dmasync_misuse)]
use super::misuse::{self, CtxChecks};
use super::mutex::{Requester, WwGuard, WwMutex};
use super::{WwClass, WwError};
use crate::shim::UnsafeCell;
use crate::shim::atomic::{AtomicU8, Ordering};
use dmasync_hal::platform;

/// The ticket dispenser for stamps: one for all classes (stamps only need to be unique and
/// ordered within a class, which a global counter gives for free). Lower = older.
///
/// A plain `core` atomic rather than the loom shim's: it lives in a `static`, which loom's
/// atomics cannot, and only the uniqueness of the values matters, not how loom interleaves
/// the increments.
static NEXT_STAMP: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

/// The part of a context that other threads touch, through the pointer published in the
/// mutexes it holds. The pointer doubles as the owner tag in the mutex's state word, hence
/// the alignment (the low bits are flags).
///
/// It lives on the heap, not in the [`AcquireCtx`], so its address stays valid however
/// safe code moves, forgets or drops the context: given back (to the pool of
/// [`records`], or freed) only when the context drops holding nothing, leaked (never freed,
/// never reused) when a leaked guard's mutex may still name it.
#[repr(align(8))]
pub(crate) struct CtxCore {
    /// Immutable for the context's life; read by contenders to compare ages.
    pub(crate) stamp: u64,
    /// [`WOUNDED`] | [`READY`]. One word for both, so the wound/park handshake needs no
    /// SeqCst: all read-modify-writes of one location are totally ordered, so either the
    /// wounder's `fetch_or(WOUNDED)` sees `READY` (and unparks us) or our
    /// `fetch_or(READY)` comes after it and our next look sees `WOUNDED`.
    wake: AtomicU8,
    /// Written once by the owner thread before it sets `READY`, then only read.
    unparker: UnsafeCell<Option<platform::Unparker>>,
}

impl CtxCore {
    /// A fresh record: the given stamp, not wounded, no unparker yet.
    fn fresh(stamp: u64) -> Self {
        Self {
            stamp,
            wake: AtomicU8::new(0),
            unparker: UnsafeCell::new(None),
        }
    }

    /// Makes a reused record fresh (not wounded, not `READY`, no unparker): the last
    /// owner's unparker would wake the wrong thread. In place, through the atomics and the
    /// cell, so loom checks these writes against every other access to the record.
    /// Called only by the pool's `take`, which holds the record alone.
    fn reset(&self) {
        self.wake.store(0, Ordering::Relaxed);
        // SAFETY: only the pool's `take` calls this, on a record it alone holds: no owner
        // and no contender can read `unparker` now (see `records`).
        self.unparker.with_mut(|p| unsafe { *p = None });
    }
}

/// The pool of idle owner records: [`SLOTS`] words, each null or one record nobody uses.
///
/// Why a pool: a heap allocation and free per transaction cost ~230 instructions on
/// target, more than the rest of `AcquireCtx::new` and drop together (doc/benchmarks.md).
/// Each slot holds at most one record and is only ever swapped whole (take: `swap` to
/// null; put: `compare_exchange` null -> record), so a record is in one place at a time and
/// there is no ABA: a slot never needs to know what was in it before. A record enters the
/// pool only from the drop of a context that holds no lock (see `AcquireCtx::drop`), so no
/// mutex names a pooled record; the put's `Release` and the take's `Acquire` order the old
/// owner's (and, through its unlocks, every contender's) accesses before the new owner's
/// re-initialisation.
pub(crate) mod records {
    use super::CtxCore;
    use crate::shim::atomic::{AtomicPtr, Ordering};
    use alloc::boxed::Box;
    use core::ptr::{self, NonNull};

    /// Idle records kept: enough for one transaction per core of the SoCs we run on, with
    /// room for a few threads on a host; more go back to the heap.
    pub(crate) const SLOTS: usize = 8;

    #[cfg(not(loom))]
    static POOL: [AtomicPtr<CtxCore>; SLOTS] = [const { AtomicPtr::new(ptr::null_mut()) }; SLOTS];

    // loom's atomics cannot be built in a const context; its lazy statics are rebuilt for
    // every explored execution (records left in them leak, which loom does not track).
    #[cfg(loom)]
    loom::lazy_static! {
        static ref POOL: [AtomicPtr<CtxCore>; SLOTS] =
            core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut()));
    }

    /// A record for a new context, with `stamp`, not wounded and without unparker:
    /// an idle one from the pool, or a new heap allocation.
    #[inline]
    pub(crate) fn take(stamp: u64) -> NonNull<CtxCore> {
        for slot in POOL.iter() {
            if slot.load(Ordering::Relaxed).is_null() {
                continue;
            }
            if let Some(rec) = NonNull::new(slot.swap(ptr::null_mut(), Ordering::Acquire)) {
                // SAFETY: the swap took the record out of the pool, so we are its only
                // user: it came from `Box::leak` (`alloc` below), entered the pool only from
                // a context that held no lock (no mutex names it, no contender will read it;
                // see the module doc), and no other `take` can have it. The stamp is the
                // one plain field; no reference to the record is alive.
                unsafe { (*rec.as_ptr()).stamp = stamp };
                // SAFETY: as above; shared from here on, like every record.
                unsafe { rec.as_ref() }.reset();
                return rec;
            }
        }
        alloc(stamp)
    }

    #[cold]
    #[inline(never)]
    fn alloc(stamp: u64) -> NonNull<CtxCore> {
        NonNull::from(Box::leak(Box::new(CtxCore::fresh(stamp))))
    }

    /// Gives back the record of a context dropped holding no lock. The caller guarantees
    /// no mutex names `rec` and its owner is gone (the only caller is `AcquireCtx::drop`).
    #[inline]
    pub(crate) fn put(rec: NonNull<CtxCore>) {
        for slot in POOL.iter() {
            if slot.load(Ordering::Relaxed).is_null()
                && slot
                    .compare_exchange(
                        ptr::null_mut(),
                        rec.as_ptr(),
                        Ordering::Release,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return;
            }
        }
        free(rec);
    }

    #[cold]
    #[inline(never)]
    fn free(rec: NonNull<CtxCore>) {
        // SAFETY: `rec` came from `Box::leak` in `alloc`, and its context gives it up for
        // good (see `put`): nobody reads it again.
        drop(unsafe { Box::from_raw(rec.as_ptr()) });
    }
}

/// Wound-Wait: an older contender wounded us; we back off at our next contention.
const WOUNDED: u8 = 1;
/// `unparker` is written: a wounder may use it.
const READY: u8 = 2;

impl CtxCore {
    /// Publishes the owner's unparker (first contention only) so wounders can wake it.
    /// Called by the owner before it first queues on a mutex.
    pub(crate) fn publish_unparker(&self) {
        if self.wake.load(Ordering::Relaxed) & READY == 0 {
            // SAFETY: only the owner thread writes, and only while `READY` is clear;
            // nobody reads `unparker` before observing `READY` (Release below, Acquire in
            // `wound`).
            self.unparker
                .with_mut(|p| unsafe { *p = Some(platform::unparker()) });
            self.wake.fetch_or(READY, Ordering::AcqRel);
        }
    }

    /// Whether an older context wounded us.
    pub(crate) fn is_wounded(&self) -> bool {
        self.wake.load(Ordering::Acquire) & WOUNDED != 0
    }

    /// The owner marks itself wounded (an older context waits for a lock it just took).
    pub(crate) fn wound_self(&self) {
        self.wake.fetch_or(WOUNDED, Ordering::Relaxed);
    }

    /// The owner clears the wound once it holds nothing (no one can wound it then).
    pub(crate) fn heal(&self) {
        let v = self.wake.load(Ordering::Relaxed);
        if v & WOUNDED != 0 {
            self.wake.fetch_and(!WOUNDED, Ordering::Relaxed);
        }
    }

    /// Marks this context wounded and wakes it if it may be parked.
    ///
    /// Called by another context, under the spin lock of a mutex whose state word names
    /// this record and is pinned (waiters flag set). The record is alive: it is freed only
    /// once no mutex names it. Its context, and the thread behind `unparker`, may be gone
    /// (a leaked guard); unparking a finished thread is harmless on every platform
    /// (`dmasync_hal::platform::unpark`).
    pub(crate) fn wound(&self) {
        let prev = self.wake.fetch_or(WOUNDED, Ordering::AcqRel);
        if prev & READY != 0 {
            self.unparker.with(|p| {
                // SAFETY: `READY` is set only after the single write of `unparker`, and
                // our AcqRel read of it synchronises with that Release; `unparker` is
                // never written again.
                if let Some(u) = unsafe { &*p } {
                    platform::unpark(u);
                }
            });
        }
    }
}

/// Debug aid: make the context return spurious [`WwError::Deadlock`]s, to exercise every
/// back-off path in tests (Linux's `CONFIG_DEBUG_WW_MUTEX_SLOWPATH`).
///
/// Deterministic: the gap before each injected back-off is drawn from a xorshift generator
/// seeded with `seed`, uniformly in `1..=bound` lock calls, where `bound` starts at
/// `interval` and doubles after every injection (as Linux grows its interval), so a
/// transaction of any size still completes after a few retries. Only lock calls made while
/// the context holds at least one lock count (a context with no lock never gets
/// `Deadlock`), and [`AcquireCtx::lock_slow`] / `try_lock` never inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlockInjection {
    /// Initial upper bound of the gap between injections, in eligible lock calls (at
    /// least 1); doubles after each injection.
    pub interval: u32,
    /// Seed of the gap generator.
    pub seed: u64,
}

const BACKOFF: u8 = 1;
const INJECT: u8 = 2;

/// One transaction's acquire context (Linux's `ww_acquire_ctx`).
///
/// Create one per transaction on the thread that runs it, lock through it, and drop it
/// when done. Its stamp is fixed at creation and kept across back-offs, so a transaction
/// that retries with the same context ages and eventually wins.
///
/// Guards borrow the context, so the context cannot move or drop while it holds a lock.
/// It is neither `Send` nor `Sync`: a transaction belongs to one thread.
///
/// `new` takes one small heap record (stamp, wound flags, unparker) that the mutexes this
/// context holds point to; contenders read the holder's stamp, and may wound it, through
/// that pointer. Dropping an idle context returns the record to a small lock-free pool the
/// next `new` takes it from (a heap allocation only when the pool is empty; a free only
/// when it is full).
///
/// Leaking a guard (`mem::forget`, a reference cycle) leaks its lock, as with any mutex:
/// the mutex stays locked forever and still names this context as its holder. The context
/// can then be moved, forgotten or dropped as usual; dropping it while it still counts held
/// locks **leaks the record** (a few dozen bytes) instead of freeing or reusing memory other
/// threads may still read: it never returns to the pool, so no later context can carry the
/// tag the leaked mutex names. Contenders keep following the class rules against the dead context's
/// stamp: under Wait-Die a younger context that holds locks gets `Deadlock`, an older one
/// (or one holding nothing) waits forever; under Wound-Wait an older one wounds the dead
/// context (harmless) and waits forever, a younger one waits forever unless wounded itself.
/// `try_lock` returns `WouldBlock` to all. Unwinding is fine: guards are dropped before the
/// context they borrow.
pub struct AcquireCtx<C: WwClass> {
    /// The heap record (see [`CtxCore`]), from [`records::take`] in `new`. A raw pointer, not
    /// a `Box`: other threads hold shared pointers to it, which a `Box` (unique) would
    /// invalidate whenever the context moves, and a leaked guard means it must outlive us.
    core: NonNull<CtxCore>,
    acquired: Cell<usize>,
    flags: Cell<u8>,
    /// Address of the mutex we were told to back off from (0: none).
    contended: Cell<usize>,
    inject_interval: Cell<u32>,
    inject_countdown: Cell<u32>,
    inject_rng: Cell<u64>,
    injected: Cell<u64>,
    /// Misuse-check state; not even a field without the checks.
    #[cfg(dmasync_misuse)]
    checks: CtxChecks,
    _marker: PhantomData<CtxMarker<C>>,
}

/// Carries the class and makes the context `!Send` and `!Sync`.
type CtxMarker<C> = (fn() -> C, *const ());

impl<C: WwClass> fmt::Debug for AcquireCtx<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireCtx")
            .field("stamp", &self.core().stamp)
            .field("wait_die", &C::WAIT_DIE)
            .field("acquired", &self.acquired.get())
            .field("must_back_off", &(self.flags.get() & BACKOFF != 0))
            .finish_non_exhaustive()
    }
}

impl<C: WwClass> Drop for AcquireCtx<C> {
    fn drop(&mut self) {
        #[cfg(dmasync_misuse_thread)]
        misuse::thread::ctx_dropped(self.core.as_ptr().addr());
        // A non-zero count means a guard was leaked: its mutex names the record forever
        // and contenders may dereference it, so it is leaked with the lock.
        if self.acquired.get() == 0 {
            // No mutex names the record: every lock taken through this context was
            // released (the count is 0, and a guard decrements it only after its unlock
            // finished), and a contender dereferences a record only while the mutex it pins
            // names it (`WwMutex::step`), so its reads happen-before our unlock (which then
            // takes the same spin lock). Waiter nodes carry only its address, never
            // dereferenced. So the next context may have it (or the heap, if the pool is
            // full).
            records::put(self.core);
        }
    }
}

impl<C: WwClass> Default for AcquireCtx<C> {
    #[cfg_attr(dmasync_misuse, track_caller)]
    fn default() -> Self {
        Self::new()
    }
}

impl<C: WwClass> AcquireCtx<C> {
    /// Starts a transaction: takes the next stamp (younger than every earlier context).
    ///
    /// With the `misuse-checks` feature (hosted builds) it panics if another context of
    /// class `C` lives on this thread, naming where both were created.
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn new() -> Self {
        #[cfg(dmasync_misuse_thread)]
        let at = core::panic::Location::caller();
        #[cfg(dmasync_misuse_thread)]
        misuse::thread::check_new_ctx(
            core::any::TypeId::of::<C>(),
            core::any::type_name::<C>(),
            at,
        );
        let stamp = NEXT_STAMP.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let ctx = Self {
            core: records::take(stamp),
            acquired: Cell::new(0),
            flags: Cell::new(0),
            contended: Cell::new(0),
            inject_interval: Cell::new(0),
            inject_countdown: Cell::new(0),
            inject_rng: Cell::new(0),
            injected: Cell::new(0),
            #[cfg(dmasync_misuse)]
            checks: CtxChecks::new(),
            _marker: PhantomData,
        };
        #[cfg(dmasync_misuse_thread)]
        misuse::thread::ctx_created(core::any::TypeId::of::<C>(), ctx.tag().addr(), at);
        ctx
    }

    /// A context that injects spurious back-offs (see [`DeadlockInjection`]).
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn with_deadlock_injection(inject: DeadlockInjection) -> Self {
        let ctx = Self::new();
        let interval = inject.interval.max(1);
        ctx.inject_interval.set(interval);
        // xorshift64 must not start at 0.
        ctx.inject_rng.set(inject.seed | 1);
        ctx.inject_countdown.set(ctx.next_gap());
        ctx.flags.set(INJECT);
        ctx
    }

    /// This context's stamp (lower = older).
    pub fn stamp(&self) -> u64 {
        self.core().stamp
    }

    /// How many mutexes this context holds now.
    pub fn acquired(&self) -> usize {
        self.acquired.get()
    }

    /// Whether a `Deadlock` was returned and the context still holds locks (it must release
    /// them all before locking again).
    pub fn must_back_off(&self) -> bool {
        self.flags.get() & BACKOFF != 0
    }

    /// Whether an older context wounded this one (Wound-Wait) since it last held nothing.
    pub fn is_wounded(&self) -> bool {
        self.core().is_wounded()
    }

    /// How many back-offs [`DeadlockInjection`] has injected so far.
    pub fn injected_backoffs(&self) -> u64 {
        self.injected.get()
    }

    #[inline]
    pub(crate) fn core(&self) -> &CtxCore {
        // SAFETY: `core` points to the live record from `new`: it is freed only in `drop`,
        // after which `self` is gone. Everybody only ever shares it (atomics and a
        // write-once cell inside), so a shared reference is fine.
        unsafe { self.core.as_ref() }
    }

    /// The owner tag published in the mutexes this context locks: the record's pointer,
    /// with its provenance, so contenders can read our stamp and wound us through it.
    #[inline]
    pub(crate) fn tag(&self) -> *mut CtxCore {
        self.core.as_ptr()
    }

    /// Locks `m` for this transaction.
    ///
    /// - `Ok(guard)`: locked; the guard gives access to the data and unlocks on drop.
    /// - `Err(Deadlock)`: back off (see [`WwError::Deadlock`]). Never when this context
    ///   holds no lock (unless called again after a `Deadlock` without releasing).
    /// - `Err(Already)`: this context already holds `m`.
    ///
    /// May block (parks through `P`) while an older holder (or, in Wound-Wait, any holder
    /// this context may not wound) has the mutex.
    ///
    /// With the `misuse-checks` feature it panics when called after [`AcquireCtx::done`],
    /// or when, after a `Deadlock` and releasing everything, `m` is not the contended mutex
    /// (the first lock after a back-off must be that one; see [`AcquireCtx::lock_slow`]).
    #[inline]
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn lock<'a, T>(&'a self, m: &'a WwMutex<T, C>) -> Result<WwGuard<'a, T, C>, WwError> {
        #[cfg(dmasync_misuse)]
        self.checks.check_lock(
            m.addr(),
            self.acquired.get(),
            core::panic::Location::caller(),
        );
        if self.flags.get() == 0 && m.try_acquire_fast(self.tag()) {
            self.acquired.set(self.acquired.get() + 1);
            return Ok(WwGuard::new(m, self));
        }
        self.lock_contended(m)
    }

    #[cold]
    #[inline(never)]
    #[cfg_attr(dmasync_misuse, track_caller)]
    fn lock_contended<'a, T>(&'a self, m: &'a WwMutex<T, C>) -> Result<WwGuard<'a, T, C>, WwError> {
        let flags = self.flags.get();
        if flags & BACKOFF != 0 {
            return Err(WwError::Deadlock);
        }
        if m.owner_tag() == self.tag() {
            return Err(WwError::Already);
        }
        if flags & INJECT != 0 && self.acquired.get() > 0 && self.inject_tick() {
            #[cfg(dmasync_misuse)]
            self.checks
                .backed_off(m.addr(), core::panic::Location::caller());
            self.start_backoff(m.addr());
            return Err(WwError::Deadlock);
        }
        self.lock_blocking(m)
    }

    #[cfg_attr(dmasync_misuse, track_caller)]
    fn lock_blocking<'a, T>(&'a self, m: &'a WwMutex<T, C>) -> Result<WwGuard<'a, T, C>, WwError> {
        let req = Requester {
            tag: self.tag(),
            ctx: Some(self.core()),
            acquired: self.acquired.get(),
            wait_die: C::WAIT_DIE,
        };
        match m.lock_slow_path(&req) {
            Ok(()) => {
                self.acquired.set(self.acquired.get() + 1);
                Ok(WwGuard::new(m, self))
            }
            Err(WwError::Deadlock) => {
                #[cfg(dmasync_misuse)]
                self.checks
                    .backed_off(m.addr(), core::panic::Location::caller());
                self.start_backoff(m.addr());
                Err(WwError::Deadlock)
            }
            Err(e) => Err(e),
        }
    }

    /// After a `Deadlock` and after dropping every guard: blocks until the contended mutex
    /// is ours (Linux's `ww_mutex_lock_slow`). Cannot deadlock (the context holds nothing).
    ///
    /// Errors: [`WwError::LocksHeld`] if the context still holds a lock,
    /// [`WwError::NotContended`] if `m` is not the mutex the last `Deadlock` was about.
    /// With the `misuse-checks` feature it panics when called after [`AcquireCtx::done`].
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn lock_slow<'a, T>(&'a self, m: &'a WwMutex<T, C>) -> Result<WwGuard<'a, T, C>, WwError> {
        #[cfg(dmasync_misuse)]
        self.checks.check_not_done(core::panic::Location::caller());
        if self.acquired.get() != 0 {
            return Err(WwError::LocksHeld);
        }
        if self.contended.get() == 0 || self.contended.get() != m.addr() {
            return Err(WwError::NotContended);
        }
        let g = if m.try_acquire_fast(self.tag()) {
            self.acquired.set(self.acquired.get() + 1);
            WwGuard::new(m, self)
        } else {
            self.lock_blocking(m)?
        };
        self.contended.set(0);
        Ok(g)
    }

    /// Locks `m` only if that needs no waiting. `Err(WouldBlock)` if someone else holds it,
    /// `Err(Already)` if this context does, `Err(Deadlock)` if the context must back off
    /// first. Never injects a back-off. The `misuse-checks` panics are [`AcquireCtx::lock`]'s.
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn try_lock<'a, T>(&'a self, m: &'a WwMutex<T, C>) -> Result<WwGuard<'a, T, C>, WwError> {
        #[cfg(dmasync_misuse)]
        self.checks.check_lock(
            m.addr(),
            self.acquired.get(),
            core::panic::Location::caller(),
        );
        if self.flags.get() & BACKOFF != 0 {
            return Err(WwError::Deadlock);
        }
        let req = Requester {
            tag: self.tag(),
            ctx: Some(self.core()),
            acquired: self.acquired.get(),
            wait_die: C::WAIT_DIE,
        };
        m.try_acquire(&req)?;
        self.acquired.set(self.acquired.get() + 1);
        Ok(WwGuard::new(m, self))
    }

    /// Declares the acquire phase over (Linux's `ww_acquire_done`): this context locks
    /// nothing more; the locks it holds stay held until their guards drop.
    ///
    /// A declaration for the misuse checks: with the `misuse-checks` feature, any later
    /// `lock`, `try_lock` or `lock_slow` through this context, and a second `done`, panics
    /// naming the call and this one. Without the feature it compiles to nothing.
    #[inline]
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn done(&self) {
        #[cfg(dmasync_misuse)]
        self.checks.done(core::panic::Location::caller());
    }

    /// Misuse-check bookkeeping when a guard is made: `mutex` is now held through this
    /// context, locked at `at`.
    #[cfg(dmasync_misuse)]
    pub(crate) fn misuse_acquired(&self, mutex: usize, at: misuse::Loc) {
        self.checks.acquired(mutex);
        #[cfg(dmasync_misuse_thread)]
        misuse::thread::lock_acquired(mutex, self.tag().addr(), at);
        #[cfg(not(dmasync_misuse_thread))]
        let _ = at;
    }

    fn start_backoff(&self, mutex_addr: usize) {
        self.contended.set(mutex_addr);
        if self.acquired.get() > 0 {
            self.flags.set(self.flags.get() | BACKOFF);
        }
    }

    /// Bookkeeping after a guard unlocked its mutex.
    #[inline]
    pub(crate) fn released_one(&self) {
        let n = self.acquired.get() - 1;
        self.acquired.set(n);
        if n == 0 {
            self.released_all();
        }
    }

    #[cold]
    fn released_all(&self) {
        self.flags.set(self.flags.get() & !BACKOFF);
        // Nobody can wound us now: we hold no mutex whose state word names us.
        self.core().heal();
    }

    fn next_gap(&self) -> u32 {
        let mut x = self.inject_rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.inject_rng.set(x);
        let interval = u64::from(self.inject_interval.get());
        // `interval` >= 1, so the gap is in 1..=interval and fits in u32.
        (x % interval) as u32 + 1
    }

    /// Counts one eligible lock call; true when this one must be a spurious back-off.
    fn inject_tick(&self) -> bool {
        let left = self.inject_countdown.get() - 1;
        if left == 0 {
            let bound = self.inject_interval.get();
            self.inject_interval.set(bound.saturating_mul(2));
            self.inject_countdown.set(self.next_gap());
            self.injected.set(self.injected.get() + 1);
            true
        } else {
            self.inject_countdown.set(left);
            false
        }
    }
}
