//! The kernel command line xtask gives the guest (doc/console-protocol.md, "The kernel
//! command line (bootargs)").
//!
//! Sent by xtask (`cargo xtask run --frames N` starts QEMU with `-append "frames=N"`, which
//! QEMU `virt` writes into the device tree's `/chosen/bootargs`); read by the guest: the
//! board reads `/chosen/bootargs`, the demo parses its whitespace-separated `key=value`
//! words (`dmasync_demo::args::parse`).

use core::fmt;

/// The key of the demo's frame count: `frames=N`, N >= 1, decimal.
pub const FRAMES: &str = "frames";

/// The `frames=N` word. `Display` writes it as xtask passes it to `-append`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frames(pub u32);

impl fmt::Display for Frames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{FRAMES}={}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    #[test]
    fn frames_word() {
        assert_eq!(render(&Frames(30)), "frames=30");
        // The word is one `key=value` token of a whitespace-separated command line.
        let word = render(&Frames(7));
        assert_eq!(word.split_once('='), Some((FRAMES, "7")));
        assert!(!word.contains(char::is_whitespace));
    }
}
