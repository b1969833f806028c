//! Decoding the short-descriptor fault status of DFSR and IFSR (ARM ARM v7-A/R, B4.1.52
//! "DFSR" and B4.1.96 "IFSR", table B3-23 "Short-descriptor format FSR encodings"), so an
//! abort report says what happened in words. Pure functions: host-tested.

/// What a DFSR/IFSR value says, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultStatus {
    /// The 5-bit fault status FS[4:0] (FS[4] is bit 10, FS[3:0] bits 3:0).
    pub fs: u8,
    /// DFSR.WnR (bit 11): the access was a write. Always false for IFSR.
    pub write: bool,
    /// ExT (bit 12): the implementation's external abort classification bit.
    pub external: bool,
}

impl FaultStatus {
    /// Decodes a DFSR value.
    pub fn from_dfsr(dfsr: u32) -> Self {
        Self {
            fs: fs_bits(dfsr),
            write: dfsr & (1 << 11) != 0,
            external: dfsr & (1 << 12) != 0,
        }
    }

    /// Decodes an IFSR value (no WnR bit).
    pub fn from_ifsr(ifsr: u32) -> Self {
        Self {
            fs: fs_bits(ifsr),
            write: false,
            external: ifsr & (1 << 12) != 0,
        }
    }

    /// The fault in words, as table B3-23 names it ("translation fault, level 1").
    pub fn description(&self) -> &'static str {
        match self.fs {
            0b00001 => "alignment fault",
            0b00100 => "fault on instruction cache maintenance",
            0b01100 => "synchronous external abort on translation table walk, level 1",
            0b01110 => "synchronous external abort on translation table walk, level 2",
            0b11100 => "synchronous parity error on translation table walk, level 1",
            0b11110 => "synchronous parity error on translation table walk, level 2",
            0b00101 => "translation fault, level 1",
            0b00111 => "translation fault, level 2",
            0b00011 => "access flag fault, level 1",
            0b00110 => "access flag fault, level 2",
            0b01001 => "domain fault, level 1",
            0b01011 => "domain fault, level 2",
            0b01101 => "permission fault, level 1",
            0b01111 => "permission fault, level 2",
            0b00010 => "debug event",
            0b01000 => "synchronous external abort",
            0b10000 => "TLB conflict abort",
            0b10100 => "IMPLEMENTATION DEFINED (lockdown)",
            0b11010 => "IMPLEMENTATION DEFINED (coprocessor abort)",
            0b11001 => "synchronous parity error on memory access",
            0b10110 => "asynchronous external abort",
            0b11000 => "asynchronous parity error on memory access",
            _ => "reserved fault status",
        }
    }

    /// "read" or "write" for a data abort.
    pub fn access(&self) -> &'static str {
        if self.write { "write" } else { "read" }
    }
}

fn fs_bits(fsr: u32) -> u8 {
    (((fsr >> 6) & 0x10) | (fsr & 0xf)) as u8
}

/// The processor mode named by CPSR.M[4:0] (ARM ARM B1.3.1, table B1-1).
pub fn mode_name(cpsr: u32) -> &'static str {
    match cpsr & 0x1f {
        0x10 => "USR",
        0x11 => "FIQ",
        0x12 => "IRQ",
        0x13 => "SVC",
        0x16 => "MON",
        0x17 => "ABT",
        0x1a => "HYP",
        0x1b => "UND",
        0x1f => "SYS",
        _ => "reserved mode",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs4_comes_from_bit_10() {
        // FS = 0b10110 (asynchronous external abort): bit 10 set, bits 3:0 = 0b0110.
        let s = FaultStatus::from_dfsr((1 << 10) | 0b0110);
        assert_eq!(s.fs, 0b10110);
        assert_eq!(s.description(), "asynchronous external abort");
    }

    #[test]
    fn translation_faults_name_their_level_and_access() {
        let l1_read = FaultStatus::from_dfsr(0x005);
        assert_eq!(l1_read.description(), "translation fault, level 1");
        assert_eq!(l1_read.access(), "read");
        let l2_write = FaultStatus::from_dfsr(0x807);
        assert_eq!(l2_write.description(), "translation fault, level 2");
        assert_eq!(l2_write.access(), "write");
    }

    #[test]
    fn alignment_and_permission_faults() {
        assert_eq!(
            FaultStatus::from_dfsr(0x001).description(),
            "alignment fault"
        );
        assert_eq!(
            FaultStatus::from_dfsr(0x80f).description(),
            "permission fault, level 2"
        );
        assert_eq!(
            FaultStatus::from_dfsr(0x00d).description(),
            "permission fault, level 1"
        );
    }

    #[test]
    fn ifsr_has_no_write_bit_and_reserved_codes_say_so() {
        let s = FaultStatus::from_ifsr(0x805);
        assert!(!s.write);
        assert_eq!(s.description(), "translation fault, level 1");
        assert_eq!(FaultStatus::from_dfsr(0b1111 | (1 << 10)).fs, 0b11111);
        assert_eq!(
            FaultStatus::from_dfsr(0b1111 | (1 << 10)).description(),
            "reserved fault status"
        );
        assert!(FaultStatus::from_dfsr(1 << 12).external);
    }

    #[test]
    fn modes() {
        assert_eq!(mode_name(0x6000_01d3), "SVC");
        assert_eq!(mode_name(0x1f), "SYS");
        assert_eq!(mode_name(0x17), "ABT");
        assert_eq!(mode_name(0x1b), "UND");
        assert_eq!(mode_name(0x15), "reserved mode");
    }
}
