//! A misbehaving client: a task on cpu 1 locks buffers and never unlocks. The board's
//! periodic watchdog ([`Target::start_watchdog`], a timer interrupt on cpu 0) — not a
//! waiter — takes them back at the hold deadline; another core then gets them; the
//! misbehaving task's next guard use and its late unlock both say `Expired`; well-behaved
//! users of other buffers are not disturbed.
//!
//! Semantics (sync/src/syncset/set.rs): a lock that *waited* for a holder the watchdog
//! expired fails with `Predecessor { error: Timeout }` and releases at once (the next attempt
//! succeeds); a lock taken after the expiry had completed does not inherit the error.
//!
//! The cases, in this order: [`watchdog_starts`], [`expired_without_waiter`],
//! [`expired_holder_told`], [`waiter_gets_timeout`]. Secondaries other than cpu 1 idle.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::any::Any;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use dmasync_hal::dma::{Coherency, DmaMemory, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_sync::FenceError;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain, SyncError, SyncSet};

use crate::{Target, ensure, millis, wait_until};

const BUF_BYTES: usize = 256;
/// The domain's deadline, which the misbehaving task on cpu 1 overstays. Short, so the test
/// is quick, yet long enough that cpu 1's own first writes after locking (which must
/// succeed) fit in it even when the host deschedules the vCPU; the watchdog polls ten times
/// per deadline.
const HOLD: Duration = Duration::from_millis(250);
const POLL: Duration = Duration::from_millis(25);
/// The deadline of cpu 0's well-behaved sets: they hold for microseconds, but a vCPU thread
/// the host deschedules between lock and unlock must not count as misbehaving (under load it
/// did: the domain's deadline expired a well-behaved round, 2 runs in 150).
const WELL_BEHAVED_HOLD: Duration = Duration::from_secs(60);
/// Bound on waiting for something that must happen; only a hang reaches it.
const PATIENCE_S: u64 = 5;
/// How long cpu 0 waits for the secondaries to reach the scenario's code.
const ONLINE_PATIENCE_S: u64 = 10;

const WELL_BEHAVED: u64 = 0x600d_600d_600d_600d;

struct World<M: MemorySystem + 'static> {
    domain: &'static SyncDomain<M>,
    /// a, b: the first misbehaving lock; c: a well-behaved user's; d: the second
    /// misbehaving lock, which a waiter runs into.
    a: SyncBuffer,
    b: SyncBuffer,
    c: SyncBuffer,
    d: SyncBuffer,
}

/// The [`World`], published once by cpu 0 before cpu 1 starts. Its memory type is the
/// board's [`Target::Memory`], which a static cannot name: `downcast_ref` checks it.
static WORLD: IrqSpinLock<Option<&'static (dyn Any + Send + Sync)>> = IrqSpinLock::new(None);

// The script cpu 1 follows, step by step, driven by cpu 0.
const IDLE: u32 = 0;
/// cpu 1: lock a and b for writing, stamp them, never unlock. Then report HOLDING.
const LOCK_AB: u32 = 1;
const HOLDING_AB: u32 = 2;
/// cpu 1: try the guards of a and b again, then unlock; report the results. Then lock d
/// and hold it (HOLDING_D), and after cpu 0 says so, use its guard and unlock it.
const TOUCH_AB: u32 = 3;
const TOUCHED_AB: u32 = 4;
const LOCK_D: u32 = 5;
const HOLDING_D: u32 = 6;
const TOUCH_D: u32 = 7;
const TOUCHED_D: u32 = 8;

static STEP: AtomicU32 = AtomicU32::new(IDLE);
/// Secondaries that reached the scenario's code after their bring-up.
static ONLINE: AtomicU32 = AtomicU32::new(0);
/// What cpu 1 saw: (guard use of a, guard use of b, unlock) after the expiry; and for d.
type SeenAb = [Result<(), SyncError>; 3];
type SeenD = [Result<(), SyncError>; 2];
static SEEN_AB: IrqSpinLock<Option<SeenAb>> = IrqSpinLock::new(None);
static SEEN_D: IrqSpinLock<Option<SeenD>> = IrqSpinLock::new(None);
static CPU1_ERROR: IrqSpinLock<Option<String>> = IrqSpinLock::new(None);

fn world<M: MemorySystem + Send + Sync + 'static>() -> Result<&'static World<M>, String> {
    let w: &'static (dyn Any + Send + Sync) =
        (*WORLD.lock()).ok_or("no world yet: `watchdog_starts` builds it")?;
    w.downcast_ref::<World<M>>()
        .ok_or_else(|| "the world is of another memory type than this board's".into())
}

fn wait_step<T: Target>(want: u32) -> bool {
    wait_until::<T>(PATIENCE_S, || STEP.load(Ordering::Acquire) == want)
}

fn set_step<T: Target>(s: u32) {
    STEP.store(s, Ordering::Release);
    T::send_event();
}

/// The misbehaving task: it locks, writes, and "forgets" to unlock until told to look again.
fn misbehave<T: Target>(world: &World<T::Memory>) -> Result<(), String> {
    if !wait_step::<T>(LOCK_AB) {
        return Err("cpu 0 never asked for the lock".into());
    }
    let mut set = world.domain.set();
    set.add(&world.a, Access::CPU_READ_WRITE)
        .and_then(|()| set.add(&world.b, Access::CPU_WRITE))
        .map_err(|e| format!("add: {e}"))?;
    let locked = set.lock().map_err(|e| format!("lock a+b: {e}"))?;
    for buf in [&world.a, &world.b] {
        locked
            .cpu_write(buf)
            .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0xbd)))
            .map_err(|e| format!("first write of {}: {e}", buf.name()))?;
    }
    set_step::<T>(HOLDING_AB);
    // ... and never unlocks. Much later, cpu 0 asks it to look again.
    if !wait_step::<T>(TOUCH_AB) {
        return Err("cpu 0 never asked to touch a and b again".into());
    }
    let use_a = locked
        .cpu_write(&world.a)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0xee)));
    let use_b = locked
        .cpu_write(&world.b)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0xee)));
    let unlock = locked.unlock();
    *SEEN_AB.lock() = Some([use_a, use_b, unlock]);
    set_step::<T>(TOUCHED_AB);

    if !wait_step::<T>(LOCK_D) {
        return Err("cpu 0 never asked for the lock of d".into());
    }
    let mut set = world.domain.set();
    set.add(&world.d, Access::CPU_WRITE)
        .map_err(|e| format!("add d: {e}"))?;
    let locked = set.lock().map_err(|e| format!("lock d: {e}"))?;
    locked
        .cpu_write(&world.d)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0xbd)))
        .map_err(|e| format!("first write of d: {e}"))?;
    set_step::<T>(HOLDING_D);
    if !wait_step::<T>(TOUCH_D) {
        return Err("cpu 0 never asked to touch d again".into());
    }
    let use_d = locked
        .cpu_write(&world.d)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0xee)));
    let unlock = locked.unlock();
    *SEEN_D.lock() = Some([use_d, unlock]);
    set_step::<T>(TOUCHED_D);
    Ok(())
}

/// The secondaries' entry (handed to [`Target::start_secondaries`] by [`watchdog_starts`]):
/// bring-up, report in; cpu 1 plays the misbehaving task, the others idle.
pub fn secondary<T: Target>(index: usize) -> ! {
    T::secondary_bring_up(index);
    ONLINE.fetch_add(1, Ordering::AcqRel);
    T::send_event();
    if index == 1 {
        // `watchdog_starts` published the world before it started this core.
        let r = world::<T::Memory>().and_then(misbehave::<T>);
        if let Err(e) = r {
            *CPU1_ERROR.lock() = Some(e);
            T::send_event();
        }
    }
    T::idle()
}

fn cpu1_error() -> Option<String> {
    CPU1_ERROR.lock().clone()
}

/// Case `watchdog_starts`: the board watchdog runs periodically on its own and expires
/// nothing while nothing is held; then the secondaries start.
pub fn watchdog_starts<T: Target>(t: &T) -> Result<(), String> {
    ensure!(
        t.cores() >= 2,
        "needs a second core, the board has {}",
        t.cores()
    );
    let config = SyncConfig {
        hold_deadline: HOLD,
        watchdog_poll: POLL,
        ..SyncConfig::default()
    };
    let domain: &'static SyncDomain<T::Memory> =
        Box::leak(Box::new(SyncDomain::new(t.memory(), config)));
    let heap = t.heap_dma();
    let mk = |name| {
        let region = heap
            .alloc(BUF_BYTES, Coherency::Coherent)
            .map_err(|e| format!("region {name}: {e}"))?;
        domain
            .buffer(name, region)
            .map_err(|e| format!("buffer {name}: {e}"))
    };
    let world = World {
        domain,
        a: mk("a")?,
        b: mk("b")?,
        c: mk("c")?,
        d: mk("d")?,
    };
    let runs0 = t.watchdog_runs();
    t.start_watchdog(domain)?;
    // It runs periodically on its own (its interrupt also ends each WFE here).
    wait_until::<T>(PATIENCE_S, || t.watchdog_runs() >= runs0 + 3);
    ensure!(
        t.watchdog_runs() >= runs0 + 3,
        "the watchdog ran {} times in {PATIENCE_S} s",
        t.watchdog_runs() - runs0
    );
    ensure!(
        t.watchdog_expired() == 0,
        "expired {} holder(s) with none held",
        t.watchdog_expired()
    );
    let world: &'static World<T::Memory> = Box::leak(Box::new(world));
    *WORLD.lock() = Some(world);
    let expected = t.cores() - 1;
    let started = t.start_secondaries(secondary::<T>);
    ensure!(
        started == Ok(expected),
        "start_secondaries: {started:?}, expected Ok({expected})"
    );
    ensure!(
        wait_until::<T>(ONLINE_PATIENCE_S, || ONLINE.load(Ordering::Acquire)
            as usize
            == expected),
        "{} of {expected} secondaries reported in within {ONLINE_PATIENCE_S} s",
        ONLINE.load(Ordering::Acquire)
    );
    Ok(())
}

/// A sync set for cpu 0's well-behaved users ([`WELL_BEHAVED_HOLD`]).
fn well_behaved_set<M: MemorySystem>(w: &World<M>) -> SyncSet<'static, M> {
    let mut set = w.domain.set();
    set.set_hold_deadline(WELL_BEHAVED_HOLD);
    set
}

/// A well-behaved user on cpu 0: lock c for writing, stamp it, check, unlock.
fn well_behaved_round<M: MemorySystem>(w: &World<M>, stamp: u64) -> Result<(), String> {
    let mut set = well_behaved_set(w);
    set.add(&w.c, Access::CPU_READ_WRITE)
        .map_err(|e| format!("add c: {e}"))?;
    let locked = set.lock().map_err(|e| format!("lock c: {e}"))?;
    locked
        .cpu_write(&w.c)
        .and_then(|mut g| {
            g.with_mut(|bytes| {
                for ch in bytes.chunks_exact_mut(8) {
                    ch.copy_from_slice(&stamp.to_ne_bytes());
                }
            })
        })
        .map_err(|e| format!("write c: {e}"))?;
    let ok = locked
        .cpu_read(&w.c)
        .and_then(|g| {
            g.with(|bytes| {
                bytes
                    .chunks_exact(8)
                    .all(|ch| ch == stamp.to_ne_bytes().as_slice())
            })
        })
        .map_err(|e| format!("read c: {e}"))?;
    if !ok {
        return Err("c does not hold what was just written".into());
    }
    locked.unlock().map_err(|e| format!("unlock c: {e}"))
}

/// Case `holder_expired_by_periodic_watchdog_without_waiter`: cpu 1 locks a and b and
/// keeps them; with nobody waiting, the board watchdog expires the set at its deadline while
/// a well-behaved user keeps using c; cpu 0 then gets a and b (a still holds what cpu 1
/// wrote) without inheriting the error.
pub fn expired_without_waiter<T: Target>(t: &T) -> Result<(), String> {
    let w = world::<T::Memory>()?;
    let hz = T::frequency();
    set_step::<T>(LOCK_AB);
    ensure!(
        wait_step::<T>(HOLDING_AB),
        "cpu 1 did not lock a and b: {:?}",
        cpu1_error()
    );
    let t0 = T::counter();
    let before = w.domain.stats();
    // Nobody waits for a or b: only the periodic watchdog can take them back. Meanwhile a
    // well-behaved user keeps using c.
    let give_up = t0 + PATIENCE_S * hz;
    let mut rounds = 0u64;
    while w.domain.stats().expired == before.expired && T::counter() < give_up {
        well_behaved_round(w, WELL_BEHAVED + rounds)?;
        rounds += 1;
    }
    let took = T::counter() - t0;
    let after = w.domain.stats();
    ensure!(
        after.expired == before.expired + 1,
        "expired {} holder(s) within {PATIENCE_S} s, expected exactly 1 (a+b)",
        after.expired - before.expired
    );
    ensure!(
        t.watchdog_expired() >= 1,
        "the expiry was not the board watchdog's"
    );
    ensure!(
        after.contended == before.contended,
        "someone waited for a or b: the expiry must come from the watchdog alone"
    );
    T::info(format_args!(
        "a+b expired {} ms after cpu 1 locked them (deadline {} ms, poll {} ms); {rounds} well-behaved rounds on c meanwhile",
        millis::<T>(took),
        HOLD.as_millis(),
        POLL.as_millis()
    ));
    // Another core (this one) now gets a and b, without inheriting the error: the expiry
    // completed before this lock.
    let mut set = well_behaved_set(w);
    set.add(&w.a, Access::CPU_READ)
        .and_then(|()| set.add(&w.b, Access::CPU_READ_WRITE))
        .map_err(|e| format!("add: {e}"))?;
    let locked = set
        .lock()
        .map_err(|e| format!("lock a+b after expiry: {e}"))?;
    let a_ok = locked
        .cpu_read(&w.a)
        .and_then(|g| g.with(|bytes| bytes.iter().all(|&x| x == 0xbd)))
        .map_err(|e| format!("read a: {e}"))?;
    ensure!(
        a_ok,
        "a does not hold what the misbehaving task wrote before it lost it"
    );
    locked
        .cpu_write(&w.b)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0x11)))
        .map_err(|e| format!("write b: {e}"))?;
    locked.unlock().map_err(|e| format!("unlock a+b: {e}"))?;
    Ok(())
}

/// Case `expired_holder_sees_expired_on_use_and_unlock`: cpu 1's guard uses and late unlock
/// say `Expired`, its writes never reached b, the well-behaved user still works and nothing
/// else was expired.
pub fn expired_holder_told<T: Target>(_: &T) -> Result<(), String> {
    let w = world::<T::Memory>()?;
    set_step::<T>(TOUCH_AB);
    ensure!(
        wait_step::<T>(TOUCHED_AB),
        "cpu 1 did not report: {:?}",
        cpu1_error()
    );
    let seen = SEEN_AB.lock().clone();
    let Some([use_a, use_b, unlock]) = seen else {
        return Err("cpu 1 reported nothing".into());
    };
    ensure!(
        use_a == Err(SyncError::Expired) && use_b == Err(SyncError::Expired),
        "guard uses after expiry: a {use_a:?}, b {use_b:?}; expected Err(Expired)"
    );
    ensure!(
        unlock == Err(SyncError::Expired),
        "late unlock: {unlock:?}, expected Err(Expired)"
    );
    // Its attempted writes (0xee) never reached the buffers: b holds what cpu 0 wrote.
    let mut set = well_behaved_set(w);
    set.add(&w.b, Access::CPU_READ)
        .map_err(|e| format!("add b: {e}"))?;
    let locked = set.lock().map_err(|e| format!("lock b: {e}"))?;
    let b_ok = locked
        .cpu_read(&w.b)
        .and_then(|g| g.with(|bytes| bytes.iter().all(|&x| x == 0x11)))
        .map_err(|e| format!("read b: {e}"))?;
    ensure!(b_ok, "b was changed by the expired holder");
    locked.unlock().map_err(|e| format!("unlock b: {e}"))?;
    // The well-behaved user still works, and nothing else was expired.
    well_behaved_round(w, WELL_BEHAVED ^ 1)?;
    ensure!(
        w.domain.stats().expired == 1,
        "{} holders expired, expected only the misbehaving one",
        w.domain.stats().expired
    );
    Ok(())
}

/// Case `waiter_gets_predecessor_timeout_then_the_buffer`: cpu 1 holds d past its deadline
/// while cpu 0 waits for it: the wait ends with `Predecessor { d, Timeout }`, the next lock
/// gets d, and cpu 1's late guard use and unlock say `Expired`.
pub fn waiter_gets_timeout<T: Target>(t: &T) -> Result<(), String> {
    let w = world::<T::Memory>()?;
    set_step::<T>(LOCK_D);
    ensure!(
        wait_step::<T>(HOLDING_D),
        "cpu 1 did not lock d: {:?}",
        cpu1_error()
    );
    // This lock waits for the misbehaving holder of d; the expiry ends the wait with the
    // holder's `Timeout`, reported as the predecessor's error.
    let mut set = well_behaved_set(w);
    set.add(&w.d, Access::CPU_READ_WRITE)
        .map_err(|e| format!("add d: {e}"))?;
    let first = set.lock().map(drop);
    ensure!(
        first
            == Err(SyncError::Predecessor {
                buffer: "d",
                error: FenceError::Timeout
            }),
        "lock of d while held past its deadline: {first:?}, expected Predecessor {{ d, Timeout }}"
    );
    // The failed attempt released at once: the next one gets d.
    let locked = set.lock().map_err(|e| format!("second lock of d: {e}"))?;
    locked
        .cpu_write(&w.d)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0x22)))
        .map_err(|e| format!("write d: {e}"))?;
    locked.unlock().map_err(|e| format!("unlock d: {e}"))?;
    set_step::<T>(TOUCH_D);
    ensure!(
        wait_step::<T>(TOUCHED_D),
        "cpu 1 did not report on d: {:?}",
        cpu1_error()
    );
    let seen = SEEN_D.lock().clone();
    let Some([use_d, unlock]) = seen else {
        return Err("cpu 1 reported nothing on d".into());
    };
    ensure!(
        use_d == Err(SyncError::Expired) && unlock == Err(SyncError::Expired),
        "expired holder of d: guard use {use_d:?}, unlock {unlock:?}; expected Err(Expired) twice"
    );
    let s = w.domain.stats();
    T::info(format_args!(
        "domain: {} locks, {} contended, {} expired, {} predecessor errors; board watchdog ran {} times and expired {}",
        s.locks,
        s.contended,
        s.expired,
        s.predecessor_errors,
        t.watchdog_runs(),
        t.watchdog_expired()
    ));
    ensure!(
        s.expired == 2 && s.predecessor_errors == 1,
        "expected 2 expiries and 1 predecessor error, stats say {s:?}"
    );
    ensure!(cpu1_error().is_none(), "cpu 1: {:?}", cpu1_error());
    Ok(())
}
