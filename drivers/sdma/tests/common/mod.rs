//! Shared set-up: the simulator, a sync domain over it, the SDMA register model and the
//! driver on it, CPU access helpers. Expected bytes are computed in the tests from what a
//! copy means (dst[i] = src[i]), never taken from the model.
#![allow(dead_code)]

use dmasync_engine::dma::{DmaEngine, Span};
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_sdma::{Sdma, SdmaConfig};
use dmasync_sdma_model::SdmaModel;
use dmasync_sim::{Eviction, NonCoherentSim, SimConfig};
use dmasync_sync::fence::Fence;
use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

pub type Domain<'s> = SyncDomain<&'s NonCoherentSim>;
pub type Driver<'m, 's> = Sdma<&'m SdmaModel<'s>, &'s NonCoherentSim>;

pub const SDMA: DeviceId = DeviceId(0);
pub const OTHER: DeviceId = DeviceId(1);

pub fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 4 << 20,
        eviction: Eviction::Random { seed: 5 },
        lines_per_cpu: 32,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("sdma1", Coherency::NonCoherent), SDMA);
    assert_eq!(sim.add_device("other", Coherency::NonCoherent), OTHER);
    sim
}

pub fn domain(sim: &NonCoherentSim) -> Domain<'_> {
    SyncDomain::new(sim, SyncConfig::default())
}

pub fn config() -> SdmaConfig {
    SdmaConfig {
        device: SDMA,
        channels: 3,
        bds_per_channel: 8,
        priority: 2,
        acr: false,
        queue_depth: 6,
        watchdog_ticks: 2,
        // The model stops a channel at once; the settle time is tested on its own.
        stop_settle: core::time::Duration::ZERO,
    }
}

pub fn driver<'m, 's>(m: &'m SdmaModel<'s>, sim: &'s NonCoherentSim) -> Driver<'m, 's> {
    Sdma::new(m, config(), sim, sim).unwrap()
}

/// Lets the SDMA run and delivers its interrupts until nothing is pending or it stops
/// completing; returns how many jobs completed.
pub fn drive(m: &SdmaModel<'_>, g: &Driver<'_, '_>) -> usize {
    let mut n = 0;
    for _ in 0..1000 {
        if g.pending() == 0 {
            return n;
        }
        if !m.run() {
            return n;
        }
        n += g.on_interrupt();
    }
    panic!("the SDMA kept running");
}

pub fn buffer(d: &Domain<'_>, sim: &NonCoherentSim, name: &'static str, len: usize) -> SyncBuffer {
    d.buffer(name, sim.alloc(len, Coherency::NonCoherent).unwrap())
        .unwrap()
}

pub fn cpu_write(d: &Domain<'_>, buf: &SyncBuffer, bytes: &[u8]) {
    let mut s = d.set();
    s.add(buf, Access::CPU_WRITE).unwrap();
    let l = s.lock().unwrap();
    l.cpu_write(buf)
        .unwrap()
        .with_mut(|b| b.copy_from_slice(bytes))
        .unwrap();
    l.unlock().unwrap();
}

pub fn cpu_read(d: &Domain<'_>, buf: &SyncBuffer) -> Vec<u8> {
    let mut s = d.set();
    s.add(buf, Access::CPU_READ).unwrap();
    let l = s.lock().unwrap();
    let v = l.cpu_read(buf).unwrap().with(|b| b.to_vec()).unwrap();
    l.unlock().unwrap();
    v
}

pub fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 131 + seed * 71 + i / 7) as u8)
        .collect()
}

/// Locks `dst` for writing and `src` for reading by the SDMA and submits the copy.
pub fn copy(
    d: &Domain<'_>,
    g: &Driver<'_, '_>,
    dst: Span<'_>,
    src: Span<'_>,
    in_fence: Option<&Fence>,
) -> Fence {
    let mut s = d.set();
    s.add(dst.buffer, Access::dma_write(SDMA)).unwrap();
    s.add(src.buffer, Access::dma_read(SDMA)).unwrap();
    let l = s.lock().unwrap();
    g.copy(l, dst, src, in_fence).unwrap()
}
