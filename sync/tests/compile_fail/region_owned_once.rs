// A region is owned once: two buffers over one region (two `&mut [u8]` at one address when
// both are locked for CPU write) cannot be made, because registering moves the region.
use dmasync_hal::dma::{Coherency, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};
use dmasync_sync::syncset::{SyncConfig, SyncDomain};

fn main() {
    let sim = NonCoherentSim::new(SimConfig::default());
    let region = sim.alloc(64, Coherency::NonCoherent).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(&sim, SyncConfig::default());
    let a = d.buffer("a", region).unwrap();
    let b = d.buffer("b", region).unwrap();
    drop((a, b));
}
