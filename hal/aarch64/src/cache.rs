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

use core::arch::asm;

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

#[inline]
fn dsb_sy() {
    aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
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
    let s = start as usize;
    let e = s + len;
    let first_full = s.next_multiple_of(line);
    let last_full_end = e & !(line - 1);
    // SAFETY: the caller guarantees mapping; partial end lines get clean+invalidate so
    // neighbouring data survives, only lines entirely inside the range are discarded, which
    // the caller accepted.
    unsafe {
        if first_full >= last_full_end {
            // No whole line inside: the range lies in one or two partial lines.
            by_line(Op::CleanInvalidate, s, e, line);
        } else {
            if s != first_full {
                by_line(Op::CleanInvalidate, s, first_full, line);
            }
            by_line(Op::Invalidate, first_full, last_full_end, line);
            if e != last_full_end {
                by_line(Op::CleanInvalidate, last_full_end, e, line);
            }
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
