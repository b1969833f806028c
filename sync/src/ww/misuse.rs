//! Misuse checks (feature `misuse-checks`, builds with debug assertions): the part of
//! Linux's lockdep and `DEBUG_WW_MUTEXES` that ww-mutex users rely on.
//!
//! Every check panics with a message that names both places involved, taken with
//! `#[track_caller]` (the public entry points carry it only when the checks are compiled
//! in, so a build without them has neither the hidden location argument nor any state):
//!
//! - a second [`AcquireCtx`](super::AcquireCtx) of one class on one thread while the first
//!   lives (Linux: lockdep's recursive acquire of the class's `acquire_key`);
//! - a plain [`WwMutex::lock`](super::WwMutex::lock) of a mutex that the same thread's
//!   context holds (it would wait for itself);
//! - after a `Deadlock` back-off, once the context released everything, a first lock of
//!   another mutex than the contended one (Linux: `contending_lock != ww`);
//! - a lock after [`AcquireCtx::done`](super::AcquireCtx::done) (Linux: `done_acquire`),
//!   and `done` twice.
//!
//! The first two need to know which thread runs: they use std thread-locals, so they exist
//! on hosted builds only (`dmasync_misuse_thread`, see `build.rs`). The others are state of
//! the context and run everywhere the feature is on. This module has no `unsafe`.

use core::cell::Cell;
use core::panic::Location;

/// Where something happened, from `Location::caller()`.
pub(crate) type Loc = &'static Location<'static>;

/// A context's own check state.
#[derive(Debug)]
pub(crate) struct CtxChecks {
    /// Where `done` was called, once it was.
    done_at: Cell<Option<Loc>>,
    /// The mutex a `Deadlock` was about (its address) and where that lock was called; set
    /// from the back-off until the context acquires that mutex.
    backoff: Cell<Option<(usize, Loc)>>,
}

impl CtxChecks {
    pub(crate) fn new() -> Self {
        Self {
            done_at: Cell::new(None),
            backoff: Cell::new(None),
        }
    }

    /// Before any lock through the context: not after `done`.
    pub(crate) fn check_not_done(&self, at: Loc) {
        if let Some(done_at) = self.done_at.get() {
            panic!(
                "ww misuse: lock at {at} after AcquireCtx::done() at {done_at} declared the \
                 acquire phase over"
            );
        }
    }

    /// Before `lock`/`try_lock` of `mutex` by a context that holds `acquired` locks: after
    /// a back-off the first lock must be the contended mutex. While the context still holds
    /// locks it only gets `Deadlock` again (the documented answer), which is not misuse.
    pub(crate) fn check_lock(&self, mutex: usize, acquired: usize, at: Loc) {
        self.check_not_done(at);
        if acquired == 0
            && let Some((contended, deadlock_at)) = self.backoff.get()
            && contended != mutex
        {
            panic!(
                "ww misuse: first lock after a Deadlock back-off is not the contended mutex: \
                 lock at {at}, the Deadlock was returned at {deadlock_at}; lock the contended \
                 mutex first (AcquireCtx::lock_slow)"
            );
        }
    }

    /// A lock of `mutex` called at `at` returned `Deadlock` (real or injected).
    pub(crate) fn backed_off(&self, mutex: usize, at: Loc) {
        self.backoff.set(Some((mutex, at)));
    }

    /// The context acquired `mutex`: if it was the contended one, the back-off is over.
    pub(crate) fn acquired(&self, mutex: usize) {
        if self.backoff.get().is_some_and(|(m, _)| m == mutex) {
            self.backoff.set(None);
        }
    }

    /// `AcquireCtx::done` at `at`.
    pub(crate) fn done(&self, at: Loc) {
        if let Some(first) = self.done_at.get() {
            panic!("ww misuse: AcquireCtx::done() at {at} called again (first at {first})");
        }
        self.done_at.set(Some(at));
    }
}

/// The per-thread records: live contexts by class and the locks they hold.
#[cfg(dmasync_misuse_thread)]
pub(crate) mod thread {
    use core::any::TypeId;
    use std::cell::RefCell;
    use std::vec::Vec;

    use super::Loc;

    struct Live {
        class: TypeId,
        /// The context's owner tag (its heap record's address): stable however the
        /// context moves, and unique while it lives.
        tag: usize,
        at: Loc,
    }

    struct Held {
        mutex: usize,
        tag: usize,
        at: Loc,
    }

    std::thread_local! {
        static LIVE: RefCell<Vec<Live>> = const { RefCell::new(Vec::new()) };
        static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
    }

    /// Before a context of `class` is made at `at`: panics if one lives on this thread.
    /// Called before anything is allocated, so the panic leaks nothing.
    pub(crate) fn check_new_ctx(class: TypeId, class_name: &str, at: Loc) {
        let first = LIVE.with(|l| l.borrow().iter().find(|c| c.class == class).map(|c| c.at));
        if let Some(first) = first {
            panic!(
                "ww misuse: a second AcquireCtx<{class_name}> on this thread, created at {at}, \
                 while the one created at {first} is alive (one transaction per thread and \
                 class: lock everything through the first, or drop it first)"
            );
        }
    }

    /// A context of `class` with owner tag `tag` now lives on this thread.
    pub(crate) fn ctx_created(class: TypeId, tag: usize, at: Loc) {
        LIVE.with(|l| l.borrow_mut().push(Live { class, tag, at }));
    }

    /// The context with owner tag `tag` is dropped. Tolerates thread-local teardown
    /// (a context dropped by a thread-local's destructor).
    pub(crate) fn ctx_dropped(tag: usize) {
        let _ = LIVE.try_with(|l| {
            let mut l = l.borrow_mut();
            if let Some(i) = l.iter().position(|c| c.tag == tag) {
                l.swap_remove(i);
            }
        });
    }

    /// The context `tag` acquired `mutex`, locking it at `at`.
    pub(crate) fn lock_acquired(mutex: usize, tag: usize, at: Loc) {
        HELD.with(|h| h.borrow_mut().push(Held { mutex, tag, at }));
    }

    /// The context `tag` released `mutex`.
    pub(crate) fn lock_released(mutex: usize, tag: usize) {
        let _ = HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().rposition(|e| e.mutex == mutex && e.tag == tag) {
                h.swap_remove(i);
            }
        });
    }

    /// Before a plain lock at `at` of `mutex`, whose state word names `owner`: panics if a
    /// context of this thread is that owner.
    pub(crate) fn check_plain_lock(mutex: usize, owner: usize, at: Loc) {
        let held_at = HELD.with(|h| {
            h.borrow()
                .iter()
                .find(|e| e.mutex == mutex && e.tag == owner)
                .map(|e| e.at)
        });
        if let Some(held_at) = held_at {
            panic!(
                "ww misuse: plain WwMutex::lock at {at} of a mutex this thread's AcquireCtx \
                 holds (locked at {held_at}): it would wait for itself"
            );
        }
    }
}
