//! The BCM2835 DMA controller (Raspberry Pi 1-3; QEMU `raspi3b`) as a dmasync
//! [`DmaEngine`] (copy and fill) and, with its 2D stride mode, an [`Engine2d`] that copies
//! rectangles (fill and blend refused as `Unsupported`), on several channels at once.
//!
//! Register and control-block facts from the public "BCM2835 ARM Peripherals" document
//! (§4) as Linux `drivers/dma/bcm2835-dma.c` quotes and uses them, and QEMU
//! `hw/dma/bcm2835_dma.c` (facts only; raspi3b.md §4 and §7), see [`regs`] and [`cb`]; our
//! own code.
//!
//! # How a job runs
//!
//! A submission is checked against the [`Locked`] set (registered for this device, read
//! access for sources, write for destinations, inside the registered range; no overlap),
//! against 32-bit bus addresses, and made into a [`cb::Plan`], which refuses every length,
//! address, row or pitch that is not a multiple of 4 and every field overflow, all before
//! any register is read or written: a length that is not a multiple of 4 never ends in
//! QEMU's model (it steps XLENGTH down by 4, unsigned), and the hardware moves words. A
//! refusal comes back in [`Rejected`]. An accepted job is handed to
//! [`Locked::unlock_after`] and queued; once its in-fence has signalled and a channel is
//! free, the driver writes its control-block chain into that channel's slots of the
//! driver's DMA memory (32-byte aligned, Peripherals §4.2.1.1), every block with
//! WAIT_RESP and the last with INTEN, cleans them (the DMA snoops no cache), writes
//! CONBLK_AD and sets CS.ACTIVE (as Linux `bcm2835_dma_start_desc`).
//!
//! Copies longer than one TXFR_LEN are split over chained blocks (30-bit lengths on full
//! channels 0-6, 64 KiB - 4 on lite channels 7-14: Linux `MAX_DMA_LEN`,
//! `MAX_LITE_DMA_LEN`); a fill reads one pattern word of the channel's slot again and
//! again (S_INC clear). A 2D submission is one 2D block per rectangle (TDMODE, YLENGTH + 1
//! rows of XLENGTH bytes, strides = pitch - row) and runs on full channels only: lite
//! channels have no 2D mode (Peripherals §4.5).
//!
//! # Completion and errors
//!
//! [`Bcm2835Dma::on_interrupt`] reads CS of each running channel. CS.ERROR fails the
//! job with `DeviceError(`[`DMA_ERROR`]` | DEBUG flags)` ([`error_code`]) once the channel
//! is halted; CS.INT with CONBLK_AD = 0 (the chain's end, as Linux decides completion)
//! clears INT and END and signals the job's fence.
//!
//! # Watchdog and reset
//!
//! [`Bcm2835Dma::watchdog`] counts ticks against each running channel; past
//! `watchdog_ticks` it halts the channel as Linux `bcm2835_dma_abort` does (CS = 0 to
//! pause, WAITING_FOR_OUTSTANDING_WRITES polled clear, CS.RESET, DEBUG's error flags
//! cleared) and fails the job with `DeviceError(`[`WATCHDOG_RESET`]`)`. [`DmaEngine`]'s
//! and [`Engine2dControl::reset`]'s reset halts every running channel and abandons its and
//! the queued jobs (`DeviceError(ABANDONED)`). A channel whose writes never drain keeps
//! its job's fence pending (the buffers stay held) and takes no job: a leak, never a
//! device writing into buffers handed on.
//!
//! # Limits
//!
//! In-fences are looked at when the driver runs (submission, interrupt, watchdog,
//! [`Bcm2835Dma::service`]); ready jobs start on the first free channel that can run
//! them, so a 1D job may pass a 2D one waiting for a full channel. Bus addresses are what
//! the board's memory system gives (0xC000_0000 | physical on the Pi); channel 15 (its own
//! block, no interrupt on the Pi) is not used. QEMU ignores failed accesses, DREQ pacing
//! and the lite limits; only hardware shows those (drivers/README.md).
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod cb;
pub mod regs;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use dmasync_engine::dma::{DmaEngine, Span};
use dmasync_engine::error::{EngineError, Rejected};
use dmasync_engine::gfx2d::{Caps2d, Engine2d, Engine2dControl, Op2d};
use dmasync_engine::surface::{BusSurface, Need, PixelFormat, Point, Rect, Surface, resolve};
use dmasync_hal::cache::VirtRange;
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId, DmaMemory, DmaRegion, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::mmio::RegisterIo;
use dmasync_soft::{ABANDONED, resolve_copy, resolve_span};
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult};
use dmasync_sync::syncset::Locked;
use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;

use cb::{Plan, Rect2d};
use regs::*;

/// `FenceError::DeviceError` code of a job that ended with CS.ERROR; the low three bits are
/// DEBUG's flags (READ_ERROR 4, FIFO_ERROR 2, READ_LAST_NOT_SET_ERROR 1).
pub const DMA_ERROR: u32 = 0xBC35_0100;
/// `FenceError::DeviceError` code of a job the watchdog halted.
pub const WATCHDOG_RESET: u32 = 0xBC35_0200;
/// Most control blocks per channel [`Bcm2835DmaConfig::cbs_per_channel`] allows.
pub const MAX_CBS: usize = 1024;

/// Reads of CS before a channel's outstanding writes count as never draining.
const SPIN_LIMIT: u32 = 100_000;
/// The pixel formats the 2D copy moves (4 bytes each, copied as they are).
const FORMATS: &[PixelFormat] = &[PixelFormat::Xrgb8888, PixelFormat::Argb8888];

/// The fence error code for a channel's CS and DEBUG, if CS reports an error.
pub fn error_code(cs: u32, debug: u32) -> Option<u32> {
    let cs = LocalRegisterCopy::<u32, CS_BITS::Register>::new(cs);
    cs.is_set(CS_BITS::ERROR)
        .then_some(DMA_ERROR | (debug & DEBUG_ERRORS))
}

/// What the board tells the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bcm2835DmaConfig {
    /// The bus-master id buffers are locked for.
    pub device: DeviceId,
    /// Channels the driver owns, bit n = channel n (0-14; Linux `brcm,dma-channel-mask`):
    /// on a Pi the firmware uses the others.
    pub channels: u16,
    /// Control blocks per channel (1 ..= [`MAX_CBS`]): a copy takes one per TXFR_LEN, a 2D
    /// submission one per rectangle.
    pub cbs_per_channel: usize,
    /// Jobs accepted and not finished, at most (running ones included).
    pub queue_depth: usize,
    /// Watchdog calls without completion before a channel is halted.
    pub watchdog_ticks: u32,
}

struct Job {
    plan: Plan,
    full_only: bool,
    done: FenceProducer,
    in_fence: Option<Fence>,
}

struct Channel {
    /// The hardware channel number.
    number: usize,
    lite: bool,
    job: Option<FenceProducer>,
    idle_ticks: u32,
    /// Its writes did not drain when halted: it takes no job and its job stays pending.
    wedged: bool,
}

struct State<R> {
    io: R,
    channels: Vec<Channel>,
    queue: VecDeque<Job>,
    watchdog_resets: u64,
}

type Signals = Vec<(FenceProducer, FenceResult)>;

/// A BCM2835 DMA controller as a dmasync DMA engine and copy-only 2D engine. `R` reaches
/// the block of channels 0-14 (an `MmioWindow` of 0x1000 bytes on a board), `M` is how the
/// CPU writes the control blocks and cleans them.
pub struct Bcm2835Dma<R: RegisterIo, M: MemorySystem> {
    config: Bcm2835DmaConfig,
    memory: M,
    region: DmaRegion,
    /// Bytes of one channel's slots: the pattern slot, then its control blocks.
    area: usize,
    any_full: bool,
    state: IrqSpinLock<State<R>>,
}

impl<R: RegisterIo, M: MemorySystem> fmt::Debug for Bcm2835Dma<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bcm2835Dma")
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

/// Stops channel `ch` as Linux `bcm2835_dma_abort`: pause (CS = 0) if a chain is loaded,
/// wait for its outstanding writes, reset, clear DEBUG's error flags. False if the writes
/// never drain (the channel is left paused, not reset).
fn halt<R: RegisterIo>(io: &R, ch: usize) -> bool {
    if io.read32(chan(ch, CONBLK_AD)) != 0 {
        io.write32(chan(ch, CS), 0);
        let waiting = bits(CS_BITS::WAITING_FOR_OUTSTANDING_WRITES::SET);
        if !(0..SPIN_LIMIT).any(|_| io.read32(chan(ch, CS)) & waiting == 0) {
            return false;
        }
    }
    io.write32(chan(ch, CS), bits(CS_BITS::RESET::SET));
    io.write32(chan(ch, DEBUG), DEBUG_ERRORS);
    true
}

/// The span as a 32-bit bus address, or `Err` naming it.
fn bus32(at: BusAddr, len: usize, buffer: &'static str) -> Result<(u32, u32), EngineError> {
    match at.0.checked_add(len as u64) {
        Some(end) if end <= 1 << 32 => Ok((at.0 as u32, len as u32)),
        _ => Err(EngineError::OutOfBounds {
            buffer,
            what: "BCM2835 DMA span (above the 32-bit bus address space)",
        }),
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

impl<R: RegisterIo, M: MemorySystem> Bcm2835Dma<R, M> {
    /// Takes the channels of `config.channels`: allocates their control blocks from `dma`
    /// (it must belong to `memory` and lie below 4 GiB), refuses a channel that is active
    /// (someone else's), enables and resets the channels. `Err` names what was wrong.
    pub fn new(
        io: R,
        config: Bcm2835DmaConfig,
        dma: &impl DmaMemory,
        memory: M,
    ) -> Result<Self, EngineError> {
        if config.channels == 0 || config.channels >> CHANNELS != 0 {
            return Err(EngineError::Unsupported(
                "BCM2835 DMA channels: a non-empty mask of channels 0-14",
            ));
        }
        if config.cbs_per_channel == 0 || config.cbs_per_channel > MAX_CBS {
            return Err(EngineError::Unsupported(
                "BCM2835 DMA control blocks per channel: 1 to 1024",
            ));
        }
        if config.queue_depth == 0 {
            return Err(EngineError::Unsupported("a queue depth of 0"));
        }
        let line = dma.line_size().max(memory.line_size()).max(CB_ALIGN);
        let area = ((config.cbs_per_channel + 1) * CB_BYTES).div_ceil(line) * line;
        let numbers: Vec<usize> = (0..CHANNELS)
            .filter(|n| config.channels & 1 << n != 0)
            .collect();
        let region = dma
            .alloc(area * numbers.len(), Coherency::NonCoherent)
            .map_err(|_| EngineError::Device("no DMA memory for the BCM2835 control blocks"))?;
        let active = bits(CS_BITS::ACTIVE::SET);
        let refused = if !memory.owns(&region) {
            Some("the BCM2835 control blocks are not of the given memory system")
        } else if region.bus().0 + region.len() as u64 > 1 << 32 {
            Some("the BCM2835 control blocks lie above 4 GiB")
        } else if region.bus().0 % CB_ALIGN as u64 != 0 {
            Some("the BCM2835 control blocks are not 32-byte aligned on the bus")
        } else if numbers
            .iter()
            .any(|&n| io.read32(chan(n, CS)) & active != 0)
        {
            Some("a BCM2835 DMA channel of the mask is active (in use by someone else)")
        } else {
            None
        };
        if let Some(why) = refused {
            // SAFETY: `region` came from `dma.alloc` just above and nothing has used it: no
            // register holds its address.
            unsafe { dma.free(region) };
            return Err(EngineError::Device(why));
        }
        io.write32(ENABLE, io.read32(ENABLE) | u32::from(config.channels));
        let lite_bit = bits(DEBUG_BITS::LITE::SET);
        let channels: Vec<Channel> = numbers
            .iter()
            .map(|&n| {
                io.write32(chan(n, CS), bits(CS_BITS::RESET::SET));
                io.write32(chan(n, DEBUG), DEBUG_ERRORS);
                Channel {
                    number: n,
                    lite: n >= FIRST_LITE || io.read32(chan(n, DEBUG)) & lite_bit != 0,
                    job: None,
                    idle_ticks: 0,
                    wedged: false,
                }
            })
            .collect();
        Ok(Self {
            config,
            memory,
            region,
            area,
            any_full: channels.iter().any(|c| !c.lite),
            state: IrqSpinLock::new(State {
                io,
                channels,
                queue: VecDeque::new(),
                watchdog_resets: 0,
            }),
        })
    }

    /// The longest copy or fill one job may be.
    pub fn max_copy(&self) -> usize {
        let per = if self.any_full { MAX_LEN } else { MAX_LITE_LEN };
        (self.config.cbs_per_channel * per).min(u32::MAX as usize & !3)
    }

    /// Jobs the watchdog has halted since [`Bcm2835Dma::new`].
    pub fn watchdog_resets(&self) -> u64 {
        self.state.lock().watchdog_resets
    }

    /// Jobs running on a channel now.
    pub fn running(&self) -> usize {
        self.state
            .lock()
            .channels
            .iter()
            .filter(|c| c.job.is_some())
            .count()
    }

    /// Jobs queued or running.
    pub fn pending(&self) -> usize {
        let s = self.state.lock();
        s.queue.len() + s.channels.iter().filter(|c| c.job.is_some()).count()
    }

    /// The interrupt handler's work: completes each running channel's job whose CS shows
    /// the chain's end or an error, then starts ready jobs. Returns how many completed.
    pub fn on_interrupt(&self) -> usize {
        self.poll(false).0
    }

    /// Starts jobs whose in-fence has signalled since the driver last ran.
    pub fn service(&self) {
        let mut signals = Signals::new();
        self.kick(&mut self.state.lock(), &mut signals);
        finish(signals);
    }

    /// For the board's periodic watchdog: completes what [`Self::on_interrupt`] would, and
    /// counts a tick against each other running channel; one without completion for more
    /// than `watchdog_ticks` calls is halted and its job fails with
    /// `DeviceError(`[`WATCHDOG_RESET`]`)`. Returns how many it halted.
    pub fn watchdog(&self) -> usize {
        self.poll(true).1
    }

    /// Completes finished or failed jobs (and, with `tick`, halts timed-out ones), then
    /// starts ready jobs. Returns (jobs completed, channels halted for a timeout).
    fn poll(&self, tick: bool) -> (usize, usize) {
        let mut signals = Signals::new();
        let mut timeouts = 0;
        {
            let mut s = self.state.lock();
            let st = &mut *s;
            let io = &st.io;
            for c in st
                .channels
                .iter_mut()
                .filter(|c| c.job.is_some() && !c.wedged)
            {
                let ch = c.number;
                let cs = io.read32(chan(ch, CS));
                let failed = if let Some(code) = error_code(cs, io.read32(chan(ch, DEBUG))) {
                    Some(code)
                } else if cs & bits(CS_BITS::INT::SET) != 0 && io.read32(chan(ch, CONBLK_AD)) == 0 {
                    io.write32(chan(ch, CS), bits(CS_BITS::INT::SET + CS_BITS::END::SET));
                    signals.push((c.job.take().expect("filtered"), Ok(())));
                    c.idle_ticks = 0;
                    None
                } else if tick {
                    c.idle_ticks += 1;
                    (c.idle_ticks > self.config.watchdog_ticks).then_some(WATCHDOG_RESET)
                } else {
                    None
                };
                let Some(code) = failed else { continue };
                c.idle_ticks = 0;
                if halt(io, ch) {
                    signals.push((
                        c.job.take().expect("filtered"),
                        Err(FenceError::DeviceError(code)),
                    ));
                    if code == WATCHDOG_RESET {
                        timeouts += 1;
                    }
                } else {
                    c.wedged = true;
                }
            }
            st.watchdog_resets += timeouts as u64;
            self.kick(st, &mut signals);
        }
        let n = signals.len();
        finish(signals);
        (n, timeouts)
    }

    /// Halts every running channel and abandons its and the queued jobs: their fences
    /// signal `DeviceError(ABANDONED)`. A wedged channel is tried again. Returns how many
    /// jobs were abandoned.
    pub fn reset(&self) -> usize {
        let mut signals = Signals::new();
        {
            let mut s = self.state.lock();
            let st = &mut *s;
            for c in st.channels.iter_mut() {
                c.idle_ticks = 0;
                if halt(&st.io, c.number) {
                    c.wedged = false;
                    if let Some(done) = c.job.take() {
                        signals.push((done, Err(FenceError::DeviceError(ABANDONED))));
                    }
                } else {
                    c.wedged = true;
                }
            }
            for job in st.queue.drain(..) {
                signals.push((job.done, Err(FenceError::DeviceError(ABANDONED))));
            }
        }
        let n = signals.len();
        finish(signals);
        n
    }

    /// Starts ready jobs on free channels that can run them.
    fn kick(&self, s: &mut State<R>, signals: &mut Signals) {
        let mut q = 0;
        while q < s.queue.len() {
            let job = &s.queue[q];
            if job.in_fence.as_ref().is_some_and(|f| !f.is_signalled()) {
                q += 1;
                continue;
            }
            let failed = job.in_fence.as_ref().and_then(|f| f.status().result());
            if let Some(Err(e)) = failed {
                // The producer of the data failed: the job does not run.
                let job = s.queue.remove(q).expect("index in range");
                signals.push((job.done, Err(e)));
                continue;
            }
            if job.plan.control_blocks(MAX_LEN) == 0 {
                // Only empty rectangles: nothing to move.
                let job = s.queue.remove(q).expect("index in range");
                signals.push((job.done, Ok(())));
                continue;
            }
            let free = s
                .channels
                .iter()
                .position(|c| c.job.is_none() && !c.wedged && !(c.lite && job.full_only));
            let Some(i) = free else {
                q += 1;
                continue;
            };
            let job = s.queue.remove(q).expect("index in range");
            self.launch(
                &s.io,
                i,
                s.channels[i].number,
                s.channels[i].lite,
                &job.plan,
            );
            let c = &mut s.channels[i];
            c.job = Some(job.done);
            c.idle_ticks = 0;
        }
    }

    /// Writes `plan`'s chain into slot area `i` (hardware channel `ch`), cleans it and
    /// starts the channel.
    fn launch(&self, io: &R, i: usize, ch: usize, lite: bool, plan: &Plan) {
        let offset = i * self.area;
        let bus = (self.region.bus().0 + offset as u64) as u32;
        let max_len = if lite { MAX_LITE_LEN } else { MAX_LEN };
        let cbs = plan.encode(max_len, bus + CB_BYTES as u32, bus);
        let len = (cbs.len() + 1) * CB_BYTES;
        // `fits` checked this at submission; it is what keeps the write below in the area.
        assert!(len <= self.area, "a chain longer than its channel's area");
        let v = self.region.virt() + offset;
        // SAFETY: slot area `i` lies in `region` (`area` bytes per owned channel, and
        // `cbs.len() <= cbs_per_channel`: checked at submission for this channel kind),
        // which only this driver uses; channel `ch` has no job, so the DMA reads none of it,
        // and the state lock makes this the only writer.
        unsafe {
            self.memory.with_bytes_mut(v, len, |b| {
                b[..CB_BYTES].fill(0);
                if let Plan::Fill { word, .. } = plan {
                    b[..4].copy_from_slice(&word.to_le_bytes());
                }
                for (slot, cb) in b[CB_BYTES..].chunks_exact_mut(CB_BYTES).zip(&cbs) {
                    slot.copy_from_slice(&cb.bytes());
                }
            })
        };
        // SAFETY: normal memory of this region, written just above; cleaning writes only its
        // own bytes back to memory, where the DMA reads the chain.
        unsafe { self.memory.clean(VirtRange::new(v, len)) };
        io.write32(chan(ch, CONBLK_AD), bus + CB_BYTES as u32);
        io.write32(chan(ch, CS), bits(CS_BITS::ACTIVE::SET));
    }

    /// Refuses a plan no owned channel can hold; else whether it needs a full channel.
    fn fits(&self, plan: &Plan) -> Result<bool, EngineError> {
        let cbs = self.config.cbs_per_channel;
        let full_only = plan.needs_full_channel(cbs);
        if full_only && !self.any_full {
            return Err(EngineError::Unsupported(match plan {
                Plan::Rects(_) => "2D copies on lite channels only (no 2D mode: channels 7-14)",
                _ => "BCM2835 DMA job longer than a lite channel's control blocks hold",
            }));
        }
        if plan.control_blocks(MAX_LEN) > cbs {
            return Err(EngineError::Unsupported(
                "BCM2835 DMA job needs more control blocks than cbs_per_channel",
            ));
        }
        Ok(full_only)
    }

    fn queue_job<'s, MS: MemorySystem>(
        &self,
        locked: Locked<'s, MS>,
        plan: Plan,
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, MS>>> {
        let full_only = match self.fits(&plan) {
            Ok(f) => f,
            Err(e) => return Err(Rejected::new(e, locked)),
        };
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
                    plan,
                    full_only,
                    done,
                    in_fence: in_fence.cloned(),
                }),
                // The watchdog took the buffers back first: the job must not run.
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
    ) -> Result<Plan, EngineError> {
        let (d, s) = resolve_copy(locked, self.config.device, dst, src)?;
        let (d, len) = bus32(d, dst.len, dst.buffer.name())?;
        let (s, _) = bus32(s, src.len, src.buffer.name())?;
        Plan::copy(d, s, len).map_err(EngineError::Unsupported)
    }

    fn check_fill<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        dst: &Span<'_>,
        value: u8,
    ) -> Result<Plan, EngineError> {
        let d = resolve_span(
            locked,
            self.config.device,
            dst,
            Need::Write,
            "fill destination",
        )?;
        let (d, len) = bus32(d, dst.len, dst.buffer.name())?;
        Plan::fill(d, len, value).map_err(EngineError::Unsupported)
    }

    fn check_ops<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        ops: &[Op2d<'_>],
    ) -> Result<Plan, EngineError> {
        if ops.is_empty() {
            return Err(EngineError::Empty);
        }
        if ops.len() > self.config.cbs_per_channel {
            return Err(EngineError::Unsupported(
                "more commands in one submission than max_ops (cbs_per_channel)",
            ));
        }
        let mut rects = Vec::with_capacity(ops.len());
        for op in ops {
            // Every variant by name: a new operation must be decided on here.
            match *op {
                Op2d::Fill { .. } => {
                    return Err(EngineError::Unsupported(
                        "2D fill on the BCM2835 DMA (this engine only copies rectangles)",
                    ));
                }
                Op2d::Blend { .. } => {
                    return Err(EngineError::Unsupported(
                        "alpha blend on the BCM2835 DMA (it moves words, no arithmetic)",
                    ));
                }
                Op2d::Convert { .. } => {
                    return Err(EngineError::Unsupported(
                        "scaled/converted blit on the BCM2835 DMA (it moves words: no scaler, \
                         no flip, no colour conversion)",
                    ));
                }
                Op2d::Copy { dst, to, src, from } => {
                    if let Some(r) = self.check_rect(locked, dst, to, src, from)? {
                        rects.push(r);
                    }
                }
            }
        }
        Ok(Plan::Rects(rects))
    }

    fn check_rect<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        dst: Surface<'_>,
        to: Point,
        src: Surface<'_>,
        from: Rect,
    ) -> Result<Option<Rect2d>, EngineError> {
        let same = core::ptr::eq(dst.buffer, src.buffer);
        let dst_need = if same { Need::ReadWrite } else { Need::Write };
        let d = self.surface32(locked, &dst, dst_need)?;
        let s = self.surface32(locked, &src, Need::Read)?;
        if dst.desc.format != src.desc.format {
            return Err(EngineError::Unsupported(
                "copy between pixel formats (the DMA does not convert)",
            ));
        }
        if !from.fits_in(s.width, s.height) {
            return Err(EngineError::OutOfBounds {
                buffer: src.buffer.name(),
                what: "blit source",
            });
        }
        if !Rect::new(to.x, to.y, from.w, from.h).fits_in(d.width, d.height) {
            return Err(EngineError::OutOfBounds {
                buffer: dst.buffer.name(),
                what: "blit destination",
            });
        }
        if from.is_empty() {
            return Ok(None);
        }
        let row = from.w as u64 * 4;
        let span =
            |b: &BusSurface, x: u32, y: u32| (b.pixel(x, y).0, b.pixel(x, y + from.h - 1).0 + row);
        let (s0, s1) = span(&s, from.x, from.y);
        let (d0, d1) = span(&d, to.x, to.y);
        if same && s0 < d1 && d0 < s1 {
            // The DMA reads and writes row by row, forwards only.
            return Err(EngineError::Unsupported(
                "overlapping 2D copy source and destination (the DMA copies forwards only)",
            ));
        }
        let row = u32::try_from(row).map_err(|_| {
            EngineError::Unsupported("2D copy row longer than XLENGTH's 65532 bytes")
        })?;
        Rect2d::new(d0 as u32, s0 as u32, row, from.h, d.stride, s.stride)
            .map(Some)
            .map_err(EngineError::Unsupported)
    }

    /// Resolves a surface and checks it lies below 4 GiB on the bus.
    fn surface32<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        s: &Surface<'_>,
        need: Need,
    ) -> Result<BusSurface, EngineError> {
        let b = resolve(locked, self.config.device, s, need)?;
        let span = s.desc.span_bytes().unwrap_or(usize::MAX);
        bus32(b.bus, span, s.buffer.name())?;
        Ok(b)
    }
}

impl<R: RegisterIo, M: MemorySystem> DmaEngine for Bcm2835Dma<R, M> {
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
            Ok(p) => self.queue_job(locked, p, in_fence),
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
        match self.check_fill(&locked, &dst, value) {
            Ok(p) => self.queue_job(locked, p, in_fence),
            Err(e) => Err(Rejected::new(e, locked)),
        }
    }
}

impl<R: RegisterIo, M: MemorySystem> Engine2dControl for Bcm2835Dma<R, M> {
    fn capabilities(&self) -> Caps2d {
        Caps2d {
            max_width: cb::MAX_ROW_BYTES / 4,
            max_height: cb::MAX_ROWS,
            formats: FORMATS,
            fill: false,
            copy: self.any_full,
            blend: false,
            convert: None,
            queue_depth: self.config.queue_depth,
            max_ops: self.config.cbs_per_channel,
        }
    }

    fn pending(&self) -> usize {
        Bcm2835Dma::pending(self)
    }

    fn reset(&self) -> usize {
        Bcm2835Dma::reset(self)
    }
}

impl<R: RegisterIo, M: MemorySystem> Engine2d for Bcm2835Dma<R, M> {
    fn device(&self) -> DeviceId {
        self.config.device
    }

    fn submit<'s, MS: MemorySystem>(
        &self,
        locked: Locked<'s, MS>,
        ops: &[Op2d<'_>],
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, MS>>> {
        match self.check_ops(&locked, ops) {
            Ok(p) => self.queue_job(locked, p, in_fence),
            Err(e) => Err(Rejected::new(e, locked)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_is_cs_error_with_the_debug_flags() {
        // CS.ERROR is bit 8; DEBUG: READ_LAST_NOT_SET 0, FIFO 1, READ 2 (Linux BCM2835_DMA_*).
        assert_eq!(error_code(1 << 8, 1 << 2), Some(DMA_ERROR | 4));
        assert_eq!(
            error_code(1 << 8 | 0x16, 0b011 | 1 << 28),
            Some(DMA_ERROR | 3)
        );
        assert_eq!(error_code(1 << 8, 0), Some(DMA_ERROR));
        assert_eq!(
            error_code(0x16, 0b111),
            None,
            "END|INT|PAUSED without ERROR"
        );
    }
}
