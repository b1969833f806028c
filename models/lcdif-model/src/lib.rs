//! A register-level model of the i.MX 8M Plus LCDIFv3 display controller for host tests.
//! QEMU's imx8mp-evk leaves the LCDIFs unimplemented (hardware.md §3.4); this model is what
//! `drivers/lcdif`'s tests run against.
//!
//! Written from the public sources (Linux `drivers/gpu/drm/mxsfb/lcdif_regs.h`,
//! `lcdif_kms.c`, `lcdif_drv.c`; facts only), apart from the driver: this crate may not
//! depend on it (`xtask/tests/layers.rs`), and its pixel pipeline is its own.
//!
//! # What it does
//!
//! - Implements [`RegisterIo`] and logs every write ([`LcdifModel::writes`]).
//! - The plane registers (CTRLDESCL0_1, _3, LOW0_4, HIGH0_4, _5) are shadowed: writes go
//!   to the pending set, which the controller takes at the next vertical blank when
//!   CTRLDESCL0_5.SHADOW_LOAD_EN is set, then clears that bit (Linux's interrupt handler
//!   counts a vblank as the flip's only once it reads SHADOW_LOAD_EN clear, and
//!   `lcdif_disable_controller` polls it to clear "for the final vblank").
//! - Time passes when the test says so: [`LcdifModel::vblank`] is one frame period while
//!   DISP_ON is set: the blanking interval (latch, VSYNC and VS_BLANK), then the active
//!   frame, fetched from the latched address as a device read through the simulator, so a
//!   framebuffer the CPU left dirty shows as a violation or a wrong pixel; then DMA_DONE.
//!   What was scanned out is [`LcdifModel::screen`] (0x00RRGGBB per pixel).
//! - INT_STATUS_D0 bits are set as events happen; the interrupt line
//!   ([`LcdifModel::irq_pending`]) is status AND INT_ENABLE_D0. Status is write-1-to-clear.
//! - Programming the hardware would misexecute is recorded ([`ModelError`]): timing
//!   registers changed while the output runs, a plane register changed while a shadow load
//!   is pending (the latch would take a torn descriptor), a bad descriptor, an address
//!   outside memory, an unknown register.
//! - Fault injection ([`Fault`]): a hang (no further vblank until SW_RESET), a bus error
//!   (the next frame fetch fails: DMA_ERR, nothing scanned), an underrun (UNDERRUN raised
//!   with the next frame).
//!
//! # Scope
//!
//! One plane covering the whole display (plane size equal to DISP_SIZE), BPP RGB565,
//! ARGB8888 and ABGR8888 (the alpha byte is not used: there is nothing under the plane but
//! the background), LINE_PATTERN 0 (RGB888 out), CSC bypassed. Anything else is recorded
//! as [`ModelError::Unsupported`] rather than guessed. Timings are stored, not simulated:
//! a frame is one [`LcdifModel::vblank`] call.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod regs;

use std::sync::Mutex;

use dmasync_hal::dma::{BusAddr, DeviceId};
use dmasync_hal::mmio::RegisterIo;
use dmasync_sim::NonCoherentSim;

use regs::*;

/// Programming the hardware would reject or misexecute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// An offset the controller has no register at.
    UnknownRegister {
        /// The offset.
        offset: usize,
        /// True for a write.
        write: bool,
    },
    /// CTRL polarity, DISP_SIZE or a sync register written while DISP_ON is set.
    TimingWhileOn {
        /// The register's offset.
        offset: usize,
    },
    /// A plane register written while SHADOW_LOAD_EN was pending: the next latch would
    /// take a mix of the old and new descriptor.
    WriteWhileLoadPending {
        /// The register's offset.
        offset: usize,
    },
    /// A register other than CTRL written while SW_RESET is held.
    WriteInReset {
        /// The register's offset.
        offset: usize,
    },
    /// The latched plane cannot be scanned out as programmed.
    BadDescriptor(&'static str),
    /// Something outside the model's scope (crate docs, "Scope").
    Unsupported(&'static str),
    /// The frame fetch reaches outside memory.
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

/// Injected faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The timing generator stops: no vblank until SW_RESET.
    Hang,
    /// The next frame fetch fails on the bus (DMA_ERR).
    BusError,
    /// The next frame raises UNDERRUN (its pixels still arrive).
    Underrun,
}

/// The plane registers of one set (pending or latched).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Plane {
    size: u32,
    pitch: u32,
    low: u32,
    high: u32,
    ctrl5: u32,
}

#[derive(Debug, Default)]
struct St {
    regs: Vec<u32>,
    pending: Plane,
    active: Plane,
    status: u32,
    hung: bool,
    bus_error: bool,
    underrun: bool,
    errors: Vec<ModelError>,
    writes: Vec<(usize, u32)>,
    screen: Vec<u32>,
    frames: u64,
    latches: u64,
    resets: u64,
}

/// The LCDIFv3 model: a register window plus a scan-out engine that reads frames through
/// the simulator as bus master `dev`.
#[derive(Debug)]
pub struct LcdifModel<'s> {
    sim: &'s NonCoherentSim,
    dev: DeviceId,
    st: Mutex<St>,
}

impl<'s> LcdifModel<'s> {
    /// An LCDIF reading memory through `sim` as device `dev` (registered with the
    /// simulator as a non-coherent master), in its reset state.
    pub fn new(sim: &'s NonCoherentSim, dev: DeviceId) -> Self {
        Self {
            sim,
            dev,
            st: Mutex::new(St {
                regs: vec![0; WINDOW / 4],
                ..St::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arms `fault` (a hang at once; a bus error or underrun for the next frame).
    pub fn inject(&self, fault: Fault) {
        let mut s = self.lock();
        match fault {
            Fault::Hang => s.hung = true,
            Fault::BusError => s.bus_error = true,
            Fault::Underrun => s.underrun = true,
        }
    }

    /// The interrupt line: an INT_STATUS_D0 bit INT_ENABLE_D0 enables.
    pub fn irq_pending(&self) -> bool {
        let s = self.lock();
        s.status & s.regs[INT_ENABLE_D0 / 4] != 0
    }

    /// Every register write so far, in order: (offset, value).
    pub fn writes(&self) -> Vec<(usize, u32)> {
        self.lock().writes.clone()
    }

    /// Programming errors recorded so far.
    pub fn errors(&self) -> Vec<ModelError> {
        self.lock().errors.clone()
    }

    /// The last frame sent to the panel, row by row, 0x00RRGGBB per pixel (empty before
    /// the first frame).
    pub fn screen(&self) -> Vec<u32> {
        self.lock().screen.clone()
    }

    /// The bus address the latched plane scans out, if it is enabled.
    pub fn scanning(&self) -> Option<u64> {
        let s = self.lock();
        (s.active.ctrl5 & EN != 0).then(|| addr(&s.active))
    }

    /// Frames scanned (vblanks that happened).
    pub fn frames(&self) -> u64 {
        self.lock().frames
    }

    /// Shadow loads taken.
    pub fn latches(&self) -> u64 {
        self.lock().latches
    }

    /// SW_RESETs seen.
    pub fn resets(&self) -> u64 {
        self.lock().resets
    }

    /// One frame period: the vertical blank (latch of a pending shadow load, VSYNC,
    /// VS_BLANK), then the active frame from the latched plane (DMA_DONE, or DMA_ERR on a
    /// bus error). Nothing happens while DISP_ON is clear or the controller hangs.
    /// Returns whether the interrupt line is raised afterwards.
    pub fn vblank(&self) -> bool {
        let mut s = self.lock();
        if s.hung || s.regs[DISP_PARA / 4] & DISP_ON == 0 || s.regs[CTRL / 4] & SW_RESET != 0 {
            return s.status & s.regs[INT_ENABLE_D0 / 4] != 0;
        }
        if s.pending.ctrl5 & SHADOW_LOAD_EN != 0 {
            s.pending.ctrl5 &= !SHADOW_LOAD_EN;
            s.active = s.pending;
            s.latches += 1;
        }
        s.status |= INT_VSYNC | INT_VS_BLANK;
        s.frames += 1;
        self.scan(&mut s);
        s.status & s.regs[INT_ENABLE_D0 / 4] != 0
    }

    fn scan(&self, s: &mut St) {
        let size = s.regs[DISP_SIZE / 4];
        let (w, h) = ((size & 0xFFFF) as usize, (size >> 16) as usize);
        let para = s.regs[DISP_PARA / 4];
        if (para >> 26) & 0xF != 0 {
            s.errors.push(ModelError::Unsupported(
                "DISP_PARA.LINE_PATTERN other than 0 (RGB888)",
            ));
        }
        if s.regs[CSC0_CTRL / 4] & 1 == 0 && s.regs[CSC0_CTRL / 4] != 0 {
            s.errors
                .push(ModelError::Unsupported("CSC0 conversion (only bypass)"));
        }
        if std::mem::take(&mut s.underrun) {
            s.status |= INT_UNDERRUN;
        }
        let background = para & 0xFF_FFFF;
        let mut frame = vec![background; w * h];
        let p = s.active;
        if p.ctrl5 & EN != 0 {
            match self.fetch(s, &p, w, h) {
                Some(f) => {
                    frame = f;
                    s.status |= INT_DMA_DONE;
                }
                None => return,
            }
        }
        s.screen = frame;
    }

    /// The latched plane's pixels, or None (error recorded, DMA_ERR on a bus error).
    fn fetch(&self, s: &mut St, p: &Plane, w: usize, h: usize) -> Option<Vec<u32>> {
        let (pw, ph) = ((p.size & 0xFFFF) as usize, (p.size >> 16) as usize);
        if (pw, ph) != (w, h) || w == 0 || h == 0 {
            s.errors.push(ModelError::Unsupported(
                "a plane other than the whole display (CTRLDESCL0_1 != DISP_SIZE)",
            ));
            return None;
        }
        let bpp = (p.ctrl5 >> 24) & 0xF;
        let bytes = match bpp {
            BPP_RGB565 => 2,
            BPP_ARGB8888 | BPP_ABGR8888 => 4,
            _ => {
                s.errors.push(ModelError::Unsupported(
                    "CTRLDESCL0_5.BPP other than RGB565, ARGB8888, ABGR8888",
                ));
                return None;
            }
        };
        let pitch = (p.pitch & 0xFFFF) as usize;
        if pitch < w * bytes {
            s.errors
                .push(ModelError::BadDescriptor("pitch shorter than a row"));
            return None;
        }
        let base = addr(p);
        let len = (pitch * (h - 1) + w * bytes) as u64;
        let c = self.sim.config();
        let inside = base >= c.dram_base
            && base
                .checked_add(len)
                .is_some_and(|e| e <= c.dram_base + c.dram_size as u64);
        if !inside {
            s.errors
                .push(ModelError::AddressOutsideMemory { addr: base, len });
            s.status |= INT_DMA_ERR;
            return None;
        }
        if std::mem::take(&mut s.bus_error) {
            s.errors.push(ModelError::BusError { addr: base });
            s.status |= INT_DMA_ERR;
            return None;
        }
        let mut out = Vec::with_capacity(w * h);
        let mut row = vec![0u8; w * bytes];
        for y in 0..h {
            self.sim
                .device_read(self.dev, BusAddr(base + (y * pitch) as u64), &mut row);
            out.extend(row.chunks_exact(bytes).map(|px| panel_rgb(bpp, px)));
        }
        Some(out)
    }

    fn reset(&self, s: &mut St) {
        s.regs.iter_mut().for_each(|r| *r = 0);
        s.pending = Plane::default();
        s.active = Plane::default();
        s.status = 0;
        s.hung = false;
        s.resets += 1;
    }
}

fn addr(p: &Plane) -> u64 {
    (u64::from(p.high & 0xF) << 32) | u64::from(p.low)
}

/// One pixel as the panel gets it (RGB888 line pattern): 0x00RRGGBB.
fn panel_rgb(bpp: u32, px: &[u8]) -> u32 {
    match bpp {
        BPP_RGB565 => {
            let v = u16::from_le_bytes([px[0], px[1]]) as u32;
            // 5/6-bit channels widened by repeating their top bits.
            let (r, g, b) = (v >> 11, (v >> 5) & 0x3F, v & 0x1F);
            let (r, g, b) = (
                (r << 3) | (r >> 2),
                (g << 2) | (g >> 4),
                (b << 3) | (b >> 2),
            );
            (r << 16) | (g << 8) | b
        }
        BPP_ABGR8888 => {
            // Bytes in memory R, G, B, A.
            (u32::from(px[0]) << 16) | (u32::from(px[1]) << 8) | u32::from(px[2])
        }
        // ARGB8888: the little-endian word 0xAARRGGBB, bytes B, G, R, A.
        _ => (u32::from(px[2]) << 16) | (u32::from(px[1]) << 8) | u32::from(px[0]),
    }
}

impl RegisterIo for LcdifModel<'_> {
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
            CTRL | CTRL_SET | CTRL_CLR => s.regs[CTRL / 4],
            INT_STATUS_D0 => s.status,
            CTRLDESCL0_1 => s.pending.size,
            CTRLDESCL0_3 => s.pending.pitch,
            CTRLDESCL_LOW0_4 => s.pending.low,
            CTRLDESCL_HIGH0_4 => s.pending.high,
            CTRLDESCL0_5 => s.pending.ctrl5,
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
        let ctrl = s.regs[CTRL / 4];
        if ctrl & SW_RESET != 0 && !matches!(offset, CTRL | CTRL_SET | CTRL_CLR) {
            s.errors.push(ModelError::WriteInReset { offset });
            return;
        }
        let on = s.regs[DISP_PARA / 4] & DISP_ON != 0;
        let loading = s.pending.ctrl5 & SHADOW_LOAD_EN != 0;
        match offset {
            CTRL | CTRL_SET | CTRL_CLR => {
                let v = match offset {
                    CTRL => value,
                    CTRL_SET => ctrl | value,
                    _ => ctrl & !value,
                };
                if on && (v ^ ctrl) & 0x1F != 0 {
                    s.errors.push(ModelError::TimingWhileOn { offset });
                }
                if v & SW_RESET != 0 && ctrl & SW_RESET == 0 {
                    self.reset(&mut s);
                }
                s.regs[CTRL / 4] = v;
            }
            DISP_SIZE | HSYN_PARA | VSYN_PARA | VSYN_HSYN_WIDTH => {
                if on && s.regs[offset / 4] != value {
                    s.errors.push(ModelError::TimingWhileOn { offset });
                }
                s.regs[offset / 4] = value;
            }
            INT_STATUS_D0 => s.status &= !value,
            CTRLDESCL0_1 | CTRLDESCL0_3 | CTRLDESCL_LOW0_4 | CTRLDESCL_HIGH0_4 => {
                if loading {
                    s.errors.push(ModelError::WriteWhileLoadPending { offset });
                }
                let p = &mut s.pending;
                match offset {
                    CTRLDESCL0_1 => p.size = value,
                    CTRLDESCL0_3 => p.pitch = value,
                    CTRLDESCL_LOW0_4 => p.low = value,
                    _ => p.high = value,
                }
            }
            CTRLDESCL0_5 => {
                // SHADOW_LOAD_EN is set by software and cleared by the latch only.
                if loading && (value ^ s.pending.ctrl5) & !SHADOW_LOAD_EN != 0 {
                    s.errors.push(ModelError::WriteWhileLoadPending { offset });
                }
                s.pending.ctrl5 = value | (s.pending.ctrl5 & SHADOW_LOAD_EN);
            }
            _ => s.regs[offset / 4] = value,
        }
    }
}
