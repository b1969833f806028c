//! PSCI from AArch32 through the SMC Calling Convention (the `smccc` crate's 32-bit calls, which
//! emit `hvc #0` / `smc #0` as raw encodings, so no target feature is needed): the version,
//! `AFFINITY_INFO` to count the cores, `CPU_ON` to start them (Arm DEN 0022 "Arm Power State
//! Coordination Interface"). QEMU `virt` without EL2/EL3 implements PSCI itself behind HVC
//! (hw/arm/virt.c `psci-conduit`; target/arm/tcg/psci.c); with firmware at EL3 it is SMC.
//!
//! A core started by `CPU_ON` begins at the entry point in SVC mode with the MMU and caches
//! off (DEN 0022 6.4.3). [`start_secondaries`] passes aarch32-rt's reset entry, so a started
//! core runs the same start-up as every core of an ELF boot: VBAR, into [`crate::smp`]'s park
//! (already released), its own stacks, `kmain_secondary`.

use smccc::psci::{self as api, LowestAffinityLevel};
use smccc::{Hvc, Smc};

pub use smccc::psci::{AffinityState, Error};

/// How PSCI calls reach the firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`: a hypervisor, or QEMU's own PSCI when the machine has no EL2/EL3.
    Hvc,
    /// `smc #0`: secure firmware at EL3.
    Smc,
}

impl Conduit {
    /// "hvc" or "smc".
    pub fn name(self) -> &'static str {
        match self {
            Conduit::Hvc => "hvc",
            Conduit::Smc => "smc",
        }
    }
}

/// PSCI_VERSION as (major, minor).
pub fn version(conduit: Conduit) -> Result<(u16, u16), Error> {
    let v = match conduit {
        Conduit::Hvc => api::version::<Hvc>()?,
        Conduit::Smc => api::version::<Smc>()?,
    };
    Ok((v.major, v.minor))
}

/// AFFINITY_INFO (32-bit) of the core `mpidr` (its affinity fields).
pub fn affinity_info(conduit: Conduit, mpidr: u32) -> Result<AffinityState, Error> {
    match conduit {
        Conduit::Hvc => api::affinity_info_32::<Hvc>(mpidr, LowestAffinityLevel::All),
        Conduit::Smc => api::affinity_info_32::<Smc>(mpidr, LowestAffinityLevel::All),
    }
}

/// How many of `mpidrs` exist: the prefix up to the first one PSCI answers
/// INVALID_PARAMETERS for (QEMU does so for a core `-smp` did not create,
/// target/arm/tcg/psci.c). Any other error is returned with the core it was for.
pub fn count_cpus(conduit: Conduit, mpidrs: &[u32]) -> Result<usize, (u32, Error)> {
    let mut n = 0;
    for &m in mpidrs {
        match affinity_info(conduit, m) {
            Ok(_) => n += 1,
            Err(Error::InvalidParameters) => break,
            Err(e) => return Err((m, e)),
        }
    }
    Ok(n)
}

/// CPU_ON (32-bit): starts core `mpidr` at physical address `entry` with `context` in r0.
///
/// # Safety
///
/// `entry` must be code that can run on a core with the MMU and caches off, from reset state,
/// without disturbing what the running cores use (its own stacks only).
pub unsafe fn cpu_on(conduit: Conduit, mpidr: u32, entry: u32, context: u32) -> Result<(), Error> {
    match conduit {
        Conduit::Hvc => api::cpu_on_32::<Hvc>(mpidr, entry, context),
        Conduit::Smc => api::cpu_on_32::<Smc>(mpidr, entry, context),
    }
}

unsafe extern "C" {
    /// aarch32-rt's reset entry (`_default_start` unless the image provides its own).
    fn _start();
}

/// Why a secondary did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartError {
    /// The core's MPIDR affinity.
    pub mpidr: u32,
    /// What CPU_ON answered.
    pub error: Error,
}

/// Releases [`crate::smp`]'s park into `entry(core_number)` and starts every core of
/// `mpidrs` other than the calling one with CPU_ON at aarch32-rt's reset entry. Call once,
/// from the boot core, after everything the secondaries use is set up (the MMU tables
/// included: each secondary turns its MMU on with the boot core's tables). Returns how many
/// were started.
pub fn start_secondaries(
    conduit: Conduit,
    mpidrs: &[u32],
    entry: fn(usize) -> !,
) -> Result<usize, StartError> {
    // Released first: a started core passes straight through its park.
    crate::smp::release(entry);
    let me = crate::cpu::mpidr();
    let reset = _start as *const () as usize as u32;
    let mut started = 0;
    for &m in mpidrs.iter().filter(|&&m| m != me) {
        // SAFETY: the reset entry is aarch32-rt's start-up, which on a core other than 0
        // touches only that core's registers, its own stacks and the park's release word
        // before `kmain_secondary` (smp); the image is identity mapped, so its link address
        // is the physical address.
        unsafe { cpu_on(conduit, m, reset, 0) }.map_err(|error| StartError { mpidr: m, error })?;
        started += 1;
    }
    Ok(started)
}
