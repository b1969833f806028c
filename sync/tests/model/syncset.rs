//! Random sequences of valid and invalid sync-set operations against a reference model
//! (issue #4), on the non-coherent memory simulator. The model and its harness are shared by the proptest
//! `tests/syncset_model.rs` and the cargo-fuzz target `fuzz/fuzz_targets/syncset_ops.rs`
//! (both include this file as a module; each generates `Op` sequences its own way and calls
//! [`run`]).
//!
//! The model is plain bookkeeping: which buffers each set registered (access, range), which
//! sets are locked, which holders exist and how each ended (held, released with a result,
//! expired), which guards are alive, which device work is pending, and the bytes every
//! buffer must contain. Every step predicts the exact result (`Ok` or the exact `Err`) and,
//! after every step, every observable is compared with the model:
//! - `SyncBuffer::is_idle` is true exactly when no held holder has the buffer (so a lock
//!   that failed holds nothing, and a released or expired holder blocks nobody);
//! - each holder's `done_fence` is pending, `Ok`, the device's error or `Timeout`, as the
//!   model says; the domain's dump counts exactly the held holders and no waiter;
//! - the domains' counters (`locks`, `contended`, `expired`, `predecessor_errors`, no
//!   back-off in one thread) match, and the cache counters agree with the simulator's;
//! - unlocked sets have the registered number of buffers;
//! - the simulator saw no stale read or lost write, and every read through a guard (CPU or
//!   device, at the bus address the guard gave) returns the bytes the model expects.
//!
//! Two domains: `short` (hold deadline 1 ms, watchdog poll 1 ms, at most 3 buffers per set)
//! and `long` (hold deadline 5 s, at most 2 buffers per set), each the other's "foreign"
//! domain. **Blocking locks.** In one thread, locking a buffer that a held holder conflicts
//! with blocks until that holder goes. The model handles it without timing guesses:
//! - in `short`, the deadline is no longer than the poll period, so the locker's first
//!   watchdog check (one poll after it started waiting) finds *every* held holder of the
//!   domain overdue: all of them expire, and the lock fails with
//!   `Predecessor { buffer: <first registered buffer it had to wait for>, error: Timeout }`;
//! - in `long`, such a lock would wait for seconds: the model skips the step (it is not
//!   performed). Expiry there is only checked not to happen early (`check_deadlines` = 0).
//!
//! Device work is handed over with `unlock_after_leased` and makes no burst, so an expiry
//! never waits for it.
//!
//! A guard use may run the watchdog inside its closure: every held holder of `short`
//! expires, but the in-use holder's `done` stays pending until the use returns.
//!
//! The explicit watchdog step sleeps 2 ms (twice the `short` deadline) and then expects
//! `check_deadlines` to expire exactly the held holders of `short`. Nothing else calls the
//! watchdog in one thread, so no expiry happens behind the model's back.
//!
//! Steering: operations name buffers mostly by "one that fits" (a buffer of the set's
//! domain for `add`, a registered one otherwise), `GuardFit` asks for the guard the
//! registration allows, and an operation that needs a locked (or unlocked) set goes to the
//! next set in that state; the rest of the time names are arbitrary, so every invalid
//! case still comes up. Without that, most steps fail early with `NotRegistered` or
//! `WrongAccess` and sequences rarely reach guards in use or expiry.
//!
//! Not expressible, hence not generated: mutating or re-locking a locked set, unlocking
//! with a guard alive (the borrow checker rejects them; `tests/compile_fail` covers some),
//! and `Congested` (a buffer's reservation holds 8 fences; with at most 3 sets per domain
//! no buffer has more than 3 pending ones).
//!
//! The harness keeps locked sets and guards across steps, which the borrow checker cannot
//! express (a `Locked` borrows its set, a guard its `Locked`). It stores sets behind raw
//! pointers and drops strictly in order: guards, then their `Locked`, then the set.

use std::ops::Range;
use std::thread;
use std::time::Duration;

use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaError, DmaMemory, DmaRegion};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig, set_current_cpu};
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceStatus, Timeline};
use dmasync_sync::syncset::{
    Access, Agent, CpuRead, CpuWrite, DmaAccess, Locked, SyncBuffer, SyncConfig, SyncDomain,
    SyncError, SyncSet,
};
use proptest::prelude::*;

type Sim = NonCoherentSim;
type Domain<'a> = SyncDomain<&'a Sim>;
type Set<'a> = SyncSet<'a, &'a Sim>;
type Lock<'a> = Locked<'a, &'a Sim>;

const LINE: usize = 64;
const G2D: DeviceId = DeviceId(0);
const DISPLAY: DeviceId = DeviceId(1);
/// A device the simulator does not know: no registration names it.
const NOBODY: DeviceId = DeviceId(7);

const SHORT: usize = 0;
const LONG: usize = 1;
/// (name, domain, lines, coherency) of every buffer.
pub const BUFFERS: [(&str, usize, usize, Coherency); 7] = [
    ("b0", SHORT, 1, Coherency::NonCoherent),
    ("b1", SHORT, 2, Coherency::NonCoherent),
    ("b2", SHORT, 4, Coherency::NonCoherent),
    ("b3", SHORT, 2, Coherency::Coherent),
    ("c0", LONG, 1, Coherency::NonCoherent),
    ("c1", LONG, 3, Coherency::NonCoherent),
    ("c2", LONG, 2, Coherency::NonCoherent),
];
/// Domain of every set.
pub const SETS: [usize; 5] = [SHORT, SHORT, SHORT, LONG, LONG];
const MAX_BUFFERS: [usize; 2] = [3, 2];

fn access(k: u8) -> Access {
    match k % 8 {
        0 => Access::CPU_READ,
        1 => Access::CPU_WRITE,
        2 => Access::CPU_READ_WRITE,
        3 => Access::dma_read(G2D),
        4 => Access::dma_write(G2D),
        5 => Access::dma_read_write(G2D),
        6 => Access::dma_read(DISPLAY),
        _ => Access::dma_write(DISPLAY),
    }
}

#[derive(Clone, Copy, Debug)]
pub enum RangeKind {
    Whole,
    /// A valid sub-range: start and length as fractions of what fits.
    Inside(usize, usize),
    /// Any bytes, mostly empty, reversed or out of bounds.
    Raw(usize, usize),
}

/// Which buffer an operation names: mostly one the operation can succeed on, so that
/// sequences reach deep states; sometimes any buffer (unregistered, foreign).
#[derive(Clone, Copy, Debug)]
pub enum Pick {
    /// For `add`: the k-th buffer of the set's domain; otherwise: the k-th registered one.
    Fit(usize),
    /// This buffer, whatever it is.
    Any(usize),
}

#[derive(Clone, Copy, Debug)]
pub enum GuardUse {
    Read,
    Write(u8),
    /// A CPU read during which the `short` domain's watchdog runs (after its deadline):
    /// the expiry of a holder whose guard is in use completes only when the use ends.
    Watchdog,
}

/// One step. Indices are what the generators give and the harness indexes with directly:
/// `set < SETS.len()`, `Pick::Any(b)` with `b < BUFFERS.len()`, `RangeKind::Inside` fractions
/// below 8, `cpu` and `domain` below 2; `Pick::Fit`, guard and work indices are taken modulo.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Add {
        set: usize,
        buf: Pick,
        access: u8,
        range: RangeKind,
    },
    Remove {
        set: usize,
        buf: Pick,
    },
    Clear {
        set: usize,
    },
    Lock {
        set: usize,
    },
    CpuRead {
        set: usize,
        buf: Pick,
    },
    CpuWrite {
        set: usize,
        buf: Pick,
    },
    Dma {
        set: usize,
        buf: Pick,
        dev: u8,
    },
    /// The guard that matches the buffer's registration (`write`: a CPU write guard when
    /// the registration allows both).
    GuardFit {
        set: usize,
        buf: Pick,
        write: bool,
    },
    UseGuard {
        k: usize,
        how: GuardUse,
        cpu: usize,
    },
    DropGuard {
        k: usize,
    },
    Unlock {
        set: usize,
    },
    DropLocked {
        set: usize,
    },
    /// `Some(r)`: the device work already finished with `r` (0 = ok, else a device error).
    UnlockAfter {
        set: usize,
        done: Option<u32>,
    },
    /// Finishes pending device work: 0 = ok, else a device error code.
    SignalWork {
        k: usize,
        code: u32,
    },
    Watchdog {
        domain: usize,
    },
    Region {
        domain: usize,
        virt_off: usize,
        bus_off: usize,
        len: usize,
        line: usize,
        overflow: bool,
    },
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Held,
    Released(Result<(), FenceError>),
    Expired,
}

#[derive(Debug)]
struct MHolder {
    domain: usize,
    /// (buffer, access) of every registered buffer at lock time.
    bufs: Vec<(usize, Access)>,
    outcome: Outcome,
    /// The real `done` fence, compared with `outcome` after every step.
    done: Fence,
}

#[derive(Clone, Debug)]
struct MEntry {
    buf: usize,
    access: Access,
    range: Range<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Dma(DeviceId),
}

enum RealGuard<'a> {
    Read(CpuRead<'a, &'a Sim>),
    Write(CpuWrite<'a, &'a Sim>),
    Dma(DmaAccess<'a>),
}

struct Guard<'a> {
    set: usize,
    buf: usize,
    kind: Kind,
    access: Access,
    range: Range<usize>,
    real: RealGuard<'a>,
}

struct SetSlot<'a> {
    /// From `Box::into_raw`; freed by `Harness::drop` after its `Locked`.
    ptr: *mut Set<'a>,
    entries: Vec<MEntry>,
    /// The lock and its holder (index into `holders`).
    locked: Option<(Box<Lock<'a>>, usize)>,
}

struct Work {
    producer: FenceProducer,
    holder: usize,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    locks: u64,
    contended: u64,
    expired: u64,
    predecessor_errors: u64,
    /// Buffers that went through maintenance planning (every lock past `Empty`).
    planned: u64,
}

struct Harness<'a> {
    sim: &'a Sim,
    domains: [&'a Domain<'a>; 2],
    bufs: &'a [SyncBuffer],
    sets: Vec<SetSlot<'a>>,
    guards: Vec<Guard<'a>>,
    holders: Vec<MHolder>,
    work: Vec<Work>,
    counts: [Counts; 2],
    /// Expected bytes of every buffer.
    bytes: Vec<Vec<u8>>,
    /// Steps skipped because they would block (`long` domain) — reported, not asserted.
    skipped_blocking: usize,
}

impl Drop for Harness<'_> {
    fn drop(&mut self) {
        // Guards borrow their `Locked`, which borrows its set: drop in that order.
        self.guards.clear();
        for s in &mut self.sets {
            s.locked = None;
        }
        self.work.clear();
        for s in &mut self.sets {
            // SAFETY: `ptr` came from `Box::into_raw` and nothing borrows the set any more:
            // its guards and its `Locked` were dropped above.
            drop(unsafe { Box::from_raw(s.ptr) });
        }
    }
}

impl<'a> Harness<'a> {
    fn new(sim: &'a Sim, domains: [&'a Domain<'a>; 2], bufs: &'a [SyncBuffer]) -> Self {
        let sets = SETS
            .iter()
            .map(|&d| SetSlot {
                ptr: Box::into_raw(Box::new(domains[d].set())),
                entries: Vec::new(),
                locked: None,
            })
            .collect();
        Harness {
            sim,
            domains,
            bufs,
            sets,
            guards: Vec::new(),
            holders: Vec::new(),
            work: Vec::new(),
            counts: [Counts::default(); 2],
            bytes: bufs.iter().map(|b| vec![0; b.len()]).collect(),
            skipped_blocking: 0,
        }
    }

    /// The unlocked set `s`, mutably. `None` while it is locked (its `Locked` borrows it).
    fn set_mut(&mut self, s: usize) -> Option<&'a mut Set<'a>> {
        if self.sets[s].locked.is_some() {
            return None;
        }
        // SAFETY: the set is not locked, so no `Locked` or guard borrows it, and the
        // returned reference is used only within the current step (never stored).
        Some(unsafe { &mut *self.sets[s].ptr })
    }

    /// The `Locked` of set `s`, shared, for creating guards that outlive this call.
    fn locked(&self, s: usize) -> Option<(&'a Lock<'a>, usize)> {
        let (l, h) = self.sets[s].locked.as_ref()?;
        let p: *const Lock<'a> = &**l;
        // SAFETY: the `Locked` is boxed (stable address) and is dropped or consumed only
        // after every guard created from it was dropped (`drop_guards_of`), and before its
        // set is freed.
        Some((unsafe { &*p }, *h))
    }

    fn drop_guards_of(&mut self, s: usize) {
        self.guards.retain(|g| g.set != s);
    }

    fn held_on(&self, buf: usize) -> impl Iterator<Item = &MHolder> {
        self.holders
            .iter()
            .filter(move |h| h.outcome == Outcome::Held && h.bufs.iter().any(|b| b.0 == buf))
    }

    fn held_in(&self, domain: usize) -> usize {
        self.holders
            .iter()
            .filter(|h| h.domain == domain && h.outcome == Outcome::Held)
            .count()
    }

    fn expire_all(&mut self, domain: usize) -> usize {
        let mut n = 0;
        for h in &mut self.holders {
            if h.domain == domain && h.outcome == Outcome::Held {
                h.outcome = Outcome::Expired;
                n += 1;
            }
        }
        self.counts[domain].expired += n as u64;
        n
    }

    /// The first set from `s` on (cyclically) that is locked (or unlocked, as asked): an
    /// operation the borrow checker allows only in that state goes to a set where it
    /// compiles, rather than being a wasted step.
    fn pick_set(&self, s: usize, locked: bool) -> Option<usize> {
        (0..SETS.len())
            .map(|i| (s + i) % SETS.len())
            .find(|&i| self.sets[i].locked.is_some() == locked)
    }

    fn resolve(&self, set: usize, p: Pick, add: bool) -> usize {
        match p {
            Pick::Any(b) => b,
            Pick::Fit(k) if add => {
                let own: Vec<usize> = (0..BUFFERS.len())
                    .filter(|&b| BUFFERS[b].1 == SETS[set])
                    .collect();
                own[k % own.len()]
            }
            Pick::Fit(k) => {
                let e = &self.sets[set].entries;
                if e.is_empty() {
                    k % BUFFERS.len()
                } else {
                    e[k % e.len()].buf
                }
            }
        }
    }

    fn name(&self, buf: usize) -> &'static str {
        BUFFERS[buf].0
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        // Redirect to a set in the state the operation needs (see `pick_set`).
        let op = match op {
            Op::Add {
                set,
                buf,
                access,
                range,
            } => match self.pick_set(set, false) {
                Some(set) => Op::Add {
                    set,
                    buf,
                    access,
                    range,
                },
                None => return Ok(()),
            },
            Op::Remove { set, buf } => match self.pick_set(set, false) {
                Some(set) => Op::Remove { set, buf },
                None => return Ok(()),
            },
            Op::Clear { set } => match self.pick_set(set, false) {
                Some(set) => Op::Clear { set },
                None => return Ok(()),
            },
            // Mostly a set with buffers: `Empty` only when every unlocked set is empty.
            Op::Lock { set } => match (0..SETS.len())
                .map(|i| (set + i) % SETS.len())
                .find(|&i| self.sets[i].locked.is_none() && !self.sets[i].entries.is_empty())
                .or_else(|| self.pick_set(set, false))
            {
                Some(set) => Op::Lock { set },
                None => return Ok(()),
            },
            Op::GuardFit { set, buf, write } => {
                let Some(set) = self.pick_set(set, true) else {
                    return Ok(());
                };
                let b = self.resolve(set, buf, false);
                let Some(e) = self.sets[set].entries.iter().find(|e| e.buf == b) else {
                    return Ok(());
                };
                let buf = Pick::Any(b);
                match e.access.agent {
                    Agent::Device(..) => Op::Dma { set, buf, dev: 0 },
                    Agent::Cpu if e.access.writes() && (write || !e.access.reads()) => {
                        Op::CpuWrite { set, buf }
                    }
                    Agent::Cpu => Op::CpuRead { set, buf },
                }
            }
            Op::CpuRead { set, buf } => match self.pick_set(set, true) {
                Some(set) => Op::CpuRead { set, buf },
                None => return Ok(()),
            },
            Op::CpuWrite { set, buf } => match self.pick_set(set, true) {
                Some(set) => Op::CpuWrite { set, buf },
                None => return Ok(()),
            },
            Op::Dma { set, buf, dev } => match self.pick_set(set, true) {
                Some(set) => Op::Dma { set, buf, dev },
                None => return Ok(()),
            },
            Op::Unlock { set } => match self.pick_set(set, true) {
                Some(set) => Op::Unlock { set },
                None => return Ok(()),
            },
            Op::DropLocked { set } => match self.pick_set(set, true) {
                Some(set) => Op::DropLocked { set },
                None => return Ok(()),
            },
            Op::UnlockAfter { set, done } => match self.pick_set(set, true) {
                Some(set) => Op::UnlockAfter { set, done },
                None => return Ok(()),
            },
            op => op,
        };
        match op {
            Op::Add {
                set,
                buf,
                access: k,
                range,
            } => {
                let Some(real) = self.set_mut(set) else {
                    return Ok(()); // a locked set cannot be changed: does not compile
                };
                let a = access(k);
                let buf = self.resolve(set, buf, true);
                let len = self.bufs[buf].len();
                let r = match range {
                    RangeKind::Whole => 0..len,
                    RangeKind::Inside(s, l) => {
                        let start = s * len / 8;
                        let end = start + 1 + l * (len - start - 1) / 8;
                        start..end
                    }
                    RangeKind::Raw(s, e) => s..e,
                };
                let slot = &self.sets[set];
                let expect = if BUFFERS[buf].1 != SETS[set] {
                    Err(SyncError::ForeignBuffer {
                        buffer: self.name(buf),
                    })
                } else if r.start >= r.end || r.end > len {
                    Err(SyncError::BadRange {
                        buffer: self.name(buf),
                        range: (r.start, r.end),
                        len,
                    })
                } else if slot.entries.iter().any(|e| e.buf == buf) {
                    Err(SyncError::Duplicate {
                        buffer: self.name(buf),
                    })
                } else if slot.entries.len() >= MAX_BUFFERS[SETS[set]] {
                    Err(SyncError::TooManyBuffers {
                        max: MAX_BUFFERS[SETS[set]],
                    })
                } else {
                    Ok(())
                };
                let got = if matches!(range, RangeKind::Whole) {
                    real.add(&self.bufs[buf], a)
                } else {
                    real.add_range(&self.bufs[buf], a, r.clone())
                };
                prop_assert_eq!(&got, &expect, "add");
                if got.is_ok() {
                    self.sets[set].entries.push(MEntry {
                        buf,
                        access: a,
                        range: r,
                    });
                }
            }
            Op::Remove { set, buf } => {
                let buf = self.resolve(set, buf, false);
                let Some(real) = self.set_mut(set) else {
                    return Ok(());
                };
                let pos = self.sets[set].entries.iter().position(|e| e.buf == buf);
                let expect = match pos {
                    Some(_) => Ok(()),
                    None => Err(SyncError::NotRegistered {
                        buffer: self.name(buf),
                    }),
                };
                prop_assert_eq!(real.remove(&self.bufs[buf]), expect, "remove");
                if let Some(i) = pos {
                    self.sets[set].entries.remove(i);
                }
            }
            Op::Clear { set } => {
                let Some(real) = self.set_mut(set) else {
                    return Ok(());
                };
                real.clear();
                self.sets[set].entries.clear();
            }
            Op::Lock { set } => self.lock(set)?,
            Op::CpuRead { set, buf } | Op::CpuWrite { set, buf } | Op::Dma { set, buf, .. } => {
                self.guard(op, set, buf)?
            }
            Op::UseGuard { k, how, cpu } => self.use_guard(k, how, cpu)?,
            Op::GuardFit { .. } => unreachable!("redirected above"),
            Op::DropGuard { k } => {
                if !self.guards.is_empty() {
                    let k = k % self.guards.len();
                    self.guards.remove(k);
                }
            }
            Op::Unlock { set } | Op::DropLocked { set } => {
                if self.sets[set].locked.is_none() {
                    return Ok(());
                }
                self.drop_guards_of(set);
                let (l, h) = self.sets[set].locked.take().unwrap();
                let expect = match self.holders[h].outcome {
                    Outcome::Held => Ok(()),
                    Outcome::Expired => Err(SyncError::Expired),
                    o => return Err(TestCaseError::fail(format!("locked holder {o:?}"))),
                };
                if expect.is_ok() {
                    self.holders[h].outcome = Outcome::Released(Ok(()));
                }
                if matches!(op, Op::Unlock { .. }) {
                    prop_assert_eq!(l.unlock(), expect, "unlock");
                } else {
                    drop(l);
                }
            }
            Op::UnlockAfter { set, done } => {
                if self.sets[set].locked.is_none() {
                    return Ok(());
                }
                self.drop_guards_of(set);
                let (l, h) = self.sets[set].locked.take().unwrap();
                let engine: Timeline = Timeline::new();
                let job = engine.next_fence();
                let fence = job.fence();
                let result = done.map(|c| {
                    if c == 0 {
                        Ok(())
                    } else {
                        Err(FenceError::DeviceError(c))
                    }
                });
                let mut pending = None;
                match result {
                    Some(Ok(())) => job.signal(),
                    Some(Err(e)) => job.signal_error(e),
                    None => pending = Some(job),
                }
                // The leased hand-over, with no burst ever made: the model's device work
                // does not touch memory, so the watchdog may take its buffers back at
                // once. (`unlock_after`'s default, where the job is one use that delays
                // the expiry until the work signals, would block a `short` locker on
                // pending work forever; it is tested in syncset.rs and loom_syncset.rs.)
                let got = l.unlock_after_leased(&fence).map(drop);
                match self.holders[h].outcome {
                    Outcome::Held => {
                        prop_assert_eq!(got, Ok(()), "unlock_after_leased");
                        match (result, pending) {
                            (Some(r), _) => self.holders[h].outcome = Outcome::Released(r),
                            (None, Some(producer)) => self.work.push(Work {
                                producer,
                                holder: h,
                            }),
                            (None, None) => unreachable!(),
                        }
                    }
                    Outcome::Expired => {
                        prop_assert_eq!(got, Err(SyncError::Expired), "unlock_after_leased")
                    }
                    o => return Err(TestCaseError::fail(format!("locked holder {o:?}"))),
                }
            }
            Op::SignalWork { k, code } => {
                if self.work.is_empty() {
                    return Ok(());
                }
                let w = self.work.remove(k % self.work.len());
                let r = if code == 0 {
                    Ok(())
                } else {
                    Err(FenceError::DeviceError(code))
                };
                match r {
                    Ok(()) => w.producer.signal(),
                    Err(e) => w.producer.signal_error(e),
                }
                let h = &mut self.holders[w.holder];
                if h.outcome == Outcome::Held {
                    h.outcome = Outcome::Released(r);
                }
            }
            Op::Watchdog { domain } => {
                let expect = if domain == SHORT {
                    thread::sleep(Duration::from_millis(2));
                    self.expire_all(SHORT)
                } else {
                    0
                };
                prop_assert_eq!(
                    self.domains[domain].check_deadlines(),
                    expect,
                    "check_deadlines"
                );
            }
            Op::Region {
                domain,
                virt_off,
                bus_off,
                len,
                line,
                overflow,
            } => {
                let virt = if overflow {
                    usize::MAX - 4 * 128 + 1
                } else {
                    0x10_0000_0000 + virt_off
                };
                let bus = 0x8000_0000 + bus_off as u64;
                let expect = if !line.is_power_of_two() {
                    Err(DmaError::BadLineSize(line))
                } else if len == 0 {
                    Err(DmaError::ZeroLength)
                } else if !virt.is_multiple_of(line) {
                    Err(DmaError::Misaligned {
                        what: "virtual start",
                        value: virt as u64,
                        line,
                    })
                } else if !bus.is_multiple_of(line as u64) {
                    Err(DmaError::Misaligned {
                        what: "bus start",
                        value: bus,
                        line,
                    })
                } else if !len.is_multiple_of(line) {
                    Err(DmaError::Misaligned {
                        what: "length",
                        value: len as u64,
                        line,
                    })
                } else if virt.checked_add(len).is_none() {
                    Err(DmaError::Overflow)
                } else {
                    Ok(())
                };
                // SAFETY: the region names no memory anyone uses: it is only validated, then
                // offered to a simulator's domain, which must refuse it (asserted below), so
                // no byte of it is ever reached.
                let region = unsafe {
                    DmaRegion::from_raw_parts(virt, BusAddr(bus), len, Coherency::NonCoherent, line)
                };
                prop_assert_eq!(
                    region.as_ref().map(|_| ()).map_err(|e| *e),
                    expect,
                    "DmaRegion::from_raw_parts"
                );
                if let Ok(region) = region {
                    // Machine memory is not the simulator's: refused whatever its alignment
                    // (alignment to the domain's line is checked for the simulator's own
                    // regions, which are always aligned).
                    let (virt, len) = (region.virt(), region.len());
                    let refused = self.domains[domain]
                        .buffer("region", region)
                        .map(|b| b.len())
                        .expect_err("SyncDomain::buffer accepted machine memory");
                    prop_assert_eq!(
                        refused.error,
                        SyncError::ForeignRegion { buffer: "region" },
                        "SyncDomain::buffer"
                    );
                    prop_assert_eq!(
                        (refused.region.virt(), refused.region.len()),
                        (virt, len),
                        "the refused region comes back unchanged"
                    );
                }
            }
        }
        Ok(())
    }

    fn lock(&mut self, set: usize) -> Result<(), TestCaseError> {
        if self.sets[set].locked.is_some() {
            return Ok(()); // a locked set cannot be locked again: does not compile
        }
        let domain = SETS[set];
        let entries = self.sets[set].entries.clone();
        // The first registered buffer that a held holder conflicts with: a writer waits for
        // everybody, a reader for writers.
        let blocked = entries.iter().find(|e| {
            self.held_on(e.buf)
                .any(|h| e.access.writes() || h.bufs.iter().any(|&(b, a)| b == e.buf && a.writes()))
        });
        if blocked.is_some() && domain == LONG {
            self.skipped_blocking += 1;
            return Ok(()); // would wait up to the 5 s deadline: not performed
        }
        let blocked = blocked.map(|e| e.buf);
        let real = self.set_mut(set).unwrap();
        let got = real.lock();
        if entries.is_empty() {
            prop_assert_eq!(got.err(), Some(SyncError::Empty), "lock of an empty set");
            return Ok(());
        }
        let c = &mut self.counts[domain];
        match blocked {
            None => {
                c.planned += entries.len() as u64;
                let l = match got {
                    Ok(l) => l,
                    Err(e) => return Err(TestCaseError::fail(format!("lock: unexpected {e:?}"))),
                };
                c.locks += 1;
                let done = l.done_fence();
                self.holders.push(MHolder {
                    domain,
                    bufs: entries.iter().map(|e| (e.buf, e.access)).collect(),
                    outcome: Outcome::Held,
                    done,
                });
                self.sets[set].locked = Some((Box::new(l), self.holders.len() - 1));
            }
            Some(b) => {
                // A lock that waited plans only after the wait: failing, it planned nothing.
                c.contended += 1;
                c.predecessor_errors += 1;
                prop_assert_eq!(
                    got.err(),
                    Some(SyncError::Predecessor {
                        buffer: self.name(b),
                        error: FenceError::Timeout
                    }),
                    "lock behind a held buffer in the short domain"
                );
                // The waiting locker ran the watchdog: every held holder was overdue.
                self.expire_all(domain);
            }
        }
        Ok(())
    }

    fn guard(&mut self, op: Op, set: usize, buf: Pick) -> Result<(), TestCaseError> {
        let Some((l, h)) = self.locked(set) else {
            return Ok(()); // guards come only from a locked set
        };
        let buf = self.resolve(set, buf, false);
        let entry = self.sets[set]
            .entries
            .iter()
            .find(|e| e.buf == buf)
            .cloned();
        let alive = |k: Kind| {
            self.guards
                .iter()
                .filter(|g| g.set == set && g.buf == buf && g.kind == k)
                .count()
        };
        let (kind, wanted) = match op {
            Op::CpuRead { .. } => (Kind::Read, "CPU read"),
            Op::CpuWrite { .. } => (Kind::Write, "CPU write"),
            Op::Dma { dev, .. } => {
                let registered = match entry.as_ref().map(|e| e.access.agent) {
                    Some(Agent::Device(d, _)) => d,
                    _ => G2D,
                };
                let d = [registered, G2D, DISPLAY, NOBODY][dev as usize % 4];
                (Kind::Dma(d), "this device's DMA")
            }
            _ => unreachable!(),
        };
        let name = self.name(buf);
        let expect = match &entry {
            None => Err(SyncError::NotRegistered { buffer: name }),
            Some(e) => {
                let right = match kind {
                    Kind::Read => e.access.agent == Agent::Cpu && e.access.reads(),
                    Kind::Write => e.access.agent == Agent::Cpu && e.access.writes(),
                    Kind::Dma(d) => matches!(e.access.agent, Agent::Device(x, _) if x == d),
                };
                if !right {
                    Err(SyncError::WrongAccess {
                        buffer: name,
                        wanted,
                    })
                } else if self.holders[h].outcome != Outcome::Held {
                    Err(SyncError::Expired)
                } else if (kind == Kind::Read && alive(Kind::Write) > 0)
                    || (kind == Kind::Write && alive(Kind::Write) + alive(Kind::Read) > 0)
                {
                    Err(SyncError::GuardBusy { buffer: name })
                } else {
                    Ok(())
                }
            }
        };
        let b = &self.bufs[buf];
        let got = match kind {
            Kind::Read => l.cpu_read(b).map(RealGuard::Read),
            Kind::Write => l.cpu_write(b).map(RealGuard::Write),
            Kind::Dma(d) => l.dma(b, d).map(RealGuard::Dma),
        };
        match (got, expect) {
            (Ok(real), Ok(())) => {
                let e = entry.unwrap();
                if let RealGuard::Dma(g) = &real {
                    prop_assert_eq!(g.access(), e.access);
                }
                self.guards.push(Guard {
                    set,
                    buf,
                    kind,
                    access: e.access,
                    range: e.range,
                    real,
                });
            }
            (Ok(_), Err(e)) => {
                return Err(TestCaseError::fail(format!("{op:?}: Ok, expected {e:?}")));
            }
            (Err(g), e) => prop_assert_eq!(Err(g), e, "{:?}", op),
        }
        Ok(())
    }

    fn use_guard(&mut self, k: usize, how: GuardUse, cpu: usize) -> Result<(), TestCaseError> {
        if self.guards.is_empty() {
            return Ok(());
        }
        let k = k % self.guards.len();
        let h = self.sets[self.guards[k].set].locked.as_ref().unwrap().1;
        let live = self.holders[h].outcome == Outcome::Held;
        if let (GuardUse::Watchdog, RealGuard::Read(_) | RealGuard::Write(_)) =
            (how, &self.guards[k].real)
        {
            return self.use_during_watchdog(k, h, live);
        }
        let sim = self.sim;
        let g = &mut self.guards[k];
        let name = BUFFERS[g.buf].0;
        let want = self.bytes[g.buf][g.range.clone()].to_vec();
        let dead = |what: &str, got: Result<(), SyncError>| {
            prop_assert_eq!(
                got,
                Err(SyncError::Expired),
                "{} of '{}' after expiry",
                what,
                name
            );
            Ok(())
        };
        set_current_cpu(cpu);
        let mut wrote = None;
        match (&mut g.real, how) {
            (RealGuard::Read(r), _) => {
                let got = r.with(|b| b.to_vec());
                if !live {
                    return dead("CPU read", got.map(|_| ()));
                }
                prop_assert_eq!(got, Ok(want), "CPU read of '{}'", name);
            }
            (RealGuard::Write(w), GuardUse::Read | GuardUse::Watchdog) => {
                let got = w.with(|b| b.to_vec());
                if !live {
                    return dead("CPU read", got.map(|_| ()));
                }
                prop_assert_eq!(got, Ok(want), "CPU read (write guard) of '{}'", name);
            }
            (RealGuard::Write(w), GuardUse::Write(stamp)) => {
                let got = w.with_mut(|b| b.fill(stamp));
                if !live {
                    return dead("CPU write", got);
                }
                prop_assert_eq!(got, Ok(()), "CPU write of '{}'", name);
                wrote = Some(stamp);
            }
            (RealGuard::Dma(d), how) => {
                let got = d.bus_range();
                if !live {
                    return dead("bus_range", got.map(|_| ()));
                }
                let region = self.bufs[g.buf].region();
                let bus = BusAddr(region.bus().0 + g.range.start as u64);
                prop_assert_eq!(got, Ok((bus, g.range.len())), "bus_range of '{}'", name);
                let Kind::Dma(dev) = g.kind else {
                    unreachable!()
                };
                if g.access.reads() {
                    let mut tmp = vec![0u8; g.range.len()];
                    sim.device_read(dev, bus, &mut tmp);
                    prop_assert_eq!(tmp, want, "device read of '{}'", name);
                }
                if let (true, GuardUse::Write(stamp)) = (g.access.writes(), how) {
                    sim.device_write(dev, bus, &vec![stamp; g.range.len()]);
                    wrote = Some(stamp);
                }
            }
        }
        if let Some(stamp) = wrote {
            let (b, r) = (g.buf, g.range.clone());
            self.bytes[b][r].fill(stamp);
        }
        Ok(())
    }

    fn use_during_watchdog(&mut self, k: usize, h: usize, live: bool) -> Result<(), TestCaseError> {
        let short = self.domains[SHORT];
        let done = self.holders[h].done.clone();
        // Inside the use: the watchdog expires every held holder of `short` (all overdue
        // after the sleep), but this holder's waiters are not released while it is in use.
        let inside = |_: &[u8]| {
            thread::sleep(Duration::from_millis(2));
            (short.check_deadlines(), done.is_signalled())
        };
        let got = match &self.guards[k].real {
            RealGuard::Read(r) => r.with(inside),
            RealGuard::Write(w) => w.with(inside),
            RealGuard::Dma(_) => unreachable!(),
        };
        if !live {
            prop_assert_eq!(got, Err(SyncError::Expired), "use after expiry");
            return Ok(());
        }
        let n = self.expire_all(SHORT);
        prop_assert_eq!(got, Ok((n, false)), "watchdog during a guard use");
        Ok(())
    }

    /// Every observable of the implementation equals the model.
    fn check(&self) -> Result<(), TestCaseError> {
        for (i, b) in self.bufs.iter().enumerate() {
            let held = self.held_on(i).count();
            prop_assert_eq!(
                b.is_idle(),
                held == 0,
                "is_idle of '{}' with {} held holder(s)",
                b.name(),
                held
            );
        }
        for (i, h) in self.holders.iter().enumerate() {
            let want = match h.outcome {
                Outcome::Held => FenceStatus::Pending,
                Outcome::Released(Ok(())) => FenceStatus::Ok,
                Outcome::Released(Err(e)) => FenceStatus::Err(e),
                Outcome::Expired => FenceStatus::Err(FenceError::Timeout),
            };
            prop_assert_eq!(h.done.status(), want, "done fence of holder {}", i);
        }
        let (mut ops, mut bytes) = (0, 0);
        for (d, dom) in self.domains.iter().enumerate() {
            let st = dom.stats();
            let c = &self.counts[d];
            prop_assert_eq!(
                (
                    st.locks,
                    st.contended,
                    st.expired,
                    st.predecessor_errors,
                    st.backoffs
                ),
                (c.locks, c.contended, c.expired, c.predecessor_errors, 0),
                "stats of domain {}: {:?}",
                d,
                st
            );
            // Every planned buffer either needed no maintenance or had at least one call.
            prop_assert!(
                st.cache_ops_avoided <= c.planned
                    && st.cache_ops_avoided + st.cache_ops >= c.planned,
                "domain {}: {} planned, {:?}",
                d,
                c.planned,
                st
            );
            ops += st.cache_ops;
            bytes += st.cache_bytes;
            let mut dump = String::new();
            dom.dump(&mut dump).unwrap();
            let head = dump.lines().next().unwrap_or_default();
            let want = format!("{} holder(s), 0 waiter(s)", self.held_in(d));
            prop_assert!(head.ends_with(&want), "dump of domain {}: {}", d, dump);
        }
        let sim = self.sim.stats();
        prop_assert_eq!((sim.total_calls(), sim.total_bytes()), (ops, bytes));
        for (s, slot) in self.sets.iter().enumerate() {
            if slot.locked.is_none() {
                // SAFETY: not locked, so nothing borrows the set; a shared borrow for `len`.
                let real = unsafe { &*slot.ptr };
                prop_assert_eq!(real.len(), slot.entries.len(), "len of set {}", s);
                prop_assert_eq!(real.is_empty(), slot.entries.is_empty());
            }
        }
        let v = self.sim.violations();
        prop_assert!(v.is_empty(), "simulator: {:?}", v);
        Ok(())
    }
}

/// Runs `ops` against the model on a fresh simulator and domains, checking after every step.
pub fn run(ops: &[Op], seed: u64) -> Result<(), TestCaseError> {
    let sim = NonCoherentSim::new(SimConfig {
        eviction: Eviction::Random { seed },
        lines_per_cpu: 8,
        cpus: 2,
        // The buffers take 15 lines; a small DRAM keeps each run cheap (the fuzz target
        // builds a simulator per input).
        dram_size: 64 * 1024,
        ..SimConfig::default()
    });
    prop_assert_eq!(sim.add_device("g2d", Coherency::NonCoherent), G2D);
    prop_assert_eq!(sim.add_device("display", Coherency::NonCoherent), DISPLAY);
    let short = SyncDomain::new(
        &sim,
        SyncConfig {
            hold_deadline: Duration::from_millis(1),
            watchdog_poll: Duration::from_millis(1),
            max_buffers: MAX_BUFFERS[SHORT],
            ..SyncConfig::default()
        },
    );
    let long = SyncDomain::new(
        &sim,
        SyncConfig {
            hold_deadline: Duration::from_secs(5),
            watchdog_poll: Duration::from_millis(10),
            max_buffers: MAX_BUFFERS[LONG],
            ..SyncConfig::default()
        },
    );
    let domains: [&Domain<'_>; 2] = [&short, &long];
    let bufs: Vec<SyncBuffer> = BUFFERS
        .iter()
        .map(|&(name, d, lines, coherency)| {
            domains[d]
                .buffer(name, sim.alloc(lines * LINE, coherency).unwrap())
                .unwrap()
        })
        .collect();
    let mut h = Harness::new(&sim, domains, &bufs);
    h.check()?;
    for &op in ops {
        h.step(op)?;
        h.check()?;
    }
    // Tear down: unlocking everything and finishing all device work leaves every buffer
    // idle.
    for s in 0..SETS.len() {
        h.step(Op::Unlock { set: s })?;
    }
    while !h.work.is_empty() {
        h.step(Op::SignalWork { k: 0, code: 0 })?;
    }
    h.check()?;
    drop(h);
    for b in &bufs {
        prop_assert!(b.is_idle(), "'{}' busy after tear-down", b.name());
    }
    Ok(())
}
