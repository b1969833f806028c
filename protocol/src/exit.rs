//! Semihosting exit codes: every image ends through semihosting `SYS_EXIT`
//! (`ADP_Stopped_ApplicationExit` + code), so QEMU's exit status is the verdict
//! (doc/console-protocol.md, "Verdicts: semihosting exit codes").
//!
//! Sent by the target (arch/aarch64 `semihosting::exit` from the testkit, the panic
//! handler, the exception report, the board's set-up failure path and the demo); read by
//! xtask as QEMU's exit status, compared with board.toml's `exit_code` and explained with
//! [`meaning`].

/// Passed / demo finished.
pub const OK: u32 = 0;
/// A test case failed (assertion in a test, verdict printed).
pub const TEST_FAILED: u32 = 1;
/// Panic (message printed in plain text).
pub const PANIC: u32 = 2;
/// Unexpected CPU exception (class, ESR, FAR, ELR printed).
pub const EXCEPTION: u32 = 3;
/// Board set-up failed (no device tree, unsupported CPU count, ...); also a bench image
/// run without `-icount`.
pub const SETUP_FAILED: u32 = 4;

/// What an exit code means, as xtask prints it in a verdict; `None` for a code the firmware
/// never exits with (QEMU itself may have failed).
pub const fn meaning(code: u32) -> Option<&'static str> {
    Some(match code {
        OK => "passed / demo finished",
        TEST_FAILED => "a test case failed (assertion in a test, verdict printed)",
        PANIC => "panic (message printed in plain text)",
        EXCEPTION => "unexpected CPU exception (class, ESR, FAR, ELR printed)",
        SETUP_FAILED => "board set-up failed (no device tree, unsupported CPU count, ...)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_meaning_and_others_none() {
        assert_eq!(meaning(OK), Some("passed / demo finished"));
        assert!(meaning(PANIC).unwrap().starts_with("panic"));
        assert!(meaning(EXCEPTION).unwrap().contains("CPU exception"));
        assert!(
            meaning(SETUP_FAILED)
                .unwrap()
                .starts_with("board set-up failed")
        );
        assert_eq!(meaning(5), None);
        assert_eq!(meaning(u32::MAX), None);
    }
}
