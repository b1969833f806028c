//! A register-level model of one i.MX 8M Plus ISI channel's memory-to-memory path for host
//! tests: memory read input, scaler, colour-space converter, flip and output buffer. QEMU
//! models no ISI (its `imx8mp-evk` maps an unimplemented device there); this model is what
//! the driver's tests run against.
//!
//! Written from the public documentation (Linux `imx8-isi-regs.h`, `imx8-isi-hw.c`,
//! `imx8-isi-m2m.c`, `imx8-isi-video.c`'s format table — facts only — and hardware.md §3.5),
//! apart from the driver: this crate may not depend on it (`xtask/tests/layers.rs`), and its
//! pixel pipeline is its own: it decodes the CSC coefficients the driver programs and
//! applies them, steps the scaler by the programmed factor and offset, and checks the output
//! size the way Linux says the hardware computes it (rounded up: `ceil(in * 4096 / factor)`).
//!
//! # What it does
//!
//! - Implements [`RegisterIo`]; every write is logged ([`IsiModel::writes`]).
//! - Setting `CHNL_MEM_RD_CTRL.READ_MEM` (after it was clear, as `mxc_isi_channel_m2m_start`
//!   does it) starts a frame; the channel is busy until the test lets time pass
//!   ([`IsiModel::run`]): then it reads the input through the simulator as a device, runs
//!   the pipeline, writes the output as a device, and sets `FRM_STRD` (with
//!   `MEM_RD_DONE`) in `CHNL_STS`. The interrupt line ([`IsiModel::irq_pending`]) is
//!   `CHNL_STS & CHNL_IER`.
//! - Programming the hardware would reject or misexecute is recorded ([`ModelError`],
//!   [`IsiModel::errors`]) and that frame is not executed: a register written while busy,
//!   a channel not enabled for memory input, zero or oversized sizes, pitches shorter than a
//!   line, up-scaling (the ISI scales down only), an output size that does not match the
//!   scale factor, bypass with processing programmed, a CSC/scaler mode that does not fit the
//!   formats, addresses outside memory.
//! - Fault injection ([`Fault`]): a hang (the frame never completes until `SW_RST`) and a
//!   bus error (the first memory access fails: the ISI reports it, `AXI_RD_ERR`, with its
//!   interrupt if enabled, and the frame stops).
//!
//! # Scope and assumptions
//!
//! Input types XRGB8 (bytes B, G, R, X as Linux's table maps `XBGR32` to it), RGB565 and
//! YUV422_1P8P (Y0 U Y1 V); output formats ARGB8888, XRGB888 and RGB565. The scaler is
//! modelled as nearest sampling at `(offset + i * factor) >> 12`: the public sources give
//! the factor's format but not the filter, so a real ISI may interpolate (doc/testing.md).
//! The 4:2:2 chroma of a pixel is its pair's. The CSC rounds `(sum + 128) >> 8` and
//! clamps; the top byte of a 32-bit output is GBL_ALPHA_VAL when GBL_ALPHA_EN is set, else
//! 0xFF; RGB565 output truncates. Decimation, output cropping, line-buffer chaining and the
//! other formats are recorded as [`ModelError::Unsupported`] rather than guessed.
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
    /// A register other than CHNL_STS (write-1-clear) or a CHNL_CTRL SW_RST was written
    /// while a frame ran.
    WriteWhileBusy {
        /// The register's offset.
        offset: usize,
    },
    /// An offset the model has no register at.
    UnknownRegister {
        /// The offset.
        offset: usize,
    },
    /// A frame started on a channel without CHNL_EN, CLK_EN or memory input.
    NotEnabled,
    /// An input or output size of zero, or wider than the 2048-pixel line buffer.
    BadSize {
        /// "input" or "output".
        which: &'static str,
    },
    /// A line pitch shorter than a line.
    BadPitch {
        /// "input" or "output".
        which: &'static str,
    },
    /// A scale factor below 1.0 (0x1000): the ISI does not scale up.
    UpScale,
    /// The output size CHNL_SCL_IMG_CFG gives is not what the factor produces.
    ScaleMismatch,
    /// CHNL_BYPASS with scaling or colour conversion programmed.
    BypassWithProcessing,
    /// The CSC or YCBCR_MODE setting does not fit the input and output formats.
    CscMismatch,
    /// Something the model does not execute (crate docs, "Scope").
    Unsupported(&'static str),
    /// An access reaching outside memory (the ISI then reports an AXI error).
    AddressOutsideMemory {
        /// Bus address of the first byte.
        addr: u64,
        /// Bytes.
        len: u64,
    },
    /// The injected bus error, at this access.
    BusError {
        /// Bus address of the access.
        addr: u64,
    },
}

/// Injected faults, applied to the next frame started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Never completes; busy until SW_RST.
    Hang,
    /// The first memory access fails with an AXI read error.
    BusError,
}

#[derive(Debug, Default)]
struct St {
    regs: Vec<u32>,
    busy: bool,
    hung: bool,
    armed: Option<Fault>,
    bus_error: bool,
    errors: Vec<ModelError>,
    writes: Vec<(usize, u32)>,
    frames: u32,
    resets: u32,
}

impl St {
    fn reg(&self, offset: usize) -> u32 {
        self.regs[offset / 4]
    }
}

/// A pixel inside the pipeline: three channels (R, G, B or Y, U, V).
type Px = [i32; 3];

/// The ISI channel model: a register window and a pipeline moving pixels through the
/// simulator as bus master `dev`.
#[derive(Debug)]
pub struct IsiModel<'s> {
    sim: &'s NonCoherentSim,
    dev: DeviceId,
    st: Mutex<St>,
}

const REG_WORDS: usize = 0x100 / 4;
const LINE_BUFFER: u32 = 2048;

impl<'s> IsiModel<'s> {
    /// An ISI channel reaching memory through `sim` as device `dev` (registered with the
    /// simulator as a non-coherent master), in its reset state.
    pub fn new(sim: &'s NonCoherentSim, dev: DeviceId) -> Self {
        Self {
            sim,
            dev,
            st: Mutex::new(St {
                regs: vec![0; REG_WORDS],
                ..St::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arms `fault` for the next frame started.
    pub fn inject(&self, fault: Fault) {
        self.lock().armed = Some(fault);
    }

    /// True while a frame runs (started, not completed, or hung).
    pub fn busy(&self) -> bool {
        self.lock().busy
    }

    /// The interrupt line: a CHNL_STS bit CHNL_IER enables.
    pub fn irq_pending(&self) -> bool {
        let s = self.lock();
        s.reg(CHNL_STS) & s.reg(CHNL_IER) != 0
    }

    /// Every register write so far: (offset, value).
    pub fn writes(&self) -> Vec<(usize, u32)> {
        self.lock().writes.clone()
    }

    /// Programming errors recorded so far.
    pub fn errors(&self) -> Vec<ModelError> {
        self.lock().errors.clone()
    }

    /// Frames executed to the end.
    pub fn frames(&self) -> u32 {
        self.lock().frames
    }

    /// Channel software resets (CHNL_CTRL SW_RST) seen.
    pub fn resets(&self) -> u32 {
        self.lock().resets
    }

    /// Lets time pass: runs the started frame to its end (unless it hangs or fails) and
    /// returns true if the interrupt line is then raised.
    pub fn run(&self) -> bool {
        let mut s = self.lock();
        if s.busy && !s.hung {
            let ok = self.frame(&mut s);
            if s.bus_error {
                // The frame stopped at the failing access and reported it.
                s.regs[CHNL_STS / 4] |= STS_AXI_RD_ERR;
                s.hung = true;
            } else if ok {
                s.regs[CHNL_STS / 4] |= STS_FRM_STRD | STS_MEM_RD_DONE;
                s.frames += 1;
                s.busy = false;
            } else {
                // Refused programming: nothing moves, nothing completes.
                s.busy = false;
            }
        }
        s.reg(CHNL_STS) & s.reg(CHNL_IER) != 0
    }

    fn reset(s: &mut St) {
        s.regs.iter_mut().for_each(|r| *r = 0);
        s.busy = false;
        s.hung = false;
        s.bus_error = false;
        s.resets += 1;
    }

    fn start(s: &mut St) {
        s.busy = true;
        match s.armed.take() {
            Some(Fault::Hang) => s.hung = true,
            Some(Fault::BusError) => s.bus_error = true,
            None => {}
        }
    }

    fn in_memory(&self, addr: u64, len: u64) -> bool {
        let c = self.sim.config();
        addr >= c.dram_base
            && addr
                .checked_add(len)
                .is_some_and(|e| e <= c.dram_base + c.dram_size as u64)
    }

    /// Checks an access; an address outside memory is an AXI error the ISI reports.
    fn access(&self, s: &mut St, addr: u64, len: usize, write: bool) -> bool {
        if s.bus_error {
            s.errors.push(ModelError::BusError { addr });
            return false;
        }
        if !self.in_memory(addr, len as u64) {
            s.errors.push(ModelError::AddressOutsideMemory {
                addr,
                len: len as u64,
            });
            s.regs[CHNL_STS / 4] |= if write {
                STS_AXI_WR_ERR_Y
            } else {
                STS_AXI_RD_ERR
            };
            return false;
        }
        true
    }

    fn refuse(s: &mut St, e: ModelError) -> bool {
        s.errors.push(e);
        false
    }

    /// Runs one frame; false if it was refused or stopped.
    fn frame(&self, s: &mut St) -> bool {
        let ctrl = s.reg(CHNL_CTRL);
        if ctrl & (CTRL_CHNL_EN | CTRL_CLK_EN | CTRL_SRC_MEMORY)
            != CTRL_CHNL_EN | CTRL_CLK_EN | CTRL_SRC_MEMORY
            || ctrl & CTRL_SW_RST != 0
        {
            return Self::refuse(s, ModelError::NotEnabled);
        }
        if ctrl & (3 << 25) != 0 {
            return Self::refuse(s, ModelError::Unsupported("line-buffer chaining"));
        }
        let img = s.reg(CHNL_IMG_CTRL);
        let (in_w, in_h) = (
            s.reg(CHNL_IMG_CFG) & 0x1FFF,
            (s.reg(CHNL_IMG_CFG) >> 16) & 0x1FFF,
        );
        let scl = s.reg(CHNL_SCL_IMG_CFG);
        let (out_w, out_h) = (scl & 0x1FFF, (scl >> 16) & 0x1FFF);
        if in_w == 0 || in_h == 0 || in_w > LINE_BUFFER {
            return Self::refuse(s, ModelError::BadSize { which: "input" });
        }
        if out_w == 0 || out_h == 0 {
            return Self::refuse(s, ModelError::BadSize { which: "output" });
        }
        if img & (0xF << 8) != 0 {
            return Self::refuse(s, ModelError::Unsupported("decimation"));
        }
        if img & IMG_CROP_EN != 0 {
            return Self::refuse(s, ModelError::Unsupported("output cropping"));
        }
        let in_type = s.reg(CHNL_MEM_RD_CTRL) >> 28;
        let (in_bpp, in_yuv) = match in_type {
            IN_XRGB8 => (4, false),
            IN_RGB565 => (2, false),
            IN_YUV422_1P8P => (2, true),
            _ => return Self::refuse(s, ModelError::Unsupported("memory input type")),
        };
        if in_yuv && !in_w.is_multiple_of(2) {
            return Self::refuse(s, ModelError::BadSize { which: "input" });
        }
        let out_format = (img >> 24) & 0x3F;
        let out_bpp = match out_format {
            OUT_ARGB8888 | OUT_XRGB888 => 4,
            OUT_RGB565 => 2,
            _ => return Self::refuse(s, ModelError::Unsupported("output format")),
        };
        let in_pitch = (s.reg(CHNL_IN_BUF_PITCH) & 0xFFFF) as u64;
        let out_pitch = (s.reg(CHNL_OUT_BUF_PITCH) & 0xFFFF) as u64;
        if in_pitch < in_w as u64 * in_bpp {
            return Self::refuse(s, ModelError::BadPitch { which: "input" });
        }
        if out_pitch < out_w as u64 * out_bpp {
            return Self::refuse(s, ModelError::BadPitch { which: "output" });
        }
        // The scaler: 1.12 factors, output size rounded up (Linux, "The ISI hardware rounds
        // the actual output size up to an integer").
        let f = s.reg(CHNL_SCALE_FACTOR);
        let (fx, fy) = ((f & 0x3FFF) as u64, ((f >> 16) & 0x3FFF) as u64);
        let off = s.reg(CHNL_SCALE_OFFSET);
        let (ox, oy) = ((off & 0xFFF) as u64, ((off >> 16) & 0xFFF) as u64);
        let bypass = ctrl & CTRL_BYPASS != 0;
        let scaling = !bypass;
        if scaling {
            if fx < 0x1000 || fy < 0x1000 {
                return Self::refuse(s, ModelError::UpScale);
            }
            let size = |n: u32, f: u64| (n as u64 * 4096).div_ceil(f);
            if size(in_w, fx) != out_w as u64 || size(in_h, fy) != out_h as u64 {
                return Self::refuse(s, ModelError::ScaleMismatch);
            }
        } else if in_w != out_w || in_h != out_h {
            return Self::refuse(s, ModelError::BypassWithProcessing);
        }
        // The CSC: YUV input to RGB output needs YCbCr-to-RGB; RGB input passes.
        let csc_bypass = img & IMG_CSC_BYPASS != 0;
        let csc_mode = (img >> 1) & 3;
        let scaler_yuv = img & IMG_YCBCR_MODE != 0;
        if scaler_yuv != in_yuv {
            return Self::refuse(s, ModelError::CscMismatch);
        }
        if in_yuv && (csc_bypass || csc_mode != CSC_MODE_YCBCR2RGB) {
            return Self::refuse(s, ModelError::CscMismatch);
        }
        if !in_yuv && !csc_bypass {
            return Self::refuse(s, ModelError::CscMismatch);
        }
        if bypass && in_yuv {
            return Self::refuse(s, ModelError::BypassWithProcessing);
        }
        let coeff = self.coefficients(s);
        let alpha = if img & IMG_GBL_ALPHA_EN != 0 {
            (img >> 16) & 0xFF
        } else {
            0xFF
        };

        // Read the whole input frame (the memory read channel), as device reads.
        let in_addr = s.reg(CHNL_IN_BUF_ADDR) as u64;
        let line = in_w as usize * in_bpp as usize;
        let mut input: Vec<Vec<Px>> = Vec::with_capacity(in_h as usize);
        let mut raw = vec![0u8; line];
        for y in 0..in_h as u64 {
            let at = in_addr + y * in_pitch;
            if !self.access(s, at, line, false) {
                return false;
            }
            self.sim.device_read(self.dev, BusAddr(at), &mut raw);
            input.push(decode_line(&raw, in_type));
        }

        // Scale (nearest at the phase the offset and factor give), convert, flip, store.
        let out_addr = s.reg(CHNL_OUT_BUF1_ADDR_Y) as u64;
        let out_line = out_w as usize * out_bpp as usize;
        let (fx, fy) = if scaling { (fx, fy) } else { (4096, 4096) };
        let (ox, oy) = if scaling { (ox, oy) } else { (0, 0) };
        let hflip = img & IMG_HFLIP != 0;
        let vflip = img & IMG_VFLIP != 0;
        let mut out = vec![0u8; out_line];
        for j in 0..out_h {
            let sy = (((oy + j as u64 * fy) >> 12) as usize).min(in_h as usize - 1);
            for i in 0..out_w {
                let sx = (((ox + i as u64 * fx) >> 12) as usize).min(in_w as usize - 1);
                let p = input[sy][sx];
                let rgb = if in_yuv { csc(&coeff, p) } else { p };
                let col = if hflip { out_w - 1 - i } else { i } as usize;
                encode(&mut out, col, out_format, rgb, alpha);
            }
            let row = if vflip { out_h - 1 - j } else { j } as u64;
            let at = out_addr + row * out_pitch;
            if !self.access(s, at, out_line, true) {
                return false;
            }
            self.sim.device_write(self.dev, BusAddr(at), &out);
        }
        true
    }

    /// The CSC matrix and offsets as programmed: 11-bit signed coefficients (8 fraction
    /// bits) A1 A2 A3 / B1 B2 B3 / C1 C2 C3 and 9-bit signed offsets D1 D2 D3.
    fn coefficients(&self, s: &St) -> ([[i32; 3]; 3], [i32; 3]) {
        let c = |i: usize| s.reg(CHNL_CSC_COEFF0 + 4 * i);
        let s11 = |v: u32| ((v & 0x7FF) as i32) << 21 >> 21;
        let s9 = |v: u32| ((v & 0x1FF) as i32) << 23 >> 23;
        let (lo, hi) = (|v: u32| v, |v: u32| v >> 16);
        let a = [s11(lo(c(0))), s11(hi(c(0))), s11(lo(c(1)))];
        let b = [s11(hi(c(1))), s11(lo(c(2))), s11(hi(c(2)))];
        let cc = [s11(lo(c(3))), s11(hi(c(3))), s11(lo(c(4)))];
        let d = [s9(hi(c(4))), s9(lo(c(5))), s9(hi(c(5)))];
        ([a, b, cc], d)
    }
}

/// One input line as pixels: RGB for the RGB types, Y U V (4:2:2 chroma repeated over the
/// pair) for YUV422.
fn decode_line(raw: &[u8], in_type: u32) -> Vec<Px> {
    match in_type {
        IN_XRGB8 => raw
            .chunks_exact(4)
            .map(|b| [b[2] as i32, b[1] as i32, b[0] as i32])
            .collect(),
        IN_RGB565 => raw
            .chunks_exact(2)
            .map(|b| {
                let v = u16::from_le_bytes([b[0], b[1]]) as i32;
                let (r, g, bl) = ((v >> 11) & 0x1F, (v >> 5) & 0x3F, v & 0x1F);
                // Each field widened to 8 bits by repeating its top bits.
                [
                    (r << 3) | (r >> 2),
                    (g << 2) | (g >> 4),
                    (bl << 3) | (bl >> 2),
                ]
            })
            .collect(),
        _ => raw
            .chunks_exact(4)
            .flat_map(|q| {
                let (u, v) = (q[1] as i32, q[3] as i32);
                [[q[0] as i32, u, v], [q[2] as i32, u, v]]
            })
            .collect(),
    }
}

/// The colour-space converter with the programmed matrix, rounding `(sum + 128) >> 8`.
fn csc((m, d): &([[i32; 3]; 3], [i32; 3]), p: Px) -> Px {
    let t = [p[0] + d[0], p[1] + d[1], p[2] + d[2]];
    let row = |r: &[i32; 3]| ((r[0] * t[0] + r[1] * t[1] + r[2] * t[2] + 128) >> 8).clamp(0, 255);
    [row(&m[0]), row(&m[1]), row(&m[2])]
}

fn encode(out: &mut [u8], col: usize, format: u32, rgb: Px, alpha: u32) {
    let [r, g, b] = rgb.map(|c| c as u32);
    match format {
        OUT_RGB565 => {
            let v = ((r >> 3) << 11 | (g >> 2) << 5 | (b >> 3)) as u16;
            out[col * 2..col * 2 + 2].copy_from_slice(&v.to_le_bytes());
        }
        _ => out[col * 4..col * 4 + 4].copy_from_slice(&[b as u8, g as u8, r as u8, alpha as u8]),
    }
}

impl RegisterIo for IsiModel<'_> {
    fn read32(&self, offset: usize) -> u32 {
        let s = self.lock();
        if !offset.is_multiple_of(4) || offset / 4 >= REG_WORDS {
            return 0;
        }
        s.reg(offset)
    }

    fn write32(&self, offset: usize, value: u32) {
        let mut s = self.lock();
        s.writes.push((offset, value));
        if !offset.is_multiple_of(4) || !KNOWN.contains(&offset) {
            s.errors.push(ModelError::UnknownRegister { offset });
            return;
        }
        let reset = offset == CHNL_CTRL && value & CTRL_SW_RST != 0;
        if s.busy && offset != CHNL_STS && !reset {
            s.errors.push(ModelError::WriteWhileBusy { offset });
            return;
        }
        match offset {
            CHNL_STS => s.regs[CHNL_STS / 4] &= !value,
            CHNL_CTRL if reset => {
                Self::reset(&mut s);
                s.regs[CHNL_CTRL / 4] = value;
            }
            CHNL_MEM_RD_CTRL => {
                let was = s.reg(CHNL_MEM_RD_CTRL) & MEM_RD_READ_MEM;
                s.regs[offset / 4] = value;
                if was == 0 && value & MEM_RD_READ_MEM != 0 {
                    Self::start(&mut s);
                }
            }
            _ => s.regs[offset / 4] = value,
        }
    }
}
