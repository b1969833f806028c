//! The watchdog expires a set handed to a software engine while one of the engine's bursts
//! is in flight: the next CPU writer must not get `&mut [u8]` before that burst has ended,
//! and the job must not report success (issue #10, defect 4).
//!
//! The burst is held open by a handshake in the device memory (two barriers), never by a
//! sleep: the worker enters the burst, the test expires the holder and starts a CPU writer,
//! waits until the writer either was granted the buffer or is registered as waiting (the
//! domain's dump), and only then lets the burst write.
//!
//! Not `#![forbid(unsafe_code)]`: the handshake sits in a `DeviceMemory`, an unsafe trait;
//! the one `unsafe impl` only forwards to the simulator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use dmasync_engine::{
    Color, DmaEngine, Engine2d, Op2d, PixelFormat, Rect, Span, Surface, SurfaceDesc,
};
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DeviceMemory, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};
use dmasync_soft::{Soft2dConfig, SoftDma, SoftEngine2d};
use dmasync_sync::fence::{Fence, FenceError, FenceStatus};
use dmasync_sync::syncset::{Access, Locked, SyncBuffer, SyncConfig, SyncDomain, SyncError};

const DEV: DeviceId = DeviceId(0);
/// One DMA chunk, or 16 rows of a 64-pixel-wide surface.
const LEN: usize = 4096;

/// The simulator as device memory, with the first device write held open: it meets the
/// test at `entered`, waits at `go`, then writes and sets `over`.
struct Gated<'s> {
    sim: &'s NonCoherentSim,
    armed: AtomicBool,
    entered: Barrier,
    go: Barrier,
    over: AtomicBool,
}

// SAFETY: forwards every access unchanged to the simulator, whose `DeviceMemory` contract is
// the same; the barriers and flags touch no buffer memory.
unsafe impl DeviceMemory for Gated<'_> {
    unsafe fn device_read(&self, dev: DeviceId, bus: BusAddr, out: &mut [u8]) {
        // SAFETY: the caller's contract, passed on unchanged.
        unsafe { DeviceMemory::device_read(self.sim, dev, bus, out) }
    }

    unsafe fn device_write(&self, dev: DeviceId, bus: BusAddr, data: &[u8]) {
        let gated = self.armed.swap(false, Ordering::AcqRel);
        if gated {
            self.entered.wait();
            self.go.wait();
        }
        // SAFETY: the caller's contract, passed on unchanged.
        unsafe { DeviceMemory::device_write(self.sim, dev, bus, data) };
        if gated {
            self.over.store(true, Ordering::Release);
        }
    }
}

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig::default());
    assert_eq!(sim.add_device("engine", Coherency::NonCoherent), DEV);
    sim
}

fn gated(sim: &NonCoherentSim) -> Gated<'_> {
    Gated {
        sim,
        armed: AtomicBool::new(true),
        entered: Barrier::new(2),
        go: Barrier::new(2),
        over: AtomicBool::new(false),
    }
}

/// What the CPU writer saw.
#[derive(Debug)]
struct Writer {
    /// The result of its first lock, and whether the gated burst had ended when it returned.
    first: Result<(), SyncError>,
    burst_over_at_first: bool,
}

/// The scenario, for any engine: `submit` hands a set locked for the engine's write of the
/// whole of `buf` to the engine (returning the job's fence); `run`/`wake` are its worker.
fn expire_during_burst<'s>(
    domain: &SyncDomain<&'s NonCoherentSim>,
    buf: &SyncBuffer,
    memory: &Gated<'s>,
    submit: impl FnOnce(Locked<'_, &'s NonCoherentSim>) -> Fence,
    run: impl FnOnce(&AtomicBool) + Send,
    wake: impl Fn(),
) -> (Writer, FenceStatus) {
    let stop = AtomicBool::new(false);
    let mut set = domain.set();
    set.add(buf, Access::dma_write(DEV)).unwrap();
    // Overdue from the start: the first `check_deadlines` after the burst began expires it.
    set.set_hold_deadline(Duration::ZERO);
    let job = submit(set.lock().unwrap());
    let writer_returned = Arc::new(AtomicBool::new(false));
    let (writer, status) = thread::scope(|s| {
        s.spawn(|| run(&stop));
        // The worker is inside its first burst, before the write.
        memory.entered.wait();
        assert_eq!(domain.check_deadlines(), 1, "the overdue holder is expired");
        let w = {
            let writer_returned = writer_returned.clone();
            s.spawn(move || {
                let mut set = domain.set();
                set.add(buf, Access::CPU_WRITE).unwrap();
                let first = set.lock().map(drop);
                let burst_over_at_first = memory.over.load(Ordering::Acquire);
                writer_returned.store(true, Ordering::Release);
                // Write over the whole buffer once the buffer is really ours.
                let l = set.lock().unwrap();
                l.cpu_write(buf)
                    .unwrap()
                    .with_mut(|b| b.fill(0x11))
                    .unwrap();
                l.unlock().unwrap();
                Writer {
                    first,
                    burst_over_at_first,
                }
            })
        };
        // Let the burst write only once the writer got the buffer or waits for it.
        loop {
            if writer_returned.load(Ordering::Acquire) {
                break;
            }
            let mut dump = String::new();
            domain.dump(&mut dump).unwrap();
            if dump.contains("waits for") {
                break;
            }
            thread::yield_now();
        }
        memory.go.wait();
        let status = job
            .wait()
            .map_or_else(FenceStatus::Err, |()| FenceStatus::Ok);
        let writer = w.join().unwrap();
        stop.store(true, Ordering::Release);
        wake();
        (writer, status)
    });
    (writer, status)
}

fn check(
    writer: &Writer,
    job: FenceStatus,
    domain: &SyncDomain<&NonCoherentSim>,
    buf: &SyncBuffer,
) {
    assert!(
        writer.burst_over_at_first,
        "the next CPU writer was granted the buffer while the device burst was in flight \
         ({:?})",
        writer.first
    );
    assert_eq!(
        writer.first,
        Err(SyncError::Predecessor {
            buffer: buf.name(),
            error: FenceError::Timeout
        }),
        "the writer waited for the expiry, which the burst completed"
    );
    assert_eq!(
        job,
        FenceStatus::Err(FenceError::Timeout),
        "a job whose holder expired under it must not end Ok"
    );
    // The writer's bytes were not overwritten by the device afterwards.
    let mut set = domain.set();
    set.add(buf, Access::CPU_READ).unwrap();
    let l = set.lock().unwrap();
    let bytes = l.cpu_read(buf).unwrap().with(|b| b.to_vec()).unwrap();
    l.unlock().unwrap();
    assert!(
        bytes.iter().all(|&b| b == 0x11),
        "the CPU writer's data was lost"
    );
}

#[test]
fn soft_dma_expiry_waits_for_the_burst_in_flight() {
    let sim = sim();
    let domain = SyncDomain::new(&sim, SyncConfig::default());
    let buf = domain
        .buffer("dst", sim.alloc(LEN, Coherency::NonCoherent).unwrap())
        .unwrap();
    let memory = gated(&sim);
    let dma = SoftDma::new(DEV, &memory, 2);
    let (writer, job) = expire_during_burst(
        &domain,
        &buf,
        &memory,
        |l| {
            dma.fill(l, Span::whole(&buf), 0xAA, None)
                .map_err(|r| r.error)
                .unwrap()
        },
        |stop| dma.run(stop),
        || dma.wake_worker(),
    );
    check(&writer, job, &domain, &buf);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

#[test]
fn soft_engine2d_expiry_waits_for_the_burst_in_flight() {
    let sim = sim();
    let domain = SyncDomain::new(&sim, SyncConfig::default());
    let buf = domain
        .buffer("frame", sim.alloc(LEN, Coherency::NonCoherent).unwrap())
        .unwrap();
    let memory = gated(&sim);
    let engine = SoftEngine2d::new(DEV, &memory, Soft2dConfig::default());
    let desc = SurfaceDesc::packed(64, 16, PixelFormat::Xrgb8888);
    let (writer, job) = expire_during_burst(
        &domain,
        &buf,
        &memory,
        |l| {
            let fill = Op2d::Fill {
                dst: Surface::new(&buf, desc),
                rect: Rect::new(0, 0, 64, 16),
                color: Color(0xFFAA_AAAA),
            };
            engine
                .submit(l, &[fill], None)
                .map_err(|r| r.error)
                .unwrap()
        },
        |stop| engine.run(stop),
        || engine.wake_worker(),
    );
    check(&writer, job, &domain, &buf);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}
