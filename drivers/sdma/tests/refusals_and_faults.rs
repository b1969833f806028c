//! Every refusal is a clear `Err` that wrote no register (the model's write log does not
//! grow); a hung channel and a bus error reach the job's fence (watchdog STATSTOP, BD
//! ERROR), the channel works again afterwards; `reset` abandons everything.

mod common;

use common::*;
use dmasync_engine::dma::{DmaEngine, Span};
use dmasync_engine::error::EngineError;
use dmasync_sdma::{BD_ERROR, Sdma, SdmaConfig, WATCHDOG_RESET};
use dmasync_sdma_model::{Fault, ModelError, SdmaModel, regs as m_regs};
use dmasync_sim::{NonCoherentSim, SimConfig};
use dmasync_soft::ABANDONED;
use dmasync_sync::fence::{FenceError, FenceStatus};
use dmasync_sync::syncset::{Access, SyncBuffer};

/// Copies with `access` per buffer and expects `want`, with no register written.
#[allow(clippy::too_many_arguments)]
fn refused_copy(
    g: &Driver<'_, '_>,
    m: &SdmaModel<'_>,
    d: &Domain<'_>,
    bufs: &[(&SyncBuffer, Access)],
    dst: Span<'_>,
    src: Span<'_>,
    want: EngineError,
) {
    let before = m.writes().len();
    let pending = g.pending();
    let mut s = d.set();
    for (b, a) in bufs {
        s.add(b, *a).unwrap();
    }
    let l = s.lock().unwrap();
    let r = g.copy(l, dst, src, None).expect_err("must be refused");
    assert_eq!(r.error, want);
    assert_eq!(
        m.writes().len(),
        before,
        "a refused copy wrote a register: {want:?}"
    );
    r.returned.unlock().unwrap();
    assert_eq!(g.pending(), pending, "nothing queued");
}

fn span(b: &SyncBuffer, offset: usize, len: usize) -> Span<'_> {
    Span {
        buffer: b,
        offset,
        len,
    }
}

#[test]
fn every_bad_copy_is_refused_before_a_register_is_written() {
    let sim = sim();
    let d = domain(&sim);
    let m = SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    let a = buffer(&d, &sim, "a", 1 << 20);
    let b = buffer(&d, &sim, "b", 1 << 20);
    let w = |x| (x, Access::dma_write(SDMA));
    let r = |x| (x, Access::dma_read(SDMA));
    let ok = [w(&a), r(&b)];

    refused_copy(
        &g,
        &m,
        &d,
        &ok,
        span(&a, 0, 64),
        span(&b, 0, 68),
        EngineError::BadSurface {
            buffer: "a",
            why: "copy destination and source differ in length",
        },
    );
    refused_copy(
        &g,
        &m,
        &d,
        &[(&a, Access::dma_read_write(SDMA))],
        span(&a, 0, 64),
        span(&a, 32, 64),
        EngineError::BadSurface {
            buffer: "a",
            why: "copy source and destination overlap",
        },
    );
    refused_copy(
        &g,
        &m,
        &d,
        &[r(&a), r(&b)],
        span(&a, 0, 64),
        span(&b, 0, 64),
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "write",
        },
    );
    refused_copy(
        &g,
        &m,
        &d,
        &[w(&a), (&b, Access::dma_read(OTHER))],
        span(&a, 0, 64),
        span(&b, 0, 64),
        EngineError::NotLockedFor {
            buffer: "b",
            wanted: "read",
        },
    );
    refused_copy(
        &g,
        &m,
        &d,
        &ok,
        span(&a, (1 << 20) - 32, 64),
        span(&b, 0, 64),
        EngineError::OutOfBounds {
            buffer: "a",
            what: "copy destination",
        },
    );
    refused_copy(
        &g,
        &m,
        &d,
        &ok,
        span(&a, 0, 0),
        span(&b, 0, 0),
        EngineError::Empty,
    );
    let unaligned = || {
        EngineError::Unsupported(
            "SDMA copy not 4-byte aligned (address or length; ap_2_ap memcpy declares copy_align 4)",
        )
    };
    refused_copy(
        &g,
        &m,
        &d,
        &ok,
        span(&a, 1, 64),
        span(&b, 0, 64),
        unaligned(),
    );
    refused_copy(
        &g,
        &m,
        &d,
        &ok,
        span(&a, 0, 64),
        span(&b, 2, 64),
        unaligned(),
    );
    refused_copy(
        &g,
        &m,
        &d,
        &ok,
        span(&a, 0, 63),
        span(&b, 0, 63),
        unaligned(),
    );
    // 8 BDs per channel in the test configuration.
    assert_eq!(g.max_copy(), 8 * 0xFFFC);
    refused_copy(
        &g,
        &m,
        &d,
        &ok,
        span(&a, 0, 8 * 0xFFFC + 4),
        span(&b, 0, 8 * 0xFFFC + 4),
        EngineError::Unsupported(
            "SDMA copy longer than one channel's BD table (bds_per_channel x 0xFFFC bytes)",
        ),
    );

    // Fill: ap_2_ap cannot.
    let before = m.writes().len();
    let mut s = d.set();
    s.add(&a, Access::dma_write(SDMA)).unwrap();
    let l = s.lock().unwrap();
    let e = g
        .fill(l, span(&a, 0, 64), 0x42, None)
        .expect_err("fill is refused");
    assert_eq!(
        e.error,
        EngineError::Unsupported(
            "SDMA fill: the ROM script ap_2_ap only copies (other scripts need RAM firmware)",
        )
    );
    e.returned.unlock().unwrap();
    assert_eq!(m.writes().len(), before);

    // The longest copy is accepted and right.
    let sp = pattern(1 << 20, 9);
    cpu_write(&d, &b, &sp);
    let f = copy(
        &d,
        &g,
        span(&a, 0, 8 * 0xFFFC),
        span(&b, 0, 8 * 0xFFFC),
        None,
    );
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.status(), FenceStatus::Ok);
    assert_eq!(cpu_read(&d, &a)[..8 * 0xFFFC], sp[..8 * 0xFFFC]);
    assert_eq!(m.errors(), vec![]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_full_queue_is_refused_and_bad_configurations_are_named() {
    let sim = sim();
    let d = domain(&sim);
    let m = SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    // A buffer stays held until its job's fence: one pair of buffers per job.
    let dsts: Vec<_> = (0..7).map(|_| buffer(&d, &sim, "a", 256)).collect();
    let srcs: Vec<_> = (0..7).map(|_| buffer(&d, &sim, "b", 256)).collect();
    let fences: Vec<_> = (0..6)
        .map(|i| copy(&d, &g, Span::whole(&dsts[i]), Span::whole(&srcs[i]), None))
        .collect();
    refused_copy(
        &g,
        &m,
        &d,
        &[
            (&dsts[6], Access::dma_write(SDMA)),
            (&srcs[6], Access::dma_read(SDMA)),
        ],
        Span::whole(&dsts[6]),
        Span::whole(&srcs[6]),
        EngineError::QueueFull,
    );
    assert_eq!(drive(&m, &g), 6);
    assert!(fences.iter().all(|f| f.status() == FenceStatus::Ok));

    let bad = |f: fn(&mut SdmaConfig), want: &'static str| {
        let m = SdmaModel::new(&sim, SDMA);
        let mut c = config();
        f(&mut c);
        let e = Sdma::new(&m, c, &sim, &sim).expect_err(want);
        assert_eq!(e, EngineError::Unsupported(want));
        assert_eq!(m.writes(), vec![], "{want}: nothing written");
    };
    bad(
        |c| c.channels = 0,
        "SDMA data channels: 1 to 31 (channel 0 is the command channel)",
    );
    bad(
        |c| c.channels = 32,
        "SDMA data channels: 1 to 31 (channel 0 is the command channel)",
    );
    bad(
        |c| c.bds_per_channel = 342,
        "SDMA BDs per channel: 1 to 341 (one 4 KiB page)",
    );
    bad(|c| c.priority = 0, "SDMA channel priority: 1 to 7");
    bad(|c| c.priority = 8, "SDMA channel priority: 1 to 7");
    bad(|c| c.queue_depth = 0, "a queue depth of 0");
}

/// A refused `Sdma::new` gives its control blocks back: with the allocator of another
/// memory system, 200 refusals in a row never run that allocator dry (each would otherwise
/// leak a few KiB of a 64 KiB memory), and every one names the reason.
#[test]
fn a_refused_driver_returns_its_control_blocks() {
    let sim = sim();
    let other = NonCoherentSim::new(SimConfig {
        dram_size: 64 << 10,
        ..SimConfig::default()
    });
    let m = SdmaModel::new(&sim, SDMA);
    for i in 0..200 {
        let e = Sdma::new(&m, config(), &other, &sim).expect_err("foreign control blocks");
        assert_eq!(
            e,
            EngineError::Device("the SDMA control blocks are not of the given memory system"),
            "refusal {i}"
        );
    }
    assert_eq!(m.writes(), vec![], "nothing written");
    // All of the other memory is free again.
    dmasync_hal::dma::DmaMemory::alloc(&other, 60 << 10, dmasync_hal::dma::Coherency::NonCoherent)
        .expect("the refused drivers' control blocks were freed");
}

#[test]
fn a_hung_channel_is_stopped_by_the_watchdog_and_works_again() {
    let sim = sim();
    let d = domain(&sim);
    let m = SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    let a = buffer(&d, &sim, "a", 256);
    let b = buffer(&d, &sim, "b", 256);
    let sp = pattern(256, 4);
    cpu_write(&d, &b, &sp);
    m.inject(Fault::Hang);
    let f = copy(&d, &g, Span::whole(&a), Span::whole(&b), None);
    assert!(!m.run(), "a hung channel raises no interrupt");
    assert_eq!(g.on_interrupt(), 0);
    assert_eq!(g.watchdog(), 0);
    assert_eq!(g.watchdog(), 0);
    assert_eq!(f.status(), FenceStatus::Pending, "within watchdog_ticks");
    let ch = m.active();
    assert_eq!(ch.count_ones(), 1);
    assert_eq!(g.watchdog(), 1);
    assert_eq!(
        f.status(),
        FenceStatus::Err(FenceError::DeviceError(WATCHDOG_RESET))
    );
    assert!(
        m.writes().contains(&(m_regs::STATSTOP, ch)),
        "stopped through STATSTOP"
    );
    assert_eq!(m.active(), 0);
    assert_eq!(g.watchdog_resets(), 1);

    let f = copy(&d, &g, Span::whole(&a), Span::whole(&b), None);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.status(), FenceStatus::Ok);
    assert_eq!(cpu_read(&d, &a), sp);
    assert_eq!(m.errors(), vec![]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_bus_error_reaches_the_fence_through_the_bd_error_bit() {
    let sim = sim();
    let d = domain(&sim);
    let m = SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    let a = buffer(&d, &sim, "a", 256);
    let b = buffer(&d, &sim, "b", 256);
    cpu_write(&d, &a, &[0x11; 256]);
    cpu_write(&d, &b, &pattern(256, 5));
    m.inject(Fault::BusError);
    let f = copy(&d, &g, Span::whole(&a), Span::whole(&b), None);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(
        f.status(),
        FenceStatus::Err(FenceError::DeviceError(BD_ERROR))
    );
    assert!(matches!(m.errors()[..], [ModelError::BusError { .. }]));
    assert_eq!(cpu_read(&d, &a), vec![0x11; 256], "nothing was written");
    let f = copy(&d, &g, Span::whole(&a), Span::whole(&b), None);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.status(), FenceStatus::Ok);
    assert_eq!(cpu_read(&d, &a), pattern(256, 5));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn reset_abandons_running_and_queued_copies() {
    let sim = sim();
    let d = domain(&sim);
    let m = SdmaModel::new(&sim, SDMA);
    let g = driver(&m, &sim);
    let dsts: Vec<_> = (0..5).map(|_| buffer(&d, &sim, "a", 256)).collect();
    let srcs: Vec<_> = (0..5).map(|_| buffer(&d, &sim, "b", 256)).collect();
    let fences: Vec<_> = (0..5)
        .map(|i| copy(&d, &g, Span::whole(&dsts[i]), Span::whole(&srcs[i]), None))
        .collect();
    assert_eq!(m.active().count_ones(), 3);
    assert_eq!(g.reset(), 5);
    assert_eq!(m.active(), 0);
    for f in &fences {
        assert_eq!(
            f.status(),
            FenceStatus::Err(FenceError::DeviceError(ABANDONED))
        );
    }
    assert_eq!(g.pending(), 0);
    // The abandoned jobs ran no BD, and the channels take new work.
    assert!(!m.run());
    assert_eq!(m.bds(), 0);
    let sp = pattern(256, 6);
    cpu_write(&d, &srcs[0], &sp);
    let f = copy(&d, &g, Span::whole(&dsts[0]), Span::whole(&srcs[0]), None);
    assert_eq!(drive(&m, &g), 1);
    assert_eq!(f.status(), FenceStatus::Ok);
    assert_eq!(cpu_read(&d, &dsts[0]), sp);
    assert_eq!(m.errors(), vec![]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn a_stopped_channel_keeps_its_buffers_until_the_settle_time_is_over() {
    let sim = sim();
    let d = domain(&sim);
    let m = SdmaModel::new(&sim, SDMA);
    // One channel, and a settle time no test run reaches.
    let c = SdmaConfig {
        channels: 1,
        stop_settle: core::time::Duration::from_secs(3600),
        ..config()
    };
    let g = Sdma::new(&m, c, &sim, &sim).unwrap();
    let bufs: Vec<_> = (0..4).map(|_| buffer(&d, &sim, "buf", 256)).collect();
    m.inject(Fault::Hang);
    let hung = copy(&d, &g, Span::whole(&bufs[0]), Span::whole(&bufs[1]), None);
    m.run();
    for _ in 0..3 {
        g.watchdog();
    }
    assert_eq!(m.active(), 0, "the channel was stopped");
    assert_eq!(g.watchdog_resets(), 1);
    assert_eq!(
        hung.status(),
        FenceStatus::Pending,
        "not before the settle time"
    );
    let next = copy(&d, &g, Span::whole(&bufs[2]), Span::whole(&bufs[3]), None);
    assert_eq!(m.active(), 0, "the stopped channel takes no job");
    assert_eq!(g.pending(), 2);
    // A reset abandons the queued job at once; the stopped one still waits.
    assert_eq!(g.reset(), 1);
    assert_eq!(
        next.status(),
        FenceStatus::Err(FenceError::DeviceError(ABANDONED))
    );
    assert_eq!(hung.status(), FenceStatus::Pending);
    assert_eq!(m.errors(), vec![]);
}
