//! The sync-set watchdog's portable half: the domains a board's periodic interrupt checks,
//! the shortest period they ask for, and the counts. Each board supplies the timer (qemu-virt
//! its EL1 virtual timer, exynos4 the MCT tick of the core that starts it) and calls
//! [`Watchdog::poll`] from its handler.
//!
//! Why interrupt context is safe for [`SyncDomain::check_deadlines`]: everything it locks
//! (the domain's holder list, a holder's state, the heap for the snapshot of the holder
//! list) is a spin lock that masks interrupts, so the interrupted code on this core never
//! holds one; the expiry signals the holder's `done` fence with `Timeout`, and fence
//! signalling, with its callbacks, works from interrupt handlers (it never blocks; callbacks
//! must not block). A holder whose guard is in use on the interrupted core is only marked:
//! the guard use completes the expiry when it ends. The registry's own lock masks
//! interrupts too.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use dmasync_hal::dma::MemorySystem;
use dmasync_hal::lock::IrqSpinLock;

use super::SyncDomain;

/// What the watchdog can check: a sync domain, whatever its platform, cache and memory.
pub trait Watched: Sync {
    /// Expires every overdue holder; returns how many.
    fn check_deadlines(&self) -> usize;
    /// How often the domain wants its deadlines checked.
    fn poll_period(&self) -> Duration;
}

impl<M> Watched for SyncDomain<M>
where
    M: MemorySystem + Sync,
    SyncDomain<M>: Sync,
{
    fn check_deadlines(&self) -> usize {
        SyncDomain::check_deadlines(self)
    }

    fn poll_period(&self) -> Duration {
        self.config().watchdog_poll
    }
}

/// The domains one periodic check covers (a board keeps one in a `static`).
pub struct Watchdog {
    domains: IrqSpinLock<Vec<&'static dyn Watched>>,
    runs: AtomicU64,
    expired: AtomicU64,
}

impl core::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Watchdog")
            .field("runs", &self.runs())
            .field("expired", &self.expired())
            .finish_non_exhaustive()
    }
}

impl Default for Watchdog {
    fn default() -> Self {
        Self::new()
    }
}

impl Watchdog {
    /// An empty registry.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            domains: IrqSpinLock::new(Vec::new()),
            runs: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }

    /// An empty registry (loom's types are not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            domains: IrqSpinLock::new(Vec::new()),
            runs: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }

    /// Adds `domain` (registering one twice checks it twice) and returns the period the
    /// timer should now run at: the shortest any registered domain asks for.
    pub fn watch(&self, domain: &'static dyn Watched) -> Duration {
        let mut g = self.domains.lock();
        g.push(domain);
        g.iter()
            .map(|d| d.poll_period())
            .min()
            .expect("just pushed one")
    }

    /// The period the registered domains ask for (`None`: nothing registered).
    pub fn period(&self) -> Option<Duration> {
        self.domains.lock().iter().map(|d| d.poll_period()).min()
    }

    /// Forgets every domain (the board stops its timer).
    pub fn clear(&self) {
        self.domains.lock().clear();
    }

    /// Runs the check once for every registered domain, now, from the caller's context (the
    /// board's timer interrupt, or a main loop that prefers polling). Returns how many
    /// holders expired.
    pub fn poll(&self) -> usize {
        // A snapshot, so a domain's check runs without the registry's lock.
        let domains: Vec<&'static dyn Watched> = self.domains.lock().clone();
        let n: usize = domains.iter().map(|d| d.check_deadlines()).sum();
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.expired.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// How many checks have run.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// How many holders the checks have expired.
    pub fn expired(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use core::sync::atomic::AtomicUsize;

    use super::*;

    struct Fake {
        period: Duration,
        overdue: AtomicUsize,
    }

    impl Watched for Fake {
        fn check_deadlines(&self) -> usize {
            self.overdue.swap(0, Ordering::Relaxed)
        }
        fn poll_period(&self) -> Duration {
            self.period
        }
    }

    const fn fake(ms: u64, overdue: usize) -> Fake {
        Fake {
            period: Duration::from_millis(ms),
            overdue: AtomicUsize::new(overdue),
        }
    }

    // Statics, not leaked boxes: Miri reports leaks.
    static SLOW: Fake = fake(50, 2);
    static FAST: Fake = fake(10, 1);
    static MIDDLE: Fake = fake(30, 0);

    #[test]
    fn the_period_is_the_shortest_asked_for_and_polls_count_expiries() {
        let w = Watchdog::new();
        assert_eq!(w.period(), None);
        assert_eq!(w.watch(&SLOW), Duration::from_millis(50));
        assert_eq!(w.watch(&FAST), Duration::from_millis(10));
        assert_eq!(w.watch(&MIDDLE), Duration::from_millis(10));
        assert_eq!(w.poll(), 3);
        assert_eq!(w.poll(), 0);
        assert_eq!((w.runs(), w.expired()), (2, 3));
        w.clear();
        assert_eq!(w.period(), None);
        assert_eq!(w.poll(), 0);
        assert_eq!(w.runs(), 3);
    }
}
