//! A PL330 register model for host tests, over the non-coherent memory simulator.
//!
//! It behaves as QEMU's model does where the driver can tell (hardware.md §2.2): a DMAGO
//! through DBGCMD runs the channel's program to its end inside the store; DMASEV n sets
//! INT_EVENT_RIS bit n when INTEN bit n is set; INTCLR clears it; a fault stops the channel
//! with FTRn set and FSRC bit n until DMAKILL. It fetches the program and moves the data
//! as a non-coherent bus master (through the simulator's device accesses), so a program
//! the driver did not clean to memory, or a buffer whose maintenance is wrong, shows up as
//! a simulator violation or a wrong byte. A bus range can be made to refuse accesses
//! ([`Pl330Model::refuse`]), as an unmapped address or a firewall would.

use std::ops::Range;
use std::sync::Mutex;
use std::vec;
use std::vec::Vec;

use dmasync_hal::dma::{BusAddr, DeviceId};
use dmasync_sim::NonCoherentSim;

use crate::plan::interp;
use crate::regs::{Pl330Io, Reg};

const IDS: [u32; 8] = [0x30, 0x13, 0x24, 0x00, 0x0D, 0xF0, 0x05, 0xB1];

#[derive(Default)]
struct St {
    inten: u32,
    ris: u32,
    ftr: [u32; 8],
    dbg: [u32; 2],
    refused: Option<Range<u64>>,
    /// Programs started.
    launches: u32,
    kills: u32,
}

pub struct Pl330Model<'s> {
    sim: &'s NonCoherentSim,
    dev: DeviceId,
    cr0: u32,
    crd: u32,
    st: Mutex<St>,
}

impl<'s> Pl330Model<'s> {
    /// Exynos4210's MDMA as QEMU builds it: CR0 = 0x3C0071 (8 channels, 31 events,
    /// hardware.md §2.2), CRD: 64-bit data, 1024-entry buffer.
    pub fn mdma(sim: &'s NonCoherentSim, dev: DeviceId) -> Self {
        Self {
            sim,
            dev,
            cr0: 0x3C_0071,
            crd: 3 | 1023 << 20,
            st: Mutex::new(St::default()),
        }
    }

    /// From now on, loads and stores in `range` fail with a bus error.
    pub fn refuse(&self, range: Range<u64>) {
        self.st.lock().unwrap().refused = Some(range);
    }

    pub fn launches(&self) -> u32 {
        self.st.lock().unwrap().launches
    }

    pub fn kills(&self) -> u32 {
        self.st.lock().unwrap().kills
    }

    fn exec_debug(&self, st: &mut St) {
        let (w0, w1) = (st.dbg[0], st.dbg[1]);
        let opcode = (w0 >> 16) as u8;
        let arg0 = (w0 >> 24) as u8;
        let channel_thread = w0 & 1 != 0;
        match (opcode, channel_thread) {
            (0xA0 | 0xA2, false) => {
                let ch = (arg0 & 7) as usize;
                assert_eq!(st.ftr[ch], 0, "DMAGO on a faulting channel");
                st.launches += 1;
                self.run(st, ch, w1 as u64);
            }
            (0x01, true) => {
                let ch = ((w0 >> 8) & 7) as usize;
                st.ftr[ch] = 0;
                st.kills += 1;
            }
            (0x01, false) => {}
            _ => panic!("debug instruction the driver should not issue: {w0:#x}"),
        }
    }

    fn run(&self, st: &mut St, ch: usize, pc: u64) {
        let mut code = [0u8; 256];
        // SAFETY: the model is the device; the program slot is a region of `sim` the
        // driver owns, and the bytes are read as the controller's instruction fetch.
        unsafe {
            dmasync_hal::dma::DeviceMemory::device_read(self.sim, self.dev, BusAddr(pc), &mut code)
        };
        let trace = match interp::run(&code) {
            Ok(t) => t,
            Err(_) => {
                st.ftr[ch] = 1; // undefined instruction
                return;
            }
        };
        let refused = |a: u64, n: u64| {
            st.refused
                .as_ref()
                .is_some_and(|r| a < r.end && r.start < a + n)
        };
        let mut fifo: Vec<u8> = Vec::new();
        for &(a, n) in &trace.loads {
            if refused(a, n) {
                st.ftr[ch] = 1 << 18;
                return;
            }
            let mut b = vec![0u8; n as usize];
            // SAFETY: as above; the driver validated the span against the locked set.
            unsafe {
                dmasync_hal::dma::DeviceMemory::device_read(self.sim, self.dev, BusAddr(a), &mut b)
            };
            fifo.extend_from_slice(&b);
        }
        let mut at = 0usize;
        for &(a, n) in &trace.stores {
            if refused(a, n) {
                st.ftr[ch] = 1 << 17;
                return;
            }
            // A fill reads one pattern beat per store beat of the same size.
            let data = &fifo[at..at + n as usize];
            at += n as usize;
            // SAFETY: as above.
            unsafe {
                dmasync_hal::dma::DeviceMemory::device_write(self.sim, self.dev, BusAddr(a), data)
            };
        }
        for ev in trace.events {
            if st.inten & (1 << ev) != 0 {
                st.ris |= 1 << ev;
            }
        }
    }
}

impl Pl330Io for Pl330Model<'_> {
    fn read(&self, reg: Reg) -> u32 {
        let st = self.st.lock().unwrap();
        match reg {
            Reg::Id(i) => IDS[i],
            Reg::Cr0 => self.cr0,
            Reg::Crd => self.crd,
            Reg::Inten => st.inten,
            Reg::IntEventRis => st.ris,
            Reg::Fsrc => (0..8)
                .filter(|&c| st.ftr[c] != 0)
                .fold(0, |a, c| a | 1 << c),
            Reg::Ftr(n) => st.ftr[n],
            Reg::Csr(n) => {
                if st.ftr[n] != 0 {
                    0xF
                } else {
                    0
                }
            }
            Reg::Fsrd | Reg::Ftrd | Reg::DbgStatus | Reg::Dsr | Reg::Cpc(_) => 0,
            other => panic!("read of {other:?}"),
        }
    }

    fn write(&self, reg: Reg, value: u32) {
        let mut st = self.st.lock().unwrap();
        match reg {
            Reg::Inten => st.inten = value,
            Reg::Intclr => st.ris &= !value,
            Reg::DbgInst0 => st.dbg[0] = value,
            Reg::DbgInst1 => st.dbg[1] = value,
            Reg::DbgCmd => {
                assert_eq!(value, 0);
                self.exec_debug(&mut st);
            }
            other => panic!("write of {other:?}"),
        }
    }
}
