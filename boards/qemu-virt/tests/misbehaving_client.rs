//! A misbehaving client: a task on cpu 1 locks buffers and never unlocks. The board's
//! periodic watchdog (`dmasync_qemu_virt::watchdog`, the virtual-timer interrupt on cpu 0) —
//! not a waiter — takes them back at the hold deadline; another core then gets them; the
//! misbehaving task's next guard use and its late unlock both say `Expired`; well-behaved
//! users of other buffers are not disturbed.
//!
//! Semantics (sync/src/syncset/set.rs): a lock that *waited* for a holder the watchdog
//! expired fails with `Predecessor { error: Timeout }` and releases at once (the next attempt
//! succeeds); a lock taken after the expiry had completed does not inherit the error.
//!
//! Expected output: `test <case> ... ok` per case, then `verdict: ok (4 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use core::time::Duration;

use dmasync_hal::clock::ticks_to_ns;
use dmasync_hal::dma::{Coherency, DirectMemory, DmaMemory, DmaRegion};
use dmasync_qemu_virt::Board;
use dmasync_qemu_virt::arch::cache::DataCache;
use dmasync_qemu_virt::arch::cpu;
use dmasync_qemu_virt::arch::spin::SpinLock;
use dmasync_qemu_virt::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_qemu_virt::arch::{ensure, test_info, timer};
use dmasync_qemu_virt::watchdog;
use dmasync_sync::FenceError;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain, SyncError};

dmasync_aarch64::entry!(main, 40);

type Domain = SyncDomain<DirectMemory<DataCache>>;

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

const WELL_BEHAVED: u64 = 0x600d_600d_600d_600d;

struct World {
    domain: &'static Domain,
    /// a, b: the first misbehaving lock; c: a well-behaved user's; d: the second
    /// misbehaving lock, which a waiter runs into.
    a: SyncBuffer,
    b: SyncBuffer,
    c: SyncBuffer,
    d: SyncBuffer,
}

static WORLD: AtomicPtr<World> = AtomicPtr::new(core::ptr::null_mut());

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
/// What cpu 1 saw: (guard use of a, guard use of b, unlock) after the expiry; and for d.
static SEEN_AB: SpinLock<Option<[Result<(), SyncError>; 3]>> = SpinLock::new(None);
static SEEN_D: SpinLock<Option<[Result<(), SyncError>; 2]>> = SpinLock::new(None);
static CPU1_ERROR: SpinLock<Option<String>> = SpinLock::new(None);

fn wait_step(want: u32) -> bool {
    let hz = timer::counter_frequency();
    let give_up = timer::counter() + PATIENCE_S * hz;
    while STEP.load(Ordering::Acquire) != want {
        if timer::counter() > give_up {
            return false;
        }
        cpu::wait_for_event();
    }
    true
}

fn set_step(s: u32) {
    STEP.store(s, Ordering::Release);
    // SAFETY: `sev` only sets every core's event register.
    unsafe { core::arch::asm!("dsb ish", "sev", options(nostack, preserves_flags)) };
}

/// The misbehaving task: it locks, writes, and "forgets" to unlock until told to look again.
fn misbehave(world: &World) -> Result<(), String> {
    if !wait_step(LOCK_AB) {
        return Err("cpu 0 never asked for the lock".into());
    }
    let mut set = world.domain.set();
    set.add(&world.a, Access::CPU_READ_WRITE)
        .and_then(|()| set.add(&world.b, Access::CPU_WRITE))
        .map_err(|e| alloc::format!("add: {e}"))?;
    let locked = set.lock().map_err(|e| alloc::format!("lock a+b: {e}"))?;
    for buf in [&world.a, &world.b] {
        locked
            .cpu_write(buf)
            .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0xbd)))
            .map_err(|e| alloc::format!("first write of {}: {e}", buf.name()))?;
    }
    set_step(HOLDING_AB);
    // ... and never unlocks. Much later, cpu 0 asks it to look again.
    if !wait_step(TOUCH_AB) {
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
    set_step(TOUCHED_AB);

    if !wait_step(LOCK_D) {
        return Err("cpu 0 never asked for the lock of d".into());
    }
    let mut set = world.domain.set();
    set.add(&world.d, Access::CPU_WRITE)
        .map_err(|e| alloc::format!("add d: {e}"))?;
    let locked = set.lock().map_err(|e| alloc::format!("lock d: {e}"))?;
    locked
        .cpu_write(&world.d)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0xbd)))
        .map_err(|e| alloc::format!("first write of d: {e}"))?;
    set_step(HOLDING_D);
    if !wait_step(TOUCH_D) {
        return Err("cpu 0 never asked to touch d again".into());
    }
    let use_d = locked
        .cpu_write(&world.d)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0xee)));
    let unlock = locked.unlock();
    *SEEN_D.lock() = Some([use_d, unlock]);
    set_step(TOUCHED_D);
    Ok(())
}

fn secondary(index: usize) -> ! {
    dmasync_qemu_virt::secondary_bring_up(index);
    if index == 1 {
        while WORLD.load(Ordering::Acquire).is_null() {
            cpu::wait_for_event();
        }
        // SAFETY: cpu 0 stored a leaked (never freed) `World`, observed with Acquire.
        let world = unsafe { &*WORLD.load(Ordering::Acquire) };
        if let Err(e) = misbehave(world) {
            *CPU1_ERROR.lock() = Some(e);
        }
    }
    loop {
        cpu::wait_for_interrupt();
    }
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let board = dmasync_qemu_virt::init(x0);
    testkit::run(
        &board,
        &[
            Test {
                name: "watchdog_starts",
                run: watchdog_starts,
            },
            Test {
                name: "holder_expired_by_periodic_watchdog_without_waiter",
                run: expired_without_waiter,
            },
            Test {
                name: "expired_holder_sees_expired_on_use_and_unlock",
                run: expired_holder_told,
            },
            Test {
                name: "waiter_gets_predecessor_timeout_then_the_buffer",
                run: waiter_gets_timeout,
            },
        ],
    )
}

fn cpu1_error() -> Option<String> {
    CPU1_ERROR.lock().clone()
}

fn region() -> Result<DmaRegion, Failure> {
    dmasync_qemu_virt::dma_pool::heap_dma()
        .alloc(BUF_BYTES, Coherency::Coherent)
        .map_err(|e| Failure(alloc::format!("region: {e}")))
}

fn watchdog_starts(board: &Board) -> TestResult {
    ensure!(board.dt.cpu_count >= 2, "needs a second core");
    let config = SyncConfig {
        hold_deadline: HOLD,
        watchdog_poll: POLL,
        ..SyncConfig::default()
    };
    let domain: &'static Domain =
        Box::leak(Box::new(SyncDomain::new(DirectMemory(DataCache), config)));
    let mk = |name| {
        domain
            .buffer(name, region()?)
            .map_err(|e| Failure(alloc::format!("buffer {name}: {e}")))
    };
    let world = World {
        domain,
        a: mk("a")?,
        b: mk("b")?,
        c: mk("c")?,
        d: mk("d")?,
    };
    let runs0 = watchdog::runs();
    watchdog::start(board, domain).map_err(|e| Failure(alloc::format!("{e}")))?;
    // It runs periodically on its own.
    let hz = timer::counter_frequency();
    let give_up = timer::counter() + PATIENCE_S * hz;
    while watchdog::runs() < runs0 + 3 && timer::counter() < give_up {
        cpu::wait_for_event();
    }
    ensure!(
        watchdog::runs() >= runs0 + 3,
        "the watchdog ran {} times in {PATIENCE_S} s",
        watchdog::runs() - runs0
    );
    ensure!(
        watchdog::expired() == 0,
        "expired {} holder(s) with none held",
        watchdog::expired()
    );
    WORLD.store(Box::into_raw(Box::new(world)), Ordering::Release);
    let started = dmasync_qemu_virt::start_secondaries(board, secondary);
    ensure!(started.is_ok(), "starting secondaries: {started:?}");
    let n = board.dt.cpu_count - 1;
    ensure!(
        dmasync_qemu_virt::wait_for_secondaries(n, dmasync_qemu_virt::SECONDARIES_PATIENCE_S * hz)
            == n,
        "secondaries did not report in"
    );
    Ok(())
}

/// A sync set for cpu 0's well-behaved users ([`WELL_BEHAVED_HOLD`]).
fn well_behaved_set(w: &World) -> dmasync_sync::syncset::SyncSet<'static, DirectMemory<DataCache>> {
    let mut set = w.domain.set();
    set.set_hold_deadline(WELL_BEHAVED_HOLD);
    set
}

fn world() -> &'static World {
    // SAFETY: stored (leaked, never freed) by `watchdog_starts` before any later case runs.
    unsafe { &*WORLD.load(Ordering::Acquire) }
}

/// A well-behaved user on cpu 0: lock c for writing, stamp it, check, unlock.
fn well_behaved_round(w: &World, stamp: u64) -> Result<(), String> {
    let mut set = well_behaved_set(w);
    set.add(&w.c, Access::CPU_READ_WRITE)
        .map_err(|e| alloc::format!("add c: {e}"))?;
    let locked = set.lock().map_err(|e| alloc::format!("lock c: {e}"))?;
    locked
        .cpu_write(&w.c)
        .and_then(|mut g| {
            g.with_mut(|bytes| {
                for ch in bytes.chunks_exact_mut(8) {
                    ch.copy_from_slice(&stamp.to_ne_bytes());
                }
            })
        })
        .map_err(|e| alloc::format!("write c: {e}"))?;
    let ok = locked
        .cpu_read(&w.c)
        .and_then(|g| {
            g.with(|bytes| {
                bytes
                    .chunks_exact(8)
                    .all(|ch| ch == stamp.to_ne_bytes().as_slice())
            })
        })
        .map_err(|e| alloc::format!("read c: {e}"))?;
    if !ok {
        return Err("c does not hold what was just written".into());
    }
    locked.unlock().map_err(|e| alloc::format!("unlock c: {e}"))
}

fn expired_without_waiter(_: &Board) -> TestResult {
    let w = world();
    let hz = timer::counter_frequency();
    set_step(LOCK_AB);
    ensure!(
        wait_step(HOLDING_AB),
        "cpu 1 did not lock a and b: {:?}",
        cpu1_error()
    );
    let t0 = timer::counter();
    let before = w.domain.stats();
    // Nobody waits for a or b: only the periodic watchdog can take them back. Meanwhile a
    // well-behaved user keeps using c.
    let give_up = t0 + PATIENCE_S * hz;
    let mut rounds = 0u64;
    while w.domain.stats().expired == before.expired && timer::counter() < give_up {
        well_behaved_round(w, WELL_BEHAVED + rounds).map_err(Failure)?;
        rounds += 1;
    }
    let took = timer::counter() - t0;
    let after = w.domain.stats();
    ensure!(
        after.expired == before.expired + 1,
        "expired {} holder(s) within {PATIENCE_S} s, expected exactly 1 (a+b)",
        after.expired - before.expired
    );
    ensure!(
        watchdog::expired() >= 1,
        "the expiry was not the board watchdog's"
    );
    ensure!(
        after.contended == before.contended,
        "someone waited for a or b: the expiry must come from the watchdog alone"
    );
    test_info!(
        "a+b expired {} ms after cpu 1 locked them (deadline {} ms, poll {} ms); {rounds} well-behaved rounds on c meanwhile",
        ticks_to_ns(took, hz) / 1_000_000,
        HOLD.as_millis(),
        POLL.as_millis()
    );
    // Another core (this one) now gets a and b, without inheriting the error: the expiry
    // completed before this lock.
    let mut set = well_behaved_set(w);
    set.add(&w.a, Access::CPU_READ)
        .and_then(|()| set.add(&w.b, Access::CPU_READ_WRITE))
        .map_err(|e| Failure(alloc::format!("add: {e}")))?;
    let locked = set
        .lock()
        .map_err(|e| Failure(alloc::format!("lock a+b after expiry: {e}")))?;
    let a_ok = locked
        .cpu_read(&w.a)
        .and_then(|g| g.with(|bytes| bytes.iter().all(|&x| x == 0xbd)))
        .map_err(|e| Failure(alloc::format!("read a: {e}")))?;
    ensure!(
        a_ok,
        "a does not hold what the misbehaving task wrote before it lost it"
    );
    locked
        .cpu_write(&w.b)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0x11)))
        .map_err(|e| Failure(alloc::format!("write b: {e}")))?;
    locked
        .unlock()
        .map_err(|e| Failure(alloc::format!("unlock a+b: {e}")))?;
    Ok(())
}

fn expired_holder_told(_: &Board) -> TestResult {
    let w = world();
    set_step(TOUCH_AB);
    ensure!(
        wait_step(TOUCHED_AB),
        "cpu 1 did not report: {:?}",
        cpu1_error()
    );
    let seen = SEEN_AB.lock().clone();
    let Some([use_a, use_b, unlock]) = seen else {
        return Err(Failure("cpu 1 reported nothing".into()));
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
        .map_err(|e| Failure(alloc::format!("add b: {e}")))?;
    let locked = set
        .lock()
        .map_err(|e| Failure(alloc::format!("lock b: {e}")))?;
    let b_ok = locked
        .cpu_read(&w.b)
        .and_then(|g| g.with(|bytes| bytes.iter().all(|&x| x == 0x11)))
        .map_err(|e| Failure(alloc::format!("read b: {e}")))?;
    ensure!(b_ok, "b was changed by the expired holder");
    locked
        .unlock()
        .map_err(|e| Failure(alloc::format!("unlock b: {e}")))?;
    // The well-behaved user still works, and nothing else was expired.
    well_behaved_round(w, WELL_BEHAVED ^ 1).map_err(Failure)?;
    ensure!(
        w.domain.stats().expired == 1,
        "{} holders expired, expected only the misbehaving one",
        w.domain.stats().expired
    );
    Ok(())
}

fn waiter_gets_timeout(_: &Board) -> TestResult {
    let w = world();
    set_step(LOCK_D);
    ensure!(
        wait_step(HOLDING_D),
        "cpu 1 did not lock d: {:?}",
        cpu1_error()
    );
    // This lock waits for the misbehaving holder of d; the expiry ends the wait with the
    // holder's `Timeout`, reported as the predecessor's error.
    let mut set = well_behaved_set(w);
    set.add(&w.d, Access::CPU_READ_WRITE)
        .map_err(|e| Failure(alloc::format!("add d: {e}")))?;
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
    let locked = set
        .lock()
        .map_err(|e| Failure(alloc::format!("second lock of d: {e}")))?;
    locked
        .cpu_write(&w.d)
        .and_then(|mut g| g.with_mut(|bytes| bytes.fill(0x22)))
        .map_err(|e| Failure(alloc::format!("write d: {e}")))?;
    locked
        .unlock()
        .map_err(|e| Failure(alloc::format!("unlock d: {e}")))?;
    set_step(TOUCH_D);
    ensure!(
        wait_step(TOUCHED_D),
        "cpu 1 did not report on d: {:?}",
        cpu1_error()
    );
    let seen = SEEN_D.lock().clone();
    let Some([use_d, unlock]) = seen else {
        return Err(Failure("cpu 1 reported nothing on d".into()));
    };
    ensure!(
        use_d == Err(SyncError::Expired) && unlock == Err(SyncError::Expired),
        "expired holder of d: guard use {use_d:?}, unlock {unlock:?}; expected Err(Expired) twice"
    );
    let s = w.domain.stats();
    test_info!(
        "domain: {} locks, {} contended, {} expired, {} predecessor errors; board watchdog ran {} times and expired {}",
        s.locks,
        s.contended,
        s.expired,
        s.predecessor_errors,
        watchdog::runs(),
        watchdog::expired()
    );
    ensure!(
        s.expired == 2 && s.predecessor_errors == 1,
        "expected 2 expiries and 1 predecessor error, stats say {s:?}"
    );
    ensure!(cpu1_error().is_none(), "cpu 1: {:?}", cpu1_error());
    Ok(())
}
