//! A PL330 microcode assembler: typed instructions to bytes in a caller's buffer.
//!
//! Encodings from the PL330 TRM (ARM DDI 0424, "Instruction set reference"), checked
//! against Linux `drivers/dma/pl330.c` (`CMD_DMA*`, `SZ_DMA*`) and QEMU's decoder
//! (`insn_desc[]` in `hw/dma/pl330.c`), hardware.md §2.2 and §3.3. Multi-byte immediates
//! are little-endian. `DMALPEND`'s operand is the distance back from the `DMALPEND` to the
//! first instruction of the loop body (QEMU `pl330_dmalpend`: `pc -= args[0] + len + 1`
//! from the instruction after it); the assembler computes it.

use core::fmt;

/// A DMAMOV destination register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovReg {
    /// The source address register.
    Sar = 0,
    /// The channel control register.
    Ccr = 1,
    /// The destination address register.
    Dar = 2,
}

/// A loop counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopCounter {
    /// LC0.
    Lc0 = 0,
    /// LC1.
    Lc1 = 1,
}

/// Bytes per beat (CCR SRC/DST_BURST_SIZE is log2 of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BeatSize {
    /// 1 byte.
    B1 = 0,
    /// 2 bytes.
    B2 = 1,
    /// 4 bytes.
    B4 = 2,
    /// 8 bytes.
    B8 = 3,
    /// 16 bytes.
    B16 = 4,
}

impl BeatSize {
    /// The beat size of `bytes` (a power of two up to 16).
    pub const fn from_bytes(bytes: usize) -> Option<Self> {
        Some(match bytes {
            1 => Self::B1,
            2 => Self::B2,
            4 => Self::B4,
            8 => Self::B8,
            16 => Self::B16,
            _ => return None,
        })
    }

    /// Bytes per beat.
    pub const fn bytes(self) -> usize {
        1 << self as usize
    }
}

/// The channel control register (TRM "Channel Control Registers"; Linux `CC_*` shifts;
/// hardware.md §3.3). `burst` is the number of beats per burst, 1 to 16. `prot` is the
/// AXI ARPROT/AWPROT value (bit 0 privileged, bit 1 non-secure, bit 2 instruction), `cache`
/// the AXI ARCACHE/AWCACHE bits 2:0 (0: non-cacheable, non-bufferable: what a transfer of
/// buffers the CPU caches are maintained for needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ccr {
    /// Increment the source address after each beat.
    pub src_inc: bool,
    /// Source beat size.
    pub src_size: BeatSize,
    /// Source beats per burst (1..=16).
    pub src_burst: u8,
    /// Source AXI protection bits.
    pub src_prot: u8,
    /// Source AXI cache bits.
    pub src_cache: u8,
    /// Increment the destination address after each beat.
    pub dst_inc: bool,
    /// Destination beat size.
    pub dst_size: BeatSize,
    /// Destination beats per burst (1..=16).
    pub dst_burst: u8,
    /// Destination AXI protection bits.
    pub dst_prot: u8,
    /// Destination AXI cache bits.
    pub dst_cache: u8,
}

/// AXI protection bit 0: privileged access.
pub const PROT_PRIVILEGED: u8 = 1;
/// AXI protection bit 1: non-secure access.
pub const PROT_NONSECURE: u8 = 2;

impl Ccr {
    /// A memory-to-memory transfer of `burst` beats of `size` per burst on both sides,
    /// the destination incrementing, the source incrementing when `src_inc`; privileged,
    /// secure or not per `nonsecure`, non-cacheable.
    pub const fn mem_to_mem(size: BeatSize, burst: u8, src_inc: bool, nonsecure: bool) -> Self {
        let prot = PROT_PRIVILEGED | if nonsecure { PROT_NONSECURE } else { 0 };
        Self {
            src_inc,
            src_size: size,
            src_burst: burst,
            src_prot: prot,
            src_cache: 0,
            dst_inc: true,
            dst_size: size,
            dst_burst: burst,
            dst_prot: prot,
            dst_cache: 0,
        }
    }

    /// The register value, or `Err` naming the field out of range.
    pub fn value(&self) -> Result<u32, AsmError> {
        for (what, v, max) in [
            ("source burst length", self.src_burst as u32, 16),
            ("destination burst length", self.dst_burst as u32, 16),
        ] {
            if v == 0 || v > max {
                return Err(AsmError::BadCcr { what, value: v });
            }
        }
        for (what, v) in [
            ("source protection", self.src_prot),
            ("source cache", self.src_cache),
            ("destination protection", self.dst_prot),
            ("destination cache", self.dst_cache),
        ] {
            if v > 7 {
                return Err(AsmError::BadCcr {
                    what,
                    value: v as u32,
                });
            }
        }
        Ok(self.src_inc as u32
            | (self.src_size as u32) << 1
            | (self.src_burst as u32 - 1) << 4
            | (self.src_prot as u32) << 8
            | (self.src_cache as u32) << 11
            | (self.dst_inc as u32) << 14
            | (self.dst_size as u32) << 15
            | (self.dst_burst as u32 - 1) << 18
            | (self.dst_prot as u32) << 22
            | (self.dst_cache as u32) << 25)
    }
}

/// One instruction. Loops are written through [`Asm::lp`] and [`Asm::lpend`], which
/// compute the jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// DMAEND (0x00): the thread stops.
    End,
    /// DMAKILL (0x01): the thread terminates (debug interface only in practice).
    Kill,
    /// DMANOP (0x18).
    Nop,
    /// DMARMB (0x12): wait until the channel's reads have completed.
    Rmb,
    /// DMAWMB (0x13): wait until the channel's writes have completed.
    Wmb,
    /// DMALD (0x04): one burst from SAR into the FIFO.
    Ld,
    /// DMAST (0x08): one burst from the FIFO to DAR.
    St,
    /// DMASTZ (0x0C): one burst of zeros to DAR.
    Stz,
    /// DMAMOV (0xBC): load a register with a 32-bit immediate.
    Mov(MovReg, u32),
    /// DMASEV (0x34): signal event (or raise interrupt) 0..31.
    Sev(u8),
    /// DMAGO (0xA0 secure, 0xA2 non-secure): start channel `chan` at `pc` (manager only).
    Go {
        /// The channel to start, 0..7.
        chan: u8,
        /// Its program's bus address.
        pc: u32,
        /// Start it non-secure.
        nonsecure: bool,
    },
}

impl Insn {
    /// The encoded bytes (at most 6) and their count; `Err` for an operand out of range.
    pub fn encode(self) -> Result<([u8; 6], usize), AsmError> {
        let mut b = [0u8; 6];
        let n = match self {
            Insn::End => {
                b[0] = 0x00;
                1
            }
            Insn::Kill => {
                b[0] = 0x01;
                1
            }
            Insn::Nop => {
                b[0] = 0x18;
                1
            }
            Insn::Rmb => {
                b[0] = 0x12;
                1
            }
            Insn::Wmb => {
                b[0] = 0x13;
                1
            }
            Insn::Ld => {
                b[0] = 0x04;
                1
            }
            Insn::St => {
                b[0] = 0x08;
                1
            }
            Insn::Stz => {
                b[0] = 0x0C;
                1
            }
            Insn::Mov(rd, imm) => {
                b[0] = 0xBC;
                b[1] = rd as u8;
                b[2..6].copy_from_slice(&imm.to_le_bytes());
                6
            }
            Insn::Sev(ev) => {
                if ev > 31 {
                    return Err(AsmError::BadEvent(ev));
                }
                b[0] = 0x34;
                b[1] = ev << 3;
                2
            }
            Insn::Go {
                chan,
                pc,
                nonsecure,
            } => {
                if chan > 7 {
                    return Err(AsmError::BadChannel(chan));
                }
                b[0] = 0xA0 | (nonsecure as u8) << 1;
                b[1] = chan;
                b[2..6].copy_from_slice(&pc.to_le_bytes());
                6
            }
        };
        Ok((b, n))
    }
}

/// Why a program could not be assembled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsmError {
    /// The buffer holds `capacity` bytes; the program needs more.
    Overflow {
        /// The buffer's size.
        capacity: usize,
    },
    /// A loop count outside 1..=256.
    LoopCount(u32),
    /// A third nested loop, or a loop on a counter an enclosing loop already uses.
    LoopNesting,
    /// A loop body longer than DMALPEND can jump back over (255 bytes).
    LoopTooLong(usize),
    /// DMALPEND with no open loop.
    NoOpenLoop,
    /// The program ended inside a loop.
    UnclosedLoop,
    /// An event number above 31.
    BadEvent(u8),
    /// A channel number above 7.
    BadChannel(u8),
    /// A CCR field out of range.
    BadCcr {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u32,
    },
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Overflow { capacity } => {
                write!(f, "PL330 program does not fit in {capacity} bytes")
            }
            Self::LoopCount(n) => write!(f, "PL330 loop count {n} is not in 1..=256"),
            Self::LoopNesting => f.write_str("PL330 loops nest two deep, one per counter"),
            Self::LoopTooLong(n) => {
                write!(f, "PL330 loop body of {n} bytes is longer than 255")
            }
            Self::NoOpenLoop => f.write_str("DMALPEND without DMALP"),
            Self::UnclosedLoop => f.write_str("PL330 program ends inside a loop"),
            Self::BadEvent(e) => write!(f, "PL330 event {e} is not in 0..=31"),
            Self::BadChannel(c) => write!(f, "PL330 channel {c} is not in 0..=7"),
            Self::BadCcr { what, value } => write!(f, "CCR {what} {value} out of range"),
        }
    }
}

/// An assembler writing into a caller's buffer; bounded: an instruction that does not fit
/// is an `Err` and leaves the buffer's used part as it was.
#[derive(Debug)]
pub struct Asm<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// Open loops: counter and the offset of the first body instruction.
    open: [Option<(LoopCounter, usize)>; 2],
    depth: usize,
}

impl<'a> Asm<'a> {
    /// An empty program in `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            open: [None; 2],
            depth: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first instruction.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), AsmError> {
        let end = self.len + bytes.len();
        if end > self.buf.len() {
            return Err(AsmError::Overflow {
                capacity: self.buf.len(),
            });
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Appends `insn`.
    pub fn emit(&mut self, insn: Insn) -> Result<(), AsmError> {
        let (b, n) = insn.encode()?;
        self.put(&b[..n])
    }

    /// DMALP: opens a loop on `lc` whose body runs `count` (1..=256) times.
    pub fn lp(&mut self, lc: LoopCounter, count: u32) -> Result<(), AsmError> {
        if count == 0 || count > 256 {
            return Err(AsmError::LoopCount(count));
        }
        if self.depth == 2
            || self.open[..self.depth]
                .iter()
                .any(|o| o.is_some_and(|(c, _)| c == lc))
        {
            return Err(AsmError::LoopNesting);
        }
        self.put(&[0x20 | (lc as u8) << 1, (count - 1) as u8])?;
        self.open[self.depth] = Some((lc, self.len));
        self.depth += 1;
        Ok(())
    }

    /// DMALPEND: closes the innermost loop, jumping back to its first body instruction.
    pub fn lpend(&mut self) -> Result<(), AsmError> {
        if self.depth == 0 {
            return Err(AsmError::NoOpenLoop);
        }
        let (lc, body) = self.open[self.depth - 1].expect("open below depth");
        let jump = self.len - body;
        if jump > 255 {
            return Err(AsmError::LoopTooLong(jump));
        }
        // 0x28 | nf (bit 4: not forever) | lc (bit 2); bs = 0 (unconditional).
        self.put(&[0x38 | (lc as u8) << 2, jump as u8])?;
        self.open[self.depth - 1] = None;
        self.depth -= 1;
        Ok(())
    }

    /// The program's length; `Err` if a loop is still open.
    pub fn finish(self) -> Result<usize, AsmError> {
        if self.depth != 0 {
            return Err(AsmError::UnclosedLoop);
        }
        Ok(self.len)
    }
}

/// The DBGINST0/DBGINST1 pair that executes `insn` through the debug interface: on the
/// manager thread, or on channel `chan`'s (TRM "DBGINST0 Register": bits 31:24 instruction
/// byte 1, 23:16 byte 0, 10:8 channel, 0 = 1 for a channel thread; DBGINST1 = bytes 2..5;
/// QEMU `pl330_debug_exec`). Only DMAGO, DMAKILL and DMASEV may be issued this way.
pub fn debug_words(insn: Insn, chan: Option<u8>) -> Result<(u32, u32), AsmError> {
    let (b, _) = insn.encode()?;
    let (thread, ch) = match chan {
        None => (0, 0),
        Some(c) if c <= 7 => (1, c),
        Some(c) => return Err(AsmError::BadChannel(c)),
    };
    let w0 = (b[1] as u32) << 24 | (b[0] as u32) << 16 | (ch as u32) << 8 | thread;
    let w1 = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    Ok((w0, w1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn the_verified_307200_byte_copy_assembles_to_the_bytes_qemu_ran() {
        // hardware.md §2.2: SI | SS=4 B | SB=16, DI | DS=4 B | DB=16: 64-byte bursts;
        // 300 x 16 x 64 = 307200 bytes.
        let ccr = Ccr::mem_to_mem(BeatSize::B4, 16, true, false);
        let ccr = Ccr {
            src_prot: 0,
            dst_prot: 0,
            ..ccr
        };
        let v = ccr.value().unwrap();
        assert_eq!(v, 1 | 2 << 1 | 15 << 4 | 1 << 14 | 2 << 15 | 15 << 18);
        let mut buf = [0u8; 64];
        let mut a = Asm::new(&mut buf);
        a.emit(Insn::Mov(MovReg::Sar, 0x4100_0000)).unwrap();
        a.emit(Insn::Mov(MovReg::Ccr, v)).unwrap();
        a.emit(Insn::Mov(MovReg::Dar, 0x4200_0000)).unwrap();
        a.lp(LoopCounter::Lc1, 300).unwrap_err();
        a.lp(LoopCounter::Lc1, 150).unwrap();
        a.lp(LoopCounter::Lc0, 32).unwrap();
        a.emit(Insn::Ld).unwrap();
        a.emit(Insn::St).unwrap();
        a.lpend().unwrap();
        a.lpend().unwrap();
        a.emit(Insn::Wmb).unwrap();
        a.emit(Insn::Sev(0)).unwrap();
        a.emit(Insn::End).unwrap();
        let n = a.finish().unwrap();
        let mut want = vec![0xBC, 0x00, 0x00, 0x00, 0x00, 0x41, 0xBC, 0x01];
        want.extend_from_slice(&v.to_le_bytes());
        want.extend_from_slice(&[0xBC, 0x02, 0x00, 0x00, 0x00, 0x42]);
        want.extend_from_slice(&[0x22, 149, 0x20, 31, 0x04, 0x08, 0x38, 0x02, 0x3C, 0x06]);
        want.extend_from_slice(&[0x13, 0x34, 0x00, 0x00]);
        assert_eq!(&buf[..n], &want[..]);
    }

    #[test]
    fn every_instruction_encodes_as_the_trm_says() {
        let enc = |i: Insn| {
            let (b, n) = i.encode().unwrap();
            b[..n].to_vec()
        };
        assert_eq!(enc(Insn::End), [0x00]);
        assert_eq!(enc(Insn::Kill), [0x01]);
        assert_eq!(enc(Insn::Nop), [0x18]);
        assert_eq!(enc(Insn::Rmb), [0x12]);
        assert_eq!(enc(Insn::Wmb), [0x13]);
        assert_eq!(enc(Insn::Ld), [0x04]);
        assert_eq!(enc(Insn::St), [0x08]);
        assert_eq!(enc(Insn::Stz), [0x0C]);
        assert_eq!(enc(Insn::Sev(5)), [0x34, 5 << 3]);
        assert_eq!(enc(Insn::Sev(31)), [0x34, 0xF8]);
        assert_eq!(
            enc(Insn::Go {
                chan: 3,
                pc: 0x1234_5678,
                nonsecure: true
            }),
            [0xA2, 3, 0x78, 0x56, 0x34, 0x12]
        );
        assert_eq!(Insn::Sev(32).encode(), Err(AsmError::BadEvent(32)));
        assert_eq!(
            Insn::Go {
                chan: 8,
                pc: 0,
                nonsecure: false
            }
            .encode(),
            Err(AsmError::BadChannel(8))
        );
    }

    #[test]
    fn debug_words_match_the_verified_launch() {
        // hardware.md §2.2: DBGINST0 = chan << 24 | 0xA0 << 16 | 0 (manager), DBGINST1 = pc.
        let (w0, w1) = debug_words(
            Insn::Go {
                chan: 5,
                pc: 0x4800_0040,
                nonsecure: false,
            },
            None,
        )
        .unwrap();
        assert_eq!(w0, 5 << 24 | 0xA0 << 16);
        assert_eq!(w1, 0x4800_0040);
        // DMAKILL on channel 2's thread: opcode 0x01 in byte 0, channel 2, thread bit set.
        let (k0, k1) = debug_words(Insn::Kill, Some(2)).unwrap();
        assert_eq!(k0, 0x01 << 16 | 2 << 8 | 1);
        assert_eq!(k1, 0);
        assert_eq!(
            debug_words(Insn::Kill, Some(9)),
            Err(AsmError::BadChannel(9))
        );
    }

    #[test]
    fn loops_are_bounded_nested_twice_and_jump_to_their_body() {
        let mut buf = [0u8; 600];
        let mut a = Asm::new(&mut buf);
        assert_eq!(a.lp(LoopCounter::Lc0, 0), Err(AsmError::LoopCount(0)));
        assert_eq!(a.lp(LoopCounter::Lc0, 257), Err(AsmError::LoopCount(257)));
        assert_eq!(a.lpend(), Err(AsmError::NoOpenLoop));
        a.lp(LoopCounter::Lc0, 256).unwrap();
        assert_eq!(a.lp(LoopCounter::Lc0, 2), Err(AsmError::LoopNesting));
        a.lp(LoopCounter::Lc1, 1).unwrap();
        assert_eq!(a.lp(LoopCounter::Lc1, 2), Err(AsmError::LoopNesting));
        for _ in 0..256 {
            a.emit(Insn::Nop).unwrap();
        }
        assert_eq!(a.lpend(), Err(AsmError::LoopTooLong(256)));
        let mut buf = [0u8; 8];
        let mut a = Asm::new(&mut buf);
        a.lp(LoopCounter::Lc0, 256).unwrap();
        a.emit(Insn::Ld).unwrap();
        a.lpend().unwrap();
        assert_eq!(&a.buf[..a.len], &[0x20, 0xFF, 0x04, 0x38, 0x01]);
        a.lp(LoopCounter::Lc1, 2).unwrap();
        assert_eq!(a.finish(), Err(AsmError::UnclosedLoop));
    }

    #[test]
    fn overflow_is_an_error_and_writes_nothing_past_the_buffer() {
        let mut buf = [0xEEu8; 8];
        let mut a = Asm::new(&mut buf[..7]);
        a.emit(Insn::Mov(MovReg::Sar, 1)).unwrap();
        assert_eq!(
            a.emit(Insn::Mov(MovReg::Dar, 2)),
            Err(AsmError::Overflow { capacity: 7 })
        );
        a.emit(Insn::End).unwrap();
        assert_eq!(a.emit(Insn::End), Err(AsmError::Overflow { capacity: 7 }));
        assert_eq!(buf[7], 0xEE);
    }

    #[test]
    fn ccr_fields_are_checked() {
        let bad = Ccr {
            src_burst: 17,
            ..Ccr::mem_to_mem(BeatSize::B8, 16, true, false)
        };
        assert_eq!(
            bad.value(),
            Err(AsmError::BadCcr {
                what: "source burst length",
                value: 17
            })
        );
        let bad = Ccr {
            dst_cache: 8,
            ..Ccr::mem_to_mem(BeatSize::B8, 16, true, false)
        };
        assert!(bad.value().is_err());
        let v = Ccr::mem_to_mem(BeatSize::B8, 16, false, true)
            .value()
            .unwrap();
        // SI clear, SS = 3, SB = 15, SP = privileged | non-secure; the same for DST with DI.
        assert_eq!(
            v,
            3 << 1 | 15 << 4 | 3 << 8 | 1 << 14 | 3 << 15 | 15 << 18 | 3 << 22
        );
    }
}
