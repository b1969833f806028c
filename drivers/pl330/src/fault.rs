//! Fault types: the FTRn (channel) and FTRD (manager) bits, decoded.
//!
//! Bit positions from the PL330 TRM ("Fault Type Register", DMA manager and channel),
//! as QEMU's model sets them (`PL330_FAULT_*` in `hw/dma/pl330.c`). A job that faulted
//! signals its fence with `FenceError::DeviceError(code)`, where `code` is the fault type
//! register's value, plus [`MANAGER`] when the manager thread faulted (bit 8 is reserved in
//! both registers); [`describe`] turns a code back into names.

use core::fmt;

/// Set in a code when the manager thread (DMAGO) faulted rather than a channel.
pub const MANAGER: u32 = 1 << 8;

/// The fault type bits and what each means.
pub const CAUSES: [(u32, &str); 12] = [
    (1 << 0, "undefined instruction"),
    (1 << 1, "operand invalid"),
    (
        1 << 4,
        "DMAGO error (a secure channel from a non-secure manager)",
    ),
    (
        1 << 5,
        "event error (DMASEV/DMAWFE on an event the security state may not use)",
    ),
    (1 << 6, "peripheral error"),
    (
        1 << 7,
        "read/write error (the channel's security state may not reach the address)",
    ),
    (1 << 12, "MFIFO error (a burst does not fit the MFIFO)"),
    (
        1 << 13,
        "store data unavailable (DMAST with too little data loaded)",
    ),
    (
        1 << 16,
        "instruction fetch error (bus error reading the program)",
    ),
    (1 << 17, "data write error (bus error on a store)"),
    (1 << 18, "data read error (bus error on a load)"),
    (1 << 31, "lock-up (the channel can make no progress)"),
];

/// Bit 30 of FTRn/FTRD: the faulting instruction came through the debug interface.
pub const DEBUG_INSTRUCTION: u32 = 1 << 30;

/// A fault code decoded for display: `"channel fault: data write error (...)"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Described(pub u32);

/// Names the causes in a fault code (from a fence's `DeviceError`).
pub fn describe(code: u32) -> Described {
    Described(code)
}

/// Whether `code` (a `DeviceError` code) is a PL330 fault code: some known cause set, and no
/// bit outside the causes, the debug and the manager bits.
pub fn is_fault_code(code: u32) -> bool {
    let known: u32 = CAUSES.iter().map(|c| c.0).fold(0, |a, b| a | b);
    code & known != 0 && code & !(known | DEBUG_INSTRUCTION | MANAGER) == 0
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.0;
        let who = if code & MANAGER != 0 {
            "PL330 manager fault"
        } else {
            "PL330 channel fault"
        };
        write!(f, "{who} (type {:#x}):", code & !MANAGER)?;
        let mut any = false;
        for (bit, what) in CAUSES {
            if code & bit != 0 {
                write!(f, "{} {what}", if any { ";" } else { "" })?;
                any = true;
            }
        }
        if !any {
            f.write_str(" no known cause")?;
        }
        if code & DEBUG_INSTRUCTION != 0 {
            f.write_str(", from a debug instruction")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn each_cause_is_named() {
        assert_eq!(
            format!("{}", describe(1 << 17)),
            "PL330 channel fault (type 0x20000): data write error (bus error on a store)"
        );
        assert_eq!(
            format!("{}", describe(1 | 1 << 18)),
            "PL330 channel fault (type 0x40001): undefined instruction; data read error \
             (bus error on a load)"
        );
        assert_eq!(
            format!("{}", describe(MANAGER | 1 << 4 | DEBUG_INSTRUCTION)),
            "PL330 manager fault (type 0x40000010): DMAGO error (a secure channel from a \
             non-secure manager), from a debug instruction"
        );
        assert_eq!(
            format!("{}", describe(0)),
            "PL330 channel fault (type 0x0): no known cause"
        );
    }

    #[test]
    fn fault_codes_are_told_from_other_device_errors() {
        assert!(is_fault_code(1 << 17));
        assert!(is_fault_code(MANAGER | DEBUG_INSTRUCTION | 2));
        assert!(!is_fault_code(0));
        // The software engines' ABANDONED code uses reserved bits.
        assert!(!is_fault_code(dmasync_soft::ABANDONED));
        assert!(!is_fault_code(DEBUG_INSTRUCTION));
    }
}
