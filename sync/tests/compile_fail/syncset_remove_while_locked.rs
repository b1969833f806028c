// The set cannot change while it is locked: `lock` borrows it until unlock.
use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain};
use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{BusAddr, Coherency, DirectMemory, DmaRegion};

fn main() {
    let region = DmaRegion::new(0x1000, BusAddr(0x1000), 64, Coherency::NonCoherent, 64).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(DirectMemory(CoherentNoop { line_size: 64 }), SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let mut set = d.set();
    set.add(&buf, Access::CPU_READ).unwrap();
    let locked = set.lock().unwrap();
    set.remove(&buf).unwrap();
    locked.unlock().unwrap();
}
