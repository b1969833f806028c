//! On-target benchmark: instructions per dmasync operation, counted by the PMU under QEMU
//! `-icount shift=0` (deterministic: the same image gives the same counts on every run).
//! Run it with `cargo xtask bench`; it is not an on-target test (a `[[bench]]` target, which
//! `cargo xtask test` does not build).
//!
//! The counter is PMU event counter 0 programmed with event 0x08 `INST_RETIRED` (Arm ARM
//! D13, "PMU events"). QEMU's TCG PMU implements that event only in precise icount mode
//! (target/arm: `instructions_supported()` is `icount_enabled() == ICOUNT_PRECISE`, counting
//! `icount_get_raw()`), and says so in PMCEID0_EL0 bit 8, which the image checks: without
//! `-icount` it prints why it cannot measure and exits with code 4.
//!
//! Every case runs `ITERS` times between two counter reads, interrupts masked; the image
//! prints `bench <case>: <instructions> instructions over <iters> iterations` per case, and
//! the per-operation figure. Baselines measured in the same run: an empty loop, the acquire
//! context alone, and the acquire context + `LockSet` over as many reservation locks (step 1
//! of `SyncSet::lock`, the host benchmark's baseline; standalone objects, since a buffer's
//! own is locked only by its sync sets); `fence_forget` for the signal loop's own cost.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::hint::black_box;

use dmasync_hal::dma::{Coherency, DirectMemory, DmaMemory};
use dmasync_protocol::bench;
use dmasync_qemu_virt::arch::cache::DataCache;
use dmasync_qemu_virt::arch::{cpu, exit_code, println, semihosting};
use dmasync_sync::ReservationObject;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};
use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WwError};
use dmasync_sync::{Fence, FenceProducer};

#[path = "support/pmu.rs"]
mod pmu;

dmasync_aarch64::entry!(main, 40);

type Domain = SyncDomain<DirectMemory<DataCache>>;

/// Iterations per case.
const ITERS: u32 = 1000;
const BUF_BYTES: usize = 4096;

/// Instructions for `ITERS` runs of `f`, interrupts masked.
fn measure(mut f: impl FnMut()) -> u64 {
    let saved = cpu::mask_irqs();
    let t0 = pmu::instructions();
    for _ in 0..ITERS {
        f();
    }
    let t1 = pmu::instructions();
    cpu::restore_irqs(saved);
    u64::from(t1.wrapping_sub(t0))
}

/// Prints one case; returns instructions per iteration in tenths.
fn report(name: &str, total: u64) -> u64 {
    let tenths = (total * 10 + u64::from(ITERS) / 2) / u64::from(ITERS);
    let detail = bench::PerIteration {
        iterations: ITERS,
        tenths,
    };
    println!(
        "{}",
        bench::Bench {
            case: name,
            instructions: total,
            detail
        }
    );
    tenths
}

fn ratio(name: &str, op: u64, base: u64) {
    let hundredths = bench::Ratio::hundredths_of(op, base);
    println!(
        "{}",
        bench::Ratio {
            case: name,
            hundredths
        }
    );
}

/// Prints the per-operation figure of one case.
fn result(case: &str, instructions: u64) {
    let figure = bench::Result {
        case,
        instructions,
        per: "op",
        detail: "",
    };
    println!("{figure}");
}

fn buffers(domain: &'static Domain, n: usize) -> Vec<SyncBuffer> {
    let heap = dmasync_qemu_virt::dma_pool::heap_dma();
    let names = ["b0", "b1", "b2", "b3"];
    (0..n)
        .map(|i| {
            let region = heap
                .alloc(BUF_BYTES, Coherency::Coherent)
                .unwrap_or_else(|e| dmasync_qemu_virt::setup_failed(format_args!("region: {e}")));
            domain
                .buffer(names[i], region)
                .unwrap_or_else(|e| dmasync_qemu_virt::setup_failed(format_args!("buffer: {e}")))
        })
        .collect()
}

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let _board = dmasync_qemu_virt::init(x0);
    if !pmu::start() {
        println!(
            "bench: the PMU does not count INST_RETIRED (PMCEID0_EL0 bit 8 clear): run under \
             QEMU -icount shift=0 (cargo xtask bench)"
        );
        semihosting::exit(exit_code::SETUP_FAILED);
    }
    let domain: &'static Domain = alloc::boxed::Box::leak(alloc::boxed::Box::new(SyncDomain::new(
        DirectMemory(DataCache),
        SyncConfig::default(),
    )));
    let bufs: &'static [SyncBuffer] = alloc::vec::Vec::leak(buffers(domain, 4));
    let resvs: &'static [ReservationObject] =
        alloc::vec::Vec::leak((0..4).map(|_| ReservationObject::new()).collect());

    let empty = report("empty", measure(|| black_box(())));
    let ctx = report(
        "acquire_ctx",
        measure(|| {
            black_box(AcquireCtx::<WaitDie>::new());
        }),
    );

    let mut lockset = [0u64; 2];
    let mut syncset = [0u64; 2];
    for (k, n) in [1usize, 4].into_iter().enumerate() {
        let mine = &bufs[..n];
        let base = measure(|| {
            let ctx: AcquireCtx<WaitDie> = AcquireCtx::new();
            let mut s = LockSet::with_capacity(&ctx, n);
            let r = s.lock_all(|s| {
                for r in &resvs[..n] {
                    s.lock(r.ww_mutex())?;
                }
                Ok::<(), WwError>(())
            });
            black_box(r).ok();
        });
        lockset[k] = report(
            if n == 1 {
                "acquire_ctx_lockset_1"
            } else {
                "acquire_ctx_lockset_4"
            },
            base,
        );
        let mut set = domain.set();
        for b in mine {
            if let Err(e) = set.add(b, Access::CPU_WRITE) {
                dmasync_qemu_virt::setup_failed(format_args!("add: {e}"));
            }
        }
        // One lock outside the measurement: the first lock builds the set's name list.
        if let Err(e) = set.lock().and_then(|l| l.unlock()) {
            dmasync_qemu_virt::setup_failed(format_args!("warm-up lock: {e}"));
        }
        let mut failures = 0u32;
        let total = measure(|| {
            if set.lock().and_then(|l| l.unlock()).is_err() {
                failures += 1;
            }
        });
        if failures > 0 {
            dmasync_qemu_virt::setup_failed(format_args!("{failures} uncontended locks failed"));
        }
        syncset[k] = report(
            if n == 1 {
                "syncset_lock_unlock_1"
            } else {
                "syncset_lock_unlock_4"
            },
            total,
        );
    }

    // Fence signal: producers made beforehand (each with its fence handle kept, as a waiter
    // would); the loop pops and signals. Its own cost is the same loop that forgets instead.
    let make = || -> (Vec<FenceProducer>, Vec<Fence>) {
        let p: Vec<FenceProducer> = (0..ITERS).map(|_| FenceProducer::one_off()).collect();
        let f = p.iter().map(FenceProducer::fence).collect();
        (p, f)
    };
    let (mut ps, fs) = make();
    let forget = report(
        "fence_forget",
        measure(|| {
            if let Some(p) = ps.pop() {
                core::mem::forget(black_box(p));
            }
        }),
    );
    drop(fs);
    let (mut ps, fs) = make();
    let signal = report(
        "fence_signal",
        measure(|| {
            if let Some(p) = ps.pop() {
                p.signal();
            }
        }),
    );
    if !fs.iter().all(Fence::is_signalled) {
        dmasync_qemu_virt::setup_failed(format_args!("a measured fence did not signal"));
    }
    let done = FenceProducer::one_off();
    let fence = done.fence();
    done.signal();
    let wait = report(
        "fence_wait_signalled",
        measure(|| {
            black_box(fence.wait()).ok();
        }),
    );

    // Per-operation figures (tenths of an instruction) and ratios against the baselines.
    let per = |x: u64, base: u64| x.saturating_sub(base);
    result("syncset_lock_unlock_1", per(syncset[0], empty) / 10);
    result("syncset_lock_unlock_4", per(syncset[1], empty) / 10);
    result("acquire_ctx_lockset_1", per(lockset[0], empty) / 10);
    result("acquire_ctx_lockset_4", per(lockset[1], empty) / 10);
    result("acquire_ctx", per(ctx, empty) / 10);
    result("fence_signal", per(signal, forget) / 10);
    result("fence_wait_signalled", per(wait, empty) / 10);
    ratio(
        "syncset_lock_unlock_1 / acquire_ctx_lockset_1",
        per(syncset[0], empty),
        per(lockset[0], empty),
    );
    ratio(
        "syncset_lock_unlock_4 / acquire_ctx_lockset_4",
        per(syncset[1], empty),
        per(lockset[1], empty),
    );
    println!("{}", bench::DONE);
    semihosting::exit(exit_code::OK)
}
