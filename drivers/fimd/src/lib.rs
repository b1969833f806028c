//! The Samsung Exynos FIMD display controller as a dmasync display: window 0 is the primary
//! plane (XRGB8888), window 1 an overlay with per-pixel alpha (ARGB8888) blended over it.
//!
//! Register layout and sequences from Linux (`include/video/samsung_fimd.h`,
//! `drivers/gpu/drm/exynos/exynos_drm_fimd.c`) and QEMU's model
//! (`hw/display/exynos4210_fimd.c`); see [`regs`] and [`mode`]. Our own code.
//!
//! # How a flip reaches the screen
//!
//! [`DisplayFlip::flip`] checks the framebuffer (mode, lock, every byte the controller maps;
//! [`mode::check_framebuffer`]) and queues it; nothing is written on a refusal, so the
//! previous frame stays. [`DisplayService::service`] — called from the frame interrupt and
//! from the owner's loop — takes the oldest flip whose in-fence has signalled and
//! reprograms its window under `SHADOWCON` protection, as Linux's
//! `fimd_shadow_protect_win` does: protect, write start/end/page width/geometry/WINCON,
//! unprotect. The hardware copies the window's registers to its shadow (active) set at the
//! next VSYNC; QEMU takes them at the unprotect write (`fimd_update_memory_section`).
//!
//! # When `presented` and `released` signal: the evidence
//!
//! Never before the controller can have taken the new address. Which evidence the device
//! offers is probed once, in [`Fimd::new`] ([`Evidence`]):
//!
//! - **Shadow address** (the hardware): `SHD_VIDWw0ADD0B0` (0x40A0 + 8w) is read-only and
//!   holds the address the scan-out uses; it changes at the VSYNC that latches the new one
//!   (vendor s3c-fb kernels compare it with what they wrote). The flip is on screen when it
//!   reads the new address. The old buffer was last fetched in the frame before that VSYNC.
//! - **Frame after programming** (QEMU): QEMU's shadow registers are plain stores, so the
//!   probe reads back what it wrote. The model maps the new address at the unprotect write
//!   and sets `VIDINTCON1.FRAME` at the end of every display update it draws. The driver
//!   clears that bit right after the unprotect write and counts a flip on screen at the
//!   first frame it sees pending afterwards: that update drew from the new mapping, and
//!   the old one was dropped at the unprotect. Under `-display none` QEMU draws only for a
//!   screendump, so flips complete when a screendump is taken — which is when they reach
//!   the "screen".
//!
//! `presented` signals on that evidence and, with it, the previous buffer's `released`.
//! One flip per window is in flight at a time, so flips reach the screen in order.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod blend;
pub mod mode;
pub mod regs;
pub mod scene;

#[cfg(test)]
mod model;

use core::fmt;

use dmasync_engine::display::QueuedFlip;
use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, FlipQueue,
    PixelFormat, Rejected, Surface, accept_flip,
};
use dmasync_hal::dma::{DeviceId, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, Timeline};
use dmasync_sync::syncset::Locked;

use mode::{Geometry, Timings};
use regs::{BLENDCON, BLENDEQ, FimdIo, Reg, SHADOWCON, VIDINTCON0, VIDINTCON1};

pub use regs::{FimdMmio, FimdRegisters};

/// The primary window.
pub const PRIMARY: usize = 0;
/// The overlay window.
pub const OVERLAY: usize = 1;

/// What tells the driver that the controller has taken a flip's address (see the crate
/// documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// The read-only shadow start address register reads the new address (hardware).
    ShadowAddress,
    /// A frame pending after the window was programmed (QEMU's model, whose shadow
    /// registers are plain stores).
    FrameAfterProgramming,
}

/// What the board tells the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FimdConfig {
    /// The panel's native mode (QEMU has no panel: any size FIMD can drive).
    pub preferred: DisplayMode,
    /// The panel's timings.
    pub timings: Timings,
    /// The bus-master id framebuffers are locked for.
    pub device: DeviceId,
}

/// A framebuffer the controller scans out.
#[derive(Debug)]
struct Shown {
    released: FenceProducer,
}

/// A flip programmed but not yet proven on screen.
#[derive(Debug)]
struct InFlight {
    start: u32,
    /// [`State::frames`] right after the programming (the frame evidence needs more).
    armed_at: u64,
    presented: FenceProducer,
    released: FenceProducer,
}

#[derive(Debug, Default)]
struct Window {
    /// Where the window is (None: not configured; flips are refused).
    geometry: Option<Geometry>,
    shown: Option<Shown>,
    in_flight: Option<InFlight>,
}

struct State<R: FimdIo> {
    io: R,
    /// Frame events seen (VIDINTCON1.FRAME found set and cleared).
    frames: u64,
    /// Whether the frame interrupt is enabled (only while a flip is in flight).
    frame_irq: bool,
    windows: [Window; 2],
}

impl<R: FimdIo> State<R> {
    /// Counts and clears a pending frame event.
    fn poll_frame(&mut self) {
        let pending = self.io.read(Reg::Vidintcon1);
        if VIDINTCON1::FRAME.is_set(pending) {
            self.io.write(Reg::Vidintcon1, VIDINTCON1::FRAME::SET.value);
            self.frames += 1;
        }
    }

    fn set_protect(&mut self, w: usize, protect: bool) {
        let bit = SHADOWCON::PROTECT.val(1 << w).value;
        let v = self.io.read(Reg::Shadowcon);
        let v = if protect { v | bit } else { v & !bit };
        self.io.write(Reg::Shadowcon, v);
    }

    /// Programs window `w` to show `flip` (checked against the geometry it was accepted
    /// for, and against the geometry now: a flip queued across a mode change is cancelled
    /// rather than scanned out past its buffer).
    fn arm(&mut self, w: usize, flip: QueuedFlip) {
        let Some(g) = self.windows[w].geometry else {
            flip.presented.signal_error(FenceError::Cancelled);
            flip.released.signal_error(FenceError::Cancelled);
            return;
        };
        if flip.fb.width != g.width || flip.fb.height != g.height || flip.fb.format != g.format {
            flip.presented.signal_error(FenceError::Cancelled);
            flip.released.signal_error(FenceError::Cancelled);
            return;
        }
        // `mode::check_framebuffer` refused buses above 4 GiB.
        let start = flip.fb.bus.0 as u32;
        let Some(r) = mode::window_regs(&g, start, flip.fb.stride) else {
            flip.presented.signal_error(FenceError::Cancelled);
            flip.released.signal_error(FenceError::Cancelled);
            return;
        };
        self.set_protect(w, true);
        self.io.write(Reg::VidosdA(w), r.osd_a);
        self.io.write(Reg::VidosdB(w), r.osd_b);
        self.io.write(
            if w == 0 {
                Reg::VidosdC(0)
            } else {
                Reg::VidosdD(w)
            },
            r.osd_size,
        );
        self.io.write(Reg::Add0(w), r.start);
        self.io.write(Reg::Add1(w), r.end);
        self.io.write(Reg::Add2(w), r.add2);
        self.io.write(Reg::Wincon(w), r.wincon);
        let ch = SHADOWCON::CH_ENABLE.val(1 << w).value;
        let sc = self.io.read(Reg::Shadowcon);
        self.io.write(Reg::Shadowcon, sc | ch);
        self.set_protect(w, false);
        // A frame pending now may have ended before the unprotect: it counts for flips
        // programmed earlier, not for this one.
        self.poll_frame();
        self.windows[w].in_flight = Some(InFlight {
            start,
            armed_at: self.frames,
            presented: flip.presented,
            released: flip.released,
        });
        self.set_frame_interrupt(true);
    }

    fn taken(&self, evidence: Evidence, w: usize, f: &InFlight) -> bool {
        match evidence {
            Evidence::ShadowAddress => self.io.read(Reg::ShdAdd0(w)) == f.start,
            Evidence::FrameAfterProgramming => self.frames > f.armed_at,
        }
    }

    fn set_frame_interrupt(&mut self, on: bool) {
        if self.frame_irq == on {
            return;
        }
        self.frame_irq = on;
        let v = if on {
            (VIDINTCON0::INTEN::SET + VIDINTCON0::INTFRMEN::SET + VIDINTCON0::FRAMESEL0::Vsync)
                .value
        } else {
            0
        };
        self.io.write(Reg::Vidintcon0, v);
    }
}

/// An Exynos FIMD as a dmasync display. `R` reaches its registers ([`FimdMmio`] on a
/// board).
pub struct Fimd<R: FimdIo> {
    config: FimdConfig,
    evidence: Evidence,
    presented: [Timeline; 2],
    flips: [FlipQueue; 2],
    state: IrqSpinLock<State<R>>,
}

impl<R: FimdIo> fmt::Debug for Fimd<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fimd")
            .field("config", &self.config)
            .field("evidence", &self.evidence)
            .finish_non_exhaustive()
    }
}

/// Two values no read-only register returns both of.
const PROBE: [u32; 2] = [0x5A5A_5A58, 0xA5A5_A5A0];

impl<R: FimdIo> Fimd<R> {
    /// Takes the controller, output off (VIDCON0 = 0, windows disabled, frame interrupt
    /// off), and probes which completion evidence it offers ([`Evidence`]): the shadow
    /// address register of window 4 (unused here) is written twice; a register that reads
    /// back both values is a plain store, not the hardware's read-only shadow. The board's
    /// timings are checked here; nothing is shown until a mode is set and a flip presented.
    pub fn new(io: R, config: FimdConfig) -> Result<Self, EngineError> {
        config.timings.check()?;
        io.write(Reg::Vidcon0, 0);
        io.write(Reg::Vidintcon0, 0);
        for w in 0..regs::WINDOWS {
            io.write(Reg::Wincon(w), 0);
        }
        io.write(Reg::Shadowcon, 0);
        io.write(
            Reg::Vidintcon1,
            (VIDINTCON1::FRAME::SET + VIDINTCON1::FIFO::SET).value,
        );
        let stores = PROBE.iter().all(|&v| {
            io.write(Reg::ShdAdd0(4), v);
            io.read(Reg::ShdAdd0(4)) == v
        });
        if stores {
            io.write(Reg::ShdAdd0(4), 0);
        }
        let evidence = if stores {
            Evidence::FrameAfterProgramming
        } else {
            Evidence::ShadowAddress
        };
        Ok(Self {
            config,
            evidence,
            presented: [Timeline::new(), Timeline::new()],
            flips: [FlipQueue::new(), FlipQueue::new()],
            state: IrqSpinLock::new(State {
                io,
                frames: 0,
                frame_irq: false,
                windows: [Window::default(), Window::default()],
            }),
        })
    }

    /// The completion evidence the probe found.
    pub fn evidence(&self) -> Evidence {
        self.evidence
    }

    /// Flips queued for window `w` and not yet programmed.
    pub fn pending_flips(&self, w: usize) -> usize {
        self.flips[w].len()
    }

    /// The overlay plane (window 1): its own mode (size, ARGB8888), position and flips.
    pub fn overlay(&self) -> Overlay<'_, R> {
        Overlay { fimd: self }
    }

    fn busy(&self, s: &State<R>, w: usize) -> bool {
        let win = &s.windows[w];
        win.shown.is_some() || win.in_flight.is_some() || !self.flips[w].is_empty()
    }

    fn flip_on<'s, M: MemorySystem>(
        &self,
        w: usize,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>> {
        let (fences, queued) = accept_flip(
            locked,
            self.config.device,
            &fb,
            in_fence,
            self.flips[w].mode(),
            |mode| {
                mode::check_framebuffer(
                    mode,
                    fb.buffer.name(),
                    &fb.desc,
                    fb.buffer.len(),
                    fb.buffer.region().bus(),
                )
            },
            || self.presented[w].next_fence(),
        )?;
        if let Some(flip) = queued {
            self.flips[w].push(flip);
        }
        Ok(fences)
    }

    /// Sets the overlay's geometry; refused while the overlay shows or queues a buffer
    /// (its buffer was checked for the old size).
    fn set_overlay(&self, g: Geometry) -> Result<(), EngineError> {
        let mut s = self.state.lock();
        let screen = self.flips[PRIMARY].mode().ok_or(EngineError::NoMode)?;
        if g.format != PixelFormat::Argb8888 {
            return Err(EngineError::Unsupported(
                "the overlay window scans out ARGB8888 (per-pixel alpha) only",
            ));
        }
        g.check_on(&screen)?;
        if self.busy(&s, OVERLAY) && s.windows[OVERLAY].geometry != Some(g) {
            return Err(EngineError::Unsupported(
                "overlay geometry changes while the overlay shows a buffer",
            ));
        }
        // Per-pixel alpha as QEMU and Linux blend it (see `blend`): 8-bit alpha values,
        // colour = alpha x overlay + (1 - alpha) x below; colour key off.
        s.io.write(Reg::Blendcon, BLENDCON::ALPHA_8BIT::SET.value);
        s.io.write(
            Reg::Blendeq(OVERLAY),
            (BLENDEQ::A::AlphaA + BLENDEQ::B::OneMinusAlphaA).value,
        );
        s.io.write(Reg::Keycon0(OVERLAY), 0);
        s.windows[OVERLAY].geometry = Some(g);
        self.flips[OVERLAY].set_mode(g.mode());
        Ok(())
    }
}

impl<R: FimdIo> DisplayControl for Fimd<R> {
    fn preferred_mode(&self) -> DisplayMode {
        self.config.preferred
    }

    fn mode(&self) -> Option<DisplayMode> {
        self.flips[PRIMARY].mode()
    }

    /// Programs the timings and size and enables the output (window 0 stays off until its
    /// first flip). Refused, with nothing written: a size FIMD cannot drive, a format other
    /// than XRGB8888, a new size while a frame is shown or queued (its buffer was checked for
    /// the old one), or a size the configured overlay would not fit on.
    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        let regs = mode::screen_mode(&mode, &self.config.timings)?;
        let mut s = self.state.lock();
        if self.flips[PRIMARY].mode() == Some(mode) {
            return Ok(());
        }
        if self.busy(&s, PRIMARY) {
            return Err(EngineError::Unsupported(
                "mode changes while the primary window shows a buffer",
            ));
        }
        if let Some(g) = s.windows[OVERLAY].geometry {
            g.check_on(&mode)?;
        }
        s.io.write(Reg::Vidcon1, regs.vidcon1);
        s.io.write(Reg::Vidtcon0, regs.vidtcon0);
        s.io.write(Reg::Vidtcon1, regs.vidtcon1);
        s.io.write(Reg::Vidtcon2, regs.vidtcon2);
        s.io.write(Reg::Vidcon0, regs.vidcon0);
        s.windows[PRIMARY].geometry = Some(Geometry {
            x: 0,
            y: 0,
            width: mode.width,
            height: mode.height,
            format: mode.format,
        });
        self.flips[PRIMARY].set_mode(mode);
        Ok(())
    }
}

impl<R: FimdIo> DisplayService for Fimd<R> {
    /// Looks at the evidence for flips in flight (signalling `presented` and the previous
    /// buffer's `released`), then programs each window's next ready flip. Call it from the
    /// frame interrupt (Exynos4210: FIMD0's frame line is bit 1 of combiner group 11, which
    /// reaches the external GIC as ID 43) and from the owner's loop — under QEMU's
    /// `-display none` no frame interrupt comes until a screendump draws one, and the
    /// evidence is the same either way. Returns 0 at once if another core is servicing.
    fn service(&self) -> usize {
        let Some(mut s) = self.state.try_lock_unmasked() else {
            return 0;
        };
        let mut presented = 0;
        loop {
            let mut progressed = false;
            s.poll_frame();
            for w in [PRIMARY, OVERLAY] {
                let taken = match &s.windows[w].in_flight {
                    Some(f) => s.taken(self.evidence, w, f),
                    None => false,
                };
                if taken {
                    let f = s.windows[w].in_flight.take().expect("checked above");
                    let prev = s.windows[w].shown.replace(Shown {
                        released: f.released,
                    });
                    f.presented.signal();
                    if let Some(prev) = prev {
                        prev.released.signal();
                    }
                    presented += 1;
                    progressed = true;
                }
                if s.windows[w].in_flight.is_none() {
                    match self.flips[w].next_ready() {
                        Some((flip, Err(e))) => {
                            // The frame's producer failed: it never goes on screen.
                            flip.presented.signal_error(e);
                            flip.released.signal_error(e);
                            progressed = true;
                        }
                        Some((flip, Ok(()))) => {
                            s.arm(w, flip);
                            progressed = true;
                        }
                        None => {}
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        if s.windows.iter().all(|w| w.in_flight.is_none()) {
            s.set_frame_interrupt(false);
        }
        presented
    }
}

impl<R: FimdIo> DisplayFlip for Fimd<R> {
    fn device(&self) -> DeviceId {
        self.config.device
    }

    fn flip<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>> {
        self.flip_on(PRIMARY, locked, fb, in_fence)
    }
}

/// The overlay plane (window 1) of a [`Fimd`]: ARGB8888 blended per pixel over window 0.
/// Its mode is its size; [`Overlay::set_position`] places it (default: the top-left
/// corner). Serviced by the [`Fimd`]'s [`DisplayService::service`].
pub struct Overlay<'a, R: FimdIo> {
    fimd: &'a Fimd<R>,
}

impl<R: FimdIo> fmt::Debug for Overlay<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overlay").field("fimd", self.fimd).finish()
    }
}

impl<R: FimdIo> Overlay<'_, R> {
    /// Where the overlay is now.
    pub fn geometry(&self) -> Option<Geometry> {
        self.fimd.state.lock().windows[OVERLAY].geometry
    }

    /// Moves the overlay so its top-left corner is at (`x`, `y`). Refused if it would not
    /// lie on the screen, or while it shows a buffer.
    pub fn set_position(&mut self, x: u32, y: u32) -> Result<(), EngineError> {
        let g = self.geometry().ok_or(EngineError::NoMode)?;
        self.fimd.set_overlay(Geometry { x, y, ..g })
    }
}

impl<R: FimdIo> DisplayControl for Overlay<'_, R> {
    /// The whole screen, in ARGB8888.
    fn preferred_mode(&self) -> DisplayMode {
        DisplayMode {
            format: PixelFormat::Argb8888,
            ..self.fimd.config.preferred
        }
    }

    fn mode(&self) -> Option<DisplayMode> {
        self.fimd.flips[OVERLAY].mode()
    }

    /// Sizes the overlay (ARGB8888 only), keeping its position; it must lie on the
    /// screen mode set on the [`Fimd`] (`NoMode` before one is).
    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        let (x, y) = self.geometry().map_or((0, 0), |g| (g.x, g.y));
        self.fimd.set_overlay(Geometry {
            x,
            y,
            width: mode.width,
            height: mode.height,
            format: mode.format,
        })
    }
}

impl<R: FimdIo> DisplayFlip for Overlay<'_, R> {
    fn device(&self) -> DeviceId {
        self.fimd.config.device
    }

    fn flip<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>> {
        self.fimd.flip_on(OVERLAY, locked, fb, in_fence)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::boxed::Box;
    use std::vec;

    use dmasync_engine::SurfaceDesc;
    use dmasync_hal::cache::CoherentNoop;
    use dmasync_hal::dma::{BusAddr, Coherency, DirectMemory, DmaRegion};
    use dmasync_sync::fence::{FenceResult, FenceStatus};
    use dmasync_sync::syncset::{Access, SyncBuffer, SyncConfig, SyncDomain};

    use super::model::{Flavour, Model};
    use super::*;

    const LINE: usize = 64;
    const DEV: DeviceId = DeviceId(11);
    const MODE: DisplayMode = DisplayMode {
        width: 32,
        height: 16,
        format: PixelFormat::Xrgb8888,
    };
    const FULL: SurfaceDesc = SurfaceDesc::packed(32, 16, PixelFormat::Xrgb8888);

    type Domain = SyncDomain<DirectMemory<CoherentNoop>>;

    fn domain() -> Domain {
        Domain::new(
            DirectMemory(CoherentNoop { line_size: LINE }),
            SyncConfig::default(),
        )
    }

    /// A buffer of `len` bytes that the display addresses at `bus`.
    fn buffer(domain: &Domain, name: &'static str, len: usize, bus: u64) -> SyncBuffer {
        let words = len.div_ceil(LINE) * LINE / 8;
        let mem: &'static mut [u64] = Box::leak(vec![0u64; words + LINE / 8].into_boxed_slice());
        let virt = (mem.as_mut_ptr() as usize).next_multiple_of(LINE);
        // SAFETY: a leaked, line-aligned host allocation only this region uses; the model
        // device records bus addresses and never reaches memory through them, so `bus`
        // (a 32-bit address as FIMD needs) stands for nothing else.
        let region = unsafe {
            DmaRegion::from_raw_parts(
                virt,
                BusAddr(bus),
                len.div_ceil(LINE) * LINE,
                Coherency::NonCoherent,
                LINE,
            )
        }
        .unwrap();
        domain.buffer(name, region).unwrap()
    }

    fn config() -> FimdConfig {
        FimdConfig {
            preferred: MODE,
            timings: Timings::QEMU,
            device: DEV,
        }
    }

    fn setup(flavour: Flavour) -> (Fimd<Model>, Model, Domain) {
        let m = Model::new(flavour);
        let mut d = Fimd::new(m.clone(), config()).unwrap();
        d.set_mode(MODE).unwrap();
        (d, m, domain())
    }

    fn flip_with<D: DisplayFlip>(
        d: &D,
        domain: &Domain,
        buf: &SyncBuffer,
        access: Access,
        desc: SurfaceDesc,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, EngineError> {
        let mut set = domain.set();
        set.add(buf, access).unwrap();
        let locked = set.lock().unwrap();
        d.flip(locked, Surface::new(buf, desc), in_fence)
            .map_err(|r| {
                r.returned.unlock().unwrap();
                r.error
            })
    }

    fn position(m: &Model, want: (Reg, u32)) -> usize {
        m.state()
            .log
            .iter()
            .rposition(|&w| w == want)
            .unwrap_or_else(|| panic!("{want:?} never written"))
    }

    #[test]
    fn the_probe_tells_qemus_plain_store_from_the_read_only_shadow() {
        let q = Model::new(Flavour::Qemu);
        let d = Fimd::new(q.clone(), config()).unwrap();
        assert_eq!(d.evidence(), Evidence::FrameAfterProgramming);
        assert_eq!(q.reg(Reg::ShdAdd0(4)), 0, "the probe left its value behind");
        let h = Model::new(Flavour::Hardware);
        assert_eq!(
            Fimd::new(h, config()).unwrap().evidence(),
            Evidence::ShadowAddress
        );
        let bad = FimdConfig {
            timings: Timings {
                hsync_len: 0,
                ..Timings::QEMU
            },
            ..config()
        };
        assert!(matches!(
            Fimd::new(Model::new(Flavour::Qemu), bad),
            Err(EngineError::Unsupported(_))
        ));
    }

    #[test]
    fn a_mode_fimd_cannot_drive_writes_nothing_and_keeps_the_mode() {
        let (mut d, m, _) = setup(Flavour::Qemu);
        assert_eq!(m.reg(Reg::Vidtcon2), (15 << 11) | 31);
        assert_eq!(m.reg(Reg::Vidcon0) & 3, 3);
        let before = m.writes();
        for bad in [
            DisplayMode { width: 33, ..MODE },
            DisplayMode { height: 0, ..MODE },
            DisplayMode {
                width: 4096,
                ..MODE
            },
        ] {
            assert_eq!(
                d.set_mode(bad),
                Err(EngineError::ModeRefused {
                    width: bad.width,
                    height: bad.height
                })
            );
        }
        let argb = DisplayMode {
            format: PixelFormat::Argb8888,
            ..MODE
        };
        assert!(matches!(d.set_mode(argb), Err(EngineError::Unsupported(_))));
        assert_eq!(m.writes(), before, "a refused mode wrote registers");
        assert_eq!(d.mode(), Some(MODE));
    }

    #[test]
    fn qemu_flips_wait_for_the_in_fence_and_present_at_the_next_frame() {
        let (d, m, domain) = setup(Flavour::Qemu);
        let a = buffer(&domain, "A", MODE.framebuffer_bytes(), 0x4100_0000);
        let b = buffer(&domain, "B", MODE.framebuffer_bytes(), 0x4200_0000);
        let in_a = FenceProducer::one_off();
        let fa = flip_with(
            &d,
            &domain,
            &a,
            Access::dma_read(DEV),
            FULL,
            Some(&in_a.fence()),
        )
        .unwrap();
        let before = m.writes();
        assert_eq!(d.service(), 0);
        assert_eq!(m.writes(), before, "an idle service wrote registers");
        assert_eq!(m.reg(Reg::Add0(0)), 0, "programmed before the in-fence");
        in_a.signal();
        assert_eq!(d.service(), 0, "presented before any frame");
        assert_eq!(fa.presented.status(), FenceStatus::Pending);
        // Programmed under protection: protect, the address, unprotect.
        let protect = position(&m, (Reg::Shadowcon, 1 << 10));
        let addr = position(&m, (Reg::Add0(0), 0x4100_0000));
        let unprotect = position(&m, (Reg::Shadowcon, 1));
        assert!(protect < addr && addr < unprotect, "{:?}", m.state().log);
        assert_eq!(m.reg(Reg::Wincon(0)), 1 | (0xB << 2) | (1 << 15));
        assert_eq!(m.reg(Reg::Add1(0)), 0x4100_0000 + 32 * 16 * 4);
        assert_eq!(m.reg(Reg::Add2(0)), 128);
        assert_eq!(
            m.reg(Reg::Vidintcon0) & 1,
            1,
            "frame interrupt enabled while in flight"
        );

        m.frame();
        assert_eq!(m.state().last_frame, [(0, 0x4100_0000)]);
        assert_eq!(d.service(), 1);
        assert_eq!(fa.presented.status(), FenceStatus::Ok);
        assert_eq!(fa.released.status(), FenceStatus::Pending);
        assert_eq!(m.reg(Reg::Vidintcon1) & 2, 0, "frame pending left set");
        assert_eq!(
            m.reg(Reg::Vidintcon0),
            0,
            "frame interrupt left on when idle"
        );

        let fb = flip_with(&d, &domain, &b, Access::dma_read(DEV), FULL, None).unwrap();
        assert_eq!(d.service(), 0);
        assert_eq!(
            fa.released.status(),
            FenceStatus::Pending,
            "A released before B shown"
        );
        m.frame();
        assert_eq!(m.state().last_frame, [(0, 0x4200_0000)]);
        assert_eq!(d.service(), 1);
        assert_eq!(fb.presented.status(), FenceStatus::Ok);
        assert_eq!(fa.released.status(), FenceStatus::Ok);
        // A is free again: a CPU writer gets it at once.
        let mut set = domain.set();
        set.add(&a, Access::CPU_WRITE).unwrap();
        set.lock().unwrap().unlock().unwrap();
    }

    #[test]
    fn a_frame_that_was_pending_when_the_flip_was_programmed_does_not_present_it() {
        let (d, m, domain) = setup(Flavour::Qemu);
        let a = buffer(&domain, "A", MODE.framebuffer_bytes(), 0x4100_0000);
        let b = buffer(&domain, "B", MODE.framebuffer_bytes(), 0x4200_0000);
        let fa = flip_with(&d, &domain, &a, Access::dma_read(DEV), FULL, None).unwrap();
        d.service();
        m.frame();
        d.service();
        assert_eq!(fa.presented.status(), FenceStatus::Ok);
        // A frame comes while B waits for its in-fence; B is programmed after it.
        let in_b = FenceProducer::one_off();
        let fb = flip_with(
            &d,
            &domain,
            &b,
            Access::dma_read(DEV),
            FULL,
            Some(&in_b.fence()),
        )
        .unwrap();
        m.frame();
        in_b.signal();
        assert_eq!(d.service(), 0);
        assert_eq!(fb.presented.status(), FenceStatus::Pending);
        assert_eq!(fa.released.status(), FenceStatus::Pending);
        m.frame();
        assert_eq!(d.service(), 1);
        assert_eq!(fb.presented.status(), FenceStatus::Ok);
        assert_eq!(fa.released.status(), FenceStatus::Ok);
    }

    #[test]
    fn hardware_flips_present_when_the_shadow_address_is_the_new_one() {
        let (d, m, domain) = setup(Flavour::Hardware);
        assert_eq!(d.evidence(), Evidence::ShadowAddress);
        let a = buffer(&domain, "A", MODE.framebuffer_bytes(), 0x4100_0000);
        let b = buffer(&domain, "B", MODE.framebuffer_bytes(), 0x4200_0000);
        let fa = flip_with(&d, &domain, &a, Access::dma_read(DEV), FULL, None).unwrap();
        d.service();
        m.vsync();
        assert_eq!(d.service(), 1);
        assert_eq!(fa.presented.status(), FenceStatus::Ok);
        let fb = flip_with(&d, &domain, &b, Access::dma_read(DEV), FULL, None).unwrap();
        d.service();
        // A frame interrupt with no VSYNC latch since the programming: B is not on screen.
        m.frame_event_only();
        assert_eq!(d.service(), 0);
        assert_eq!(m.state().scanning[0], Some(0x4100_0000));
        assert_eq!(fb.presented.status(), FenceStatus::Pending);
        assert_eq!(fa.released.status(), FenceStatus::Pending);
        m.vsync();
        assert_eq!(d.service(), 1);
        assert_eq!(fb.presented.status(), FenceStatus::Ok);
        assert_eq!(fa.released.status(), FenceStatus::Ok);
    }

    #[test]
    fn refused_framebuffers_write_nothing_and_leave_the_previous_frame() {
        let (d, m, domain) = setup(Flavour::Qemu);
        let a = buffer(&domain, "A", MODE.framebuffer_bytes(), 0x4100_0000);
        let fa = flip_with(&d, &domain, &a, Access::dma_read(DEV), FULL, None).unwrap();
        d.service();
        m.frame();
        d.service();
        let small = buffer(&domain, "small", MODE.framebuffer_bytes() / 2, 0x4300_0000);
        let big = buffer(&domain, "big", 2 * MODE.framebuffer_bytes(), 0x4400_0000);
        let odd = buffer(&domain, "odd", 2 * MODE.framebuffer_bytes(), 0x4500_0000);
        let before = m.writes();
        let cases: [(&SyncBuffer, Access, SurfaceDesc); 6] = [
            (&small, Access::dma_read(DEV), FULL),
            (&big, Access::CPU_READ, FULL),
            (&big, Access::dma_read(DeviceId(12)), FULL),
            (
                &big,
                Access::dma_read(DEV),
                SurfaceDesc {
                    stride: 132,
                    ..FULL
                },
            ),
            (
                &big,
                Access::dma_read(DEV),
                SurfaceDesc { offset: 4, ..FULL },
            ),
            (
                &odd,
                Access::dma_read(DEV),
                SurfaceDesc::packed(32, 16, PixelFormat::Argb8888),
            ),
        ];
        let errors: std::vec::Vec<_> = cases
            .iter()
            .map(|(buf, acc, desc)| flip_with(&d, &domain, buf, *acc, *desc, None).unwrap_err())
            .collect();
        assert!(
            matches!(
                errors[0],
                EngineError::FramebufferTooSmall {
                    buffer: "small",
                    need: 2048,
                    ..
                }
            ),
            "{errors:?}"
        );
        assert_eq!(
            errors[1],
            EngineError::NotLockedFor {
                buffer: "big",
                wanted: "read"
            }
        );
        assert!(matches!(
            errors[2],
            EngineError::NotLockedFor { buffer: "big", .. }
        ));
        assert!(
            matches!(errors[3], EngineError::BadSurface { buffer: "big", why } if why.contains("64-bit words")),
            "{errors:?}"
        );
        assert!(
            matches!(errors[4], EngineError::BadSurface { buffer: "big", why } if why.contains("aligned")),
            "{errors:?}"
        );
        assert!(matches!(
            errors[5],
            EngineError::BadSurface { buffer: "odd", .. }
        ));
        assert_eq!(d.service(), 0);
        m.frame();
        d.service(); // clears the frame pending bit: the one write
        assert_eq!(
            m.writes(),
            before + 1,
            "a refused flip reached the registers: {:?}",
            &m.state().log[before..]
        );
        assert_eq!(
            m.state().last_frame,
            [(0, 0x4100_0000)],
            "the previous frame left"
        );
        assert_eq!(fa.released.status(), FenceStatus::Pending);
    }

    #[test]
    fn a_failed_in_fence_cancels_its_flip_and_keeps_the_frame() {
        let (d, m, domain) = setup(Flavour::Qemu);
        let a = buffer(&domain, "A", MODE.framebuffer_bytes(), 0x4100_0000);
        let b = buffer(&domain, "B", MODE.framebuffer_bytes(), 0x4200_0000);
        let fa = flip_with(&d, &domain, &a, Access::dma_read(DEV), FULL, None).unwrap();
        d.service();
        m.frame();
        d.service();
        let bad = Fence::signalled(FenceResult::Err(FenceError::Timeout));
        let fb = flip_with(&d, &domain, &b, Access::dma_read(DEV), FULL, Some(&bad)).unwrap();
        assert_eq!(d.service(), 0);
        assert_eq!(fb.presented.status(), FenceStatus::Err(FenceError::Timeout));
        assert_eq!(fb.released.status(), FenceStatus::Err(FenceError::Timeout));
        assert_eq!(m.reg(Reg::Add0(0)), 0x4100_0000);
        assert_eq!(fa.released.status(), FenceStatus::Pending);
    }

    #[test]
    fn the_mode_cannot_change_under_a_shown_buffer() {
        let (mut d, m, domain) = setup(Flavour::Qemu);
        let a = buffer(&domain, "A", MODE.framebuffer_bytes(), 0x4100_0000);
        flip_with(&d, &domain, &a, Access::dma_read(DEV), FULL, None).unwrap();
        let before = m.writes();
        let bigger = DisplayMode { width: 64, ..MODE };
        assert!(matches!(
            d.set_mode(bigger),
            Err(EngineError::Unsupported(_))
        ));
        assert_eq!(d.set_mode(MODE), Ok(()), "the same mode again is no change");
        assert_eq!(m.writes(), before);
    }

    #[test]
    fn the_overlay_blends_per_pixel_over_the_primary_window() {
        let (d, m, domain) = setup(Flavour::Qemu);
        let argb = |w, h| DisplayMode {
            width: w,
            height: h,
            format: PixelFormat::Argb8888,
        };
        {
            let mut o = d.overlay();
            assert!(
                matches!(o.set_mode(MODE), Err(EngineError::Unsupported(_))),
                "XRGB overlay"
            );
            assert!(o.set_mode(argb(34, 8)).is_err(), "wider than the screen");
            o.set_mode(argb(16, 8)).unwrap();
            o.set_position(16, 8).unwrap();
            assert!(o.set_position(18, 8).is_err(), "off the right edge");
            assert_eq!(o.geometry().unwrap().x, 16);
        }
        assert_eq!(m.reg(Reg::Blendcon), 1, "8-bit alpha");
        assert_eq!(m.reg(Reg::Blendeq(1)), 0xC2);
        assert_eq!(m.reg(Reg::Keycon0(1)), 0, "colour key on");
        let a = buffer(&domain, "A", MODE.framebuffer_bytes(), 0x4100_0000);
        let o = buffer(&domain, "O", 16 * 8 * 4, 0x4600_0000);
        let fa = flip_with(&d, &domain, &a, Access::dma_read(DEV), FULL, None).unwrap();
        let desc = SurfaceDesc::packed(16, 8, PixelFormat::Argb8888);
        // The overlay refuses the primary's format and size.
        assert!(flip_with(&d.overlay(), &domain, &a, Access::dma_read(DEV), FULL, None).is_err());
        let fo = flip_with(&d.overlay(), &domain, &o, Access::dma_read(DEV), desc, None).unwrap();
        assert_eq!(d.service(), 0);
        assert_eq!(
            m.reg(Reg::Wincon(1)),
            1 | (1 << 1) | (0xD << 2) | (1 << 6) | (1 << 15)
        );
        assert_eq!(m.reg(Reg::VidosdA(1)), (16 << 11) | 8);
        assert_eq!(m.reg(Reg::VidosdB(1)), (31 << 11) | 15);
        assert_eq!(m.reg(Reg::VidosdD(1)), 16 * 8);
        assert_eq!(
            m.reg(Reg::Shadowcon),
            0b11,
            "both channels on, none protected"
        );
        m.frame();
        assert_eq!(m.state().last_frame, [(0, 0x4100_0000), (1, 0x4600_0000)]);
        assert_eq!(d.service(), 2);
        assert_eq!(fa.presented.status(), FenceStatus::Ok);
        assert_eq!(fo.presented.status(), FenceStatus::Ok);
        // Shown: the overlay cannot move or resize under its buffer.
        assert!(d.overlay().set_position(0, 0).is_err());
        assert!(d.overlay().set_mode(argb(8, 8)).is_err());
    }

    #[test]
    fn the_overlay_needs_a_screen_mode() {
        let m = Model::new(Flavour::Qemu);
        let d = Fimd::new(m.clone(), config()).unwrap();
        let before = m.writes();
        let mode = DisplayMode {
            format: PixelFormat::Argb8888,
            ..MODE
        };
        assert_eq!(d.overlay().set_mode(mode), Err(EngineError::NoMode));
        assert_eq!(m.writes(), before);
    }
}
