//! AArch64 glue shared by the dmasync boards: everything a Cortex-A board needs between the
//! reset vector and `main`, with no board addresses inside.
//!
//! - [`boot`]: entry via `aarch64-rt` (stack, `.bss`, FP/SIMD on before any Rust), the drop
//!   from EL2/EL3 to EL1, the MMU-on hook secondaries run before touching their stack.
//! - [`exceptions`]: our own vector table (saves the FP/SIMD state so Rust IRQ handlers are
//!   safe) and the plain-text exception report (exit code 3).
//! - [`mmu`]: identity map with `aarch64-paging` over a static table pool; MMU and caches on.
//! - [`cache`]: clean / invalidate / clean+invalidate by VA (`dc` by `CTR_EL0.DminLine`);
//!   coherent maintenance over [`barrier`], the DMA hand-over barriers (`dsb`, `dmb osh*`).
//! - [`console`], [`spin`], [`heap`], [`testkit`]: re-exported from `dmasync-firmware`, which
//!   every architecture shares (console and defmt logger, SMP locks, critical-section, heap,
//!   panic handler, test runner); this crate binds it to the CPU ([`FirmwareArch`]).
//! - [`stacks`]: threads on SP_EL0, exceptions on per-core SP_EL1 stacks, guard pages.
//! - [`timer`]: the generic timer: the counter behind `platform::now`, `DelayNs`, the EL1
//!   physical timer interrupt.
//! - [`irq`]: IRQ dispatch (handler table by ID) over the board's interrupt controller;
//!   [`gic`]: GICv2/GICv3 via `arm-gic`, one such controller.
//! - [`psci`], [`smp`]: secondary cores via PSCI `CPU_ON`; [`bringup`]: what each does
//!   first (GIC CPU interface, timer tick) and the boot core's wait for them.
//! - [`ticks`]: the EL1 physical timer's interrupt handler (tick counts, never early).
//! - [`semihosting`]: `SYS_EXIT` with an exit code (the test verdict).
//! - [`platform`]: dmasync's bare-metal `Platform` (WFE/SEV, generic timer, event stream),
//!   installed by the board with `dmasync_hal::set_platform!`.
#![no_std]

extern crate alloc;

pub mod barrier;
pub mod boot;
pub mod bringup;
pub mod cache;
pub mod cpu;
pub mod exceptions;
pub mod gic;
pub mod irq;
pub mod mmu;
pub mod platform;
pub mod psci;
pub mod semihosting;
pub mod smp;
pub mod stacks;
pub mod ticks;
pub mod timer;

pub use dmasync_firmware::{console, heap, print, println, spin, testkit};
pub use dmasync_firmware::{ensure, test_info};

/// The CPU facts `dmasync-firmware` needs, for AArch64.
#[derive(Debug)]
pub struct FirmwareArch;

impl dmasync_firmware::Arch for FirmwareArch {
    fn mask_irqs() -> usize {
        // Only DAIF's D, A, I and F bits (0x3c0): the top bit must stay clear.
        (cpu::mask_irqs() & 0x3c0) as usize
    }
    fn restore_irqs(saved: usize) {
        cpu::restore_irqs(saved as u64);
    }
    fn atomics_ready() -> bool {
        cpu::atomics_ready()
    }
    fn core_token() -> usize {
        cpu::owner_token() as usize
    }
    fn cpu_index() -> Option<usize> {
        cpu::cpu_index()
    }
    fn core_id() -> usize {
        cpu::mpidr() as usize
    }
    fn counter() -> u64 {
        timer::counter()
    }
    fn counter_frequency() -> u64 {
        timer::counter_frequency()
    }
    fn exit(code: u32) -> ! {
        semihosting::exit(code)
    }
}
dmasync_firmware::bind_arch!(FirmwareArch);

/// Re-exported so board binaries can say `dmasync_aarch64::entry!(main)`.
pub use aarch64_rt::entry;

/// Exit codes shared with xtask: defined once, in the wire protocol crate.
pub use dmasync_protocol::exit as exit_code;
