//! The barriers a DMA hand-over needs on AArch64, with the choice kept as data.
//!
//! Linux, arch/arm64/include/asm/barrier.h:
//!
//! | Linux | instruction | use |
//! |---|---|---|
//! | `mb()` / `wmb()` / `rmb()` | `dsb sy` / `dsb st` / `dsb ld` | before an MMIO doorbell written with a relaxed accessor; after a relaxed MMIO status read |
//! | `dma_mb()` / `dma_wmb()` / `dma_rmb()` | `dmb osh` / `dmb oshst` / `dmb oshld` | between accesses to coherent memory shared with a device (descriptor rings, ownership bits) |
//! | `smp_mb()` (= Rust `fence(SeqCst)`) | `dmb ish` | between CPUs only: a DMA master is not in the inner-shareable domain |
//!
//! [`BarrierKind`] names these; every path that ends a hand-over says which kind it issues as
//! a constant ([`POC_COMPLETION`], [`Aarch64DmaBarrier::DOORBELL`]), and the `const`
//! assertions at the end of this file check, in every build of this crate, that each
//! constant has the properties its path needs. (This crate is target-only and has no host
//! unit tests; the assertions run when `cargo xtask build` compiles it.) [`issue`] turns a
//! kind into the instruction.
//!
//! QEMU models neither caches nor barrier semantics (TCG executes `dmb`/`dsb` as host
//! fences at most): no QEMU test can tell one barrier from another. The choice rests on the
//! reasoning below and the assertions.

use dmasync_hal::cache::{DmaBarrier, HandOver};

/// The barrier instructions dmasync issues on AArch64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarrierKind {
    /// `dmb ish`: what `fence(SeqCst)` compiles to. Orders between CPUs only.
    DmbIsh,
    /// `dmb osh` (Linux `dma_mb`).
    DmbOsh,
    /// `dmb oshld` (Linux `dma_rmb`).
    DmbOshld,
    /// `dmb oshst` (Linux `dma_wmb`).
    DmbOshst,
    /// `dsb sy` (Linux `mb`, and the end of its `dcache_*_poc` routines).
    DsbSy,
    /// `dsb ld` (Linux `rmb`).
    DsbLd,
    /// `dsb st` (Linux `wmb`).
    DsbSt,
}

impl BarrierKind {
    /// The instruction, as the assembler spells it.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            BarrierKind::DmbIsh => "dmb ish",
            BarrierKind::DmbOsh => "dmb osh",
            BarrierKind::DmbOshld => "dmb oshld",
            BarrierKind::DmbOshst => "dmb oshst",
            BarrierKind::DsbSy => "dsb sy",
            BarrierKind::DsbLd => "dsb ld",
            BarrierKind::DsbSt => "dsb st",
        }
    }

    /// A DSB: later instructions of any kind (a system-register write, `sev`, `smc`, an MMIO
    /// store) execute only after the earlier accesses (and cache maintenance) it covers have
    /// completed. A DMB only orders memory accesses against memory accesses.
    pub const fn completes(self) -> bool {
        matches!(
            self,
            BarrierKind::DsbSy | BarrierKind::DsbLd | BarrierKind::DsbSt
        )
    }

    /// Its domain includes outer-shareable observers (DMA masters, the point of coherency):
    /// `osh` or `sy` (the `ld`/`st` forms of DSB are full-system).
    pub const fn reaches_devices(self) -> bool {
        !matches!(self, BarrierKind::DmbIsh)
    }

    /// Orders earlier loads against later loads and stores.
    pub const fn after_loads(self) -> bool {
        !matches!(self, BarrierKind::DmbOshst | BarrierKind::DsbSt)
    }

    /// Orders earlier stores against later stores (and, for a full barrier, loads).
    pub const fn after_stores(self) -> bool {
        !matches!(self, BarrierKind::DmbOshld | BarrierKind::DsbLd)
    }
}

/// Executes the barrier `kind`.
#[inline]
pub fn issue(kind: BarrierKind) {
    // SAFETY: a barrier only orders or waits for memory accesses and maintenance; it reads
    // or writes no memory and has no other effect. No `nomem`: the compiler must not move
    // memory accesses across it.
    unsafe {
        match kind {
            BarrierKind::DmbIsh => core::arch::asm!("dmb ish", options(nostack, preserves_flags)),
            BarrierKind::DmbOsh => core::arch::asm!("dmb osh", options(nostack, preserves_flags)),
            BarrierKind::DmbOshld => {
                core::arch::asm!("dmb oshld", options(nostack, preserves_flags))
            }
            BarrierKind::DmbOshst => {
                core::arch::asm!("dmb oshst", options(nostack, preserves_flags))
            }
            BarrierKind::DsbSy => core::arch::asm!("dsb sy", options(nostack, preserves_flags)),
            BarrierKind::DsbLd => core::arch::asm!("dsb ld", options(nostack, preserves_flags)),
            BarrierKind::DsbSt => core::arch::asm!("dsb st", options(nostack, preserves_flags)),
        }
    }
}

/// What ends every data-cache maintenance by VA to the Point of Coherency
/// ([`crate::cache::DataCache`]): `dsb sy`, as Linux's `dcache_by_line_op ..., sy` in
/// arch/arm64/mm/cache.S (`dcache_clean_poc`, `dcache_inval_poc`). It must be a DSB (a DMB
/// does not wait for `dc` to complete, and the doorbell that follows may be a
/// system-register write or `sev`) reaching the PoC (`dsb ish` would complete the maintenance
/// only for the inner-shareable domain, not for the device).
pub const POC_COMPLETION: BarrierKind = BarrierKind::DsbSy;

/// AArch64's [`DmaBarrier`]: which [`BarrierKind`] each hand-over direction issues.
///
/// [`Self::DOORBELL`] is the one coherent cache maintenance uses
/// ([`crate::cache::CoherentCache`]); [`Self::SHARED_MEMORY`] is Linux's `dma_mb`/`dma_rmb`
/// for a driver that hands over through coherent memory alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aarch64DmaBarrier {
    cpu_to_device: BarrierKind,
    device_to_cpu: BarrierKind,
}

impl Aarch64DmaBarrier {
    /// `dsb sy` to the device, `dsb ld` from it (Linux `mb()` / `rmb()`).
    ///
    /// Why a DSB and not `dmb osh`, for the hand-over of `CacheMaintenance`: the derived
    /// policy's clean/invalidate is issued by the sync layer, which does not know how the
    /// driver then tells the device to go. `dmb osh` would be enough if that were always an
    /// MMIO *store* on this core (that is why Linux's `writel` needs only `dmb oshst`), but it
    /// orders memory accesses only: a doorbell that is a system-register write (a GICv3 SGI to
    /// a core acting as the engine, as on qemu-virt; Linux puts `dsb(ishst)` before it in
    /// drivers/irqchip/irq-gic-v3.c), `sev`, or an `smc` to firmware may overtake the buffer
    /// writes. And the doorbells in this tree carry no outer-shareable barrier of their own:
    /// virtio-drivers 0.13 rings with `fence(SeqCst)` (`dmb ish`) and a volatile store. Only a
    /// DSB, which holds back every later instruction until the earlier accesses are complete,
    /// is right for every doorbell. It is `sy`, not `st`: the hand-over also ends CPU *reads*
    /// of a buffer the device may write next, and they must have completed first.
    ///
    /// From the device, `dsb ld` (Linux `rmb()`, what memory-barriers.txt asks for after a
    /// relaxed MMIO status read): the CPU may have learned of the completion from an MMIO
    /// read or a system-register read (the GIC acknowledge) rather than a memory word, and no
    /// later load or store of the buffer may be performed before that read. `dmb oshld`
    /// (`dma_rmb`) orders only memory reads.
    ///
    /// Cost: one DSB per hand-over (per maintenance call, not per line).
    pub const DOORBELL: Self = Self {
        cpu_to_device: BarrierKind::DsbSy,
        device_to_cpu: BarrierKind::DsbLd,
    };

    /// `dmb osh` to the device, `dmb oshld` from it (Linux `dma_mb()` / `dma_rmb()`; `dma_mb`
    /// rather than `dma_wmb` so earlier CPU reads are ordered too). Enough only when the device
    /// is told and the CPU learns through coherent memory (an ownership word the device
    /// polls, a completion word the CPU polls) or through MMIO accessors that issue their own
    /// DSB.
    pub const SHARED_MEMORY: Self = Self {
        cpu_to_device: BarrierKind::DmbOsh,
        device_to_cpu: BarrierKind::DmbOshld,
    };

    /// The barrier issued before the device is told to go.
    pub const fn cpu_to_device_kind(&self) -> BarrierKind {
        self.cpu_to_device
    }

    /// The barrier issued after the CPU learned the device finished.
    pub const fn device_to_cpu_kind(&self) -> BarrierKind {
        self.device_to_cpu
    }

    /// The barrier issued for `h`.
    pub const fn kind(&self, h: HandOver) -> BarrierKind {
        match h {
            HandOver::CpuToDevice => self.cpu_to_device,
            HandOver::DeviceToCpu => self.device_to_cpu,
        }
    }
}

impl Default for Aarch64DmaBarrier {
    fn default() -> Self {
        Self::DOORBELL
    }
}

// SAFETY: both constants issue barriers reaching outer-shareable observers, ordering earlier
// loads and stores before later ones (to device) and earlier loads before later accesses
// (from device); `DOORBELL` also completes them before any later instruction. The
// assertions below check these properties of the constants; the fields are private, so no
// other value exists.
unsafe impl DmaBarrier for Aarch64DmaBarrier {
    #[inline]
    fn cpu_to_device(&self) {
        issue(self.cpu_to_device);
    }
    #[inline]
    fn device_to_cpu(&self) {
        issue(self.device_to_cpu);
    }
}

// The checks (compile time, every build of this crate).
const _: () = {
    use dmasync_hal::cache::CacheOp;

    // The bug this module fixes: `fence(SeqCst)` does not reach a DMA master.
    assert!(!BarrierKind::DmbIsh.reaches_devices());

    // Non-coherent maintenance by VA completes at the PoC before anything later runs.
    assert!(POC_COMPLETION.completes() && POC_COMPLETION.reaches_devices());
    assert!(POC_COMPLETION.after_loads() && POC_COMPLETION.after_stores());

    // Coherent hand-over to a device (`clean`): DSB SY.
    let d = Aarch64DmaBarrier::DOORBELL;
    assert!(matches!(
        d.kind(CacheOp::Clean.hand_overs()[0]),
        BarrierKind::DsbSy
    ));
    // Coherent hand-over from a device (`invalidate`): DSB LD.
    assert!(matches!(
        d.kind(CacheOp::Invalidate.hand_overs()[0]),
        BarrierKind::DsbLd
    ));
    // Clean+invalidate: DSB SY then DSB LD.
    let ci = CacheOp::CleanInvalidate.hand_overs();
    assert!(ci.len() == 2);
    assert!(matches!(d.kind(ci[0]), BarrierKind::DsbSy));
    assert!(matches!(d.kind(ci[1]), BarrierKind::DsbLd));

    // Every kind each constant issues has the properties its direction needs.
    let all = [
        Aarch64DmaBarrier::DOORBELL,
        Aarch64DmaBarrier::SHARED_MEMORY,
    ];
    let mut i = 0;
    while i < all.len() {
        let to = all[i].cpu_to_device_kind();
        let from = all[i].device_to_cpu_kind();
        assert!(to.reaches_devices() && to.after_loads() && to.after_stores());
        assert!(from.reaches_devices() && from.after_loads());
        i += 1;
    }
    assert!(d.cpu_to_device_kind().completes() && d.device_to_cpu_kind().completes());
};
