//! How the sync primitives wait, wake and tell time on one platform.
//!
//! Every blocking primitive in this crate is generic over a [`Platform`]. Bare-metal boards
//! implement it with WFE/SEV and the generic timer, the host with thread park/unpark and
//! `std::time`, and the loom model checks with loom's threads. The primitives never sleep
//! any other way, so the same code is what runs on target, in tests and in model checks.

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

/// Waiting, waking and time for one execution environment.
///
/// The contract the primitives rely on:
/// - [`Platform::park`] may return early or spuriously; callers always re-check their
///   condition in a loop. It must return no later than (about) the deadline.
/// - A [`Platform::unpark`] that happens after the waiter published its `Unparker` and before
///   or during its `park` makes that `park` return (no lost wake-ups): implementations use a
///   token (thread park) or an event register (WFE/SEV) to remember it.
/// - [`Platform::now`] is monotonic.
/// - `unpark` never blocks and never allocates, so fences can be signalled from interrupt
///   handlers.
pub trait Platform: 'static {
    /// Wakes one parked execution context (a thread, or a core sleeping in WFE).
    /// Cloning it must not allocate or block either: a fence clones its waiter's unparker
    /// on the signalling path.
    type Unparker: Clone + Send + Sync + 'static;

    /// The handle that wakes the calling context.
    fn unparker() -> Self::Unparker;

    /// Sleeps the calling context until unparked or `deadline` passes (`None`: no deadline).
    fn park(deadline: Option<Instant>);

    /// Wakes the context behind `u` (or makes its next `park` return at once).
    fn unpark(u: &Self::Unparker);

    /// The monotonic clock.
    fn now() -> Instant;

    /// Hint inside a short spin loop (e.g. `spin_loop`; loom yields here).
    fn relax() {
        core::hint::spin_loop();
    }

    /// Masks interrupts on the calling core and returns the previous mask, for the short
    /// internal critical sections that an interrupt handler may also enter (signalling a
    /// fence from an IRQ). Host and loom platforms have no interrupts: the default does
    /// nothing.
    fn interrupts_disable() -> usize {
        0
    }

    /// Restores the mask [`Platform::interrupts_disable`] returned.
    fn interrupts_restore(_saved: usize) {}
}

/// The host platform: OS threads and `std::time::Instant`.
#[cfg(all(feature = "std", not(loom)))]
#[derive(Debug, Clone, Copy, Default)]
pub struct StdPlatform;

#[cfg(all(feature = "std", not(loom)))]
impl Platform for StdPlatform {
    type Unparker = std::thread::Thread;

    fn unparker() -> Self::Unparker {
        std::thread::current()
    }

    fn park(deadline: Option<Instant>) {
        match deadline {
            None => std::thread::park(),
            Some(d) => {
                let now = Self::now();
                if d > now {
                    std::thread::park_timeout(d.saturating_duration_since(now));
                }
            }
        }
    }

    fn unpark(u: &Self::Unparker) {
        u.unpark();
    }

    fn now() -> Instant {
        use std::sync::OnceLock;
        static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(std::time::Instant::now);
        Instant(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn relax() {
        std::thread::yield_now();
    }
}

#[cfg(all(feature = "std", not(loom)))]
pub use StdPlatform as DefaultHostPlatform;

/// The loom model-check platform: loom threads park and unpark; time is a counter that
/// advances on every [`Platform::now`] call, so timed waits always end.
///
/// A timed `park` only yields (the contract allows an early return); untimed `park` is
/// loom's `park`, so a lost wake-up shows up as a deadlock in the model.
#[cfg(loom)]
#[derive(Debug, Clone, Copy, Default)]
pub struct LoomPlatform;

#[cfg(loom)]
impl Platform for LoomPlatform {
    type Unparker = loom::thread::Thread;

    fn unparker() -> Self::Unparker {
        loom::thread::current()
    }

    fn park(deadline: Option<Instant>) {
        match deadline {
            None => loom::thread::park(),
            Some(_) => loom::thread::yield_now(),
        }
    }

    fn unpark(u: &Self::Unparker) {
        u.unpark();
    }

    fn now() -> Instant {
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

    fn relax() {
        loom::thread::yield_now();
    }
}
