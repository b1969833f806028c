//! The i.MX Smart DMA controller (SDMA; SDMA1 of the i.MX 8M Plus) as a dmasync
//! [`DmaEngine`]: memory-to-memory copy through the ROM script ap_2_ap, on several
//! channels at once.
//!
//! Register and structure facts from Linux `drivers/dma/imx-sdma.c` and
//! `include/linux/platform_data/dma-imx-sdma.h` (facts only; hardware.md §3.5), see
//! [`regs`]; our own code. QEMU's imx8mp-evk has no SDMA: the host tests run the driver
//! against `dmasync-sdma-model`, a register-level model written apart from it, on the
//! non-coherent memory simulator.
//!
//! # Set-up ([`Sdma::new`], as `sdma_init` and `sdma_config_channel` do it)
//!
//! The driver allocates one region of DMA memory: the channel control block (CCB) array
//! (32 × 16 bytes), channel 0's buffer descriptor, a context buffer, and one BD table per
//! data channel, each on its own cache lines. It writes C0PTR = 0, clears every CHNENBL and
//! CHNPRI, points every CCB at its channel's table (once: a channel's table never moves),
//! sets channel 0's ownership (EVTOVR and DSPOVR bits set, HOSTOVR bit clear: started by
//! the host, no event, no DSP), CHN0ADDR = 0x4050, CONFIG (ACR from the board), cleans the
//! region, writes C0PTR and CHNPRI0 = 7. Then for each data channel: the same ownership,
//! its context (PC = ap_2_ap, 644; everything else 0: a memory-to-memory channel has no
//! event mask, peripheral address or watermark) loaded through channel 0 (a BD with
//! C0_SETDM, DONE | WRAP | EXTD, count 32 words, from the context buffer to data memory
//! `2048 + 32 n`; HSTART bit 0, STATSTOP bit 0 polled clear, INTR bit 0 cleared, CONFIG
//! CSM = dynamic), then its priority.
//!
//! # How a copy runs
//!
//! [`DmaEngine::copy`] checks the spans against the [`Locked`] set (registered for this
//! device, read access for the source, write for the destination, inside the registered
//! range, equal lengths, no overlap), 32-bit bus addresses, 4-byte alignment of both
//! addresses and the length (Linux declares `copy_align = 2` for ap_2_ap) and that the
//! copy fits one channel's BD table, before any register is written; a refusal comes back
//! in [`Rejected`] and wrote nothing. An accepted job is handed to [`Locked::unlock_after`]
//! and queued; when its in-fence has signalled and a channel is free, the driver writes
//! its BDs (`sdma_prep_memcpy`: chunks of at most 0xFFFC bytes, source in the buffer
//! address, destination in the extended address, DONE | EXTD | CONT, the last DONE |
//! EXTD | INTR | LAST), cleans the table (the SDMA snoops no cache) and writes the
//! channel's bit to HSTART. [`Sdma::on_interrupt`] reads INTR, clears what it read,
//! invalidates each finished channel's table and reads its BDs back: all DONE-cleared and
//! none with ERROR is success, anything else `DeviceError(`[`BD_ERROR`]`)`.
//!
//! **Fill is refused** as `Unsupported`: ap_2_ap only copies, and the SDMA has no
//! fill-capable ROM script; the other scripts need NXP's RAM firmware.
//!
//! # Faults and the watchdog
//!
//! [`Sdma::watchdog`] counts ticks against each running channel; after `watchdog_ticks`
//! without completion it stops the channel (a 1 to its STATSTOP bit, as
//! `sdma_disable_channel`), polls STATSTOP until the bit reads clear and, once
//! `stop_settle` has passed (NXP: a stopped channel may finish its current BD, up to
//! 1 ms), fails the job with `DeviceError(`[`WATCHDOG_RESET`]`)`; until then the buffers
//! stay held and the channel takes no job. [`Sdma::reset`] stops every data channel and
//! abandons the running and queued jobs (`DeviceError(ABANDONED)`). A channel whose bit
//! does not clear keeps its job's fence pending (its buffers stay held) and takes no job.
//!
//! # Limits
//!
//! In-fences are looked at when the driver runs (submission, interrupt, watchdog,
//! [`Sdma::service`]). Clocks (ipg, ahb), the SDMA's clock ratio (ACR), the power domain
//! and how long a stopped channel may still finish its burst are the board's and the
//! hardware's; only hardware shows them (drivers/README.md).
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod regs;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use dmasync_engine::dma::{DmaEngine, Span};
use dmasync_engine::error::{EngineError, Rejected};
use dmasync_hal::cache::VirtRange;
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory, DmaRegion, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::mmio::RegisterIo;
use dmasync_hal::platform::{self, Instant};
use dmasync_soft::{ABANDONED, resolve_copy};
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult};
use dmasync_sync::syncset::Locked;
use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;

use regs::*;

/// `FenceError::DeviceError` code of a job whose BDs came back with ERROR or still DONE.
pub const BD_ERROR: u32 = 0x5D3A_0001;
/// `FenceError::DeviceError` code of a job the watchdog stopped.
pub const WATCHDOG_RESET: u32 = 0x5D3A_0002;

/// Reads of STATSTOP before the driver gives up on a channel stopping or channel 0
/// finishing (Linux polls channel 0 for 500 µs).
const SPIN_LIMIT: u32 = 100_000;
/// BDs per table at most: one 4 KiB page, as Linux allocates them (`NUM_BD`).
pub const MAX_BDS: usize = 4096 / BD_BYTES;

/// What the board tells the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdmaConfig {
    /// The bus-master id buffers are locked for.
    pub device: DeviceId,
    /// Data channels used: channels 1 ..= `channels` (at most 31).
    pub channels: usize,
    /// BDs per channel table (1 ..= [`MAX_BDS`]); a copy takes one per 0xFFFC bytes.
    pub bds_per_channel: usize,
    /// The data channels' priority (1 ..= 7; Linux uses 2 for memcpy channels).
    pub priority: u32,
    /// CONFIG.ACR: set when the SDMA core runs at the AHB clock (Linux: ratio 1:1).
    pub acr: bool,
    /// Jobs accepted and not finished, at most (running ones included).
    pub queue_depth: usize,
    /// Watchdog calls without completion before a channel is stopped.
    pub watchdog_ticks: u32,
    /// How long a stopped channel may still reach memory: its job's fence signals (and its
    /// buffers go on) only this long after STATSTOP read clear. NXP's advice, quoted in
    /// Linux `sdma_channel_terminate_work`: one BD's time, at most 1 ms.
    pub stop_settle: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Transfer {
    dst: u32,
    src: u32,
    len: u32,
}

struct Job {
    transfer: Transfer,
    done: FenceProducer,
    in_fence: Option<Fence>,
}

#[derive(Default)]
struct Channel {
    job: Option<(FenceProducer, usize)>,
    /// Stopped; its job's fence signals with this result once the settle time is over.
    stopping: Option<(FenceProducer, FenceResult, Instant)>,
    idle_ticks: u32,
    /// STATSTOP did not stop it: it takes no job.
    wedged: bool,
}

impl Channel {
    /// Running a job, or stopped and not settled.
    fn busy(&self) -> bool {
        self.job.is_some() || self.stopping.is_some()
    }
}

struct State<R> {
    io: R,
    /// Index i is data channel i + 1.
    channels: Vec<Channel>,
    queue: VecDeque<Job>,
    watchdog_resets: u64,
}

type Signals = Vec<(FenceProducer, FenceResult)>;

/// Where things lie in the driver's region (byte offsets).
#[derive(Clone, Copy, Debug)]
struct Layout {
    bd0: usize,
    context: usize,
    tables: usize,
    table_bytes: usize,
    total: usize,
}

impl Layout {
    fn new(line: usize, config: &SdmaConfig) -> Self {
        let up = |n: usize| n.div_ceil(line) * line;
        let bd0 = up(CHANNELS * CCB_BYTES);
        let context = bd0 + up(BD_BYTES);
        let tables = context + up(CONTEXT_WORDS as usize * 4);
        let table_bytes = up(config.bds_per_channel * BD_BYTES);
        Self {
            bd0,
            context,
            tables,
            table_bytes,
            total: tables + config.channels * table_bytes,
        }
    }
}

/// An SDMA as a dmasync DMA engine. `R` reaches its registers (an `MmioWindow` on a
/// board), `M` is how the CPU writes the CCBs, contexts and BDs and maintains them.
pub struct Sdma<R: RegisterIo, M: MemorySystem> {
    config: SdmaConfig,
    memory: M,
    region: DmaRegion,
    layout: Layout,
    state: IrqSpinLock<State<R>>,
}

impl<R: RegisterIo, M: MemorySystem> fmt::Debug for Sdma<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sdma")
            .field("config", &self.config)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

fn bits<T: tock_registers::RegisterLongName>(f: FieldValue<u32, T>) -> u32 {
    let mut r = LocalRegisterCopy::<u32, T>::new(0);
    r.modify(f);
    r.get()
}

fn put_words(b: &mut [u8], words: &[u32]) {
    for (c, w) in b.chunks_exact_mut(4).zip(words) {
        c.copy_from_slice(&w.to_le_bytes());
    }
}

/// `sdma_config_ownership(channel, event_override = false, mcu_override = true,
/// dsp_override = false)`: EVTOVR and DSPOVR bits set, HOSTOVR bit clear.
fn own_for_host<R: RegisterIo>(io: &R, ch: usize) {
    let bit = 1u32 << ch;
    io.write32(EVTOVR, io.read32(EVTOVR) | bit);
    io.write32(HOSTOVR, io.read32(HOSTOVR) & !bit);
    io.write32(DSPOVR, io.read32(DSPOVR) | bit);
}

/// Writes `bit` to STATSTOP and polls until it reads clear; false if it never does.
fn stop<R: RegisterIo>(io: &R, bit: u32) -> bool {
    io.write32(STATSTOP, bit);
    (0..SPIN_LIMIT).any(|_| io.read32(STATSTOP) & bit == 0)
}

impl<R: RegisterIo, M: MemorySystem> Sdma<R, M> {
    /// Takes the SDMA: allocates its memory from `dma` (it must belong to `memory` and lie
    /// below 4 GiB), sets up the CCBs and channel 0, and loads every data channel's
    /// context. `Err` names what was wrong (a bad configuration, no memory, or channel 0
    /// not completing a context load).
    pub fn new(
        io: R,
        config: SdmaConfig,
        dma: &impl DmaMemory,
        memory: M,
    ) -> Result<Self, EngineError> {
        if config.channels == 0 || config.channels >= CHANNELS {
            return Err(EngineError::Unsupported(
                "SDMA data channels: 1 to 31 (channel 0 is the command channel)",
            ));
        }
        if config.bds_per_channel == 0 || config.bds_per_channel > MAX_BDS {
            return Err(EngineError::Unsupported(
                "SDMA BDs per channel: 1 to 341 (one 4 KiB page)",
            ));
        }
        if config.priority == 0 || config.priority > MAX_PRIORITY {
            return Err(EngineError::Unsupported("SDMA channel priority: 1 to 7"));
        }
        if config.queue_depth == 0 {
            return Err(EngineError::Unsupported("a queue depth of 0"));
        }
        let line = dma.line_size().max(memory.line_size()).max(4);
        let layout = Layout::new(line, &config);
        let region = dma
            .alloc(layout.total, Coherency::NonCoherent)
            .map_err(|_| EngineError::Device("no DMA memory for the SDMA control blocks"))?;
        let refused = if !memory.owns(&region) {
            Some("the SDMA control blocks are not of the given memory system")
        } else if region.bus().0 + region.len() as u64 > 1 << 32 {
            Some("the SDMA control blocks lie above 4 GiB")
        } else {
            None
        };
        if let Some(why) = refused {
            // SAFETY: `region` came from `dma.alloc` just above and nothing has used it: no
            // register holds its address yet.
            unsafe { dma.free(region) };
            return Err(EngineError::Device(why));
        }
        let sdma = Self {
            config,
            memory,
            region,
            layout,
            state: IrqSpinLock::new(State {
                io,
                channels: (0..config.channels).map(|_| Channel::default()).collect(),
                queue: VecDeque::new(),
                watchdog_resets: 0,
            }),
        };
        if let Err(e) = sdma.init() {
            sdma.release_after_failed_init(dma);
            return Err(e);
        }
        Ok(sdma)
    }

    /// After `init` failed: stops channel 0 and, once the SDMA is seen idle, detaches the
    /// control blocks (C0PTR = 0) and returns them to `dma`. While a channel still runs the
    /// SDMA may read the region, so it is leaked instead: a leak, never a use after free.
    fn release_after_failed_init(self, dma: &impl DmaMemory) {
        let Self { region, state, .. } = self;
        let s = state.lock();
        s.io.write32(STATSTOP, 1);
        if s.io.read32(STATSTOP) != 0 {
            return;
        }
        s.io.write32(C0PTR, 0);
        // SAFETY: `region` came from `dma.alloc` in `new`; no channel is active and C0PTR no
        // longer names it, so the SDMA reads none of it, and the driver that used it is gone.
        unsafe { dma.free(region) };
    }

    fn bus(&self, offset: usize) -> u32 {
        (self.region.bus().0 + offset as u64) as u32
    }

    fn table(&self, ch: usize) -> usize {
        self.layout.tables + (ch - 1) * self.layout.table_bytes
    }

    fn init(&self) -> Result<(), EngineError> {
        let s = self.state.lock();
        let io = &s.io;
        // Be sure the SDMA has not started (sdma_init).
        io.write32(C0PTR, 0);
        for e in 0..EVENTS {
            io.write32(CHNENBL_0 + 4 * e, 0);
        }
        for c in 0..CHANNELS {
            io.write32(CHNPRI_0 + 4 * c, 0);
        }
        let v = self.region.virt();
        // SAFETY: the range lies in `region` (Layout::total bytes, allocated above), a
        // region of `memory` only this driver uses; C0PTR is 0, so the SDMA reads none of
        // it, and the state lock makes this the only writer.
        unsafe {
            self.memory.with_bytes_mut(v, self.layout.context, |b| {
                b.fill(0);
                let bd0 = self.bus(self.layout.bd0);
                put_words(&mut b[..CCB_BYTES], &[bd0, bd0]);
                for ch in 1..=self.config.channels {
                    let t = self.bus(self.table(ch));
                    put_words(&mut b[ch * CCB_BYTES..(ch + 1) * CCB_BYTES], &[t, t]);
                }
            })
        };
        // SAFETY: normal memory of this region, written just above; cleaning writes only
        // its own bytes back to memory, where the SDMA reads the CCBs.
        unsafe { self.memory.clean(VirtRange::new(v, self.layout.context)) };
        own_for_host(io, 0);
        io.write32(CHN0ADDR, CHN0ADDR_VALUE);
        io.write32(
            CONFIG,
            if self.config.acr {
                bits(CONFIG_BITS::ACR::SET)
            } else {
                0
            },
        );
        io.write32(C0PTR, self.bus(0));
        io.write32(CHNPRI_0, MAX_PRIORITY);
        for ch in 1..=self.config.channels {
            own_for_host(io, ch);
            self.load_context(io, ch)?;
            io.write32(CHNPRI_0 + 4 * ch, self.config.priority);
        }
        Ok(())
    }

    /// `sdma_load_context` + `sdma_run_channel0` for data channel `ch`.
    fn load_context(&self, io: &R, ch: usize) -> Result<(), EngineError> {
        let (bd0, ctx) = (self.layout.bd0, self.layout.context);
        let v = self.region.virt();
        let mode = bits(
            MODE::COUNT.val(CONTEXT_WORDS)
                + MODE::DONE::SET
                + MODE::WRAP::SET
                + MODE::EXTD::SET
                + MODE::COMMAND.val(C0_SETDM),
        );
        // SAFETY: BD0 and the context buffer lie in `region` (Layout), only this driver
        // uses them; channel 0 is idle (the previous load was polled to its end), so the
        // SDMA reads neither while they are written; the state lock is held by `init`.
        unsafe {
            self.memory
                .with_bytes_mut(v + bd0, ctx - bd0 + CONTEXT_WORDS as usize * 4, |b| {
                    put_words(
                        &mut b[..BD_BYTES],
                        &[
                            mode,
                            self.bus(ctx),
                            CONTEXT_BASE + CONTEXT_WORDS * ch as u32,
                        ],
                    );
                    let c = &mut b[ctx - bd0..];
                    c.fill(0);
                    put_words(c, &[bits(STATE0::PC.val(AP_2_AP))]);
                })
        };
        let range = VirtRange::new(v + bd0, ctx - bd0 + CONTEXT_WORDS as usize * 4);
        // SAFETY: normal memory of this region, written just above; cleaning writes only
        // its own bytes back, where channel 0 reads them.
        unsafe { self.memory.clean(range) };
        io.write32(HSTART, 1);
        let finished = (0..SPIN_LIMIT).any(|_| io.read32(STATSTOP) & 1 == 0);
        io.write32(INTR, 1);
        if !finished {
            return Err(EngineError::Device(
                "SDMA channel 0 did not finish loading a context",
            ));
        }
        if io.read32(CONFIG) & bits(CONFIG_BITS::CSM::Dynamic) == 0 {
            io.write32(CONFIG, io.read32(CONFIG) | bits(CONFIG_BITS::CSM::Dynamic));
        }
        // SAFETY: BD0 is normal memory of this region; channel 0 has finished with it, so
        // dropping the CPU's lines loses nothing the CPU wrote (they were cleaned above).
        unsafe { self.memory.invalidate(VirtRange::new(v + bd0, BD_BYTES)) };
        // SAFETY: as above; the SDMA no longer writes BD0.
        let status = unsafe {
            self.memory.with_bytes(v + bd0, 4, |b| {
                LocalRegisterCopy::<u32, MODE::Register>::new(u32::from_le_bytes(
                    b.try_into().expect("4 bytes"),
                ))
            })
        };
        if status.is_set(MODE::DONE) || status.is_set(MODE::ERROR) {
            return Err(EngineError::Device(
                "SDMA channel 0 refused a context load (BD0 DONE or ERROR)",
            ));
        }
        Ok(())
    }

    /// Jobs the watchdog has stopped since [`Sdma::new`].
    pub fn watchdog_resets(&self) -> u64 {
        self.state.lock().watchdog_resets
    }

    /// The longest copy one job may be: a table of 0xFFFC-byte BDs.
    pub fn max_copy(&self) -> usize {
        self.config.bds_per_channel * BD_MAX_COUNT
    }

    /// Jobs queued or running.
    pub fn pending(&self) -> usize {
        let s = self.state.lock();
        s.queue.len() + s.channels.iter().filter(|c| c.busy()).count()
    }

    /// The interrupt handler's work: reads INTR, clears what it read, completes each
    /// finished channel's job from its BDs, then starts ready jobs. Returns how many jobs
    /// completed.
    pub fn on_interrupt(&self) -> usize {
        let mut signals = Signals::new();
        {
            let mut s = self.state.lock();
            let st = &mut *s;
            let intr = st.io.read32(INTR);
            if intr != 0 {
                st.io.write32(INTR, intr);
            }
            for ch in 1..=self.config.channels {
                if intr & 1 << ch == 0 {
                    continue;
                }
                let c = &mut st.channels[ch - 1];
                if let Some((done, bds)) = c.job.take() {
                    c.idle_ticks = 0;
                    signals.push((done, self.outcome(ch, bds)));
                }
            }
            self.kick(st, &mut signals);
        }
        let n = signals.len();
        finish(signals);
        n
    }

    /// Reads channel `ch`'s `bds` BDs back after the SDMA finished with them.
    fn outcome(&self, ch: usize, bds: usize) -> FenceResult {
        let v = self.region.virt() + self.table(ch);
        let len = bds * BD_BYTES;
        // SAFETY: the table is normal memory of this region, cleaned before the start and
        // not written by the CPU since; the channel raised INTR for its last BD, so the
        // SDMA is done with it and dropping the CPU's lines loses nothing.
        unsafe { self.memory.invalidate(VirtRange::new(v, len)) };
        // SAFETY: as above; the SDMA writes the table no more.
        let ok = unsafe {
            self.memory.with_bytes(v, len, |b| {
                b.chunks_exact(BD_BYTES).all(|bd| {
                    let m = LocalRegisterCopy::<u32, MODE::Register>::new(u32::from_le_bytes(
                        bd[..4].try_into().expect("4 bytes"),
                    ));
                    !m.is_set(MODE::DONE) && !m.is_set(MODE::ERROR)
                })
            })
        };
        if ok {
            Ok(())
        } else {
            Err(FenceError::DeviceError(BD_ERROR))
        }
    }

    /// Starts jobs whose in-fence has signalled since the driver last ran.
    pub fn service(&self) {
        let mut signals = Signals::new();
        self.kick(&mut self.state.lock(), &mut signals);
        finish(signals);
    }

    /// For the board's periodic watchdog: counts a tick against each running channel;
    /// one without completion for more than `watchdog_ticks` calls is stopped (STATSTOP)
    /// and its job fails with `DeviceError(`[`WATCHDOG_RESET`]`)` once `stop_settle` has
    /// passed (at this or a later call into the driver). Returns how many it stopped.
    pub fn watchdog(&self) -> usize {
        let mut signals = Signals::new();
        let mut n = 0;
        {
            let mut s = self.state.lock();
            let st = &mut *s;
            for ch in 1..=self.config.channels {
                let c = &mut st.channels[ch - 1];
                if c.job.is_none() {
                    continue;
                }
                c.idle_ticks += 1;
                if c.idle_ticks <= self.config.watchdog_ticks {
                    continue;
                }
                c.idle_ticks = 0;
                if stop(&st.io, 1 << ch) {
                    // Its INTR bit may have risen meanwhile; the job is failed either way.
                    st.io.write32(INTR, 1 << ch);
                    let (done, _) = c.job.take().expect("checked above");
                    let until = platform::now().saturating_add(self.config.stop_settle);
                    let r = Err(FenceError::DeviceError(WATCHDOG_RESET));
                    c.stopping = Some((done, r, until));
                    st.watchdog_resets += 1;
                    n += 1;
                } else {
                    c.wedged = true;
                }
            }
            self.kick(st, &mut signals);
        }
        finish(signals);
        n
    }

    /// Stops every data channel and abandons the running and queued jobs: their fences
    /// signal `DeviceError(ABANDONED)`, a queued job's at once, a running job's once its
    /// channel reads stopped and `stop_settle` has passed (at this or a later call into
    /// the driver). Returns how many jobs were abandoned.
    pub fn reset(&self) -> usize {
        let mut signals = Signals::new();
        let mut abandoned = 0;
        {
            let mut s = self.state.lock();
            let st = &mut *s;
            for ch in 1..=self.config.channels {
                let stopped = stop(&st.io, 1 << ch);
                let c = &mut st.channels[ch - 1];
                c.wedged = !stopped;
                c.idle_ticks = 0;
                if stopped && let Some((done, _)) = c.job.take() {
                    let until = platform::now().saturating_add(self.config.stop_settle);
                    c.stopping = Some((done, Err(FenceError::DeviceError(ABANDONED)), until));
                    abandoned += 1;
                }
            }
            let mask = ((1u32 << (self.config.channels + 1)) - 1) & !1;
            st.io.write32(INTR, mask);
            for job in st.queue.drain(..) {
                signals.push((job.done, Err(FenceError::DeviceError(ABANDONED))));
                abandoned += 1;
            }
            Self::settle(st, &mut signals);
        }
        finish(signals);
        abandoned
    }

    /// Signals the jobs of stopped channels whose settle time is over; frees the channels.
    fn settle(s: &mut State<R>, signals: &mut Signals) {
        let now = platform::now();
        for c in &mut s.channels {
            if c.stopping
                .as_ref()
                .is_some_and(|(_, _, until)| now >= *until)
            {
                let (done, r, _) = c.stopping.take().expect("checked above");
                signals.push((done, r));
            }
        }
    }

    /// Completes settled stops, then starts ready jobs on free channels.
    fn kick(&self, s: &mut State<R>, signals: &mut Signals) {
        Self::settle(s, signals);
        loop {
            let free = |c: &Channel| c.job.is_none() && c.stopping.is_none() && !c.wedged;
            let Some(i) = s.channels.iter().position(free) else {
                return;
            };
            let ready = s
                .queue
                .iter()
                .position(|j| j.in_fence.as_ref().is_none_or(Fence::is_signalled));
            let Some(q) = ready else { return };
            let job = s.queue.remove(q).expect("index from position");
            if let Some(Err(e)) = job.in_fence.as_ref().and_then(|f| f.status().result()) {
                // The producer of the data failed: the copy does not run.
                signals.push((job.done, Err(e)));
                continue;
            }
            let bds = self.launch(&s.io, i + 1, &job.transfer);
            let c = &mut s.channels[i];
            c.job = Some((job.done, bds));
            c.idle_ticks = 0;
        }
    }

    /// Writes `t`'s BDs into channel `ch`'s table, cleans it and starts the channel.
    fn launch(&self, io: &R, ch: usize, t: &Transfer) -> usize {
        let bds = (t.len as usize).div_ceil(BD_MAX_COUNT);
        let v = self.region.virt() + self.table(ch);
        let len = bds * BD_BYTES;
        // SAFETY: the table lies in `region` (Layout; `bds <= bds_per_channel`, checked at
        // submission), only this driver uses it; channel `ch` has no job, so the SDMA does
        // not read it, and the state lock makes this the only writer.
        unsafe {
            self.memory.with_bytes_mut(v, len, |b| {
                for (i, bd) in b.chunks_exact_mut(BD_BYTES).enumerate() {
                    let at = (i * BD_MAX_COUNT) as u32;
                    let count = (t.len - at).min(BD_MAX_COUNT as u32);
                    let last = i + 1 == bds;
                    let flags = if last {
                        MODE::INTR::SET + MODE::LAST::SET
                    } else {
                        MODE::CONT::SET
                    };
                    let mode =
                        bits(MODE::COUNT.val(count) + MODE::DONE::SET + MODE::EXTD::SET + flags);
                    put_words(bd, &[mode, t.src + at, t.dst + at]);
                }
            })
        };
        // SAFETY: normal memory of this region, written just above; cleaning writes only
        // its own bytes back, where the SDMA reads the BDs.
        unsafe { self.memory.clean(VirtRange::new(v, len)) };
        io.write32(HSTART, 1 << ch);
        bds
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
            let busy = s.queue.len() + s.channels.iter().filter(|c| c.busy()).count();
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
                // The watchdog took the buffers back first: the copy must not run.
                Err(_) => signals.push((done, Err(FenceError::Timeout))),
            }
            self.kick(&mut s, &mut signals);
        }
        finish(signals);
        Ok(fence)
    }

    fn check_copy<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        dst: &Span<'_>,
        src: &Span<'_>,
    ) -> Result<Transfer, EngineError> {
        let (d, s) = resolve_copy(locked, self.config.device, dst, src)?;
        let (d, len) = bus32(d, dst.len, dst.buffer.name())?;
        let (s, _) = bus32(s, src.len, src.buffer.name())?;
        if (d | s | len) % 4 != 0 {
            return Err(EngineError::Unsupported(
                "SDMA copy not 4-byte aligned (address or length; ap_2_ap memcpy declares copy_align 4)",
            ));
        }
        if len as usize > self.max_copy() {
            return Err(EngineError::Unsupported(
                "SDMA copy longer than one channel's BD table (bds_per_channel x 0xFFFC bytes)",
            ));
        }
        Ok(Transfer {
            dst: d,
            src: s,
            len,
        })
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
            what: "SDMA span (above the 32-bit address space)",
        }),
    }
}

impl<R: RegisterIo, M: MemorySystem> DmaEngine for Sdma<R, M> {
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
        match self.check_copy(&locked, &dst, &src) {
            Ok(t) => self.queue_job(locked, t, in_fence),
            Err(e) => Err(Rejected::new(e, locked)),
        }
    }

    /// Refused: the ROM script ap_2_ap only copies, and no fill script runs without NXP's
    /// RAM firmware.
    fn fill<'s, MS: MemorySystem>(
        &self,
        locked: Locked<'s, MS>,
        _dst: Span<'_>,
        _value: u8,
        _in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, MS>>> {
        Err(Rejected::new(
            EngineError::Unsupported(
                "SDMA fill: the ROM script ap_2_ap only copies (other scripts need RAM firmware)",
            ),
            locked,
        ))
    }
}
