//! The MMU from short-descriptor translation tables (ARM ARM v7-A/R, B3.5), identity mapped:
//! RAM normal write-back write-allocate shareable memory, MMIO shareable device memory,
//! everything never-executable except the image's vectors and code, which are read-only; the
//! lowest 4 KiB page of every core's stack of every mode left unmapped as a guard page. Then
//! the L1 caches and branch prediction on, with ACTLR.SMP so the SCU keeps the cores' L1s
//! coherent.
//!
//! 1 MiB sections cover RAM and MMIO; the MiBs the image occupies are split into 4 KiB small
//! pages (second-level tables) for the permissions and the guard pages. The tables live in
//! `.bss` (the L1 table 16 KiB aligned, as TTBR0 with TTBCR.N = 0 requires).
//!
//! Descriptor formats: B3.5.1 (first level: section, page table), B3.5.2 (small page);
//! memory attributes with TEX remap off (SCTLR.TRE = 0): B3.8.2, table B3-10; access
//! permissions: B3.7.1 (AP[2:0] = 0b001 privileged RW, 0b101 privileged RO).

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// One of the board's address ranges to map with 1 MiB sections.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    /// First byte (1 MiB aligned).
    pub start: u32,
    /// One past the last byte (1 MiB aligned; 0 means the end of the address space).
    pub end: u32,
    /// Normal memory or device memory.
    pub kind: Kind,
}

/// How a region is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Normal, write-back write-allocate, shareable, read/write, never executable.
    Ram,
    /// Shareable device memory, read/write, never executable.
    Device,
}

/// Why the tables could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmuError {
    /// A region's bounds are not 1 MiB aligned (start, end).
    Unaligned(u32, u32),
    /// The image spans more MiBs than the second-level table pool holds (MiBs needed).
    ImageTooLarge(usize),
    /// The image is not inside a `Kind::Ram` region.
    ImageOutsideRam,
    /// `init_primary` was called twice.
    AlreadyBuilt,
    /// The image's code or read-only data does not start and end on a 4 KiB page (the
    /// linker script's `_region_alignment` must be 4096), so a page would need two sets of
    /// permissions; the address found.
    SectionsNotPageAligned(u32),
}

const SECTION: u32 = 0b10;
const PAGE_TABLE: u32 = 0b01;
const SMALL_PAGE: u32 = 0b10;

// First-level section attribute bits.
const S_B: u32 = 1 << 2;
const S_C: u32 = 1 << 3;
const S_XN: u32 = 1 << 4;
const S_AP_PRIV_RW: u32 = 0b01 << 10;
const S_TEX_001: u32 = 0b001 << 12;
const S_SHAREABLE: u32 = 1 << 16;
const SECTION_RAM: u32 = SECTION | S_TEX_001 | S_C | S_B | S_SHAREABLE | S_AP_PRIV_RW | S_XN;
// Shareable Device: TEX 000, C 0, B 1 (the S bit is ignored for device memory).
const SECTION_DEVICE: u32 = SECTION | S_B | S_AP_PRIV_RW | S_XN;

// Second-level small-page attribute bits.
const P_XN: u32 = 1 << 0;
const P_B: u32 = 1 << 2;
const P_C: u32 = 1 << 3;
const P_AP_01: u32 = 0b01 << 4;
const P_TEX_001: u32 = 0b001 << 6;
const P_AP2: u32 = 1 << 9;
const P_SHAREABLE: u32 = 1 << 10;
const PAGE_NORMAL: u32 = SMALL_PAGE | P_TEX_001 | P_C | P_B | P_SHAREABLE | P_AP_01;
const PAGE_RW_DATA: u32 = PAGE_NORMAL | P_XN;
const PAGE_RO_DATA: u32 = PAGE_NORMAL | P_AP2 | P_XN;
const PAGE_CODE: u32 = PAGE_NORMAL | P_AP2;
/// An invalid entry: any access is a translation fault (the guard pages).
const FAULT: u32 = 0;

const MIB: u32 = 1 << 20;
const PAGE: u32 = 4096;
/// Second-level tables in the pool: the image's MiBs (16 MiB span, not MiB aligned: 17).
const L2_TABLES: usize = 20;

#[repr(C, align(16384))]
struct L1Table([u32; 4096]);
#[repr(C, align(1024))]
struct L2Table([u32; 256]);

struct Tables {
    l1: UnsafeCell<L1Table>,
    l2: UnsafeCell<[L2Table; L2_TABLES]>,
}
// SAFETY: written only by `init_primary`, once (BUILT), on the boot core before any other core
// runs; afterwards read only by the MMU's table walks.
unsafe impl Sync for Tables {}

static TABLES: Tables = Tables {
    l1: UnsafeCell::new(L1Table([0; 4096])),
    l2: UnsafeCell::new([const { L2Table([0; 256]) }; L2_TABLES]),
};
static BUILT: AtomicBool = AtomicBool::new(false);
/// TTBR0 value the secondaries load (0 until the primary built the tables).
static TTBR0: AtomicU32 = AtomicU32::new(0);

unsafe extern "C" {
    static __svector: u8;
    static __etext: u8;
    static __srodata: u8;
    static __erodata: u8;
    static _und_stack_low_end: u8;
    static _und_stack_high_end: u8;
    static _svc_stack_low_end: u8;
    static _svc_stack_high_end: u8;
    static _abt_stack_low_end: u8;
    static _abt_stack_high_end: u8;
    static _irq_stack_low_end: u8;
    static _irq_stack_high_end: u8;
    static _fiq_stack_low_end: u8;
    static _fiq_stack_high_end: u8;
    static _sys_stack_low_end: u8;
    static _sys_stack_high_end: u8;
    static _num_cores: u8;
}

fn addr(sym: &u8) -> u32 {
    sym as *const u8 as u32
}

/// Each mode's stack area (name, low end, high end) as aarch32-rt's link.x lays it out:
/// `_num_cores` slots of equal size; core n's slot is the n-th from the top.
fn stack_areas() -> [(&'static str, u32, u32); 6] {
    // SAFETY: link-time symbols; only their addresses are taken.
    unsafe {
        [
            ("UND", addr(&_und_stack_low_end), addr(&_und_stack_high_end)),
            ("SVC", addr(&_svc_stack_low_end), addr(&_svc_stack_high_end)),
            ("ABT", addr(&_abt_stack_low_end), addr(&_abt_stack_high_end)),
            ("IRQ", addr(&_irq_stack_low_end), addr(&_irq_stack_high_end)),
            ("FIQ", addr(&_fiq_stack_low_end), addr(&_fiq_stack_high_end)),
            ("SYS", addr(&_sys_stack_low_end), addr(&_sys_stack_high_end)),
        ]
    }
}

fn num_cores() -> u32 {
    // SAFETY: a link-time constant; only its address is taken.
    unsafe { addr(&_num_cores) }
}

/// The guard pages: (mode, core, page address) for every mode and core.
pub fn guard_pages() -> impl Iterator<Item = (&'static str, usize, u32)> {
    let n = num_cores();
    stack_areas()
        .into_iter()
        .flat_map(move |(mode, low, high)| {
            let size = (high - low) / n.max(1);
            (0..n).map(move |core| (mode, core as usize, high - (core + 1) * size))
        })
}

/// Whether `far` lies in a stack guard page, and whose: for the abort report.
pub fn guard_page_owner(far: u32) -> Option<(&'static str, usize)> {
    if !BUILT.load(Ordering::Acquire) {
        return None;
    }
    guard_pages()
        .find(|&(_, _, page)| (page..page + PAGE).contains(&far))
        .map(|(mode, core, _)| (mode, core))
}

/// The image's first and last byte (vectors to the top of the stacks).
fn image_span() -> (u32, u32) {
    let top = stack_areas().iter().map(|a| a.2).max().unwrap_or(0);
    // SAFETY: link-time symbol; only its address is taken.
    (unsafe { addr(&__svector) }, top)
}

fn page_kind(page: u32) -> u32 {
    // SAFETY: link-time symbols; only their addresses are taken.
    let (code, code_end, ro, ro_end) = unsafe {
        (
            addr(&__svector),
            addr(&__etext),
            addr(&__srodata),
            addr(&__erodata),
        )
    };
    if guard_pages().any(|(_, _, g)| g == page) {
        FAULT
    } else if page >= code && page < code_end {
        PAGE_CODE
    } else if page >= ro && page < ro_end {
        PAGE_RO_DATA
    } else {
        PAGE_RW_DATA
    }
}

/// Builds the tables for `regions` and the image, then turns the MMU, the L1 caches and branch
/// prediction on for the boot core.
///
/// # Safety
///
/// Call once, on the boot core, before any other core runs and with the MMU off; `regions` must
/// describe this machine (RAM that exists, MMIO as device): a wrong map makes later accesses
/// fault or alias. The image's code and stacks must lie in a `Kind::Ram` region.
pub unsafe fn init_primary(regions: &[Region]) -> Result<(), MmuError> {
    if BUILT.load(Ordering::Acquire) {
        return Err(MmuError::AlreadyBuilt);
    }
    for r in regions {
        if r.start % MIB != 0 || r.end % MIB != 0 {
            return Err(MmuError::Unaligned(r.start, r.end));
        }
    }
    // SAFETY: link-time symbols; only their addresses are taken.
    let bounds = unsafe {
        [
            addr(&__svector),
            addr(&__etext),
            addr(&__srodata),
            addr(&__erodata),
        ]
    };
    if let Some(&a) = bounds.iter().find(|&&a| a % PAGE != 0) {
        return Err(MmuError::SectionsNotPageAligned(a));
    }
    let (img_start, img_end) = image_span();
    let in_ram = regions
        .iter()
        .any(|r| r.kind == Kind::Ram && img_start >= r.start && (r.end == 0 || img_end <= r.end));
    if !in_ram {
        return Err(MmuError::ImageOutsideRam);
    }
    let first_mib = img_start / MIB;
    let last_mib = (img_end - 1) / MIB;
    let mibs = (last_mib - first_mib + 1) as usize;
    if mibs > L2_TABLES {
        return Err(MmuError::ImageTooLarge(mibs));
    }
    // SAFETY: the contract makes us the only code running, and BUILT is still false, so no
    // table walk or other writer uses the tables.
    let (l1, l2) = unsafe { (&mut (*TABLES.l1.get()).0, &mut *TABLES.l2.get()) };
    for r in regions {
        let attrs = match r.kind {
            Kind::Ram => SECTION_RAM,
            Kind::Device => SECTION_DEVICE,
        };
        let end_mib = if r.end == 0 { 4096 } else { r.end / MIB };
        for mib in r.start / MIB..end_mib {
            l1[mib as usize] = (mib * MIB) | attrs;
        }
    }
    for (i, mib) in (first_mib..=last_mib).enumerate() {
        let table = &mut l2[i].0;
        for (j, entry) in table.iter_mut().enumerate() {
            let page = mib * MIB + j as u32 * PAGE;
            *entry = match page_kind(page) {
                FAULT => FAULT,
                attrs => page | attrs,
            };
        }
        l1[mib as usize] = (table.as_ptr() as u32) | PAGE_TABLE;
    }
    // TTBR0: the table, inner and outer write-back write-allocate walks (IRGN = 0b01: bit 6
    // set, bit 0 clear with the Multiprocessing Extensions; RGN = 0b01), shareable (S).
    let ttbr0 = (l1.as_ptr() as u32) | (1 << 6) | (0b01 << 3) | (1 << 1);
    TTBR0.store(ttbr0, Ordering::Release);
    BUILT.store(true, Ordering::Release);
    // SAFETY: the tables identity-map this code, its data and stacks (checked above).
    unsafe { enable(ttbr0) };
    Ok(())
}

/// Turns the MMU and caches on for a secondary core with the tables the primary built.
///
/// # Safety
///
/// Call on a secondary core, MMU off, after `init_primary` returned `Ok`.
pub unsafe fn init_secondary() -> bool {
    let ttbr0 = TTBR0.load(Ordering::Acquire);
    if ttbr0 == 0 {
        return false;
    }
    // SAFETY: the primary's tables identity-map everything the secondary uses.
    unsafe { enable(ttbr0) };
    true
}

/// SCTLR bits: M (MMU), C (data cache), Z (branch prediction), I (instruction cache).
const SCTLR_M: u32 = 1 << 0;
const SCTLR_C: u32 = 1 << 2;
const SCTLR_Z: u32 = 1 << 11;
const SCTLR_I: u32 = 1 << 12;

/// The calling core's SCTLR.
pub fn sctlr() -> u32 {
    let v: u32;
    // SAFETY: reading SCTLR has no side effects.
    unsafe {
        asm!("mrc p15, 0, {}, c1, c0, 0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// (MMU, D-cache, I-cache, branch prediction) on for the calling core.
pub fn enabled() -> (bool, bool, bool, bool) {
    let s = sctlr();
    (
        s & SCTLR_M != 0,
        s & SCTLR_C != 0,
        s & SCTLR_I != 0,
        s & SCTLR_Z != 0,
    )
}

/// Invalidates the L1 data cache by set/way from CCSIDR's geometry (B4.2.1), so no stale
/// line from before reset turns valid when the cache is switched on.
fn invalidate_l1_dcache() {
    // SAFETY: select the L1 data cache in CSSELR, read its geometry; DCISW on every set/way
    // only discards lines, and the data cache is off (nothing in it is newer than memory).
    unsafe {
        asm!("mcr p15, 2, {}, c0, c0, 0", "isb", in(reg) 0u32, options(nostack, preserves_flags));
        let ccsidr: u32;
        asm!("mrc p15, 1, {}, c0, c0, 0", out(reg) ccsidr, options(nomem, nostack, preserves_flags));
        let line_shift = (ccsidr & 7) + 4;
        let ways = ((ccsidr >> 3) & 0x3ff) + 1;
        let sets = ((ccsidr >> 13) & 0x7fff) + 1;
        let way_shift = (ways - 1).leading_zeros() % 32;
        for way in 0..ways {
            for set in 0..sets {
                let sw = (way.checked_shl(way_shift).unwrap_or(0)) | (set << line_shift);
                asm!("mcr p15, 0, {}, c7, c6, 2", in(reg) sw, options(nostack, preserves_flags));
            }
        }
        asm!("dsb", options(nostack, preserves_flags));
    }
}

unsafe fn enable(ttbr0: u32) {
    invalidate_l1_dcache();
    // SAFETY: the caller guarantees the tables identity-map everything in use. ACTLR.SMP
    // (bit 6) before the D-cache is on, so this core takes part in SCU coherency (Cortex-A9
    // TRM 4.3.10); DACR: domain 0 client (permissions checked); TTBCR 0: TTBR0 for all
    // addresses; TLB, I-cache and branch predictor invalidated before the switch.
    unsafe {
        asm!(
            "mrc p15, 0, {t}, c1, c0, 1",
            "orr {t}, {t}, #0x40",
            "mcr p15, 0, {t}, c1, c0, 1",
            "mcr p15, 0, {one}, c3, c0, 0",
            "mcr p15, 0, {zero}, c2, c0, 2",
            "mcr p15, 0, {ttbr0}, c2, c0, 0",
            "mcr p15, 0, {zero}, c8, c7, 0",
            "mcr p15, 0, {zero}, c7, c5, 0",
            "mcr p15, 0, {zero}, c7, c5, 6",
            "dsb",
            "isb",
            "mrc p15, 0, {t}, c1, c0, 0",
            "orr {t}, {t}, {bits}",
            "mcr p15, 0, {t}, c1, c0, 0",
            "isb",
            t = out(reg) _,
            one = in(reg) 1u32,
            zero = in(reg) 0u32,
            ttbr0 = in(reg) ttbr0,
            bits = in(reg) SCTLR_M | SCTLR_C | SCTLR_Z | SCTLR_I,
            options(nostack)
        );
    }
}
