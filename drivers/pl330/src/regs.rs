//! The PL330 registers this driver uses.
//!
//! Offsets from the PL330 TRM (ARM DDI 0424, "Register summary"), Linux
//! `drivers/dma/pl330.c` (`DS`, `INTEN`, `ES`, `INTCLR`, `FSC`, `FTC(n)`, `CS(n)`, `SA(n)`
//! ..., `DBGSTATUS`, `DBGCMD`, `DBGINST0/1`, `CRD`) and QEMU `hw/dma/pl330.c`
//! (`PL330_REG_*`, `pl330_iomem_read_imp`); all three agree on every register used here
//! (hardware.md §2.2, §3.3). The accesses go through [`Pl330Io`], whose target
//! implementation is the tock-registers block [`Pl330Registers`], so the driver's logic
//! runs on the host against a model.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

/// Channels a PL330 can have (CR0.NUM_CHNLS is 3 bits).
pub const MAX_CHANNELS: usize = 8;

/// One channel's address, control and loop registers (0x400 + 0x20 n).
#[repr(C)]
#[allow(missing_debug_implementations)] // registers are not read for Debug (side effects)
pub struct ChannelRegisters {
    /// SARn: the source address.
    pub sar: ReadWrite<u32>,
    /// DARn: the destination address.
    pub dar: ReadWrite<u32>,
    /// CCRn: the channel control register.
    pub ccr: ReadWrite<u32>,
    /// LC0n.
    pub lc0: ReadWrite<u32>,
    /// LC1n.
    pub lc1: ReadWrite<u32>,
    _reserved: [u32; 3],
}

register_structs! {
    /// The PL330 register block (4 KiB, `PL330_IOMEM_SIZE` in QEMU).
    pub Pl330Registers {
        /// DSR: the manager's status.
        (0x000 => pub dsr: ReadWrite<u32>),
        /// DPC: the manager's program counter.
        (0x004 => pub dpc: ReadWrite<u32>),
        (0x008 => _reserved0),
        /// INTEN: event n raises interrupt n (instead of being an event) when bit n is set.
        (0x020 => pub inten: ReadWrite<u32>),
        /// INT_EVENT_RIS: raw event/interrupt status.
        (0x024 => pub int_event_ris: ReadWrite<u32>),
        /// INTMIS: interrupt status after INTEN.
        (0x028 => pub intmis: ReadWrite<u32>),
        /// INTCLR (write-only): write 1 to clear interrupt n.
        (0x02C => pub intclr: ReadWrite<u32>),
        /// FSRD: bit 0 set while the manager is faulting.
        (0x030 => pub fsrd: ReadWrite<u32>),
        /// FSRC: bit n set while channel n is faulting.
        (0x034 => pub fsrc: ReadWrite<u32>),
        /// FTRD: the manager's fault type.
        (0x038 => pub ftrd: ReadWrite<u32>),
        (0x03C => _reserved1),
        /// FTRn: channel n's fault type.
        (0x040 => pub ftr: [ReadWrite<u32>; MAX_CHANNELS]),
        (0x060 => _reserved2),
        /// CSRn / CPCn: channel n's status and program counter.
        (0x100 => pub csr_cpc: [[ReadWrite<u32>; 2]; MAX_CHANNELS]),
        (0x140 => _reserved3),
        /// Per channel SAR, DAR, CCR, LC0, LC1.
        (0x400 => pub channel: [ChannelRegisters; MAX_CHANNELS]),
        (0x500 => _reserved4),
        /// DBGSTATUS: bit 0 set while a debug instruction executes.
        (0xD00 => pub dbgstatus: ReadWrite<u32>),
        /// DBGCMD: writing 0 executes the instruction in DBGINST0/1.
        (0xD04 => pub dbgcmd: ReadWrite<u32>),
        /// DBGINST0: instruction bytes 0 and 1, channel number, manager/channel thread.
        (0xD08 => pub dbginst0: ReadWrite<u32>),
        /// DBGINST1: instruction bytes 2 to 5.
        (0xD0C => pub dbginst1: ReadWrite<u32>),
        (0xD10 => _reserved5),
        /// CR0..CR4, CRD: the configuration the controller was built with.
        (0xE00 => pub cr: [ReadWrite<u32>; 6]),
        (0xE18 => _reserved6),
        /// PERIPH_ID0..3, PCELL_ID0..3.
        (0xFE0 => pub id: [ReadWrite<u32>; 8]),
        (0x1000 => @END),
    }
}

/// A register this driver reads or writes; `n` is a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// DSR.
    Dsr,
    /// INTEN.
    Inten,
    /// INT_EVENT_RIS.
    IntEventRis,
    /// INTCLR.
    Intclr,
    /// FSRD.
    Fsrd,
    /// FSRC.
    Fsrc,
    /// FTRD.
    Ftrd,
    /// FTRn.
    Ftr(usize),
    /// CSRn.
    Csr(usize),
    /// CPCn.
    Cpc(usize),
    /// DBGSTATUS.
    DbgStatus,
    /// DBGCMD.
    DbgCmd,
    /// DBGINST0.
    DbgInst0,
    /// DBGINST1.
    DbgInst1,
    /// CR0.
    Cr0,
    /// CRD.
    Crd,
    /// PERIPH_ID0..3 and PCELL_ID0..3 (index 0..8).
    Id(usize),
}

impl Reg {
    /// The register's byte offset in the block.
    pub const fn offset(self) -> usize {
        match self {
            Reg::Dsr => 0x000,
            Reg::Inten => 0x020,
            Reg::IntEventRis => 0x024,
            Reg::Intclr => 0x02C,
            Reg::Fsrd => 0x030,
            Reg::Fsrc => 0x034,
            Reg::Ftrd => 0x038,
            Reg::Ftr(n) => 0x040 + 4 * n,
            Reg::Csr(n) => 0x100 + 8 * n,
            Reg::Cpc(n) => 0x104 + 8 * n,
            Reg::DbgStatus => 0xD00,
            Reg::DbgCmd => 0xD04,
            Reg::DbgInst0 => 0xD08,
            Reg::DbgInst1 => 0xD0C,
            Reg::Cr0 => 0xE00,
            Reg::Crd => 0xE14,
            Reg::Id(i) => 0xFE0 + 4 * i,
        }
    }
}

/// CSRn bits 3:0: the channel's state; 0 = stopped (TRM "Channel Status Registers"; QEMU
/// `pl330_chan_stopped`).
pub const CSR_STATE_MASK: u32 = 0xF;
/// CSRn state: faulting (TRM; QEMU `pl330_chan_fault`).
pub const CSR_STATE_FAULTING: u32 = 0xF;
/// CSRn state: faulting, completing (QEMU `pl330_chan_fault_completing`).
pub const CSR_STATE_FAULT_COMPLETING: u32 = 0xE;
/// DBGSTATUS bit 0: the debug interface is busy.
pub const DBGSTATUS_BUSY: u32 = 1;
/// CR0 bit 2: the manager runs non-secure after reset (DMAGO must then be non-secure).
pub const CR0_MGR_NS: u32 = 1 << 2;

/// Register access to one PL330. The target implementation is [`Pl330Mmio`].
pub trait Pl330Io {
    /// Reads `reg`.
    fn read(&self, reg: Reg) -> u32;
    /// Writes `value` to `reg`.
    fn write(&self, reg: Reg, value: u32);
}

/// A PL330 reached through its memory-mapped register block.
pub struct Pl330Mmio {
    regs: &'static Pl330Registers,
}

impl core::fmt::Debug for Pl330Mmio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Reading registers from Debug would be a side effect: show the address.
        f.debug_struct("Pl330Mmio")
            .field("regs", &(self.regs as *const Pl330Registers))
            .finish()
    }
}

// SAFETY: the block is device memory reachable from every core; the value only holds its
// address, and the driver that owns it serializes every access under its state lock.
unsafe impl Send for Pl330Mmio {}

impl Pl330Mmio {
    /// Wraps the register block. The board crate makes the reference, in its one place for
    /// device pointers.
    ///
    /// # Safety
    ///
    /// `regs` is a PL330's register block, mapped as device memory for the rest of the
    /// program, and nothing else drives the controller: its channels read programs and move
    /// data wherever they are told, so whoever writes these registers decides what memory
    /// the controller touches.
    pub unsafe fn new(regs: &'static Pl330Registers) -> Self {
        Self { regs }
    }
}

impl Pl330Io for Pl330Mmio {
    fn read(&self, reg: Reg) -> u32 {
        let r = self.regs;
        match reg {
            Reg::Dsr => r.dsr.get(),
            Reg::Inten => r.inten.get(),
            Reg::IntEventRis => r.int_event_ris.get(),
            // Write-only on the hardware (QEMU reads 0).
            Reg::Intclr => 0,
            Reg::Fsrd => r.fsrd.get(),
            Reg::Fsrc => r.fsrc.get(),
            Reg::Ftrd => r.ftrd.get(),
            Reg::Ftr(n) => r.ftr[n].get(),
            Reg::Csr(n) => r.csr_cpc[n][0].get(),
            Reg::Cpc(n) => r.csr_cpc[n][1].get(),
            Reg::DbgStatus => r.dbgstatus.get(),
            Reg::DbgCmd => 0,
            Reg::DbgInst0 => 0,
            Reg::DbgInst1 => 0,
            Reg::Cr0 => r.cr[0].get(),
            Reg::Crd => r.cr[5].get(),
            Reg::Id(i) => r.id[i].get(),
        }
    }

    fn write(&self, reg: Reg, value: u32) {
        let r = self.regs;
        match reg {
            Reg::Inten => r.inten.set(value),
            Reg::Intclr => r.intclr.set(value),
            Reg::DbgCmd => r.dbgcmd.set(value),
            Reg::DbgInst0 => r.dbginst0.set(value),
            Reg::DbgInst1 => r.dbginst1.set(value),
            // Read-only registers: a write would be a driver bug, and the controller
            // ignores it (QEMU logs "bad write offset").
            _ => debug_assert!(false, "write to read-only PL330 register {reg:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn the_block_matches_the_trm_linux_and_qemu_offsets() {
        assert_eq!(core::mem::size_of::<Pl330Registers>(), 0x1000);
        assert_eq!(core::mem::size_of::<ChannelRegisters>(), 0x20);
        assert_eq!(offset_of!(Pl330Registers, inten), Reg::Inten.offset());
        assert_eq!(
            offset_of!(Pl330Registers, int_event_ris),
            Reg::IntEventRis.offset()
        );
        assert_eq!(offset_of!(Pl330Registers, intclr), Reg::Intclr.offset());
        assert_eq!(offset_of!(Pl330Registers, fsrc), Reg::Fsrc.offset());
        assert_eq!(offset_of!(Pl330Registers, ftr), Reg::Ftr(0).offset());
        assert_eq!(offset_of!(Pl330Registers, csr_cpc), Reg::Csr(0).offset());
        assert_eq!(offset_of!(Pl330Registers, dbgstatus), 0xD00);
        assert_eq!(offset_of!(Pl330Registers, dbginst1), 0xD0C);
        assert_eq!(offset_of!(Pl330Registers, cr), Reg::Cr0.offset());
        assert_eq!(Reg::Crd.offset(), 0xE14);
        assert_eq!(offset_of!(Pl330Registers, id), 0xFE0);
        // Linux FTC(n) 0x40 + 4n, CS(n) 0x100 + 8n, CPC(n) 0x104 + 8n.
        assert_eq!(Reg::Ftr(7).offset(), 0x5C);
        assert_eq!(Reg::Csr(3).offset(), 0x118);
        assert_eq!(Reg::Cpc(3).offset(), 0x11C);
    }
}
