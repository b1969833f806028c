//! Sequences of sync-set operations (add, add_range, remove, clear, lock, guards and their
//! uses, unlock, drop, unlock_after, device-work signals, the watchdog, raw regions) against
//! the reference model that `sync/tests/syncset_model.rs` also runs: the model predicts every
//! result and every observable (idleness, `done` fences, domain counters, cache counters, the
//! simulator's stale-read/lost-write checks, the bytes read through every guard) after every
//! step. Single-threaded, on the non-coherent memory simulator.
#![no_main]

#[path = "../../sync/tests/model/syncset.rs"]
mod model;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use model::{BUFFERS, GuardUse, Op, Pick, RangeKind, SETS};

/// Longest sequence per input (the proptest's is 95): keeps one input well under a second
/// even with watchdog steps, which sleep 2 ms.
const MAX_OPS: usize = 128;

#[derive(Arbitrary, Debug)]
enum FPick {
    Fit(u8),
    Any(u8),
}

#[derive(Arbitrary, Debug)]
enum FRange {
    Whole,
    Inside(u8, u8),
    Raw(u16, u16),
}

#[derive(Arbitrary, Debug)]
enum FUse {
    Read,
    Write(u8),
    Watchdog,
}

/// `Op` with fields of any value; `into_op` maps them into the ranges the model indexes with
/// (the same ranges as the proptest's generator).
#[derive(Arbitrary, Debug)]
enum FOp {
    Add {
        set: u8,
        buf: FPick,
        access: u8,
        range: FRange,
    },
    Remove {
        set: u8,
        buf: FPick,
    },
    Clear {
        set: u8,
    },
    Lock {
        set: u8,
    },
    CpuRead {
        set: u8,
        buf: FPick,
    },
    CpuWrite {
        set: u8,
        buf: FPick,
    },
    Dma {
        set: u8,
        buf: FPick,
        dev: u8,
    },
    GuardFit {
        set: u8,
        buf: FPick,
        write: bool,
    },
    UseGuard {
        k: u8,
        how: FUse,
        cpu: bool,
    },
    DropGuard {
        k: u8,
    },
    Unlock {
        set: u8,
    },
    DropLocked {
        set: u8,
    },
    UnlockAfter {
        set: u8,
        done: Option<u8>,
    },
    SignalWork {
        k: u8,
        code: u8,
    },
    Watchdog {
        long: bool,
    },
    Region {
        long: bool,
        virt: u8,
        bus: u8,
        len: u8,
        line: u8,
        overflow: bool,
    },
}

fn pick(p: FPick) -> Pick {
    match p {
        FPick::Fit(k) => Pick::Fit(usize::from(k % 8)),
        FPick::Any(b) => Pick::Any(usize::from(b) % BUFFERS.len()),
    }
}

fn set(s: u8) -> usize {
    usize::from(s) % SETS.len()
}

fn sel<T: Copy>(k: u8, from: &[T]) -> T {
    from[usize::from(k) % from.len()]
}

fn into_op(op: FOp) -> Op {
    match op {
        FOp::Add {
            set: s,
            buf,
            access,
            range,
        } => Op::Add {
            set: set(s),
            buf: pick(buf),
            access: access % 8,
            range: match range {
                FRange::Whole => RangeKind::Whole,
                FRange::Inside(a, b) => RangeKind::Inside(usize::from(a % 8), usize::from(b % 8)),
                FRange::Raw(a, b) => RangeKind::Raw(usize::from(a % 300), usize::from(b % 300)),
            },
        },
        FOp::Remove { set: s, buf } => Op::Remove {
            set: set(s),
            buf: pick(buf),
        },
        FOp::Clear { set: s } => Op::Clear { set: set(s) },
        FOp::Lock { set: s } => Op::Lock { set: set(s) },
        FOp::CpuRead { set: s, buf } => Op::CpuRead {
            set: set(s),
            buf: pick(buf),
        },
        FOp::CpuWrite { set: s, buf } => Op::CpuWrite {
            set: set(s),
            buf: pick(buf),
        },
        FOp::Dma { set: s, buf, dev } => Op::Dma {
            set: set(s),
            buf: pick(buf),
            dev: dev % 4,
        },
        FOp::GuardFit { set: s, buf, write } => Op::GuardFit {
            set: set(s),
            buf: pick(buf),
            write,
        },
        FOp::UseGuard { k, how, cpu } => Op::UseGuard {
            k: usize::from(k % 8),
            how: match how {
                FUse::Read => GuardUse::Read,
                FUse::Write(b) => GuardUse::Write(b),
                FUse::Watchdog => GuardUse::Watchdog,
            },
            cpu: usize::from(cpu),
        },
        FOp::DropGuard { k } => Op::DropGuard {
            k: usize::from(k % 8),
        },
        FOp::Unlock { set: s } => Op::Unlock { set: set(s) },
        FOp::DropLocked { set: s } => Op::DropLocked { set: set(s) },
        FOp::UnlockAfter { set: s, done } => Op::UnlockAfter {
            set: set(s),
            done: done.map(|c| u32::from(c % 3)),
        },
        FOp::SignalWork { k, code } => Op::SignalWork {
            k: usize::from(k % 4),
            code: u32::from(code % 3),
        },
        FOp::Watchdog { long } => Op::Watchdog {
            domain: usize::from(long),
        },
        FOp::Region {
            long,
            virt,
            bus,
            len,
            line,
            overflow,
        } => Op::Region {
            domain: usize::from(long),
            virt_off: sel(virt, &[0, 16, 32, 64, 128]),
            bus_off: sel(bus, &[0, 16, 32, 64]),
            len: sel(len, &[0, 16, 32, 64, 96, 128, 100]),
            line: sel(line, &[16, 32, 64, 128, 48]),
            overflow,
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(seed) = u.arbitrary::<u16>() else {
        return;
    };
    let mut ops = Vec::new();
    // An exhausted `Unstructured` still yields (zeroed) values: stop at the input's end.
    while ops.len() < MAX_OPS && !u.is_empty() {
        match u.arbitrary::<FOp>() {
            Ok(op) => ops.push(into_op(op)),
            Err(_) => break,
        }
    }
    if let Err(e) = model::run(&ops, u64::from(seed % 999) + 1) {
        panic!("sync sets disagree with the model: {e}\nops: {ops:#?}");
    }
});
