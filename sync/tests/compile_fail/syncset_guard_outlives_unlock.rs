// A guard cannot be used after its set was unlocked.
use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain};
use dmasync_hal::dma::{Coherency, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};

fn main() {
    let sim = NonCoherentSim::new(SimConfig::default());
    let region = sim.alloc(64, Coherency::NonCoherent).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(&sim, SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let mut set = d.set();
    set.add(&buf, Access::CPU_WRITE).unwrap();
    let locked = set.lock().unwrap();
    let mut guard = locked.cpu_write(&buf).unwrap();
    locked.unlock().unwrap();
    guard.with_mut(|b| b[0] = 1).unwrap();
}
