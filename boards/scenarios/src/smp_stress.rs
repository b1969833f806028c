//! SMP stress: every core the board has runs a seeded plan of random multi-buffer
//! transactions against shared buffers, through all three ways dmasync offers to take several
//! buffers at once:
//!
//! - **sync sets** (`SyncSet::lock`: wound/wait reservation locks, then fences) over a pool of
//!   `SyncBuffer`s, CPU read or read-write per buffer, bytes touched through the guards;
//! - **`LockSet`** over a pool of wound/wait mutexes (Wait-Die, locked in random order, so
//!   contention produces real back-offs);
//! - **KDS** (`KdsDomain::enqueue`, shared or exclusive per resource) over a pool of raw buffers.
//!
//! The oracle, per pool and buffer: atomic reader and writer counters checked on entry to and
//! exit from every critical section (a writer sees no one else, a reader sees no writer), and
//! the content: a writer first checks the buffer still holds the last committed stamp, then
//! stamps every word with its transaction id and commits that stamp; a reader checks every
//! word equals the last committed stamp. Afterwards every core's completed counts must equal
//! its planned counts (the plan is replayed from the seed on cpu 0).
//!
//! Bounded by counts, never by time: the plan is fixed by the seed, only the interleaving
//! varies from run to run, and the verdict does not depend on it. Figures (transactions per
//! core, KDS waits, back-offs, contended locks) are printed as `info:` lines.
//!
//! The cases, in this order: [`secondaries_start`], [`every_core_finishes`],
//! [`oracle_exclusion_and_content`], [`completed_counts_match_plan`].

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

use dmasync_hal::dma::{Coherency, DmaMemory, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_sync::kds::{self, Completion, KdsDomain, Resource};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};
use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WwError, WwMutex};

use crate::{MAX_CORES, Target, ensure, millis, wait_until};

/// Buffers per pool.
const BUFFERS: usize = 8;
/// Bytes per buffer (a whole number of cache lines on every Cortex-A).
const BUF_BYTES: usize = 256;
/// Most buffers one transaction takes.
const MAX_PICK: usize = 4;
/// Transactions each core runs.
pub const TXNS_PER_CORE: u32 = 400;
/// Seed of the plan; core `i` uses `SEED ^ (i + 1) * GOLDEN`.
const SEED: u64 = 0x5eed_d3a5_7e55_0001;
/// Bound on any single wait, far above what a transaction needs: only a hang reaches it.
const WAIT_LIMIT: Duration = Duration::from_secs(20);
/// How long cpu 0 waits for the others to finish their plans (xtask kills at 30 s).
const FINISH_PATIENCE_S: u64 = 25;
/// How long cpu 0 waits for the secondaries to reach the scenario's code.
const ONLINE_PATIENCE_S: u64 = 10;

/// The three ways of taking several buffers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mech {
    SyncSet = 0,
    LockSet = 1,
    Kds = 2,
}
const MECHS: [Mech; 3] = [Mech::SyncSet, Mech::LockSet, Mech::Kds];
const MECH_NAMES: [&str; 3] = ["sync-set", "lock-set", "kds"];

/// xorshift64*: small, seedable, good enough to pick subsets.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One planned transaction: mechanism and (buffer, writes) picks in locking order.
struct Txn {
    mech: Mech,
    picks: Vec<(usize, bool)>,
}

/// The plan generator for one core: the same sequence on every run and when replayed.
struct Plan(Rng);

impl Plan {
    fn for_core(core: usize) -> Self {
        Plan(Rng::new(
            SEED ^ (core as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ))
    }
    fn next(&mut self) -> Txn {
        let r = &mut self.0;
        // Half KDS (queued), half wound/wait (sync sets and bare lock sets, a quarter each).
        let mech = match r.below(4) {
            0 => Mech::SyncSet,
            1 => Mech::LockSet,
            _ => Mech::Kds,
        };
        let n = 1 + r.below(MAX_PICK as u64) as usize;
        let mut picks: Vec<(usize, bool)> = Vec::with_capacity(n);
        while picks.len() < n {
            let b = r.below(BUFFERS as u64) as usize;
            if picks.iter().all(|&(x, _)| x != b) {
                picks.push((b, r.below(2) == 0));
            }
        }
        Txn { mech, picks }
    }
}

/// Per-buffer oracle state of one pool.
struct Oracle {
    readers: [AtomicU32; BUFFERS],
    writers: [AtomicU32; BUFFERS],
    /// The stamp every word of the buffer must hold (0: never written).
    committed: [AtomicU64; BUFFERS],
}

impl Oracle {
    const fn new() -> Self {
        Self {
            readers: [const { AtomicU32::new(0) }; BUFFERS],
            writers: [const { AtomicU32::new(0) }; BUFFERS],
            committed: [const { AtomicU64::new(0) }; BUFFERS],
        }
    }

    fn enter(&self, mech: Mech, b: usize, write: bool) {
        if write {
            let w = self.writers[b].fetch_add(1, Ordering::SeqCst) + 1;
            let r = self.readers[b].load(Ordering::SeqCst);
            if w != 1 || r != 0 {
                violation(mech, b, "writer entered", w, r);
            }
        } else {
            self.readers[b].fetch_add(1, Ordering::SeqCst);
            let w = self.writers[b].load(Ordering::SeqCst);
            if w != 0 {
                violation(mech, b, "reader entered", w, 0);
            }
        }
    }

    fn leave(&self, mech: Mech, b: usize, write: bool) {
        if write {
            let w = self.writers[b].load(Ordering::SeqCst);
            let r = self.readers[b].load(Ordering::SeqCst);
            if w != 1 || r != 0 {
                violation(mech, b, "writer leaving", w, r);
            }
            self.writers[b].fetch_sub(1, Ordering::SeqCst);
        } else {
            let w = self.writers[b].load(Ordering::SeqCst);
            if w != 0 {
                violation(mech, b, "reader leaving", w, 0);
            }
            self.readers[b].fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A reader's check: every word holds the committed stamp.
    fn check(&self, mech: Mech, b: usize, bytes: &[u8]) {
        let want = self.committed[b].load(Ordering::Relaxed);
        if let Some(bad) = bytes
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()))
            .find(|&w| w != want)
        {
            content_error(mech, b, want, bad);
        }
    }

    /// A writer's turn: check the old content, stamp every word, commit the stamp.
    fn stamp(&self, mech: Mech, b: usize, bytes: &mut [u8], stamp: u64) {
        self.check(mech, b, bytes);
        for c in bytes.chunks_exact_mut(8) {
            c.copy_from_slice(&stamp.to_ne_bytes());
        }
        self.committed[b].store(stamp, Ordering::Relaxed);
    }
}

static SS_ORACLE: Oracle = Oracle::new();
static WW_ORACLE: Oracle = Oracle::new();
static KDS_ORACLE: Oracle = Oracle::new();

static VIOLATIONS: AtomicU64 = AtomicU64::new(0);
static CONTENT_ERRORS: AtomicU64 = AtomicU64::new(0);
static TXN_ERRORS: AtomicU64 = AtomicU64::new(0);
/// The first thing that went wrong, in words.
static FIRST_PROBLEM: IrqSpinLock<Option<String>> = IrqSpinLock::new(None);

fn note(what: String) {
    let mut g = FIRST_PROBLEM.lock();
    if g.is_none() {
        *g = Some(what);
    }
}

fn violation(mech: Mech, b: usize, what: &str, writers: u32, readers: u32) {
    VIOLATIONS.fetch_add(1, Ordering::Relaxed);
    note(format!(
        "{} buffer {b}: {what} with {writers} writer(s) and {readers} reader(s) inside",
        MECH_NAMES[mech as usize]
    ));
}

fn content_error(mech: Mech, b: usize, want: u64, got: u64) {
    CONTENT_ERRORS.fetch_add(1, Ordering::Relaxed);
    note(format!(
        "{} buffer {b}: word {got:#x}, committed stamp {want:#x}",
        MECH_NAMES[mech as usize]
    ));
}

/// Raw buffers for the KDS pool: reached only while a granted request holds them.
#[repr(C, align(64))]
struct KdsBuf(UnsafeCell<[u8; BUF_BYTES]>);
// SAFETY: every access goes through a granted KDS request naming this buffer's resource:
// exclusive requests alone, shared requests only with other shared ones (the queue's
// guarantee, which the oracle checks).
unsafe impl Sync for KdsBuf {}

static KDS_BUFS: [KdsBuf; BUFFERS] = [const { KdsBuf(UnsafeCell::new([0; BUF_BYTES])) }; BUFFERS];
static KDS: KdsDomain = KdsDomain::new();

static WW_BUFS: [WwMutex<[u8; BUF_BYTES], WaitDie>; BUFFERS] =
    [const { WwMutex::new([0; BUF_BYTES]) }; BUFFERS];

/// What cpu 0 builds before the others start: the sync domain, its buffers, KDS resources.
struct World<M: MemorySystem + 'static> {
    domain: &'static SyncDomain<M>,
    bufs: Vec<SyncBuffer>,
    resources: Vec<Resource>,
    /// Cores taking part.
    cores: usize,
}

/// The [`World`], published once by cpu 0 before GO. Its memory type is the board's
/// [`Target::Memory`], which a static cannot name: `downcast_ref` checks it.
static WORLD: IrqSpinLock<Option<&'static (dyn Any + Send + Sync)>> = IrqSpinLock::new(None);
static GO: AtomicBool = AtomicBool::new(false);
/// Secondaries that reached the scenario's code after their bring-up.
static ONLINE: AtomicUsize = AtomicUsize::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);
static ARRIVED: AtomicUsize = AtomicUsize::new(0);

/// Per core and mechanism: transactions completed.
static DONE: [[AtomicU32; 3]; MAX_CORES] = [const { [const { AtomicU32::new(0) }; 3] }; MAX_CORES];
/// Per core: KDS requests that were not granted at enqueue and had to wait.
static KDS_WAITS: [AtomicU32; MAX_CORES] = [const { AtomicU32::new(0) }; MAX_CORES];
/// Per core: lock-set back-offs.
static WW_BACKOFFS: [AtomicU64; MAX_CORES] = [const { AtomicU64::new(0) }; MAX_CORES];

fn world<M: MemorySystem + Send + Sync + 'static>() -> Option<&'static World<M>> {
    let w: &'static (dyn Any + Send + Sync) = (*WORLD.lock())?;
    w.downcast_ref::<World<M>>()
}

/// Spins a little inside a critical section, so overlapping transactions really overlap.
fn dwell(rng: &mut Rng) {
    for _ in 0..rng.below(2048) {
        core::hint::spin_loop();
    }
}

fn run_txn<M: MemorySystem>(
    world: &World<M>,
    core: usize,
    n: u32,
    txn: &Txn,
    rng: &mut Rng,
) -> Result<(), String> {
    // Unique, never 0 (0 is the initial content).
    let stamp = ((core as u64 + 1) << 32) | u64::from(n + 1);
    match txn.mech {
        Mech::SyncSet => {
            let o = &SS_ORACLE;
            let mut set = world.domain.set();
            for &(b, w) in &txn.picks {
                let access = if w {
                    Access::CPU_READ_WRITE
                } else {
                    Access::CPU_READ
                };
                set.add(&world.bufs[b], access)
                    .map_err(|e| format!("add: {e}"))?;
            }
            let locked = set.lock().map_err(|e| format!("lock: {e}"))?;
            for &(b, w) in &txn.picks {
                o.enter(txn.mech, b, w);
                let buf = &world.bufs[b];
                let r = if w {
                    locked
                        .cpu_write(buf)
                        .and_then(|mut g| g.with_mut(|bytes| o.stamp(txn.mech, b, bytes, stamp)))
                } else {
                    locked
                        .cpu_read(buf)
                        .and_then(|g| g.with(|bytes| o.check(txn.mech, b, bytes)))
                };
                dwell(rng);
                o.leave(txn.mech, b, w);
                r.map_err(|e| format!("guard: {e}"))?;
            }
            locked.unlock().map_err(|e| format!("unlock: {e}"))
        }
        Mech::LockSet => {
            let o = &WW_ORACLE;
            let ctx: AcquireCtx<WaitDie> = AcquireCtx::new();
            let mut set = LockSet::with_capacity(&ctx, txn.picks.len());
            set.lock_all(|s| {
                for &(b, _) in &txn.picks {
                    s.lock(&WW_BUFS[b])?;
                    // Work between locks (as a driver validating each object does): widens
                    // the window in which a younger context holds some locks and meets an
                    // older holder, which is what makes Wait-Die back off.
                    dwell(rng);
                }
                Ok::<(), WwError>(())
            })
            .map_err(|e| format!("lock_all: {e}"))?;
            WW_BACKOFFS[core].fetch_add(set.rollbacks(), Ordering::Relaxed);
            for &(b, w) in &txn.picks {
                let data = set
                    .get_mut(&WW_BUFS[b])
                    .ok_or_else(|| format!("buffer {b} missing from the lock set"))?;
                o.enter(txn.mech, b, w);
                if w {
                    o.stamp(txn.mech, b, data, stamp);
                } else {
                    o.check(txn.mech, b, data);
                }
                dwell(rng);
                o.leave(txn.mech, b, w);
            }
            drop(set);
            Ok(())
        }
        Mech::Kds => {
            let o = &KDS_ORACLE;
            let list: Vec<(Resource, kds::Sharing)> = txn
                .picks
                .iter()
                .map(|&(b, w)| {
                    let a = if w {
                        kds::Sharing::Exclusive
                    } else {
                        kds::Sharing::Shared
                    };
                    (world.resources[b], a)
                })
                .collect();
            let mut req = KDS
                .enqueue(&list, Completion::None)
                .map_err(|e| format!("enqueue: {e}"))?;
            if !req.is_granted() {
                KDS_WAITS[core].fetch_add(1, Ordering::Relaxed);
                req.wait(Some(WAIT_LIMIT))
                    .map_err(|e| format!("wait: {e}"))?;
            }
            for &(b, w) in &txn.picks {
                o.enter(txn.mech, b, w);
                let cell = KDS_BUFS[b].0.get();
                if w {
                    // SAFETY: the granted request holds buffer b exclusively: nobody else
                    // reaches its bytes until `release` below.
                    o.stamp(txn.mech, b, unsafe { &mut *cell }, stamp);
                } else {
                    // SAFETY: the granted request holds buffer b shared: only other shared
                    // holders, which only read, reach its bytes until `release` below.
                    o.check(txn.mech, b, unsafe { &*cell });
                }
                dwell(rng);
                o.leave(txn.mech, b, w);
            }
            req.release().map_err(|r| format!("release: {}", r.error))
        }
    }
}

/// Runs core `core`'s whole plan; failures are counted and noted, never fatal.
fn worker<M: MemorySystem>(world: &World<M>, core: usize) {
    let mut plan = Plan::for_core(core);
    let mut rng = Rng::new(SEED.rotate_left(17) ^ core as u64);
    // Start together, so the plans overlap from the first transaction.
    ARRIVED.fetch_add(1, Ordering::AcqRel);
    while ARRIVED.load(Ordering::Acquire) < world.cores {
        core::hint::spin_loop();
    }
    for n in 0..TXNS_PER_CORE {
        let txn = plan.next();
        match run_txn(world, core, n, &txn, &mut rng) {
            Ok(()) => {
                DONE[core][txn.mech as usize].fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                TXN_ERRORS.fetch_add(1, Ordering::Relaxed);
                note(format!(
                    "cpu {core} transaction {n} ({}): {e}",
                    MECH_NAMES[txn.mech as usize]
                ));
            }
        }
    }
    FINISHED.fetch_add(1, Ordering::AcqRel);
}

/// The secondaries' entry (handed to [`Target::start_secondaries`] by [`secondaries_start`]):
/// bring-up, report in, wait for GO, run this core's plan, idle.
pub fn secondary<T: Target>(index: usize) -> ! {
    T::secondary_bring_up(index);
    ONLINE.fetch_add(1, Ordering::AcqRel);
    T::send_event();
    while !GO.load(Ordering::Acquire) {
        T::wait_for_event();
    }
    match world::<T::Memory>() {
        Some(w) if index < w.cores => worker(w, index),
        Some(w) => note(format!(
            "cpu {index} started, but only {} cores take part",
            w.cores
        )),
        None => note(format!(
            "cpu {index}: GO without a world of this board's memory type"
        )),
    }
    T::idle()
}

/// Case `secondaries_start`: every other core starts and reaches the scenario's code.
pub fn secondaries_start<T: Target>(t: &T) -> Result<(), String> {
    let cores = t.cores();
    ensure!(
        (2..=MAX_CORES).contains(&cores),
        "{cores} cores: the stress needs 2 to {MAX_CORES}"
    );
    let expected = cores - 1;
    let started = t.start_secondaries(secondary::<T>);
    ensure!(
        started == Ok(expected),
        "start_secondaries: {started:?}, expected Ok({expected})"
    );
    ensure!(
        wait_until::<T>(ONLINE_PATIENCE_S, || ONLINE.load(Ordering::Acquire)
            == expected),
        "{} of {expected} secondaries reported in within {ONLINE_PATIENCE_S} s",
        ONLINE.load(Ordering::Acquire)
    );
    Ok(())
}

fn build_world<T: Target>(t: &T) -> Result<World<T::Memory>, String> {
    let config = SyncConfig {
        // Far above any transaction: the stress is about exclusion, not expiry.
        hold_deadline: WAIT_LIMIT,
        ..SyncConfig::default()
    };
    let domain: &'static SyncDomain<T::Memory> =
        Box::leak(Box::new(SyncDomain::new(t.memory(), config)));
    let heap = t.heap_dma();
    let names = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];
    let mut bufs = Vec::with_capacity(BUFFERS);
    for name in names {
        let region = heap
            .alloc(BUF_BYTES, Coherency::Coherent)
            .map_err(|e| format!("region {name}: {e}"))?;
        bufs.push(
            domain
                .buffer(name, region)
                .map_err(|e| format!("buffer {name}: {e}"))?,
        );
    }
    let resources = (0..BUFFERS)
        .map(|_| KDS.new_resource())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("KDS resource: {e}"))?;
    Ok(World {
        domain,
        bufs,
        resources,
        cores: t.cores(),
    })
}

/// Case `every_core_finishes_its_plan`: cpu 0 builds the buffers, sets GO and runs its own
/// plan; every core finishes within the patience.
pub fn every_core_finishes<T: Target>(t: &T) -> Result<(), String> {
    ensure!(
        ONLINE.load(Ordering::Acquire) + 1 == t.cores(),
        "only {} of {} secondaries are online",
        ONLINE.load(Ordering::Acquire),
        t.cores() - 1
    );
    let world: &'static World<T::Memory> = Box::leak(Box::new(build_world(t)?));
    *WORLD.lock() = Some(world);
    let hz = T::frequency();
    let t0 = T::counter();
    GO.store(true, Ordering::Release);
    T::send_event();
    worker(world, 0);
    let cores = world.cores;
    let give_up = T::counter() + FINISH_PATIENCE_S * hz;
    while FINISHED.load(Ordering::Acquire) < cores && T::counter() < give_up {
        core::hint::spin_loop();
    }
    let took = T::counter() - t0;
    let finished = FINISHED.load(Ordering::Acquire);
    ensure!(
        finished == cores,
        "{finished} of {cores} cores finished their plan within {FINISH_PATIENCE_S} s"
    );
    let s = world.domain.stats();
    T::info(format_args!(
        "{cores} cores x {TXNS_PER_CORE} transactions over {BUFFERS} buffers per pool in {} ms",
        millis::<T>(took)
    ));
    T::info(format_args!(
        "sync sets: {} locks, {} contended (waited for a previous user), {} wound/wait back-offs, {} expired",
        s.locks, s.contended, s.backoffs, s.expired
    ));
    Ok(())
}

/// Case `oracle_exclusion_and_content`: no exclusion violation, no content error, no failed
/// transaction on any core.
pub fn oracle_exclusion_and_content<T: Target>(_: &T) -> Result<(), String> {
    let v = VIOLATIONS.load(Ordering::Relaxed);
    let c = CONTENT_ERRORS.load(Ordering::Relaxed);
    let e = TXN_ERRORS.load(Ordering::Relaxed);
    let first = FIRST_PROBLEM.lock().clone().unwrap_or_default();
    ensure!(
        v == 0 && c == 0 && e == 0,
        "{v} exclusion violation(s), {c} content error(s), {e} failed transaction(s); first: {first}"
    );
    Ok(())
}

/// Case `completed_counts_match_plan`: each core completed exactly what its plan (replayed
/// here from the seed) says, per mechanism, and every mechanism ran.
pub fn completed_counts_match_plan<T: Target>(t: &T) -> Result<(), String> {
    let mut total = [0u32; 3];
    for core in 0..t.cores().min(MAX_CORES) {
        let mut planned = [0u32; 3];
        let mut plan = Plan::for_core(core);
        for _ in 0..TXNS_PER_CORE {
            planned[plan.next().mech as usize] += 1;
        }
        let done: [u32; 3] = core::array::from_fn(|m| DONE[core][m].load(Ordering::Relaxed));
        T::info(format_args!(
            "cpu {core}: sync-set {}/{}, lock-set {}/{} ({} back-offs), kds {}/{} ({} waited)",
            done[0],
            planned[0],
            done[1],
            planned[1],
            WW_BACKOFFS[core].load(Ordering::Relaxed),
            done[2],
            planned[2],
            KDS_WAITS[core].load(Ordering::Relaxed)
        ));
        for m in MECHS {
            let i = m as usize;
            ensure!(
                done[i] == planned[i],
                "cpu {core} completed {} of {} planned {} transactions",
                done[i],
                planned[i],
                MECH_NAMES[i]
            );
            total[i] += done[i];
        }
    }
    ensure!(
        total.iter().all(|&t| t > 0),
        "a mechanism ran no transaction at all: {total:?}"
    );
    Ok(())
}
