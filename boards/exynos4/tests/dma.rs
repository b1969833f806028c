//! The MDMA PL330 (`dmasync-pl330`) through QEMU's model: copies of 1 B to 1 MiB at every
//! alignment of source and destination (mod 8) land byte-exact with the guard bytes around
//! the destination unchanged; fills of several values; eight channels holding a job at once;
//! a transfer to an unmapped bus address (a named DeviceError on hardware; QEMU's model
//! ignores the bus error, so the fault path is also provoked with an undefined instruction,
//! which it does model), reported by name, the channel killed and used again afterwards; bad spans refused with nothing written. Completion comes through
//! the MDMA's interrupt (external GIC ID 66), whose handler calls `Pl330::on_interrupt`.
//!
//! Expected output: `test <case> ... ok` per case with `info:` lines, then
//! `verdict: ok (6 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use dmasync_engine::{DmaEngine, EngineError, Span};
use dmasync_exynos4::arch::testkit::{self, Failure, Test, TestResult};
use dmasync_exynos4::arch::{cpu, ensure, test_info};
use dmasync_exynos4::dma::{self, DmaPool, Domain};
use dmasync_exynos4::mdma;
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory, DmaRegion};
use dmasync_pl330::fault;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer};

type Driver = mdma::Mdma;

const MDMA: DeviceId = mdma::MDMA_DEVICE;
const MIB: usize = 1 << 20;
/// Guard bytes checked on each side of a destination span.
const GUARD: usize = 32;
/// An address above the 1 GiB of DRAM where nothing is mapped (the data_abort test's).
const UNMAPPED: u64 = 0x9000_0000;

/// The driver, for the interrupt handler. A raw pointer because the driver is not `Sync`:
/// its cache maintenance holds the board's PL310 driver, which one core uses at a time.
struct Ctx {
    domain: &'static Domain,
    pool: &'static DmaPool,
    dma: &'static Driver,
    src: SyncBuffer,
    dst: SyncBuffer,
}

#[dmasync_armv7a::entry]
fn main() -> ! {
    let board = dmasync_exynos4::init();
    let pool = dma::dma_pool(&board);
    let domain = dma::domain(&board, Duration::from_secs(10));
    let dma = mdma::open(&board, pool, 16);
    cpu::enable_irqs();
    let buffer = |name, len| {
        let region = pool.alloc(len, Coherency::NonCoherent).expect("DMA pool");
        domain.buffer(name, region).expect("fresh region")
    };
    let ctx = Ctx {
        domain,
        pool,
        dma,
        src: buffer("src", MIB + 64),
        dst: buffer("dst", MIB + 2 * GUARD + 64),
    };
    testkit::run(
        &ctx,
        &[
            Test {
                name: "copies_of_every_length_and_alignment",
                run: copies_of_every_length_and_alignment,
            },
            Test {
                name: "fills",
                run: fills,
            },
            Test {
                name: "eight_channels_at_once",
                run: eight_channels_at_once,
            },
            Test {
                name: "unmapped_destination_faults_and_the_channel_recovers",
                run: unmapped_destination_faults_and_the_channel_recovers,
            },
            Test {
                name: "bad_spans_are_refused_and_nothing_is_written",
                run: bad_spans_are_refused_and_nothing_is_written,
            },
            Test {
                name: "reset_abandons_a_queued_job",
                run: reset_abandons_a_queued_job,
            },
        ],
    )
}

fn fail(e: impl core::fmt::Display) -> Failure {
    Failure(alloc::format!("{e}"))
}

/// The source's byte at `i`: a hash, so nothing has to keep a copy.
fn src_byte(i: usize) -> u8 {
    let x = (i as u32).wrapping_mul(0x9E37_79B9) ^ (i as u32 >> 7);
    (x >> 24) as u8 ^ x as u8
}

/// What the destination holds where no transfer wrote: differs from the source's bytes at
/// most places, so a missed or misplaced write shows.
fn guard_byte(i: usize) -> u8 {
    (i as u8).wrapping_mul(37) ^ 0xC3
}

struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        // xorshift32
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// A length in 1..=1 MiB, spread evenly over the powers of two.
    fn len(&mut self) -> usize {
        let bits = self.next() % 21;
        let lo = 1usize << bits;
        (lo + (self.next() as usize % lo)).min(MIB)
    }
}

fn cpu_fill(
    ctx: &Ctx,
    buf: &SyncBuffer,
    range: core::ops::Range<usize>,
    f: impl Fn(usize) -> u8,
) -> TestResult {
    let mut s = ctx.domain.set();
    s.add_range(buf, Access::CPU_WRITE, range.clone())
        .map_err(fail)?;
    let l = s.lock().map_err(fail)?;
    l.cpu_write(buf)
        .map_err(fail)?
        .with_mut(|b| {
            for (i, x) in b.iter_mut().enumerate() {
                *x = f(range.start + i);
            }
        })
        .map_err(fail)?;
    l.unlock().map_err(fail)
}

/// Checks `buf[range]` byte by byte against `want`; the first difference is the error.
fn cpu_check(
    ctx: &Ctx,
    buf: &SyncBuffer,
    range: core::ops::Range<usize>,
    want: impl Fn(usize) -> u8,
) -> TestResult {
    let mut s = ctx.domain.set();
    s.add_range(buf, Access::CPU_READ, range.clone())
        .map_err(fail)?;
    let l = s.lock().map_err(fail)?;
    let bad = l
        .cpu_read(buf)
        .map_err(fail)?
        .with(|b| {
            b.iter()
                .enumerate()
                .find(|&(i, &x)| x != want(range.start + i))
                .map(|(i, &x)| (range.start + i, x))
        })
        .map_err(fail)?;
    l.unlock().map_err(fail)?;
    match bad {
        None => Ok(()),
        Some((at, x)) => Err(Failure(alloc::format!(
            "`{}`[{at:#x}] = {x:#04x}, want {:#04x}",
            buf.name(),
            want(at)
        ))),
    }
}

fn wait(f: &Fence, what: &str) -> TestResult {
    match f.wait_timeout(Duration::from_secs(5)) {
        FenceStatus::Ok => Ok(()),
        other => Err(Failure(alloc::format!("{what}: fence {other:?}"))),
    }
}

/// The destination's bytes around `[off, off + len)`.
fn around(ctx: &Ctx, off: usize, len: usize) -> core::ops::Range<usize> {
    off - GUARD..(off + len + GUARD).min(ctx.dst.len())
}

fn copy_case(ctx: &Ctx, so: usize, doff: usize, len: usize) -> TestResult {
    let off = GUARD + doff;
    let r = around(ctx, off, len);
    cpu_fill(ctx, &ctx.dst, r.clone(), guard_byte)?;
    let mut s = ctx.domain.set();
    s.add_range(&ctx.src, Access::dma_read(MDMA), so..so + len)
        .map_err(fail)?;
    s.add_range(&ctx.dst, Access::dma_write(MDMA), off..off + len)
        .map_err(fail)?;
    let l = s.lock().map_err(fail)?;
    let dst = Span {
        buffer: &ctx.dst,
        offset: off,
        len,
    };
    let src = Span {
        buffer: &ctx.src,
        offset: so,
        len,
    };
    let f = ctx.dma.copy(l, dst, src, None).map_err(|r| fail(r.error))?;
    wait(&f, "copy")?;
    cpu_check(ctx, &ctx.dst, r, |i| {
        if (off..off + len).contains(&i) {
            src_byte(i - off + so)
        } else {
            guard_byte(i)
        }
    })
    .map_err(|e| {
        Failure(alloc::format!(
            "copy src+{so} -> dst+{off}, {len} B: {}",
            e.0
        ))
    })
}

fn copies_of_every_length_and_alignment(ctx: &Ctx) -> TestResult {
    cpu_fill(ctx, &ctx.src, 0..ctx.src.len(), src_byte)?;
    let mut rng = Rng(0x1234_5678);
    let mut bytes = 0usize;
    let mut cases = 0;
    for so in 0..8 {
        for doff in 0..8 {
            for len in [rng.len(), rng.len(), 1 + (so + doff) % 17] {
                copy_case(ctx, so, doff, len)?;
                bytes += len;
                cases += 1;
            }
        }
    }
    for (so, doff) in [(0, 0), (7, 3), (4, 0)] {
        copy_case(ctx, so, doff, MIB)?;
        bytes += MIB;
        cases += 1;
    }
    test_info!("{cases} copies, {bytes} bytes, seeded lengths 1 B..1 MiB, every alignment mod 8");
    Ok(())
}

fn fills(ctx: &Ctx) -> TestResult {
    let mut rng = Rng(0xBEEF);
    let mut cases = 0;
    for value in [0x00u8, 0xA5, 0xFF, 0x3C] {
        for doff in 0..8 {
            let len = if doff == 5 { MIB } else { rng.len() };
            let off = GUARD + doff;
            let r = around(ctx, off, len);
            cpu_fill(ctx, &ctx.dst, r.clone(), guard_byte)?;
            let mut s = ctx.domain.set();
            s.add_range(&ctx.dst, Access::dma_write(MDMA), off..off + len)
                .map_err(fail)?;
            let l = s.lock().map_err(fail)?;
            let span = Span {
                buffer: &ctx.dst,
                offset: off,
                len,
            };
            let f = ctx
                .dma
                .fill(l, span, value, None)
                .map_err(|r| fail(r.error))?;
            wait(&f, "fill")?;
            cpu_check(ctx, &ctx.dst, r, |i| {
                if (off..off + len).contains(&i) {
                    value
                } else {
                    guard_byte(i)
                }
            })
            .map_err(|e| {
                Failure(alloc::format!(
                    "fill {value:#x} at +{off}, {len} B: {}",
                    e.0
                ))
            })?;
            cases += 1;
        }
    }
    test_info!("{cases} fills of 4 values at every alignment mod 8");
    Ok(())
}

fn eight_channels_at_once(ctx: &Ctx) -> TestResult {
    ensure!(ctx.dma.channels() == 8, "{} channels", ctx.dma.channels());
    const LEN: usize = 64 * 1024 + 3;
    const NAMES: [&str; 8] = ["ch0", "ch1", "ch2", "ch3", "ch4", "ch5", "ch6", "ch7"];
    let bufs: Vec<SyncBuffer> = NAMES
        .iter()
        .map(|&n| {
            let region = ctx
                .pool
                .alloc(LEN, Coherency::NonCoherent)
                .expect("DMA pool");
            ctx.domain.buffer(n, region).expect("fresh region")
        })
        .collect();
    let gate = FenceProducer::one_off();
    let gate_fence = gate.fence();
    let mut fences = Vec::new();
    for (i, b) in bufs.iter().enumerate() {
        let mut s = ctx.domain.set();
        s.add(b, Access::dma_write(MDMA)).map_err(fail)?;
        let l = s.lock().map_err(fail)?;
        let span = Span {
            buffer: b,
            offset: 0,
            len: LEN,
        };
        fences.push(
            ctx.dma
                .fill(l, span, 0x10 + i as u8, Some(&gate_fence))
                .map_err(|r| fail(r.error))?,
        );
    }
    ensure!(
        ctx.dma.pending() == 8,
        "{} pending behind the gate",
        ctx.dma.pending()
    );
    // With IRQs masked the completions are not taken yet: every channel holds its job.
    let saved = cpu::mask_irqs();
    gate.signal();
    ctx.dma.service();
    let held = ctx.dma.pending();
    cpu::restore_irqs(saved);
    ensure!(held == 8, "{held} jobs on channels at once, want 8");
    for (i, (b, f)) in bufs.iter().zip(&fences).enumerate() {
        wait(f, "channel fill")?;
        cpu_check(ctx, b, 0..LEN, |_| 0x10 + i as u8)?;
    }
    test_info!("8 fills of {LEN} B held all 8 channels at once, then completed by the interrupt");
    Ok(())
}

fn unmapped_destination_faults_and_the_channel_recovers(ctx: &Ctx) -> TestResult {
    // A buffer whose CPU side is pool memory but whose bus address is UNMAPPED, as a board
    // with a wrong translation would describe it.
    let backing = ctx.pool.alloc(4096, Coherency::NonCoherent).map_err(fail)?;
    // The region goes out of scope unused: a dropped region leaks its memory (`DmaRegion`'s
    // docs), the pool never hands it out again, and the region below becomes its only user.
    let virt = { backing }.virt();
    // SAFETY: `[virt, virt + 4096)` is pool memory taken above and never handed to anything
    // else (its region was dropped, which leaks it), so the CPU side is mapped normal memory only this
    // region uses. The device side is deliberately wrong: the controller is told
    // 0x9000_0000, above the 1 GiB of DRAM, where no memory responds, so nothing it does
    // there reaches memory; that access is what this case provokes.
    let region = unsafe {
        DmaRegion::from_raw_parts(virt, BusAddr(UNMAPPED), 4096, Coherency::NonCoherent, 32)
    }
    .map_err(fail)?;
    let bad = ctx.domain.buffer("unmapped", region).map_err(fail)?;
    cpu_fill(ctx, &bad, 0..4096, guard_byte)?;
    let mut s = ctx.domain.set();
    s.add_range(&ctx.src, Access::dma_read(MDMA), 0..4096)
        .map_err(fail)?;
    s.add(&bad, Access::dma_write(MDMA)).map_err(fail)?;
    let l = s.lock().map_err(fail)?;
    let src = Span {
        buffer: &ctx.src,
        offset: 0,
        len: 4096,
    };
    let f = ctx
        .dma
        .copy(l, Span::whole(&bad), src, None)
        .map_err(|r| fail(r.error))?;
    let faults_before = ctx.dma.faults();
    match f.wait_timeout(Duration::from_secs(5)) {
        // Real hardware: the AXI slave error of the store is FTRn bit 17.
        FenceStatus::Err(FenceError::DeviceError(code)) => {
            ensure!(code & 1 << 17 != 0, "{}", fault::describe(code));
            test_info!("to {UNMAPPED:#x}: {}", fault::describe(code));
        }
        // QEMU's model drops the failed dma_memory_write's result (`pl330_exec_cycle`), so
        // the copy "completes"; the fault path is provoked below instead.
        FenceStatus::Ok => test_info!(
            "to {UNMAPPED:#x}: completed (QEMU's pl330 ignores bus errors of its data accesses)"
        ),
        other => {
            return Err(Failure(alloc::format!(
                "a copy to {UNMAPPED:#x} ended {other:?}"
            )));
        }
    }
    // Nothing reached the CPU side of the buffer, which the controller was never told.
    cpu_check(ctx, &bad, 0..4096, guard_byte)?;

    // A fault QEMU does model: a program whose first byte is no instruction.
    ctx.dma.inject_undefined_instruction();
    let r = around(ctx, GUARD, 4096);
    cpu_fill(ctx, &ctx.dst, r.clone(), guard_byte)?;
    let mut s = ctx.domain.set();
    s.add_range(&ctx.src, Access::dma_read(MDMA), 0..4096)
        .map_err(fail)?;
    s.add_range(&ctx.dst, Access::dma_write(MDMA), GUARD..GUARD + 4096)
        .map_err(fail)?;
    let l = s.lock().map_err(fail)?;
    let dst = Span {
        buffer: &ctx.dst,
        offset: GUARD,
        len: 4096,
    };
    let f = ctx.dma.copy(l, dst, src, None).map_err(|r| fail(r.error))?;
    let status = f.wait_timeout(Duration::from_secs(5));
    let FenceStatus::Err(FenceError::DeviceError(code)) = status else {
        return Err(Failure(alloc::format!(
            "the faulting program ended {status:?}"
        )));
    };
    test_info!("{}", fault::describe(code));
    ensure!(
        code & 1 != 0 && fault::is_fault_code(code),
        "code {code:#x} is not an undefined-instruction fault"
    );
    let Some((ch, last)) = ctx.dma.last_fault() else {
        return Err(Failure("no fault recorded".into()));
    };
    ensure!(last == code, "last fault {last:#x}, fence {code:#x}");
    ensure!(
        ctx.dma.faults() == faults_before + 1,
        "{} faults",
        ctx.dma.faults()
    );
    cpu_check(ctx, &ctx.dst, r, guard_byte)
        .map_err(|e| Failure(alloc::format!("the faulting program wrote: {}", e.0)))?;
    // The next job takes the lowest free channel: the one that faulted, now killed.
    ensure!(ch == 0, "the fault was on channel {ch}");
    copy_case(ctx, 1, 2, 10_000)?;
    test_info!("channel {ch} killed and reused: a 10000 B copy after the fault is exact");
    Ok(())
}

fn bad_spans_are_refused_and_nothing_is_written(ctx: &Ctx) -> TestResult {
    let all = 0..ctx.dst.len();
    cpu_fill(ctx, &ctx.dst, all.clone(), guard_byte)?;
    let dlen = ctx.dst.len();
    let span = |buffer, offset, len| Span {
        buffer,
        offset,
        len,
    };
    let refusals: [(Span<'_>, Span<'_>, EngineError); 3] = [
        (
            span(&ctx.dst, dlen - 100, 200),
            span(&ctx.src, 0, 200),
            EngineError::OutOfBounds {
                buffer: "dst",
                what: "copy destination",
            },
        ),
        (
            span(&ctx.dst, 0, 100),
            span(&ctx.src, 0, 101),
            EngineError::BadSurface {
                buffer: "dst",
                why: "copy destination and source differ in length",
            },
        ),
        (
            span(&ctx.dst, 100, 300),
            span(&ctx.dst, 200, 300),
            EngineError::BadSurface {
                buffer: "dst",
                why: "copy source and destination overlap",
            },
        ),
    ];
    for (i, (dst, src, want)) in refusals.into_iter().enumerate() {
        let mut s = ctx.domain.set();
        if core::ptr::eq(src.buffer, &ctx.dst) {
            s.add(&ctx.dst, Access::dma_read_write(MDMA))
                .map_err(fail)?;
        } else {
            s.add(&ctx.src, Access::dma_read(MDMA)).map_err(fail)?;
            s.add(&ctx.dst, Access::dma_write(MDMA)).map_err(fail)?;
        }
        let l = s.lock().map_err(fail)?;
        match ctx.dma.copy(l, dst, src, None) {
            Ok(_) => return Err(Failure(alloc::format!("bad copy {i} was accepted"))),
            Err(r) => {
                ensure!(
                    r.error == want,
                    "bad copy {i}: {:?}, want {want:?}",
                    r.error
                );
                r.returned.unlock().map_err(fail)?;
            }
        }
    }
    // A fill past the end.
    let mut s = ctx.domain.set();
    s.add(&ctx.dst, Access::dma_write(MDMA)).map_err(fail)?;
    let l = s.lock().map_err(fail)?;
    match ctx.dma.fill(l, span(&ctx.dst, dlen - 1, 2), 0, None) {
        Ok(_) => return Err(Failure("a fill past the end was accepted".into())),
        Err(r) => {
            ensure!(
                r.error
                    == EngineError::OutOfBounds {
                        buffer: "dst",
                        what: "fill destination"
                    },
                "{:?}",
                r.error
            );
            r.returned.unlock().map_err(fail)?;
        }
    }
    ensure!(ctx.dma.pending() == 0, "a refusal queued a job");
    cpu_check(ctx, &ctx.dst, all, guard_byte)?;
    test_info!("4 bad spans refused by name; the destination is unchanged");
    Ok(())
}

fn reset_abandons_a_queued_job(ctx: &Ctx) -> TestResult {
    let r = around(ctx, GUARD, 4096);
    cpu_fill(ctx, &ctx.dst, r.clone(), guard_byte)?;
    let never = FenceProducer::one_off();
    let mut s = ctx.domain.set();
    s.add_range(&ctx.dst, Access::dma_write(MDMA), GUARD..GUARD + 4096)
        .map_err(fail)?;
    let l = s.lock().map_err(fail)?;
    let span = Span {
        buffer: &ctx.dst,
        offset: GUARD,
        len: 4096,
    };
    let f = ctx
        .dma
        .fill(l, span, 0x77, Some(&never.fence()))
        .map_err(|r| fail(r.error))?;
    ensure!(ctx.dma.pending() == 1, "{} pending", ctx.dma.pending());
    let n = ctx.dma.reset();
    ensure!(n == 1, "reset abandoned {n} jobs");
    let status = f.status();
    ensure!(
        status == FenceStatus::Err(FenceError::DeviceError(dmasync_soft::ABANDONED)),
        "the abandoned job's fence: {status:?}"
    );
    drop(never);
    // The buffer came back (the fence signalled) untouched, and the engine still works.
    cpu_check(ctx, &ctx.dst, r, guard_byte)?;
    copy_case(ctx, 5, 6, 3000)?;
    test_info!("reset abandoned 1 queued job; nothing written; the next copy is exact");
    Ok(())
}
