//! How code waits, wakes and tells time: the one platform of a binary.
//!
//! Every blocking primitive of dmasync (fences, ww-mutexes, sync sets, KDS) and every lock
//! that an interrupt handler may also take sleeps, wakes and reads the clock only through
//! the functions of this module. There is exactly one platform per binary, chosen the way
//! `critical-section` and `embassy-time` choose theirs, so no type above this layer carries
//! a platform parameter:
//!
//! - **bare metal** (`target_os = "none"`): the architecture crate implements [`Platform`]
//!   and the board names it once with [`set_platform!`]; the functions here call it through
//!   link-time symbols. A binary that forgets fails to link with an undefined
//!   `_dmasync_platform_*` symbol; one that names two fails with a duplicate symbol.
//! - **hosted** (tests, benches, host tools): OS threads park and unpark, and
//!   `std::time::Instant` is the clock.
//! - **loom** (`--cfg loom`): loom's threads; the clock is a per-thread counter that
//!   advances on every read, so timed waits always end inside a model.
//!
//! The contract the primitives rely on:
//! - [`park`] may return early or spuriously; callers re-check their condition in a loop.
//!   It returns no later than (about) the deadline.
//! - An [`unpark`] that happens after the waiter published its [`Unparker`] and before or
//!   during its `park` makes that `park` return (no lost wake-ups): implementations use a
//!   token (thread park) or an event register (WFE/SEV) to remember it.
//! - [`now`] is monotonic.
//! - `unpark` and cloning an `Unparker` never block and never allocate, so fences can be
//!   signalled from interrupt handlers.
//! - `unpark` of an `Unparker` whose context has finished (its thread exited) is harmless:
//!   a ww-mutex whose guard was leaked keeps its holder's unparker, and a Wound-Wait
//!   contender may wake it after the holder's thread is gone. Hosted: `Thread::unpark` on a
//!   finished thread only sets its token (the handle keeps the thread's data alive); loom:
//!   a finished thread's unpark is a no-op; bare metal: tokens are plain integers and
//!   [`Platform::unpark`] must accept any token a past `unparker` returned.
//! - [`context_word`] is one word per *execution context* (a thread on the host and under
//!   loom; on a board, each core's thread level and its interrupt level), read and written
//!   only by that context. An interrupt handler has its own word, so it never sees the word
//!   of the code it interrupted. The sync core keeps its deferred-signal queue there.

use core::sync::atomic::AtomicPtr;

use core::time::Duration;

/// A point on the platform's monotonic clock, in nanoseconds since an arbitrary origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// Nanoseconds since the platform's clock origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at the end of time (a deadline that never comes).
    pub fn saturating_add(self, d: Duration) -> Instant {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ns))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// A bare-metal platform, implemented by an architecture crate and installed in a binary
/// with [`set_platform!`]. Hosted builds never use this trait.
///
/// The contract is the module's: `park` may return early, never loses an `unpark` that
/// follows the publication of the waiter's token, `now` is monotonic, and `unpark`,
/// `unparker`, `interrupts_disable`, `interrupts_restore` and `context_word` neither block
/// nor allocate (they run in interrupt handlers).
pub trait Platform {
    /// The token that wakes the calling context (for example its core number; a
    /// platform whose wake-up reaches every core, like SEV, may return 0).
    fn unparker() -> usize;
    /// Sleeps the calling context until unparked or `deadline` passes (`None`: no deadline).
    fn park(deadline: Option<Instant>);
    /// Wakes the context behind `token` (or makes its next `park` return at once). Must be
    /// harmless for a token whose context has finished or moved on.
    fn unpark(token: usize);
    /// The monotonic clock.
    fn now() -> Instant;
    /// Masks interrupts on the calling core and returns the previous mask.
    fn interrupts_disable() -> usize;
    /// Restores the mask [`Platform::interrupts_disable`] returned.
    fn interrupts_restore(saved: usize);
    /// The calling execution context's word (see [`context_word`]): a different one for
    /// every core and, on each core, for thread level and interrupt level; null at boot.
    fn context_word() -> &'static AtomicPtr<()>;
}

/// Installs `$t` (a type implementing [`Platform`]) as the platform of this binary. Use it
/// once, in the board crate.
#[macro_export]
macro_rules! set_platform {
    ($t:ty) => {
        const _: () = {
            #[unsafe(no_mangle)]
            fn _dmasync_platform_unparker() -> usize {
                <$t as $crate::platform::Platform>::unparker()
            }
            #[unsafe(no_mangle)]
            fn _dmasync_platform_park(deadline: u64, has_deadline: bool) {
                <$t as $crate::platform::Platform>::park(
                    has_deadline.then_some($crate::platform::Instant(deadline)),
                )
            }
            #[unsafe(no_mangle)]
            fn _dmasync_platform_unpark(token: usize) {
                <$t as $crate::platform::Platform>::unpark(token)
            }
            #[unsafe(no_mangle)]
            fn _dmasync_platform_now() -> u64 {
                <$t as $crate::platform::Platform>::now().0
            }
            #[unsafe(no_mangle)]
            fn _dmasync_platform_interrupts_disable() -> usize {
                <$t as $crate::platform::Platform>::interrupts_disable()
            }
            #[unsafe(no_mangle)]
            fn _dmasync_platform_interrupts_restore(saved: usize) {
                <$t as $crate::platform::Platform>::interrupts_restore(saved)
            }
            #[unsafe(no_mangle)]
            fn _dmasync_platform_context_word() -> &'static ::core::sync::atomic::AtomicPtr<()> {
                <$t as $crate::platform::Platform>::context_word()
            }
        };
    };
}

/// Wakes one parked execution context: a thread on the host, a core sleeping in WFE on a
/// board. Cloning it neither blocks nor allocates.
#[derive(Clone, Debug)]
pub struct Unparker(imp::Token);

/// The handle that wakes the calling context.
#[inline]
pub fn unparker() -> Unparker {
    Unparker(imp::unparker())
}

/// Sleeps the calling context until unparked or `deadline` passes (`None`: no deadline).
/// May return early or spuriously.
#[inline]
pub fn park(deadline: Option<Instant>) {
    imp::park(deadline)
}

/// Wakes the context behind `u`, or makes its next [`park`] return at once.
#[inline]
pub fn unpark(u: &Unparker) {
    imp::unpark(&u.0)
}

/// The monotonic clock.
#[inline]
pub fn now() -> Instant {
    imp::now()
}

/// Hint inside a short spin loop (a pause on hardware; a yield on the host and under loom,
/// where the holder may be a descheduled thread).
#[inline]
pub fn relax() {
    imp::relax()
}

/// Masks interrupts on the calling core and returns the previous mask, for the short
/// critical sections that an interrupt handler may also enter (signalling a fence from an
/// IRQ). Hosted platforms have no interrupts: there it does nothing.
#[inline]
pub fn interrupts_disable() -> usize {
    imp::interrupts_disable()
}

/// Restores the mask [`interrupts_disable`] returned.
#[inline]
pub fn interrupts_restore(saved: usize) {
    imp::interrupts_restore(saved)
}

/// Reads the calling execution context's word (null until [`set_context_word`] changes it).
/// Only this context reads or writes its word, so no other context can race with it: not
/// another core, not a thread on another core, not an interrupt handler (which has its own).
#[inline]
pub fn context_word() -> *mut () {
    imp::context_word()
}

/// Sets the calling execution context's word (see [`context_word`]).
#[inline]
pub fn set_context_word(v: *mut ()) {
    imp::set_context_word(v)
}

#[cfg(target_os = "none")]
mod imp {
    use super::Instant;

    pub(super) type Token = usize;

    unsafe extern "Rust" {
        fn _dmasync_platform_unparker() -> usize;
        fn _dmasync_platform_park(deadline: u64, has_deadline: bool);
        fn _dmasync_platform_unpark(token: usize);
        fn _dmasync_platform_now() -> u64;
        fn _dmasync_platform_interrupts_disable() -> usize;
        fn _dmasync_platform_interrupts_restore(saved: usize);
        fn _dmasync_platform_context_word() -> &'static super::AtomicPtr<()>;
    }

    // SAFETY (all seven calls below): the symbols are defined only by `set_platform!`, as safe
    // Rust functions with exactly these signatures that forward to a `Platform`
    // implementation; calling them has no precondition.

    pub(super) fn unparker() -> Token {
        // SAFETY: see above.
        unsafe { _dmasync_platform_unparker() }
    }

    pub(super) fn park(deadline: Option<Instant>) {
        // SAFETY: see above.
        unsafe { _dmasync_platform_park(deadline.map_or(0, |d| d.0), deadline.is_some()) }
    }

    pub(super) fn unpark(token: &Token) {
        // SAFETY: see above.
        unsafe { _dmasync_platform_unpark(*token) }
    }

    pub(super) fn now() -> Instant {
        // SAFETY: see above.
        Instant(unsafe { _dmasync_platform_now() })
    }

    pub(super) fn relax() {
        core::hint::spin_loop();
    }

    pub(super) fn interrupts_disable() -> usize {
        // SAFETY: see above.
        unsafe { _dmasync_platform_interrupts_disable() }
    }

    pub(super) fn interrupts_restore(saved: usize) {
        // SAFETY: see above.
        unsafe { _dmasync_platform_interrupts_restore(saved) }
    }

    // Relaxed: only the owning context touches its word (the platform's contract).
    pub(super) fn context_word() -> *mut () {
        // SAFETY: see above.
        unsafe { _dmasync_platform_context_word() }.load(core::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn set_context_word(v: *mut ()) {
        // SAFETY: see above.
        unsafe { _dmasync_platform_context_word() }.store(v, core::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(all(not(target_os = "none"), not(loom)))]
mod imp {
    use super::Instant;

    pub(super) type Token = std::thread::Thread;

    pub(super) fn unparker() -> Token {
        std::thread::current()
    }

    pub(super) fn park(deadline: Option<Instant>) {
        match deadline {
            None => std::thread::park(),
            Some(d) => {
                let now = now();
                if d > now {
                    std::thread::park_timeout(d.saturating_duration_since(now));
                }
            }
        }
    }

    pub(super) fn unpark(t: &Token) {
        t.unpark();
    }

    pub(super) fn now() -> Instant {
        use std::sync::OnceLock;
        static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(std::time::Instant::now);
        Instant(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn relax() {
        std::thread::yield_now();
    }

    pub(super) fn interrupts_disable() -> usize {
        0
    }

    pub(super) fn interrupts_restore(_saved: usize) {}

    std::thread_local! {
        static WORD: core::cell::Cell<*mut ()> =
            const { core::cell::Cell::new(core::ptr::null_mut()) };
    }

    pub(super) fn context_word() -> *mut () {
        WORD.with(core::cell::Cell::get)
    }

    pub(super) fn set_context_word(v: *mut ()) {
        WORD.with(|w| w.set(v));
    }
}

/// Under loom a timed `park` only yields (the contract allows an early return); an untimed
/// `park` is loom's, so a lost wake-up shows up as a deadlock in the model. The context word
/// is a loom thread local: every thread of a model runs on the test's one OS thread, so a
/// `std` thread local would be shared by all of them.
#[cfg(all(not(target_os = "none"), loom))]
mod imp {
    use super::Instant;

    pub(super) type Token = loom::thread::Thread;

    pub(super) fn unparker() -> Token {
        loom::thread::current()
    }

    pub(super) fn park(deadline: Option<Instant>) {
        match deadline {
            None => loom::thread::park(),
            Some(_) => loom::thread::yield_now(),
        }
    }

    pub(super) fn unpark(t: &Token) {
        t.unpark();
    }

    pub(super) fn now() -> Instant {
        // Not a modelled location: a counter of calls, 1 us per call. It is per OS thread,
        // not process-wide: loom runs every thread of a model on its test's OS thread, and
        // tests run in parallel, so a shared counter would let other tests' calls change how
        // much time passes inside a model — loom then aborts with "unexpected exploration
        // state" (the model is not deterministic). Only differences between calls matter.
        std::thread_local! {
            static TICKS: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
        }
        TICKS.with(|t| {
            let now = t.get() + 1_000;
            t.set(now);
            Instant(now)
        })
    }

    pub(super) fn relax() {
        loom::thread::yield_now();
    }

    pub(super) fn interrupts_disable() -> usize {
        0
    }

    pub(super) fn interrupts_restore(_saved: usize) {}

    loom::thread_local! {
        static WORD: core::cell::Cell<*mut ()> = core::cell::Cell::new(core::ptr::null_mut());
    }

    pub(super) fn context_word() -> *mut () {
        WORD.with(core::cell::Cell::get)
    }

    pub(super) fn set_context_word(v: *mut ()) {
        WORD.with(|w| w.set(v));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn host_park_honours_deadline_and_unpark() {
        let start = now();
        park(Some(start.saturating_add(Duration::from_millis(5))));
        assert!(now() >= start, "the clock is monotonic");
        // An unpark before park makes the next park return (the token is remembered).
        unpark(&unparker());
        park(None);
    }

    #[test]
    fn unpark_of_a_finished_thread_is_harmless() {
        let u = std::thread::spawn(unparker).join().unwrap();
        unpark(&u);
        unpark(&u.clone());
    }

    #[test]
    fn context_word_is_per_thread() {
        let mut mine = 7u8;
        let mine: *mut () = (&raw mut mine).cast();
        assert!(context_word().is_null());
        set_context_word(mine);
        let other = std::thread::spawn(|| {
            let before = context_word().is_null();
            let mut theirs = 9u8;
            set_context_word((&raw mut theirs).cast());
            set_context_word(core::ptr::null_mut());
            before
        });
        assert!(
            other.join().unwrap(),
            "a new thread starts with its own word"
        );
        assert_eq!(
            context_word(),
            mine,
            "another thread's write does not reach ours"
        );
        set_context_word(core::ptr::null_mut());
    }

    #[test]
    fn instant_arithmetic_saturates() {
        assert_eq!(
            Instant(u64::MAX - 1).saturating_add(Duration::from_secs(1)),
            Instant(u64::MAX)
        );
        assert_eq!(
            Instant(5).saturating_duration_since(Instant(9)),
            Duration::ZERO
        );
    }
}
