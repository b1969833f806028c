//! The exception reports: what `aarch32-rt`'s vector table and trampolines (which save the
//! registers and switch to the mode's own stack) call. Each report is plain text on the
//! emergency console, names the core, the exception, the mode it was taken in and the mode
//! it interrupted, decodes DFSR/IFSR, gives DFAR/IFAR and the faulting instruction's address,
//! then ends the program with the exception exit code 3 (doc/testing.md).
//!
//! No exception is resumed: an abort in this firmware is a bug, and the test verdict is the
//! report.

use core::arch::asm;
use core::fmt::Write;

use crate::fault::{FaultStatus, mode_name};

/// SPSR of the current exception mode: the interrupted code's CPSR.
fn spsr() -> u32 {
    let spsr: u32;
    // SAFETY: reading SPSR in an exception mode has no side effects.
    unsafe { asm!("mrs {}, spsr", out(reg) spsr, options(nomem, nostack, preserves_flags)) };
    spsr
}

fn read_cp15_fault(which: Fault) -> (u32, u32) {
    let (fsr, far): (u32, u32);
    // SAFETY: reading DFSR/DFAR (c5,c0,0 / c6,c0,0) or IFSR/IFAR (c5,c0,1 / c6,c0,2) has no
    // side effects.
    unsafe {
        match which {
            Fault::Data => asm!(
                "mrc p15, 0, {fsr}, c5, c0, 0",
                "mrc p15, 0, {far}, c6, c0, 0",
                fsr = out(reg) fsr, far = out(reg) far, options(nomem, nostack, preserves_flags)
            ),
            Fault::Prefetch => asm!(
                "mrc p15, 0, {fsr}, c5, c0, 1",
                "mrc p15, 0, {far}, c6, c0, 2",
                fsr = out(reg) fsr, far = out(reg) far, options(nomem, nostack, preserves_flags)
            ),
        }
    }
    (fsr, far)
}

#[derive(Clone, Copy)]
enum Fault {
    Data,
    Prefetch,
}

fn header(con: &mut impl Write, what: &str) {
    let taken = mode_name(crate::cpu::cpsr());
    let from = mode_name(spsr());
    let _ = match crate::cpu_index() {
        Some(n) => write!(con, "EXCEPTION on cpu {n}: "),
        None => write!(con, "EXCEPTION on MPIDR {:#x}: ", crate::cpu::mpidr()),
    };
    let _ = writeln!(con, "{what}, taken in {taken} mode from {from} mode");
}

fn abort_report(which: Fault, addr: usize) -> ! {
    let (fsr, far) = read_cp15_fault(which);
    let mut con = dmasync_firmware::console::emergency();
    let (what, status, fsr_name, far_name) = match which {
        Fault::Data => ("data abort", FaultStatus::from_dfsr(fsr), "DFSR", "DFAR"),
        Fault::Prefetch => (
            "prefetch abort",
            FaultStatus::from_ifsr(fsr),
            "IFSR",
            "IFAR",
        ),
    };
    header(&mut *con, what);
    let _ = writeln!(
        con,
        "{fsr_name}={fsr:#010x} {far_name}={far:#010x} LR={addr:#010x} (the faulting instruction)"
    );
    let _ = match which {
        Fault::Data => writeln!(con, "{}, {}", status.description(), status.access()),
        Fault::Prefetch => writeln!(con, "{}", status.description()),
    };
    if let Some((mode, core)) = crate::mmu::guard_page_owner(far) {
        let _ = writeln!(
            con,
            "stack overflow: {far_name} is in cpu {core}'s {mode} stack guard page"
        );
    }
    con.flush();
    drop(con);
    dmasync_firmware::exit(dmasync_firmware::exit_code::EXCEPTION)
}

/// Called by aarch32-rt's data abort trampoline, in ABT mode on this core's ABT stack;
/// `addr` is the faulting instruction.
#[unsafe(no_mangle)]
extern "C" fn _data_abort_handler(addr: usize) -> ! {
    abort_report(Fault::Data, addr)
}

/// Called by aarch32-rt's prefetch abort trampoline, in ABT mode.
#[unsafe(no_mangle)]
extern "C" fn _prefetch_abort_handler(addr: usize) -> ! {
    abort_report(Fault::Prefetch, addr)
}

/// Called by aarch32-rt's undefined-instruction trampoline, in UND mode.
#[unsafe(no_mangle)]
extern "C" fn _undefined_handler(addr: usize) -> ! {
    let mut con = dmasync_firmware::console::emergency();
    header(&mut *con, "undefined instruction");
    let _ = writeln!(con, "LR={addr:#010x} (the undefined instruction)");
    con.flush();
    drop(con);
    dmasync_firmware::exit(dmasync_firmware::exit_code::EXCEPTION)
}

/// Called by aarch32-rt's SVC trampoline for any `svc` QEMU's semihosting did not take.
/// Nothing in this firmware makes system calls, so one is a bug.
#[unsafe(no_mangle)]
extern "C" fn _svc_handler(arg: u32, _frame: &aarch32_rt::Frame) -> u32 {
    let mut con = dmasync_firmware::console::emergency();
    header(&mut *con, "supervisor call");
    let _ = writeln!(
        con,
        "svc {arg:#x}: no system calls here (is semihosting enabled? -semihosting-config enable=on)"
    );
    con.flush();
    drop(con);
    dmasync_firmware::exit(dmasync_firmware::exit_code::EXCEPTION)
}

/// The IRQ dispatcher the board installs (its interrupt controller's acknowledge, handler,
/// end of interrupt). Without one an IRQ is a bug and gets a report.
pub type IrqDispatch = fn();

static DISPATCH: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Installs the IRQ dispatcher.
pub fn set_irq_dispatch(dispatch: IrqDispatch) {
    DISPATCH.store(dispatch as usize, core::sync::atomic::Ordering::Release);
}

/// Called by aarch32-rt's IRQ trampoline (which saves the caller-saved registers and the
/// FPU state when there is one).
#[unsafe(no_mangle)]
extern "C" fn _irq_handler() {
    let d = DISPATCH.load(core::sync::atomic::Ordering::Acquire);
    if d != 0 {
        // SAFETY: the only value ever stored is an `IrqDispatch` fn pointer.
        let f: IrqDispatch = unsafe { core::mem::transmute::<usize, IrqDispatch>(d) };
        crate::platform::set_in_irq(true);
        f();
        crate::platform::set_in_irq(false);
        return;
    }
    let mut con = dmasync_firmware::console::emergency();
    header(&mut *con, "IRQ");
    let _ = writeln!(con, "no interrupt dispatcher installed");
    con.flush();
    drop(con);
    dmasync_firmware::exit(dmasync_firmware::exit_code::EXCEPTION)
}
