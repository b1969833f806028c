// A DMA guard gives a bus address, never the bytes.
use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain};
use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DirectMemory, DmaRegion};

fn main() {
    let region = DmaRegion::new(0x1000, BusAddr(0x1000), 64, Coherency::NonCoherent, 64).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(DirectMemory(CoherentNoop { line_size: 64 }), SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let mut set = d.set();
    set.add(&buf, Access::dma_read(DeviceId(0))).unwrap();
    let locked = set.lock().unwrap();
    let guard = locked.dma(&buf, DeviceId(0)).unwrap();
    guard.with(|b: &[u8]| b[0]).unwrap();
}
