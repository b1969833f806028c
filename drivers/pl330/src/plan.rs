//! Splitting a transfer of any length and alignment into runs of equal bursts, and the
//! channel program that performs them.
//!
//! **Alignment.** The PL330 TRM ("Aligned and unaligned transfers") lets SAR and DAR be
//! unaligned, but then the controller realigns data in its MFIFO and the first and last
//! beats are partial; Linux's memcpy preparation (`pl330_prep_dma_memcpy`) avoids that by
//! halving the beat size until source, destination and length are all aligned to it, "because
//! our DMA programming algorithm doesn't cope with transfers which straddle an entry in the
//! DMA device's MFIFO". QEMU's model accepts anything (`pl330_dmald` moves partial beats).
//! This plan is written for the hardware: **every beat is aligned on both sides to its own
//! size**. It uses the widest beat `s` (up to the controller's data width) with which source
//! and destination can both be aligned, i.e. `(src ^ dst) % s == 0`; a head of single beats
//! of 1, 2, 4, ... bytes brings both addresses to `s`, then bursts of up to 16 beats of `s`
//! move the bulk, and a tail of single narrower beats ends exactly at `dst + len`.
//!
//! **Bursts and the MFIFO.** A burst is 1 to 16 beats (CCR SB/DB); one burst of a channel
//! must fit the MFIFO, so the burst length is capped at `fifo_bytes / s` (CRD.data_buffer_dep).
//! Source and destination bursts are the same shape, so every DMALD is matched by one DMAST.
//!
//! Not handled: AXI's rule that a burst does not cross a 4 KiB boundary (whether the PL330
//! splits such bursts itself is not checked here; QEMU does not model bursts).

use crate::asm::{Asm, AsmError, BeatSize, Ccr, Insn, LoopCounter, MovReg};

/// `count` bursts of `burst` beats of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Bytes per beat.
    pub size: BeatSize,
    /// Beats per burst, 1..=16.
    pub burst: u8,
    /// Bursts.
    pub count: u32,
}

impl Run {
    /// Bytes the run moves.
    pub fn bytes(&self) -> u64 {
        self.size.bytes() as u64 * self.burst as u64 * self.count as u64
    }
}

/// Most runs a plan has: a head of up to 4 single beats (1, 2, 4, 8 bytes below 16), the
/// full bursts, one shorter burst, a tail of up to 4 single beats.
pub const MAX_RUNS: usize = 10;

/// A transfer as runs, in address order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    runs: [Run; MAX_RUNS],
    n: usize,
}

impl Plan {
    /// The runs.
    pub fn runs(&self) -> &[Run] {
        &self.runs[..self.n]
    }

    fn push(&mut self, run: Run) {
        if run.count == 0 || run.burst == 0 {
            return;
        }
        self.runs[self.n] = run;
        self.n += 1;
    }
}

/// What the controller allows a plan to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The widest beat: the AXI data width (CRD bits 2:0).
    pub width: BeatSize,
    /// The MFIFO's size in bytes: one burst must fit.
    pub fifo_bytes: usize,
}

/// Plans a transfer of `len` bytes reading from `src` and writing to `dst` (for a fill,
/// `src` is the fixed pattern address: pass any address aligned to the data width).
/// `len` must be at least 1.
pub fn plan(src: u64, dst: u64, len: u64, limits: Limits) -> Plan {
    let mut p = Plan {
        runs: [Run {
            size: BeatSize::B1,
            burst: 0,
            count: 0,
        }; MAX_RUNS],
        n: 0,
    };
    let diff = src ^ dst;
    let mut s = limits.width.bytes() as u64;
    while s > 1 && diff & (s - 1) != 0 {
        s /= 2;
    }
    let mut addr = dst;
    let end = dst + len;
    // Head: single beats of the address's own alignment until it is aligned to `s`.
    while !addr.is_multiple_of(s) {
        let b = addr & addr.wrapping_neg();
        if addr + b > end {
            break;
        }
        p.push(single(b));
        addr += b;
    }
    if addr.is_multiple_of(s) {
        let beats = (end - addr) / s;
        let max_burst = (limits.fifo_bytes as u64 / s).clamp(1, 16);
        let size = BeatSize::from_bytes(s as usize).expect("power of two up to the width");
        let full = beats / max_burst;
        // Counts above u32 would be a transfer of more than 64 GiB: not addressable here.
        p.push(Run {
            size,
            burst: max_burst as u8,
            count: full as u32,
        });
        p.push(Run {
            size,
            burst: (beats % max_burst) as u8,
            count: 1,
        });
        addr += beats * s;
    }
    // Tail: what is left is shorter than the alignment `addr` has, so its binary digits,
    // widest first, are each aligned.
    let mut b = s;
    while addr < end {
        while b > end - addr {
            b /= 2;
        }
        p.push(single(b));
        addr += b;
    }
    p
}

fn single(bytes: u64) -> Run {
    Run {
        size: BeatSize::from_bytes(bytes as usize).expect("power of two below the width"),
        burst: 1,
        count: 1,
    }
}

/// What a channel program does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    /// First source byte (a fill: the pattern, read again for every beat).
    pub src: u32,
    /// First destination byte.
    pub dst: u32,
    /// Whether the source address increments (copy) or stays (fill from a pattern).
    pub src_inc: bool,
    /// Whether the channel runs non-secure (its AXI accesses are then non-secure).
    pub nonsecure: bool,
    /// The event the program signals when its writes have completed.
    pub event: u8,
}

/// Writes the program that performs `plan` as `prog` says: SAR, DAR, then per run its CCR
/// and `count` x (DMALD, DMAST) in loops of up to 256 x 256, then DMAWMB (every write
/// acknowledged), DMASEV `event`, DMAEND. Returns the program's length.
pub fn assemble(buf: &mut [u8], plan: &Plan, prog: &Program) -> Result<usize, AsmError> {
    let mut a = Asm::new(buf);
    a.emit(Insn::Mov(MovReg::Sar, prog.src))?;
    a.emit(Insn::Mov(MovReg::Dar, prog.dst))?;
    for run in plan.runs() {
        let ccr = Ccr::mem_to_mem(run.size, run.burst, prog.src_inc, prog.nonsecure);
        a.emit(Insn::Mov(MovReg::Ccr, ccr.value()?))?;
        repeat(&mut a, run.count)?;
    }
    a.emit(Insn::Wmb)?;
    a.emit(Insn::Sev(prog.event))?;
    a.emit(Insn::End)?;
    a.finish()
}

/// `count` x (DMALD, DMAST): blocks of 256 x 256 in two nested loops, then the rest.
fn repeat(a: &mut Asm<'_>, mut count: u32) -> Result<(), AsmError> {
    const BLOCK: u32 = 256 * 256;
    while count > 0 {
        let n = count.min(BLOCK);
        let (outer, inner) = (n / 256, n % 256);
        if outer > 0 {
            if outer > 1 {
                a.lp(LoopCounter::Lc1, outer)?;
            }
            a.lp(LoopCounter::Lc0, 256)?;
            a.emit(Insn::Ld)?;
            a.emit(Insn::St)?;
            a.lpend()?;
            if outer > 1 {
                a.lpend()?;
            }
        }
        match inner {
            0 => {}
            1 => {
                a.emit(Insn::Ld)?;
                a.emit(Insn::St)?;
            }
            _ => {
                a.lp(LoopCounter::Lc0, inner)?;
                a.emit(Insn::Ld)?;
                a.emit(Insn::St)?;
                a.lpend()?;
            }
        }
        count -= n;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod interp {
    //! A channel-thread interpreter for the instructions programs use, written from the TRM,
    //! for tests: it records every beat each side moves and refuses what the hardware
    //! would not do under this plan's rules (a beat unaligned to its size, a store with no
    //! loaded data).

    use alloc::vec::Vec;

    /// What one program did.
    #[derive(Debug, Default)]
    pub struct Trace {
        /// (address, bytes) of every load beat, in order.
        pub loads: Vec<(u64, u64)>,
        /// (address, bytes) of every store beat, in order.
        pub stores: Vec<(u64, u64)>,
        /// Events signalled.
        pub events: Vec<u8>,
        /// Largest burst in bytes.
        pub max_burst_bytes: u64,
    }

    /// Runs the program in `code` (starting at offset 0) to its DMAEND.
    pub fn run(code: &[u8]) -> Result<Trace, &'static str> {
        let mut t = Trace::default();
        let (mut sar, mut dar, mut ccr) = (0u64, 0u64, 0u32);
        let mut lc = [0u32; 2];
        let mut fifo: u64 = 0;
        let mut pc = 0usize;
        let mut steps = 0u64;
        loop {
            steps += 1;
            if steps > 50_000_000 {
                return Err("runaway program");
            }
            let op = *code.get(pc).ok_or("pc left the program")?;
            let arg = |i: usize| code.get(pc + i).copied().ok_or("operand past the end");
            let imm = |pc: usize| -> Result<u32, &'static str> {
                let b = code.get(pc + 2..pc + 6).ok_or("operand past the end")?;
                Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            };
            match op {
                0x00 => {
                    if fifo != 0 {
                        return Err("DMAEND with data left in the FIFO");
                    }
                    return Ok(t);
                }
                0xBC => {
                    let v = imm(pc)?;
                    match arg(1)? {
                        0 => sar = v as u64,
                        1 => ccr = v,
                        2 => dar = v as u64,
                        _ => return Err("DMAMOV to a bad register"),
                    }
                    pc += 6;
                }
                0x20 | 0x22 => {
                    lc[((op >> 1) & 1) as usize] = arg(1)? as u32;
                    pc += 2;
                }
                0x38 | 0x3C => {
                    let c = ((op >> 2) & 1) as usize;
                    if lc[c] > 0 {
                        lc[c] -= 1;
                        pc -= arg(1)? as usize;
                    } else {
                        pc += 2;
                    }
                }
                0x04 => {
                    let size = 1u64 << ((ccr >> 1) & 7);
                    let n = ((ccr >> 4) & 0xF) as u64 + 1;
                    t.max_burst_bytes = t.max_burst_bytes.max(size * n);
                    for _ in 0..n {
                        if sar % size != 0 {
                            return Err("source beat unaligned to its size");
                        }
                        t.loads.push((sar, size));
                        fifo += size;
                        if ccr & 1 != 0 {
                            sar += size;
                        }
                    }
                    pc += 1;
                }
                0x08 => {
                    let size = 1u64 << ((ccr >> 15) & 7);
                    let n = ((ccr >> 18) & 0xF) as u64 + 1;
                    for _ in 0..n {
                        if dar % size != 0 {
                            return Err("destination beat unaligned to its size");
                        }
                        if fifo < size {
                            return Err("store with no data in the FIFO");
                        }
                        fifo -= size;
                        t.stores.push((dar, size));
                        if ccr & (1 << 14) != 0 {
                            dar += size;
                        }
                    }
                    pc += 1;
                }
                0x13 | 0x12 | 0x18 => pc += 1,
                0x34 => {
                    t.events.push(arg(1)? >> 3);
                    pc += 2;
                }
                _ => return Err("instruction programs do not use"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    const MDMA: Limits = Limits {
        width: BeatSize::B8,
        fifo_bytes: 1024,
    };

    fn program_for(src: u64, dst: u64, len: u64, src_inc: bool, limits: Limits) -> Vec<u8> {
        let p = plan(src, dst, len, limits);
        let mut buf = vec![0u8; 512];
        let n = assemble(
            &mut buf,
            &p,
            &Program {
                src: src as u32,
                dst: dst as u32,
                src_inc,
                nonsecure: false,
                event: 3,
            },
        )
        .unwrap();
        buf.truncate(n);
        buf
    }

    /// The beats cover `[start, start + len)` exactly once, in order.
    fn covers(beats: &[(u64, u64)], start: u64, len: u64) -> bool {
        let mut at = start;
        for &(a, n) in beats {
            if a != at {
                return false;
            }
            at += n;
        }
        at == start + len
    }

    #[test]
    fn aligned_megabyte_uses_full_width_bursts_of_sixteen() {
        let p = plan(0x4100_0000, 0x4200_0000, 1 << 20, MDMA);
        assert_eq!(
            p.runs(),
            &[Run {
                size: BeatSize::B8,
                burst: 16,
                count: 8192
            }]
        );
        let code = program_for(0x4100_0000, 0x4200_0000, 1 << 20, true, MDMA);
        let t = interp::run(&code).unwrap();
        assert_eq!(t.max_burst_bytes, 128);
        assert!(covers(&t.stores, 0x4200_0000, 1 << 20));
        assert_eq!(t.events, [3]);
    }

    #[test]
    fn differently_aligned_ends_use_the_common_alignment() {
        // src odd, dst odd: one byte brings both to 2 (and 2 to 4, 4 to 8).
        let p = plan(0x1001, 0x2001, 100, MDMA);
        assert_eq!(p.runs()[0].size, BeatSize::B1);
        assert_eq!(p.runs()[1].size, BeatSize::B2);
        assert_eq!(p.runs()[2].size, BeatSize::B4);
        assert_eq!(p.runs()[3].size, BeatSize::B8);
        // src and dst differ by 2 mod 8: halfwords are the widest common beat.
        let p = plan(0x1002, 0x2004, 64, MDMA);
        assert!(p.runs().iter().all(|r| r.size <= BeatSize::B2));
        // a small MFIFO caps the burst.
        let p = plan(
            0,
            0,
            256,
            Limits {
                width: BeatSize::B8,
                fifo_bytes: 64,
            },
        );
        assert_eq!(p.runs()[0].burst, 8);
    }

    #[test]
    fn a_transfer_shorter_than_the_head_is_all_single_beats() {
        let p = plan(0x1001, 0x2001, 1, MDMA);
        assert_eq!(p.runs(), &[single(1)]);
        let p = plan(0x1003, 0x2003, 3, MDMA);
        assert_eq!(p.runs(), &[single(1), single(2)]);
        let code = program_for(0x1003, 0x2003, 3, true, MDMA);
        let t = interp::run(&code).unwrap();
        assert!(covers(&t.stores, 0x2003, 3));
    }

    #[test]
    fn a_fill_reads_one_pattern_word_again_and_again() {
        let code = program_for(0x8000, 0x2003, 1000, false, MDMA);
        let t = interp::run(&code).unwrap();
        assert!(covers(&t.stores, 0x2003, 1000));
        assert!(t.loads.iter().all(|&(a, n)| a == 0x8000 && n <= 8));
    }

    #[test]
    fn the_longest_byte_by_byte_transfer_fits_a_program_slot() {
        // src and dst differ by 1 mod 2: byte beats only; 16 MiB = 16 blocks of 256 x 256
        // bursts of 16 bytes.
        let code = program_for(0x1000, 0x0100_0001, 16 << 20, true, MDMA);
        assert!(code.len() <= 256, "{} bytes", code.len());
        let t = interp::run(&code).unwrap();
        assert!(covers(&t.stores, 0x0100_0001, 16 << 20));
    }

    #[test]
    fn a_program_too_long_for_its_slot_is_an_overflow_error() {
        // 64 MiB byte by byte needs 64 blocks of 256 x 256 bursts: more than 256 bytes.
        let p = plan(0x1000, 0x0400_0001, 64 << 20, MDMA);
        let mut buf = [0u8; 256];
        let prog = Program {
            src: 0x1000,
            dst: 0x0400_0001,
            src_inc: true,
            nonsecure: false,
            event: 0,
        };
        assert_eq!(
            assemble(&mut buf, &p, &prog),
            Err(AsmError::Overflow { capacity: 256 })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn a_plan_reads_and_writes_exactly_the_spans(
            src in 0u64..4096,
            dst in 0u64..4096,
            len in prop_oneof![1u64..300, 1u64..(1 << 20)],
            width in prop_oneof![Just(BeatSize::B4), Just(BeatSize::B8)],
        ) {
            let (src, dst) = (0x4000_0000 + src, 0x5000_0000 + dst);
            let limits = Limits { width, fifo_bytes: 256 };
            let p = plan(src, dst, len, limits);
            prop_assert!(p.runs().iter().map(Run::bytes).sum::<u64>() == len);
            let code = program_for(src, dst, len, true, limits);
            let t = interp::run(&code).map_err(TestCaseError::fail)?;
            prop_assert!(covers(&t.loads, src, len), "reads");
            prop_assert!(covers(&t.stores, dst, len), "writes");
            prop_assert!(t.max_burst_bytes <= 128);
            // The widest common beat carries everything but at most 2 x 15 bytes.
            let mut s = width.bytes() as u64;
            while (src ^ dst) & (s - 1) != 0 { s /= 2; }
            let narrow: u64 = t.stores.iter().filter(|b| b.1 < s).map(|b| b.1).sum();
            prop_assert!(narrow < 2 * s);
        }
    }
}
