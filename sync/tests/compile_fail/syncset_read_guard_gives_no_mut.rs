// A CPU-read guard gives `&[u8]` only: asking it for `&mut` does not compile.
use dmasync_sync::syncset::{Access, SyncConfig, SyncDomain};
use dmasync_hal::cache::CoherentNoop;
use dmasync_hal::dma::{BusAddr, Coherency, DirectMemory, DmaRegion};

fn main() {
    let mut backing = [0u8; 64];
    let region =
        DmaRegion::new(backing.as_mut_ptr() as usize & !63, BusAddr(0), 64, Coherency::NonCoherent, 64).unwrap();
    let d: SyncDomain<_> = SyncDomain::new(DirectMemory(CoherentNoop { line_size: 64 }), SyncConfig::default());
    let buf = d.buffer("b", region).unwrap();
    let mut set = d.set();
    set.add(&buf, Access::CPU_READ).unwrap();
    let locked = set.lock().unwrap();
    let mut guard = locked.cpu_read(&buf).unwrap();
    guard.with_mut(|b: &mut [u8]| b[0] = 1).unwrap();
}
