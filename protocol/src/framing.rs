//! Plain text and defmt frames on one UART (doc/console-protocol.md, first table).
//!
//! The host starts in text mode. [`FRAME_START`] switches to frame mode; the next
//! [`FRAME_END`] ends the frame and returns to text mode; a [`FRAME_END`] in text mode is
//! ignored. Plain text never contains either byte.

/// Starts a defmt frame. Sent by the target's defmt global logger (arch/aarch64
/// `logger`) before the rzcobs-encoded frame; read by xtask's console splitter
/// (xtask `console::Splitter`), which switches to frame mode.
pub const FRAME_START: u8 = 0xFF;

/// Ends a defmt frame: the delimiter defmt's rzcobs encoder writes after every frame. The
/// target's panic, exception and verdict paths also write it alone before their plain text
/// (arch/aarch64 `console::emergency`), which closes any frame a core was in the middle of.
/// Read by xtask's console splitter: ends frame mode; ignored in text mode.
pub const FRAME_END: u8 = 0x00;

/// Whether plain text may carry this byte (every byte but the two delimiters).
pub const fn is_text_byte(byte: u8) -> bool {
    byte != FRAME_START && byte != FRAME_END
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_not_text_and_utf8_never_contains_them() {
        assert!(!is_text_byte(FRAME_START));
        assert!(!is_text_byte(FRAME_END));
        assert!(is_text_byte(b'\n'));
        // 0xFF never occurs in UTF-8; 0x00 only as U+0000, which the target never prints.
        assert!("PANIC on cpu 1: é ✓".bytes().all(is_text_byte));
    }
}
