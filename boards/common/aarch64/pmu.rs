//! Retired-instruction counting with the PMU, shared by the icount benchmarks: event
//! counter 0 programmed with `INST_RETIRED` (0x08). QEMU's TCG PMU implements the event only
//! in precise icount mode (`-icount shift=0`), and then counts the instructions of every
//! vCPU (`icount_get_raw()`, one count for the machine under round-robin TCG).

/// PMCR_EL0: E (enable, bit 0), P (reset event counters, bit 1).
const PMCR_E: u64 = 1;
const PMCR_P: u64 = 2;
/// The architectural event number of INST_RETIRED.
const INST_RETIRED: u64 = 0x08;

/// Programs event counter 0 to count retired instructions at EL0 and EL1 and starts it.
/// `false` when the PMU does not implement INST_RETIRED (QEMU without `-icount`).
pub fn start() -> bool {
    let ceid0: u64;
    // SAFETY: reading PMCEID0_EL0 has no side effect; the PMU registers are accessible at
    // EL1 (we run at EL1; MDCR_EL2 traps are off without a hypervisor).
    unsafe {
        core::arch::asm!("mrs {}, pmceid0_el0", out(reg) ceid0, options(nomem, nostack, preserves_flags))
    };
    if ceid0 & (1 << INST_RETIRED) == 0 {
        return false;
    }
    let pmcr: u64;
    // SAFETY: this image owns the PMU; the writes select counter 0's event (filter bits 0:
    // count EL0 and EL1), enable counter 0, then enable and reset the event counters.
    unsafe {
        core::arch::asm!("mrs {}, pmcr_el0", out(reg) pmcr, options(nomem, nostack, preserves_flags));
        core::arch::asm!(
            "msr pmevtyper0_el0, {ev}",
            "msr pmcntenset_el0, {en}",
            "msr pmcr_el0, {cr}",
            "isb",
            ev = in(reg) INST_RETIRED,
            en = in(reg) 1u64,
            cr = in(reg) pmcr | PMCR_E | PMCR_P,
            options(nostack, preserves_flags)
        );
    }
    true
}

/// Event counter 0 (32 bits in PMUv3 before v3p5; regions here stay far below 2^32).
#[inline(always)]
pub fn instructions() -> u32 {
    let v: u64;
    // SAFETY: reading PMEVCNTR0_EL0 has no side effect; `isb` keeps it in program order.
    unsafe {
        core::arch::asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v as u32
}
