//! Shared set-up for the 2D engine tests: the simulator, a sync domain over it, CPU access
//! helpers and a worker thread.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_soft::{Soft2dConfig, SoftEngine2d};
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

pub type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
pub type Engine<'s> = SoftEngine2d<&'s NonCoherentSim>;
pub type Buffer = SyncBuffer;
pub type Locked<'l> = dmasync_sync::syncset::Locked<'l, &'l NonCoherentSim>;

pub const G2D: DeviceId = DeviceId(0);
pub const OTHER: DeviceId = DeviceId(1);

pub fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        eviction: Eviction::Random { seed: 7 },
        lines_per_cpu: 32,
        cpus: 2,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("soft2d", Coherency::NonCoherent), G2D);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

pub fn domain(sim: &NonCoherentSim, config: SyncConfig) -> Domain<'_> {
    SyncDomain::new(sim, config)
}

pub fn engine(sim: &NonCoherentSim, config: Soft2dConfig) -> Engine<'_> {
    SoftEngine2d::new(G2D, sim, config)
}

pub fn buffer(d: &Domain<'_>, sim: &NonCoherentSim, name: &'static str, len: usize) -> Buffer {
    d.buffer(name, sim.alloc(len, Coherency::NonCoherent).unwrap())
        .unwrap()
}

/// The CPU writes `bytes` to the start of `buf` through a sync set.
pub fn cpu_write(d: &Domain<'_>, buf: &Buffer, bytes: &[u8]) {
    let mut s = d.set();
    s.add_range(buf, Access::CPU_WRITE, 0..bytes.len()).unwrap();
    let l = s.lock().unwrap();
    l.cpu_write(buf)
        .unwrap()
        .with_mut(|b| b.copy_from_slice(bytes))
        .unwrap();
    l.unlock().unwrap();
}

/// The CPU reads the whole of `buf` through a sync set.
pub fn cpu_read(d: &Domain<'_>, buf: &Buffer) -> Vec<u8> {
    let mut s = d.set();
    s.add(buf, Access::CPU_READ).unwrap();
    let l = s.lock().unwrap();
    let v = l.cpu_read(buf).unwrap().with(|b| b.to_vec()).unwrap();
    l.unlock().unwrap();
    v
}

/// Runs `f` while a worker thread runs the engine, then stops the worker.
pub fn with_worker<R>(engine: &Engine<'_>, f: impl FnOnce() -> R) -> R {
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| engine.run(&stop));
        let r = f();
        stop.store(true, Ordering::Release);
        engine.wake_worker();
        r
    })
}

/// A deterministic byte pattern.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
