//! Starting secondary cores with PSCI `CPU_ON` through `aarch64-rt`'s `start_core`.
//!
//! Each secondary gets its own stack from a static array (in `.stack`, not loaded, not
//! zeroed). `aarch64-rt`'s secondary entry calls our `enable_mmu` hook first (same tables as
//! the primary, see [`crate::mmu`]), enables FP/SIMD, sets the stack and runs the closure,
//! which installs the vector table and jumps to the board's per-core entry.

use core::sync::atomic::{AtomicU32, Ordering};

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
}

/// Starts the core with affinity `mpidr` as logical core `index` (1..MAX_CPUS). It runs
/// `entry(index)` on its own stack with the MMU, caches and vectors set up like the primary's.
///
/// Requires the primary to have activated its identity map ([`crate::mmu::IdentityMap`]).
pub fn start_secondary(
    conduit: Conduit,
    index: usize,
    mpidr: u64,
    entry: fn(usize) -> !,
) -> Result<(), StartError> {
    if index == 0 || index >= MAX_CPUS {
        return Err(StartError::BadIndex(index));
    }
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
    let run = move || {
        crate::exceptions::install_vectors();
        crate::stacks::use_separate_exception_stack(index);
        crate::platform::enable_event_stream();
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

/// (logical index, guard page address) of every secondary stack: the lowest page, which the
/// board leaves out of its identity map so an overflow faults instead of corrupting memory.
pub fn secondary_stack_guards() -> impl Iterator<Item = (usize, usize)> {
    let base = (&raw const SECONDARY_STACKS) as usize;
    (1..MAX_CPUS).map(move |i| (i, base + (i - 1) * core::mem::size_of::<GuardedStack>()))
}
