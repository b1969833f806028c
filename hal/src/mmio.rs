//! Register access as a trait: what a register-level driver programs, implemented by the
//! board's volatile window onto the device ([`MmioWindow`]) and, in host tests, by a
//! register model (`models/`), which must not see the driver's code.
//!
//! The driver keeps its offsets and fields to itself (consts and tock-registers
//! `register_bitfields!`); this layer only moves 32-bit words at byte offsets, so one trait
//! serves every engine (FIMG2D today; LCDIFv3, ISI, SDMA next). drivers/README.md,
//! "Register models", describes the pattern.

use core::fmt;

/// A block of 32-bit device registers addressed by byte offset.
///
/// `&self`: a register access is an I/O side effect, not a Rust mutation, and drivers share
/// the block between their submit and interrupt paths under their own lock.
pub trait RegisterIo {
    /// Reads the register at byte `offset` (4-aligned, inside the block).
    fn read32(&self, offset: usize) -> u32;
    /// Writes `value` to the register at byte `offset` (4-aligned, inside the block).
    fn write32(&self, offset: usize, value: u32);
}

impl<T: RegisterIo + ?Sized> RegisterIo for &T {
    fn read32(&self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
}

/// A memory-mapped register block: volatile 32-bit accesses at `base + offset`. The board
/// makes it, in its one place for device pointers.
///
/// An offset that is unaligned or outside the block panics: it is a driver bug, and an
/// access there could reach another device.
pub struct MmioWindow {
    base: *mut u32,
    len: usize,
}

impl fmt::Debug for MmioWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Reading registers from Debug would be a side effect: show the window.
        f.debug_struct("MmioWindow")
            .field("base", &self.base)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: the window only holds an address; `new`'s contract makes the block device memory
// reachable from every core, and the driver that owns the window serializes its accesses.
unsafe impl Send for MmioWindow {}
// SAFETY: as for `Send`: a shared `&MmioWindow` only performs single volatile word accesses,
// which the device accepts from any core.
unsafe impl Sync for MmioWindow {}

impl MmioWindow {
    /// The `len`-byte register block at `base`.
    ///
    /// # Safety
    ///
    /// `base..base + len` is one device's register block, 4-aligned, mapped as device memory
    /// for the rest of the program, and nothing else programs that device: whoever writes
    /// its registers decides what memory the device reads and writes.
    pub unsafe fn new(base: *mut u32, len: usize) -> Self {
        assert!(base.is_aligned(), "register block base is not 4-aligned");
        Self { base, len }
    }

    /// The block's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-sized block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self, offset: usize) -> *mut u32 {
        assert!(
            offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|e| e <= self.len),
            "register offset {offset:#x} outside the {}-byte block or unaligned",
            self.len
        );
        // In bounds of the block (checked above), so the pointer stays in its allocation.
        self.base.wrapping_byte_add(offset)
    }
}

impl RegisterIo for MmioWindow {
    fn read32(&self, offset: usize) -> u32 {
        let p = self.word(offset);
        // SAFETY: `p` is an aligned word inside the block `new`'s caller vouched for.
        unsafe { p.read_volatile() }
    }
    fn write32(&self, offset: usize, value: u32) {
        let p = self.word(offset);
        // SAFETY: as for `read32`.
        unsafe { p.write_volatile(value) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;

    fn window(words: &mut [u32]) -> MmioWindow {
        // SAFETY: the slice is ordinary memory standing in for a register block; nothing
        // else touches it while the window is used.
        unsafe { MmioWindow::new(words.as_mut_ptr(), words.len() * 4) }
    }

    #[test]
    fn reads_and_writes_words_at_byte_offsets() {
        let mut regs = Box::new([0u32; 8]);
        regs[2] = 0xDEAD_BEEF;
        let w = window(&mut regs[..]);
        assert_eq!(w.read32(8), 0xDEAD_BEEF);
        w.write32(0x1C, 7);
        let r: &dyn RegisterIo = &w;
        assert_eq!(r.read32(0x1C), 7);
        assert_eq!(regs[7], 7);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn an_offset_past_the_block_panics() {
        let mut regs = [0u32; 4];
        window(&mut regs).read32(16);
    }

    #[test]
    #[should_panic(expected = "unaligned")]
    fn an_unaligned_offset_panics() {
        let mut regs = [0u32; 4];
        window(&mut regs).write32(2, 0);
    }
}
