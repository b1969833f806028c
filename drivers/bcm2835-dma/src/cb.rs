//! Control blocks: what a job moves, checked when it is submitted ([`Plan`]), and the CB
//! chain a channel runs for it ([`Plan::encode`]).
//!
//! A [`Plan`] can only be made through its checks, so every length, address and stride
//! that reaches a control block is a multiple of 4 and fits its field: QEMU's model
//! steps XLENGTH down by 4 as an unsigned number, so any other length would never end
//! (raspi3b.md §7), and the hardware moves 32-bit words (D_WIDTH/S_WIDTH clear).

use alloc::vec::Vec;

use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;

use crate::regs::{CB_BYTES, STRIDE, TI, TXFR_2D};

/// Rows of one 2D control block at most: YLENGTH is 14 bits and counts rows - 1.
pub const MAX_ROWS: u32 = 1 << 14;
/// Bytes of one 2D row at most: XLENGTH is 16 bits, kept a multiple of 4.
pub const MAX_ROW_BYTES: u32 = 0xFFFC;

fn bits<T: tock_registers::RegisterLongName>(f: FieldValue<u32, T>) -> u32 {
    let mut r = LocalRegisterCopy::<u32, T>::new(0);
    r.modify(f);
    r.get()
}

/// One control block as the DMA reads it (Peripherals §4.2.1.1: TI, SOURCE_AD, DEST_AD,
/// TXFR_LEN, STRIDE, NEXTCONBK, two reserved words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlBlock {
    /// Transfer information.
    pub ti: u32,
    /// Source bus address.
    pub source: u32,
    /// Destination bus address.
    pub dest: u32,
    /// Bytes (1D) or YLENGTH:XLENGTH (2D).
    pub txfr_len: u32,
    /// D_STRIDE:S_STRIDE (2D).
    pub stride: u32,
    /// Bus address of the next control block; 0 ends the chain.
    pub next: u32,
}

impl ControlBlock {
    /// The eight words in memory order (little-endian on the bus).
    pub fn words(&self) -> [u32; 8] {
        [
            self.ti,
            self.source,
            self.dest,
            self.txfr_len,
            self.stride,
            self.next,
            0,
            0,
        ]
    }

    /// The 32 bytes as the DMA fetches them.
    pub fn bytes(&self) -> [u8; CB_BYTES] {
        let mut b = [0; CB_BYTES];
        for (c, w) in b.chunks_exact_mut(4).zip(self.words()) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        b
    }
}

/// One rectangle of a 2D copy: `rows` rows of `row_bytes`, the strides the surfaces' row
/// pitches minus a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect2d {
    dst: u32,
    src: u32,
    row_bytes: u32,
    rows: u32,
    dst_step: i16,
    src_step: i16,
}

impl Rect2d {
    /// Checks a rectangle copy from `src` (row pitch `src_pitch`) to `dst` (`dst_pitch`).
    pub fn new(
        dst: u32,
        src: u32,
        row_bytes: u32,
        rows: u32,
        dst_pitch: usize,
        src_pitch: usize,
    ) -> Result<Self, &'static str> {
        if !(dst | src | row_bytes).is_multiple_of(4)
            || !dst_pitch.is_multiple_of(4)
            || !src_pitch.is_multiple_of(4)
        {
            return Err("2D copy address, row or pitch not a multiple of 4 bytes");
        }
        if row_bytes == 0 || row_bytes > MAX_ROW_BYTES {
            return Err("2D copy row longer than XLENGTH's 65532 bytes");
        }
        if rows == 0 || rows > MAX_ROWS {
            return Err("2D copy taller than YLENGTH's 16384 rows");
        }
        let step = |pitch: usize| {
            pitch
                .checked_sub(row_bytes as usize)
                .and_then(|s| i16::try_from(s).ok())
        };
        let (Some(dst_step), Some(src_step)) = (step(dst_pitch), step(src_pitch)) else {
            return Err("2D copy row pitch minus row beyond the 16-bit signed STRIDE");
        };
        Ok(Self {
            dst,
            src,
            row_bytes,
            rows,
            dst_step,
            src_step,
        })
    }
}

/// What a job moves, checked when it is submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// `len` bytes from `src` to `dst`.
    Copy {
        /// Destination bus address.
        dst: u32,
        /// Source bus address.
        src: u32,
        /// Bytes.
        len: u32,
    },
    /// `len` bytes at `dst` set to `word`, read again and again from the channel's pattern
    /// word (S_INC clear).
    Fill {
        /// Destination bus address.
        dst: u32,
        /// Bytes.
        len: u32,
        /// The pattern.
        word: u32,
    },
    /// Rectangles in order, one 2D control block each.
    Rects(Vec<Rect2d>),
}

impl Plan {
    /// A copy, or why the DMA cannot do it.
    pub fn copy(dst: u32, src: u32, len: u32) -> Result<Self, &'static str> {
        if len == 0 {
            return Err("empty copy");
        }
        if !(dst | src | len).is_multiple_of(4) {
            return Err("copy address or length not a multiple of 4 bytes");
        }
        Ok(Self::Copy { dst, src, len })
    }

    /// A fill with `value`, or why the DMA cannot do it.
    pub fn fill(dst: u32, len: u32, value: u8) -> Result<Self, &'static str> {
        if len == 0 {
            return Err("empty fill");
        }
        if !(dst | len).is_multiple_of(4) {
            return Err("fill address or length not a multiple of 4 bytes");
        }
        Ok(Self::Fill {
            dst,
            len,
            word: u32::from_ne_bytes([value; 4]),
        })
    }

    /// True if only a full (not lite) channel can run it.
    pub fn needs_full_channel(&self, cbs: usize) -> bool {
        matches!(self, Self::Rects(_)) || self.control_blocks(crate::regs::MAX_LITE_LEN) > cbs
    }

    /// Control blocks it takes on a channel whose TXFR_LEN is at most `max_len` bytes.
    pub fn control_blocks(&self, max_len: usize) -> usize {
        match self {
            Self::Copy { len, .. } | Self::Fill { len, .. } => (*len as usize).div_ceil(max_len),
            Self::Rects(r) => r.len(),
        }
    }

    /// The chain: control block `i` lies at bus address `at + 32 i`; `pattern` is the bus
    /// address of the fill word. Only the last block raises the interrupt; every block
    /// waits for its writes' responses, so the interrupt means the data is in memory.
    pub fn encode(&self, max_len: usize, at: u32, pattern: u32) -> Vec<ControlBlock> {
        let base = TI::WAIT_RESP::SET + TI::DEST_INC::SET;
        let mut cbs = Vec::new();
        let mut linear = |ti: u32, dst: u32, src: Option<u32>, len: u32| {
            let mut done = 0u32;
            while done < len {
                let n = (len - done).min(max_len as u32);
                cbs.push(ControlBlock {
                    ti,
                    // A fill reads its one pattern word again and again (S_INC clear).
                    source: src.map_or(pattern, |s| s + done),
                    dest: dst + done,
                    txfr_len: n,
                    stride: 0,
                    next: 0,
                });
                done += n;
            }
        };
        match self {
            Self::Copy { dst, src, len } => {
                linear(bits(base + TI::SRC_INC::SET), *dst, Some(*src), *len)
            }
            Self::Fill { dst, len, .. } => linear(bits(base), *dst, None, *len),
            Self::Rects(rects) => {
                for r in rects {
                    cbs.push(ControlBlock {
                        ti: bits(base + TI::SRC_INC::SET + TI::TDMODE::SET),
                        source: r.src,
                        dest: r.dst,
                        txfr_len: bits(
                            TXFR_2D::XLENGTH.val(r.row_bytes) + TXFR_2D::YLENGTH.val(r.rows - 1),
                        ),
                        stride: bits(
                            STRIDE::S_STRIDE.val(r.src_step as u16 as u32)
                                + STRIDE::D_STRIDE.val(r.dst_step as u16 as u32),
                        ),
                        next: 0,
                    });
                }
            }
        }
        let n = cbs.len();
        for (i, cb) in cbs.iter_mut().enumerate() {
            if i + 1 < n {
                cb.next = at + ((i + 1) * CB_BYTES) as u32;
            } else {
                cb.ti |= bits(TI::INTEN::SET);
            }
        }
        cbs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regs::{MAX_LEN, MAX_LITE_LEN};
    use proptest::prelude::*;

    // TI bits by their documented positions (Peripherals §4.2.1.2, Linux BCM2835_DMA_*):
    // INTEN 0, TDMODE 1, WAIT_RESP 3, D_INC 4, S_INC 8.
    const INTEN: u32 = 1 << 0;
    const TDMODE: u32 = 1 << 1;
    const WAIT_RESP: u32 = 1 << 3;
    const D_INC: u32 = 1 << 4;
    const S_INC: u32 = 1 << 8;

    #[test]
    fn a_short_copy_is_one_block_that_interrupts() {
        let cbs = Plan::copy(0xC010_0000, 0xC020_0040, 12).unwrap().encode(
            MAX_LEN,
            0xC000_1020,
            0xC000_1000,
        );
        assert_eq!(
            cbs[..],
            [ControlBlock {
                ti: WAIT_RESP | D_INC | S_INC | INTEN,
                source: 0xC020_0040,
                dest: 0xC010_0000,
                txfr_len: 12,
                stride: 0,
                next: 0,
            }]
        );
        let b = cbs[0].bytes();
        assert_eq!(b[..4], (WAIT_RESP | D_INC | S_INC | INTEN).to_le_bytes());
        assert_eq!(b[4..8], 0xC020_0040u32.to_le_bytes());
        assert_eq!(b[8..12], 0xC010_0000u32.to_le_bytes());
        assert_eq!(b[12..16], 12u32.to_le_bytes());
        assert_eq!(b[20..], [0; 12]);
    }

    #[test]
    fn a_long_copy_on_a_lite_channel_is_a_chain_of_64k_minus_4_blocks() {
        let len = 0xFFFC + 8;
        let cbs = Plan::copy(0x1000, 0x40_0000, len)
            .unwrap()
            .encode(MAX_LITE_LEN, 0x2000, 0x1FE0);
        assert_eq!(cbs.len(), 2);
        assert_eq!(cbs[0].ti, WAIT_RESP | D_INC | S_INC);
        assert_eq!(
            (cbs[0].source, cbs[0].dest, cbs[0].txfr_len, cbs[0].next),
            (0x40_0000, 0x1000, 0xFFFC, 0x2020)
        );
        assert_eq!(cbs[1].ti, WAIT_RESP | D_INC | S_INC | INTEN);
        assert_eq!(
            (cbs[1].source, cbs[1].dest, cbs[1].txfr_len, cbs[1].next),
            (0x40_FFFC, 0x1_0FFC, 8, 0)
        );
        // A full channel takes it in one block.
        assert_eq!(
            Plan::copy(0x1000, 0x40_0000, len)
                .unwrap()
                .control_blocks(MAX_LEN),
            1
        );
    }

    #[test]
    fn a_fill_reads_the_pattern_word_without_incrementing() {
        let p = Plan::fill(0x3000, 0x1_0000, 0xA5).unwrap();
        assert_eq!(
            p,
            Plan::Fill {
                dst: 0x3000,
                len: 0x1_0000,
                word: 0xA5A5_A5A5
            }
        );
        let cbs = p.encode(MAX_LITE_LEN, 0x120, 0x100);
        assert_eq!(cbs.len(), 2);
        for cb in &cbs {
            assert_eq!(cb.source, 0x100);
            assert_eq!(cb.ti & (S_INC | D_INC), D_INC);
        }
        assert_eq!((cbs[1].dest, cbs[1].txfr_len), (0x3000 + 0xFFFC, 4));
    }

    #[test]
    fn a_rectangle_is_one_2d_block_with_ylength_rows_minus_one_and_strides() {
        // 3 rows of 8 bytes; source pitch 16, destination pitch 12 (raspi3b.md §4's test).
        let r = Rect2d::new(0x5000, 0x6000, 8, 3, 12, 16).unwrap();
        let cbs = Plan::Rects(alloc::vec![r, r]).encode(MAX_LEN, 0x100, 0xE0);
        assert_eq!(cbs.len(), 2);
        let first = ControlBlock {
            ti: WAIT_RESP | D_INC | S_INC | TDMODE,
            source: 0x6000,
            dest: 0x5000,
            txfr_len: 2 << 16 | 8,
            stride: 4 << 16 | 8,
            next: 0x120,
        };
        assert_eq!(cbs[0], first);
        assert_eq!(
            cbs[1],
            ControlBlock {
                ti: first.ti | INTEN,
                next: 0,
                ..first
            }
        );
        // The largest steps fit the signed 16-bit fields.
        let r = Rect2d::new(0, 0, 4, MAX_ROWS, 4 + 32764, 4).unwrap();
        let cb = Plan::Rects(alloc::vec![r]).encode(MAX_LEN, 0, 0)[0];
        assert_eq!(cb.stride, 32764 << 16);
        assert_eq!(cb.txfr_len, (MAX_ROWS - 1) << 16 | 4);
    }

    #[test]
    fn every_length_address_row_and_pitch_the_dma_cannot_run_is_refused() {
        assert!(Plan::copy(0, 0, 0).is_err());
        for bad in [1, 2, 3, 6, 4095] {
            assert!(Plan::copy(0, 0, bad).is_err(), "length {bad}");
            assert!(Plan::copy(bad, 0, 8).is_err(), "dst {bad}");
            assert!(Plan::copy(0, bad, 8).is_err(), "src {bad}");
            assert!(Plan::fill(0, bad, 1).is_err(), "fill length {bad}");
            assert!(Plan::fill(bad, 8, 1).is_err(), "fill dst {bad}");
            assert!(Rect2d::new(0, 0, bad, 1, 4096, 4096).is_err(), "row {bad}");
            assert!(
                Rect2d::new(0, 0, 8, 1, 4096 + bad as usize, 4096).is_err(),
                "pitch {bad}"
            );
            assert!(
                Rect2d::new(bad, 0, 8, 1, 4096, 4096).is_err(),
                "rect dst {bad}"
            );
        }
        assert!(Plan::fill(0, 0, 1).is_err());
        assert!(Rect2d::new(0, 0, 0, 1, 64, 64).is_err());
        assert!(Rect2d::new(0, 0, 0x1_0000, 1, 0x1_0000, 0x1_0000).is_err());
        assert!(Rect2d::new(0, 0, 8, 0, 64, 64).is_err());
        assert!(Rect2d::new(0, 0, 8, MAX_ROWS + 1, 64, 64).is_err());
        assert!(Rect2d::new(0, 0, 8, 2, 8 + 32768, 64).is_err());
        assert!(Rect2d::new(0, 0, 8, 2, 4, 64).is_err(), "pitch below a row");
    }

    proptest! {
        /// Any accepted copy becomes a chain that moves exactly its bytes, in order, in
        /// word-multiple blocks no longer than the channel takes, linked at 32-byte steps,
        /// only the last interrupting.
        #[test]
        fn chains_cover_the_copy_exactly(
            words in 1u32..400_000,
            dst in 0u32..0x1000_0000,
            src in 0u32..0x1000_0000,
            lite in any::<bool>(),
            fill in any::<bool>(),
        ) {
            let (len, dst, src) = (words * 4, dst & !3, src & !3);
            let max = if lite { MAX_LITE_LEN } else { MAX_LEN };
            let plan = if fill {
                Plan::fill(dst, len, 7).unwrap()
            } else {
                Plan::copy(dst, src, len).unwrap()
            };
            let at = 0xC000_0000;
            let cbs = plan.encode(max, at, 0xBFFF_FFE0);
            prop_assert_eq!(cbs.len(), plan.control_blocks(max));
            let mut done = 0;
            for (i, cb) in cbs.iter().enumerate() {
                prop_assert!(cb.txfr_len > 0 && cb.txfr_len % 4 == 0);
                prop_assert!(cb.txfr_len as usize <= max);
                prop_assert_eq!(cb.dest, dst + done);
                prop_assert_eq!(cb.source, if fill { 0xBFFF_FFE0 } else { src + done });
                let last = i + 1 == cbs.len();
                prop_assert_eq!(cb.ti & INTEN != 0, last);
                prop_assert_eq!(cb.next, if last { 0 } else { at + 32 * (i as u32 + 1) });
                done += cb.txfr_len;
            }
            prop_assert_eq!(done, len);
        }

        #[test]
        fn lengths_not_a_multiple_of_4_never_make_a_plan(len in 1u32..1 << 20) {
            prop_assume!(len % 4 != 0);
            prop_assert!(Plan::copy(0, 0, len).is_err());
            prop_assert!(Plan::fill(0, len, 0).is_err());
            prop_assert!(Rect2d::new(0, 0, len, 1, 1 << 20, 1 << 20).is_err());
        }
    }
}
