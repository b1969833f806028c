//! Two-level (L1 by MVA + outer cache by PA) maintenance and its ordering.
//!
//! The order follows what Linux does around streaming DMA on ARMv7 with an outer cache
//! (arch/arm/mm/dma-mapping.c, `__dma_page_cpu_to_dev` / `__dma_page_dev_to_cpu`):
//! - **clean** (CPU data towards a device): L1 first, then L2 — dirty data must move out
//!   through the levels in order, or the L2 clean would push out an older copy;
//! - **invalidate** (device data towards the CPU): L2 first, then L1 — if L1 were dropped
//!   first, a speculative L1 refill could fetch the stale L2 copy before L2 is invalidated;
//! - **clean + invalidate**: L1 clean+invalidate, then L2 clean+invalidate.
//!
//! Partial lines at the ends of an invalidate are cleaned and invalidated instead, at both
//! levels, so a neighbour's dirty bytes survive (the `CacheMaintenance` contract).
//!
//! Each operation ends with the completion barrier of the level it maintained last: `dsb`
//! (ARMv7's only DSB domain in this code is the full system, `sy`, which reaches the point
//! of coherency) after L1, the PL310 CACHE_SYNC ([`OuterCache::sync`]) after L2, as Linux's
//! `v7_dma_*_range` (`dsb st`) and `outer_*_range` (ending in `cache_sync`) do.
//!
//! For a DMA master on a coherent interconnect (e.g. the Cortex-A9 ACP), [`Armv7DmaBarrier`]
//! is the HAL's `DmaBarrier`: Linux, arch/arm/include/asm/barrier.h, defines
//! `mb()` = `dsb(); outer_sync()`, `wmb()` = `dsb(st); outer_sync()`, `rmb()` = `dsb()`,
//! because CPU writes may still sit in the outer cache's buffers after the DSB. CPU to
//! device is `dsb` + `outer_sync` (the `mb()` form: the hand-over also ends CPU reads of a
//! buffer the device may write next); device to CPU is `dsb` (`rmb()`). A DSB rather than
//! `dmb osh`: the doorbell that follows may not be a memory access (see
//! `dmasync_aarch64::barrier` for the same reasoning).

use dmasync_hal::cache::{CacheMaintenance, DmaBarrier, OuterCache, VirtRange};

/// Per-line maintenance of the inner (L1) data cache, by virtual address, to the point of
/// coherency. Implemented with CP15 on target (`Cp15L1`, armv7 builds only) and by a recording fake in tests.
///
/// # Safety
///
/// Implementors perform exactly the named operation on the line holding `va`.
pub unsafe trait InnerCache {
    /// Line size in bytes.
    fn line_size(&self) -> usize;
    /// Clean the line holding `va` (DCCMVAC).
    ///
    /// # Safety
    ///
    /// `va` is mapped normal memory.
    unsafe fn clean_line(&self, va: usize);
    /// Invalidate the line holding `va` (DCIMVAC).
    ///
    /// # Safety
    ///
    /// As for [`CacheMaintenance::invalidate`]: no dirty data in the line may need to survive.
    unsafe fn invalidate_line(&self, va: usize);
    /// Clean and invalidate the line holding `va` (DCCIMVAC).
    ///
    /// # Safety
    ///
    /// `va` is mapped normal memory.
    unsafe fn clean_invalidate_line(&self, va: usize);
    /// Wait until every operation issued so far has completed (DSB).
    fn barrier(&self);
}

/// The CP15 L1 data cache of the executing core.
#[cfg(target_arch = "arm")]
#[derive(Clone, Copy, Debug)]
pub struct Cp15L1 {
    line: usize,
}

#[cfg(target_arch = "arm")]
impl Cp15L1 {
    /// Reads the smallest data-cache line size from the Cache Type Register (CTR.DminLine,
    /// log2 of the number of 4-byte words).
    pub fn new() -> Self {
        let ctr: u32;
        // SAFETY: reading CTR (CP15 c0, c0, 1) has no side effects and is allowed at PL1.
        unsafe {
            core::arch::asm!("mrc p15, 0, {}, c0, c0, 1", out(reg) ctr, options(nomem, nostack))
        };
        Self {
            line: 4 << ((ctr >> 16) & 0xF),
        }
    }
}

#[cfg(target_arch = "arm")]
impl Default for Cp15L1 {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: each method issues the ARMv7 CP15 operation of its name on the given MVA
// (ARM ARM B4.2.1: DCCMVAC c7,c10,1; DCIMVAC c7,c6,1; DCCIMVAC c7,c14,1) and `barrier` a DSB.
#[cfg(target_arch = "arm")]
unsafe impl InnerCache for Cp15L1 {
    fn line_size(&self) -> usize {
        self.line
    }
    unsafe fn clean_line(&self, va: usize) {
        // SAFETY: the caller guarantees `va` is mapped normal memory; cleaning never loses data.
        unsafe { core::arch::asm!("mcr p15, 0, {}, c7, c10, 1", in(reg) va, options(nostack)) };
    }
    unsafe fn invalidate_line(&self, va: usize) {
        // SAFETY: the caller guarantees no dirty data in this line must survive.
        unsafe { core::arch::asm!("mcr p15, 0, {}, c7, c6, 1", in(reg) va, options(nostack)) };
    }
    unsafe fn clean_invalidate_line(&self, va: usize) {
        // SAFETY: the caller guarantees `va` is mapped normal memory; data is written back first.
        unsafe { core::arch::asm!("mcr p15, 0, {}, c7, c14, 1", in(reg) va, options(nostack)) };
    }
    fn barrier(&self) {
        // SAFETY: DSB only orders memory accesses and maintenance; it has no other effect.
        unsafe { core::arch::asm!("dsb", options(nostack)) };
    }
}

/// The executing core's data synchronization barrier (`dsb`), as a value so the hand-over
/// barrier can be host-tested against a recording fake.
///
/// # Safety
///
/// [`Dsb::dsb`] must wait until every explicit memory access and cache maintenance issued
/// before it has completed for the full system, before any later instruction executes.
pub unsafe trait Dsb {
    /// Issues the barrier.
    fn dsb(&self);
}

/// ARMv7's `dsb` (full system).
#[cfg(target_arch = "arm")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Cp15Dsb;

// SAFETY: `dsb` without an option is `dsb sy` (ARM ARM A8.8.44), the full-system DSB.
#[cfg(target_arch = "arm")]
unsafe impl Dsb for Cp15Dsb {
    fn dsb(&self) {
        // SAFETY: DSB only orders and waits for memory accesses and maintenance.
        unsafe { core::arch::asm!("dsb", options(nostack)) };
    }
}

/// ARMv7-A's hand-over barrier for a coherent DMA master: `dsb` then, when there is an
/// outer cache, its sync towards the device; `dsb` from it (module documentation).
#[derive(Debug)]
pub struct Armv7DmaBarrier<D, O> {
    dsb: D,
    outer: Option<O>,
}

impl<D: Dsb, O: OuterCache> Armv7DmaBarrier<D, O> {
    /// The barrier of a core (`dsb`) and, if the system has one, its outer cache.
    pub fn new(dsb: D, outer: Option<O>) -> Self {
        Self { dsb, outer }
    }
}

// SAFETY: to the device, a full-system DSB completes the CPU's earlier loads and stores as
// far as the outer cache, and the outer cache's sync drains its buffers to memory before
// returning (`OuterCache::sync` contract), in that order (Linux `mb()`); from the device, a
// full-system DSB completes the read that observed the device finish before any later
// access (Linux `rmb()`).
unsafe impl<D: Dsb, O: OuterCache> DmaBarrier for Armv7DmaBarrier<D, O> {
    fn cpu_to_device(&self) {
        self.dsb.dsb();
        if let Some(outer) = &self.outer {
            outer.sync();
        }
    }
    fn device_to_cpu(&self) {
        self.dsb.dsb();
    }
}

/// "No outer cache", as a type: for `TwoLevelCache<Cp15L1, NoOuterCache>` on a system whose
/// levels beyond L1 are all maintained by the CP15 operations to the Point of Coherency (a
/// Cortex-A15's integrated L2). It has no values, so such a cache is always built with `None`.
#[derive(Debug, Clone, Copy)]
pub enum NoOuterCache {}

// SAFETY: no value of the type exists, so none of these can be called.
unsafe impl OuterCache for NoOuterCache {
    fn line_size(&self) -> usize {
        match *self {}
    }
    unsafe fn clean_line(&self, _pa: u64) {
        match *self {}
    }
    unsafe fn invalidate_line(&self, _pa: u64) {
        match *self {}
    }
    unsafe fn clean_invalidate_line(&self, _pa: u64) {
        match *self {}
    }
    fn sync(&self) {
        match *self {}
    }
}

/// L1 by MVA plus an optional outer cache by PA, as one [`CacheMaintenance`].
#[derive(Debug)]
pub struct TwoLevelCache<I, O> {
    inner: I,
    outer: Option<O>,
    /// Physical address of virtual address 0 (identity map: 0). Bare-metal boards map
    /// linearly, so one offset translates every address.
    phys_offset: i64,
}

impl<I: InnerCache, O: OuterCache> TwoLevelCache<I, O> {
    /// Maintenance for `inner` and, when present, `outer`; `phys_offset` is added to a
    /// virtual address to get its physical address.
    pub fn new(inner: I, outer: Option<O>, phys_offset: i64) -> Self {
        Self {
            inner,
            outer,
            phys_offset,
        }
    }

    /// The outer cache, if there is one (to query its state).
    pub fn outer(&self) -> Option<&O> {
        self.outer.as_ref()
    }

    fn pa(&self, va: usize) -> u64 {
        (va as i64).wrapping_add(self.phys_offset) as u64
    }

    /// Calls `f` for the start of every line of `range` at `line` granularity, telling it
    /// whether the line is only partly covered.
    fn for_lines(range: VirtRange, line: usize, mut f: impl FnMut(usize, bool)) {
        let split = range.split_lines(line);
        if let Some(h) = split.head {
            f(h, true);
        }
        let mut a = split.body.start;
        while a < split.body.end() {
            f(a, false);
            a += line;
        }
        if let Some(t) = split.tail {
            f(t, true);
        }
    }

    fn l1(&self, range: VirtRange, op: Level) {
        let line = self.inner.line_size();
        Self::for_lines(range, line, |va, partial| {
            // SAFETY: forwarded from the public operation's contract; partial lines of an
            // invalidate are cleaned too.
            unsafe {
                match (op, partial) {
                    (Level::Clean, _) => self.inner.clean_line(va),
                    (Level::Invalidate, false) => self.inner.invalidate_line(va),
                    (Level::Invalidate, true) | (Level::CleanInvalidate, _) => {
                        self.inner.clean_invalidate_line(va)
                    }
                }
            }
        });
        self.inner.barrier();
    }

    fn l2(&self, range: VirtRange, op: Level) {
        let Some(outer) = &self.outer else { return };
        let line = outer.line_size();
        Self::for_lines(range, line, |va, partial| {
            let pa = self.pa(va);
            // SAFETY: as in `l1`, by physical address.
            unsafe {
                match (op, partial) {
                    (Level::Clean, _) => outer.clean_line(pa),
                    (Level::Invalidate, false) => outer.invalidate_line(pa),
                    (Level::Invalidate, true) | (Level::CleanInvalidate, _) => {
                        outer.clean_invalidate_line(pa)
                    }
                }
            }
        });
        outer.sync();
    }
}

#[derive(Clone, Copy)]
enum Level {
    Clean,
    Invalidate,
    CleanInvalidate,
}

// SAFETY: every operation reaches every line of the range at both levels, in the order the
// module documentation justifies, with partial lines of an invalidate cleaned first.
unsafe impl<I: InnerCache, O: OuterCache> CacheMaintenance for TwoLevelCache<I, O> {
    fn line_size(&self) -> usize {
        // Maintenance must be at least as fine as the finest level; DMA regions align to
        // the coarser of the two so neither level's lines straddle two buffers.
        let l1 = self.inner.line_size();
        self.outer.as_ref().map_or(l1, |o| l1.max(o.line_size()))
    }

    unsafe fn clean(&self, range: VirtRange) {
        self.l1(range, Level::Clean);
        self.l2(range, Level::Clean);
    }

    unsafe fn invalidate(&self, range: VirtRange) {
        self.l2(range, Level::Invalidate);
        self.l1(range, Level::Invalidate);
    }

    unsafe fn clean_invalidate(&self, range: VirtRange) {
        self.l1(range, Level::CleanInvalidate);
        self.l2(range, Level::CleanInvalidate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;
    use dmasync_hal::cache::{CacheOp, Coherent};
    use std::string::{String, ToString};
    use std::vec::Vec;
    use std::{format, vec};

    #[derive(Default)]
    struct Log(RefCell<Vec<String>>);

    struct FakeL1<'a>(&'a Log);
    struct FakeL2<'a>(&'a Log);

    // SAFETY: test fake; records instead of touching hardware.
    unsafe impl InnerCache for FakeL1<'_> {
        fn line_size(&self) -> usize {
            32
        }
        unsafe fn clean_line(&self, va: usize) {
            self.0.0.borrow_mut().push(format!("L1 clean {va:#x}"));
        }
        unsafe fn invalidate_line(&self, va: usize) {
            self.0.0.borrow_mut().push(format!("L1 inv {va:#x}"));
        }
        unsafe fn clean_invalidate_line(&self, va: usize) {
            self.0.0.borrow_mut().push(format!("L1 cinv {va:#x}"));
        }
        fn barrier(&self) {
            self.0.0.borrow_mut().push("dsb".to_string());
        }
    }

    // SAFETY: test fake; records instead of touching hardware.
    unsafe impl OuterCache for FakeL2<'_> {
        fn line_size(&self) -> usize {
            32
        }
        unsafe fn clean_line(&self, pa: u64) {
            self.0.0.borrow_mut().push(format!("L2 clean {pa:#x}"));
        }
        unsafe fn invalidate_line(&self, pa: u64) {
            self.0.0.borrow_mut().push(format!("L2 inv {pa:#x}"));
        }
        unsafe fn clean_invalidate_line(&self, pa: u64) {
            self.0.0.borrow_mut().push(format!("L2 cinv {pa:#x}"));
        }
        fn sync(&self) {
            self.0.0.borrow_mut().push("sync".to_string());
        }
    }

    struct FakeDsb<'a>(&'a Log);

    // SAFETY: test fake; records instead of touching hardware.
    unsafe impl Dsb for FakeDsb<'_> {
        fn dsb(&self) {
            self.0.0.borrow_mut().push("dsb".to_string());
        }
    }

    fn coherent(op: CacheOp, with_outer: bool) -> Vec<String> {
        let log = Log::default();
        let outer = with_outer.then_some(FakeL2(&log));
        let c = Coherent::new(32, Armv7DmaBarrier::new(FakeDsb(&log), outer));
        // SAFETY: fakes only.
        unsafe { c.perform(op, VirtRange::new(0x4000_0000, 4096)) };
        log.0.borrow().clone()
    }

    #[test]
    fn coherent_hand_over_to_device_is_dsb_then_outer_sync() {
        assert_eq!(coherent(CacheOp::Clean, true), vec!["dsb", "sync"]);
        assert_eq!(coherent(CacheOp::Clean, false), vec!["dsb"]);
    }

    #[test]
    fn coherent_hand_over_from_device_is_dsb_only() {
        assert_eq!(coherent(CacheOp::Invalidate, true), vec!["dsb"]);
    }

    #[test]
    fn coherent_clean_invalidate_issues_both_hand_overs() {
        assert_eq!(
            coherent(CacheOp::CleanInvalidate, true),
            vec!["dsb", "sync", "dsb"]
        );
    }

    #[test]
    fn every_non_coherent_operation_ends_with_the_last_levels_completion() {
        for op in CacheOp::ALL {
            // SAFETY: fakes only.
            let log = run(|c| unsafe { c.perform(op, VirtRange::new(0x4000_0008, 100)) });
            let last = if op == CacheOp::Invalidate {
                "dsb"
            } else {
                "sync"
            };
            assert_eq!(log.last().map(String::as_str), Some(last), "{op:?}");
            // The first level is complete before the second is touched.
            let first_barrier = log.iter().position(|e| e == "dsb" || e == "sync");
            let first_l2_or_l1_switch = log.iter().position(|e| {
                e.starts_with(if op == CacheOp::Invalidate {
                    "L1"
                } else {
                    "L2"
                })
            });
            assert!(first_barrier < first_l2_or_l1_switch, "{op:?}: {log:?}");
        }
    }

    fn run(f: impl FnOnce(&TwoLevelCache<FakeL1<'_>, FakeL2<'_>>)) -> Vec<String> {
        let log = Log::default();
        // A board whose RAM at VA 0x4000_0000 sits at PA 0x6000_0000.
        let c = TwoLevelCache::new(FakeL1(&log), Some(FakeL2(&log)), 0x2000_0000);
        f(&c);
        log.0.borrow().clone()
    }

    #[test]
    fn clean_goes_l1_then_l2_by_physical_address() {
        // SAFETY: fakes only.
        let log = run(|c| unsafe { c.clean(VirtRange::new(0x4000_0000, 64)) });
        assert_eq!(
            log,
            vec![
                "L1 clean 0x40000000",
                "L1 clean 0x40000020",
                "dsb",
                "L2 clean 0x60000000",
                "L2 clean 0x60000020",
                "sync"
            ]
        );
    }

    #[test]
    fn invalidate_goes_l2_then_l1() {
        // SAFETY: fakes only.
        let log = run(|c| unsafe { c.invalidate(VirtRange::new(0x4000_0000, 32)) });
        assert_eq!(
            log,
            vec!["L2 inv 0x60000000", "sync", "L1 inv 0x40000000", "dsb"]
        );
    }

    #[test]
    fn partial_lines_of_an_invalidate_are_cleaned_at_both_levels() {
        // SAFETY: fakes only.
        let log = run(|c| unsafe { c.invalidate(VirtRange::new(0x4000_0010, 64)) });
        assert_eq!(
            log,
            vec![
                "L2 cinv 0x60000000",
                "L2 inv 0x60000020",
                "L2 cinv 0x60000040",
                "sync",
                "L1 cinv 0x40000000",
                "L1 inv 0x40000020",
                "L1 cinv 0x40000040",
                "dsb"
            ]
        );
    }

    #[test]
    fn clean_invalidate_goes_l1_then_l2() {
        // SAFETY: fakes only.
        let log = run(|c| unsafe { c.clean_invalidate(VirtRange::new(0x4000_0000, 32)) });
        assert_eq!(
            log,
            vec!["L1 cinv 0x40000000", "dsb", "L2 cinv 0x60000000", "sync"]
        );
    }

    #[test]
    fn without_an_outer_cache_only_l1_is_maintained() {
        let log = Log::default();
        let c: TwoLevelCache<_, FakeL2<'_>> = TwoLevelCache::new(FakeL1(&log), None, 0);
        // SAFETY: fakes only.
        unsafe { c.clean(VirtRange::new(0x1000, 8)) };
        assert_eq!(c.line_size(), 32);
        assert_eq!(*log.0.borrow(), vec!["L1 clean 0x1000", "dsb"]);
    }
}
