//! The Arm PL330 DMA controller (DMA-330) as a dmasync [`DmaEngine`]: memory-to-memory copy
//! and fill of any length and alignment.
//!
//! Register facts from the PL330 TRM (ARM DDI 0424), Linux `drivers/dma/pl330.c` and QEMU's
//! model `hw/dma/pl330.c` (hardware.md §2.2, §3.3); our own code. Validated by QEMU's model
//! through the exynos4 board's `dma` test, and on the host: the encodings ([`asm`]), the
//! plans and their programs run by an interpreter ([`plan`]), the fault names ([`fault`]).
//!
//! # How a transfer runs
//!
//! A submission checks its spans against the [`Locked`] set (registered for this device,
//! read access for the source and write for the destination, inside the registered range,
//! copy spans of equal length that do not overlap, 32-bit bus addresses) and that its
//! program fits a channel's program slot, all before anything is written; a refusal comes
//! back in [`Rejected`] with the set. An accepted job waits in the driver's queue until its
//! in-fence has signalled and a channel is free. Then its program ([`plan::assemble`]) is
//! written to that channel's slot of the driver's program memory (a [`DmaRegion`] from the
//! board's [`DmaMemory`], cleaned to memory before the launch, because the controller
//! fetches instructions from memory and snoops no CPU cache) and started with DMAGO through
//! the debug registers (DBGSTATUS idle, DBGINST0/1, DBGCMD = 0). The program ends with
//! DMAWMB, so every write has been acknowledged, then DMASEV n (n = the channel), which
//! raises interrupt n (INTEN bit n). [`Pl330::on_interrupt`], called from the board's IRQ
//! handler, reads INT_EVENT_RIS, clears the bits in INTCLR, signals each finished job's
//! fence, and launches what is ready.
//!
//! A fill of byte `v` reads a pattern of `v`s (16 bytes, in the channel's slot) without
//! incrementing the source, so any value takes the same path; DMASTZ would only write zeros.
//!
//! # Faults
//!
//! A channel that faults stops and raises the abort interrupt (ORed with the events on the
//! Exynos4). `on_interrupt` reads FSRC; for each faulting channel it reads FTRn, kills the
//! channel (DMAKILL through the debug interface, the only way out of the faulting state),
//! waits until CSRn reads stopped, and signals the job's fence with
//! `FenceError::DeviceError(FTRn)` ([`fault::describe`] names it; [`Pl330::last_fault`] keeps
//! it). The channel takes the next job. A manager fault on a launch (FSRD, FTRD) fails that
//! job with FTRD | [`fault::MANAGER`]. QEMU's model (10.0.2) does not fault on a bus error
//! of a data access (it ignores the result of its `dma_memory_read/write`), so on QEMU the
//! path is exercised with [`Pl330::inject_undefined_instruction`].
//!
//! # Watchdog
//!
//! Jobs are handed to [`Locked::unlock_after`]: the controller reaches memory on its own, so
//! the set's buffers go to their next user only when the job's fence signals.
//! [`Pl330::reset`] kills every channel, waits for each to stop, and then fails the running
//! and queued jobs with `DeviceError(ABANDONED)` (the software engines' code), so after it
//! returns the controller touches none of their buffers. A channel that does not stop after
//! DMAKILL keeps its job's fence pending (its buffers stay held) and takes no new job.
//!
//! # Limits
//!
//! In-fences are looked at when the driver runs: at each submission, each
//! [`Pl330::on_interrupt`] and each [`Pl330::service`]. A job whose in-fence signals while
//! the controller is idle starts at the next of those, so an owner that chains DMA work
//! behind another engine calls `service` when that engine completes.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod asm;
pub mod fault;
pub mod plan;
pub mod regs;

#[cfg(test)]
extern crate std;
#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use dmasync_engine::dma::{DmaEngine, Span};
use dmasync_engine::error::{EngineError, Rejected};
use dmasync_engine::surface::Need;
use dmasync_hal::cache::VirtRange;
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory, DmaRegion, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_soft::{ABANDONED, resolve_copy, resolve_span};
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult};
use dmasync_sync::syncset::Locked;

use asm::{BeatSize, Insn, debug_words};
use plan::{Limits, Program};
pub use regs::{Pl330Io, Pl330Mmio, Pl330Registers, Reg};

/// Bytes of program memory per channel: the program, then the fill pattern.
const SLOT: usize = 512;
/// Where a slot's program may go: the longest plan (16 MiB byte by byte, or 128 MiB of
/// widest beats) takes under 256 bytes (`plan` tests).
const PROGRAM_BYTES: usize = 256;
/// The fill pattern's offset in a slot (aligned to the widest beat, 16 bytes).
const PATTERN_AT: usize = 256;
const PATTERN_BYTES: usize = 16;
/// Reads of DBGSTATUS or CSRn before the driver gives up on the controller: it finishes
/// a debug instruction, or a kill, within a few bus transactions.
const SPIN_LIMIT: u32 = 100_000;
/// PCELL_ID0..3 of every PrimeCell (TRM "Component Identification Registers").
const PCELL_ID: [u32; 4] = [0x0D, 0xF0, 0x05, 0xB1];

/// What the board tells the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pl330Config {
    /// The bus-master id buffers are locked for.
    pub device: DeviceId,
    /// Jobs accepted and not finished, at most (running ones included).
    pub queue_depth: usize,
}

#[derive(Clone, Copy, Debug)]
enum Transfer {
    Copy { dst: u32, src: u32, len: u32 },
    Fill { dst: u32, len: u32, value: u8 },
}

struct Job {
    transfer: Transfer,
    done: FenceProducer,
    in_fence: Option<Fence>,
}

#[derive(Default)]
struct Channel {
    job: Option<FenceProducer>,
    /// DMAKILL did not stop it: it takes no job until a reset stops it.
    wedged: bool,
}

struct State<R> {
    io: R,
    channels: Vec<Channel>,
    queue: VecDeque<Job>,
    last_fault: Option<(usize, u32)>,
    faults: u64,
    /// The next launch's program starts with an undefined instruction.
    inject_undefined: bool,
}

/// Fences to signal once the state lock is released (a fence callback may submit again).
type Signals = Vec<(FenceProducer, FenceResult)>;

/// A PL330 as a dmasync DMA engine. `R` reaches its registers ([`Pl330Mmio`] on a board),
/// `M` is how the CPU writes the driver's program memory and cleans it to the controller.
pub struct Pl330<R: Pl330Io, M: MemorySystem> {
    config: Pl330Config,
    channels: usize,
    limits: Limits,
    nonsecure: bool,
    memory: M,
    programs: DmaRegion,
    state: IrqSpinLock<State<R>>,
}

impl<R: Pl330Io, M: MemorySystem> fmt::Debug for Pl330<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pl330")
            .field("config", &self.config)
            .field("channels", &self.channels)
            .field("limits", &self.limits)
            .field("nonsecure", &self.nonsecure)
            .field("programs", &self.programs)
            .finish_non_exhaustive()
    }
}

/// Executes `insn` through the debug interface (on channel `chan`'s thread, or the
/// manager's): waits for DBGSTATUS idle, writes DBGINST0/1, then DBGCMD = 0.
fn debug_exec<R: Pl330Io>(io: &R, insn: Insn, chan: Option<u8>) -> Result<(), &'static str> {
    let (w0, w1) = debug_words(insn, chan).map_err(|_| "bad debug instruction")?;
    let idle = || (0..SPIN_LIMIT).any(|_| io.read(Reg::DbgStatus) & regs::DBGSTATUS_BUSY == 0);
    if !idle() {
        return Err("the PL330 debug interface stays busy");
    }
    io.write(Reg::DbgInst0, w0);
    io.write(Reg::DbgInst1, w1);
    io.write(Reg::DbgCmd, 0);
    Ok(())
}

/// Kills channel `ch` and waits until it reads stopped; false if it does not stop.
fn kill<R: Pl330Io>(io: &R, ch: usize) -> bool {
    if debug_exec(io, Insn::Kill, Some(ch as u8)).is_err() {
        return false;
    }
    (0..SPIN_LIMIT).any(|_| io.read(Reg::Csr(ch)) & regs::CSR_STATE_MASK == 0)
}

impl<R: Pl330Io, M: MemorySystem> Pl330<R, M> {
    /// Takes the controller: checks it is a PrimeCell PL330, reads its channels, events,
    /// data width and MFIFO size (CR0, CRD), allocates a program slot per channel from
    /// `dma`, kills every channel (a boot loader may have left one running), clears the
    /// interrupts and enables event n's interrupt for channel n.
    pub fn new(
        io: R,
        config: Pl330Config,
        dma: &impl DmaMemory,
        memory: M,
    ) -> Result<Self, EngineError> {
        let id: [u32; 4] = core::array::from_fn(|i| io.read(Reg::Id(4 + i)) & 0xFF);
        if id != PCELL_ID {
            return Err(EngineError::Device(
                "no PrimeCell at the PL330's address (PCELL_ID is not 0xB105F00D)",
            ));
        }
        if config.queue_depth == 0 {
            return Err(EngineError::Unsupported("a queue depth of 0"));
        }
        let cr0 = io.read(Reg::Cr0);
        let chans = ((cr0 >> 4) & 7) as usize + 1;
        let events = ((cr0 >> 17) & 0x1F) as usize + 1;
        // Channel n signals event n.
        let channels = chans.min(events);
        let crd = io.read(Reg::Crd);
        let width = match crd & 7 {
            2 => BeatSize::B4,
            3 => BeatSize::B8,
            4 => BeatSize::B16,
            _ => {
                return Err(EngineError::Device(
                    "PL330 CRD reports an unknown data width",
                ));
            }
        };
        // CRD.data_buffer_dep + 1: the TRM counts it in lines of the data width, QEMU's
        // model in bytes (`pl330_fifo_init`); the smaller reading is safe for both.
        let fifo_bytes = ((crd >> 20) & 0x3FF) as usize + 1;
        let programs = dma
            .alloc(channels * SLOT, Coherency::NonCoherent)
            .map_err(|_| EngineError::Device("no DMA memory for the PL330 programs"))?;
        if !memory.owns(&programs) {
            return Err(EngineError::Device(
                "the PL330 program memory is not of the given memory system",
            ));
        }
        if programs.bus().0 + programs.len() as u64 > 1 << 32 {
            return Err(EngineError::Device(
                "the PL330 program memory lies above 4 GiB",
            ));
        }
        for ch in 0..chans {
            if !kill(&io, ch) {
                return Err(EngineError::Device(
                    "a PL330 channel does not stop on DMAKILL",
                ));
            }
        }
        let mask = (1u32 << channels) - 1;
        io.write(Reg::Intclr, mask);
        io.write(Reg::Inten, mask);
        Ok(Self {
            config,
            channels,
            limits: Limits { width, fifo_bytes },
            nonsecure: cr0 & regs::CR0_MGR_NS != 0,
            memory,
            programs,
            state: IrqSpinLock::new(State {
                io,
                channels: (0..channels).map(|_| Channel::default()).collect(),
                queue: VecDeque::new(),
                last_fault: None,
                faults: 0,
                inject_undefined: false,
            }),
        })
    }

    /// Channels the driver uses.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The widest beat and the MFIFO size the plans use.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Jobs accepted and not finished.
    pub fn pending(&self) -> usize {
        let s = self.state.lock();
        s.queue.len() + s.channels.iter().filter(|c| c.job.is_some()).count()
    }

    /// The last fault seen: the channel and its fault code (see [`fault::describe`]).
    pub fn last_fault(&self) -> Option<(usize, u32)> {
        self.state.lock().last_fault
    }

    /// Faults seen since [`Pl330::new`].
    pub fn faults(&self) -> u64 {
        self.state.lock().faults
    }

    /// Fault injection, for tests of the fault path: the next job to start gets a program
    /// whose first byte is 0xFF, which no PL330 instruction encodes (TRM instruction
    /// summary; QEMU's decoder finds no match), so its channel faults with "undefined
    /// instruction" before it moves any data. The job's fence reports that fault like any
    /// other. (QEMU's model ignores bus errors of its data accesses, so an unmapped address
    /// cannot provoke a fault there.)
    pub fn inject_undefined_instruction(&self) {
        self.state.lock().inject_undefined = true;
    }

    /// The interrupt handler's work: completes every job whose channel signalled its
    /// event, reports and kills faulting channels, then starts ready jobs. Returns how
    /// many jobs completed (successfully or not).
    pub fn on_interrupt(&self) -> usize {
        let mut signals = Signals::new();
        {
            let mut s = self.state.lock();
            self.reap(&mut s, &mut signals);
            self.kick(&mut s, &mut signals);
        }
        let n = signals.len();
        finish(signals);
        n
    }

    /// Starts jobs whose in-fence has signalled since the driver last ran (see the crate
    /// documentation, "Limits").
    pub fn service(&self) {
        let mut signals = Signals::new();
        {
            let mut s = self.state.lock();
            self.kick(&mut s, &mut signals);
        }
        finish(signals);
    }

    /// For the watchdog: kills every channel and abandons the running and queued jobs
    /// (their fences signal `DeviceError(ABANDONED)` once the channels have stopped).
    /// Returns how many jobs were abandoned.
    pub fn reset(&self) -> usize {
        let mut signals = Signals::new();
        {
            let mut s = self.state.lock();
            let st = &mut *s;
            for ch in 0..self.channels {
                let stopped = kill(&st.io, ch);
                let c = &mut st.channels[ch];
                c.wedged = !stopped;
                if stopped && let Some(done) = c.job.take() {
                    signals.push((done, Err(FenceError::DeviceError(ABANDONED))));
                }
            }
            st.io.write(Reg::Intclr, (1u32 << self.channels) - 1);
            for job in st.queue.drain(..) {
                signals.push((job.done, Err(FenceError::DeviceError(ABANDONED))));
            }
        }
        let n = signals.len();
        finish(signals);
        n
    }

    fn reap(&self, s: &mut State<R>, signals: &mut Signals) {
        let mask = (1u32 << self.channels) - 1;
        let ris = s.io.read(Reg::IntEventRis) & mask;
        if ris != 0 {
            s.io.write(Reg::Intclr, ris);
        }
        for ch in 0..self.channels {
            if ris & (1 << ch) != 0
                && let Some(done) = s.channels[ch].job.take()
            {
                signals.push((done, Ok(())));
            }
        }
        let fsrc = s.io.read(Reg::Fsrc) & mask;
        for ch in 0..self.channels {
            if fsrc & (1 << ch) == 0 {
                continue;
            }
            let code = s.io.read(Reg::Ftr(ch)) & !fault::MANAGER;
            s.last_fault = Some((ch, code));
            s.faults += 1;
            let stopped = kill(&s.io, ch);
            let c = &mut s.channels[ch];
            if stopped {
                if let Some(done) = c.job.take() {
                    signals.push((done, Err(FenceError::DeviceError(code))));
                }
            } else {
                c.wedged = true;
            }
        }
    }

    /// Launches ready jobs on free channels.
    fn kick(&self, s: &mut State<R>, signals: &mut Signals) {
        loop {
            let Some(ch) = s.channels.iter().position(|c| c.job.is_none() && !c.wedged) else {
                return;
            };
            let ready = s
                .queue
                .iter()
                .position(|j| j.in_fence.as_ref().is_none_or(Fence::is_signalled));
            let Some(i) = ready else { return };
            let job = s.queue.remove(i).expect("index from position");
            if let Some(Err(e)) = job.in_fence.as_ref().and_then(|f| f.status().result()) {
                // The producer of the data failed: the transfer does not run.
                signals.push((job.done, Err(e)));
                continue;
            }
            match self.launch(s, ch, &job.transfer) {
                Ok(()) => s.channels[ch].job = Some(job.done),
                Err(code) => signals.push((job.done, Err(FenceError::DeviceError(code)))),
            }
        }
    }

    fn slot(&self, ch: usize) -> (usize, u32) {
        (
            self.programs.virt() + ch * SLOT,
            (self.programs.bus().0 + (ch * SLOT) as u64) as u32,
        )
    }

    fn program(&self, ch: usize, t: &Transfer) -> (plan::Plan, Program, Option<u8>) {
        let (_, bus) = self.slot(ch);
        let (src, dst, len, src_inc, fill) = match *t {
            Transfer::Copy { dst, src, len } => (src, dst, len, true, None),
            Transfer::Fill { dst, len, value } => {
                (bus + PATTERN_AT as u32, dst, len, false, Some(value))
            }
        };
        let p = plan::plan(src as u64, dst as u64, len as u64, self.limits);
        let prog = Program {
            src,
            dst,
            src_inc,
            nonsecure: self.nonsecure,
            event: ch as u8,
        };
        (p, prog, fill)
    }

    /// Writes `t`'s program into channel `ch`'s slot, cleans it, and starts the channel.
    /// `Err` is the fault code of a launch the manager refused.
    fn launch(&self, s: &mut State<R>, ch: usize, t: &Transfer) -> Result<(), u32> {
        let (virt, bus) = self.slot(ch);
        let (p, prog, fill) = self.program(ch, t);
        let undefined = core::mem::take(&mut s.inject_undefined);
        // SAFETY: the slot lies in `programs`, a region of `memory` (checked in `new`)
        // that only this driver uses; channel `ch` is stopped (no job, not wedged), so the
        // controller does not read the slot, and the state lock makes this the only
        // writer.
        let assembled = unsafe {
            self.memory.with_bytes_mut(virt, SLOT, |b| {
                if let Some(v) = fill {
                    b[PATTERN_AT..PATTERN_AT + PATTERN_BYTES].fill(v);
                }
                let n = plan::assemble(&mut b[..PROGRAM_BYTES], &p, &prog);
                if undefined {
                    b[0] = 0xFF;
                }
                n
            })
        };
        // Checked at submission, where the same program was assembled for this size.
        assembled.map_err(|_| fault::MANAGER)?;
        // SAFETY: the slot is mapped normal memory of this region (`with_bytes_mut` above
        // wrote it); cleaning it only writes its own bytes back.
        unsafe { self.memory.clean(VirtRange::new(virt, SLOT)) };
        let go = Insn::Go {
            chan: ch as u8,
            pc: bus,
            nonsecure: self.nonsecure,
        };
        if debug_exec(&s.io, go, None).is_err() {
            return Err(fault::MANAGER | fault::DEBUG_INSTRUCTION);
        }
        if s.io.read(Reg::Fsrd) & 1 != 0 {
            let code = s.io.read(Reg::Ftrd) | fault::MANAGER;
            s.last_fault = Some((ch, code));
            s.faults += 1;
            // DMAKILL on the manager's thread is the way out of its faulting state.
            let _ = debug_exec(&s.io, Insn::Kill, None);
            return Err(code);
        }
        Ok(())
    }

    /// Checks what a submission needs beyond its spans: 32-bit addresses, and that the
    /// program fits a slot (assembled once here, into scratch memory).
    fn check_transfer(&self, t: &Transfer, buffer: &'static str) -> Result<(), EngineError> {
        let (p, prog, _) = self.program(0, t);
        let mut scratch = [0u8; PROGRAM_BYTES];
        plan::assemble(&mut scratch, &p, &prog).map_err(|_| EngineError::BadSurface {
            buffer,
            why: "transfer too long for one PL330 program",
        })?;
        Ok(())
    }

    fn queue_job<'s, MS: MemorySystem>(
        &self,
        locked: Locked<'s, MS>,
        transfer: Transfer,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, MS>>> {
        let mut signals = Signals::new();
        let fence;
        {
            let mut s = self.state.lock();
            let busy = s.queue.len() + s.channels.iter().filter(|c| c.job.is_some()).count();
            if busy >= self.config.queue_depth {
                return Err(Rejected::new(EngineError::QueueFull, locked));
            }
            let done = FenceProducer::one_off();
            fence = done.fence();
            match locked.unlock_after(&fence) {
                Ok(()) => s.queue.push_back(Job {
                    transfer,
                    done,
                    in_fence: in_fence.cloned(),
                }),
                // The watchdog took the buffers back first: the transfer must not run.
                Err(_) => signals.push((done, Err(FenceError::Timeout))),
            }
            self.kick(&mut s, &mut signals);
        }
        finish(signals);
        Ok(fence)
    }
}

fn finish(signals: Signals) {
    for (done, r) in signals {
        match r {
            Ok(()) => done.signal(),
            Err(e) => done.signal_error(e),
        }
    }
}

/// The span as a 32-bit bus address and length, or `Err` naming it.
fn bus32(at: BusAddr, len: usize, buffer: &'static str) -> Result<(u32, u32), EngineError> {
    match at.0.checked_add(len as u64) {
        Some(end) if end <= 1 << 32 => Ok((at.0 as u32, len as u32)),
        _ => Err(EngineError::OutOfBounds {
            buffer,
            what: "PL330 span (above the 32-bit address space)",
        }),
    }
}

impl<R: Pl330Io, M: MemorySystem> DmaEngine for Pl330<R, M> {
    fn device(&self) -> DeviceId {
        self.config.device
    }

    fn copy<'s, MS: MemorySystem>(
        &self,
        locked: Locked<'s, MS>,
        dst: Span<'_>,
        src: Span<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, MS>>> {
        let check = || {
            let buffer = dst.buffer.name();
            let (d, s) = resolve_copy(&locked, self.config.device, &dst, &src)?;
            let (d, len) = bus32(d, dst.len, buffer)?;
            let (s, _) = bus32(s, src.len, src.buffer.name())?;
            let t = Transfer::Copy {
                dst: d,
                src: s,
                len,
            };
            self.check_transfer(&t, buffer)?;
            Ok(t)
        };
        match check() {
            Ok(t) => self.queue_job(locked, t, in_fence),
            Err(e) => Err(Rejected::new(e, locked)),
        }
    }

    fn fill<'s, MS: MemorySystem>(
        &self,
        locked: Locked<'s, MS>,
        dst: Span<'_>,
        value: u8,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, MS>>> {
        let check = || {
            let buffer = dst.buffer.name();
            let d = resolve_span(
                &locked,
                self.config.device,
                &dst,
                Need::Write,
                "fill destination",
            )?;
            let (d, len) = bus32(d, dst.len, buffer)?;
            let t = Transfer::Fill { dst: d, len, value };
            self.check_transfer(&t, buffer)?;
            Ok(t)
        };
        match check() {
            Ok(t) => self.queue_job(locked, t, in_fence),
            Err(e) => Err(Rejected::new(e, locked)),
        }
    }
}
