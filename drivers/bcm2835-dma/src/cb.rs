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
