//! Shared by the ARMv7-A boards' `caches` tests (exynos4: L1 and PL310; qemu-virt-a15: the
//! A15's data cache to the Point of Coherency): the cases that hold for any
//! `CacheMaintenance`, included as a module (`#[path]`) and called with the board's cache.

extern crate alloc;

use alloc::vec::Vec;

use board::arch::ensure;
use board::arch::testkit::TestResult;
use dmasync_hal::cache::{CacheMaintenance, VirtRange};

/// Clean, clean+invalidate, and clean then invalidate of a 16 KiB buffer leave its data as
/// written.
pub fn maintenance_keeps_data(cache: &impl CacheMaintenance) -> TestResult {
    let mut buf: Vec<u32> = (0..4096).map(|i| i * 2_654_435_761u32).collect();
    let range = VirtRange::new(buf.as_ptr() as usize, buf.len() * 4);
    // SAFETY: `buf` is ours and mapped normal memory; nothing else (no device) uses it, so
    // cleaning and invalidating after cleaning cannot lose data.
    unsafe {
        cache.clean(range);
        cache.clean_invalidate(range);
    }
    ensure!(
        buf.iter()
            .enumerate()
            .all(|(i, &v)| v == (i as u32).wrapping_mul(2_654_435_761)),
        "data changed across clean / clean+invalidate"
    );
    for v in buf.iter_mut() {
        *v ^= 0xffff_ffff;
    }
    // SAFETY: as above; a clean first makes the invalidate lose nothing.
    unsafe {
        cache.clean(range);
        cache.invalidate(range);
    }
    ensure!(
        buf.iter()
            .enumerate()
            .all(|(i, &v)| v == !(i as u32).wrapping_mul(2_654_435_761)),
        "data changed across clean then invalidate"
    );
    Ok(())
}

/// An invalidate that starts and ends mid-line keeps the bytes around it.
pub fn partial_lines_keep_their_neighbours(cache: &impl CacheMaintenance) -> TestResult {
    let mut buf = [0u8; 256];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = i as u8;
    }
    // An invalidate of a range that starts and ends mid-line: the partial lines are cleaned
    // and invalidated (not just invalidated), so the bytes around it survive.
    let start = buf.as_ptr() as usize + 5;
    // SAFETY: `buf` is ours and mapped; the range lies inside it.
    unsafe { cache.invalidate(VirtRange::new(start, 100)) };
    ensure!(
        buf.iter().enumerate().all(|(i, &b)| b == i as u8),
        "bytes around a partial-line invalidate changed"
    );
    Ok(())
}
