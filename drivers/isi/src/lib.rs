//! The i.MX 8M Plus ISI (Image Sensing Interface) memory-to-memory path as a dmasync 2D
//! engine: one channel reads a frame from memory, crops it (by where it starts reading),
//! scales it down, converts RGB565 / XRGB8888 / YUYV to ARGB8888 / XRGB8888 / RGB565,
//! mirrors it and writes it to memory — [`Op2d::Convert`] with the arithmetic
//! `dmasync_engine::gfx2d` documents.
//!
//! Programming as Linux's `imx8-isi-m2m.c` / `imx8-isi-hw.c` do it (facts only, offsets in
//! [`regs`]): SW_RST then CLK_EN at start; per command the input size (CHNL_IMG_CFG), the
//! scale factors (`ceil(from * 4096 / to)`, no decimation) and output size, the CSC (BT.601
//! YCbCr-to-RGB coefficients for YUYV input, bypass otherwise), the channel control (memory
//! source, SRC_INPUT 2, bypass when neither scaling nor CSC is needed), output and input
//! buffer addresses and pitches, the memory-input type, then READ_MEM cleared and set. The
//! frame-stored interrupt (FRM_STRD) completes the command and starts the next; an AXI error
//! interrupt fails the job with `DeviceError(`[`BUS_ERROR`]`)` after a channel reset.
//!
//! Honest capabilities: no fill, no copy, no blend (the ISI has none; a 1:1 Convert rewrites
//! the X byte, so it is not offered as a copy), no up-scaling, down-scaling by less than 2
//! per axis (factor at most 0x1FFF: larger ratios need the decimation filter, whose
//! arithmetic is not public), inputs up to 2048 pixels wide (the line buffer; wider needs
//! chaining two channels, not implemented), 32-bit bus addresses, pitches up to 65535, and
//! no ARGB8888 input (the memory input reads XRGB8: alpha is lost). Each is refused as
//! `Unsupported` before a register is written.
//!
//! A hang is caught by [`Isi::watchdog`]: SW_RST and `DeviceError(`[`WATCHDOG_RESET`]`)`.
//! [`Engine2dControl::reset`] abandons everything (`DeviceError(ABANDONED)`).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod regs;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use dmasync_engine::gfx2d::{check_convert, scale_factor};
use dmasync_engine::surface::{BusSurface, Need, resolve};
use dmasync_engine::{
    Caps2d, ConvertCaps, Engine2d, Engine2dControl, EngineError, Flip, Op2d, PixelFormat, Rect,
    Rejected, Scaling, Surface,
};
use dmasync_hal::dma::{DeviceId, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::mmio::RegisterIo;
use dmasync_soft::ABANDONED;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult};
use dmasync_sync::syncset::Locked;
use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;

use regs::*;

/// `FenceError::DeviceError` code of a job the watchdog stopped (hung channel).
pub const WATCHDOG_RESET: u32 = 0x1515_0001;
/// `FenceError::DeviceError` code of a job the ISI reported an AXI read or write error for.
pub const BUS_ERROR: u32 = 0x1515_0002;

/// Widest input line: the channel's line buffer (Linux chains two channels above 2048).
pub const MAX_LINE: u32 = 2048;
/// Tallest frame: the 13-bit height fields.
pub const MAX_HEIGHT: u32 = 8191;
/// Largest scale factor without decimation (just under 2.0 in 1.12 fixed point).
pub const MAX_FACTOR: u32 = 0x1FFF;

const CONVERT: ConvertCaps = ConvertCaps {
    scaling: Scaling::Down {
        max_factor: MAX_FACTOR,
    },
    flip: true,
    src_formats: &[
        PixelFormat::Xrgb8888,
        PixelFormat::Rgb565,
        PixelFormat::Yuyv,
    ],
    dst_formats: &[
        PixelFormat::Xrgb8888,
        PixelFormat::Argb8888,
        PixelFormat::Rgb565,
    ],
};

/// What the board tells the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsiConfig {
    /// The bus-master id buffers are locked for.
    pub device: DeviceId,
    /// Jobs accepted and not finished, at most (the running one included).
    pub queue_depth: usize,
    /// Commands per submission.
    pub max_ops: usize,
    /// Watchdog calls without progress before the running job is reset.
    pub watchdog_ticks: u32,
}

/// A validated Convert: plain data.
#[derive(Clone, Copy, Debug)]
struct Cmd {
    dst: BusSurface,
    to: Rect,
    src: BusSurface,
    from: Rect,
    flip: Flip,
}

struct Job {
    cmds: Vec<Cmd>,
    done: FenceProducer,
    in_fence: Option<Fence>,
}

struct Running {
    job: Job,
    at: usize,
    idle_ticks: u32,
}

struct State<R> {
    io: R,
    queue: VecDeque<Job>,
    running: Option<Running>,
    watchdog_resets: u64,
    bus_errors: u64,
}

type Signals = Vec<(FenceProducer, FenceResult)>;

/// One ISI channel as a dmasync 2D engine. `R` reaches the channel's registers (an
/// `MmioWindow` on a board).
pub struct Isi<R: RegisterIo> {
    config: IsiConfig,
    state: IrqSpinLock<State<R>>,
}

impl<R: RegisterIo> fmt::Debug for Isi<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Isi")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The register value of a set of fields.
fn bits<T: tock_registers::RegisterLongName>(f: FieldValue<u32, T>) -> u32 {
    let mut r = LocalRegisterCopy::<u32, T>::new(0);
    r.modify(f);
    r.get()
}

fn finish(signals: Signals) {
    for (done, r) in signals {
        match r {
            Ok(()) => done.signal(),
            Err(e) => done.signal_error(e),
        }
    }
}

fn size(w: u32, h: u32) -> u32 {
    bits(SIZE::WIDTH.val(w) + SIZE::HEIGHT.val(h))
}

/// The memory-input type for a source format (Linux `mxc_isi_formats`: `XBGR32` (DRM
/// XRGB8888) reads as XRGB8, `RGB565` as RGB565, `YUYV` as YUV422_1P8P).
fn in_type(f: PixelFormat) -> Option<FieldValue<u32, MEM_RD::Register>> {
    match f {
        PixelFormat::Xrgb8888 => Some(MEM_RD::IMG_TYPE::Xrgb8),
        PixelFormat::Rgb565 => Some(MEM_RD::IMG_TYPE::Rgb565),
        PixelFormat::Yuyv => Some(MEM_RD::IMG_TYPE::Yuv422_1p8p),
        PixelFormat::Argb8888 => None,
    }
}

/// The output format for a destination format (Linux: `XBGR32` as XRGB888, `ABGR32` as
/// ARGB8888, `RGB565` as RGB565).
fn out_format(f: PixelFormat) -> Option<FieldValue<u32, IMG_CTRL::Register>> {
    match f {
        PixelFormat::Xrgb8888 => Some(IMG_CTRL::FORMAT::Xrgb888),
        PixelFormat::Argb8888 => Some(IMG_CTRL::FORMAT::Argb8888),
        PixelFormat::Rgb565 => Some(IMG_CTRL::FORMAT::Rgb565),
        PixelFormat::Yuyv => None,
    }
}

/// The register writes of `cmd` up to (not including) the start, in order.
fn program(cmd: &Cmd) -> Vec<(usize, u32)> {
    let yuv = cmd.src.format == PixelFormat::Yuyv;
    let same_size = cmd.from.w == cmd.to.w && cmd.from.h == cmd.to.h;
    let mut p = Vec::with_capacity(20);
    // Channel control (Linux `mxc_isi_channel_set_control`): bypass when neither the
    // scaler nor the CSC is needed; memory source on the crossbar's last port.
    let mut ctrl = CTRL::CHNL_EN::SET
        + CTRL::CLK_EN::SET
        + CTRL::BLANK_PXL.val(0xFF)
        + CTRL::SRC_TYPE::Memory
        + CTRL::SRC_INPUT.val(SRC_INPUT_MEMORY_8MP);
    if same_size && !yuv {
        ctrl += CTRL::CHNL_BYPASS::SET;
    }
    p.push((CHNL_IMG_CFG, size(cmd.from.w, cmd.from.h)));
    // Image control: output format, alpha 0xFF for the 32-bit outputs, no decimation or
    // crop, flips, YCBCR_MODE for a YUV scaler input, the CSC for YUV to RGB.
    let format = out_format(cmd.dst.format).expect("validated destination format");
    let mut img = format
        + IMG_CTRL::GBL_ALPHA_EN::SET
        + IMG_CTRL::GBL_ALPHA_VAL.val(0xFF)
        + IMG_CTRL::VFLIP_EN.val(cmd.flip.v as u32)
        + IMG_CTRL::HFLIP_EN.val(cmd.flip.h as u32);
    if yuv {
        img += IMG_CTRL::YCBCR_MODE::SET + IMG_CTRL::CSC_MODE::YcbcrToRgb;
        for (i, c) in YUV2RGB_COEFFS.iter().enumerate() {
            p.push((CHNL_CSC_COEFF0 + 4 * i, *c));
        }
    } else {
        img += IMG_CTRL::CSC_BYPASS::SET;
    }
    p.push((CHNL_IMG_CTRL, bits(img)));
    let fx = scale_factor(cmd.from.w, cmd.to.w) as u32;
    let fy = scale_factor(cmd.from.h, cmd.to.h) as u32;
    p.push((CHNL_SCALE_FACTOR, bits(SCALE::X.val(fx) + SCALE::Y.val(fy))));
    p.push((CHNL_SCALE_OFFSET, 0));
    p.push((CHNL_SCL_IMG_CFG, size(cmd.to.w, cmd.to.h)));
    // Validation checked both lie below 4 GiB and the pitches fit 16 bits.
    p.push((
        CHNL_OUT_BUF1_ADDR_Y,
        cmd.dst.pixel(cmd.to.x, cmd.to.y).0 as u32,
    ));
    p.push((CHNL_OUT_BUF_PITCH, cmd.dst.stride as u32));
    p.push((CHNL_OUT_BUF_CTRL, bits(OUT_BUF_CTRL::LOAD_BUF1_ADDR::SET)));
    p.push((
        CHNL_IN_BUF_ADDR,
        cmd.src.pixel(cmd.from.x, cmd.from.y).0 as u32,
    ));
    p.push((
        CHNL_IN_BUF_PITCH,
        bits(PITCH::LINE_PITCH.val(cmd.src.stride as u32)),
    ));
    p.push((CHNL_CTRL, bits(ctrl)));
    let ty = in_type(cmd.src.format).expect("validated source format");
    p.push((CHNL_STS, u32::MAX));
    p.push((
        CHNL_IER,
        bits(STS::FRM_STRD::SET + STS::AXI_RD_ERR::SET + STS::AXI_WR_ERR_Y::SET),
    ));
    // `mxc_isi_channel_m2m_start`: READ_MEM cleared, then set.
    p.push((CHNL_MEM_RD_CTRL, bits(ty)));
    p
}

impl<R: RegisterIo> Isi<R> {
    /// Takes the channel: software reset, clock on, interrupts masked and cleared.
    pub fn new(io: R, config: IsiConfig) -> Result<Self, EngineError> {
        if config.queue_depth == 0 {
            return Err(EngineError::Unsupported("a queue depth of 0"));
        }
        if config.max_ops == 0 {
            return Err(EngineError::Unsupported("max_ops of 0"));
        }
        Self::hard_reset(&io);
        Ok(Self {
            config,
            state: IrqSpinLock::new(State {
                io,
                queue: VecDeque::new(),
                running: None,
                watchdog_resets: 0,
                bus_errors: 0,
            }),
        })
    }

    /// Jobs the watchdog has reset since [`Isi::new`].
    pub fn watchdog_resets(&self) -> u64 {
        self.state.lock().watchdog_resets
    }

    /// Jobs failed by an AXI error the ISI reported.
    pub fn bus_errors(&self) -> u64 {
        self.state.lock().bus_errors
    }

    /// `mxc_isi_channel_sw_reset` with the clock left on, then interrupts off and cleared.
    fn hard_reset(io: &R) {
        io.write32(CHNL_CTRL, bits(CTRL::SW_RST::SET));
        io.write32(CHNL_CTRL, bits(CTRL::CLK_EN::SET));
        io.write32(CHNL_IER, 0);
        io.write32(CHNL_STS, u32::MAX);
    }

    fn start(io: &R, cmd: &Cmd) {
        for (offset, value) in program(cmd) {
            io.write32(offset, value);
        }
        let ty = in_type(cmd.src.format).expect("validated source format");
        io.write32(CHNL_MEM_RD_CTRL, bits(ty + MEM_RD::READ_MEM::SET));
    }

    /// The interrupt handler's work: reads and clears CHNL_STS; FRM_STRD completes the
    /// command in flight (starting the job's next, or signalling its fence); an AXI error
    /// resets the channel and fails the job with `DeviceError(`[`BUS_ERROR`]`)`. Then
    /// starts what is ready. Returns how many jobs finished.
    pub fn on_interrupt(&self) -> usize {
        let mut signals = Signals::new();
        {
            let mut s = self.state.lock();
            let st = &mut *s;
            let sts = LocalRegisterCopy::<u32, STS::Register>::new(st.io.read32(CHNL_STS));
            if sts.get() != 0 {
                st.io.write32(CHNL_STS, sts.get());
            }
            let axi = sts.is_set(STS::AXI_RD_ERR)
                || sts.is_set(STS::AXI_WR_ERR_Y)
                || sts.is_set(STS::AXI_WR_ERR_U)
                || sts.is_set(STS::AXI_WR_ERR_V);
            if axi && let Some(run) = st.running.take() {
                // The channel may have stopped mid-frame: reset it before the buffers go.
                Self::hard_reset(&st.io);
                st.bus_errors += 1;
                signals.push((run.job.done, Err(FenceError::DeviceError(BUS_ERROR))));
            } else if sts.is_set(STS::FRM_STRD)
                && let Some(mut run) = st.running.take()
            {
                run.at += 1;
                run.idle_ticks = 0;
                if run.at < run.job.cmds.len() {
                    Self::start(&st.io, &run.job.cmds[run.at]);
                    st.running = Some(run);
                } else {
                    signals.push((run.job.done, Ok(())));
                }
            }
            self.kick(st, &mut signals);
        }
        let n = signals.len();
        finish(signals);
        n
    }

    /// Starts jobs whose in-fence has signalled since the driver last ran.
    pub fn service(&self) {
        let mut signals = Signals::new();
        self.kick(&mut self.state.lock(), &mut signals);
        finish(signals);
    }

    /// For the board's periodic watchdog: counts a tick against the running job; after
    /// `watchdog_ticks` without progress resets the channel (SW_RST) and fails the job with
    /// `DeviceError(`[`WATCHDOG_RESET`]`)`, then starts the next. True if it reset.
    pub fn watchdog(&self) -> bool {
        let mut signals = Signals::new();
        let reset = {
            let mut s = self.state.lock();
            let st = &mut *s;
            let expired = st.running.as_mut().is_some_and(|r| {
                r.idle_ticks += 1;
                r.idle_ticks > self.config.watchdog_ticks
            });
            if expired && let Some(run) = st.running.take() {
                Self::hard_reset(&st.io);
                st.watchdog_resets += 1;
                signals.push((run.job.done, Err(FenceError::DeviceError(WATCHDOG_RESET))));
            }
            self.kick(st, &mut signals);
            expired
        };
        finish(signals);
        reset
    }

    fn kick(&self, s: &mut State<R>, signals: &mut Signals) {
        while s.running.is_none() {
            let Some(front) = s.queue.front() else { return };
            if front.in_fence.as_ref().is_some_and(|f| !f.is_signalled()) {
                return;
            }
            let Some(job) = s.queue.pop_front() else {
                return;
            };
            if let Some(Err(e)) = job.in_fence.as_ref().and_then(|f| f.status().result()) {
                // The producer of the data failed: the job does not run.
                signals.push((job.done, Err(e)));
                continue;
            }
            let Some(first) = job.cmds.first() else {
                signals.push((job.done, Ok(())));
                continue;
            };
            Self::start(&s.io, first);
            s.running = Some(Running {
                job,
                at: 0,
                idle_ticks: 0,
            });
        }
    }

    fn resolve_one<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        s: &Surface<'_>,
        need: Need,
        r: Rect,
    ) -> Result<BusSurface, EngineError> {
        let b = resolve(locked, self.config.device, s, need)?;
        if b.stride > 0xFFFF {
            return Err(EngineError::Unsupported(
                "a line pitch over 65535 bytes (16-bit pitch fields)",
            ));
        }
        // The bytes the channel touches: from the rectangle's first pixel to the end of its
        // last row.
        let end = b.pixel(r.x, r.y + r.h.max(1) - 1).0
            + (r.w as usize * s.desc.format.bytes_per_pixel()) as u64;
        if end > 1 << 32 {
            return Err(EngineError::Unsupported(
                "a buffer above 4 GiB (the driver programs 32-bit addresses)",
            ));
        }
        Ok(b)
    }

    /// Checks one command; `None` for an empty rectangle (nothing to do).
    fn validate<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        op: &Op2d<'_>,
    ) -> Result<Option<Cmd>, EngineError> {
        let (dst, to, src, from, flip) = match *op {
            Op2d::Fill { .. } => {
                return Err(EngineError::Unsupported("solid fill (the ISI has none)"));
            }
            Op2d::Copy { .. } => {
                return Err(EngineError::Unsupported(
                    "copy (the ISI converts, rewriting the X byte; use Convert)",
                ));
            }
            Op2d::Blend { .. } => {
                return Err(EngineError::Unsupported("alpha blend (the ISI has none)"));
            }
            Op2d::Convert {
                dst,
                to,
                src,
                from,
                flip,
            } => (dst, to, src, from, flip),
        };
        check_convert(Some(&CONVERT), &dst, to, &src, from, flip)?;
        if from.w > MAX_LINE {
            return Err(EngineError::Unsupported(
                "an input line over 2048 pixels (needs line-buffer chaining)",
            ));
        }
        if from.h > MAX_HEIGHT || to.w > MAX_LINE || to.h > MAX_HEIGHT {
            return Err(EngineError::Unsupported(
                "a frame beyond the ISI's size fields",
            ));
        }
        if src.desc.format == PixelFormat::Yuyv
            && (!from.x.is_multiple_of(2) || !from.w.is_multiple_of(2))
        {
            return Err(EngineError::Unsupported(
                "a YUYV crop at an odd column or of odd width (the input reads whole pairs)",
            ));
        }
        let d = self.resolve_one(locked, &dst, Need::Write, to)?;
        let s = self.resolve_one(locked, &src, Need::Read, from)?;
        if from.is_empty() || to.is_empty() {
            return Ok(None);
        }
        Ok(Some(Cmd {
            dst: d,
            to,
            src: s,
            from,
            flip,
        }))
    }
}

impl<R: RegisterIo> Engine2dControl for Isi<R> {
    fn capabilities(&self) -> Caps2d {
        Caps2d {
            max_width: MAX_LINE,
            max_height: MAX_HEIGHT,
            formats: &[],
            fill: false,
            copy: false,
            blend: false,
            convert: Some(CONVERT),
            queue_depth: self.config.queue_depth,
            max_ops: self.config.max_ops,
        }
    }

    fn pending(&self) -> usize {
        let s = self.state.lock();
        s.queue.len() + usize::from(s.running.is_some())
    }

    /// Resets the channel (SW_RST) and abandons the running and queued jobs: their fences
    /// signal `DeviceError(ABANDONED)` after the reset, so the ISI touches none of their
    /// buffers any more.
    fn reset(&self) -> usize {
        let mut signals = Signals::new();
        {
            let mut s = self.state.lock();
            let st = &mut *s;
            Self::hard_reset(&st.io);
            if let Some(run) = st.running.take() {
                signals.push((run.job.done, Err(FenceError::DeviceError(ABANDONED))));
            }
            for job in st.queue.drain(..) {
                signals.push((job.done, Err(FenceError::DeviceError(ABANDONED))));
            }
        }
        let n = signals.len();
        finish(signals);
        n
    }
}

impl<R: RegisterIo> Engine2d for Isi<R> {
    fn device(&self) -> DeviceId {
        self.config.device
    }

    fn submit<'s, MS: MemorySystem>(
        &self,
        locked: Locked<'s, MS>,
        ops: &[Op2d<'_>],
        in_fence: Option<&Fence>,
    ) -> Result<Fence, Rejected<Locked<'s, MS>>> {
        if ops.is_empty() {
            return Err(Rejected::new(EngineError::Empty, locked));
        }
        if ops.len() > self.config.max_ops {
            return Err(Rejected::new(
                EngineError::Unsupported("more commands in one submission than max_ops"),
                locked,
            ));
        }
        let mut cmds = Vec::with_capacity(ops.len());
        for op in ops {
            match self.validate(&locked, op) {
                Ok(Some(c)) => cmds.push(c),
                Ok(None) => {}
                Err(e) => return Err(Rejected::new(e, locked)),
            }
        }
        let mut signals = Signals::new();
        let fence;
        {
            let mut s = self.state.lock();
            let busy = s.queue.len() + usize::from(s.running.is_some());
            if busy >= self.config.queue_depth {
                return Err(Rejected::new(EngineError::QueueFull, locked));
            }
            let done = FenceProducer::one_off();
            fence = done.fence();
            match locked.unlock_after(&fence) {
                Ok(()) => s.queue.push_back(Job {
                    cmds,
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
}
