// A DMA guard gives a bus address, never the bytes.
use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain};
use dmasync_hal::dma::{Coherency, DmaMemory, DeviceId};
use dmasync_sim::{NonCoherentSim, SimConfig};

fn main() {
    let sim = NonCoherentSim::new(SimConfig::default());
    let region = sim.alloc(64, Coherency::NonCoherent).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(&sim, SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let mut set = d.set();
    set.add(&buf, Access::dma_read(DeviceId(0))).unwrap();
    let locked = set.lock().unwrap();
    let guard = locked.dma(&buf, DeviceId(0)).unwrap();
    guard.with(|b: &[u8]| b[0]).unwrap();
}
