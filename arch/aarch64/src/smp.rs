//! Starting secondary cores, the way the board's firmware offers ([`StartMethod`]): PSCI
//! `CPU_ON` through `aarch64-rt`'s `start_core`, or a spin table (the boot loader parks the
//! cores in a loop that jumps to whatever address appears in a per-core release word; QEMU's
//! raspi boot stub, the Raspberry Pi `armstub8`, Linux `Documentation/arch/arm64/booting.rst`
//! "spin-table").
//!
//! Each secondary gets its own stack from a static array (in `.stack`, not loaded, not
//! zeroed). Both entries call our `enable_mmu` hook first (the drop to EL1, then the same
//! tables as the primary, see [`crate::mmu`]), enable FP/SIMD, set the stack and run the
//! per-core set-up (vector table, exception stack, event stream), then the board's entry.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use aarch64_rt::Stack;
use smccc::{Hvc, Smc};

use crate::cpu::MAX_CPUS;
use crate::psci::Conduit;

/// Stack size of each secondary core, in 4 KiB pages.
pub const SECONDARY_STACK_PAGES: usize = 16;

/// A secondary's stack with an (unmapped) guard page below it. The guard cannot be the
/// stack's own lowest page: `aarch64_rt::start_core` stores the entry closure there.
#[repr(C, align(4096))]
struct GuardedStack {
    guard: [u8; crate::stacks::GUARD_PAGE],
    stack: Stack<SECONDARY_STACK_PAGES>,
}

#[unsafe(link_section = ".stack.dmasync_secondary")]
static mut SECONDARY_STACKS: [GuardedStack; MAX_CPUS - 1] = [const {
    GuardedStack {
        guard: [0; crate::stacks::GUARD_PAGE],
        stack: Stack::new(),
    }
}; MAX_CPUS - 1];

/// Bit i set: the stack of logical core i has been handed out.
static STACKS_USED: AtomicU32 = AtomicU32::new(0);

/// Why a secondary could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// Logical index 0 is the boot core, and indices must be below [`MAX_CPUS`].
    BadIndex(usize),
    /// That core was already started.
    AlreadyStarted(usize),
    /// The PSCI call failed.
    Psci(smccc::psci::Error),
    /// The spin table names no release address for that logical core.
    NoReleaseAddress(usize),
    /// The core's release word is not zero: something released it already.
    ReleaseWordInUse(usize),
}

/// How the firmware lets secondaries start.
#[derive(Clone, Copy, Debug)]
pub enum StartMethod {
    /// PSCI `CPU_ON` over this conduit (QEMU virt, TF-A).
    Psci(Conduit),
    /// Release words of a spin table (QEMU raspi, the Pi firmware).
    SpinTable(SpinTable),
}

impl StartMethod {
    /// "psci-hvc", "psci-smc" or "spin-table", for banners.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Psci(Conduit::Hvc) => "psci-hvc",
            Self::Psci(Conduit::Smc) => "psci-smc",
            Self::SpinTable(_) => "spin-table",
        }
    }
}

/// The release words of a spin table: `release[i]` is the physical address of the 64-bit
/// word that logical core `i` polls (entry 0, the boot core's, is never written).
#[derive(Clone, Copy, Debug)]
pub struct SpinTable {
    release: &'static [usize],
}

impl SpinTable {
    /// The board's release addresses, by logical core index.
    ///
    /// # Safety
    ///
    /// Each address must be the 8-byte aligned release word the boot loader's spin loop of
    /// that core reads (it jumps to any non-zero value written there), in RAM that the
    /// identity map active when a core is started maps as normal memory, and used by
    /// nothing else of the program.
    pub const unsafe fn new(release: &'static [usize]) -> Self {
        Self { release }
    }

    /// The release word address of logical core `index`.
    pub fn release_address(&self, index: usize) -> Option<usize> {
        self.release.get(index).copied()
    }
}

/// What a core released from the spin table looks up by its MPIDR in
/// `dmasync_spin_table_entry` (layout fixed by that assembly: three u64s).
#[repr(C)]
struct SpinSlot {
    /// MPIDR affinity + 1 of the core this slot is for; 0 = free.
    key: AtomicU64,
    /// Top of its stack.
    stack_end: AtomicU64,
    /// Its logical index.
    index: AtomicU64,
}

const SPIN_SLOT_SIZE: usize = 24;
const _: () = assert!(core::mem::size_of::<SpinSlot>() == SPIN_SLOT_SIZE);

static SPIN_SLOTS: [SpinSlot; MAX_CPUS] = [const {
    SpinSlot {
        key: AtomicU64::new(0),
        stack_end: AtomicU64::new(0),
        index: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// The board's entry of each spin-table core, by logical index.
static SPIN_ENTRIES: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

/// Where a core leaving the spin table jumps to, at EL2 (or EL3/EL1) with the MMU off and
/// x0..x3 undefined: drop to EL1 and turn the MMU on (the `enable_mmu` hook, as
/// `aarch64-rt`'s entries do), FP/SIMD on, then find this core's slot by MPIDR, take its
/// stack and go to [`spin_table_rust_entry`]. A core without a slot parks in `wfe`.
/// The slot is read with the MMU and caches on, so the boot core's cached stores are seen.
#[unsafe(naked)]
unsafe extern "C" fn dmasync_spin_table_entry() -> ! {
    core::arch::naked_asm!(
        "bl enable_mmu",
        "mrs x8, cpacr_el1",
        "orr x8, x8, #(0x3 << 20)",
        "msr cpacr_el1, x8",
        "isb",
        "mrs x8, mpidr_el1",
        // MPIDR_AFFINITY_MASK = 0xff_00ff_ffff is no logical immediate: build it.
        "movz x9, #0xffff",
        "movk x9, #0xff, lsl #16",
        "movk x9, #0xff, lsl #32",
        "and x8, x8, x9",
        "add x8, x8, #1",
        "adrp x9, {slots}",
        "add x9, x9, :lo12:{slots}",
        "mov x10, #{n}",
        "1:",
        "ldr x11, [x9]",
        "cmp x11, x8",
        "b.eq 2f",
        "add x9, x9, #{size}",
        "subs x10, x10, #1",
        "b.ne 1b",
        "3:",
        "wfe",
        "b 3b",
        "2:",
        "ldr x11, [x9, #8]",
        "mov sp, x11",
        "ldr x0, [x9, #16]",
        "b {rust}",
        slots = sym SPIN_SLOTS,
        n = const MAX_CPUS,
        size = const SPIN_SLOT_SIZE,
        rust = sym spin_table_rust_entry,
    )
}

/// A spin-table core's first Rust code, on its own stack with the MMU on.
extern "C" fn spin_table_rust_entry(index: usize) -> ! {
    let entry = SPIN_ENTRIES[index].load(Ordering::Acquire);
    // SAFETY: `start_spin_table` stored a `fn(usize) -> !` there before releasing this core.
    let entry: fn(usize) -> ! = unsafe { core::mem::transmute::<usize, fn(usize) -> !>(entry) };
    per_core_setup(index);
    entry(index)
}

/// What every secondary does first, however it was started.
fn per_core_setup(index: usize) {
    crate::exceptions::install_vectors();
    crate::stacks::use_separate_exception_stack(index);
    crate::platform::enable_event_stream();
}

/// Starts the core with affinity `mpidr` as logical core `index` (1..MAX_CPUS). It runs
/// `entry(index)` on its own stack with the MMU, caches and vectors set up like the primary's.
///
/// Requires the primary to have activated its identity map ([`crate::mmu::IdentityMap`]).
pub fn start_secondary(
    method: StartMethod,
    index: usize,
    mpidr: u64,
    entry: fn(usize) -> !,
) -> Result<(), StartError> {
    if index == 0 || index >= MAX_CPUS {
        return Err(StartError::BadIndex(index));
    }
    let release = match method {
        StartMethod::SpinTable(t) => Some(
            t.release_address(index)
                .ok_or(StartError::NoReleaseAddress(index))?,
        ),
        StartMethod::Psci(_) => None,
    };
    let bit = 1u32 << index;
    if STACKS_USED.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
        return Err(StartError::AlreadyStarted(index));
    }
    // SAFETY: index - 1 < MAX_CPUS - 1; the STACKS_USED bit makes this the only user of that
    // stack, forever (the core never returns it). Only a raw pointer is formed.
    let stack = unsafe {
        &raw mut (*(&raw mut SECONDARY_STACKS)
            .cast::<GuardedStack>()
            .add(index - 1))
        .stack
    };
    let conduit = match (method, release) {
        (StartMethod::Psci(c), _) => c,
        (StartMethod::SpinTable(_), Some(word)) => {
            return start_spin_table(index, mpidr, stack, word, entry).inspect_err(|_| {
                STACKS_USED.fetch_and(!bit, Ordering::AcqRel);
            });
        }
        (StartMethod::SpinTable(_), None) => return Err(StartError::NoReleaseAddress(index)),
    };
    let run = move || {
        per_core_setup(index);
        entry(index)
    };
    // SAFETY: the stack is reserved for this core alone (above), lives forever, and is RAM
    // mapped identically (normal, cacheable) in the primary's tables, which the secondary
    // loads in `enable_mmu` before touching it.
    let r = unsafe {
        match conduit {
            Conduit::Hvc => {
                aarch64_rt::start_core::<Hvc, _, SECONDARY_STACK_PAGES>(mpidr, stack, run)
            }
            Conduit::Smc => {
                aarch64_rt::start_core::<Smc, _, SECONDARY_STACK_PAGES>(mpidr, stack, run)
            }
        }
    };
    r.map_err(|e| {
        STACKS_USED.fetch_and(!bit, Ordering::AcqRel);
        StartError::Psci(e)
    })
}

/// Releases core `mpidr` from the spin table word at `word` into
/// `dmasync_spin_table_entry` with `stack`: its slot first, then the word, cleaned to the point
/// of coherency (the core reads it with its MMU and caches off), `dsb sy`, `sev` (the
/// protocol of QEMU's raspi stub, hw/arm/raspi.c `write_smpboot64`, and of Linux's
/// `smp_spin_table.c`).
fn start_spin_table(
    index: usize,
    mpidr: u64,
    stack: *mut Stack<SECONDARY_STACK_PAGES>,
    word: usize,
    entry: fn(usize) -> !,
) -> Result<(), StartError> {
    let release = word as *mut u64;
    // SAFETY: `SpinTable::new`'s contract: an aligned release word in mapped RAM, nobody
    // else's. A volatile read: the boot loader's stub, not Rust, is its other user.
    if unsafe { release.read_volatile() } != 0 {
        return Err(StartError::ReleaseWordInUse(index));
    }
    let stack_end = stack.wrapping_add(1) as u64;
    SPIN_ENTRIES[index].store(entry as usize, Ordering::Release);
    let slot = &SPIN_SLOTS[index];
    slot.stack_end.store(stack_end, Ordering::Relaxed);
    slot.index.store(index as u64, Ordering::Relaxed);
    slot.key.store(mpidr + 1, Ordering::Release);
    // SAFETY: as above; the write is the documented release of that core, whose entry and
    // slot are set. `dc civac` on a mapped normal address, then the barriers and SEV, only
    // order memory and wake cores.
    unsafe {
        // The slot's stores are observed before the release word can be (which an eviction
        // could write back at any time after the store below).
        core::arch::asm!("dmb ish", options(nostack, preserves_flags));
        release.write_volatile(dmasync_spin_table_entry as *const () as usize as u64);
        core::arch::asm!(
            "dc civac, {w}",
            "dsb sy",
            "sev",
            w = in(reg) word,
            options(nostack, preserves_flags)
        );
    }
    Ok(())
}

/// (logical index, guard page address) of every secondary stack: the lowest page, which the
/// board leaves out of its identity map so an overflow faults instead of corrupting memory.
pub fn secondary_stack_guards() -> impl Iterator<Item = (usize, usize)> {
    let base = (&raw const SECONDARY_STACKS) as usize;
    (1..MAX_CPUS).map(move |i| (i, base + (i - 1) * core::mem::size_of::<GuardedStack>()))
}
