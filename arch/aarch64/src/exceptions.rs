//! Exception vectors and the plain-text exception report.
//!
//! Our own table rather than `aarch64-rt`'s: theirs saves only x0-x18/x29/x30, but code built
//! for `aarch64-unknown-none` uses the FP/SIMD registers freely (memcpy, formatting), so an
//! IRQ handler would corrupt the q-registers of whatever it interrupted. This table saves all
//! general registers, ELR/SPSR, q0-q31, FPCR and FPSR for every exception.
//!
//! IRQs from the current EL go to the handler installed with [`set_irq_handler`] (the GIC
//! dispatcher). Everything else is unexpected: it is reported in plain text (kind, EC with its
//! name, ESR, FAR, ELR, SPSR) and the program exits with code 3.

use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};

use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable, VBAR_EL1, Writeable};

/// Registers saved on exception entry (layout fixed by the assembly below).
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// x0-x30.
    pub x: [u64; 31],
    /// ELR_EL1: where the exception was taken.
    pub elr: u64,
    /// SPSR_EL1: PSTATE at the exception.
    pub spsr: u64,
    /// FPCR.
    pub fpcr: u64,
    /// FPSR.
    pub fpsr: u64,
    _pad: u64,
    /// q0-q31.
    pub q: [u128; 32],
}

const FRAME_SIZE: usize = 800;
const _: () = assert!(core::mem::size_of::<TrapFrame>() == FRAME_SIZE);

core::arch::global_asm!(
    r#"
.macro dmasync_vector kind:req
    .balign 0x80
    sub sp, sp, #{frame}
    stp x0, x1, [sp, #0]
    mov x0, #\kind
    b dmasync_exception_common
.endm

.section .text.dmasync_vectors, "ax"
.balign 0x800
.global dmasync_vector_table
dmasync_vector_table:
    dmasync_vector 0
    dmasync_vector 1
    dmasync_vector 2
    dmasync_vector 3
    dmasync_vector 4
    dmasync_vector 5
    dmasync_vector 6
    dmasync_vector 7
    dmasync_vector 8
    dmasync_vector 9
    dmasync_vector 10
    dmasync_vector 11
    dmasync_vector 12
    dmasync_vector 13
    dmasync_vector 14
    dmasync_vector 15

dmasync_exception_common:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    str x30, [sp, #240]
    mrs x2, elr_el1
    mrs x3, spsr_el1
    stp x2, x3, [sp, #248]
    mrs x2, fpcr
    mrs x3, fpsr
    stp x2, x3, [sp, #264]
    add x2, sp, #288
    stp q0, q1, [x2, #0]
    stp q2, q3, [x2, #32]
    stp q4, q5, [x2, #64]
    stp q6, q7, [x2, #96]
    stp q8, q9, [x2, #128]
    stp q10, q11, [x2, #160]
    stp q12, q13, [x2, #192]
    stp q14, q15, [x2, #224]
    stp q16, q17, [x2, #256]
    stp q18, q19, [x2, #288]
    stp q20, q21, [x2, #320]
    stp q22, q23, [x2, #352]
    stp q24, q25, [x2, #384]
    stp q26, q27, [x2, #416]
    stp q28, q29, [x2, #448]
    stp q30, q31, [x2, #480]
    mov x1, sp
    bl {entry}
    add x2, sp, #288
    ldp q0, q1, [x2, #0]
    ldp q2, q3, [x2, #32]
    ldp q4, q5, [x2, #64]
    ldp q6, q7, [x2, #96]
    ldp q8, q9, [x2, #128]
    ldp q10, q11, [x2, #160]
    ldp q12, q13, [x2, #192]
    ldp q14, q15, [x2, #224]
    ldp q16, q17, [x2, #256]
    ldp q18, q19, [x2, #288]
    ldp q20, q21, [x2, #320]
    ldp q22, q23, [x2, #352]
    ldp q24, q25, [x2, #384]
    ldp q26, q27, [x2, #416]
    ldp q28, q29, [x2, #448]
    ldp q30, q31, [x2, #480]
    ldp x2, x3, [sp, #264]
    msr fpcr, x2
    msr fpsr, x3
    ldp x2, x3, [sp, #248]
    msr elr_el1, x2
    msr spsr_el1, x3
    ldp x0, x1, [sp, #0]
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldr x30, [sp, #240]
    add sp, sp, #{frame}
    eret
"#,
    frame = const FRAME_SIZE,
    entry = sym exception_entry,
);

unsafe extern "C" {
    static dmasync_vector_table: [u8; 0x800];
}

/// Points VBAR_EL1 of the calling core at our vector table. Every core calls it first thing.
pub fn install_vectors() {
    VBAR_EL1.set((&raw const dmasync_vector_table) as u64);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

static IRQ_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Installs the function IRQs from the current EL go to (the interrupt controller's
/// dispatcher). It runs with IRQs masked.
pub fn set_irq_handler(handler: fn()) {
    IRQ_HANDLER.store(handler as usize, Ordering::Release);
}

const KIND_NAMES: [&str; 4] = ["synchronous", "IRQ", "FIQ", "SError"];
const ORIGIN_NAMES: [&str; 4] = [
    "current EL with SP_EL0",
    "current EL with SP_ELx",
    "lower EL (AArch64)",
    "lower EL (AArch32)",
];

extern "C" fn exception_entry(kind: u64, frame: &mut TrapFrame) {
    let origin = (kind >> 2) as usize & 3;
    let class = kind as usize & 3;
    if class == 1 && origin <= 1 {
        let handler = IRQ_HANDLER.load(Ordering::Acquire);
        if handler != 0 {
            // SAFETY: the value was stored from a `fn()` by `set_irq_handler`.
            let handler: fn() = unsafe { core::mem::transmute::<usize, fn()>(handler) };
            handler();
            return;
        }
    }
    report_and_exit(class, ORIGIN_NAMES[origin], frame);
}

/// Name of an ESR_ELx.EC value (Arm ARM D19.2.43, "ESR_EL1, Exception Syndrome Register").
pub fn ec_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason",
        0x01 => "trapped WFI/WFE",
        0x07 => "trapped SIMD/FP access",
        0x0e => "illegal execution state",
        0x11 | 0x15 => "SVC",
        0x12 | 0x16 => "HVC",
        0x13 | 0x17 => "SMC",
        0x18 => "trapped MSR/MRS/system instruction",
        0x19 => "trapped SVE access",
        0x1c => "pointer authentication failure",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort from the current EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort from the current EL",
        0x26 => "SP alignment fault",
        0x28 | 0x2c => "floating-point exception",
        0x2f => "SError",
        0x30 => "breakpoint from a lower EL",
        0x31 => "breakpoint from the current EL",
        0x32 => "software step from a lower EL",
        0x33 => "software step from the current EL",
        0x34 => "watchpoint from a lower EL",
        0x35 => "watchpoint from the current EL",
        0x38 => "BKPT (AArch32)",
        0x3c => "BRK instruction",
        _ => "reserved/unrecognised",
    }
}

/// Describes the fault status code of an abort (ISS.DFSC/IFSC, bits [5:0]).
fn fault_status(fsc: u64) -> (&'static str, Option<u64>) {
    let level = fsc & 3;
    match fsc & 0x3c {
        0x00 => ("address size fault", Some(level)),
        0x04 => ("translation fault", Some(level)),
        0x08 => ("access flag fault", Some(level)),
        0x0c => ("permission fault", Some(level)),
        0x10 if fsc == 0x10 => ("synchronous external abort", None),
        0x20 if fsc == 0x21 => ("alignment fault", None),
        _ => ("other fault", None),
    }
}

fn report_and_exit(class: usize, origin: &str, frame: &TrapFrame) -> ! {
    let kind = KIND_NAMES[class];
    // Only synchronous exceptions and SErrors have a syndrome; for IRQ/FIQ ESR_EL1 and
    // FAR_EL1 still hold an earlier exception's values.
    let has_syndrome = class == 0 || class == 3;
    let esr = ESR_EL1.get();
    let far = FAR_EL1.get();
    let ec = (esr >> 26) & 0x3f;
    let iss = esr & 0x1ff_ffff;
    {
        let mut con = crate::console::emergency();
        let _ = match crate::cpu::cpu_index() {
            Some(n) => writeln!(con, "EXCEPTION on cpu {n}: {kind}, {origin}"),
            None => writeln!(
                con,
                "EXCEPTION on MPIDR {:#x}: {kind}, {origin}",
                crate::cpu::mpidr()
            ),
        };
        let _ = if has_syndrome {
            writeln!(
                con,
                "  EC={ec:#x} ({}) ESR={esr:#x} FAR={far:#x} ELR={:#x} SPSR={:#x}",
                ec_name(ec),
                frame.elr,
                frame.spsr
            )
        } else {
            writeln!(
                con,
                "  (asynchronous: no syndrome; no handler installed) ELR={:#x} SPSR={:#x}",
                frame.elr, frame.spsr
            )
        };
        if has_syndrome && matches!(ec, 0x20 | 0x21 | 0x24 | 0x25) {
            let (what, level) = fault_status(iss & 0x3f);
            let access = if matches!(ec, 0x24 | 0x25) {
                if iss & (1 << 6) != 0 {
                    ", write"
                } else {
                    ", read"
                }
            } else {
                ", instruction fetch"
            };
            let _ = match level {
                Some(l) => writeln!(con, "  {what}, level {l}{access}"),
                None => writeln!(con, "  {what}{access}"),
            };
        }
        if has_syndrome && matches!(ec, 0x24 | 0x25) {
            match crate::stacks::guard_page_owner(far as usize) {
                Some(None) => {
                    let _ = writeln!(
                        con,
                        "  stack overflow: FAR is in the boot core's stack guard page"
                    );
                }
                Some(Some(i)) => {
                    let _ = writeln!(
                        con,
                        "  stack overflow: FAR is in cpu {i}'s stack guard page"
                    );
                }
                None => {}
            }
        }
        let _ = writeln!(
            con,
            "  x0={:#x} x1={:#x} x2={:#x} x3={:#x} lr={:#x}",
            frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[30]
        );
        con.flush();
    }
    crate::semihosting::exit(dmasync_protocol::exit::EXCEPTION)
}
