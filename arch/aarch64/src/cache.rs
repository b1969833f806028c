//! Data-cache maintenance by virtual address, to the Point of Coherency.
//!
//! `aarch64-cpu` 11.2 has neither `CTR_EL0` nor the `DC` instructions, so these are a few
//! lines of `asm!` (Arm ARM D7.5.8 "Data cache maintenance instructions", and D19 `CTR_EL0`).
//! Each operation walks the range one line at a time, stepping by `CTR_EL0.DminLine` (the
//! smallest D-cache line in the system, so no line is skipped on big.LITTLE parts), and ends
//! with `dsb sy` so the maintenance has completed before the caller tells a device to go.
//!
//! Partial lines at the ends of a range:
//! - [`clean`] and [`clean_invalidate`] widen the range to whole lines: cleaning a neighbour's
//!   bytes only writes them back, which is harmless.
//! - [`invalidate`] must not discard a neighbour's dirty data that shares a line with the
//!   buffer's first or last byte, so those (at most two) partial lines are
//!   cleaned+invalidated (`dc civac`) and only the whole lines in between are invalidated
//!   (`dc ivac`). A buffer that a device writes should still be line-aligned and
//!   line-sized: the neighbour written back by `civac` could overwrite what the device put in
//!   the shared line.
//!
//! [`DataCache`] offers the same operations as the HAL's `CacheMaintenance` trait.
//! [`CoherentCache`] is the maintenance for a DMA master on a coherent interconnect: no `dc`,
//! only the hand-over barrier of each direction (`dsb sy` to the device, `dsb ld` from it;
//! why in `barrier.rs`).

use core::arch::asm;

use dmasync_hal::cache::{CacheMaintenance, Coherent, VirtRange};

use crate::barrier::{self, Aarch64DmaBarrier, POC_COMPLETION};

/// The smallest data-cache line size in bytes, from `CTR_EL0.DminLine` (log2 of words).
#[inline]
pub fn dcache_line_size() -> usize {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects; it is accessible at EL1 (and at EL0 when
    // SCTLR_EL1.UCT is set).
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    4 << ((ctr >> 16) & 0xf)
}

#[derive(Clone, Copy)]
enum Op {
    Clean,
    Invalidate,
    CleanInvalidate,
}

/// Applies `op` to each line containing a byte of `[start, end)`.
///
/// # Safety
///
/// Every line touched must be mapped; for `Invalidate`, discarding the lines' cached data
/// must be acceptable to the program.
#[inline]
unsafe fn by_line(op: Op, start: usize, end: usize, line: usize) {
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: the caller guarantees the line is mapped and that this operation on it is
        // acceptable; maintenance by VA never faults on a mapped address at EL1.
        unsafe {
            match op {
                Op::Clean => asm!("dc cvac, {}", in(reg) addr, options(nostack, preserves_flags)),
                Op::Invalidate => {
                    asm!("dc ivac, {}", in(reg) addr, options(nostack, preserves_flags))
                }
                Op::CleanInvalidate => {
                    asm!("dc civac, {}", in(reg) addr, options(nostack, preserves_flags))
                }
            }
        }
        addr += line;
    }
}

/// Completes the maintenance issued so far at the Point of Coherency: `dsb sy`
/// ([`POC_COMPLETION`], whose choice is checked in `barrier.rs`).
#[inline]
fn dsb_sy() {
    barrier::issue(POC_COMPLETION);
}

/// Writes back dirty lines covering `[start, start + len)` to the Point of Coherency (what a
/// non-coherent device reads), keeping them valid in the cache. Widens to whole lines.
///
/// # Safety
///
/// The whole range (widened to cache lines) must be mapped in the current translation regime.
pub unsafe fn clean(start: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    let s = start as usize;
    // SAFETY: the caller guarantees the lines are mapped; cleaning does not change memory
    // contents as seen by the program.
    unsafe { by_line(Op::Clean, s, s + len, dcache_line_size()) };
    dsb_sy();
}

/// Writes back and then discards the lines covering `[start, start + len)`. Widens to whole
/// lines (a neighbour's data in the end lines is written back, not lost).
///
/// # Safety
///
/// The whole range (widened to cache lines) must be mapped in the current translation regime.
pub unsafe fn clean_invalidate(start: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    let s = start as usize;
    // SAFETY: the caller guarantees the lines are mapped; clean+invalidate preserves the
    // memory contents as seen by the program.
    unsafe { by_line(Op::CleanInvalidate, s, s + len, dcache_line_size()) };
    dsb_sy();
}

/// Discards cached copies of `[start, start + len)`, so the next reads fetch what a device
/// wrote to memory. Partial lines at either end are cleaned+invalidated instead, so bytes
/// outside the range that share those lines keep their (possibly dirty) values.
///
/// # Safety
///
/// The whole range (widened to cache lines) must be mapped, and the program must not rely on
/// any write to `[start, start + len)` that has not been cleaned to memory: those writes may
/// be lost (that is the point of invalidating). No other core may write to the range's whole
/// lines concurrently.
pub unsafe fn invalidate(start: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    let line = dcache_line_size();
    // The same cut the host simulator proves the sync layer against.
    let split = VirtRange::new(start as usize, len).split_lines(line);
    // SAFETY: the caller guarantees mapping; partial end lines get clean+invalidate so
    // neighbouring data survives, only lines entirely inside the range are discarded, which
    // the caller accepted.
    unsafe {
        if let Some(head) = split.head {
            by_line(Op::CleanInvalidate, head, head + 1, line);
        }
        by_line(Op::Invalidate, split.body.start, split.body.end(), line);
        if let Some(tail) = split.tail {
            by_line(Op::CleanInvalidate, tail, tail + 1, line);
        }
    }
    dsb_sy();
}

/// Invalidates the whole instruction cache to the Point of Unification (inner shareable), for
/// after code was written as data.
pub fn invalidate_icache_all() {
    // SAFETY: invalidating the I-cache only costs refetches.
    unsafe {
        asm!(
            "dsb ish",
            "ic ialluis",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    };
}

/// The calling core's data cache as the HAL's [`CacheMaintenance`] (by VA to the Point of
/// Coherency, `CTR_EL0.DminLine` granule, `dsb sy` on completion).
#[derive(Clone, Copy, Debug, Default)]
pub struct DataCache;

// SAFETY: each method performs exactly the named operation on every line overlapping the
// range and completes it with `dsb sy`; `invalidate` cleans+invalidates partial end lines
// (the split is `VirtRange::split_lines`, shared with the simulator).
unsafe impl CacheMaintenance for DataCache {
    fn line_size(&self) -> usize {
        dcache_line_size()
    }

    unsafe fn clean(&self, range: VirtRange) {
        // SAFETY: the trait's contract (mapped normal memory) is `clean`'s.
        unsafe { clean(range.start as *const u8, range.len) }
    }

    unsafe fn invalidate(&self, range: VirtRange) {
        // SAFETY: the trait's contract (mapped, no data in it that must survive) is
        // `invalidate`'s.
        unsafe { invalidate(range.start as *mut u8, range.len) }
    }

    unsafe fn clean_invalidate(&self, range: VirtRange) {
        // SAFETY: the trait's contract (mapped normal memory) is `clean_invalidate`'s.
        unsafe { clean_invalidate(range.start as *const u8, range.len) }
    }
}

/// Maintenance for DMA masters on a coherent (outer-shareable) interconnect: the HAL's
/// `Coherent` with AArch64's hand-over barriers ([`Aarch64DmaBarrier::DOORBELL`]), replacing
/// the host's `CoherentNoop`, whose `fence(SeqCst)` is `dmb ish` here.
pub type CoherentCache = Coherent<Aarch64DmaBarrier>;

/// [`CoherentCache`] reporting `CTR_EL0.DminLine` as its line size (DMA regions stay
/// line-aligned).
pub fn coherent_cache() -> CoherentCache {
    Coherent::new(dcache_line_size(), Aarch64DmaBarrier::DOORBELL)
}
