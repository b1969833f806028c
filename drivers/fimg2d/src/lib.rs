//! The Samsung Exynos FIMG2D ("G2D") 2D engine as a dmasync [`Engine2d`]: v3.0
//! (Exynos4210, direct register mode) and v4.1 (Exynos4212/4412, command-list DMA).
//!
//! Register facts from libdrm `exynos/exynos_fimg2d.c`, `fimg2d.h`, `fimg2d_reg.h` (MIT),
//! Linux `drivers/gpu/drm/exynos/exynos_drm_g2d.c` and `drivers/media/platform/samsung/
//! s5p-g2d/` (facts only), hardware.md §3.1; see [`regs`]. Our own code. QEMU models no
//! G2D: the host tests run the driver against `dmasync-fimg2d-model`, a register-level
//! model written apart from it, on the non-coherent memory simulator.
//!
//! # What it does, honestly
//!
//! | operation | v3.0 | v4.1 |
//! |---|---|---|
//! | fill | SRC_SELECT = FG colour, ROP4 = 0xCC | fast solid fill (BITBLT_COMMAND bit 28, SF_COLOR), as libdrm |
//! | copy | ROP4 = 0xCC, DST_SELECT = BG (the destination is not read), as libdrm | the same |
//! | blend | refused: `Unsupported` (no BLEND_FUNCTION on v3.0; its blend controls are not public) | BLEND_FUNCTION src = As·GA, dst = 1 - As·GA, ROUND_MODE 3, into XRGB8888 destinations |
//!
//! Also refused as `Unsupported`, never approximated: a blend into an ARGB8888 destination
//! (how the engine computes the alpha channel is not public), a copy between formats, an
//! overlapping copy within one buffer (the hardware needs the direction registers,
//! SRC_MASK_DIRECT / DST_PAT_DIRECT, which this driver does not program), surfaces wider
//! or taller than 8000 pixels, addresses above 4 GiB. Empty rectangles are no-ops.
//!
//! # How a submission runs
//!
//! [`Engine2d::submit`] checks every command against the [`Locked`] set (registered for
//! this device with the access the command needs, inside the registered range, formats and
//! sizes above) before it touches a register: a refusal comes back in [`Rejected`] with the
//! set, and no register was written. An accepted job is handed to
//! [`Locked::unlock_after`] (the engine reaches memory on its own, so its buffers go on
//! only when its fence signals) and queued; jobs run one at a time, in order, once their
//! in-fence has signalled.
//!
//! - **v3.0, direct mode** (s5p-g2d `device_run`, `g2d-hw.c`): per command SOFT_RESET, the blit
//!   registers, CACHECTL = 7, INTEN = SCF, BITBLT_START. The interrupt
//!   ([`Fimg2d::on_interrupt`]) clears INTC_PEND and starts the next command.
//! - **v4.1, command lists** (`exynos_drm_g2d.c`): one 1 KiB list per command in the
//!   driver's list memory (SOFT_RESET = SFRCLEAR, SRC_BASE_ADDR = 0, INTEN = ACF, the
//!   blit registers, BITBLT_START), chained through the next-list word, cleaned to memory
//!   (the engine fetches lists as a bus master and snoops no cache), then INTEN = ACF,
//!   DMA_SFR_BASE_ADDR, DMA_COMMAND = START. One interrupt (ACF) ends the job.
//!
//! # Faults and the watchdog
//!
//! The public sources show no G2D register reporting a bus error: a blit whose AXI access
//! fails does not complete, like a hung one. The board's periodic watchdog calls
//! [`Fimg2d::watchdog`]; a job that has made no progress for `watchdog_ticks` calls is
//! failed with `FenceError::DeviceError(`[`WATCHDOG_RESET`]`)` after SOFT_RESET, and the
//! next job starts. [`Engine2dControl::reset`] resets the engine and abandons everything
//! (`DeviceError(ABANDONED)`).
//!
//! # Limits
//!
//! In-fences are looked at when the driver runs (each submission, interrupt, watchdog call
//! and [`Fimg2d::service`]). Clocks (CLK_G2D, SCLK_FIMG2D), the power domain and SYSMMU_G2D
//! are the board's; only hardware shows them (drivers/README.md).
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod regs;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use dmasync_engine::surface::{BusSurface, Need, resolve};
use dmasync_engine::{
    Caps2d, Color, Engine2d, Engine2dControl, EngineError, Op2d, PixelFormat, Point, Rect,
    Rejected, Surface,
};
use dmasync_hal::cache::VirtRange;
use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory, DmaRegion, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::mmio::RegisterIo;
use dmasync_soft::ABANDONED;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult};
use dmasync_sync::syncset::Locked;
use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;

use regs::*;

/// `FenceError::DeviceError` code of a job the watchdog stopped (hung engine or bus error).
pub const WATCHDOG_RESET: u32 = 0x62D0_0001;

const FORMATS: &[PixelFormat] = &[PixelFormat::Xrgb8888, PixelFormat::Argb8888];

/// Which FIMG2D.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// v3.0 (Exynos4210, `samsung,s5pv210-g2d`): direct register mode.
    V30,
    /// v4.1 (Exynos4212/4412, `samsung,exynos4212-g2d`): command-list DMA.
    V41,
}

/// What the board tells the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fimg2dConfig {
    /// The bus-master id buffers are locked for.
    pub device: DeviceId,
    /// The engine's version.
    pub version: Version,
    /// Jobs accepted and not finished, at most (the running one included).
    pub queue_depth: usize,
    /// Commands per submission (at most 64 on v4.1: one list each).
    pub max_ops: usize,
    /// Watchdog calls without progress before the running job is reset.
    pub watchdog_ticks: u32,
}

/// A validated command: plain data.
#[derive(Clone, Copy, Debug)]
enum Cmd {
    Fill {
        dst: BusSurface,
        rect: Rect,
        color: Color,
    },
    Copy {
        dst: BusSurface,
        to: Point,
        src: BusSurface,
        from: Rect,
        /// `Some(alpha)` for a blend.
        blend: Option<u8>,
    },
}

struct Job {
    cmds: Vec<Cmd>,
    done: FenceProducer,
    in_fence: Option<Fence>,
}

struct Running {
    job: Job,
    /// v3.0: the command in flight.
    at: usize,
    /// Watchdog calls since the last progress.
    idle_ticks: u32,
}

struct State<R> {
    io: R,
    queue: VecDeque<Job>,
    running: Option<Running>,
    watchdog_resets: u64,
}

type Signals = Vec<(FenceProducer, FenceResult)>;

/// A FIMG2D as a dmasync 2D engine. `R` reaches its registers (an `MmioWindow` on a
/// board), `M` is how the CPU writes the v4.1 command lists and cleans them to memory.
pub struct Fimg2d<R: RegisterIo, M: MemorySystem> {
    config: Fimg2dConfig,
    memory: M,
    /// v4.1: `max_ops` command lists of [`LIST_BYTES`].
    lists: Option<DmaRegion>,
    state: IrqSpinLock<State<R>>,
}

impl<R: RegisterIo, M: MemorySystem> fmt::Debug for Fimg2d<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fimg2d")
            .field("config", &self.config)
            .field("lists", &self.lists)
            .finish_non_exhaustive()
    }
}

/// The register value of a set of fields.
fn bits<T: tock_registers::RegisterLongName>(f: FieldValue<u32, T>) -> u32 {
    let mut r = LocalRegisterCopy::<u32, T>::new(0);
    r.modify(f);
    r.get()
}

fn point(x: u32, y: u32) -> u32 {
    bits(POINT::X.val(x) + POINT::Y.val(y))
}

fn color_mode(f: PixelFormat) -> u32 {
    match f {
        PixelFormat::Xrgb8888 => bits(COLOR::FORMAT::Xrgb8888 + COLOR::ORDER::Axrgb),
        PixelFormat::Argb8888 => bits(COLOR::FORMAT::Argb8888 + COLOR::ORDER::Axrgb),
        // `resolve_one` refused every other format before a command was built.
        PixelFormat::Rgb565 | PixelFormat::Yuyv => unreachable!("format refused at validation"),
    }
}

/// The (offset, value) pairs of one side: SELECT, BASE_ADDR, STRIDE, COLOR_MODE, LEFT_TOP,
/// RIGHT_BOTTOM (exclusive), as libdrm programs them.
fn side(out: &mut Vec<(usize, u32)>, select: usize, mode: u32, s: &BusSurface, r: Rect) {
    // `validate` checked the surface lies below 4 GiB, its stride fits and r inside it.
    out.extend_from_slice(&[
        (select, mode),
        (select + BASE_ADDR, s.bus.0 as u32),
        (select + STRIDE, s.stride as u32),
        (select + COLOR_MODE, color_mode(s.format)),
        (select + LEFT_TOP, point(r.x, r.y)),
        (select + RIGHT_BOTTOM, point(r.x + r.w, r.y + r.h)),
    ]);
}

/// The blit registers of `cmd` (without the start).
fn program(version: Version, cmd: &Cmd) -> Vec<(usize, u32)> {
    let mut p = Vec::with_capacity(16);
    match *cmd {
        Cmd::Fill { dst, rect, color } => match version {
            Version::V41 => {
                // libdrm `g2d_solid_fill`.
                side(&mut p, DST_SELECT, bits(SELECT::MODE::Normal), &dst, rect);
                p.push((SF_COLOR, color.0));
                p.push((BITBLT_COMMAND, bits(BITBLT_CMD::FAST_SOLID_FILL::SET)));
            }
            Version::V30 => {
                // No fast fill on v3.0: the FG colour as the ROP's source.
                side(
                    &mut p,
                    DST_SELECT,
                    bits(SELECT::MODE::Background),
                    &dst,
                    rect,
                );
                p.push((SRC_SELECT, bits(SELECT::MODE::Foreground)));
                p.push((FG_COLOR, color.0));
                p.push((ROP4, ROP3_SRC));
                p.push((BITBLT_COMMAND, 0));
            }
        },
        Cmd::Copy {
            dst,
            to,
            src,
            from,
            blend,
        } => {
            let to_rect = Rect::new(to.x, to.y, from.w, from.h);
            match blend {
                None => {
                    // libdrm `g2d_copy`: the destination as BG colour is not read.
                    side(
                        &mut p,
                        DST_SELECT,
                        bits(SELECT::MODE::Background),
                        &dst,
                        to_rect,
                    );
                    side(&mut p, SRC_SELECT, bits(SELECT::MODE::Normal), &src, from);
                    p.push((ROP4, ROP3_SRC));
                    p.push((BITBLT_COMMAND, 0));
                }
                Some(alpha) => {
                    // libdrm `g2d_blend` with straight-alpha OVER scaled by the global
                    // alpha: Fs = As * GA, Fd = 1 - As * GA.
                    side(
                        &mut p,
                        DST_SELECT,
                        bits(SELECT::MODE::Normal),
                        &dst,
                        to_rect,
                    );
                    side(&mut p, SRC_SELECT, bits(SELECT::MODE::Normal), &src, from);
                    p.push((BITBLT_COMMAND, bits(BITBLT_CMD::ALPHA_BLEND::Enable)));
                    p.push((
                        BLEND_FUNCTION,
                        bits(
                            BLEND::SRC_COEFF::SrcAlpha
                                + BLEND::SRC_COEFF_SRC_A::AlphaTimesGlobal
                                + BLEND::DST_COEFF::SrcAlpha
                                + BLEND::DST_COEFF_SRC_A::AlphaTimesGlobal
                                + BLEND::INV_DST_COLOR_COEFF::SET,
                        ),
                    ));
                    p.push((ALPHA, alpha as u32));
                    p.push((
                        ROUND_MODE,
                        bits(ROUND::BLEND_ROUND.val(3) + ROUND::PREMULT_ROUND.val(3)),
                    ));
                }
            }
        }
    }
    p
}

impl<R: RegisterIo, M: MemorySystem> Fimg2d<R, M> {
    /// Takes the engine: resets it, masks and clears its interrupts. On v4.1 allocates the
    /// command-list memory (`max_ops` lists of 1 KiB) from `dma`; it must belong to
    /// `memory` and lie below 4 GiB.
    pub fn new(
        io: R,
        config: Fimg2dConfig,
        dma: &impl DmaMemory,
        memory: M,
    ) -> Result<Self, EngineError> {
        if config.queue_depth == 0 {
            return Err(EngineError::Unsupported("a queue depth of 0"));
        }
        if config.max_ops == 0 {
            return Err(EngineError::Unsupported("max_ops of 0"));
        }
        let lists = match config.version {
            Version::V30 => None,
            Version::V41 => {
                if config.max_ops > MAX_LISTS {
                    return Err(EngineError::Unsupported(
                        "more than 64 commands per submission on v4.1 (one command list each)",
                    ));
                }
                let region = dma
                    .alloc(config.max_ops * LIST_BYTES, Coherency::NonCoherent)
                    .map_err(|_| EngineError::Device("no DMA memory for the G2D command lists"))?;
                if !memory.owns(&region) {
                    return Err(EngineError::Device(
                        "the G2D command lists are not of the given memory system",
                    ));
                }
                if region.bus().0 + region.len() as u64 > 1 << 32 {
                    return Err(EngineError::Device("the G2D command lists lie above 4 GiB"));
                }
                Some(region)
            }
        };
        io.write32(SOFT_RESET, bits(SOFT_RESET_BITS::RESET::SET));
        io.write32(INTEN, 0);
        io.write32(
            INTC_PEND,
            bits(INT::SCF::SET + INT::GCF::SET + INT::UCF::SET + INT::ACF::SET),
        );
        Ok(Self {
            config,
            memory,
            lists,
            state: IrqSpinLock::new(State {
                io,
                queue: VecDeque::new(),
                running: None,
                watchdog_resets: 0,
            }),
        })
    }

    /// Jobs the watchdog has reset since [`Fimg2d::new`].
    pub fn watchdog_resets(&self) -> u64 {
        self.state.lock().watchdog_resets
    }

    /// The interrupt handler's work: reads and clears INTC_PEND; on v3.0 starts the job's
    /// next command or completes it, on v4.1 completes it (ACF); then starts what is ready.
    /// Returns how many jobs completed.
    pub fn on_interrupt(&self) -> usize {
        let mut signals = Signals::new();
        {
            let mut s = self.state.lock();
            let pend = s.io.read32(INTC_PEND);
            if pend != 0 {
                s.io.write32(INTC_PEND, pend);
            }
            let finished = match self.config.version {
                Version::V30 => pend & bits(INT::SCF::SET) != 0,
                Version::V41 => pend & bits(INT::ACF::SET) != 0,
            };
            if finished && let Some(mut run) = s.running.take() {
                run.at += 1;
                run.idle_ticks = 0;
                if self.config.version == Version::V30 && run.at < run.job.cmds.len() {
                    self.start_direct(&s.io, &run.job.cmds[run.at]);
                    s.running = Some(run);
                } else {
                    signals.push((run.job.done, Ok(())));
                }
            }
            self.kick(&mut s, &mut signals);
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
    /// `watchdog_ticks` without progress resets the engine (SOFT_RESET), fails the job
    /// with `DeviceError(`[`WATCHDOG_RESET`]`)` and starts the next. True if it reset.
    pub fn watchdog(&self) -> bool {
        let mut signals = Signals::new();
        let reset = {
            let mut s = self.state.lock();
            let st = &mut *s;
            let expired = st.running.as_mut().is_some_and(|r| {
                r.idle_ticks += 1;
                r.idle_ticks > self.config.watchdog_ticks
            });
            if expired {
                let run = st.running.take().expect("checked above");
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

    fn hard_reset(io: &R) {
        // SOFT_RESET stops the engine (s5p-g2d `g2d_reset`, Linux `g2d_hw_reset`); once
        // it returns the engine touches no buffer, so the job's fence may signal.
        io.write32(SOFT_RESET, bits(SOFT_RESET_BITS::RESET::SET));
        io.write32(INTEN, 0);
        io.write32(
            INTC_PEND,
            bits(INT::SCF::SET + INT::GCF::SET + INT::UCF::SET + INT::ACF::SET),
        );
    }

    /// v3.0 direct mode, as s5p-g2d `device_run` does it: `g2d_reset`, the registers, then
    /// `g2d_start` (CACHECTL = 7 on v3.x, INTEN = 1, BITBLT_START = 1).
    fn start_direct(&self, io: &R, cmd: &Cmd) {
        io.write32(SOFT_RESET, bits(SOFT_RESET_BITS::RESET::SET));
        for (offset, value) in program(self.config.version, cmd) {
            io.write32(offset, value);
        }
        if self.config.version == Version::V30 {
            io.write32(CACHECTL, 7);
        }
        io.write32(INTEN, bits(INT::SCF::SET));
        io.write32(BITBLT_START, 1);
    }

    /// v4.1: writes one list per command, chained, cleans them and starts the list DMA.
    fn start_lists(&self, io: &R, cmds: &[Cmd]) {
        let region = self.lists.as_ref().expect("v4.1 has list memory");
        let base = region.bus().0 as u32;
        let len = cmds.len() * LIST_BYTES;
        // SAFETY: the lists lie in `region`, a region of `memory` (checked in `new`) that
        // only this driver uses; the engine is idle (no job running: `kick`'s caller holds
        // the state lock and found none), so it fetches no list while they are written, and
        // the state lock makes this the only writer. `cmds.len() <= max_ops` (validated),
        // so `len` lies inside the region.
        unsafe {
            self.memory.with_bytes_mut(region.virt(), len, |b| {
                for (i, cmd) in cmds.iter().enumerate() {
                    let mut pairs = Vec::with_capacity(24);
                    // Linux `g2d_get_cmdlist`: SFRCLEAR, then a dummy write after it, then
                    // the interrupt enable.
                    pairs.push((SOFT_RESET, bits(SOFT_RESET_BITS::SFRCLEAR::SET)));
                    pairs.push((SRC_SELECT + BASE_ADDR, 0));
                    pairs.push((INTEN, bits(INT::ACF::SET)));
                    pairs.extend(program(Version::V41, cmd));
                    pairs.push((BITBLT_START, 1));
                    let list = &mut b[i * LIST_BYTES..(i + 1) * LIST_BYTES];
                    let mut words = list.chunks_exact_mut(4);
                    let mut put = |w: u32| {
                        words
                            .next()
                            .expect("a command's pairs fit a list")
                            .copy_from_slice(&w.to_le_bytes())
                    };
                    put(pairs.len() as u32);
                    for (offset, value) in pairs {
                        put(offset as u32);
                        put(value);
                    }
                    let next = if i + 1 < cmds.len() {
                        base + ((i + 1) * LIST_BYTES) as u32
                    } else {
                        0
                    };
                    put(next);
                }
            })
        };
        // SAFETY: the range is normal memory of this region, written just above; cleaning
        // writes only its own bytes back to memory, where the engine fetches them.
        unsafe { self.memory.clean(VirtRange::new(region.virt(), len)) };
        io.write32(INTEN, bits(INT::ACF::SET));
        io.write32(DMA_SFR_BASE_ADDR, base);
        io.write32(DMA_COMMAND, bits(DMA_CMD::START::SET));
    }

    /// Starts the oldest job if the engine is idle and its in-fence has signalled.
    fn kick(&self, s: &mut State<R>, signals: &mut Signals) {
        while s.running.is_none() {
            let Some(front) = s.queue.front() else { return };
            if front.in_fence.as_ref().is_some_and(|f| !f.is_signalled()) {
                return;
            }
            let job = s.queue.pop_front().expect("front exists");
            if let Some(Err(e)) = job.in_fence.as_ref().and_then(|f| f.status().result()) {
                // The producer of the data failed: the job does not run.
                signals.push((job.done, Err(e)));
                continue;
            }
            if job.cmds.is_empty() {
                signals.push((job.done, Ok(())));
                continue;
            }
            match self.config.version {
                Version::V30 => self.start_direct(&s.io, &job.cmds[0]),
                Version::V41 => self.start_lists(&s.io, &job.cmds),
            }
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
    ) -> Result<BusSurface, EngineError> {
        if !FORMATS.contains(&s.desc.format) {
            return Err(EngineError::Unsupported(
                "pixel format (the G2D driver handles XRGB8888 and ARGB8888)",
            ));
        }
        let b = resolve(locked, self.config.device, s, need)?;
        let buffer = s.buffer.name();
        if s.desc.width > MAX_COORD || s.desc.height > MAX_COORD {
            return Err(EngineError::Unsupported(
                "surface wider or taller than the G2D's 8000 pixels",
            ));
        }
        let span = s.desc.span_bytes().unwrap_or(usize::MAX) as u64;
        if b.bus.0.checked_add(span).is_none_or(|e| e > 1 << 32) || b.stride > u32::MAX as usize {
            return Err(EngineError::OutOfBounds {
                buffer,
                what: "G2D surface (above the 32-bit address space)",
            });
        }
        Ok(b)
    }

    /// Checks one command; `None` for an empty rectangle (nothing to do).
    fn validate<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        op: &Op2d<'_>,
    ) -> Result<Option<Cmd>, EngineError> {
        match *op {
            Op2d::Fill { dst, rect, color } => {
                let d = self.resolve_one(locked, &dst, Need::Write)?;
                if !rect.fits_in(d.width, d.height) {
                    return Err(EngineError::OutOfBounds {
                        buffer: dst.buffer.name(),
                        what: "fill rect",
                    });
                }
                Ok((!rect.is_empty()).then_some(Cmd::Fill {
                    dst: d,
                    rect,
                    color,
                }))
            }
            Op2d::Copy { dst, to, src, from } => self.two(locked, dst, to, src, from, None),
            Op2d::Blend {
                dst,
                to,
                src,
                from,
                alpha,
            } => self.two(locked, dst, to, src, from, Some(alpha)),
            Op2d::Convert { .. } => Err(EngineError::Unsupported(
                "scaled/converted blit (not offered by the FIMG2D driver)",
            )),
        }
    }

    fn two<MS: MemorySystem>(
        &self,
        locked: &Locked<'_, MS>,
        dst: Surface<'_>,
        to: Point,
        src: Surface<'_>,
        from: Rect,
        blend: Option<u8>,
    ) -> Result<Option<Cmd>, EngineError> {
        let (what_src, what_dst) = match blend {
            None => ("blit source", "blit destination"),
            Some(_) => ("blend source", "blend destination"),
        };
        if blend.is_some() && self.config.version == Version::V30 {
            return Err(EngineError::Unsupported(
                "alpha blend on FIMG2D v3.0 (no BLEND_FUNCTION; its blend controls are not public)",
            ));
        }
        let same = core::ptr::eq(dst.buffer, src.buffer);
        let dst_need = if blend.is_some() || same {
            Need::ReadWrite
        } else {
            Need::Write
        };
        let d = self.resolve_one(locked, &dst, dst_need)?;
        let s = self.resolve_one(locked, &src, Need::Read)?;
        match blend {
            None if dst.desc.format != src.desc.format => {
                return Err(EngineError::Unsupported(
                    "copy between pixel formats (the G2D would convert)",
                ));
            }
            Some(_) if dst.desc.format == PixelFormat::Argb8888 => {
                return Err(EngineError::Unsupported(
                    "blend into an ARGB8888 destination (the G2D's alpha-channel arithmetic is not public)",
                ));
            }
            _ => {}
        }
        if !from.fits_in(s.width, s.height) {
            return Err(EngineError::OutOfBounds {
                buffer: src.buffer.name(),
                what: what_src,
            });
        }
        let to_rect = Rect::new(to.x, to.y, from.w, from.h);
        if !to_rect.fits_in(d.width, d.height) {
            return Err(EngineError::OutOfBounds {
                buffer: dst.buffer.name(),
                what: what_dst,
            });
        }
        if from.is_empty() {
            return Ok(None);
        }
        // Byte spans of the two rectangles: overlapping ones need the direction registers.
        let span = |b: &BusSurface, x: u32, y: u32| {
            let first = b.pixel(x, y).0;
            (first, b.pixel(x, y + from.h - 1).0 + from.w as u64 * 4)
        };
        let (s0, s1) = span(&s, from.x, from.y);
        let (d0, d1) = span(&d, to.x, to.y);
        let overlap = if s.bus == d.bus && s.stride == d.stride {
            // One surface: only shared pixels matter.
            from.x < to.x + from.w
                && to.x < from.x + from.w
                && from.y < to.y + from.h
                && to.y < from.y + from.h
        } else {
            // Different layouts in one buffer: rows may interleave, so any shared byte.
            s0 < d1 && d0 < s1
        };
        if overlap {
            return Err(EngineError::Unsupported(
                "overlapping source and destination (needs the G2D direction registers)",
            ));
        }
        Ok(Some(Cmd::Copy {
            dst: d,
            to,
            src: s,
            from,
            blend,
        }))
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

impl<R: RegisterIo, M: MemorySystem> Engine2dControl for Fimg2d<R, M> {
    fn capabilities(&self) -> Caps2d {
        Caps2d {
            max_width: MAX_COORD,
            max_height: MAX_COORD,
            formats: FORMATS,
            fill: true,
            copy: true,
            blend: self.config.version == Version::V41,
            convert: None,
            queue_depth: self.config.queue_depth,
            max_ops: self.config.max_ops,
        }
    }

    fn pending(&self) -> usize {
        let s = self.state.lock();
        s.queue.len() + usize::from(s.running.is_some())
    }

    /// Resets the engine (SOFT_RESET) and abandons the running and queued jobs: their
    /// fences signal `DeviceError(ABANDONED)`, after the reset, so the engine touches none
    /// of their buffers any more.
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

impl<R: RegisterIo, M: MemorySystem> Engine2d for Fimg2d<R, M> {
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
