//! The wound/wait mutex: state word, waiter list, slow paths and guards.
//!
//! State word (`state`, a pointer so it keeps provenance: no integer-to-pointer casts):
//! null = free; otherwise the owner tag (a pointer to the holder's heap [`CtxCore`], or to
//! [`NO_CTX`] for a plain lock) with [`WAITERS`] ORed into its address, which says the
//! waiter list may be non-empty. The uncontended lock is one CAS null -> tag, the
//! uncontended unlock one CAS tag -> null. With `WAITERS` set both go to the slow path,
//! which runs under the mutex's spin lock.
//!
//! Pinning: whoever sets `WAITERS` while the word names holder H does it under the spin
//! lock; from then on H's unlock cannot finish without that spin lock, so the word keeps
//! naming H for as long as the spin lock is held. A record is freed only when its context
//! drops holding nothing, so a record named by a mutex is alive, even if its context is
//! gone (a leaked guard leaks the record with the lock, see `AcquireCtx`'s drop). That is
//! what makes reading the holder's stamp and wounding it sound.
//!
//! Waiters are intrusive nodes on the waiting threads' stacks, linked under the spin lock:
//! context waiters sorted by stamp (oldest first), plain waiters appended (FIFO). Unlock
//! wakes only the head; wait-die wakes exactly the younger waiters that hold locks and
//! must now die; wound-wait wakes only the holder it wounds.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr;

use super::ctx::{AcquireCtx, CtxCore};
use super::{WwClass, WwError};
use crate::list::{Links, List};
use crate::shim::UnsafeCell;
use crate::shim::atomic::{AtomicPtr, Ordering};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::platform;

/// Flag in the state word's address: the waiter list may be non-empty; unlock must take
/// the slow path. Records and `NO_CTX` are 8-aligned, so the bit is free.
const WAITERS: usize = 1;

/// The owner tag of plain (context-less) locks: a pointer to this static, which is never a
/// context's record, and is never dereferenced.
#[repr(align(8))]
struct NoCtx(#[allow(dead_code)] u8);
static NO_CTX: NoCtx = NoCtx(0);

#[inline]
fn no_ctx_tag() -> *mut CtxCore {
    (&raw const NO_CTX).cast::<CtxCore>().cast_mut()
}

/// The owner tag of a state word (the word without `WAITERS`; null when free).
#[inline]
fn owner_of(s: *mut CtxCore) -> *mut CtxCore {
    s.map_addr(|a| a & !WAITERS)
}

/// The state word `s` with `WAITERS` set.
#[inline]
fn with_waiters(s: *mut CtxCore) -> *mut CtxCore {
    s.map_addr(|a| a | WAITERS)
}

#[inline]
fn waiters_flag(s: *mut CtxCore) -> bool {
    s.addr() & WAITERS != 0
}

/// A waiting lock request, on the waiter's stack while linked.
struct Waiter {
    /// On the mutex's waiter list (`crate::list`), owned by it while linked.
    links: Links<Waiter>,
    /// Address of the waiting context's record; 0 for a plain waiter. Only compared.
    ctx: usize,
    /// The waiting context's stamp (meaningless for plain waiters).
    stamp: u64,
    /// Whether the waiting context held other locks when it queued (they do not change
    /// while it waits).
    holds_locks: bool,
    unparker: platform::Unparker,
}

// SAFETY: `links` returns the waiter's own `links` field, always the same one, and nothing
// but `List` touches that field.
unsafe impl crate::list::Linked for Waiter {
    unsafe fn links(node: *const Self) -> *const Links<Self> {
        // SAFETY: `node` is live (contract); the field address is taken without making a
        // reference to the node.
        unsafe { &raw const (*node).links }
    }
}

/// The waiter list, under the mutex's spin lock: context waiters sorted by stamp (oldest
/// first), plain waiters appended (FIFO). The nodes stay alive and in place while linked:
/// their owners unlink them before returning (`Linked`'s drop covers an unwinding park).
type WaitList = List<Waiter>;

/// Links `node`: context waiters before the first younger context waiter, plain waiters at
/// the tail.
///
/// # Safety
/// `node` is on no list and stays alive and in place until it is removed from `list`.
unsafe fn insert(list: &mut WaitList, node: &Waiter) {
    // SAFETY: the caller's contract is `insert_before_first`'s.
    unsafe {
        list.insert_before_first(node, |c| {
            node.ctx != 0 && c.ctx != 0 && c.stamp > node.stamp
        })
    };
}

/// Whether a waiter other than `node` (null: any waiter) is linked.
fn has_other_than(list: &WaitList, node: *const Waiter) -> bool {
    list.iter().any(|w| !ptr::eq(w, node))
}

/// Who asks for the lock, as the slow path needs to know it.
pub(crate) struct Requester<'c> {
    pub(crate) tag: *mut CtxCore,
    pub(crate) ctx: Option<&'c CtxCore>,
    pub(crate) acquired: usize,
    pub(crate) wait_die: bool,
}

enum Step {
    Acquired,
    Already,
    Die,
    Park,
}

/// A mutex that can take part in deadlock-free multi-object locking.
///
/// Lock it through an [`AcquireCtx`] of the same class `C` ([`AcquireCtx::lock`]) to take
/// part in a transaction, or on its own with [`WwMutex::lock`]. The data is reachable only
/// through the returned guard. `P` is the platform used to sleep and wake.
///
/// Size: the data plus three words (state word, spin-lock flag, waiter-list head) — 24
/// bytes on 64-bit targets for `WwMutex<()>`. No allocation, ever.
pub struct WwMutex<T, C: WwClass> {
    state: AtomicPtr<CtxCore>,
    waiters: IrqSpinLock<WaitList>,
    _class: PhantomData<fn() -> C>,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `T` to one holder at a time, so sharing it across
// threads needs only `T: Send` (as for `std::sync::Mutex`).
unsafe impl<T: Send, C: WwClass> Sync for WwMutex<T, C> {}
// SAFETY: moving the mutex moves the `T` it owns; the waiter list is empty whenever the
// mutex can be moved (nobody borrows it).
unsafe impl<T: Send, C: WwClass> Send for WwMutex<T, C> {}

impl<T, C: WwClass> fmt::Debug for WwMutex<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WwMutex")
            .field("locked", &self.is_locked())
            .field("wait_die", &C::WAIT_DIE)
            .finish_non_exhaustive()
    }
}

impl<T: Default, C: WwClass> Default for WwMutex<T, C> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T, C: WwClass> WwMutex<T, C> {
    /// A new, unlocked mutex owning `value`.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Self {
            state: AtomicPtr::new(ptr::null_mut()),
            waiters: IrqSpinLock::new(List::new()),
            _class: PhantomData,
            data: UnsafeCell::new(value),
        }
    }

    /// A new, unlocked mutex owning `value`.
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Self {
            state: AtomicPtr::new(ptr::null_mut()),
            waiters: IrqSpinLock::new(List::new()),
            _class: PhantomData,
            data: UnsafeCell::new(value),
        }
    }

    /// Whether someone holds the mutex now (a snapshot).
    pub fn is_locked(&self) -> bool {
        !owner_of(self.state.load(Ordering::Relaxed)).is_null()
    }

    /// Exclusive access without locking: `&mut self` proves nobody else can hold it.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every guard and every other access.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// Locks without a context (Linux's `ww_mutex_lock(m, NULL)`): plain mutex semantics,
    /// never fails, may block. Do not call it while the same thread holds locks of this
    /// class through a context (that could deadlock, exactly as in Linux, where lockdep
    /// forbids mixing).
    ///
    /// With the `misuse-checks` feature (hosted builds) it panics if a context of this
    /// thread holds the mutex, naming this call and where the context locked it.
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn lock(&self) -> WwMutexGuard<'_, T, C> {
        #[cfg(dmasync_misuse_thread)]
        super::misuse::thread::check_plain_lock(
            self.addr(),
            self.owner_tag().addr(),
            core::panic::Location::caller(),
        );
        if !self.try_acquire_fast(no_ctx_tag()) {
            let req = Requester {
                tag: no_ctx_tag(),
                ctx: None,
                acquired: 0,
                wait_die: C::WAIT_DIE,
            };
            // A plain request never dies and cannot be `Already` (plain holders are not
            // told apart).
            let r = self.lock_slow_path(&req);
            debug_assert!(r.is_ok());
        }
        WwMutexGuard {
            mutex: self,
            _data: PhantomData,
        }
    }

    /// Locks without a context if that needs no waiting.
    pub fn try_lock(&self) -> Option<WwMutexGuard<'_, T, C>> {
        let req = Requester {
            tag: no_ctx_tag(),
            ctx: None,
            acquired: 0,
            wait_die: C::WAIT_DIE,
        };
        self.try_acquire(&req).ok()?;
        Some(WwMutexGuard {
            mutex: self,
            _data: PhantomData,
        })
    }

    /// Whether the waiters flag is set (tests wait for a waiter to queue).
    #[cfg(test)]
    pub(crate) fn has_waiters(&self) -> bool {
        waiters_flag(self.state.load(Ordering::SeqCst))
    }

    pub(crate) fn addr(&self) -> usize {
        self as *const Self as usize
    }

    pub(crate) fn owner_tag(&self) -> *mut CtxCore {
        owner_of(self.state.load(Ordering::Relaxed))
    }

    /// The fast path: one CAS null -> tag.
    ///
    /// AcqRel, not just Acquire: the release half publishes the holder's context (its
    /// stamp and flags, written when it was created) to contenders, which read the tag
    /// with Acquire and then look at the context through it.
    #[inline]
    pub(crate) fn try_acquire_fast(&self, tag: *mut CtxCore) -> bool {
        self.state
            .compare_exchange(ptr::null_mut(), tag, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Non-blocking acquisition for `try_lock`.
    pub(crate) fn try_acquire(&self, req: &Requester<'_>) -> Result<(), WwError> {
        match self.state.compare_exchange(
            ptr::null_mut(),
            req.tag,
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Ok(()),
            Err(s) => {
                let owner = owner_of(s);
                if !owner.is_null() {
                    return Err(if req.ctx.is_some() && owner == req.tag {
                        WwError::Already
                    } else {
                        WwError::WouldBlock
                    });
                }
            }
        }
        // Free, with waiters: take it under the spin lock so the waiters get checked.
        let mut g = self.waiters.lock();
        g.with(|list| {
            let s = self.state.load(Ordering::Relaxed);
            if !owner_of(s).is_null() {
                return Err(WwError::WouldBlock);
            }
            let new = if list.is_empty() {
                req.tag
            } else {
                with_waiters(req.tag)
            };
            if self
                .state
                .compare_exchange(s, new, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return Err(WwError::WouldBlock);
            }
            self.after_acquire(list, req);
            Ok(())
        })
    }

    /// The blocking path: waits (or returns `Deadlock` when the class says back off).
    #[cold]
    pub(crate) fn lock_slow_path(&self, req: &Requester<'_>) -> Result<(), WwError> {
        // A short optimistic spin first: holders keep locks briefly, and sleeping costs far
        // more than a few relax() rounds.
        for _ in 0..SPIN_ROUNDS {
            let s = self.state.load(Ordering::Relaxed);
            if s.is_null() {
                if self.try_acquire_fast(req.tag) {
                    return Ok(());
                }
            } else if waiters_flag(s) {
                break;
            }
            platform::relax();
        }
        if let Some(core) = req.ctx {
            core.publish_unparker();
        }
        let node = Waiter {
            links: Links::new(),
            ctx: if req.ctx.is_some() { req.tag.addr() } else { 0 },
            stamp: req.ctx.map_or(0, |c| c.stamp),
            holds_locks: req.acquired > 0,
            unparker: platform::unparker(),
        };
        let linked = Linked {
            mutex: self,
            node: &node,
            linked: Cell::new(false),
        };
        loop {
            let step = {
                let mut g = self.waiters.lock();
                g.with(|list| self.step(list, req, &linked))
            };
            match step {
                Step::Acquired => return Ok(()),
                Step::Already => return Err(WwError::Already),
                Step::Die => return Err(WwError::Deadlock),
                Step::Park => platform::park(None),
            }
        }
    }

    /// One look at the mutex under the spin lock: acquire, give up, or queue and park.
    fn step(&self, list: &mut WaitList, req: &Requester<'_>, me: &Linked<'_, T, C>) -> Step {
        let node: *const Waiter = me.node;
        let owner = loop {
            // Acquire: if the word names a holder, its context's creation happens-before
            // our look at it (pairs with the AcqRel of the holder's acquiring CAS).
            let s = self.state.load(Ordering::Acquire);
            let owner = owner_of(s);
            if owner.is_null() {
                // Free: take it (barging is allowed; the checks below keep the classes'
                // rules for everyone still waiting).
                let others = has_other_than(list, if me.linked.get() { node } else { ptr::null() });
                let new = if others {
                    with_waiters(req.tag)
                } else {
                    req.tag
                };
                if self
                    .state
                    .compare_exchange(s, new, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
                if me.linked.get() {
                    // SAFETY: `linked` says the node is on this mutex's list.
                    unsafe { list.remove(me.node) };
                    me.linked.set(false);
                }
                self.after_acquire(list, req);
                return Step::Acquired;
            }
            if req.ctx.is_some() && owner == req.tag {
                // Only on the first look (we cannot gain the lock while waiting for it).
                debug_assert!(!me.linked.get());
                self.fix_waiters_flag(list);
                return Step::Already;
            }
            if !waiters_flag(s)
                && self
                    .state
                    .compare_exchange(s, with_waiters(s), Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            // Pinned: `owner` cannot unlock until we drop the spin lock.
            break owner;
        };
        let holder = if owner == no_ctx_tag() {
            None
        } else {
            // SAFETY: a tag other than NO_CTX is a pointer (with its provenance) to the
            // holder's heap `CtxCore`, published by the holder's acquiring CAS, which our
            // Acquire load synchronises with. The word is pinned (WAITERS set, spin lock
            // held), so it names that record until we release the spin lock, and a record
            // that a mutex names is never freed (`AcquireCtx`'s drop leaks it if a guard
            // was leaked; it frees it only once every lock was released). Only shared
            // access: atomics and the write-once unparker.
            Some(unsafe { &*owner })
        };
        if let Some(core) = req.ctx {
            let must_die = if req.wait_die {
                req.acquired > 0
                    && (holder.is_some_and(|h| h.stamp < core.stamp)
                        || list
                            .iter()
                            .any(|w| w.ctx != 0 && w.ctx != req.tag.addr() && w.stamp < core.stamp))
            } else {
                req.acquired > 0 && core.is_wounded()
            };
            if must_die {
                if me.linked.get() {
                    // SAFETY: `linked` says the node is on this mutex's list.
                    unsafe { list.remove(me.node) };
                    me.linked.set(false);
                }
                self.fix_waiters_flag(list);
                return Step::Die;
            }
            if !req.wait_die
                && let Some(h) = holder
                && h.stamp > core.stamp
            {
                // Wound-Wait: an older requester wounds the younger holder.
                h.wound();
            }
        }
        if !me.linked.get() {
            // SAFETY: not linked (`linked` is false); the node lives on `lock_slow_path`'s
            // frame, which `Linked`'s drop unlinks it from before it ends (also on unwind).
            unsafe { insert(list, me.node) };
            me.linked.set(true);
            if req.wait_die && req.ctx.is_some() {
                // Younger waiters that hold locks now have an older one ahead: they die.
                for w in list.iter() {
                    if w.ctx != 0 && w.holds_locks && w.stamp > me.node.stamp {
                        platform::unpark(&w.unparker);
                    }
                }
            }
        }
        Step::Park
    }

    /// Runs after `req` took the mutex under the spin lock, with `list` the remaining
    /// waiters: tells the ones that must back off because of the new holder.
    fn after_acquire(&self, list: &mut WaitList, req: &Requester<'_>) {
        let Some(core) = req.ctx else { return };
        if req.wait_die {
            for w in list.iter() {
                if w.ctx != 0 && w.holds_locks && w.stamp > core.stamp {
                    platform::unpark(&w.unparker);
                }
            }
        } else {
            if list.iter().any(|w| w.ctx != 0 && w.stamp < core.stamp) {
                // An older context waits for us: we are wounded (noticed at our next
                // contention).
                core.wound_self();
            }
        }
    }

    /// After a waiter left without acquiring: clears `WAITERS` if nobody waits, and wakes
    /// the new head if the mutex is free (so no waiter is stranded).
    fn fix_waiters_flag(&self, list: &mut WaitList) {
        match list.front() {
            None => {
                // A CAS loop: loom's `AtomicPtr` has no `fetch_and`.
                let _ = self
                    .state
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(owner_of(s)));
            }
            Some(head) if self.owner_tag().is_null() => {
                platform::unpark(&head.unparker);
            }
            Some(_) => {}
        }
    }

    /// Releases the mutex held under `tag`.
    #[inline]
    pub(crate) fn unlock_tag(&self, tag: *mut CtxCore) {
        if self
            .state
            .compare_exchange(tag, ptr::null_mut(), Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn unlock_slow(&self) {
        let mut g = self.waiters.lock();
        g.with(|list| {
            let head = list.front();
            let new = if head.is_none() {
                ptr::null_mut()
            } else {
                with_waiters(ptr::null_mut())
            };
            self.state.store(new, Ordering::Release);
            if let Some(head) = head {
                // Wake one: the head (oldest context, or first plain waiter).
                platform::unpark(&head.unparker);
            }
        });
    }

    /// Shared access to the data for a guard.
    ///
    /// # Safety
    /// The caller holds the lock for at least `'a`.
    unsafe fn data_ref(&self) -> &T {
        // SAFETY: the caller holds the lock: no `&mut` to the data exists elsewhere.
        self.data.with(|p| unsafe { &*p })
    }

    /// Exclusive access to the data for a guard.
    ///
    /// # Safety
    /// The caller holds the lock for at least `'a` and has no other reference to the data.
    #[allow(clippy::mut_from_ref)]
    unsafe fn data_mut(&self) -> &mut T {
        // SAFETY: the caller holds the lock exclusively and no other reference exists.
        self.data.with_mut(|p| unsafe { &mut *p })
    }
}

/// Optimistic spin before queueing (one round under loom, to keep the model small while
/// still checking the path).
const SPIN_ROUNDS: u32 = if cfg!(loom) { 1 } else { 8 };

/// Keeps a waiter node's membership honest: unlinks it if the waiting function unwinds
/// (a panicking `platform::park`), so the list never points at a dead stack frame.
struct Linked<'m, T, C: WwClass> {
    mutex: &'m WwMutex<T, C>,
    node: &'m Waiter,
    linked: Cell<bool>,
}

impl<T, C: WwClass> Drop for Linked<'_, T, C> {
    fn drop(&mut self) {
        if self.linked.get() {
            let mut g = self.mutex.waiters.lock();
            g.with(|list| {
                // SAFETY: `linked` says the node is on this mutex's list.
                unsafe { list.remove(self.node) };
                self.mutex.fix_waiters_flag(list);
            });
        }
    }
}

/// A lock held through an [`AcquireCtx`]; unlocks on drop. Borrows the context, so it
/// cannot outlive it, and is not `Send` (the transaction stays on its thread).
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct WwGuard<'a, T, C: WwClass> {
    mutex: &'a WwMutex<T, C>,
    ctx: &'a AcquireCtx<C>,
}

impl<'a, T, C: WwClass> WwGuard<'a, T, C> {
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub(crate) fn new(mutex: &'a WwMutex<T, C>, ctx: &'a AcquireCtx<C>) -> Self {
        #[cfg(dmasync_misuse)]
        ctx.misuse_acquired(mutex.addr(), core::panic::Location::caller());
        Self { mutex, ctx }
    }

    /// The mutex this guard holds.
    pub fn mutex(&self) -> &'a WwMutex<T, C> {
        self.mutex
    }
}

impl<T: fmt::Debug, C: WwClass> fmt::Debug for WwGuard<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WwGuard")
            .field("data", &**self)
            .field("stamp", &self.ctx.stamp())
            .finish()
    }
}

impl<T, C: WwClass> Deref for WwGuard<'_, T, C> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock for its whole life; the reference borrows it.
        unsafe { self.mutex.data_ref() }
    }
}

impl<T, C: WwClass> DerefMut for WwGuard<'_, T, C> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock; `&mut self` makes this the only reference.
        unsafe { self.mutex.data_mut() }
    }
}

impl<T, C: WwClass> Drop for WwGuard<'_, T, C> {
    fn drop(&mut self) {
        self.mutex.unlock_tag(self.ctx.tag());
        #[cfg(dmasync_misuse_thread)]
        super::misuse::thread::lock_released(self.mutex.addr(), self.ctx.tag().addr());
        self.ctx.released_one();
    }
}

/// A lock held without a context ([`WwMutex::lock`]); unlocks on drop.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct WwMutexGuard<'a, T, C: WwClass> {
    mutex: &'a WwMutex<T, C>,
    /// `Sync` only if `T: Sync` (shared access to the guard is shared access to `T`).
    _data: PhantomData<&'a mut T>,
}

impl<T: fmt::Debug, C: WwClass> fmt::Debug for WwMutexGuard<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WwMutexGuard")
            .field("data", &**self)
            .finish()
    }
}

impl<T, C: WwClass> Deref for WwMutexGuard<'_, T, C> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock for its whole life; the reference borrows it.
        unsafe { self.mutex.data_ref() }
    }
}

impl<T, C: WwClass> DerefMut for WwMutexGuard<'_, T, C> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock; `&mut self` makes this the only reference.
        unsafe { self.mutex.data_mut() }
    }
}

impl<T, C: WwClass> Drop for WwMutexGuard<'_, T, C> {
    fn drop(&mut self) {
        self.mutex.unlock_tag(no_ctx_tag());
    }
}
