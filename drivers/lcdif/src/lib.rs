//! The i.MX 8M Plus LCDIFv3 display controller as a dmasync display ([`DisplayControl`],
//! [`DisplayFlip`], [`DisplayService`]): one primary plane, XRGB8888.
//!
//! Register facts from Linux `drivers/gpu/drm/mxsfb/lcdif_regs.h`, `lcdif_kms.c` and
//! `lcdif_drv.c` (facts only; hardware.md §3.4); see [`regs`]. Our own code. QEMU leaves
//! the LCDIFs unimplemented, so the host tests run the driver against
//! `dmasync-lcdif-model`, written apart from it, on the non-coherent memory simulator.
//!
//! # Mode set
//!
//! [`DisplayControl::set_mode`] runs Linux's enable sequence (`lcdif_crtc_atomic_enable`):
//! SW_RESET set and cleared through CTRL's aliases, CTRL polarity, DISP_SIZE, HSYN_PARA,
//! VSYN_PARA, VSYN_HSYN_WIDTH, the plane size (CTRLDESCL0_1), pitch (CTRLDESCL0_3, 256-byte
//! bursts), BPP (CTRLDESCL0_5), CSC0 bypass, the interrupt enables, DISP_ON. With no
//! framebuffer yet, the plane stays off (the output shows the background colour): its
//! address and EN come with the first flip, in the sequence's order (address, then EN),
//! rather than enabling a plane that would fetch from address 0. Refused with nothing written: a size outside
//! Linux's `LCDIF_MIN/MAX_XRES/YRES` (120..=65535), a row longer than the 16-bit pitch, a
//! format other than XRGB8888 (Linux's primary plane offers no ARGB8888: with nothing under
//! the plane, what the alpha byte does against the background is not public), or a new
//! mode while a frame is shown or queued.
//!
//! # Flips and when they complete
//!
//! [`DisplayFlip::flip`] checks the framebuffer (mode, lock for this device's read, every
//! byte the plane fetches inside the registered range, pitch and 36-bit address limits)
//! before any register is written, and queues it. Once its in-fence has signalled and no
//! flip is in flight, the pitch and address go to CTRLDESCL0_3 / LOW0_4 / HIGH0_4 and
//! CTRLDESCL0_5 gets SHADOW_LOAD_EN (Linux `lcdif_plane_primary_atomic_update` and
//! `lcdif_crtc_atomic_flush`). The controller takes the shadow registers at the next
//! vertical blank and then clears SHADOW_LOAD_EN; Linux's interrupt handler counts a
//! VS_BLANK as the flip's only when it reads SHADOW_LOAD_EN clear, and so does
//! [`Lcdif::on_interrupt`]: only then does `presented` signal, and with it the previous
//! buffer's `released` (its last frame was fetched before that blank). One flip is in
//! flight at a time, so a plane register is never written while a load is pending.
//!
//! # Faults
//!
//! - **DMA_ERR** (a bus error on the frame fetch): the buffer being scanned out gets
//!   `FenceError::DeviceError(`[`DMA_ERROR`]`)` on its fences (`presented` if it was just
//!   latched, `released`); the block is reset (SW_RESET stops the fetch), so every other
//!   shown buffer is released, and the mode is set again with the plane off. Queued flips
//!   go on.
//! - **A stalled controller** (no vblank comes): the board's periodic watchdog calls
//!   [`Lcdif::watchdog`]; a flip in flight for `watchdog_ticks` calls without a vblank is
//!   failed with `DeviceError(`[`WATCHDOG_RESET`]`)` after the same reset.
//!
//! # Limits
//!
//! A DMA_ERR reported in the same interrupt as the latch of a new address is charged to
//! the new buffer (the model fetches after the latch); either way both buffers are let go
//! only after the reset, when nothing reads them. A controller that stalls with no flip in
//! flight is not noticed until the next flip. PANIC0_THRES and INT_ENABLE_D1 (newer
//! kernels' NoC priority boost) are not programmed.
//!
//! In-fences are looked at when the driver runs (each flip, interrupt, watchdog call and
//! [`DisplayService::service`]); with VS_BLANK enabled every frame, a flip whose in-fence
//! signalled is programmed at the next interrupt at the latest. Clocks, the pixel PLL,
//! media_blk_ctrl and the bridge (MIPI-DSI, LDB, HDMI) are the board's; only hardware
//! shows them (drivers/README.md).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod regs;

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use dmasync_engine::display::QueuedFlip;
use dmasync_engine::{
    DisplayControl, DisplayFlip, DisplayMode, DisplayService, EngineError, FlipFences, FlipQueue,
    PixelFormat, Rejected, Surface, SurfaceDesc, accept_flip,
};
use dmasync_hal::dma::{BusAddr, DeviceId, MemorySystem};
use dmasync_hal::lock::IrqSpinLock;
use dmasync_hal::mmio::RegisterIo;
use dmasync_sync::fence::{Fence, FenceError, FenceProducer, FenceResult, Timeline};
use dmasync_sync::syncset::Locked;
use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;

use regs::*;

/// `FenceError::DeviceError` code of a frame whose fetch hit a bus error (DMA_ERR).
pub const DMA_ERROR: u32 = 0x1CD1_0001;
/// `FenceError::DeviceError` code of a flip the watchdog failed (no vblank came).
pub const WATCHDOG_RESET: u32 = 0x1CD1_0002;

/// The panel's timings, in pixel clocks and lines, and its signal polarities (Linux
/// `lcdif_set_mode`: BP = total - sync end, FP = sync start - active, PW = sync length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// Horizontal front porch.
    pub hfp: u32,
    /// Horizontal back porch.
    pub hbp: u32,
    /// HSYNC pulse width.
    pub hsync: u32,
    /// Vertical front porch.
    pub vfp: u32,
    /// Vertical back porch.
    pub vbp: u32,
    /// VSYNC pulse width.
    pub vsync: u32,
    /// HSYNC active low (CTRL.INV_HS).
    pub hsync_low: bool,
    /// VSYNC active low (CTRL.INV_VS).
    pub vsync_low: bool,
    /// Data enable active low (CTRL.INV_DE).
    pub de_low: bool,
    /// Pixel data driven on the falling edge (CTRL.INV_PXCK).
    pub pixdata_negedge: bool,
}

impl Timings {
    /// Each value must fit its 16-bit field; the sync pulses must be at least one long.
    pub fn check(&self) -> Result<(), EngineError> {
        let all = [
            self.hfp, self.hbp, self.hsync, self.vfp, self.vbp, self.vsync,
        ];
        if all.iter().any(|&v| v > 0xFFFF) {
            return Err(EngineError::Unsupported(
                "an LCDIF porch or sync width beyond its 16-bit field",
            ));
        }
        if self.hsync == 0 || self.vsync == 0 {
            return Err(EngineError::Unsupported("a zero-length sync pulse"));
        }
        Ok(())
    }
}

/// What the board tells the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LcdifConfig {
    /// The panel's native mode.
    pub preferred: DisplayMode,
    /// The panel's timings.
    pub timings: Timings,
    /// The bus-master id framebuffers are locked for.
    pub device: DeviceId,
    /// Watchdog calls without a vblank, while a flip is in flight, before the controller
    /// is reset.
    pub watchdog_ticks: u32,
}

/// The register value of a set of fields.
fn bits<T: tock_registers::RegisterLongName>(f: FieldValue<u32, T>) -> u32 {
    let mut r = LocalRegisterCopy::<u32, T>::new(0);
    r.modify(f);
    r.get()
}

const IRQS: u32 = (1 << 2) | (1 << 1) | (1 << 8); // VS_BLANK | UNDERRUN | DMA_ERR

fn irq_enables() -> u32 {
    bits(INT_D0::VS_BLANK::SET + INT_D0::UNDERRUN::SET + INT_D0::DMA_ERR::SET)
}

/// Checks a mode against what the LCDIF can drive.
fn check_mode(mode: &DisplayMode) -> Result<(), EngineError> {
    if mode.format != PixelFormat::Xrgb8888 {
        return Err(EngineError::Unsupported(
            "LCDIF scans out XRGB8888 here (no ARGB8888 primary plane in Linux)",
        ));
    }
    let size_ok = |v: u32| (MIN_RES..=MAX_RES).contains(&v);
    let row = mode.width as usize * mode.format.bytes_per_pixel();
    if !size_ok(mode.width) || !size_ok(mode.height) || row > MAX_PITCH {
        return Err(EngineError::ModeRefused {
            width: mode.width,
            height: mode.height,
        });
    }
    Ok(())
}

/// The LCDIF's own limits on a framebuffer, after the shared ones.
fn check_framebuffer(
    mode: &DisplayMode,
    name: &'static str,
    fb: &SurfaceDesc,
    len: usize,
    bus: BusAddr,
) -> Result<(), EngineError> {
    mode.check_framebuffer(name, fb, len)?;
    if fb.stride > MAX_PITCH {
        return Err(EngineError::BadSurface {
            buffer: name,
            why: "pitch beyond CTRLDESCL0_3's 16 bits",
        });
    }
    // The sources state no alignment; whole pixels at least.
    if !fb.stride.is_multiple_of(4) || !fb.offset.is_multiple_of(4) {
        return Err(EngineError::BadSurface {
            buffer: name,
            why: "framebuffer start or pitch not 4-byte aligned",
        });
    }
    let end = bus.0.checked_add(len as u64);
    if end.is_none_or(|e| e > 1u64 << ADDR_BITS) {
        return Err(EngineError::BadSurface {
            buffer: name,
            why: "framebuffer beyond the LCDIF's 36-bit address range",
        });
    }
    Ok(())
}

#[derive(Debug)]
struct Shown {
    released: FenceProducer,
}

#[derive(Debug)]
struct InFlight {
    presented: FenceProducer,
    released: FenceProducer,
    idle_ticks: u32,
}

struct State<R> {
    io: R,
    mode: Option<DisplayMode>,
    /// CTRLDESCL0_5 as last written, without SHADOW_LOAD_EN.
    ctrl5: u32,
    shown: Option<Shown>,
    in_flight: Option<InFlight>,
    underruns: u64,
    faults: u64,
}

type Signals = Vec<(FenceProducer, FenceResult)>;

impl<R: RegisterIo> State<R> {
    /// The enable sequence with the plane off (crate docs, "Mode set").
    fn program_mode(&mut self, mode: &DisplayMode, t: &Timings) {
        let io = &self.io;
        // `lcdif_reset_block`: set, read back, clear, read back.
        io.write32(CTRL_SET, bits(CTRL::SW_RESET::SET));
        io.read32(CTRL);
        io.write32(CTRL_CLR, bits(CTRL::SW_RESET::SET));
        io.read32(CTRL);
        io.write32(
            CTRL,
            bits(
                CTRL::INV_HS.val(t.hsync_low.into())
                    + CTRL::INV_VS.val(t.vsync_low.into())
                    + CTRL::INV_DE.val(t.de_low.into())
                    + CTRL::INV_PXCK.val(t.pixdata_negedge.into()),
            ),
        );
        let size = bits(SIZE::Y.val(mode.height) + SIZE::X.val(mode.width));
        io.write32(DISP_SIZE, size);
        io.write32(HSYN_PARA, bits(PORCH::BP.val(t.hbp) + PORCH::FP.val(t.hfp)));
        io.write32(VSYN_PARA, bits(PORCH::BP.val(t.vbp) + PORCH::FP.val(t.vfp)));
        io.write32(
            VSYN_HSYN_WIDTH,
            bits(VSYN_HSYN_WIDTH::PW_V.val(t.vsync) + VSYN_HSYN_WIDTH::PW_H.val(t.hsync)),
        );
        io.write32(CTRLDESCL0_1, size);
        io.write32(CTRLDESCL0_3, pitch_reg(mode.width as usize * 4));
        self.ctrl5 = bits(CTRLDESCL0_5::BPP::Argb8888);
        io.write32(CTRLDESCL0_5, self.ctrl5);
        io.write32(CSC0_CTRL, CSC0_BYPASS);
        io.write32(INT_STATUS_D0, u32::MAX);
        io.write32(INT_ENABLE_D0, irq_enables());
        io.write32(
            DISP_PARA,
            bits(DISP_PARA::DISP_ON::SET + DISP_PARA::LINE_PATTERN::Rgb888),
        );
        self.mode = Some(*mode);
    }

    /// Programs `flip`'s pitch and address and requests the shadow load.
    fn arm(&mut self, flip: QueuedFlip, signals: &mut Signals) {
        let fits = self.mode.is_some_and(|m| {
            flip.fb.width == m.width && flip.fb.height == m.height && flip.fb.format == m.format
        });
        if !fits {
            signals.push((flip.presented, Err(FenceError::Cancelled)));
            signals.push((flip.released, Err(FenceError::Cancelled)));
            return;
        }
        // `check_framebuffer` bounded the address to 36 bits and the pitch to 16.
        let addr = flip.fb.bus.0;
        self.io.write32(CTRLDESCL0_3, pitch_reg(flip.fb.stride));
        self.io.write32(CTRLDESCL_LOW0_4, addr as u32);
        self.io
            .write32(CTRLDESCL_HIGH0_4, ((addr >> 32) & 0xF) as u32);
        self.ctrl5 |= bits(CTRLDESCL0_5::EN::SET);
        self.io.write32(
            CTRLDESCL0_5,
            self.ctrl5 | bits(CTRLDESCL0_5::SHADOW_LOAD_EN::SET),
        );
        self.in_flight = Some(InFlight {
            presented: flip.presented,
            released: flip.released,
            idle_ticks: 0,
        });
    }

    /// Reset after a fault: the fetch stops, every buffer is let go (`failed` gets
    /// `error`), the mode is programmed again with the plane off.
    fn recover(&mut self, t: &Timings, error: FenceError, signals: &mut Signals) {
        self.faults += 1;
        if let Some(f) = self.in_flight.take() {
            signals.push((f.presented, Err(error)));
            signals.push((f.released, Err(error)));
        }
        if let Some(s) = self.shown.take() {
            signals.push((s.released, Err(error)));
        }
        if let Some(mode) = self.mode {
            self.program_mode(&mode, t);
        }
    }
}

fn pitch_reg(stride: usize) -> u32 {
    bits(
        CTRLDESCL0_3::P_SIZE.val(2)
            + CTRLDESCL0_3::T_SIZE.val(2)
            + CTRLDESCL0_3::PITCH.val(stride as u32),
    )
}

fn signal_all(signals: Signals) {
    for (p, r) in signals {
        match r {
            Ok(()) => p.signal(),
            Err(e) => p.signal_error(e),
        }
    }
}

/// An LCDIFv3 as a dmasync display. `R` reaches its registers (an `MmioWindow` on a
/// board).
pub struct Lcdif<R: RegisterIo> {
    config: LcdifConfig,
    presented: Timeline,
    flips: FlipQueue,
    state: IrqSpinLock<State<R>>,
    /// One context programs queued flips at a time; the others leave a request.
    pumping: AtomicBool,
    pump_wanted: AtomicBool,
}

impl<R: RegisterIo> fmt::Debug for Lcdif<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lcdif")
            .field("config", &self.config)
            .field("flips", &self.flips)
            .finish_non_exhaustive()
    }
}

impl<R: RegisterIo> Lcdif<R> {
    /// Takes the controller: reset, output off, interrupts off. Nothing is shown until a
    /// mode is set and a flip presented. The board's timings are checked here.
    pub fn new(io: R, config: LcdifConfig) -> Result<Self, EngineError> {
        config.timings.check()?;
        io.write32(CTRL_SET, bits(CTRL::SW_RESET::SET));
        io.read32(CTRL);
        io.write32(CTRL_CLR, bits(CTRL::SW_RESET::SET));
        io.read32(CTRL);
        io.write32(INT_ENABLE_D0, 0);
        io.write32(INT_STATUS_D0, u32::MAX);
        Ok(Self {
            config,
            presented: Timeline::new(),
            flips: FlipQueue::new(),
            state: IrqSpinLock::new(State {
                io,
                mode: None,
                ctrl5: 0,
                shown: None,
                in_flight: None,
                underruns: 0,
                faults: 0,
            }),
            pumping: AtomicBool::new(false),
            pump_wanted: AtomicBool::new(false),
        })
    }

    /// Flips accepted and not yet programmed.
    pub fn pending_flips(&self) -> usize {
        self.flips.len()
    }

    /// UNDERRUN interrupts seen.
    pub fn underruns(&self) -> u64 {
        self.state.lock().underruns
    }

    /// Resets after a bus error or a stall.
    pub fn faults(&self) -> u64 {
        self.state.lock().faults
    }

    /// The interrupt handler (lcdif1: SPI 5, lcdif2: SPI 6, lcdif3: irqsteer_hdmi 8).
    /// Reads and clears INT_STATUS_D0; at a VS_BLANK with SHADOW_LOAD_EN read clear the
    /// flip in flight is on screen (`presented`, and the previous buffer's `released`); a
    /// DMA_ERR fails the buffer being fetched and resets (crate docs, "Faults"). Then
    /// programs the next ready flip. Returns how many flips were presented.
    pub fn on_interrupt(&self) -> usize {
        let mut signals = Signals::new();
        let mut presented = 0;
        {
            let mut s = self.state.lock();
            let stat = s.io.read32(INT_STATUS_D0) & IRQS;
            if stat != 0 {
                s.io.write32(INT_STATUS_D0, stat);
            }
            let st = LocalRegisterCopy::<u32, INT_D0::Register>::new(stat);
            if st.is_set(INT_D0::UNDERRUN) {
                s.underruns += 1;
            }
            if st.is_set(INT_D0::VS_BLANK) {
                if let Some(f) = s.in_flight.as_mut() {
                    f.idle_ticks = 0;
                }
                let d5 = LocalRegisterCopy::<u32, CTRLDESCL0_5::Register>::new(
                    s.io.read32(CTRLDESCL0_5),
                );
                if s.in_flight.is_some() && !d5.is_set(CTRLDESCL0_5::SHADOW_LOAD_EN) {
                    let f = s.in_flight.take().expect("checked above");
                    let prev = s.shown.replace(Shown {
                        released: f.released,
                    });
                    if let Some(prev) = prev {
                        signals.push((prev.released, Ok(())));
                    }
                    if st.is_set(INT_D0::DMA_ERR) {
                        // The frame that failed was the first from the new address.
                        signals.push((f.presented, Err(FenceError::DeviceError(DMA_ERROR))));
                    } else {
                        signals.push((f.presented, Ok(())));
                        presented += 1;
                    }
                }
            }
            if st.is_set(INT_D0::DMA_ERR) {
                let t = self.config.timings;
                s.recover(&t, FenceError::DeviceError(DMA_ERROR), &mut signals);
            }
        }
        signal_all(signals);
        self.pump();
        presented
    }

    /// The board's periodic watchdog: a flip in flight through `watchdog_ticks` calls
    /// without a vblank means the controller stalled; it is reset and the flip fails with
    /// `DeviceError(`[`WATCHDOG_RESET`]`)`, the shown buffer too (crate docs, "Faults").
    /// Returns true if it reset.
    pub fn watchdog(&self) -> bool {
        let mut signals = Signals::new();
        let reset = {
            let mut s = self.state.lock();
            let stalled = match s.in_flight.as_mut() {
                Some(f) => {
                    f.idle_ticks += 1;
                    f.idle_ticks > self.config.watchdog_ticks
                }
                None => false,
            };
            if stalled {
                let t = self.config.timings;
                s.recover(&t, FenceError::DeviceError(WATCHDOG_RESET), &mut signals);
            }
            stalled
        };
        signal_all(signals);
        self.pump();
        reset
    }

    /// Programs ready flips while none is in flight; one context at a time (a concurrent
    /// caller, e.g. the interrupt, leaves a request the running one picks up).
    fn pump(&self) {
        self.pump_wanted.store(true, Ordering::SeqCst);
        while self
            .pumping
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            while self.pump_wanted.swap(false, Ordering::SeqCst) {
                self.pump_once();
            }
            self.pumping.store(false, Ordering::Release);
            if !self.pump_wanted.load(Ordering::SeqCst) {
                break;
            }
        }
    }

    fn pump_once(&self) {
        loop {
            if self.state.lock().in_flight.is_some() {
                return;
            }
            // The in-fence is looked at outside the state lock: its callbacks may flip.
            let mut signals = Signals::new();
            match self.flips.next_ready() {
                None => return,
                Some((flip, Err(e))) => {
                    // The frame's producer failed: it never goes on screen.
                    signals.push((flip.presented, Err(e)));
                    signals.push((flip.released, Err(e)));
                }
                Some((flip, Ok(()))) => self.state.lock().arm(flip, &mut signals),
            }
            signal_all(signals);
        }
    }

    fn busy(&self, s: &State<R>) -> bool {
        s.shown.is_some() || s.in_flight.is_some() || !self.flips.is_empty()
    }
}

impl<R: RegisterIo> DisplayControl for Lcdif<R> {
    fn preferred_mode(&self) -> DisplayMode {
        self.config.preferred
    }

    fn mode(&self) -> Option<DisplayMode> {
        self.flips.mode()
    }

    /// The enable sequence (crate docs, "Mode set"). Refused with nothing written: a mode
    /// the LCDIF cannot drive, or a new mode while a frame is shown or queued.
    fn set_mode(&mut self, mode: DisplayMode) -> Result<(), EngineError> {
        check_mode(&mode)?;
        let mut s = self.state.lock();
        if s.mode == Some(mode) {
            return Ok(());
        }
        if self.busy(&s) {
            return Err(EngineError::Unsupported(
                "mode changes while the plane shows or queues a buffer",
            ));
        }
        let t = self.config.timings;
        s.program_mode(&mode, &t);
        self.flips.set_mode(mode);
        Ok(())
    }
}

impl<R: RegisterIo> DisplayService for Lcdif<R> {
    /// Programs a flip whose in-fence has signalled since the driver last ran. Flips are
    /// presented from [`Lcdif::on_interrupt`], so this returns 0.
    fn service(&self) -> usize {
        self.pump();
        0
    }
}

impl<R: RegisterIo> DisplayFlip for Lcdif<R> {
    fn device(&self) -> DeviceId {
        self.config.device
    }

    fn flip<'s, M: MemorySystem>(
        &self,
        locked: Locked<'s, M>,
        fb: Surface<'_>,
        in_fence: Option<&Fence>,
    ) -> Result<FlipFences, Rejected<Locked<'s, M>>> {
        let (fences, queued) = accept_flip(
            locked,
            self.config.device,
            &fb,
            in_fence,
            self.flips.mode(),
            |mode| {
                check_framebuffer(
                    mode,
                    fb.buffer.name(),
                    &fb.desc,
                    fb.buffer.len(),
                    fb.buffer.region().bus(),
                )
            },
            || self.presented.next_fence(),
        )?;
        if let Some(flip) = queued {
            self.flips.push(flip);
            self.pump();
        }
        Ok(fences)
    }
}
