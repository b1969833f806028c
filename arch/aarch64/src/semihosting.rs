//! Arm semihosting: only what the firmware needs, `SYS_EXIT` and `SYS_GET_CMDLINE`.
//!
//! A64 trap is `hlt #0xf000` with the operation in w0 and the parameter in x1 (Arm
//! "Semihosting for AArch32 and AArch64", and QEMU target/arm/tcg/translate-a64.c). On AArch64
//! `SYS_EXIT` (0x18) takes a pointer to `{reason, subcode}`; reason
//! `ADP_Stopped_ApplicationExit` (0x20026) makes QEMU exit with `subcode`
//! (semihosting/arm-compat-semi.c). QEMU needs `-semihosting-config enable=on,target=native`.
//!
//! `SYS_GET_CMDLINE` (0x15) takes a pointer to `{buffer, length}`, writes the command line
//! NUL-terminated into the buffer and its length (without the NUL) into the second word;
//! x0 = 0 on success, -1 when it does not fit. QEMU answers with the `-semihosting-config
//! arg=` words or, without them, the `-kernel` file name followed by `-append`'s text
//! (`semihosting_arg_fallback`, called by hw/arm/boot.c): the way a board without a device
//! tree (imx8mp-evk) still sees `cargo xtask run --frames N`.

use core::arch::asm;

const SYS_EXIT: u64 = 0x18;
const SYS_GET_CMDLINE: u64 = 0x15;
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

/// Why [`command_line`] has no command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdlineError {
    /// The host refused (or the line does not fit in the buffer).
    Refused,
    /// The host reported a length past the buffer, or bytes that are not UTF-8.
    Malformed,
}

/// The command line the semihosting host passes (QEMU: `-kernel`'s file name, then
/// `-append`'s words), read into `buf`. Needs a host that handles the trap: without one the
/// `hlt` is an undefined instruction.
pub fn command_line(buf: &mut [u8]) -> Result<&str, CmdlineError> {
    let mut block: [u64; 2] = [buf.as_mut_ptr() as u64, buf.len() as u64];
    let ret: u64;
    // SAFETY: the host writes at most `block[1]` bytes into `buf` (which we own mutably for the
    // call) and one word into `block`; the asm! has no `nomem`, so both are in memory before
    // the trap and re-read after it.
    unsafe {
        asm!(
            "hlt #0xf000",
            inout("x0") SYS_GET_CMDLINE => ret,
            in("x1") block.as_mut_ptr(),
            options(nostack)
        );
    }
    if ret != 0 {
        return Err(CmdlineError::Refused);
    }
    let len = usize::try_from(block[1]).map_err(|_| CmdlineError::Malformed)?;
    let bytes = buf.get(..len).ok_or(CmdlineError::Malformed)?;
    core::str::from_utf8(bytes).map_err(|_| CmdlineError::Malformed)
}
