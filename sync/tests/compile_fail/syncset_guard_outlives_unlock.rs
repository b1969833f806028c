// A guard cannot be used after its set was unlocked.
use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain};
use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{BusAddr, Coherency, DirectMemory, DmaRegion};

fn main() {
    let region = DmaRegion::new(0x1000, BusAddr(0x1000), 64, Coherency::NonCoherent, 64).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(DirectMemory(CoherentNoop { line_size: 64 }), SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let mut set = d.set();
    set.add(&buf, Access::CPU_WRITE).unwrap();
    let locked = set.lock().unwrap();
    let mut guard = locked.cpu_write(&buf).unwrap();
    locked.unlock().unwrap();
    guard.with_mut(|b| b[0] = 1).unwrap();
}
