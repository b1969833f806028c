//! ARMv7-A architecture glue for dmasync.
//!
//! Cache maintenance on a Cortex-A9-class system has two levels: the core's L1 data cache,
//! maintained by virtual address through CP15, and an outer PL310 (L2C-310) shared by all
//! cores, maintained by *physical* address through its registers (`drivers/pl310`, behind
//! [`dmasync_hal::cache::OuterCache`]). [`cache::TwoLevelCache`]
//! implements [`dmasync_hal::cache::CacheMaintenance`] for that pair, in the order each
//! direction needs; the order is host-tested against a recording fake. For a coherent DMA
//! master, [`cache::Armv7DmaBarrier`] is the hand-over barrier (`dsb` plus the outer cache's
//! sync), used through `dmasync_hal::cache::Coherent`.
//!
//! On target (`target_os = "none"`) the crate also brings a Cortex-A9 or, with the generic
//! timer and PSCI, a Cortex-A15 up:
//! - start-up and vectors from `aarch32-rt` (rust-embedded): per-mode, per-core stacks, `.data`
//!   and `.bss`, `kmain` in SYS mode; [`smp`] parks the other cores until released;
//! - [`exceptions`]: the abort, undefined-instruction, SVC and IRQ reports (exit code 3), with
//!   DFSR/IFSR decoded by [`fault`];
//! - [`mmu`]: short-descriptor identity map (RAM normal write-back, MMIO device, code
//!   read-only executable, everything else never-executable, stack guard pages unmapped), L1
//!   caches, branch prediction and ACTLR.SMP on;
//! - [`gic`]: a GICv2 through `arm-gic`, one register bank per core, IRQ dispatch;
//! - [`global_timer`]: the A9 global timer as the monotonic counter (Cortex-A9);
//! - [`generic_timer`]: the ARM generic timer (CP15 CNTFRQ/CNTPCT, the PL1 physical timer as a
//!   per-core tick) on cores that have it (Cortex-A7/A15/A17);
//! - [`clock`]: whichever of the two the board started, as the counter and `DelayNs`;
//! - [`psci`]: PSCI over HVC or SMC (SMCCC, the `smccc` crate): count the cores, start the
//!   secondaries with `CPU_ON` (boards whose firmware has PSCI, such as QEMU `virt`);
//! - [`semihosting`]: `SYS_EXIT_EXTENDED` with an exit code;
//! - [`platform`]: dmasync's bare-metal `Platform` (WFE/SEV, [`clock`]), installed by
//!   the board with `dmasync_hal::set_platform!`;
//! - [`FirmwareArch`]: binds `dmasync-firmware` (console, defmt logger, SMP locks,
//!   critical-section, heap, panic handler, test runner) to this CPU.
#![no_std]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod cache;
pub mod fault;

#[cfg(target_os = "none")]
pub mod clock;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod exceptions;
#[cfg(target_os = "none")]
pub mod generic_timer;
#[cfg(target_os = "none")]
pub mod gic;
#[cfg(target_os = "none")]
pub mod global_timer;
#[cfg(target_os = "none")]
pub mod mmu;
#[cfg(target_os = "none")]
pub mod platform;
#[cfg(target_os = "none")]
pub mod psci;
#[cfg(target_os = "none")]
pub mod semihosting;
#[cfg(target_os = "none")]
pub mod smp;

#[cfg(target_os = "none")]
pub use dmasync_firmware::{
    console, ensure, exit_code, heap, print, println, spin, test_info, testkit,
};

/// Re-exported so board binaries can say `#[dmasync_armv7a::entry] fn main() -> ! { .. }`.
#[cfg(target_os = "none")]
pub use aarch32_rt::entry;

/// The calling core's logical index: its MPIDR.Aff0 (a single A9 or A15 cluster numbers its
/// cores 0..=3).
#[cfg(target_os = "none")]
pub fn cpu_index() -> Option<usize> {
    let n = cpu::core_number();
    (n < cpu::MAX_CPUS).then_some(n)
}

/// The CPU facts `dmasync-firmware` needs, for ARMv7-A.
#[cfg(target_os = "none")]
#[derive(Debug)]
pub struct FirmwareArch;

#[cfg(target_os = "none")]
impl dmasync_firmware::Arch for FirmwareArch {
    fn mask_irqs() -> usize {
        cpu::mask_irqs() as usize
    }
    fn restore_irqs(saved: usize) {
        cpu::restore_irqs(saved as u32);
    }
    fn atomics_ready() -> bool {
        // LDREX/STREX are used from `kmain` on. QEMU's exclusive monitor works whatever the
        // memory type; on silicon the global monitor needs the MMU on with RAM normal
        // shareable memory before the secondaries are released.
        true
    }
    fn core_token() -> usize {
        cpu::mpidr() as usize + 1
    }
    fn cpu_index() -> Option<usize> {
        cpu_index()
    }
    fn core_id() -> usize {
        cpu::mpidr() as usize
    }
    fn counter() -> u64 {
        clock::counter()
    }
    fn counter_frequency() -> u64 {
        clock::frequency()
    }
    fn exit(code: u32) -> ! {
        semihosting::exit(code)
    }
}
#[cfg(target_os = "none")]
dmasync_firmware::bind_arch!(FirmwareArch);
