//! A register-level model of the i.MX Smart DMA controller (SDMA, here SDMA1 of the
//! i.MX 8M Plus) for host tests. QEMU's imx8mp-evk maps SDMA1-3 as unimplemented devices;
//! this model is what the driver's tests run against.
//!
//! Written from the public sources (Linux `drivers/dma/imx-sdma.c` and
//! `include/linux/platform_data/dma-imx-sdma.h`, facts only; hardware.md §3.5), apart from
//! the driver: this crate may not depend on it (`xtask/tests/layers.rs`).
//!
//! # What it is, and what it is not
//!
//! The SDMA is a small RISC core that runs scripts from its ROM or RAM. **This model is not
//! a CPU emulator.** It models the host register interface (C0PTR, INTR, STATSTOP, HSTART,
//! EVTOVR, DSPOVR, HOSTOVR, EVTPEND, DSPENBL, RESET, CONFIG, CHN0ADDR, CHNPRI, CHNENBL, …)
//! and the *effect* of two pieces of code on memory, as `imx-sdma.c` relies on them:
//!
//! - **channel 0's boot code**: the buffer descriptor the CCB of channel 0 points at, with
//!   command C0_SETDM and EXTD, copies `count` words from its buffer address into the
//!   SDMA's data memory at word address `ext_buffer_addr`; a full 32-word write at
//!   `2048 + 32 * n` is channel n's context (`sdma_load_context`). Channel 0 runs inside
//!   the HSTART write that starts it (the driver polls STATSTOP bit 0 for it, as
//!   `sdma_run_channel0` does), then clears DONE in the BD and its HE bit.
//! - **the ROM script ap_2_ap** (PC 644 in `sdma_script_imx7d`): for each BD from the
//!   channel's `current_bd_ptr`, copies `count` bytes from the buffer address to the
//!   extended address, clears DONE, raises the channel's INTR bit if the BD has INTR,
//!   continues while CONT is set (WRAP: at `base_bd_ptr`), stops at a BD whose DONE is
//!   clear. A bad BD gets ERROR set and DONE cleared, raises INTR and ends the chain.
//!
//! A channel whose context holds any other PC is recorded as [`ModelError::UnsupportedScript`]
//! and does not run. A data channel runs when the test lets time pass ([`SdmaModel::run`]),
//! if it is eligible: HE (set by HSTART) or its HOSTOVR bit, its EVTOVR bit or a pending
//! event, its DSPOVR bit, and a priority above 0 (CHNPRI), highest priority first. The
//! model does not write the CCB's `current_bd_ptr` back and keeps no other state of the
//! script: a started ap_2_ap channel restarts at the CCB's `current_bd_ptr` each time.
//!
//! # Errors and faults
//!
//! Programming the hardware would reject or misexecute is recorded ([`ModelError`],
//! [`SdmaModel::errors`]): a channel started without its context loaded, an unsupported
//! script or channel-0 command, a BD with count 0, without EXTD or not 4-byte aligned
//! (Linux declares `copy_align = 2` for ap_2_ap; other alignments are not described), a chain longer than
//! [`MAX_CHAIN`] BDs without end, an address outside memory, C0PTR written while a channel
//! is active. Faults ([`Fault`]): a hang (the next data channel started never completes
//! until STATSTOP or RESET stops it) and a bus error (the first data access of the next
//! channel fails: the BD gets ERROR, as the ROM scripts' error path reports it to
//! `mxc_sdma_handle_channel_normal`, and INTR is raised).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod regs;

use std::sync::Mutex;

use dmasync_hal::dma::{BusAddr, DeviceId};
use dmasync_hal::mmio::RegisterIo;
use dmasync_sim::NonCoherentSim;

use regs::*;

/// BDs one chain may have before the model calls it endless: one 4 KiB page of BDs, the
/// table `imx-sdma.c` allocates per transfer (`NUM_BD`).
pub const MAX_CHAIN: u32 = 4096 / BD_BYTES as u32;

/// Words of the SDMA data memory the model keeps (the context area ends at 3072).
const DATA_WORDS: usize = 4096;

/// Programming the hardware would reject or misexecute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// An offset with no register.
    UnknownRegister {
        /// The offset.
        offset: usize,
        /// True for a write.
        write: bool,
    },
    /// A channel was started while C0PTR was 0 (no CCB array).
    NoChannelControlBlocks {
        /// The channel.
        channel: usize,
    },
    /// C0PTR was written while a channel was active.
    C0ptrWhileActive,
    /// A data channel ran without a context loaded through channel 0.
    ContextNotLoaded {
        /// The channel.
        channel: usize,
    },
    /// The channel's context PC is a script the model does not execute.
    UnsupportedScript {
        /// The channel.
        channel: usize,
        /// The PC.
        pc: u32,
    },
    /// A channel-0 BD with a command other than C0_SETDM (or SETDM without EXTD, or outside
    /// the data memory).
    UnsupportedCommand {
        /// The BD's command byte.
        command: u32,
    },
    /// A BD the script rejects: count 0, no EXTD, or a command byte ap_2_ap does not know.
    BadDescriptor {
        /// The channel.
        channel: usize,
        /// Bus address of the BD.
        bd: u64,
        /// What was wrong.
        why: &'static str,
    },
    /// A chain of more than [`MAX_CHAIN`] BDs: no WRAP and no terminating BD.
    ChainWithoutEnd {
        /// The channel.
        channel: usize,
    },
    /// A BD, CCB or buffer outside memory.
    AddressOutsideMemory {
        /// Bus address of the first byte.
        addr: u64,
        /// Bytes.
        len: u64,
    },
    /// An injected bus error at this access.
    BusError {
        /// Bus address of the access.
        addr: u64,
    },
}

/// Injected faults, applied to the next data channel that runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Never completes until STATSTOP or RESET stops it.
    Hang,
    /// Its first data access fails.
    BusError,
}

#[derive(Debug)]
struct St {
    regs: Vec<u32>,
    /// HE bits: set by HSTART, cleared by STATSTOP writes and at the end of a chain.
    he: u32,
    intr: u32,
    data: Vec<u32>,
    /// Channels whose context area was written completely since reset.
    loaded: u32,
    /// Channels that hang (injected).
    hung: u32,
    armed: Option<Fault>,
    errors: Vec<ModelError>,
    writes: Vec<(usize, u32)>,
    bds: u32,
    bytes: u64,
    context_loads: u32,
    resets: u32,
}

/// The SDMA model: a register window plus the effect of channel 0 and ap_2_ap on memory,
/// reaching memory through `sim` as bus master `dev`.
#[derive(Debug)]
pub struct SdmaModel<'s> {
    sim: &'s NonCoherentSim,
    dev: DeviceId,
    st: Mutex<St>,
}

fn known(offset: usize) -> bool {
    matches!(
        offset,
        C0PTR
            | INTR
            | STATSTOP
            | HSTART
            | EVTOVR
            | DSPOVR
            | HOSTOVR
            | EVTPEND
            | DSPENBL
            | RESET
            | EVTERR
            | INTRMSK
            | PSW
            | EVTERRDBG
            | CONFIG
            | CHN0ADDR
            | XTRIG_CONF1
            | XTRIG_CONF2
    ) || (CHNPRI_0..CHNPRI_0 + 4 * CHANNELS).contains(&offset)
        || (CHNENBL_0..CHNENBL_0 + 4 * EVENTS).contains(&offset)
}

impl<'s> SdmaModel<'s> {
    /// An SDMA reaching memory through `sim` as device `dev` (registered with the simulator
    /// as a non-coherent master), in its reset state.
    pub fn new(sim: &'s NonCoherentSim, dev: DeviceId) -> Self {
        Self {
            sim,
            dev,
            st: Mutex::new(St {
                regs: vec![0; WINDOW / 4],
                he: 0,
                intr: 0,
                data: vec![0; DATA_WORDS],
                loaded: 0,
                hung: 0,
                armed: None,
                errors: Vec::new(),
                writes: Vec::new(),
                bds: 0,
                bytes: 0,
                context_loads: 0,
                resets: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arms `fault` for the next data channel that runs.
    pub fn inject(&self, fault: Fault) {
        self.lock().armed = Some(fault);
    }

    /// The HE bits (what STATSTOP reads): channels started and not finished.
    pub fn active(&self) -> u32 {
        self.lock().he
    }

    /// The interrupt line: any INTR bit.
    pub fn irq_pending(&self) -> bool {
        self.lock().intr != 0
    }

    /// Every register write so far, in order: (offset, value).
    pub fn writes(&self) -> Vec<(usize, u32)> {
        self.lock().writes.clone()
    }

    /// Programming errors recorded so far.
    pub fn errors(&self) -> Vec<ModelError> {
        self.lock().errors.clone()
    }

    /// Data BDs ap_2_ap has completed.
    pub fn bds(&self) -> u32 {
        self.lock().bds
    }

    /// Bytes ap_2_ap has copied.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Channel contexts loaded through channel 0.
    pub fn context_loads(&self) -> u32 {
        self.lock().context_loads
    }

    /// Soft resets (RESET bit 0) seen.
    pub fn resets(&self) -> u32 {
        self.lock().resets
    }

    /// The PC of channel `ch`'s context, if one was loaded.
    pub fn context_pc(&self, ch: usize) -> Option<u32> {
        let s = self.lock();
        (s.loaded & 1 << ch != 0)
            .then(|| s.data[(CONTEXT_BASE + CONTEXT_WORDS * ch as u32) as usize] & 0x3FFF)
    }

    /// Lets time pass: runs every eligible data channel, highest priority first, to the
    /// end of its chain (unless it hangs). Returns true if the interrupt line is raised.
    pub fn run(&self) -> bool {
        let mut s = self.lock();
        let mut order: Vec<usize> = (1..CHANNELS).filter(|&c| self.eligible(&s, c)).collect();
        order.sort_by_key(|&c| core::cmp::Reverse(s.regs[(CHNPRI_0 + 4 * c) / 4] & 7));
        for ch in order {
            if s.hung & 1 << ch != 0 {
                continue;
            }
            self.run_channel(&mut s, ch);
        }
        s.intr != 0
    }

    fn eligible(&self, s: &St, ch: usize) -> bool {
        let bit = 1u32 << ch;
        let host = s.he & bit != 0 || s.regs[HOSTOVR / 4] & bit != 0;
        let event = s.regs[EVTOVR / 4] & bit != 0 || s.regs[EVTPEND / 4] & bit != 0;
        let dsp = s.regs[DSPOVR / 4] & bit != 0;
        let prio = s.regs[(CHNPRI_0 + 4 * ch) / 4] & 7 != 0;
        host && event && dsp && prio
    }

    fn in_memory(&self, addr: u64, len: u64) -> bool {
        let c = self.sim.config();
        addr >= c.dram_base
            && addr
                .checked_add(len)
                .is_some_and(|e| e <= c.dram_base + c.dram_size as u64)
    }

    fn check(&self, s: &mut St, addr: u64, len: u64) -> bool {
        if self.in_memory(addr, len) {
            true
        } else {
            s.errors
                .push(ModelError::AddressOutsideMemory { addr, len });
            false
        }
    }

    fn read_words<const N: usize>(&self, s: &mut St, addr: u64) -> Option<[u32; N]> {
        if !self.check(s, addr, 4 * N as u64) {
            return None;
        }
        let mut b = vec![0u8; 4 * N];
        self.sim.device_read(self.dev, BusAddr(addr), &mut b);
        let mut w = [0u32; N];
        for (i, c) in b.chunks_exact(4).enumerate() {
            w[i] = u32::from_le_bytes(c.try_into().unwrap());
        }
        Some(w)
    }

    fn write_word(&self, addr: u64, v: u32) {
        self.sim
            .device_write(self.dev, BusAddr(addr), &v.to_le_bytes());
    }

    /// The CCB of `ch`: (current BD, base BD), or None (recorded).
    fn ccb(&self, s: &mut St, ch: usize) -> Option<(u64, u64)> {
        let base = s.regs[C0PTR / 4] as u64;
        let [cur, first] = self.read_words::<2>(s, base + CCB_BYTES * ch as u64)?;
        Some((cur as u64, first as u64))
    }

    /// Channel 0: the boot code's command loop over its BDs.
    fn run_channel0(&self, s: &mut St) {
        s.he &= !1;
        let Some((mut at, base)) = self.ccb(s, 0) else {
            return;
        };
        for _ in 0..MAX_CHAIN {
            let Some([mode, buf, ext]) = self.read_words::<3>(s, at) else {
                return;
            };
            let (count, status, command) = (mode & 0xFFFF, (mode >> 16) & 0xFF, mode >> 24);
            if status & BD_DONE == 0 {
                return;
            }
            let end = ext as u64 + count as u64;
            let mut error = false;
            if command != C0_SETDM || status & BD_EXTD == 0 || end > DATA_WORDS as u64 {
                s.errors.push(ModelError::UnsupportedCommand { command });
                error = true;
            } else if let Some(words) = self.read_vec(s, buf as u64, count) {
                for (i, w) in words.into_iter().enumerate() {
                    s.data[ext as usize + i] = w;
                }
                for ch in 0..CHANNELS as u32 {
                    let c0 = CONTEXT_BASE + CONTEXT_WORDS * ch;
                    if ext <= c0 && c0 + CONTEXT_WORDS <= ext + count {
                        s.loaded |= 1 << ch;
                        s.context_loads += 1;
                    }
                }
            } else {
                error = true;
            }
            let new_status = (status & !BD_DONE) | if error { BD_ERROR } else { 0 };
            self.write_word(at, (mode & 0xFF00_FFFF) | new_status << 16);
            if status & BD_INTR != 0 || error {
                s.intr |= 1;
            }
            if error {
                return;
            }
            at = if status & BD_WRAP != 0 {
                base
            } else {
                at + BD_BYTES
            };
            if status & BD_CONT == 0 && status & BD_WRAP == 0 {
                return;
            }
        }
        s.errors.push(ModelError::ChainWithoutEnd { channel: 0 });
    }

    fn read_vec(&self, s: &mut St, addr: u64, words: u32) -> Option<Vec<u32>> {
        if !self.check(s, addr, 4 * words as u64) {
            return None;
        }
        let mut b = vec![0u8; 4 * words as usize];
        self.sim.device_read(self.dev, BusAddr(addr), &mut b);
        Some(
            b.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        )
    }

    /// A data channel: its context's script over its BD chain.
    fn run_channel(&self, s: &mut St, ch: usize) {
        let bit = 1u32 << ch;
        if s.loaded & bit == 0 {
            s.errors.push(ModelError::ContextNotLoaded { channel: ch });
            s.he &= !bit;
            return;
        }
        let pc = s.data[(CONTEXT_BASE + CONTEXT_WORDS * ch as u32) as usize] & 0x3FFF;
        if pc != AP_2_AP {
            s.errors
                .push(ModelError::UnsupportedScript { channel: ch, pc });
            s.he &= !bit;
            return;
        }
        let mut bus_error = false;
        match s.armed.take() {
            Some(Fault::Hang) => {
                s.hung |= bit;
                return;
            }
            Some(Fault::BusError) => bus_error = true,
            None => {}
        }
        let Some((mut at, base)) = self.ccb(s, ch) else {
            s.he &= !bit;
            return;
        };
        let mut n = 0;
        loop {
            if n == MAX_CHAIN {
                s.errors.push(ModelError::ChainWithoutEnd { channel: ch });
                break;
            }
            n += 1;
            let Some([mode, src, dst]) = self.read_words::<3>(s, at) else {
                break;
            };
            let (count, status, command) = (mode & 0xFFFF, (mode >> 16) & 0xFF, mode >> 24);
            if status & BD_DONE == 0 {
                break;
            }
            let why = if count == 0 {
                Some("count 0")
            } else if status & BD_EXTD == 0 {
                Some("no EXTD: ap_2_ap needs the destination in the extended address")
            } else if command != 0 {
                Some("a command byte ap_2_ap does not use")
            } else if (count | src | dst) % 4 != 0 {
                // Linux declares copy_align = 2 (4 bytes) for ap_2_ap memcpy; what the
                // script does with other alignments is not public.
                Some("address or count not 4-byte aligned")
            } else {
                None
            };
            let mut error = false;
            if let Some(why) = why {
                s.errors.push(ModelError::BadDescriptor {
                    channel: ch,
                    bd: at,
                    why,
                });
                error = true;
            } else if bus_error {
                s.errors.push(ModelError::BusError { addr: src as u64 });
                error = true;
            } else if !self.check(s, src as u64, count as u64)
                || !self.check(s, dst as u64, count as u64)
            {
                error = true;
            } else {
                let mut b = vec![0u8; count as usize];
                self.sim.device_read(self.dev, BusAddr(src as u64), &mut b);
                self.sim.device_write(self.dev, BusAddr(dst as u64), &b);
                s.bds += 1;
                s.bytes += count as u64;
            }
            let new_status = (status & !BD_DONE) | if error { BD_ERROR } else { 0 };
            self.write_word(at, (mode & 0xFF00_FFFF) | new_status << 16);
            if status & BD_INTR != 0 || error {
                s.intr |= bit;
            }
            if error || status & BD_CONT == 0 {
                break;
            }
            at = if status & BD_WRAP != 0 {
                base
            } else {
                at + BD_BYTES
            };
        }
        s.he &= !bit;
    }

    fn reset(&self, s: &mut St) {
        s.regs.iter_mut().for_each(|r| *r = 0);
        s.data.iter_mut().for_each(|w| *w = 0);
        s.he = 0;
        s.intr = 0;
        s.loaded = 0;
        s.hung = 0;
        s.resets += 1;
    }
}

impl RegisterIo for SdmaModel<'_> {
    fn read32(&self, offset: usize) -> u32 {
        let mut s = self.lock();
        if !offset.is_multiple_of(4) || !known(offset) {
            s.errors.push(ModelError::UnknownRegister {
                offset,
                write: false,
            });
            return 0;
        }
        match offset {
            INTR => s.intr,
            STATSTOP => s.he,
            HSTART => s.he,
            RESET => 0,
            _ => s.regs[offset / 4],
        }
    }

    fn write32(&self, offset: usize, value: u32) {
        let mut s = self.lock();
        s.writes.push((offset, value));
        if !offset.is_multiple_of(4) || !known(offset) {
            s.errors.push(ModelError::UnknownRegister {
                offset,
                write: true,
            });
            return;
        }
        match offset {
            INTR => s.intr &= !value,
            STATSTOP => {
                s.he &= !value;
                s.hung &= !value;
            }
            HSTART => {
                for ch in (0..CHANNELS).filter(|c| value & 1 << c != 0) {
                    if s.regs[C0PTR / 4] == 0 {
                        s.errors
                            .push(ModelError::NoChannelControlBlocks { channel: ch });
                        continue;
                    }
                    s.he |= 1 << ch;
                    if ch == 0 && self.eligible(&s, 0) {
                        self.run_channel0(&mut s);
                    }
                }
            }
            RESET if value & 1 != 0 => self.reset(&mut s),
            RESET => {}
            C0PTR if s.he != 0 => s.errors.push(ModelError::C0ptrWhileActive),
            _ => s.regs[offset / 4] = value,
        }
    }
}
