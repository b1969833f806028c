//! A sync domain: the cache, the CPU view of memory and the policies that a group of
//! buffers and sync sets share, plus the watchdog's view of every holder.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::shim::atomic::{AtomicU32, AtomicU64, Ordering};
use dmasync_hal::dma::{DmaRegion, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::platform;

use super::buffer::SyncBuffer;
use super::holder::{HeldBuffers, Holder};
use super::set::SyncSet;
use super::{Access, RegionRefused, SyncError};
use crate::fence::FenceProducer;

static NEXT_DOMAIN: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);

/// Policies of a domain.
#[derive(Clone, Copy, Debug)]
pub struct SyncConfig {
    /// How long a holder may keep its buffers before the watchdog takes them back
    /// (dmabuf-sync's forced unlock). Default 5 s.
    pub hold_deadline: Duration,
    /// The most buffers one sync set may register. Default 64.
    pub max_buffers: usize,
    /// While waiting for previous users, a locker checks deadlines this often, so an
    /// overdue holder is expired even without a separate watchdog. Default 50 ms.
    pub watchdog_poll: Duration,
    /// The longest a lock waits for the fences of earlier users before it gives up with
    /// [`SyncError::WaitTimeout`]: the bound for fences the watchdog cannot end (a device
    /// job's fence that never signals, a holder with a longer
    /// [`SyncSet::set_hold_deadline`], a lock that is itself still waiting). Default 20 s,
    /// four default hold deadlines, so an ordinary overdue holder is expired (and its
    /// waiters told `Predecessor { Timeout }`) well before. [`SyncSet::set_wait_limit`]
    /// overrides it per set.
    pub wait_limit: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            hold_deadline: Duration::from_secs(5),
            max_buffers: 64,
            watchdog_poll: Duration::from_millis(50),
            wait_limit: Duration::from_secs(20),
        }
    }
}

/// Counters, all monotonic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Successful locks.
    pub locks: u64,
    /// Locks that found a buffer still in use and had to wait.
    pub contended: u64,
    /// Wound/wait back-offs while taking the buffers' reservation locks.
    pub backoffs: u64,
    /// Cache maintenance calls issued.
    pub cache_ops: u64,
    /// Bytes covered by those calls.
    pub cache_bytes: u64,
    /// Buffer accesses that needed no maintenance at all.
    pub cache_ops_avoided: u64,
    /// Holders the watchdog expired.
    pub expired: u64,
    /// Locks that failed because a previous user ended with an error.
    pub predecessor_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) locks: AtomicU64,
    pub(crate) contended: AtomicU64,
    pub(crate) backoffs: AtomicU64,
    pub(crate) cache_ops: AtomicU64,
    pub(crate) cache_bytes: AtomicU64,
    pub(crate) cache_ops_avoided: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) predecessor_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// A set that is waiting for its buffers, for the debug dump.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    pub(crate) set_id: u64,
    pub(crate) buffers: Vec<(&'static str, Access)>,
}

/// Buffers and sync sets that share one cache, one CPU view of memory and one watchdog.
pub struct SyncDomain<M: MemorySystem> {
    pub(crate) id: u32,
    pub(crate) memory: M,
    pub(crate) config: SyncConfig,
    pub(crate) holders: IrqSpinLock<Vec<Arc<Holder>>>,
    pub(crate) waiters: IrqSpinLock<Vec<Waiter>>,
    pub(crate) counters: Counters,
    next_buffer: AtomicU32,
    pub(crate) next_set: AtomicU64,
}

impl<M: MemorySystem> fmt::Debug for SyncDomain<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncDomain")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<M: MemorySystem> SyncDomain<M> {
    /// A domain over `memory`: the CPU reaches buffer bytes and maintains caches through it.
    pub fn new(memory: M, config: SyncConfig) -> Self {
        Self {
            id: NEXT_DOMAIN.fetch_add(1, core::sync::atomic::Ordering::Relaxed),
            memory,
            config,
            holders: IrqSpinLock::new(Vec::new()),
            waiters: IrqSpinLock::new(Vec::new()),
            counters: Counters::default(),
            next_buffer: AtomicU32::new(1),
            next_set: AtomicU64::new(1),
        }
    }

    /// The domain's policies.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// The memory this domain manages (e.g. to read the simulator's counters).
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// Makes `region` a shared buffer of this domain, named for errors and dumps. The buffer
    /// owns the region from now on ([`SyncBuffer::into_region`] gives it back).
    ///
    /// Refuses, handing the region back in the error, with [`SyncError::ForeignRegion`] if
    /// the region is not memory of this domain's memory system (another simulator's), and
    /// with [`SyncError::BadRange`] if it is not a whole number of this domain's cache lines
    /// (maintenance would reach a neighbour's bytes).
    pub fn buffer(
        &self,
        name: &'static str,
        region: DmaRegion,
    ) -> Result<SyncBuffer, RegionRefused> {
        if !self.memory.owns(&region) {
            return Err(RegionRefused {
                error: SyncError::ForeignRegion { buffer: name },
                region,
            });
        }
        let line = self.memory.line_size();
        if !region.virt().is_multiple_of(line) || !region.len().is_multiple_of(line) {
            return Err(RegionRefused {
                error: SyncError::BadRange {
                    buffer: name,
                    range: (0, region.len()),
                    len: region.len(),
                },
                region,
            });
        }
        let id = self.next_buffer.fetch_add(1, Ordering::Relaxed);
        Ok(SyncBuffer::new(self.id, id, name, region, line))
    }

    /// An empty sync set of this domain.
    pub fn set(&self) -> SyncSet<'_, M> {
        SyncSet::new(self)
    }

    /// The watchdog: expires every holder past its deadline and returns how many. Call it
    /// from a periodic timer or a housekeeping thread; lockers that wait also call it.
    pub fn check_deadlines(&self) -> usize {
        self.check_deadlines_at(platform::now())
    }

    /// [`SyncDomain::check_deadlines`] as if the clock read `now`: the unit tests step
    /// time by hand, so which holder expires when is checked without sleeping.
    pub(crate) fn check_deadlines_at(&self, now: platform::Instant) -> usize {
        let holders: Vec<Arc<Holder>> = {
            let mut g = self.holders.lock();
            g.with(|h| {
                h.retain(|x| !x.is_reclaimable());
                h.clone()
            })
        };
        let expired = holders.iter().filter(|h| h.expire_if_overdue(now)).count();
        Counters::add(&self.counters.expired, expired as u64);
        expired
    }

    /// Puts a new lock's holder on the watchdog's list and returns it. `spare` is the set's
    /// holder of its previous lock: once the list has let go of it (it is finished and
    /// reclaimable) and nothing else refers to it, it is renewed in place instead of a
    /// fresh one being allocated; either way `spare` then keeps the returned holder.
    pub(crate) fn register_holder(
        &self,
        spare: &mut Option<Arc<Holder>>,
        set_id: u64,
        deadline: platform::Instant,
        buffers: HeldBuffers,
        done: FenceProducer,
    ) -> Arc<Holder> {
        let mut new = Some((buffers, done));
        let mut g = self.holders.lock();
        let renewed = g.with(|v| {
            v.retain(|x| !x.is_reclaimable());
            let h = spare.as_mut().and_then(Arc::get_mut)?;
            let (buffers, done) = new.take()?;
            h.renew(deadline, buffers, done);
            let h = spare.clone()?;
            v.push(h.clone());
            Some(h)
        });
        drop(g);
        if let Some(h) = renewed {
            return h;
        }
        // Still in use (a device job or lease outlived the lock, or the watchdog has a
        // snapshot of the list): a fresh holder, allocated outside the spin lock.
        let (buffers, done) = new.take().expect("not renewed, so not taken");
        let h = Holder::new(set_id, deadline, buffers, done);
        let mut g = self.holders.lock();
        g.with(|v| v.push(h.clone()));
        *spare = Some(h.clone());
        h
    }

    /// The counters so far.
    pub fn stats(&self) -> SyncStats {
        let c = &self.counters;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SyncStats {
            locks: r(&c.locks),
            contended: r(&c.contended),
            backoffs: r(&c.backoffs),
            cache_ops: r(&c.cache_ops),
            cache_bytes: r(&c.cache_bytes),
            cache_ops_avoided: r(&c.cache_ops_avoided),
            expired: r(&c.expired),
            predecessor_errors: r(&c.predecessor_errors),
        }
    }

    /// Who holds and who waits for which buffers, with access types — one line each.
    pub fn dump(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let now = platform::now();
        let holders: Vec<Arc<Holder>> = {
            let mut g = self.holders.lock();
            g.with(|h| h.iter().filter(|x| !x.is_finished()).cloned().collect())
        };
        let waiters: Vec<Waiter> = {
            let mut g = self.waiters.lock();
            g.with(|w| w.clone())
        };
        writeln!(
            out,
            "sync domain {}: {} holder(s), {} waiter(s)",
            self.id,
            holders.len(),
            waiters.len()
        )?;
        for h in &holders {
            let left = h.deadline.as_nanos() as i128 - now.as_nanos() as i128;
            write!(out, "  set {} holds", h.set_id)?;
            for (name, access) in h.buffers.iter() {
                write!(out, " {name}:{}", access_name(access))?;
            }
            writeln!(out, " (deadline in {} ms)", left / 1_000_000)?;
        }
        for w in &waiters {
            write!(out, "  set {} waits for", w.set_id)?;
            for (name, access) in &w.buffers {
                write!(out, " {name}:{}", access_name(access))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

fn access_name(a: &Access) -> &'static str {
    use super::{AccessMode, Agent};
    match (a.agent, a.mode) {
        (Agent::Cpu, AccessMode::Read) => "cpu-read",
        (Agent::Cpu, AccessMode::Write) => "cpu-write",
        (Agent::Cpu, AccessMode::ReadWrite) => "cpu-read-write",
        (Agent::Device(..), AccessMode::Read) => "dma-read",
        (Agent::Device(..), AccessMode::Write) => "dma-write",
        (Agent::Device(..), AccessMode::ReadWrite) => "dma-read-write",
    }
}
