// Safe code cannot turn an address into a region: a region over a live `&'static mut` would
// let a guard overwrite it. Only an allocator, or `unsafe` code that takes on the contract,
// makes regions.
#![forbid(unsafe_code)]
use dmasync_hal::dma::{BusAddr, Coherency, DmaRegion};

fn main() {
    let victim: &'static mut [u8; 64] = Box::leak(Box::new([0u8; 64]));
    let at = victim.as_ptr() as usize;
    let _region = DmaRegion::from_raw_parts(at, BusAddr(at as u64), 64, Coherency::Coherent, 64);
    victim[0] = 1;
}
