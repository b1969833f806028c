// A sync set's buffer shows its fences read-only: its reservation object cannot be locked
// (nor its ww-mutex taken) from outside the buffer's sync sets, so no fence can be published
// around them.
use dmasync_sync::syncset::{SyncConfig, SyncDomain};
use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{BusAddr, Coherency, DirectMemory, DmaRegion};

fn main() {
    let region = DmaRegion::new(0x1000, BusAddr(0x1000), 64, Coherency::NonCoherent, 64).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(DirectMemory(CoherentNoop { line_size: 64 }), SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let guard = buf.reservation().lock();
    let mutex = buf.reservation().ww_mutex();
    drop((guard, mutex));
}
