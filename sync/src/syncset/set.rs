//! Sync sets: register buffers with an access type, lock them all at once, access them
//! through guards, unlock.
//!
//! Locking follows the design Linux converged on rather than dmabuf-sync's long-held locks:
//! the buffers' reservation locks (wound/wait, so any set of buffers locks without deadlock)
//! are held only long enough to publish this set's fences and to plan the cache
//! maintenance; the ordering itself lives in the fences:
//!
//! 1. lock every buffer's reservation object (a [`LockSet`]: back-off and retry are
//!    automatic);
//! 2. per buffer: note the fences this access must wait for (a writer waits for readers and
//!    writers, a reader for writers: [`Usage::for_access`]); reserve slots; publish this
//!    set's `done` fence (as a reader or a writer) and, when there is maintenance to do or
//!    an earlier user to wait for, its `ready` fence as [`Usage::Kernel`] — so a later
//!    reader, which does not wait for this reader's access, still waits for the clean or
//!    invalidate this reader performs; with nobody to wait for, plan the maintenance from
//!    the previous accesses ([`CoherencyTracker`]) right away;
//! 3. unlock the reservation objects; wait for the noted fences (checking the watchdog
//!    while waiting, so an overdue holder cannot block us forever) for at most the wait
//!    limit, then plan under the reservation locks again: a lock that gives up
//!    ([`SyncError::WaitTimeout`]) or whose predecessor failed has recorded nothing;
//! 4. perform the planned maintenance, signal `ready`, hand out guards;
//! 5. unlock: signal `done` (at once, or when the device finishes with
//!    [`Locked::unlock_after`]).
//!
//! Readers never exclude each other; a writer excludes everybody.
//!
//! Errors travel to the lockers that *waited* for the failed work: a lock that found a
//! previous user still running, and saw it end with an error (a device error, or the
//! watchdog's `Timeout`), fails with [`SyncError::Predecessor`]. A lock taken after such a
//! failure had completed does not inherit it — the failure is history, and reporting it
//! again would make the buffer unusable until the old fence is pruned.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Range;
use core::time::Duration;

use dmasync_hal::dma::{BusAddr, DeviceId, MemorySystem};

use crate::fence::{Fence, FenceCallback, FenceProducer, FenceResult, FenceStatus, Timeline};
use crate::resv::Usage;
use crate::ww::{AcquireCtx, GuardStorage, LockSet, WaitDie, WwError};
use dmasync_hal::platform;

use super::SyncError;
use super::buffer::SyncBuffer;
use super::domain::{Counters, SyncDomain, Waiter};
use super::holder::{HeldBuffers, Holder};
use super::lease::DeviceLease;
use super::policy::{Access, Agent, Plan};

/// `lock_all` returned `Ok`, so the lock set holds every registered buffer's ww-mutex.
const LOCKED_ALL: &str = "the lock set holds every registered buffer";

struct Entry<'d> {
    buf: &'d SyncBuffer,
    access: Access,
    range: Range<usize>,
    /// The buffer's CPU mapping is uncached (a `Coherent` region, fixed for its life): its
    /// tracker never asks for maintenance and keeps no state, so the lock path skips it.
    uncached: bool,
}

/// A task's group of buffers with their access types. Lock with [`SyncSet::lock`].
pub struct SyncSet<'d, M: MemorySystem> {
    domain: &'d SyncDomain<M>,
    id: u64,
    entries: Vec<Entry<'d>>,
    ready: Timeline,
    /// Names and access types of `entries` for the holder (the debug dump); built on the
    /// first lock after a registration change and shared by every lock until the next.
    held: Option<HeldBuffers>,
    /// The non-empty per-buffer plans of the last lock (most locks have none), kept so a
    /// lock does not allocate them anew.
    plans: Vec<Plan>,
    /// Per entry, while locked: readers (> 0) or one writer (-1) currently borrowing it.
    /// Kept across locks (reset by each) so a lock does not allocate them.
    borrows: Borrows,
    /// The holder of the last lock, renewed in place by the next lock when nothing refers to
    /// it any more ([`SyncDomain::register_holder`]), so a lock need not allocate one.
    holder: Option<Arc<Holder>>,
    /// The lock set's guard list, kept between locks so a lock does not allocate it.
    lock_storage: GuardStorage,
    /// How long each lock of this set may be held ([`SyncSet::set_hold_deadline`]; the
    /// domain's `hold_deadline` unless set).
    hold_deadline: Duration,
    /// How long each lock of this set waits for earlier users ([`SyncSet::set_wait_limit`];
    /// the domain's `wait_limit` unless set).
    wait_limit: Duration,
}

/// The guards' borrow flags. Only a [`Locked`] (which is not `Sync`, and holds the set
/// mutably borrowed) reads or changes them, and [`SyncSet::lock`] resets them through
/// `&mut self`; a shared `&SyncSet` never reaches them.
struct Borrows(Vec<Cell<isize>>);

// SAFETY: the cells are touched only through `&mut SyncSet` or through the one `Locked`
// that borrows the set mutably; `Locked` is not `Sync`, so they are never accessed from two
// threads at once. Sharing `&SyncSet` (or `&Borrows`) gives no access to them.
unsafe impl Sync for Borrows {}

impl<M: MemorySystem> fmt::Debug for SyncSet<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_map();
        for e in &self.entries {
            l.entry(&e.buf.name, &(e.access, &e.range));
        }
        l.finish()
    }
}

impl<'d, M: MemorySystem> SyncSet<'d, M> {
    pub(crate) fn new(domain: &'d SyncDomain<M>) -> Self {
        let id = domain
            .next_set
            .fetch_add(1, crate::shim::atomic::Ordering::Relaxed);
        Self {
            domain,
            id,
            entries: Vec::new(),
            ready: Timeline::new(),
            held: None,
            plans: Vec::new(),
            borrows: Borrows(Vec::new()),
            holder: None,
            lock_storage: GuardStorage::default(),
            hold_deadline: domain.config.hold_deadline,
            wait_limit: domain.config.wait_limit,
        }
    }

    /// Sets how long each later lock of this set may be held before the watchdog takes the
    /// buffers back, instead of the domain's `hold_deadline`: for a user whose holds are
    /// known to be longer (a frame held for scan-out) or that must not be expired for
    /// being slow (a core that may be preempted by its hypervisor while it holds). Waiters
    /// then wait up to this long for the holder, so keep it finite and honest.
    pub fn set_hold_deadline(&mut self, deadline: Duration) {
        self.hold_deadline = deadline;
    }

    /// Lets each later lock of this set be held for as long as its holder needs: the
    /// watchdog never takes these buffers back (the hold deadline is [`Duration::MAX`], the
    /// end of time, which [`SyncSet::set_hold_deadline`] also accepts). For the display's
    /// set, which holds the front buffer for as long as the frame is on screen, however
    /// long that is. Other sets of the domain keep their own deadlines. A lock that waits
    /// for such a holder gives up after its wait limit ([`SyncSet::set_wait_limit`],
    /// [`SyncError::WaitTimeout`]) instead of expiring it.
    pub fn hold_without_deadline(&mut self) {
        self.hold_deadline = Duration::MAX;
    }

    /// How long each lock of this set may be held ([`Duration::MAX`]: no deadline).
    pub fn hold_deadline(&self) -> Duration {
        self.hold_deadline
    }

    /// Sets how long each later lock of this set waits for earlier users before it gives
    /// up with [`SyncError::WaitTimeout`], instead of the domain's `wait_limit`: for a set
    /// that waits for holders with longer hold deadlines, or that would rather fail fast.
    pub fn set_wait_limit(&mut self, limit: Duration) {
        self.wait_limit = limit;
    }

    /// How long each lock of this set waits for earlier users.
    pub fn wait_limit(&self) -> Duration {
        self.wait_limit
    }

    /// Registers `buf` for `access` to the whole buffer.
    pub fn add(&mut self, buf: &'d SyncBuffer, access: Access) -> Result<(), SyncError> {
        self.add_range(buf, access, 0..buf.len())
    }

    /// Registers `buf` for `access` to bytes `range` only: maintenance covers just the
    /// cache lines of that range, and guards give just those bytes.
    pub fn add_range(
        &mut self,
        buf: &'d SyncBuffer,
        access: Access,
        range: Range<usize>,
    ) -> Result<(), SyncError> {
        if buf.domain != self.domain.id {
            return Err(SyncError::ForeignBuffer { buffer: buf.name });
        }
        if range.start >= range.end || range.end > buf.len() {
            return Err(SyncError::BadRange {
                buffer: buf.name,
                range: (range.start, range.end),
                len: buf.len(),
            });
        }
        if self.entries.iter().any(|e| e.buf.id == buf.id) {
            return Err(SyncError::Duplicate { buffer: buf.name });
        }
        if self.entries.len() >= self.domain.config.max_buffers {
            return Err(SyncError::TooManyBuffers {
                max: self.domain.config.max_buffers,
            });
        }
        let uncached = buf.region.coherency() == dmasync_hal::dma::Coherency::Coherent;
        self.entries.push(Entry {
            buf,
            access,
            range,
            uncached,
        });
        self.held = None;
        Ok(())
    }

    /// Removes `buf` from the set.
    pub fn remove(&mut self, buf: &SyncBuffer) -> Result<(), SyncError> {
        let i = self.position(buf)?;
        self.entries.remove(i);
        self.held = None;
        Ok(())
    }

    /// Removes every buffer.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.held = None;
    }

    /// Number of registered buffers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no buffer is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, buf: &SyncBuffer) -> Result<usize, SyncError> {
        self.entries
            .iter()
            // Buffer ids are per domain: a foreign buffer may share a registered one's id.
            .position(|e| e.buf.id == buf.id && e.buf.domain == buf.domain)
            .ok_or(SyncError::NotRegistered { buffer: buf.name })
    }

    /// Locks every registered buffer for its access: waits for the previous users it must
    /// wait for, performs the cache maintenance the access needs, and returns the guards'
    /// source. Waiting is bounded: an overdue holder is expired by the watchdog (the lock
    /// fails with [`SyncError::Predecessor`]), and whatever else is still pending after the
    /// set's wait limit ([`SyncSet::set_wait_limit`]) makes the lock give up with
    /// [`SyncError::WaitTimeout`], leaving nothing behind.
    pub fn lock(&mut self) -> Result<Locked<'_, M>, SyncError> {
        if self.entries.is_empty() {
            return Err(SyncError::Empty);
        }
        let domain = self.domain;
        // A fresh context per lock: a set's holders may end out of order (a device still
        // finishing after `unlock_after` while the set is locked again), and fences of one
        // timeline must signal in seqno order, or a reservation object lets a later `done`
        // replace an earlier, still pending one.
        let done = Timeline::new().next_fence();
        let done_fence = done.fence();
        // The `ready` fence exists only when some buffer needs maintenance or the lock must
        // wait: it is published only then, and a lock with nothing to clean or invalidate
        // and nobody to wait for (the common case of a CPU or a device using a buffer
        // again) need not create and signal it.
        let mut ready: Option<(FenceProducer, Fence)> = None;

        // Steps 1 and 2: publish under the reservation locks.
        let ctx: AcquireCtx<WaitDie> = AcquireCtx::new();
        let mut waits: Vec<(usize, Fence)> = Vec::new();
        let mut plans = core::mem::take(&mut self.plans);
        plans.clear();
        {
            let storage = core::mem::take(&mut self.lock_storage);
            let mut locks = LockSet::with_storage(&ctx, storage, self.entries.len());
            let entries = &self.entries;
            lock_entries(&mut locks, entries)?;
            if locks.rollbacks() > 0 {
                Counters::add(&domain.counters.backoffs, locks.rollbacks());
            }

            // Step 2a, one slot-lock section per buffer: note whether an earlier user is
            // still running, publish `done` (as a reader or a writer) and, when the buffer
            // needs maintenance or has an earlier user to wait for, `ready` as `Kernel`.
            // All or nothing: if a buffer has no room, what the earlier buffers got is
            // taken back and the trackers are untouched (they change only in step 2b).
            for (i, e) in entries.iter().enumerate() {
                let wait_for = Usage::for_access(e.access.writes());
                let mut held = e.buf.resv.locked_in(&mut locks).expect(LOCKED_ALL);
                let needs = !e.uncached
                    && e.buf.tracker(&mut held, |t| {
                        t.needs_maintenance(e.access, Some(e.range.clone()))
                    });
                if needs && ready.is_none() {
                    let p = self.ready.next_fence();
                    let f = p.fence();
                    ready = Some((p, f));
                }
                let ready_fence = if needs {
                    ready.as_ref().map(|(_, f)| f)
                } else {
                    None
                };
                let done_usage = if e.access.writes() {
                    Usage::Write
                } else {
                    Usage::Read
                };
                // How many entries (from the first) carry fences to take back on failure.
                let congested = match held.publish(wait_for, &done_fence, done_usage, ready_fence) {
                    Ok(false) => None,
                    Ok(true) => {
                        // Contended: note the pending fences now, while no one else can
                        // add any (waiting for a later user could deadlock).
                        for (f, _) in e.buf.resv.fences(wait_for) {
                            let ours = Fence::ptr_eq(&f, &done_fence)
                                || ready.as_ref().is_some_and(|(_, r)| Fence::ptr_eq(&f, r));
                            if !ours && !f.is_signalled() {
                                waits.push((i, f));
                            }
                        }
                        // This buffer's plan is made only after the wait (step 3b), from
                        // the records of the users we waited for; whoever comes after us
                        // must wait for that maintenance too, so `ready` goes on it even
                        // if the tracker shows nothing to do yet.
                        if needs {
                            None
                        } else {
                            if ready.is_none() {
                                let p = self.ready.next_fence();
                                let f = p.fence();
                                ready = Some((p, f));
                            }
                            match held.reserve_one() {
                                Ok(slot) => {
                                    slot.add(
                                        ready.as_ref().map(|(_, f)| f).expect("just set"),
                                        Usage::Kernel,
                                    );
                                    None
                                }
                                Err(_) => Some(i + 1),
                            }
                        }
                    }
                    Err(_) => Some(i),
                };
                if let Some(n) = congested {
                    drop(held);
                    let ready_fence = ready.as_ref().map(|(_, f)| f);
                    for e in &entries[..n] {
                        e.buf
                            .resv
                            .locked_in(&mut locks)
                            .expect(LOCKED_ALL)
                            .unpublish([Some(&done_fence), ready_fence]);
                    }
                    drop(locks);
                    // A lock-free reader may have seen the fences meanwhile: complete
                    // them (we touched nothing).
                    if let Some((r, _)) = ready {
                        r.signal();
                    }
                    done.signal();
                    self.plans = plans;
                    return Err(SyncError::Congested { buffer: e.buf.name });
                }
            }
            // Step 2b: with nobody to wait for, plan the maintenance (and record the
            // access) from the trackers now. A lock that must wait plans after the wait
            // (step 3b): until then the records of the users it waits for may be missing
            // (they may be waiting themselves), and a lock that gives up must leave no
            // record behind.
            if waits.is_empty() {
                plan_entries(&mut locks, entries, &mut plans);
            }
            self.lock_storage = locks.into_storage();
        }

        // Step 3: wait for the previous users, outside every lock, for at most the wait
        // limit.
        if !waits.is_empty() {
            Counters::add(&domain.counters.contended, 1);
            self.set_waiting(true);
            let failure = self.wait_all(&waits);
            self.set_waiting(false);
            if let Some(err) = failure {
                // We planned nothing and touched nothing: release at once, successfully,
                // so nobody behind us inherits an error that is not theirs (whoever waits
                // for us also waits, by its own note, for the fences we still waited for).
                if let Some((r, _)) = ready {
                    r.signal();
                }
                done.signal();
                if matches!(err, SyncError::Predecessor { .. }) {
                    Counters::add(&domain.counters.predecessor_errors, 1);
                }
                self.plans = plans;
                return Err(err);
            }
            // Step 3b: plan now, in a second short section under the reservation locks,
            // through the same context (it holds nothing now; a second context of the
            // class on this thread while the first lives is what the misuse checks forbid).
            let storage = core::mem::take(&mut self.lock_storage);
            let mut locks = LockSet::with_storage(&ctx, storage, self.entries.len());
            if let Err(e) = lock_entries(&mut locks, &self.entries) {
                if let Some((r, _)) = ready {
                    r.signal();
                }
                done.signal();
                self.plans = plans;
                return Err(e);
            }
            if locks.rollbacks() > 0 {
                Counters::add(&domain.counters.backoffs, locks.rollbacks());
            }
            plan_entries(&mut locks, &self.entries, &mut plans);
            self.lock_storage = locks.into_storage();
        }

        // Step 4: maintenance, in plan order.
        // Every buffer without a plan needed no maintenance.
        let avoided = (self.entries.len() - plans.len()) as u64;
        let (mut ops, mut bytes) = (0u64, 0u64);
        for plan in &plans {
            for &(op, range) in &plan.ops {
                // SAFETY: `range` lies inside a buffer of this domain, whose region comes
                // from a `DmaMemory` allocator (mapped normal memory); every previous user
                // whose data this maintenance moves has finished (step 3 returned no
                // failure), and the partial-line rule of `CacheMaintenance` keeps bytes
                // outside the range intact.
                unsafe { domain.memory.perform(op, range) };
                ops += 1;
                bytes += range.len as u64;
            }
        }
        Counters::add(&domain.counters.cache_ops_avoided, avoided);
        if ops > 0 {
            Counters::add(&domain.counters.cache_ops, ops);
            Counters::add(&domain.counters.cache_bytes, bytes);
        }
        if let Some((r, _)) = ready {
            r.signal();
        }
        self.plans = plans;

        // Step 5: we hold the buffers until unlock or the deadline.
        let deadline = platform::now().saturating_add(self.hold_deadline);
        let names = match &self.held {
            Some(h) => h.clone(),
            None => {
                let h: HeldBuffers = self
                    .entries
                    .iter()
                    .map(|e| (e.buf.name, e.access))
                    .collect();
                self.held = Some(h.clone());
                h
            }
        };
        let holder = domain.register_holder(&mut self.holder, self.id, deadline, names, done);
        Counters::add(&domain.counters.locks, 1);
        // No guard is alive (they borrow the previous `Locked`, which borrowed the set).
        self.borrows.0.clear();
        self.borrows
            .0
            .resize_with(self.entries.len(), || Cell::new(0));
        Ok(Locked {
            set: &*self,
            holder,
            done: done_fence,
            _not_sync: PhantomData,
            released: false,
        })
    }

    /// Waits for the noted fences of previous users until the set's wait limit; every
    /// `watchdog_poll` runs the watchdog, so a holder past its deadline is expired and its
    /// fence completes (with `Timeout`). `None` when every fence signalled `Ok`; else the
    /// first failure (we need not wait for the rest: nothing was planned, nothing will be
    /// touched) or, at the limit, `WaitTimeout` naming the buffer still waited for.
    fn wait_all(&self, waits: &[(usize, Fence)]) -> Option<SyncError> {
        let start = platform::now();
        let limit = start.saturating_add(self.wait_limit);
        for (i, f) in waits {
            let buffer = self.entries[*i].buf.name;
            loop {
                let now = platform::now();
                // Checked before the limit: a fence that signalled just in time counts.
                match f.status() {
                    FenceStatus::Ok => break,
                    FenceStatus::Err(error) => {
                        return Some(SyncError::Predecessor { buffer, error });
                    }
                    FenceStatus::Pending if now >= limit => {
                        return Some(SyncError::WaitTimeout {
                            buffer,
                            waited: now.saturating_duration_since(start),
                        });
                    }
                    FenceStatus::Pending => {}
                }
                let poll = now.saturating_add(self.domain.config.watchdog_poll);
                if f.wait_until(Some(poll.min(limit))) == FenceStatus::Pending {
                    self.domain.check_deadlines();
                }
            }
        }
        None
    }

    fn set_waiting(&self, waiting: bool) {
        let mut g = self.domain.waiters.lock();
        g.with(|w| {
            w.retain(|x| x.set_id != self.id);
            if waiting {
                w.push(Waiter {
                    set_id: self.id,
                    buffers: self
                        .entries
                        .iter()
                        .map(|e| (e.buf.name, e.access))
                        .collect(),
                });
            }
        });
    }
}

/// Step 1: every entry's reservation lock, in one wound/wait transaction.
fn lock_entries<'a>(
    locks: &mut LockSet<'a, crate::resv::ResvLock, WaitDie>,
    entries: &[Entry<'a>],
) -> Result<(), SyncError> {
    locks
        .lock_all(|s| {
            for e in entries {
                s.lock(e.buf.resv.ww_mutex())?;
            }
            Ok::<(), WwError>(())
        })
        // `add` rejects duplicates, so only back-offs happen, and `lock_all` absorbs those.
        .map_err(|_| SyncError::Duplicate {
            buffer: "(reservation lock)",
        })
}

/// Step 2b: each entry's maintenance plan from its tracker, which records the access; only
/// the plans with something to do are kept.
fn plan_entries(
    locks: &mut LockSet<'_, crate::resv::ResvLock, WaitDie>,
    entries: &[Entry<'_>],
    plans: &mut Vec<Plan>,
) {
    for e in entries {
        if e.uncached {
            // `plan` of an uncached buffer's tracker is empty and changes nothing.
            continue;
        }
        let mut held = e.buf.resv.locked_in(locks).expect(LOCKED_ALL);
        // The range was validated by `add_range`, so planning cannot fail.
        let plan = e
            .buf
            .tracker(&mut held, |t| t.plan(e.access, Some(e.range.clone())))
            .unwrap_or_default();
        if !plan.is_empty() {
            plans.push(plan);
        }
    }
}

/// A locked sync set: the source of guards. Dropping it unlocks (like [`Locked::unlock`],
/// ignoring the result).
///
/// One lifetime: [`SyncSet::lock`] borrows the set mutably for `'s`, so nothing can change
/// the set while it is locked, and the lock reads the set through that borrow (a shared
/// reborrow, which lets the domain's lifetime shrink to `'s`).
pub struct Locked<'s, M: MemorySystem> {
    set: &'s SyncSet<'s, M>,
    holder: Arc<Holder>,
    done: Fence,
    /// Keeps a locked set on one thread at a time: the guards' borrow flags (in the set)
    /// are plain cells.
    _not_sync: PhantomData<Cell<()>>,
    released: bool,
}

impl<M: MemorySystem> fmt::Debug for Locked<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locked")
            .field("set", &self.set)
            .field("holder", &self.holder)
            .finish()
    }
}

impl<'s, M: MemorySystem> Locked<'s, M> {
    fn entry(&self, buf: &SyncBuffer) -> Result<(usize, &Entry<'s>), SyncError> {
        let i = self.set.position(buf)?;
        Ok((i, &self.set.entries[i]))
    }

    /// Read access for the CPU to `buf`, registered with a CPU access that reads.
    pub fn cpu_read(&self, buf: &SyncBuffer) -> Result<CpuRead<'_, M>, SyncError> {
        let (i, e) = self.entry(buf)?;
        if e.access.agent != Agent::Cpu || !e.access.reads() {
            return Err(SyncError::WrongAccess {
                buffer: buf.name,
                wanted: "CPU read",
            });
        }
        self.holder.ensure_live()?;
        let b = &self.set.borrows.0[i];
        if b.get() < 0 {
            return Err(SyncError::GuardBusy { buffer: buf.name });
        }
        b.set(b.get() + 1);
        Ok(CpuRead {
            view: self.view(i),
            borrow: b,
        })
    }

    /// Write access for the CPU to `buf`, registered with a CPU access that writes.
    pub fn cpu_write(&self, buf: &SyncBuffer) -> Result<CpuWrite<'_, M>, SyncError> {
        let (i, e) = self.entry(buf)?;
        if e.access.agent != Agent::Cpu || !e.access.writes() {
            return Err(SyncError::WrongAccess {
                buffer: buf.name,
                wanted: "CPU write",
            });
        }
        self.holder.ensure_live()?;
        let b = &self.set.borrows.0[i];
        if b.get() != 0 {
            return Err(SyncError::GuardBusy { buffer: buf.name });
        }
        b.set(-1);
        Ok(CpuWrite {
            view: self.view(i),
            borrow: b,
        })
    }

    /// Device access to `buf` for `device`, registered with that device's access: gives the
    /// bus address, never the bytes.
    pub fn dma(&self, buf: &SyncBuffer, device: DeviceId) -> Result<DmaAccess<'_>, SyncError> {
        let (_, e) = self.entry(buf)?;
        match e.access.agent {
            Agent::Device(d, _) if d == device => {}
            _ => {
                return Err(SyncError::WrongAccess {
                    buffer: buf.name,
                    wanted: "this device's DMA",
                });
            }
        }
        self.holder.ensure_live()?;
        Ok(DmaAccess {
            holder: &self.holder,
            buf: e.buf,
            range: e.range.clone(),
            access: e.access,
        })
    }

    fn view(&self, i: usize) -> View<'_, M> {
        let e = &self.set.entries[i];
        View {
            holder: &self.holder,
            memory: &self.set.domain.memory,
            buf: e.buf,
            range: e.range.clone(),
        }
    }

    /// This lock's `done` fence: signals when the holder releases (or is expired).
    pub fn done_fence(&self) -> Fence {
        self.done.clone()
    }

    /// Releases the buffers now. `Err(Expired)` if the watchdog took them back first —
    /// whatever was written since may be lost, and the task must know.
    pub fn unlock(mut self) -> Result<(), SyncError> {
        self.released = true;
        self.holder.release(Ok(()))
    }

    /// Releases the buffers when `work` signals (with its result): for devices still
    /// reading or writing them when the CPU side is done.
    ///
    /// The whole job is one use of the holder, like a CPU guard's use, ended by `work`: the
    /// watchdog may start the expiry at the deadline (no guard or burst starts any more,
    /// and the holder's result becomes `Timeout`), but it cannot hand the buffers to the
    /// next user before `work` signals — by the device's completion or by the engine's
    /// reset — because the device may touch them until then. This is the safe default for
    /// every engine; an engine that brackets each of its memory accesses can let the
    /// watchdog take the buffers back between accesses with [`Locked::unlock_after_leased`].
    ///
    /// `Err(Expired)` if the watchdog took the buffers back before this call.
    pub fn unlock_after(mut self, work: &Fence) -> Result<(), SyncError> {
        self.released = true;
        // The job's use: taken here, while no guard use can be in progress (guards
        // borrow `self`), so a refusal means the expiry is done or completing.
        self.holder.enter()?;
        self.hand_over(work, true);
        Ok(())
    }

    /// Like [`Locked::unlock_after`], but for an engine that brackets every burst of its
    /// memory accesses to these buffers with [`DeviceLease::burst`] (a software engine: a
    /// CPU core moving bytes): the returned lease makes each burst a use of the holder,
    /// and the watchdog's expiry completes as soon as no burst is in flight — later bursts
    /// are refused. An engine whose device reaches memory on its own (real hardware, a
    /// device model reading guest memory asynchronously) cannot keep that promise and must
    /// use `unlock_after`.
    ///
    /// `Err(Expired)` if the watchdog took the buffers back before this call.
    pub fn unlock_after_leased(mut self, work: &Fence) -> Result<DeviceLease, SyncError> {
        self.released = true;
        self.holder.ensure_live()?;
        self.hand_over(work, false);
        Ok(DeviceLease::new(self.holder.clone()))
    }

    /// Releases the holder when `work` signals, with its result; `job_use`: the job holds
    /// a use of the holder (entered by the caller) that its completion ends.
    fn hand_over(&self, work: &Fence, job_use: bool) {
        let end = move |h: &Holder, r: FenceResult| {
            // A device error travels to the waiters; `Expired` here means the watchdog
            // took the buffers back first (and, for a job use, that this completes it).
            let _ = if job_use {
                h.release_job(r)
            } else {
                h.release(r)
            };
        };
        let weak = Arc::downgrade(&self.holder);
        let func: Box<dyn FnMut(FenceResult) + Send> = Box::new(move |r| {
            if let Some(h) = weak.upgrade() {
                end(&h, r);
            }
        });
        // The node goes into the holder *before* it is queued: once queued it may run at
        // once on another core and finish the holder, and the domain must then find the
        // node there, still running, and keep the holder (see `Holder::is_reclaimable`) —
        // else the callback's own reference could be the last one, and dropping the holder
        // inside the callback would free the node that is running.
        let queued = {
            let mut g = self.holder.completion.lock();
            g.with(|c| {
                let cb = c.insert(Box::pin(FenceCallback::new(func)));
                work.add_callback(cb.as_mut())
            })
        };
        if let Err(already) = queued {
            // The work finished already: its result is the release's.
            end(&self.holder, already.result);
        }
    }
}

impl<M: MemorySystem> Drop for Locked<'_, M> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.holder.release(Ok(()));
        }
    }
}

struct View<'l, M: MemorySystem> {
    holder: &'l Holder,
    memory: &'l M,
    buf: &'l SyncBuffer,
    range: Range<usize>,
}

/// One guard use in progress; leaving on drop keeps the count right even if the user's
/// closure unwinds (host tests), so a pending expiry can always complete.
struct Use<'a>(&'a Holder);

impl<'a> Use<'a> {
    fn enter(holder: &'a Holder) -> Result<Self, SyncError> {
        holder.enter()?;
        Ok(Self(holder))
    }
}

impl Drop for Use<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl<M: MemorySystem> View<'_, M> {
    fn virt(&self) -> usize {
        self.buf.region.virt() + self.range.start
    }

    /// Runs `f` on the declared bytes for reading, as one guard use.
    fn read<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, SyncError> {
        let _use = Use::enter(self.holder)?;
        // SAFETY: the range is inside the buffer's region (checked at registration); the
        // set holds the buffer for an access that reads (shared with readers only, or
        // exclusive), so no writer runs concurrently, and the watchdog cannot release it
        // while this use is entered. (`CpuMemory` lives in hal, below this crate, so its
        // contract cannot take a sync-set guard as the proof; the views are the only
        // callers, and only `CpuRead`/`CpuWrite` reach them.)
        Ok(unsafe { self.memory.with_bytes(self.virt(), self.range.len(), f) })
    }
}

/// CPU read access to one buffer's declared bytes. Gives `&[u8]` only, for the duration of
/// a closure, so the watchdog can never take the buffer back mid-read.
pub struct CpuRead<'l, M: MemorySystem> {
    view: View<'l, M>,
    borrow: &'l Cell<isize>,
}

impl<M: MemorySystem> CpuRead<'_, M> {
    /// Runs `f` on the bytes. `Err(Expired)` once the watchdog took the buffer back.
    pub fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, SyncError> {
        self.view.read(f)
    }

    /// The declared byte range within the buffer.
    pub fn range(&self) -> Range<usize> {
        self.view.range.clone()
    }
}

impl<M: MemorySystem> Drop for CpuRead<'_, M> {
    fn drop(&mut self) {
        self.borrow.set(self.borrow.get() - 1);
    }
}

impl<M: MemorySystem> fmt::Debug for CpuRead<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuRead")
            .field("buffer", &self.view.buf.name)
            .field("range", &self.view.range)
            .finish()
    }
}

/// CPU write access to one buffer's declared bytes.
pub struct CpuWrite<'l, M: MemorySystem> {
    view: View<'l, M>,
    borrow: &'l Cell<isize>,
}

impl<M: MemorySystem> CpuWrite<'_, M> {
    /// Runs `f` on the bytes for writing. `Err(Expired)` once the watchdog took the buffer
    /// back: nothing is written then.
    pub fn with_mut<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R, SyncError> {
        let v = &self.view;
        let _use = Use::enter(v.holder)?;
        // SAFETY: as for `View::read`, and exclusive: `cpu_write`, this guard's only
        // constructor, hands it out only for a writing access (which excludes every other
        // holder) and only with the buffer's borrow flag free, which it set to "writer"
        // until the guard drops; `&mut self` keeps this call the guard's only one.
        Ok(unsafe { v.memory.with_bytes_mut(v.virt(), v.range.len(), f) })
    }

    /// Runs `f` on the bytes for reading (a write access may read what it wrote).
    pub fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, SyncError> {
        self.view.read(f)
    }

    /// The declared byte range within the buffer.
    pub fn range(&self) -> Range<usize> {
        self.view.range.clone()
    }
}

impl<M: MemorySystem> Drop for CpuWrite<'_, M> {
    fn drop(&mut self) {
        self.borrow.set(0);
    }
}

impl<M: MemorySystem> fmt::Debug for CpuWrite<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuWrite")
            .field("buffer", &self.view.buf.name)
            .field("range", &self.view.range)
            .finish()
    }
}

/// Device access to one buffer: its bus address and length, never its bytes.
pub struct DmaAccess<'l> {
    holder: &'l Holder,
    buf: &'l SyncBuffer,
    range: Range<usize>,
    access: Access,
}

impl DmaAccess<'_> {
    /// Bus address and length of the declared range, for programming the device.
    /// `Err(Expired)` once the watchdog took the buffer back.
    pub fn bus_range(&self) -> Result<(BusAddr, usize), SyncError> {
        self.holder.ensure_live()?;
        let bus = self.buf.region.bus().0 + self.range.start as u64;
        Ok((BusAddr(bus), self.range.len()))
    }

    /// The access this guard grants.
    pub fn access(&self) -> Access {
        self.access
    }
}

impl fmt::Debug for DmaAccess<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaAccess")
            .field("buffer", &self.buf.name)
            .field("access", &self.access)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
#[forbid(unsafe_code)]
mod tests;
