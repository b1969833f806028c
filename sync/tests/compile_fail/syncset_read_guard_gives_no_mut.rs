// A CPU-read guard gives `&[u8]` only: asking it for `&mut` does not compile.
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
    let mut guard = locked.cpu_read(&buf).unwrap();
    guard.with_mut(|b: &mut [u8]| b[0] = 1).unwrap();
}
