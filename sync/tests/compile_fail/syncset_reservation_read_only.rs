// A sync set's buffer shows its fences read-only: its reservation object cannot be locked
// (nor its ww-mutex taken) from outside the buffer's sync sets, so no fence can be published
// around them.
use dmasync_sync::syncset::{SyncConfig, SyncDomain};
use dmasync_hal::dma::{Coherency, DmaMemory};
use dmasync_sim::{NonCoherentSim, SimConfig};

fn main() {
    let sim = NonCoherentSim::new(SimConfig::default());
    let region = sim.alloc(64, Coherency::NonCoherent).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(&sim, SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let guard = buf.reservation().lock();
    let mutex = buf.reservation().ww_mutex();
    drop((guard, mutex));
}
