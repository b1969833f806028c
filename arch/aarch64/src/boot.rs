//! Boot flow shared by every AArch64 board.
//!
//! `aarch64-rt` (feature `el1`) provides the reset entry: it calls `enable_mmu` (our hook in
//! [`crate::mmu`]), sets CPACR_EL1.FPEN so FP/SIMD does not trap before any Rust runs, zeroes
//! `.bss`, sets the boot stack and calls the board's `main(x0, x1, x2, x3)` registered with
//! [`entry!`](crate::entry), x0 being the device tree pointer when a Linux-style loader
//! started us.
//!
//! The hook first runs [`drop_to_el1`]: a core entered at EL2 (QEMU `virt,virtualization=on`,
//! the Linux-style boot of `imx8mp-evk`, U-Boot's `booti` on the i.MX 8M Plus) or at EL3 (an
//! ELF on `imx8mp-evk`, `virt,secure=on`) configures the higher levels for a 64-bit
//! non-secure EL1 and `eret`s down before any EL1 code runs. Everything above the hook (the
//! vectors, the translation regime, the timer, the GIC CPU interface) is EL1's. aarch64-rt
//! 0.4's `el2`/`el3` features make the whole image *run* at that level instead, which is not
//! what the rest of this crate is written for (doc/architecture-aarch64.md, "Boot").
//!
//! The board's `main` then calls [`early_init`] first thing, builds its identity map
//! ([`crate::mmu::IdentityMap`]), and so on.

use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{CNTHCTL_EL2, HCR_EL2, ICC_SRE_EL2, SCR_EL3, SPSR_EL2, SPSR_EL3};

/// What the boot core does first in Rust: point VBAR_EL1 at our vector table and move to
/// SP_EL0 with a separate exception stack ([`crate::stacks`]). Returns the exception level we
/// run at (always 1: [`drop_to_el1`] ran before). Secondaries do the same in
/// [`crate::smp::start_secondary`].
pub fn early_init() -> u8 {
    crate::exceptions::install_vectors();
    crate::stacks::use_separate_exception_stack(0);
    crate::platform::enable_event_stream();
    crate::cpu::current_el()
}

/// The exception level the boot core was entered at (1, 2 or 3), recorded by
/// [`drop_to_el1`] before it left that level. 0 if the hook never ran (cannot happen in an
/// image built on `aarch64-rt`'s entry).
pub fn entry_el() -> u8 {
    ENTRY_EL.load(Ordering::Relaxed) as u8
}

/// The boot core's entry EL. In `.data`, not `.bss`: written before `.bss` is zeroed.
#[unsafe(link_section = ".data.dmasync_entry_el")]
static ENTRY_EL: AtomicU64 = AtomicU64::new(0);

/// SPSR for the `eret`: EL1 with SP_EL1 (EL1h), D, A, I and F masked (they stay masked until
/// the board unmasks IRQs after its vectors and GIC are set up).
const SPSR_EL1H_MASKED_EL2: u64 = SPSR_EL2::D::Masked.value
    | SPSR_EL2::A::Masked.value
    | SPSR_EL2::I::Masked.value
    | SPSR_EL2::F::Masked.value
    | SPSR_EL2::M::EL1h.value;
const SPSR_EL1H_MASKED_EL3: u64 = SPSR_EL3::D::Masked.value
    | SPSR_EL3::A::Masked.value
    | SPSR_EL3::I::Masked.value
    | SPSR_EL3::F::Masked.value
    | SPSR_EL3::M::EL1h.value;
const _: () = assert!(SPSR_EL1H_MASKED_EL2 == 0x3c5 && SPSR_EL1H_MASKED_EL3 == 0x3c5);

/// HCR_EL2: EL1 is AArch64; nothing else (no stage 2, no traps, IRQs/FIQs to EL1: IMO/FMO
/// clear).
const HCR_EL2_VALUE: u64 = HCR_EL2::RW::EL1IsAarch64.value;

/// CNTHCTL_EL2 bits OR-ed in: EL1 may read the physical counter and use the physical timer
/// (Linux arch/arm64/include/asm/el2_setup.h `__init_el2_timers`).
const CNTHCTL_EL1_ACCESS: u64 = CNTHCTL_EL2::EL1PCEN::SET.value | CNTHCTL_EL2::EL1PCTEN::SET.value;

/// CPTR_EL2 without any trap: only its RES1 bits 13:12 and 9:0 (TFP, bit 10, clear: FP/SIMD
/// at EL1/EL0 not trapped). Linux `CPTR_EL2_DEFAULT` (arch/arm64/include/asm/kvm_arm.h).
/// aarch64-cpu 11 defines only CPTR_EL2.TAM.
const CPTR_EL2_NO_TRAPS: u64 = 0x33ff;

/// SCTLR_EL1's reset state for entry: MMU, caches and alignment checks off, little-endian,
/// only the ARMv8.0 RES1 bits set (29, 28, 23, 22, 20, 11; TF-A `SCTLR_EL1_RES1`,
/// include/arch/aarch64/arch.h). aarch64-cpu names no RES1 bits.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// SCR_EL3 for a non-secure AArch64 EL1: NS, RW, and bits 5:4, RES1 in ARMv8.0 (TF-A
/// `SCR_RES1_BITS`). SMC stays enabled (SMD clear): PSCI is reached through it.
const SCR_EL3_VALUE: u64 =
    SCR_EL3::RW::NextELIsAarch64.value | SCR_EL3::NS::NonSecure.value | (0b11 << 4);

/// ICC_SRE_ELx.SRE and .Enable: system-register GIC interface, and lower levels may use
/// theirs (Linux `__init_el2_gicv3`; the same bit positions in ICC_SRE_EL3, Arm IHI 0069
/// 12.2.x). Two ORs: 0b1001 is no logical immediate.
const ICC_SRE_SRE: u64 = ICC_SRE_EL2::SRE::SET.value;
const ICC_SRE_ENABLE: u64 = ICC_SRE_EL2::ENABLE::SET.value;

/// Leaves EL2 or EL3 for EL1h, the level the rest of the image runs at; a no-op at EL1.
/// Called (with `bl`) by the `enable_mmu` hook, on every core, before any stack or EL1 state
/// is used. Records the boot core's entry EL for [`entry_el`].
///
/// At EL2 and EL3 it sets up what Linux's `init_el2` (arch/arm64/kernel/head.S,
/// asm/el2_setup.h) sets for a kernel that stays at EL1: HCR_EL2.RW, the counter and timer
/// for EL1 (CNTHCTL_EL2, CNTVOFF_EL2 = 0), VPIDR/VMPIDR_EL2 from the real MIDR/MPIDR (EL1
/// reads those), no FP/SIMD, debug or PMU traps (CPTR_EL2, HSTR_EL2, MDCR_EL2.HPMN = all
/// counters), no stage 2 (VTTBR_EL2 = 0), GICv3 system registers for EL1 when the CPU has a
/// GICv3 CPU interface (ID_AA64PFR0_EL1.GIC), SCTLR_EL1's reset value; then SPSR_EL2 = EL1h
/// with DAIF masked and ELR_EL2 = the return address. From EL3 it first sets SCR_EL3
/// (RW | NS), CPTR_EL3 = 0 and ICC_SRE_EL3, and `eret`s with SPSR_EL3 / ELR_EL3 directly
/// to non-secure EL1 (EL2's registers above still apply: EL2 exists).
///
/// What it does not do at EL3: configure the GIC's interrupt groups (firmware's job; a
/// GIC with security left in its reset state gives non-secure EL1 no interrupts). QEMU's
/// Linux-style boot, the only EL2 entry we use, has done that (hw/arm/boot.c
/// `arm_emulate_firmware_reset`, the GIC's `irq_reset_nonsecure`).
///
/// Clobbers x8 and x9 only; x0-x7 (boot arguments, the PSCI context id) and x10-x30 are kept.
///
/// # Safety
///
/// Only for the `enable_mmu` hook: non-standard calling convention, MMU off, no stack.
#[unsafe(naked)]
#[unsafe(link_section = ".init.dmasync_drop_to_el1")]
pub unsafe extern "C" fn drop_to_el1() {
    core::arch::naked_asm!(
        "mrs x8, CurrentEL",
        "ubfx x8, x8, #2, #2",
        // Record the first (boot) core's entry EL; secondaries start long after.
        "adrp x9, {entry_el}",
        "add x9, x9, :lo12:{entry_el}",
        "ldr x9, [x9]",
        "cbnz x9, 1f",
        "adrp x9, {entry_el}",
        "add x9, x9, :lo12:{entry_el}",
        "str x8, [x9]",
        // The MMU is off, so the store went to memory: drop any stale line of it, so the
        // cached read after the MMU is on sees it.
        "dsb sy",
        "dc ivac, x9",
        "dsb sy",
        "1:",
        "cmp x8, #1",
        "b.eq 9f",
        "cmp x8, #3",
        "b.ne 2f",
        // --- EL3 ---
        "msr cptr_el3, xzr",
        "movz x9, #{scr}",
        "msr scr_el3, x9",
        "mrs x9, id_aa64pfr0_el1",
        "ubfx x9, x9, #24, #4",
        "cbz x9, 3f",
        "mrs x9, S3_6_C12_C12_5", // ICC_SRE_EL3
        "orr x9, x9, #{sre}",
        "orr x9, x9, #{sre_enable}",
        "msr S3_6_C12_C12_5, x9",
        "isb",
        "3:",
        "movz x9, #{spsr3}",
        "msr spsr_el3, x9",
        "adr x9, 9f",
        "msr elr_el3, x9",
        // --- EL2's registers, from EL2 or EL3 ---
        "2:",
        "movz x9, #{hcr_hi}, lsl #16",
        "msr hcr_el2, x9",
        "mrs x9, cnthctl_el2",
        "orr x9, x9, #{cnthctl}",
        "msr cnthctl_el2, x9",
        "msr cntvoff_el2, xzr",
        "mrs x9, midr_el1",
        "msr vpidr_el2, x9",
        "mrs x9, mpidr_el1",
        "msr vmpidr_el2, x9",
        "movz x9, #{cptr2}",
        "msr cptr_el2, x9",
        "msr hstr_el2, xzr",
        // MDCR_EL2.HPMN = PMCR_EL0.N (EL1 sees every event counter), all trap bits clear.
        "mrs x9, pmcr_el0",
        "ubfx x9, x9, #11, #5",
        "msr mdcr_el2, x9",
        "msr vttbr_el2, xzr",
        "mrs x9, id_aa64pfr0_el1",
        "ubfx x9, x9, #24, #4",
        "cbz x9, 4f",
        "mrs x9, S3_4_C12_C9_5", // ICC_SRE_EL2
        "orr x9, x9, #{sre}",
        "orr x9, x9, #{sre_enable}",
        "msr S3_4_C12_C9_5, x9",
        "isb",
        "msr S3_4_C12_C11_0, xzr", // ICH_HCR_EL2: no virtual interrupts
        "4:",
        "movz x9, #{sctlr_lo}",
        "movk x9, #{sctlr_hi}, lsl #16",
        "msr sctlr_el1, x9",
        "cmp x8, #3",
        "b.eq 5f",
        "movz x9, #{spsr2}",
        "msr spsr_el2, x9",
        "adr x9, 9f",
        "msr elr_el2, x9",
        "5:",
        "isb",
        "eret",
        // --- EL1 ---
        "9:",
        "ret",
        entry_el = sym ENTRY_EL,
        scr = const SCR_EL3_VALUE,
        sre = const ICC_SRE_SRE,
        sre_enable = const ICC_SRE_ENABLE,
        spsr3 = const SPSR_EL1H_MASKED_EL3,
        spsr2 = const SPSR_EL1H_MASKED_EL2,
        hcr_hi = const HCR_EL2_VALUE >> 16,
        cnthctl = const CNTHCTL_EL1_ACCESS,
        cptr2 = const CPTR_EL2_NO_TRAPS,
        sctlr_lo = const SCTLR_EL1_RESET & 0xffff,
        sctlr_hi = const SCTLR_EL1_RESET >> 16,
    )
}

const _: () = assert!(HCR_EL2_VALUE & 0xffff == 0 && HCR_EL2_VALUE >> 32 == 0);
const _: () = assert!(SCR_EL3_VALUE <= 0xffff && CPTR_EL2_NO_TRAPS <= 0xffff);
