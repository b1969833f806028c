//! PSCI through the `smccc` crate, with the conduit (HVC or SMC) chosen at run time from the
//! device tree's `/psci` `method` property.

use smccc::{Hvc, Smc};

/// How PSCI calls reach the firmware (or hypervisor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Conduit {
    /// `hvc #0` (QEMU virt without EL2: QEMU implements PSCI itself).
    Hvc,
    /// `smc #0` (TF-A at EL3, or QEMU with `virtualization=on`).
    Smc,
}

impl Conduit {
    /// Parses the device tree `method` string.
    pub fn from_dt_method(method: &str) -> Option<Self> {
        match method {
            "hvc" => Some(Self::Hvc),
            "smc" => Some(Self::Smc),
            _ => None,
        }
    }

    /// The lower-case name, as in the device tree.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hvc => "hvc",
            Self::Smc => "smc",
        }
    }
}

/// PSCI version as (major, minor).
pub fn version(conduit: Conduit) -> Result<(u16, u16), smccc::psci::Error> {
    let v = match conduit {
        Conduit::Hvc => smccc::psci::version::<Hvc>(),
        Conduit::Smc => smccc::psci::version::<Smc>(),
    }?;
    Ok((v.major, v.minor))
}

/// Whether the core with affinity `mpidr` is on, off or on its way (PSCI `AFFINITY_INFO`,
/// all affinity levels). `Err(InvalidParameters)` for a core the platform does not have.
pub fn affinity_info(
    conduit: Conduit,
    mpidr: u64,
) -> Result<smccc::psci::AffinityState, smccc::psci::Error> {
    use smccc::psci::LowestAffinityLevel::All;
    match conduit {
        Conduit::Hvc => smccc::psci::affinity_info::<Hvc>(mpidr, All),
        Conduit::Smc => smccc::psci::affinity_info::<Smc>(mpidr, All),
    }
}

/// Powers the machine off (QEMU exits with status 0). Returns only on failure.
pub fn system_off(conduit: Conduit) -> smccc::psci::Error {
    let r = match conduit {
        Conduit::Hvc => smccc::psci::system_off::<Hvc>(),
        Conduit::Smc => smccc::psci::system_off::<Smc>(),
    };
    match r {
        Ok(()) => smccc::psci::Error::NotSupported,
        Err(e) => e,
    }
}
