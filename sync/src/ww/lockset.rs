//! `LockSet`: lock a dynamic set of mutexes with automatic back-off and retry.
//!
//! The retry loop of drm_exec (and of the Rust-for-Linux `LockSet` proposal) as a closure
//! combinator: the caller says *what* to lock, the set handles `Deadlock` by releasing
//! everything, sleeping on the contended mutex, and running the closure again.
//!
//! Storage: the set keeps one guard per locked mutex in a `Vec`, because the number of
//! objects is only known at run time and can be large (thousands per transaction);
//! [`LockSet::with_capacity`] reserves up front so the locking loop itself does not
//! allocate. Guards borrow the caller's [`AcquireCtx`] rather than one owned by the set,
//! so the set is an ordinary struct with no self-reference and no unsafe code: the context
//! outlives the set, and the set's guards unlock on back-off and on drop.

use alloc::vec::Vec;
use core::fmt;

use super::storage::GuardStorage;
use super::{AcquireCtx, WwClass, WwError, WwGuard, WwMutex};

/// A set of mutexes locked through one acquire context.
///
/// ```
/// use dmasync_sync::ww::{AcquireCtx, LockSet, WoundWait, WwError, WwMutex};
///
/// let objs: Vec<WwMutex<u64, WoundWait>> = (0..4).map(WwMutex::new).collect();
/// let ctx = AcquireCtx::new();
/// let mut set = LockSet::new(&ctx).ignore_duplicates(true);
/// // Index 2 twice: a duplicate, accepted because of `ignore_duplicates`.
/// set.lock_all(|s| {
///     for &i in &[3usize, 1, 2, 2] {
///         s.lock(&objs[i])?;
///     }
///     Ok::<_, WwError>(())
/// })
/// .unwrap();
/// assert_eq!(set.len(), 3);
/// for v in set.iter_mut() {
///     *v += 10;
/// }
/// drop(set);
/// assert_eq!(*objs[3].lock(), 13);
/// ```
pub struct LockSet<'a, T, C: WwClass> {
    ctx: &'a AcquireCtx<C>,
    guards: Vec<WwGuard<'a, T, C>>,
    /// The mutex a `Deadlock` was about; set until the back-off is done.
    contended: Option<&'a WwMutex<T, C>>,
    /// Locked by `lock_slow` after a back-off, not yet asked for in this pass.
    prelocked: Option<&'a WwMutex<T, C>>,
    ignore_duplicates: bool,
    rollbacks: u64,
    /// Where the last lookup by mutex found its guard, plus one: the next lookup starts
    /// there, so looking the set's mutexes up in locking order costs O(1) each.
    cursor: usize,
}

impl<T, C: WwClass> fmt::Debug for LockSet<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockSet")
            .field("ctx", self.ctx)
            .field("locked", &self.guards.len())
            .field("contended", &self.contended.is_some())
            .field("rollbacks", &self.rollbacks)
            .finish_non_exhaustive()
    }
}

impl<'a, T, C: WwClass> LockSet<'a, T, C> {
    /// An empty set locking through `ctx`.
    pub fn new(ctx: &'a AcquireCtx<C>) -> Self {
        Self::with_capacity(ctx, 0)
    }

    /// An empty set with room for `n` locks before it allocates again.
    pub fn with_capacity(ctx: &'a AcquireCtx<C>, n: usize) -> Self {
        Self {
            ctx,
            guards: Vec::with_capacity(n),
            contended: None,
            prelocked: None,
            ignore_duplicates: false,
            rollbacks: 0,
            cursor: 0,
        }
    }

    /// An empty set with room for `n` locks that keeps its guards in `storage`, the
    /// allocation a previous set gave back with [`LockSet::into_storage`]: a caller that
    /// locks again and again (a sync set) allocates once, not once per transaction.
    pub(crate) fn with_storage(ctx: &'a AcquireCtx<C>, storage: GuardStorage, n: usize) -> Self {
        let mut guards = storage.into_guards();
        if guards.capacity() < n {
            guards.reserve(n);
        }
        Self {
            ctx,
            guards,
            contended: None,
            prelocked: None,
            ignore_duplicates: false,
            rollbacks: 0,
            cursor: 0,
        }
    }

    /// Unlocks everything (as dropping the set does) and gives back the guards'
    /// allocation for [`LockSet::with_storage`].
    pub(crate) fn into_storage(mut self) -> GuardStorage {
        self.unlock_all();
        GuardStorage::from_guards(core::mem::take(&mut self.guards))
    }

    /// With `true`, locking a mutex the set already holds succeeds (drm_exec's
    /// `DRM_EXEC_IGNORE_DUPLICATES`); with `false` (the default) it is `Err(Already)`.
    pub fn ignore_duplicates(mut self, yes: bool) -> Self {
        self.ignore_duplicates = yes;
        self
    }

    /// The acquire context the set locks through.
    pub fn ctx(&self) -> &'a AcquireCtx<C> {
        self.ctx
    }

    /// Locks `m` into the set and returns its data.
    ///
    /// `Err(Deadlock)`: the set must back off; return the error (with `?`) from the
    /// [`LockSet::lock_all`] closure, which then retries. Once a `Deadlock` happened, every
    /// further `lock` in the same pass returns `Deadlock` too. `Err(Already)`: `m` is
    /// already in the set (only without [`LockSet::ignore_duplicates`]).
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn lock(&mut self, m: &'a WwMutex<T, C>) -> Result<&mut T, WwError> {
        if self.contended.is_some() {
            return Err(WwError::Deadlock);
        }
        if self.prelocked.is_some_and(|p| core::ptr::eq(p, m)) {
            // Locked by the back-off's `lock_slow`; this pass asks for it now.
            self.prelocked = None;
            return self.find_mut(m).ok_or(WwError::Already);
        }
        match self.ctx.lock(m) {
            Ok(g) => {
                self.guards.push(g);
                let last = self.guards.len() - 1;
                Ok(&mut *self.guards[last])
            }
            Err(WwError::Already) if self.ignore_duplicates => {
                self.find_mut(m).ok_or(WwError::Already)
            }
            Err(WwError::Deadlock) => {
                self.contended = Some(m);
                Err(WwError::Deadlock)
            }
            Err(e) => Err(e),
        }
    }

    fn find_mut(&mut self, m: &WwMutex<T, C>) -> Option<&mut T> {
        // Each mutex has at most one guard here, so trying the guard after the last hit
        // first changes only the cost.
        let n = self.guards.len();
        let start = self.cursor;
        let i = if start < n && core::ptr::eq(self.guards[start].mutex(), m) {
            // The common case: looked up in locking order, the next guard is the one.
            start
        } else {
            (0..n).find(|&i| core::ptr::eq(self.guards[i].mutex(), m))?
        };
        self.cursor = i + 1;
        Some(&mut *self.guards[i])
    }

    /// Releases everything and runs `f` until it completes without a back-off.
    ///
    /// `f` locks what it needs with [`LockSet::lock`] (propagating errors with `?`). If any
    /// lock in a pass said `Deadlock`, the set releases every lock it holds, sleeps on the
    /// contended mutex ([`AcquireCtx::lock_slow`]), and runs `f` again with that mutex
    /// already held (asking for it again simply returns it). The context — and so its
    /// stamp — stays the same across passes, so the transaction ages and eventually wins.
    ///
    /// `f` must be restartable: it may run several times, so it should only lock (and read
    /// what it needs to decide what to lock next). A pass that ends in an error other than
    /// a back-off releases everything and returns that error. `Ok` means every mutex `f`
    /// asked for is locked and stays locked until the set is dropped or
    /// [`LockSet::unlock_all`] is called.
    #[cfg_attr(dmasync_misuse, track_caller)]
    pub fn lock_all<R, E>(&mut self, mut f: impl FnMut(&mut Self) -> Result<R, E>) -> Result<R, E>
    where
        E: From<WwError>,
    {
        self.unlock_all();
        loop {
            if let Some(m) = self.contended.take() {
                self.rollbacks += 1;
                self.guards.clear();
                match self.ctx.lock_slow(m) {
                    Ok(g) => {
                        self.guards.push(g);
                        self.prelocked = Some(m);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let r = f(self);
            if self.contended.is_some() {
                // A back-off happened in this pass (whatever `f` made of the error).
                continue;
            }
            self.prelocked = None;
            if r.is_err() {
                self.unlock_all();
            }
            return r;
        }
    }

    /// Releases every lock in the set (the context keeps its stamp).
    pub fn unlock_all(&mut self) {
        // Reverse order, like drm_exec's cleanup (not required for correctness).
        while self.guards.pop().is_some() {}
        self.contended = None;
        self.prelocked = None;
    }

    /// Unlocks `m` and drops it from the set, leaving the others locked (drm_exec's
    /// `drm_exec_unlock_obj`: a driver releasing an object it locked by mistake). Returns
    /// whether `m` was in the set; if it was not, nothing changes.
    ///
    /// The set stays usable: the remaining objects keep their locking order, a later
    /// [`LockSet::lock`] of `m` locks it again, and unlocking the object a back-off locked
    /// ahead of the pass (the contended one) just means the pass must ask for it anew. The
    /// contended object of a pending back-off is not held, so it is never "in the set".
    pub fn unlock(&mut self, m: &WwMutex<T, C>) -> bool {
        let Some(i) = self.guards.iter().position(|g| core::ptr::eq(g.mutex(), m)) else {
            return false;
        };
        // `remove`, not `swap_remove`: iteration is in locking order.
        drop(self.guards.remove(i));
        if self.prelocked.is_some_and(|p| core::ptr::eq(p, m)) {
            self.prelocked = None;
        }
        if self.cursor > i {
            self.cursor -= 1;
        }
        true
    }

    /// How many mutexes the set holds.
    pub fn len(&self) -> usize {
        self.guards.len()
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.guards.is_empty()
    }

    /// How many back-offs (rollbacks) [`LockSet::lock_all`] has done so far.
    pub fn rollbacks(&self) -> u64 {
        self.rollbacks
    }

    /// Whether `m` is in the set.
    pub fn contains(&self, m: &WwMutex<T, C>) -> bool {
        self.guards.iter().any(|g| core::ptr::eq(g.mutex(), m))
    }

    /// The data of `m`, if `m` is in the set.
    pub fn get_mut(&mut self, m: &WwMutex<T, C>) -> Option<&mut T> {
        self.find_mut(m)
    }

    /// The locked data, in locking order (a back-off's pre-locked mutex comes first).
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.guards.iter().map(|g| &**g)
    }

    /// The locked data, mutably, in locking order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        self.guards.iter_mut().map(|g| &mut **g)
    }

    /// The locked mutexes with their data, in locking order.
    pub fn iter_with_mutex(&mut self) -> impl Iterator<Item = (&'a WwMutex<T, C>, &mut T)> + '_ {
        self.guards.iter_mut().map(|g| (g.mutex(), &mut **g))
    }
}
