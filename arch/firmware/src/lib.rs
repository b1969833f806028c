//! What every dmasync bare-metal image shares, whatever its architecture: the pieces between
//! a UART and a verdict that need only "mask interrupts", "which core am I", "what time is it"
//! and "end the program" from the CPU.
//!
//! - [`console`], [`logger`]: the one UART shared by plain text and defmt frames.
//! - [`spin`], [`critical_section_impl`]: SMP-safe locks that mask IRQs.
//! - [`heap`]: the global allocator.
//! - [`panic`]: the panic handler (plain-text report, exit code 2).
//! - [`testkit`]: the tiny on-target test runner.
//!
//! The architecture crate (`dmasync-aarch64`, `dmasync-armv7a`) implements [`Arch`] and binds
//! it with [`bind_arch!`] once; the functions here reach it through link-time symbols, the way
//! `critical-section` and `defmt` bind their implementations. Why not generics: a
//! `#[panic_handler]`, a `#[defmt::global_logger]` and `static` locks cannot be generic.
#![no_std]

extern crate alloc;

pub mod console;
pub mod critical_section_impl;
pub mod heap;
pub mod logger;
pub mod panic;
pub mod spin;
pub mod testkit;

/// What this crate needs from the CPU. Every function is called with interrupts in any state,
/// on any core, from exception handlers too, so none may take a lock.
pub trait Arch {
    /// Masks IRQs and FIQs on this core; returns the previous mask bits (only those: the top
    /// bit must be clear, [`critical_section_impl`] uses it).
    fn mask_irqs() -> usize;
    /// Restores a value from [`mask_irqs`](Arch::mask_irqs).
    fn restore_irqs(saved: usize);
    /// Whether exclusive loads and stores work (the MMU and caches are on). Before that only
    /// the boot core runs, and the locks here are not touched.
    fn atomics_ready() -> bool;
    /// A non-zero value naming the calling core (owner of spin locks).
    fn core_token() -> usize;
    /// The calling core's logical index, if the board numbered the cores.
    fn cpu_index() -> Option<usize>;
    /// The calling core's hardware ID (MPIDR affinity), for reports before numbering.
    fn core_id() -> usize;
    /// A monotonic counter shared by all cores.
    fn counter() -> u64;
    /// Its frequency in Hz.
    fn counter_frequency() -> u64;
    /// Ends the program with `code` (semihosting exit under QEMU); never returns.
    fn exit(code: u32) -> !;
}

/// Binds the architecture's [`Arch`] implementation for this crate. Invoke it once, in the
/// architecture crate: `dmasync_firmware::bind_arch!(MyArch);`
#[macro_export]
macro_rules! bind_arch {
    ($arch:ty) => {
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_mask_irqs() -> usize {
            <$arch as $crate::Arch>::mask_irqs()
        }
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_restore_irqs(saved: usize) {
            <$arch as $crate::Arch>::restore_irqs(saved)
        }
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_atomics_ready() -> bool {
            <$arch as $crate::Arch>::atomics_ready()
        }
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_core_token() -> usize {
            <$arch as $crate::Arch>::core_token()
        }
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_cpu_index() -> Option<usize> {
            <$arch as $crate::Arch>::cpu_index()
        }
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_core_id() -> usize {
            <$arch as $crate::Arch>::core_id()
        }
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_counter() -> u64 {
            <$arch as $crate::Arch>::counter()
        }
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_counter_frequency() -> u64 {
            <$arch as $crate::Arch>::counter_frequency()
        }
        #[unsafe(no_mangle)]
        fn __dmasync_firmware_exit(code: u32) -> ! {
            <$arch as $crate::Arch>::exit(code)
        }
    };
}

/// The bound [`Arch`] functions, callable from this crate.
pub(crate) mod arch {
    // SAFETY (of the declarations): `bind_arch!` is the only definer of these symbols and it
    // gives each exactly this signature, checked against the `Arch` trait by the compiler.
    unsafe extern "Rust" {
        #[link_name = "__dmasync_firmware_mask_irqs"]
        pub safe fn mask_irqs() -> usize;
        #[link_name = "__dmasync_firmware_restore_irqs"]
        pub safe fn restore_irqs(saved: usize);
        #[link_name = "__dmasync_firmware_atomics_ready"]
        pub safe fn atomics_ready() -> bool;
        #[link_name = "__dmasync_firmware_core_token"]
        pub safe fn core_token() -> usize;
        #[link_name = "__dmasync_firmware_cpu_index"]
        pub safe fn cpu_index() -> Option<usize>;
        #[link_name = "__dmasync_firmware_core_id"]
        pub safe fn core_id() -> usize;
        #[link_name = "__dmasync_firmware_counter"]
        pub safe fn counter() -> u64;
        #[link_name = "__dmasync_firmware_counter_frequency"]
        pub safe fn counter_frequency() -> u64;
        #[link_name = "__dmasync_firmware_exit"]
        pub safe fn exit(code: u32) -> !;
    }
}

/// Ends the program with `code` through the architecture (semihosting exit under QEMU).
pub fn exit(code: u32) -> ! {
    arch::exit(code)
}

/// Exit codes shared with xtask: defined once, in the wire protocol crate.
pub use dmasync_protocol::exit as exit_code;
