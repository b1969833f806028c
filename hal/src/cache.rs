//! Data-cache maintenance by virtual address: the layer under every DMA hand-over.
//!
//! Named `CacheMaintenance`, not "fence": in dmasync a `Fence` is a completion object
//! (`dmasync_sync::fence`); this is about moving bytes between a CPU's cache and memory.
//!
//! Implementations: AArch64 (`dc cvac/ivac/civac` by `CTR_EL0.DminLine`, then `dsb`) in
//! `arch/aarch64`, ARMv7-A (CP15 by MVA plus the PL310 outer cache) in `arch/armv7a` and `drivers/pl310`,
//! [`Coherent`] for devices on a coherent interconnect (generic over the architecture's
//! [`DmaBarrier`]; [`CoherentNoop`] is its host form), and the host's non-coherent
//! memory simulator (`dmasync-sim`), which is what proves the policy above it correct:
//! QEMU models no caches, so a missing clean or invalidate never fails there.

use core::fmt;

/// A half-open range of virtual addresses `[start, start + len)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VirtRange {
    /// First byte.
    pub start: usize,
    /// Length in bytes; zero is a valid, empty range.
    pub len: usize,
}

impl fmt::Debug for VirtRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x}..{:#x}",
            self.start,
            self.start.wrapping_add(self.len)
        )
    }
}

impl VirtRange {
    /// The range `[start, start + len)`.
    pub const fn new(start: usize, len: usize) -> Self {
        Self { start, len }
    }

    /// The range covering `bytes`.
    pub fn of_slice(bytes: &[u8]) -> Self {
        Self {
            start: bytes.as_ptr() as usize,
            len: bytes.len(),
        }
    }

    /// One past the last byte.
    pub const fn end(&self) -> usize {
        self.start + self.len
    }

    /// True for a zero-length range.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How this range falls on cache lines of `line` bytes (a power of two).
    pub fn split_lines(&self, line: usize) -> LineSplit {
        debug_assert!(line.is_power_of_two());
        let mask = line - 1;
        if self.len == 0 {
            return LineSplit {
                head: None,
                body: VirtRange::new(self.start & !mask, 0),
                tail: None,
            };
        }
        let first_line = self.start & !mask;
        let last_line = (self.end() - 1) & !mask;
        let head_partial =
            self.start & mask != 0 || (first_line == last_line && self.end() & mask != 0);
        let tail_partial = self.end() & mask != 0;
        if first_line == last_line {
            // One line: it is either whole or partial; never both head and tail.
            return if head_partial || tail_partial {
                LineSplit {
                    head: Some(first_line),
                    body: VirtRange::new(first_line, 0),
                    tail: None,
                }
            } else {
                LineSplit {
                    head: None,
                    body: VirtRange::new(first_line, line),
                    tail: None,
                }
            };
        }
        let body_start = if head_partial {
            first_line + line
        } else {
            first_line
        };
        let body_end = if tail_partial {
            last_line
        } else {
            last_line + line
        };
        LineSplit {
            head: head_partial.then_some(first_line),
            body: VirtRange::new(body_start, body_end - body_start),
            tail: tail_partial.then_some(last_line),
        }
    }
}

/// A range cut into whole cache lines and the (at most two) lines it only partly covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineSplit {
    /// Start of a first line the range covers only partly.
    pub head: Option<usize>,
    /// The whole lines, line-aligned at both ends (possibly empty).
    pub body: VirtRange,
    /// Start of a last line the range covers only partly.
    pub tail: Option<usize>,
}

/// The three maintenance operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CacheOp {
    /// Write dirty lines back to the point of coherency; they stay cached.
    Clean,
    /// Discard lines so the next CPU read comes from memory.
    Invalidate,
    /// Write back, then discard.
    CleanInvalidate,
}

impl CacheOp {
    /// All operations, for iterating statistics.
    pub const ALL: [CacheOp; 3] = [
        CacheOp::Clean,
        CacheOp::Invalidate,
        CacheOp::CleanInvalidate,
    ];
}

/// Data-cache maintenance by virtual address, to the point of coherency.
///
/// Partial lines: a range need not be line-aligned. [`CacheMaintenance::clean`] of a
/// partial line cleans the whole line (harmless). [`CacheMaintenance::invalidate`] must
/// never discard bytes outside the range, so a partial line at either end is *cleaned and
/// invalidated* instead: a neighbour's dirty data sharing that line reaches memory rather
/// than being silently dropped. [`VirtRange::split_lines`] gives every implementation the
/// same cut.
///
/// Every operation completes (e.g. `dsb sy`) before it returns, so a device started after
/// the call sees its effect.
///
/// # Safety
///
/// Implementors must perform exactly the operation named, on every line overlapping the
/// range, honouring the partial-line rule above; code above relies on it for memory safety
/// of data shared with devices.
pub unsafe trait CacheMaintenance {
    /// The maintenance granule in bytes: the smallest data-cache line of any cache level
    /// maintained (`CTR_EL0.DminLine` on AArch64). A power of two.
    fn line_size(&self) -> usize;

    /// True when devices see CPU caches (a coherent interconnect): no maintenance needed.
    fn is_coherent(&self) -> bool {
        false
    }

    /// Writes dirty lines of `range` back to memory; they stay valid in the cache.
    ///
    /// # Safety
    ///
    /// `range` must be mapped, normal memory of this address space.
    unsafe fn clean(&self, range: VirtRange);

    /// Discards the lines of `range` (partial end lines: clean + invalidate).
    ///
    /// # Safety
    ///
    /// `range` must be mapped, normal memory, and no CPU may hold data in it that must
    /// survive (whole lines inside the range lose any dirty bytes).
    unsafe fn invalidate(&self, range: VirtRange);

    /// Writes back, then discards, the lines of `range`.
    ///
    /// # Safety
    ///
    /// `range` must be mapped, normal memory of this address space.
    unsafe fn clean_invalidate(&self, range: VirtRange);

    /// Performs `op` on `range`.
    ///
    /// # Safety
    ///
    /// As for the operation performed.
    unsafe fn perform(&self, op: CacheOp, range: VirtRange) {
        // SAFETY: the caller upholds the contract of the operation it asked for.
        unsafe {
            match op {
                CacheOp::Clean => self.clean(range),
                CacheOp::Invalidate => self.invalidate(range),
                CacheOp::CleanInvalidate => self.clean_invalidate(range),
            }
        }
    }
}

// SAFETY: forwards every operation unchanged to an implementation that upholds the contract.
unsafe impl<T: CacheMaintenance + ?Sized> CacheMaintenance for &T {
    fn line_size(&self) -> usize {
        (**self).line_size()
    }
    fn is_coherent(&self) -> bool {
        (**self).is_coherent()
    }
    unsafe fn clean(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).clean(range) }
    }
    unsafe fn invalidate(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).invalidate(range) }
    }
    unsafe fn clean_invalidate(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { (**self).clean_invalidate(range) }
    }
}

/// The barrier that hands a buffer between the CPU and a DMA master on a coherent
/// interconnect, in the two directions a hand-over has.
///
/// Named "barrier", not "fence": in dmasync a `Fence` is a completion object. On a coherent
/// system no cache maintenance is needed, but ordering still is, and it must reach the
/// device's shareability domain: `fence(SeqCst)` is `dmb ish` on AArch64, which orders
/// nothing against an outer-shareable master (Linux: `dma_wmb`/`dma_rmb` are `dmb osh*`,
/// arch/arm64/include/asm/barrier.h). Each architecture crate implements this with the
/// barrier its architecture requires; [`HostBarrier`] is the host's.
///
/// # Safety
///
/// Implementors must issue, in each method, a barrier that provides the ordering the method
/// names, as observed by every DMA master [`Coherent`] is used for (including the completion
/// of earlier accesses when the device is told or learns by means other than a memory
/// access: a system-register write, `sev`, an interrupt). Code above relies on it for the
/// memory safety of data shared with devices.
pub unsafe trait DmaBarrier {
    /// After the CPU's accesses to a buffer and before the device is told to access it (the
    /// doorbell): every earlier CPU load and store of the buffer is ordered before, and
    /// complete for, the device.
    fn cpu_to_device(&self);

    /// After the CPU learned the device finished and before it touches the buffer: the
    /// device's writes are visible to every later CPU load, and no later CPU access is
    /// performed before the observation that the device finished.
    fn device_to_cpu(&self);
}

// SAFETY: forwards to an implementation that upholds the contract.
unsafe impl<T: DmaBarrier + ?Sized> DmaBarrier for &T {
    fn cpu_to_device(&self) {
        (**self).cpu_to_device()
    }
    fn device_to_cpu(&self) {
        (**self).device_to_cpu()
    }
}

/// The host's hand-over barrier: `fence(SeqCst)` in both directions.
///
/// Only right on the host (the simulator, host tests, benchmarks): there the "device" is
/// another thread of the same process, an observer in the CPUs' own (inner-shareable)
/// domain, so the language's strongest fence orders everything it can see. On Arm hardware
/// `fence(SeqCst)` is `dmb ish`, which neither reaches an outer-shareable DMA master nor
/// waits for completion before a doorbell: use the architecture crate's implementation
/// there (`dmasync_aarch64::barrier`, `dmasync_armv7a::cache::Armv7DmaBarrier`).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostBarrier;

// SAFETY: on the host every "device" is a thread of this process; `fence(SeqCst)` orders
// all earlier accesses before all later ones as seen by every such thread.
unsafe impl DmaBarrier for HostBarrier {
    fn cpu_to_device(&self) {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }
    fn device_to_cpu(&self) {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }
}

/// Which hand-over directions an operation is on a coherent system, in the order
/// [`Coherent`] issues them: a clean moves CPU data towards a device, an invalidate
/// device data towards the CPU, a clean+invalidate is used on both sides of a device
/// access (before a bidirectional transfer and after it), so it issues both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandOver {
    /// [`DmaBarrier::cpu_to_device`].
    CpuToDevice,
    /// [`DmaBarrier::device_to_cpu`].
    DeviceToCpu,
}

impl CacheOp {
    /// The hand-over barriers this operation stands for on a coherent system.
    pub const fn hand_overs(self) -> &'static [HandOver] {
        match self {
            CacheOp::Clean => &[HandOver::CpuToDevice],
            CacheOp::Invalidate => &[HandOver::DeviceToCpu],
            CacheOp::CleanInvalidate => &[HandOver::CpuToDevice, HandOver::DeviceToCpu],
        }
    }
}

/// Maintenance for devices on a coherent interconnect: no cache line can hold data such a
/// device does not see, so every operation is only the hand-over barrier `B` of its
/// direction ([`CacheOp::hand_overs`]), issued once per operation, not per line.
#[derive(Clone, Copy, Debug)]
pub struct Coherent<B> {
    line_size: usize,
    barrier: B,
}

impl<B: DmaBarrier> Coherent<B> {
    /// Coherent maintenance reporting `line_size` (DMA regions are still aligned to it) and
    /// ordering hand-overs with `barrier`.
    pub const fn new(line_size: usize, barrier: B) -> Self {
        Self { line_size, barrier }
    }

    /// The hand-over barrier.
    pub const fn barrier(&self) -> &B {
        &self.barrier
    }

    fn hand_over(&self, op: CacheOp) {
        for h in op.hand_overs() {
            match h {
                HandOver::CpuToDevice => self.barrier.cpu_to_device(),
                HandOver::DeviceToCpu => self.barrier.device_to_cpu(),
            }
        }
    }
}

// SAFETY: on a coherent system no cache line can hold data a device does not see, so the
// operations are satisfied by ordering alone, which `B` provides for the direction of each
// operation (the `DmaBarrier` contract).
unsafe impl<B: DmaBarrier> CacheMaintenance for Coherent<B> {
    fn line_size(&self) -> usize {
        self.line_size
    }
    fn is_coherent(&self) -> bool {
        true
    }
    unsafe fn clean(&self, _range: VirtRange) {
        self.hand_over(CacheOp::Clean);
    }
    unsafe fn invalidate(&self, _range: VirtRange) {
        self.hand_over(CacheOp::Invalidate);
    }
    unsafe fn clean_invalidate(&self, _range: VirtRange) {
        self.hand_over(CacheOp::CleanInvalidate);
    }
}

/// Coherent maintenance on the host: [`Coherent`] with [`HostBarrier`] (see there why
/// that is only right on the host). Kept as its own struct so `CoherentNoop { line_size }`
/// keeps building in the host tests and benchmarks; on target use the architecture crate's
/// coherent maintenance.
#[derive(Clone, Copy, Debug)]
pub struct CoherentNoop {
    /// Reported line size (used for alignment of DMA regions all the same).
    pub line_size: usize,
}

impl CoherentNoop {
    fn as_coherent(&self) -> Coherent<HostBarrier> {
        Coherent::new(self.line_size, HostBarrier)
    }
}

// SAFETY: forwards to `Coherent<HostBarrier>`, whose impl upholds the contract on the host.
unsafe impl CacheMaintenance for CoherentNoop {
    fn line_size(&self) -> usize {
        self.line_size
    }
    fn is_coherent(&self) -> bool {
        true
    }
    unsafe fn clean(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.as_coherent().clean(range) }
    }
    unsafe fn invalidate(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.as_coherent().invalidate(range) }
    }
    unsafe fn clean_invalidate(&self, range: VirtRange) {
        // SAFETY: the caller's contract is the same.
        unsafe { self.as_coherent().clean_invalidate(range) }
    }
}

/// Per-line maintenance of an outer cache (a level shared by the cores, beyond the
/// architecture's own caches, such as the Arm PL310), by physical address.
///
/// # Safety
///
/// Implementors perform exactly the named operation on the line holding `pa`.
pub unsafe trait OuterCache {
    /// Line size in bytes.
    fn line_size(&self) -> usize;
    /// Clean the line holding `pa`.
    ///
    /// # Safety
    ///
    /// `pa` is memory the caller may maintain.
    unsafe fn clean_line(&self, pa: u64);
    /// Invalidate the line holding `pa`.
    ///
    /// # Safety
    ///
    /// No dirty data in the line may need to survive.
    unsafe fn invalidate_line(&self, pa: u64);
    /// Clean and invalidate the line holding `pa`.
    ///
    /// # Safety
    ///
    /// `pa` is memory the caller may maintain.
    unsafe fn clean_invalidate_line(&self, pa: u64);
    /// Wait until all operations have completed (the PL310 CACHE_SYNC).
    fn sync(&self);
}

#[cfg(test)]
mod tests {
    use super::*;

    use core::cell::RefCell;
    use std::vec::Vec;

    #[derive(Default)]
    struct Recorder(RefCell<Vec<HandOver>>);

    // SAFETY: test fake; records instead of ordering anything.
    unsafe impl DmaBarrier for Recorder {
        fn cpu_to_device(&self) {
            self.0.borrow_mut().push(HandOver::CpuToDevice);
        }
        fn device_to_cpu(&self) {
            self.0.borrow_mut().push(HandOver::DeviceToCpu);
        }
    }

    fn issued(op: CacheOp, range: VirtRange) -> Vec<HandOver> {
        let rec = Recorder::default();
        let c = Coherent::new(64, &rec);
        // SAFETY: the fake touches no memory.
        unsafe { c.perform(op, range) };
        rec.0.take()
    }

    #[test]
    fn coherent_clean_is_one_cpu_to_device_barrier() {
        assert_eq!(
            issued(CacheOp::Clean, VirtRange::new(0x1000, 0x1000)),
            [HandOver::CpuToDevice]
        );
    }

    #[test]
    fn coherent_invalidate_is_one_device_to_cpu_barrier() {
        assert_eq!(
            issued(CacheOp::Invalidate, VirtRange::new(0x1010, 0x1000)),
            [HandOver::DeviceToCpu]
        );
    }

    #[test]
    fn coherent_clean_invalidate_issues_both_directions() {
        assert_eq!(
            issued(CacheOp::CleanInvalidate, VirtRange::new(0x1000, 8)),
            [HandOver::CpuToDevice, HandOver::DeviceToCpu]
        );
    }

    #[test]
    fn coherent_barrier_is_per_operation_not_per_line() {
        for len in [0, 1, 64, 65, 1 << 20] {
            for op in CacheOp::ALL {
                assert_eq!(
                    issued(op, VirtRange::new(0x1000, len)),
                    op.hand_overs(),
                    "{op:?} len={len}"
                );
            }
        }
    }

    #[test]
    fn coherent_reports_coherent_and_its_line_size() {
        let c = Coherent::new(128, HostBarrier);
        assert!(c.is_coherent());
        assert_eq!(c.line_size(), 128);
        let n = CoherentNoop { line_size: 32 };
        assert!(n.is_coherent());
        assert_eq!(n.line_size(), 32);
    }

    #[test]
    fn split_aligned_range_is_all_body() {
        let s = VirtRange::new(0x1000, 0x100).split_lines(64);
        assert_eq!(
            s,
            LineSplit {
                head: None,
                body: VirtRange::new(0x1000, 0x100),
                tail: None
            }
        );
    }

    #[test]
    fn split_unaligned_ends_become_partial_lines() {
        let s = VirtRange::new(0x1010, 0x100).split_lines(64);
        assert_eq!(s.head, Some(0x1000));
        assert_eq!(s.body, VirtRange::new(0x1040, 0xC0));
        assert_eq!(s.tail, Some(0x1100));
    }

    #[test]
    fn split_inside_one_line_is_one_partial_line() {
        let s = VirtRange::new(0x1008, 8).split_lines(64);
        assert_eq!((s.head, s.body.len, s.tail), (Some(0x1000), 0, None));
        let s = VirtRange::new(0x1000, 8).split_lines(64);
        assert_eq!((s.head, s.body.len, s.tail), (Some(0x1000), 0, None));
        let s = VirtRange::new(0x1000, 64).split_lines(64);
        assert_eq!(
            (s.head, s.body, s.tail),
            (None, VirtRange::new(0x1000, 64), None)
        );
    }

    #[test]
    fn split_empty_range_touches_nothing() {
        let s = VirtRange::new(0x1013, 0).split_lines(64);
        assert_eq!((s.head, s.body.len, s.tail), (None, 0, None));
    }

    #[test]
    fn split_covers_exactly_the_lines_the_range_touches() {
        for start in 0x1000..0x1000 + 130 {
            for len in 0..200 {
                let r = VirtRange::new(start, len);
                let s = r.split_lines(64);
                let mut lines: std::vec::Vec<usize> = s.head.into_iter().collect();
                lines.extend((s.body.start..s.body.end()).step_by(64));
                lines.extend(s.tail);
                let want: std::vec::Vec<usize> = if len == 0 {
                    std::vec::Vec::new()
                } else {
                    ((start & !63)..=((start + len - 1) & !63))
                        .step_by(64)
                        .collect()
                };
                assert_eq!(lines, want, "start={start:#x} len={len}");
                assert_eq!(s.body.start % 64, 0);
                assert_eq!(s.body.len % 64, 0);
            }
        }
    }
}
