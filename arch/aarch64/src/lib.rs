//! AArch64 glue shared by the dmasync boards: everything a Cortex-A board needs between the
//! reset vector and `main`, with no board addresses inside.
//!
//! - [`boot`]: entry via `aarch64-rt` (stack, `.bss`, FP/SIMD on before any Rust), the
//!   MMU-on hook secondaries run before touching their stack.
//! - [`exceptions`]: our own vector table (saves the FP/SIMD state so Rust IRQ handlers are
//!   safe) and the plain-text exception report (exit code 3).
//! - [`mmu`]: identity map with `aarch64-paging` over a static table pool; MMU and caches on.
//! - [`cache`]: clean / invalidate / clean+invalidate by VA (`dc` by `CTR_EL0.DminLine`);
//!   coherent maintenance over [`barrier`], the DMA hand-over barriers (`dsb`, `dmb osh*`).
//! - [`console`], [`logger`]: the one UART shared by plain text and defmt frames.
//! - [`spin`], [`critical_section_impl`]: SMP-safe locks that mask IRQs.
//! - [`stacks`]: threads on SP_EL0, exceptions on per-core SP_EL1 stacks, guard pages.
//! - [`timer`]: the generic timer: the counter behind `platform::now`, `DelayNs`, the EL1
//!   physical timer interrupt.
//! - [`gic`]: GICv2/GICv3 via `arm-gic`, IRQ dispatch table.
//! - [`psci`], [`smp`]: secondary cores via PSCI `CPU_ON`.
//! - [`semihosting`]: `SYS_EXIT` with an exit code (the test verdict).
//! - [`platform`]: dmasync's bare-metal `Platform` (WFE/SEV, generic timer, event stream),
//!   installed by the board with `dmasync_hal::set_platform!`.
//! - [`testkit`]: the tiny on-target test runner.
#![no_std]

extern crate alloc;

pub mod barrier;
pub mod boot;
pub mod cache;
pub mod console;
pub mod cpu;
pub mod critical_section_impl;
pub mod exceptions;
pub mod gic;
pub mod heap;
pub mod logger;
pub mod mmu;
pub mod panic;
pub mod platform;
pub mod psci;
pub mod semihosting;
pub mod smp;
pub mod spin;
pub mod stacks;
pub mod testkit;
pub mod timer;

/// Re-exported so board binaries can say `dmasync_aarch64::entry!(main)`.
pub use aarch64_rt::entry;

/// Exit codes shared with xtask: defined once, in the wire protocol crate.
pub use dmasync_protocol::exit as exit_code;
