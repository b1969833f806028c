//! A host model of the FIMD register behaviour the driver depends on, in two flavours:
//!
//! - `Qemu`: as hw/display/exynos4210_fimd.c — a window's address is taken (mapped) by a
//!   write while the window is enabled, the controller on and the window unprotected
//!   (`fimd_update_memory_section`, called from the ADD0/ADD2/VIDOSD/WINCON/SHADOWCON/
//!   VIDCON0 write paths); `frame()` is a display update (it draws the mapped windows and
//!   sets VIDINTCON1.FRAME); the shadow registers are plain stores.
//! - `Hardware`: as the Exynos manuals and vendor kernels describe it — writes only reach
//!   the scan-out at a VSYNC (`vsync()`), for windows not protected in SHADOWCON; the shadow
//!   start registers are read-only and read the latched address; a frame event can also
//!   come without a latch (`frame_event_only()`, the FRAMESEL point of a frame whose VSYNC
//!   came before the unprotect).
//!
//! Both: VIDINTCON1 is write-1-to-clear; VIDCON1's LINECNT/VSTATUS bits are read-only.
//! Every write is logged, so tests can check order and that a refusal wrote nothing.

extern crate std;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use crate::regs::{FimdIo, Reg};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Qemu,
    Hardware,
}

#[derive(Debug)]
pub struct ModelState {
    pub flavour: Flavour,
    regs: BTreeMap<usize, u32>,
    pub log: Vec<(Reg, u32)>,
    /// The address each window scans out from (None: nothing mapped/latched).
    pub scanning: [Option<u32>; 5],
    /// The windows and addresses the last frame drew.
    pub last_frame: Vec<(usize, u32)>,
}

impl ModelState {
    fn get(&self, r: Reg) -> u32 {
        self.regs.get(&r.offset()).copied().unwrap_or(0)
    }

    fn enabled(&self) -> bool {
        self.get(Reg::Vidcon0) & 3 == 3
    }

    fn window_on(&self, w: usize) -> bool {
        self.get(Reg::Wincon(w)) & 1 != 0
    }

    fn protected(&self, w: usize) -> bool {
        self.get(Reg::Shadowcon) & (1 << (10 + w)) != 0
    }

    fn draw(&mut self) {
        self.last_frame = (0..5)
            .filter(|&w| self.window_on(w))
            .filter_map(|w| self.scanning[w].map(|a| (w, a)))
            .collect();
        let pending = self.get(Reg::Vidintcon1) | 2;
        self.regs.insert(Reg::Vidintcon1.offset(), pending);
    }
}

#[derive(Clone, Debug)]
pub struct Model(pub Arc<Mutex<ModelState>>);

impl Model {
    pub fn new(flavour: Flavour) -> Self {
        Model(Arc::new(Mutex::new(ModelState {
            flavour,
            regs: BTreeMap::new(),
            log: Vec::new(),
            scanning: [None; 5],
            last_frame: Vec::new(),
        })))
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, ModelState> {
        self.0.lock().unwrap()
    }

    pub fn reg(&self, r: Reg) -> u32 {
        self.state().get(r)
    }

    pub fn writes(&self) -> usize {
        self.state().log.len()
    }

    /// QEMU: a display update (a screendump under `-display none`).
    pub fn frame(&self) {
        let mut s = self.state();
        assert_eq!(s.flavour, Flavour::Qemu);
        if s.enabled() {
            s.draw();
        }
    }

    /// Hardware: a VSYNC latches unprotected windows, then the frame is scanned out.
    pub fn vsync(&self) {
        let mut s = self.state();
        assert_eq!(s.flavour, Flavour::Hardware);
        for w in 0..5 {
            if !s.protected(w) && s.window_on(w) {
                s.scanning[w] = Some(s.get(Reg::Add0(w)));
            }
        }
        if s.enabled() {
            s.draw();
        }
    }

    /// Hardware: a frame interrupt with no VSYNC latch since the last programming.
    pub fn frame_event_only(&self) {
        let mut s = self.state();
        let pending = s.get(Reg::Vidintcon1) | 2;
        s.regs.insert(Reg::Vidintcon1.offset(), pending);
    }
}

impl FimdIo for Model {
    fn read(&self, reg: Reg) -> u32 {
        let s = self.state();
        match (reg, s.flavour) {
            (Reg::ShdAdd0(w), Flavour::Hardware) => s.scanning[w].unwrap_or(0),
            _ => s.get(reg),
        }
    }

    fn write(&self, reg: Reg, value: u32) {
        let mut s = self.state();
        s.log.push((reg, value));
        let off = reg.offset();
        match (reg, s.flavour) {
            (Reg::Vidintcon1, _) => {
                let v = s.get(reg) & !(value & 7);
                s.regs.insert(off, v);
            }
            (Reg::Vidcon1, _) => {
                let ro = 0x07FF_E000;
                let v = (value & !ro) | (s.get(reg) & ro);
                s.regs.insert(off, v);
            }
            (Reg::ShdAdd0(_), Flavour::Hardware) => {}
            _ => {
                s.regs.insert(off, value);
            }
        }
        if s.flavour == Flavour::Qemu && s.enabled() {
            for w in 0..5 {
                if s.window_on(w) && !s.protected(w) {
                    s.scanning[w] = Some(s.get(Reg::Add0(w)));
                }
            }
        }
    }
}
