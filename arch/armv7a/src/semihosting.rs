//! Arm semihosting on A32: only what the firmware needs, `SYS_EXIT_EXTENDED` and
//! `SYS_GET_CMDLINE`.
//!
//! The A32 trap is `svc 0x123456` with the operation in r0 and the parameter in r1 (Arm
//! "Semihosting for AArch32 and AArch64"; QEMU target/arm/tcg/translate.c). Plain `SYS_EXIT`
//! (0x18) on AArch32 takes the reason itself in r1 and can only make QEMU exit 0 or 1;
//! `SYS_EXIT_EXTENDED` (0x20) takes a pointer to `{reason, subcode}`, so the guest's exit
//! code reaches the host (semihosting/arm-compat-semi.c; measured: code 3 gives rc 3).
//! QEMU needs `-semihosting-config enable=on,target=native`, and the caller must not be in
//! User mode.

use core::arch::asm;

const SYS_EXIT_EXTENDED: u32 = 0x20;
const SYS_GET_CMDLINE: u32 = 0x15;
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;

/// Ends the program (QEMU exits with `code`). Never returns: if no debugger or emulator
/// handles the trap, the core parks.
pub fn exit(code: u32) -> ! {
    let block: [u32; 2] = [ADP_STOPPED_APPLICATION_EXIT, code];
    // SAFETY: the semihosting trap reads the two-word block we pass by pointer (the asm! has
    // no `nomem`, so `block` is stored before it) and either ends the emulator or returns; it
    // touches no other memory of ours.
    unsafe {
        asm!(
            "svc 0x123456",
            inout("r0") SYS_EXIT_EXTENDED => _,
            in("r1") block.as_ptr(),
            options(nostack)
        );
    }
    loop {
        crate::cpu::wait_for_interrupt_masked();
    }
}

/// The host's command line for the program, copied into `buf`; `None` if the host refuses
/// (or `buf` cannot hold it).
///
/// An ELF booted by QEMU gets no ATAGS or device tree (hardware.md §1.1), so `-append` reaches
/// it only this way: without `-semihosting-config arg=`, QEMU's command line is the kernel file
/// name, a space and the `-append` string (`semihosting_arg_fallback`, system/vl.c).
pub fn command_line(buf: &mut [u8]) -> Option<&str> {
    let mut block: [u32; 2] = [buf.as_mut_ptr() as u32, buf.len() as u32];
    let status: u32;
    // SAFETY: the trap reads the two-word block (pointer and capacity of `buf`), writes at
    // most that many bytes into `buf` and the length used into the block's second word; the
    // asm! has no `nomem`, so both are in memory around it.
    unsafe {
        asm!(
            "svc 0x123456",
            inout("r0") SYS_GET_CMDLINE => status,
            in("r1") block.as_mut_ptr(),
            options(nostack)
        );
    }
    if status != 0 {
        return None;
    }
    let len = (block[1] as usize).min(buf.len());
    core::str::from_utf8(&buf[..len]).ok()
}
