//! Arm semihosting: only what the firmware needs, `SYS_EXIT`.
//!
//! A64 trap is `hlt #0xf000` with the operation in w0 and the parameter in x1 (Arm
//! "Semihosting for AArch32 and AArch64", and QEMU target/arm/tcg/translate-a64.c). On AArch64
//! `SYS_EXIT` (0x18) takes a pointer to `{reason, subcode}`; reason
//! `ADP_Stopped_ApplicationExit` (0x20026) makes QEMU exit with `subcode`
//! (semihosting/arm-compat-semi.c). QEMU needs `-semihosting-config enable=on,target=native`.

use core::arch::asm;

const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Ends the program (QEMU exits with `code`). Never returns: if no debugger/emulator handles
/// the trap, the core parks.
pub fn exit(code: u32) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, u64::from(code)];
    // SAFETY: the semihosting trap reads the two-word block we pass by pointer (the asm! has no
    // `nomem`, so the compiler has stored `block` before it) and either exits the emulator or
    // returns; it does not touch any other memory of ours.
    unsafe {
        asm!(
            "hlt #0xf000",
            inout("x0") SYS_EXIT => _,
            in("x1") block.as_ptr(),
            options(nostack)
        );
    }
    loop {
        crate::cpu::wait_for_interrupt_masked();
    }
}
