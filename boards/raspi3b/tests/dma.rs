//! The BCM2835 DMA (`dmasync-bcm2835-dma`) through QEMU's model, its validator: a property
//! test of copies (lengths that are multiples of 4 from 4 B to 1 MiB, source and destination
//! at every 4-byte alignment mod 64; five at once on channels 0-3 and the lite channel 8) and of fills, compared byte for
//! byte with the expected result and with guard bytes around the destination unchanged;
//! 2D rectangle copies of random size, position and pitch through `Engine2d`; refusals (a
//! length or offset not a multiple of 4 would hang QEMU for good: raspi3b.md §7) that queue
//! nothing; reset with channels idle, and the channels working afterwards. Completion comes
//! through the DMA's interrupts (GPU 16-19 and 24 for channels 0-3 and 8), whose handler calls
//! `Bcm2835Dma::on_interrupt`. QEMU ignores failed DMA accesses and never sets CS.ERROR, so
//! the bus-error path is host-tested only (drivers/bcm2835-dma).
//!
//! Expected output: `test <case> ... ok` per case with `info:` lines, then
//! `verdict: ok (6 cases)`; exit code 0.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_raspi3b as board;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use core::time::Duration;

use board::arch::cache::DataCache;
use board::arch::irq;
use board::arch::testkit::{self, Test, TestResult};
use board::arch::{cpu, ensure, test_info};
use board::dma_pool::DmaPool;
use board::memory_map;
use dmasync_bcm2835_dma::{Bcm2835Dma, Bcm2835DmaConfig};
use dmasync_engine::{
    DmaEngine, Engine2d, EngineError, Op2d, PixelFormat, Point, Rect, Span, Surface, SurfaceDesc,
};
use dmasync_hal::dma::{Coherency, DeviceId, DirectMemory, DmaMemory};
use dmasync_hal::irq::Trigger;
use dmasync_hal::mmio::MmioWindow;
use dmasync_sync::fence::{Fence, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

type Domain = SyncDomain<DirectMemory<DataCache>>;
type Driver = Bcm2835Dma<MmioWindow, DirectMemory<DataCache>>;

const DMA: DeviceId = DeviceId(0xD0);
const MIB: usize = 1 << 20;
/// Guard bytes on each side of every destination.
const GUARD: usize = 64;
/// Channels 0-3 (full) and 8 (lite); the others are the firmware's on a Pi.
const CHANNELS: u16 = 0b1_0000_1111;
/// Longest copy of `five_channels_at_once`: several 64 KiB - 4 blocks on the lite channel.
const SPREAD_MAX: usize = 300 * 1024;

static DRIVER: AtomicPtr<Driver> = AtomicPtr::new(ptr::null_mut());

fn on_dma_irq(_: u32) {
    // SAFETY: `main` stores a pointer to the leaked (hence 'static) driver before it enables
    // any DMA interrupt, and never changes it.
    if let Some(d) = unsafe { DRIVER.load(Ordering::Acquire).as_ref() } {
        d.on_interrupt();
    }
}

struct Ctx {
    domain: &'static Domain,
    dma: &'static Driver,
    src: SyncBuffer,
    dst: SyncBuffer,
    /// One destination per channel, for jobs running at once.
    dsts: Vec<SyncBuffer>,
}

dmasync_aarch64::entry!(main, 40);

fn main(x0: u64, _: u64, _: u64, _: u64) -> ! {
    let b = board::init(x0);
    let (start, len) = b.free_ram;
    // SAFETY: `free_ram` is identity-mapped normal RAM after the image and heap that `init`
    // handed to nobody; this pool is its only user. QEMU's DMA reaches RAM at its physical
    // address (the 0x0 alias: raspi3b.md §4).
    let pool = unsafe { DmaPool::identity_mapped(start, len, DataCache) }
        .unwrap_or_else(|e| board::setup_failed(format_args!("DMA pool: {e}")));
    let pool: &'static DmaPool = Box::leak(Box::new(pool));
    let domain: &'static Domain = Box::leak(Box::new(SyncDomain::new(
        DirectMemory(DataCache),
        SyncConfig {
            hold_deadline: Duration::from_secs(10),
            ..SyncConfig::default()
        },
    )));
    let config = Bcm2835DmaConfig {
        device: DMA,
        channels: CHANNELS,
        cbs_per_channel: 32,
        queue_depth: 8,
        watchdog_ticks: 1000,
    };
    // SAFETY: called once; this driver is the only user of the channels of its mask.
    let regs = unsafe { memory_map::dma_registers() };
    let dma: &'static Driver = match Bcm2835Dma::new(regs, config, pool, DirectMemory(DataCache)) {
        Ok(d) => Box::leak(Box::new(d)),
        Err(e) => board::setup_failed(format_args!("BCM2835 DMA: {e}")),
    };
    DRIVER.store(ptr::from_ref(dma).cast_mut(), Ordering::Release);
    for ch in [0, 1, 2, 3, 8] {
        let id = memory_map::dma_irq(ch);
        irq::register_handler(id, on_dma_irq)
            .and_then(|()| irq::enable_shared(id, 0x80, Trigger::Level))
            .unwrap_or_else(|e| board::setup_failed(format_args!("DMA IRQ {id}: {e:?}")));
    }
    let buffer = |name, len| {
        let region = pool.alloc(len, Coherency::NonCoherent).expect("DMA pool");
        domain.buffer(name, region).expect("fresh region")
    };
    let ctx = Ctx {
        domain,
        dma,
        src: buffer("src", MIB + 64),
        dst: buffer("dst", MIB + 2 * GUARD + 64),
        dsts: ["dst0", "dst1", "dst2", "dst3", "dst8"]
            .map(|n| buffer(n, SPREAD_MAX + 2 * GUARD))
            .into(),
    };
    testkit::run(
        &ctx,
        &[
            Test {
                name: "copies_of_every_length_and_alignment",
                run: copies_of_every_length_and_alignment,
            },
            Test {
                name: "five_channels_at_once",
                run: five_channels_at_once,
            },
            Test {
                name: "fills",
                run: fills,
            },
            Test {
                name: "rectangles_2d",
                run: rectangles_2d,
            },
            Test {
                name: "refusals_queue_nothing",
                run: refusals_queue_nothing,
            },
            Test {
                name: "reset_then_reuse",
                run: reset_then_reuse,
            },
        ],
    )
}

/// xorshift64: the property test's deterministic case generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn pattern(i: usize, seed: usize) -> u8 {
    (i.wrapping_mul(131) ^ seed.wrapping_mul(71) ^ (i >> 9)) as u8
}

fn cpu_write(d: &Domain, buf: &SyncBuffer, f: impl FnOnce(&mut [u8])) {
    let mut s = d.set();
    s.add(buf, Access::CPU_WRITE).unwrap();
    let l = s.lock().unwrap();
    l.cpu_write(buf).unwrap().with_mut(f).unwrap();
    l.unlock().unwrap();
}

fn cpu_read<R>(d: &Domain, buf: &SyncBuffer, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut s = d.set();
    s.add(buf, Access::CPU_READ).unwrap();
    let l = s.lock().unwrap();
    let r = l.cpu_read(buf).unwrap().with(f).unwrap();
    l.unlock().unwrap();
    r
}

fn wait(f: &Fence) -> Result<(), testkit::Failure> {
    match f.wait_timeout(Duration::from_secs(5)) {
        FenceStatus::Ok => Ok(()),
        other => Err(testkit::Failure(alloc::format!("DMA fence: {other:?}"))),
    }
}

/// Copies `len` bytes src[soff..] -> dst[GUARD + doff..] and checks every destination byte
/// and the guards.
fn one_copy(c: &Ctx, len: usize, soff: usize, doff: usize, seed: usize) -> TestResult {
    cpu_write(c.domain, &c.src, |b| {
        for (i, x) in b.iter_mut().enumerate() {
            *x = pattern(i, seed);
        }
    });
    cpu_write(c.domain, &c.dst, |b| b.fill(0xEE));
    let mut s = c.domain.set();
    s.add(&c.dst, Access::dma_write(DMA)).unwrap();
    s.add(&c.src, Access::dma_read(DMA)).unwrap();
    let dst = Span {
        buffer: &c.dst,
        offset: GUARD + doff,
        len,
    };
    let src = Span {
        buffer: &c.src,
        offset: soff,
        len,
    };
    let f = c
        .dma
        .copy(s.lock().unwrap(), dst, src, None)
        .map_err(|r| testkit::Failure(alloc::format!("copy {len} refused: {}", r.error)))?;
    wait(&f)?;
    let bad = cpu_read(c.domain, &c.dst, |b| {
        let start = GUARD + doff;
        (0..b.len()).find(|&i| {
            let want = if (start..start + len).contains(&i) {
                pattern(soff + i - start, seed)
            } else {
                0xEE
            };
            b[i] != want
        })
    });
    ensure!(
        bad.is_none(),
        "copy of {len} B (src +{soff}, dst +{doff}): first wrong byte at dst {}",
        bad.unwrap_or(0)
    );
    Ok(())
}

fn copies_of_every_length_and_alignment(c: &Ctx) -> TestResult {
    let mut rng = Rng(0x00B0_2835_D3A0_0001);
    // The edges: one word, a lite channel's one block (64 KiB - 4) and just past it, 1 MiB.
    let mut cases: Vec<(usize, usize, usize)> = [4, 8, 60, 0xFFFC, 0x1_0000, 0x1_0004, MIB]
        .iter()
        .map(|&l| (l, 0, 0))
        .collect();
    for _ in 0..120 {
        // Mostly short, some up to 1 MiB; every 4-byte alignment mod 64 of both ends.
        let words = match rng.below(4) {
            0 => 1 + rng.below(MIB / 4),
            1 => 1 + rng.below(0x2_0000 / 4),
            _ => 1 + rng.below(1024),
        };
        cases.push((words * 4, 4 * rng.below(16), 4 * rng.below(16)));
    }
    let mut bytes = 0;
    for (i, &(len, soff, doff)) in cases.iter().enumerate() {
        one_copy(c, len, soff, doff, i)?;
        bytes += len;
    }
    test_info!(
        "{} copies, {} bytes, each compared byte for byte",
        cases.len(),
        bytes
    );
    Ok(())
}

/// Five copies submitted with IRQs masked take the five channels (QEMU runs each inside its
/// CS write, but the fences signal only from the interrupt handler); unmasked, the handler
/// completes them all.
fn five_channels_at_once(c: &Ctx) -> TestResult {
    cpu_write(c.domain, &c.src, |b| {
        for (i, x) in b.iter_mut().enumerate() {
            *x = pattern(i, 7);
        }
    });
    let lens = [SPREAD_MAX, 4, 0x1_0000, 4096 + 12, SPREAD_MAX - 4];
    for d in &c.dsts {
        cpu_write(c.domain, d, |b| b.fill(0xEE));
    }
    let saved = cpu::mask_irqs();
    let mut fences = Vec::new();
    for (i, (d, &len)) in c.dsts.iter().zip(&lens).enumerate() {
        let mut s = c.domain.set();
        s.add(d, Access::dma_write(DMA)).unwrap();
        s.add(&c.src, Access::dma_read(DMA)).unwrap();
        let dst = Span {
            buffer: d,
            offset: GUARD,
            len,
        };
        let src = Span {
            buffer: &c.src,
            offset: 4 * i,
            len,
        };
        match c.dma.copy(s.lock().unwrap(), dst, src, None) {
            Ok(f) => fences.push(f),
            Err(r) => {
                cpu::restore_irqs(saved);
                return Err(testkit::Failure(alloc::format!(
                    "copy refused: {}",
                    r.error
                )));
            }
        }
    }
    let running = c.dma.running();
    cpu::restore_irqs(saved);
    ensure!(running == 5, "{running} of 5 channels took a job");
    for f in &fences {
        wait(f)?;
    }
    for (i, (d, &len)) in c.dsts.iter().zip(&lens).enumerate() {
        let bad = cpu_read(c.domain, d, |b| {
            (0..b.len()).find(|&k| {
                let inside = (GUARD..GUARD + len).contains(&k);
                b[k] != if inside {
                    pattern(4 * i + k - GUARD, 7)
                } else {
                    0xEE
                }
            })
        });
        ensure!(
            bad.is_none(),
            "channel job {i} ({len} B): wrong byte at {bad:?}"
        );
    }
    test_info!("channels 0-3 and lite 8 ran a job each; all completed by the interrupt");
    Ok(())
}

fn fills(c: &Ctx) -> TestResult {
    let mut rng = Rng(0xF111);
    for i in 0..24 {
        let len = 4 * (1 + rng.below(if i % 4 == 0 { MIB / 4 } else { 4096 }));
        let off = 4 * rng.below(16);
        let value = rng.next() as u8;
        cpu_write(c.domain, &c.dst, |b| b.fill(!value));
        let mut s = c.domain.set();
        s.add(&c.dst, Access::dma_write(DMA)).unwrap();
        let dst = Span {
            buffer: &c.dst,
            offset: GUARD + off,
            len,
        };
        let f = c
            .dma
            .fill(s.lock().unwrap(), dst, value, None)
            .map_err(|r| testkit::Failure(alloc::format!("fill refused: {}", r.error)))?;
        wait(&f)?;
        let start = GUARD + off;
        let bad = cpu_read(c.domain, &c.dst, |b| {
            (0..b.len()).find(|&i| {
                let inside = (start..start + len).contains(&i);
                b[i] != if inside { value } else { !value }
            })
        });
        ensure!(
            bad.is_none(),
            "fill of {len} B with {value:#x}: wrong byte at {bad:?}"
        );
    }
    test_info!("24 fills, each compared byte for byte");
    Ok(())
}

fn rectangles_2d(c: &Ctx) -> TestResult {
    let mut rng = Rng(0x2D2D);
    for case in 0..40 {
        let (sw, sh) = (1 + rng.below(300), 1 + rng.below(200));
        let (dw, dh) = (1 + rng.below(300), 1 + rng.below(200));
        let w = 1 + rng.below(sw.min(dw));
        let h = 1 + rng.below(sh.min(dh));
        let from = Rect::new(
            rng.below(sw - w + 1) as u32,
            rng.below(sh - h + 1) as u32,
            w as u32,
            h as u32,
        );
        let to = Point::new(rng.below(dw - w + 1) as u32, rng.below(dh - h + 1) as u32);
        // Pitches: the row plus 0-63 extra pixels, within the buffers.
        let sdesc = SurfaceDesc {
            offset: 4 * rng.below(16),
            stride: 4 * (sw + rng.below(64)),
            ..SurfaceDesc::packed(sw as u32, sh as u32, PixelFormat::Xrgb8888)
        };
        let ddesc = SurfaceDesc {
            offset: GUARD + 4 * rng.below(16),
            stride: 4 * (dw + rng.below(64)),
            ..SurfaceDesc::packed(dw as u32, dh as u32, PixelFormat::Xrgb8888)
        };
        cpu_write(c.domain, &c.src, |b| {
            for (i, x) in b.iter_mut().enumerate() {
                *x = pattern(i, case);
            }
        });
        cpu_write(c.domain, &c.dst, |b| b.fill(0xEE));
        let mut s = c.domain.set();
        s.add(&c.dst, Access::dma_write(DMA)).unwrap();
        s.add(&c.src, Access::dma_read(DMA)).unwrap();
        let op = Op2d::Copy {
            dst: Surface::new(&c.dst, ddesc),
            to,
            src: Surface::new(&c.src, sdesc),
            from,
        };
        let f = c
            .dma
            .submit(s.lock().unwrap(), &[op], None)
            .map_err(|r| testkit::Failure(alloc::format!("2D copy refused: {}", r.error)))?;
        wait(&f)?;
        let bad = cpu_read(c.domain, &c.dst, |b| {
            (0..b.len()).find(|&i| {
                let rel = i.wrapping_sub(ddesc.offset);
                let (y, x) = (rel / ddesc.stride, rel % ddesc.stride / 4);
                let inside = i >= ddesc.offset
                    && (to.y as usize..to.y as usize + h).contains(&y)
                    && (to.x as usize..to.x as usize + w).contains(&x);
                let want = if inside {
                    let sx = from.x as usize + x - to.x as usize;
                    let sy = from.y as usize + y - to.y as usize;
                    pattern(sdesc.offset + sy * sdesc.stride + sx * 4 + rel % 4, case)
                } else {
                    0xEE
                };
                b[i] != want
            })
        });
        ensure!(
            bad.is_none(),
            "2D copy {from:?} -> {to:?} (pitches {} / {}): wrong byte at dst {bad:?}",
            sdesc.stride,
            ddesc.stride
        );
    }
    test_info!("40 rectangles with random pitches, compared byte for byte");
    Ok(())
}

fn refusals_queue_nothing(c: &Ctx) -> TestResult {
    // Each of these would hang QEMU for good if it reached TXFR_LEN (raspi3b.md §7).
    for (len, soff, doff) in [(6, 0, 0), (1, 0, 0), (4094, 0, 0), (8, 2, 0), (8, 0, 1)] {
        let mut s = c.domain.set();
        s.add(&c.dst, Access::dma_write(DMA)).unwrap();
        s.add(&c.src, Access::dma_read(DMA)).unwrap();
        let dst = Span {
            buffer: &c.dst,
            offset: doff,
            len,
        };
        let src = Span {
            buffer: &c.src,
            offset: soff,
            len,
        };
        let r = c.dma.copy(s.lock().unwrap(), dst, src, None);
        let Err(rej) = r else {
            return Err(testkit::Failure(alloc::format!("copy of {len} B accepted")));
        };
        ensure!(
            matches!(rej.error, EngineError::Unsupported(_)),
            "{len} B: {}",
            rej.error
        );
        rej.returned.unlock().unwrap();
    }
    let mut s = c.domain.set();
    s.add(&c.dst, Access::dma_write(DMA)).unwrap();
    let d = Surface::new(&c.dst, SurfaceDesc::packed(16, 16, PixelFormat::Xrgb8888));
    let fill = Op2d::Fill {
        dst: d,
        rect: Rect::new(0, 0, 4, 4),
        color: dmasync_engine::Color(0xFFFF_FFFF),
    };
    let rej = c.dma.submit(s.lock().unwrap(), &[fill], None);
    let rej = rej
        .err()
        .ok_or_else(|| testkit::Failure("2D fill accepted".into()))?;
    ensure!(
        matches!(rej.error, EngineError::Unsupported(_)),
        "{}",
        rej.error
    );
    rej.returned.unlock().unwrap();
    ensure!(c.dma.pending() == 0, "a refusal queued a job");
    one_copy(c, 4096, 4, 8, 99)?;
    test_info!("odd lengths and offsets and a 2D fill refused; the next copy ran");
    Ok(())
}

fn reset_then_reuse(c: &Ctx) -> TestResult {
    ensure!(c.dma.reset() == 0, "nothing was pending");
    ensure!(c.dma.watchdog() == 0, "the watchdog halted an idle channel");
    for i in 0..6 {
        one_copy(c, 4 * (1 + 1000 * i), 4 * i, 0, 200 + i)?;
    }
    ensure!(c.dma.watchdog_resets() == 0, "a channel timed out");
    Ok(())
}
