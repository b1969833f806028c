//! The driver against the register model ([`crate::model`]) on the non-coherent memory
//! simulator: byte-exact copies and fills at every alignment with zero coherency
//! violations, refusals that launch and write nothing, faults reported by name with the
//! channel usable afterwards, in-fences, several channels at once, reset.

use std::vec;
use std::vec::Vec;

use dmasync_engine::{DmaEngine, EngineError, Span};
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};
use dmasync_sync::fence::{FenceError, FenceProducer, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

use crate::model::Pl330Model;
use crate::{Pl330, Pl330Config, fault};

const DMA: DeviceId = DeviceId(0);
const OTHER: DeviceId = DeviceId(1);

type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
type Driver<'s> = Pl330<Pl330Model<'s>, &'s NonCoherentSim>;

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 4 << 20,
        line_size: 32,
        lines_per_cpu: 64,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("pl330", Coherency::NonCoherent), DMA);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

fn driver(sim: &NonCoherentSim) -> Driver<'_> {
    let config = Pl330Config {
        device: DMA,
        queue_depth: 16,
    };
    Pl330::new(Pl330Model::mdma(sim, DMA), config, sim, sim).unwrap()
}

fn buffer(d: &Domain<'_>, sim: &NonCoherentSim, name: &'static str, len: usize) -> SyncBuffer {
    d.buffer(name, sim.alloc(len, Coherency::NonCoherent).unwrap())
        .unwrap()
}

fn cpu_write(d: &Domain<'_>, buf: &SyncBuffer, bytes: &[u8]) {
    let mut s = d.set();
    s.add(buf, Access::CPU_WRITE).unwrap();
    let l = s.lock().unwrap();
    l.cpu_write(buf)
        .unwrap()
        .with_mut(|b| b.copy_from_slice(bytes))
        .unwrap();
    l.unlock().unwrap();
}

fn cpu_read(d: &Domain<'_>, buf: &SyncBuffer) -> Vec<u8> {
    let mut s = d.set();
    s.add(buf, Access::CPU_READ).unwrap();
    let l = s.lock().unwrap();
    let v = l.cpu_read(buf).unwrap().with(|b| b.to_vec()).unwrap();
    l.unlock().unwrap();
    v
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 + seed * 7 + i / 253) as u8)
        .collect()
}

/// Copies `len` bytes from `a[so..]` to `b[do_..]` and checks `b` is exactly the old `b`
/// with that span replaced.
fn copy_and_check(
    d: &Domain<'_>,
    dma: &Driver<'_>,
    a: &SyncBuffer,
    b: &SyncBuffer,
    so: usize,
    do_: usize,
    len: usize,
) {
    let src = cpu_read(d, a);
    let mut want = cpu_read(d, b);
    want[do_..do_ + len].copy_from_slice(&src[so..so + len]);
    let mut s = d.set();
    s.add(a, Access::dma_read(DMA)).unwrap();
    s.add(b, Access::dma_write(DMA)).unwrap();
    let l = s.lock().unwrap();
    let dst = Span {
        buffer: b,
        offset: do_,
        len,
    };
    let srcs = Span {
        buffer: a,
        offset: so,
        len,
    };
    let f = dma.copy(l, dst, srcs, None).unwrap();
    assert_eq!(dma.on_interrupt(), 1);
    assert_eq!(f.status(), FenceStatus::Ok);
    assert_eq!(cpu_read(d, b), want, "copy {so} -> {do_}, {len} bytes");
}

#[test]
fn copies_land_byte_exact_at_every_alignment_with_zero_violations() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = driver(&sim);
    let a = buffer(&d, &sim, "a", 80 * 1024);
    let b = buffer(&d, &sim, "b", 80 * 1024);
    cpu_write(&d, &a, &pattern(80 * 1024, 1));
    cpu_write(&d, &b, &pattern(80 * 1024, 2));
    for so in 0..8 {
        for do_ in 0..8 {
            for len in [1, 2, 3, 7, 8, 9, 15, 16, 17, 127, 128, 129, 1000] {
                copy_and_check(&d, &dma, &a, &b, 16 + so, 8 + do_, len);
            }
        }
    }
    copy_and_check(&d, &dma, &a, &b, 3, 5, 64 * 1024 + 13);
    copy_and_check(&d, &dma, &a, &b, 0, 0, 80 * 1024);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn fills_write_every_value_and_nothing_else() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = driver(&sim);
    let b = buffer(&d, &sim, "b", 8192);
    cpu_write(&d, &b, &pattern(8192, 3));
    for (i, (value, off, len)) in [(0u8, 0, 8192), (0xA5, 3, 1), (0xFF, 5, 4093), (7, 1, 333)]
        .into_iter()
        .enumerate()
    {
        let mut want = cpu_read(&d, &b);
        want[off..off + len].fill(value);
        let mut s = d.set();
        s.add(&b, Access::dma_write(DMA)).unwrap();
        let l = s.lock().unwrap();
        let f = dma
            .fill(
                l,
                Span {
                    buffer: &b,
                    offset: off,
                    len,
                },
                value,
                None,
            )
            .unwrap();
        dma.on_interrupt();
        assert_eq!(f.status(), FenceStatus::Ok, "fill {i}");
        assert_eq!(cpu_read(&d, &b), want, "fill {i}");
    }
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn bad_spans_are_refused_by_name_and_nothing_runs() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = driver(&sim);
    let a = buffer(&d, &sim, "a", 4096);
    let b = buffer(&d, &sim, "b", 4096);
    cpu_write(&d, &b, &pattern(4096, 9));
    let before = cpu_read(&d, &b);
    let span = |buffer, offset, len| Span {
        buffer,
        offset,
        len,
    };
    let cases: Vec<(Span<'_>, Span<'_>, Access, EngineError)> = vec![
        (
            span(&b, 4000, 200),
            span(&a, 0, 200),
            Access::dma_write(DMA),
            EngineError::OutOfBounds {
                buffer: "b",
                what: "copy destination",
            },
        ),
        (
            span(&b, 0, 100),
            span(&a, 0, 99),
            Access::dma_write(DMA),
            EngineError::BadSurface {
                buffer: "b",
                why: "copy destination and source differ in length",
            },
        ),
        (
            span(&b, 0, 100),
            span(&a, 0, 100),
            Access::dma_read(DMA),
            EngineError::NotLockedFor {
                buffer: "b",
                wanted: "write",
            },
        ),
        (
            span(&b, 0, 100),
            span(&a, 0, 100),
            Access::dma_write(OTHER),
            EngineError::NotLockedFor {
                buffer: "b",
                wanted: "write",
            },
        ),
    ];
    for (dst, src, access, want) in cases {
        let mut s = d.set();
        s.add(&a, Access::dma_read(DMA)).unwrap();
        s.add(&b, access).unwrap();
        let l = s.lock().unwrap();
        let r = dma.copy(l, dst, src, None).unwrap_err();
        assert_eq!(r.error, want);
        r.returned.unlock().unwrap();
    }
    // A copy within one buffer onto itself.
    let mut s = d.set();
    s.add(&b, Access::dma_read_write(DMA)).unwrap();
    let l = s.lock().unwrap();
    let r = dma
        .copy(l, span(&b, 10, 100), span(&b, 50, 100), None)
        .unwrap_err();
    assert_eq!(
        r.error,
        EngineError::BadSurface {
            buffer: "b",
            why: "copy source and destination overlap"
        }
    );
    r.returned.unlock().unwrap();
    // A fill past the end, and an empty one.
    for (off, len, want) in [
        (
            4095,
            2,
            EngineError::OutOfBounds {
                buffer: "b",
                what: "fill destination",
            },
        ),
        (0, 0, EngineError::Empty),
    ] {
        let mut s = d.set();
        s.add(&b, Access::dma_write(DMA)).unwrap();
        let l = s.lock().unwrap();
        let r = dma.fill(l, span(&b, off, len), 1, None).unwrap_err();
        assert_eq!(r.error, want);
        r.returned.unlock().unwrap();
    }
    assert_eq!(dma.state.lock().io.launches(), 0);
    assert_eq!(cpu_read(&d, &b), before);
}

#[test]
fn a_bus_error_is_a_named_device_error_and_the_channel_works_afterwards() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = driver(&sim);
    let a = buffer(&d, &sim, "a", 4096);
    let b = buffer(&d, &sim, "b", 4096);
    cpu_write(&d, &a, &pattern(4096, 4));
    let bus_b = b.region().bus().0;
    dma.state.lock().io.refuse(bus_b..bus_b + 4096);
    let mut s = d.set();
    s.add(&a, Access::dma_read(DMA)).unwrap();
    s.add(&b, Access::dma_write(DMA)).unwrap();
    let l = s.lock().unwrap();
    let f = dma.copy(l, Span::whole(&b), Span::whole(&a), None).unwrap();
    assert_eq!(dma.on_interrupt(), 1);
    let FenceStatus::Err(FenceError::DeviceError(code)) = f.status() else {
        panic!("{:?}", f.status());
    };
    assert_eq!(code, 1 << 17);
    let named = std::format!("{}", fault::describe(code));
    assert!(named.contains("data write error"), "{named}");
    assert_eq!(dma.last_fault(), Some((0, 1 << 17)));
    assert_eq!(dma.faults(), 1);
    // new() killed 8 channels; the fault one more.
    assert_eq!(dma.state.lock().io.kills(), 9);
    dma.state.lock().io.refuse(0..0);
    copy_and_check(&d, &dma, &a, &b, 0, 0, 4096);
}

#[test]
fn in_fences_hold_jobs_and_several_channels_run_at_once() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = driver(&sim);
    let bufs: Vec<SyncBuffer> = (0..8)
        .map(|i| {
            buffer(
                &d,
                &sim,
                ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"][i],
                1024,
            )
        })
        .collect();
    let gate = FenceProducer::one_off();
    let gate_fence = gate.fence();
    let fences: Vec<_> = bufs
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut s = d.set();
            s.add(b, Access::dma_write(DMA)).unwrap();
            let l = s.lock().unwrap();
            dma.fill(l, Span::whole(b), i as u8 + 1, Some(&gate_fence))
                .unwrap()
        })
        .collect();
    dma.service();
    assert_eq!(dma.state.lock().io.launches(), 0, "in-fence pending");
    gate.signal();
    dma.service();
    // Eight channels hold a job each at the same time.
    assert_eq!(dma.pending(), 8);
    assert_eq!(dma.state.lock().io.launches(), 8);
    assert_eq!(dma.on_interrupt(), 8);
    for (i, (b, f)) in bufs.iter().zip(&fences).enumerate() {
        assert_eq!(f.status(), FenceStatus::Ok);
        assert_eq!(cpu_read(&d, b), vec![i as u8 + 1; 1024]);
    }
    // A failed in-fence fails the job without running it.
    let bad = FenceProducer::one_off();
    let mut s = d.set();
    s.add(&bufs[0], Access::dma_write(DMA)).unwrap();
    let l = s.lock().unwrap();
    let f = dma
        .fill(l, Span::whole(&bufs[0]), 0xEE, Some(&bad.fence()))
        .unwrap();
    bad.signal_error(FenceError::Cancelled);
    dma.service();
    assert_eq!(f.status(), FenceStatus::Err(FenceError::Cancelled));
    assert_eq!(dma.state.lock().io.launches(), 8);
    assert_eq!(cpu_read(&d, &bufs[0]), vec![1; 1024]);
    assert_eq!(sim.violations(), vec![]);
}

#[test]
fn reset_abandons_running_and_queued_jobs() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = driver(&sim);
    let b = buffer(&d, &sim, "b", 1024);
    let c = buffer(&d, &sim, "c", 1024);
    let mut s = d.set();
    s.add(&b, Access::dma_write(DMA)).unwrap();
    let l = s.lock().unwrap();
    // Running (its completion not yet taken by an interrupt).
    let running = dma.fill(l, Span::whole(&b), 1, None).unwrap();
    let never = FenceProducer::one_off();
    let mut s2 = d.set();
    s2.add(&c, Access::dma_write(DMA)).unwrap();
    let l2 = s2.lock().unwrap();
    let queued = dma
        .fill(l2, Span::whole(&c), 2, Some(&never.fence()))
        .unwrap();
    assert_eq!(dma.reset(), 2);
    for f in [&running, &queued] {
        assert_eq!(
            f.status(),
            FenceStatus::Err(FenceError::DeviceError(dmasync_soft::ABANDONED))
        );
    }
    assert_eq!(dma.pending(), 0);
    assert_eq!(cpu_read(&d, &c), vec![0; 1024]);
    drop(never);
}

#[test]
fn a_queue_full_refusal_returns_the_set() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let config = Pl330Config {
        device: DMA,
        queue_depth: 1,
    };
    let dma: Driver<'_> = Pl330::new(Pl330Model::mdma(&sim, DMA), config, &sim, &sim).unwrap();
    let b = buffer(&d, &sim, "b", 64);
    let c = buffer(&d, &sim, "c", 64);
    let mut s = d.set();
    s.add(&b, Access::dma_write(DMA)).unwrap();
    let f = dma
        .fill(s.lock().unwrap(), Span::whole(&b), 1, None)
        .unwrap();
    let mut s2 = d.set();
    s2.add(&c, Access::dma_write(DMA)).unwrap();
    let r = dma
        .fill(s2.lock().unwrap(), Span::whole(&c), 1, None)
        .unwrap_err();
    assert_eq!(r.error, EngineError::QueueFull);
    r.returned.unlock().unwrap();
    dma.on_interrupt();
    assert_eq!(f.status(), FenceStatus::Ok);
}

#[test]
fn an_injected_undefined_instruction_faults_by_name_and_the_channel_works_afterwards() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = driver(&sim);
    let a = buffer(&d, &sim, "a", 256);
    let b = buffer(&d, &sim, "b", 256);
    cpu_write(&d, &a, &pattern(256, 5));
    cpu_write(&d, &b, &pattern(256, 6));
    let before = cpu_read(&d, &b);
    dma.inject_undefined_instruction();
    let mut s = d.set();
    s.add(&a, Access::dma_read(DMA)).unwrap();
    s.add(&b, Access::dma_write(DMA)).unwrap();
    let l = s.lock().unwrap();
    let f = dma.copy(l, Span::whole(&b), Span::whole(&a), None).unwrap();
    dma.on_interrupt();
    assert_eq!(f.status(), FenceStatus::Err(FenceError::DeviceError(1)));
    let named = std::format!("{}", fault::describe(1));
    assert!(named.contains("undefined instruction"), "{named}");
    assert_eq!(
        cpu_read(&d, &b),
        before,
        "the faulting program moved nothing"
    );
    copy_and_check(&d, &dma, &a, &b, 1, 3, 200);
    assert_eq!(dma.faults(), 1);
}
