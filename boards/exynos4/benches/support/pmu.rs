//! Retired-instruction counting with the ARMv7 PMU (PMUv2 on the Cortex-A9), for the icount
//! benchmarks: event counter 0 selected through PMSELR and programmed with the architectural
//! event 0x08, instruction architecturally executed (ARMv7-A ARM C12.8 "Event numbers";
//! Cortex-A9 TRM 11.4). The CP15 c9 encodings are ARMv7-A ARM B4.1.116 ff. (PMCR c9,c12,0;
//! PMCNTENSET c9,c12,1; PMSELR c9,c12,5; PMCEID0 c9,c12,6; PMXEVTYPER c9,c13,1; PMXEVCNTR
//! c9,c13,2). QEMU's TCG PMU implements the event only in precise icount mode (`-icount
//! shift=0`). Its Cortex-A9 has no PMCEID0 (reading it is undefined), so `start` checks the
//! counter instead: 1000 `nop`s must count at least 1000 instructions. The count is
//! machine-wide (`icount_get_raw()`): the bench keeps CPU 1 halted in WFI.

/// PMCR: E (enable, bit 0), P (reset event counters, bit 1).
const PMCR_E: u32 = 1;
const PMCR_P: u32 = 2;
/// The architectural event number of "instruction architecturally executed".
const INST_RETIRED: u32 = 0x08;

/// Programs event counter 0 to count retired instructions and starts it. `false` when the
/// counter does not count them (QEMU without `-icount`).
pub fn start() -> bool {
    let pmcr: u32;
    // SAFETY: this image owns the PMU; the writes select counter 0, set its event, enable it,
    // then enable and reset the event counters.
    unsafe {
        core::arch::asm!("mrc p15, 0, {}, c9, c12, 0", out(reg) pmcr, options(nomem, nostack, preserves_flags));
        core::arch::asm!(
            "mcr p15, 0, {sel}, c9, c12, 5",
            "isb",
            "mcr p15, 0, {ev}, c9, c13, 1",
            "mcr p15, 0, {en}, c9, c12, 1",
            "mcr p15, 0, {cr}, c9, c12, 0",
            "isb",
            sel = in(reg) 0u32,
            ev = in(reg) INST_RETIRED,
            en = in(reg) 1u32,
            cr = in(reg) pmcr | PMCR_E | PMCR_P,
            options(nostack, preserves_flags)
        );
    }
    let t0 = instructions();
    for _ in 0..1000 {
        // SAFETY: a `nop` has no effect.
        unsafe { core::arch::asm!("nop", options(nomem, nostack, preserves_flags)) };
    }
    instructions().wrapping_sub(t0) >= 1000
}

/// Event counter 0 (PMSELR stays 0: only `start` writes it).
#[inline(always)]
pub fn instructions() -> u32 {
    let v: u32;
    // SAFETY: reading PMXEVCNTR (counter 0, selected by `start`) has no side effect; `isb`
    // keeps it in program order.
    unsafe {
        core::arch::asm!("isb", "mrc p15, 0, {}, c9, c13, 2", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}
