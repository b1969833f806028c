//! The software DMA engine on the non-coherent memory simulator: copies and fills land
//! exactly (zero coherency violations), every bad transfer is refused with the right error
//! and nothing queued, in-fences order and fail transfers, reset recovers a stalled engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use dmasync_engine::{DmaEngine, EngineError, Span};
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};
use dmasync_soft::{ABANDONED, SoftDma, Step};
use dmasync_sync::fence::{FenceError, FenceStatus, Timeline};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
type Dma<'s> = SoftDma<&'s NonCoherentSim>;
type Buffer = SyncBuffer;

const DMA: DeviceId = DeviceId(0);
const OTHER: DeviceId = DeviceId(1);

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        lines_per_cpu: 32,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("dma", Coherency::NonCoherent), DMA);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

fn buffer(d: &Domain<'_>, sim: &NonCoherentSim, name: &'static str, len: usize) -> Buffer {
    d.buffer(name, sim.alloc(len, Coherency::NonCoherent).unwrap())
        .unwrap()
}

fn cpu_write(d: &Domain<'_>, buf: &Buffer, bytes: &[u8]) {
    let mut s = d.set();
    s.add(buf, Access::CPU_WRITE).unwrap();
    let l = s.lock().unwrap();
    l.cpu_write(buf)
        .unwrap()
        .with_mut(|b| b.copy_from_slice(bytes))
        .unwrap();
    l.unlock().unwrap();
}

fn cpu_read(d: &Domain<'_>, buf: &Buffer) -> Vec<u8> {
    let mut s = d.set();
    s.add(buf, Access::CPU_READ).unwrap();
    let l = s.lock().unwrap();
    let v = l.cpu_read(buf).unwrap().with(|b| b.to_vec()).unwrap();
    l.unlock().unwrap();
    v
}

fn with_worker<R>(dma: &Dma<'_>, f: impl FnOnce() -> R) -> R {
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| dma.run(&stop));
        let r = f();
        stop.store(true, Ordering::Release);
        dma.wake_worker();
        r
    })
}

#[test]
fn copies_and_fills_land_exactly_with_zero_violations() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = SoftDma::new(DMA, &sim, 4);
    let len = 10_000 + 48; // several of the worker's chunks, a whole number of lines
    let a = buffer(&d, &sim, "a", len);
    let b = buffer(&d, &sim, "b", len);
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    cpu_write(&d, &a, &data);
    with_worker(&dma, || {
        let mut s = d.set();
        s.add(&a, Access::dma_read(DMA)).unwrap();
        s.add(&b, Access::dma_write(DMA)).unwrap();
        let f = dma
            .copy(s.lock().unwrap(), Span::whole(&b), Span::whole(&a), None)
            .map_err(|r| r.error)
            .unwrap();
        assert_eq!(f.wait(), Ok(()));
        // Fill part of `a` (registered for that range only).
        let mut s = d.set();
        s.add_range(&a, Access::dma_write(DMA), 64..4160).unwrap();
        let dst = Span {
            buffer: &a,
            offset: 100,
            len: 4000,
        };
        let f = dma
            .fill(s.lock().unwrap(), dst, 0x5A, None)
            .map_err(|r| r.error)
            .unwrap();
        assert_eq!(f.wait(), Ok(()));
    });
    assert_eq!(cpu_read(&d, &b), data);
    let mut want = data.clone();
    want[100..4100].fill(0x5A);
    assert_eq!(cpu_read(&d, &a), want);
    assert_eq!(dma.pending(), 0);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn every_bad_transfer_is_refused_by_name_with_nothing_queued() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = SoftDma::new(DMA, &sim, 1);
    let a = buffer(&d, &sim, "a", 256);
    let b = buffer(&d, &sim, "b", 256);
    macro_rules! set {
        ($([$buf:expr, $acc:expr]),* $(,)?) => {{
            let mut s = d.set();
            $(s.add($buf, $acc).unwrap();)*
            s
        }};
    }
    let check = |r: Result<_, dmasync_engine::Rejected<_>>, want: EngineError| {
        let rej = r.expect_err("the transfer must be refused");
        assert_eq!(rej.error, want);
        assert_eq!(dma.pending(), 0, "nothing queued");
        dmasync_sync::syncset::Locked::unlock(rej.returned).expect("the set comes back usable");
    };
    let whole = Span::whole;
    let part = |buffer, offset, len| Span {
        buffer,
        offset,
        len,
    };

    // Registered for another device; not registered at all.
    let mut s = set!([&a, Access::dma_read(OTHER)], [&b, Access::dma_write(DMA)]);
    check(
        dma.copy(s.lock().unwrap(), whole(&b), whole(&a), None),
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "read",
        },
    );
    let mut s = set!([&b, Access::dma_write(DMA)]);
    check(
        dma.copy(s.lock().unwrap(), whole(&b), whole(&a), None),
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "read",
        },
    );
    // Source registered write-only; destination registered read-only.
    let mut s = set!([&a, Access::dma_write(DMA)], [&b, Access::dma_write(DMA)]);
    check(
        dma.copy(s.lock().unwrap(), whole(&b), whole(&a), None),
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "read",
        },
    );
    let mut s = set!([&b, Access::dma_read(DMA)]);
    check(
        dma.fill(s.lock().unwrap(), whole(&b), 1, None),
        EngineError::NotLockedFor {
            buffer: "b",
            wanted: "write",
        },
    );
    // Outside the registered range; past the buffer's end.
    let mut s = d.set();
    s.add_range(&b, Access::dma_write(DMA), 0..128).unwrap();
    check(
        dma.fill(s.lock().unwrap(), part(&b, 64, 128), 1, None),
        EngineError::OutOfBounds {
            buffer: "b",
            what: "fill destination",
        },
    );
    let mut s = set!([&a, Access::dma_read(DMA)], [&b, Access::dma_write(DMA)]);
    check(
        dma.copy(s.lock().unwrap(), part(&b, 0, 64), part(&a, 250, 64), None),
        EngineError::OutOfBounds {
            buffer: "a",
            what: "copy source",
        },
    );
    // Unequal lengths; overlapping spans of one buffer; an empty transfer.
    let mut s = set!([&a, Access::dma_read(DMA)], [&b, Access::dma_write(DMA)]);
    check(
        dma.copy(s.lock().unwrap(), part(&b, 0, 64), part(&a, 0, 32), None),
        EngineError::BadSurface {
            buffer: "b",
            why: "copy destination and source differ in length",
        },
    );
    let mut s = set!([&a, Access::dma_read_write(DMA)]);
    check(
        dma.copy(s.lock().unwrap(), part(&a, 32, 64), part(&a, 0, 64), None),
        EngineError::BadSurface {
            buffer: "a",
            why: "copy source and destination overlap",
        },
    );
    let mut s = set!([&b, Access::dma_write(DMA)]);
    check(
        dma.fill(s.lock().unwrap(), part(&b, 0, 0), 1, None),
        EngineError::Empty,
    );
    // A copy within one buffer needs it held for read and write.
    let mut s = set!([&a, Access::dma_write(DMA)]);
    check(
        dma.copy(s.lock().unwrap(), part(&a, 128, 64), part(&a, 0, 64), None),
        EngineError::NotLockedFor {
            buffer: "a",
            wanted: "read+write",
        },
    );
    // The queue is full (depth 1) while the engine is stalled.
    dma.set_stalled(true);
    let mut s = set!([&a, Access::dma_write(DMA)]);
    let queued = dma
        .fill(s.lock().unwrap(), whole(&a), 9, None)
        .map_err(|r| r.error)
        .unwrap();
    let mut s = set!([&b, Access::dma_write(DMA)]);
    let rej = dma
        .fill(s.lock().unwrap(), whole(&b), 1, None)
        .expect_err("queue full");
    assert_eq!(rej.error, EngineError::QueueFull);
    rej.returned.unlock().unwrap();
    assert_eq!(dma.pending(), 1);
    assert_eq!(dma.reset(), 1);
    assert_eq!(
        queued.status(),
        FenceStatus::Err(FenceError::DeviceError(ABANDONED))
    );
    assert_eq!(dma.run_one(), Step::Idle);
    assert!(cpu_read(&d, &a).iter().all(|&x| x == 0), "nothing ran");
    assert!(cpu_read(&d, &b).iter().all(|&x| x == 0), "nothing ran");
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn in_fences_order_transfers_and_their_errors_fail_them() {
    let sim = sim();
    let d = SyncDomain::new(&sim, SyncConfig::default());
    let dma = SoftDma::new(DMA, &sim, 4);
    let a = buffer(&d, &sim, "a", 256);
    let b = buffer(&d, &sim, "b", 256);
    let c = buffer(&d, &sim, "c", 256);
    cpu_write(&d, &a, &[3; 256]);
    let gate = Timeline::new().next_fence();
    let broken = Timeline::new().next_fence();
    with_worker(&dma, || {
        let mut s = d.set();
        s.add(&a, Access::dma_read(DMA)).unwrap();
        s.add(&b, Access::dma_write(DMA)).unwrap();
        let gate_fence = gate.fence();
        let first = dma
            .copy(
                s.lock().unwrap(),
                Span::whole(&b),
                Span::whole(&a),
                Some(&gate_fence),
            )
            .map_err(|r| r.error)
            .unwrap();
        // Another buffer: `a` is held by the first transfer until it ran.
        let mut s = d.set();
        s.add(&c, Access::dma_write(DMA)).unwrap();
        let broken_fence = broken.fence();
        let second = dma
            .fill(
                s.lock().unwrap(),
                Span::whole(&c),
                0xEE,
                Some(&broken_fence),
            )
            .map_err(|r| r.error)
            .unwrap();
        assert_eq!(
            first.wait_timeout(Duration::from_millis(30)),
            FenceStatus::Pending
        );
        broken.signal_error(FenceError::DeviceError(3));
        // In order: the second waits behind the first, whatever its in-fence did.
        assert_eq!(second.status(), FenceStatus::Pending);
        gate.signal();
        assert_eq!(first.wait(), Ok(()));
        assert_eq!(second.wait(), Err(FenceError::DeviceError(3)));
    });
    assert_eq!(cpu_read(&d, &b), vec![3; 256]);
    // The failed fill never ran; the lock after it does not inherit the old error.
    assert_eq!(cpu_read(&d, &c), vec![0; 256]);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}
