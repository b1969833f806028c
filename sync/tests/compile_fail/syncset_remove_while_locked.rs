// The set cannot change while it is locked: `lock` borrows it until unlock.
use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain};
use dmasync_hal::dma::{Coherency, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};

fn main() {
    let sim = NonCoherentSim::new(SimConfig::default());
    let region = sim.alloc(64, Coherency::NonCoherent).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(&sim, SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let mut set = d.set();
    set.add(&buf, Access::CPU_READ).unwrap();
    let locked = set.lock().unwrap();
    set.remove(&buf).unwrap();
    locked.unlock().unwrap();
}
