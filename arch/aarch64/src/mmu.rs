//! Stage-1 identity map for EL1 with `aarch64-paging`, and turning the MMU and caches on.
//!
//! The page tables come from a static pool in `.bss` instead of the heap, because the heap
//! needs the MMU on first (atomics, see [`crate::cpu::atomics_ready`]) and the RAM size is
//! only known once the device tree has been read.
//!
//! Secondary cores turn the MMU on with the same tables before their first stack access: the
//! primary records TTBR0/TCR/MAIR/SCTLR in `BOOT_MMU` (cleaned to the Point of Coherency,
//! because the secondary reads it with its MMU off), and `aarch64-rt`'s secondary entry calls
//! the `enable_mmu` symbol defined here before anything else.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aarch64_cpu::registers::{
    ID_AA64MMFR0_EL1, MAIR_EL1, ReadWriteable, Readable, SCTLR_EL1, TCR_EL1, Writeable,
};
use aarch64_paging::descriptor::El1Attributes;
use aarch64_paging::descriptor::PhysicalAddress;
use aarch64_paging::mair::{Mair, MairAttribute, NormalMemory};
use aarch64_paging::paging::{Constraints, El1And0, MemoryRegion, PageTable, Translation, VaRange};
use aarch64_paging::{MapError, Mapping};

/// Attribute index 0: Device-nGnRE (MMIO). Index 1: Normal, inner and outer write-back
/// read/write-allocate non-transient (RAM).
pub const MAIR: Mair = Mair::EMPTY
    .with_attribute(0, MairAttribute::DEVICE_NGNRE)
    .with_attribute(
        1,
        MairAttribute::normal(
            NormalMemory::WriteBackNonTransientReadWriteAllocate,
            NormalMemory::WriteBackNonTransientReadWriteAllocate,
        ),
    );

/// MMIO: Device-nGnRE, never executable.
pub const DEVICE: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_0)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN)
    .union(El1Attributes::PXN);

/// RAM data: Normal write-back cacheable, inner shareable, read/write, never executable.
pub const NORMAL_RW: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_1)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN)
    .union(El1Attributes::PXN);

/// Code: Normal write-back cacheable, inner shareable, read-only, executable at EL1.
pub const NORMAL_TEXT: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_1)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::READ_ONLY)
    .union(El1Attributes::UXN);

/// Root at level 1 with a 4 KiB granule: 39-bit (512 GiB) input address space.
const ROOT_LEVEL: usize = 1;
const VA_BITS: u64 = 39;

/// Pages the static pool holds: a root, one level-2 table per GiB of RAM touched and a few
/// level-3 tables for unaligned edges. 32 covers RAM up to ~28 GiB.
const POOL_PAGES: usize = 32;

#[repr(C, align(4096))]
struct Pool([[u8; 4096]; POOL_PAGES]);

static mut POOL: Pool = Pool([[0; 4096]; POOL_PAGES]);
static POOL_TAKEN: AtomicBool = AtomicBool::new(false);

/// Identity translation whose tables come from the static pool.
#[derive(Debug)]
pub struct StaticPoolTranslation {
    used: u32,
}

const _: () = assert!(POOL_PAGES <= 32, "the `used` bitmap is a u32");

impl StaticPoolTranslation {
    fn base() -> usize {
        (&raw mut POOL) as usize
    }
}

impl Translation<El1Attributes> for StaticPoolTranslation {
    fn allocate_table(&mut self) -> (NonNull<PageTable<El1Attributes>>, PhysicalAddress) {
        let slot = (0..POOL_PAGES)
            .find(|i| self.used & (1 << i) == 0)
            .expect("page-table pool exhausted (raise POOL_PAGES in dmasync-aarch64 mmu.rs)");
        self.used |= 1 << slot;
        let addr = Self::base() + slot * 4096;
        // SAFETY: `addr` is slot `slot` of the static pool, which only this translation (one
        // instance, see `IdentityMap::new`) hands out, and the slot was free.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, 4096) };
        let ptr = NonNull::new(addr as *mut PageTable<El1Attributes>).expect("pool is not null");
        (ptr, PhysicalAddress(addr))
    }

    unsafe fn deallocate_table(&mut self, page_table: NonNull<PageTable<El1Attributes>>) {
        let slot = (page_table.as_ptr() as usize - Self::base()) / 4096;
        self.used &= !(1 << slot);
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<El1Attributes>> {
        NonNull::new(pa.0 as *mut PageTable<El1Attributes>).expect("table address is not null")
    }
}

/// What secondaries need to turn the MMU on: TTBR0, TCR, MAIR, SCTLR (in that order, read by
/// the `enable_mmu` assembly). In `.data`, not `.bss`: the primary runs `enable_mmu` before
/// `.bss` is zeroed, and must read 0 ("MMU stays off") there.
#[unsafe(link_section = ".data.dmasync_boot_mmu")]
pub(crate) static BOOT_MMU: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// The `enable_mmu` hook `aarch64-rt` calls first thing on every core (its `entry` and
/// `secondary_entry`). It first leaves EL2/EL3 for EL1 ([`crate::boot::drop_to_el1`]). Then
/// it is a no-op until the primary has built the tables; afterwards it programs
/// the recorded translation registers and turns on the MMU and caches, so a secondary never
/// touches its stack with the MMU off. Sequence per Arm ARM D8.2 (TLB/I-cache invalidate
/// before SCTLR_EL1.M, `isb` after). Clobbers x8-x11 only; x0-x3 carry boot arguments.
///
/// # Safety
///
/// Only for `aarch64-rt`'s entry code (non-standard calling convention), at any EL.
#[unsafe(naked)]
#[unsafe(export_name = "enable_mmu")]
#[unsafe(link_section = ".init.dmasync_enable_mmu")]
pub unsafe extern "C" fn enable_mmu_hook() {
    core::arch::naked_asm!(
        // drop_to_el1 keeps x10 and returns (at EL1) through x30.
        "mov x10, x30",
        "bl {drop}",
        "mov x30, x10",
        "adrp x8, {cfg}",
        "add x8, x8, :lo12:{cfg}",
        "ldr x11, [x8, #0]",
        "cbz x11, 1f",
        "ldr x10, [x8, #8]",
        "ldr x9, [x8, #16]",
        "msr mair_el1, x9",
        "msr tcr_el1, x10",
        "msr ttbr0_el1, x11",
        "isb",
        "tlbi vmalle1",
        "ic iallu",
        "dsb nsh",
        "isb",
        "ldr x9, [x8, #24]",
        "msr sctlr_el1, x9",
        "isb",
        "1:",
        "ret",
        cfg = sym BOOT_MMU,
        drop = sym crate::boot::drop_to_el1,
    )
}

/// An identity map under construction, then live.
#[derive(Debug)]
pub struct IdentityMap {
    mapping: Mapping<StaticPoolTranslation, El1And0>,
}

impl IdentityMap {
    /// Starts an empty map (nothing mapped).
    ///
    /// # Panics
    ///
    /// If called twice: there is one static table pool.
    pub fn new() -> Self {
        // Plain load + store, not a swap: this runs on the primary with the MMU off, where
        // exclusives are not usable (crate::cpu::atomics_ready).
        assert!(
            !POOL_TAKEN.load(Ordering::Relaxed),
            "IdentityMap::new called twice"
        );
        POOL_TAKEN.store(true, Ordering::Relaxed);
        let translation = StaticPoolTranslation { used: 0 };
        Self {
            mapping: Mapping::with_asid_and_va_range(
                translation,
                0,
                ROOT_LEVEL,
                El1And0,
                VaRange::Lower,
            ),
        }
    }

    /// Maps `[start, end)` to itself with `attributes` (pages are rounded outwards).
    pub fn map(
        &mut self,
        start: usize,
        end: usize,
        attributes: El1Attributes,
    ) -> Result<(), MapError> {
        self.mapping.map_range(
            &MemoryRegion::new(start, end),
            PhysicalAddress(start),
            attributes,
            Constraints::empty(),
        )
    }

    /// Maps `[start, end)` like [`map`](Self::map), except the 4 KiB pages starting at each
    /// address in `holes` (guard pages), which stay unmapped.
    pub fn map_with_holes(
        &mut self,
        start: usize,
        end: usize,
        attributes: El1Attributes,
        holes: impl Iterator<Item = usize>,
    ) -> Result<(), MapError> {
        let mut sorted = [0usize; 16];
        let mut n = 0;
        for h in holes.filter(|h| (start..end).contains(h)) {
            assert!(n < sorted.len(), "too many holes");
            sorted[n] = h & !0xfff;
            n += 1;
        }
        sorted[..n].sort_unstable();
        let mut from = start;
        for &h in &sorted[..n] {
            if h > from {
                self.map(from, h, attributes)?;
            }
            from = from.max(h + 0x1000);
        }
        if from < end {
            self.map(from, end, attributes)?;
        }
        Ok(())
    }

    /// Whether `addr` is mapped (walks the tables).
    pub fn is_mapped(&self, addr: usize) -> bool {
        let mut mapped = false;
        let region = MemoryRegion::new(addr & !0xfff, (addr & !0xfff) + 0x1000);
        let _ = self.mapping.walk_range(&region, &mut |_, d, level| {
            // A valid leaf: a page at level 3, or a block (no table bit) above it.
            if d.is_valid() && (level == 3 || !d.is_table_or_page()) {
                mapped = true;
            }
            Ok(())
        });
        mapped
    }

    /// Physical address of the root table (TTBR0_EL1 value).
    pub fn root_address(&self) -> usize {
        self.mapping.root_address().0
    }

    /// Turns the MMU on for the calling (primary) core with this map, enables the D- and
    /// I-caches (SCTLR_EL1.M/C/I) and records the settings for secondaries.
    ///
    /// # Safety
    ///
    /// The map must cover, with the right attributes, everything the program touches from
    /// now on: its image, stacks, heap, device tree and devices. Must run at EL1 with the MMU
    /// off, before any secondary core is started.
    pub unsafe fn activate(&mut self) {
        let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange);
        let tcr = (TCR_EL1::T0SZ.val(64 - VA_BITS)
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::SH0::Inner
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::TG1::KiB_4 // a valid value even though TTBR1 walks are off
            // IPS: what the CPU implements (ID_AA64MMFR0_EL1.PARange), at most 48 bits.
            + TCR_EL1::IPS.val(pa_range.min(5)))
        .value;
        // Tables were written with the MMU (and so the caches) off, straight to memory: drop
        // any stale lines an earlier boot stage may have left for them before walks become
        // cacheable (Linux does the same in head.S after building its early tables).
        let pool = (&raw mut POOL).cast::<u8>();
        // SAFETY: the pool is RAM we own; it holds only the tables just written to memory,
        // which the invalidate does not lose (with the caches off nothing is dirty).
        unsafe { crate::cache::invalidate(pool, core::mem::size_of::<Pool>()) };

        MAIR_EL1.set(MAIR.0);
        TCR_EL1.set(tcr);
        aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
        // SAFETY: the caller guarantees the map covers everything the program uses; the
        // tables live in a static pool and are never freed.
        unsafe { self.mapping.activate() };
        // SAFETY: TLB and I-cache invalidation only cost refills; required before enabling
        // translation so no stale entry is used (Arm ARM D8.13).
        unsafe {
            core::arch::asm!(
                "tlbi vmalle1",
                "ic iallu",
                "dsb nsh",
                "isb",
                options(nostack, preserves_flags)
            )
        };
        SCTLR_EL1.modify(
            SCTLR_EL1::M::Enable
                + SCTLR_EL1::C::Cacheable
                + SCTLR_EL1::I::Cacheable
                + SCTLR_EL1::SA::Enable
                + SCTLR_EL1::A::Disable
                + SCTLR_EL1::WXN::Disable,
        );
        aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
        crate::cpu::mark_atomics_ready();

        BOOT_MMU[1].store(tcr, Ordering::Relaxed);
        BOOT_MMU[2].store(MAIR.0, Ordering::Relaxed);
        BOOT_MMU[3].store(SCTLR_EL1.get(), Ordering::Relaxed);
        BOOT_MMU[0].store(self.root_address() as u64, Ordering::Release);
        // SAFETY: BOOT_MMU is mapped RAM; cleaning writes it to memory, where secondaries
        // read it with their MMU off.
        unsafe { crate::cache::clean(BOOT_MMU.as_ptr().cast(), core::mem::size_of_val(&BOOT_MMU)) };
    }
}

impl Default for IdentityMap {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether SCTLR_EL1 has the MMU (M), data cache (C) and instruction cache (I) enabled.
pub fn mmu_and_caches_enabled() -> (bool, bool, bool) {
    (
        SCTLR_EL1.is_set(SCTLR_EL1::M),
        SCTLR_EL1.is_set(SCTLR_EL1::C),
        SCTLR_EL1.is_set(SCTLR_EL1::I),
    )
}
