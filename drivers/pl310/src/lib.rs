//! The ARM L2C-310 (PL310) outer cache: maintenance by physical address.
//!
//! Register offsets from the public L2C-310 TRM and Linux
//! `arch/arm/include/asm/hardware/cache-l2x0.h`; QEMU's `hw/misc/arm_l2x0.c` models the same
//! block as register storage only (operations read back as complete; it caches nothing).
#![no_std]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

use dmasync_hal::cache::OuterCache;

register_structs! {
    /// The PL310 registers dmasync uses.
    pub Pl310Registers {
        /// Part number and RTL revision.
        (0x000 => pub cache_id: ReadOnly<u32>),
        /// Cache geometry.
        (0x004 => pub cache_type: ReadOnly<u32>),
        (0x008 => _reserved0),
        /// Bit 0 enables the cache (secure-only on most SoCs).
        (0x100 => pub ctrl: ReadWrite<u32>),
        /// Auxiliary control (ways, way size, policies).
        (0x104 => pub aux_ctrl: ReadWrite<u32>),
        (0x108 => _reserved1),
        /// Write 0; bit 0 reads 1 while earlier operations are in progress.
        (0x730 => pub cache_sync: ReadWrite<u32>),
        (0x734 => _reserved2),
        /// Invalidate the line holding this physical address.
        (0x770 => pub inv_line_pa: ReadWrite<u32>),
        (0x774 => _reserved3),
        /// Invalidate by way: write a mask of ways; each bit reads 1 until its way is done.
        (0x77C => pub inv_way: ReadWrite<u32>),
        (0x780 => _reserved3b),
        /// Clean the line holding this physical address.
        (0x7B0 => pub clean_line_pa: ReadWrite<u32>),
        (0x7B4 => _reserved4),
        /// Clean and invalidate the line holding this physical address.
        (0x7F0 => pub clean_inv_line_pa: ReadWrite<u32>),
        (0x7F4 => @END),
    }
}

/// The PL310's line size: fixed at 32 bytes.
pub const PL310_LINE: usize = 32;

/// A PL310 driven through its register block.
pub struct Pl310 {
    regs: &'static Pl310Registers,
}

// SAFETY: shared use from several cores issues only the line operations by PA and the
// sync, which the L2C-310 performs atomically: the controller stalls further accesses until
// each completes (L2C-310 TRM r3p3, 3.3.10 "Cache maintenance operations": only the by-way
// operations run in the background; Linux's cache-l2x0.c uses its `l2x0_lock` for the
// L2C-220's background line operations, not for the L2C-210/310 ones). The by-way invalidate
// runs only in `enable`, whose contract excludes concurrent use.
unsafe impl Sync for Pl310 {}

impl core::fmt::Debug for Pl310 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Reading registers from Debug would be a side effect on real hardware: show the address.
        f.debug_struct("Pl310")
            .field("regs", &(self.regs as *const Pl310Registers))
            .finish()
    }
}

impl Pl310 {
    /// Wraps the register block. The board crate creates the reference (the one place its
    /// device pointers are made).
    ///
    /// # Safety
    ///
    /// `regs` must be the PL310's register block, mapped as device memory, and this must be
    /// its only driver (other code issues no maintenance on it behind this one's back).
    pub unsafe fn new(regs: &'static Pl310Registers) -> Self {
        Self { regs }
    }

    /// The CACHE_ID register (part number and revision), e.g. 0x410000C8 for r3p2.
    pub fn cache_id(&self) -> u32 {
        self.regs.cache_id.get()
    }

    /// Whether the outer cache is enabled (CTRL bit 0).
    pub fn is_enabled(&self) -> bool {
        self.regs.ctrl.get() & 1 != 0
    }

    /// The auxiliary control register.
    pub fn aux_ctrl(&self) -> u32 {
        self.regs.aux_ctrl.get()
    }

    /// Turns the cache on the way the TRM (L2C-310 r3p2, 2.4 "Initialization") and Linux's
    /// `l2c_enable` do: with it off, write AUX_CTRL (if given), invalidate every way and wait,
    /// sync, then set CTRL bit 0. Does nothing if it is already on (AUX_CTRL may only be
    /// written while the cache is off).
    ///
    /// `Err(InvalidateTimeout)` (and the cache left off) if the ways never report done.
    ///
    /// # Safety
    ///
    /// Nothing may depend on data only the outer cache holds (it is off, so nothing can),
    /// no other core may issue maintenance on it meanwhile (the by-way invalidate is a
    /// background operation), and the caller must be allowed to write CTRL: on silicon running TrustZone firmware
    /// (Odroid-U3) the register is secure-only and Linux goes through the firmware's SMCs
    /// instead (hardware.md §2.3).
    pub unsafe fn enable(&self, aux_ctrl: Option<u32>) -> Result<(), Pl310Error> {
        if self.is_enabled() {
            return Ok(());
        }
        if let Some(aux) = aux_ctrl {
            self.regs.aux_ctrl.set(aux);
        }
        // AUX_CTRL bit 16: 16-way associativity, else 8 ways.
        let ways = if self.regs.aux_ctrl.get() & (1 << 16) != 0 {
            0xffff
        } else {
            0xff
        };
        self.regs.inv_way.set(ways);
        let mut polls = 0u32;
        while self.regs.inv_way.get() & ways != 0 {
            polls += 1;
            if polls == INVALIDATE_POLLS {
                return Err(Pl310Error::InvalidateTimeout(self.regs.inv_way.get()));
            }
            core::hint::spin_loop();
        }
        self.sync();
        self.regs.ctrl.set(1);
        Ok(())
    }
}

/// How often INV_WAY is polled before the invalidation counts as stuck (a whole-cache
/// invalidate takes some thousands of cycles on silicon, none in QEMU).
const INVALIDATE_POLLS: u32 = 10_000_000;

/// Why the PL310 could not be enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pl310Error {
    /// Invalidate-by-way never finished: the ways still busy (INV_WAY as last read).
    InvalidateTimeout(u32),
}

// SAFETY: each method writes the physical address to the register that performs the named
// line operation (cache-l2x0.h: INV_LINE_PA 0x770, CLEAN_LINE_PA 0x7B0, CLEAN_INV_LINE_PA
// 0x7F0) and `sync` waits for CACHE_SYNC to drain. Addresses are 32-bit without LPAE.
unsafe impl OuterCache for Pl310 {
    fn line_size(&self) -> usize {
        PL310_LINE
    }
    unsafe fn clean_line(&self, pa: u64) {
        self.regs
            .clean_line_pa
            .set(pa as u32 & !(PL310_LINE as u32 - 1));
    }
    unsafe fn invalidate_line(&self, pa: u64) {
        self.regs
            .inv_line_pa
            .set(pa as u32 & !(PL310_LINE as u32 - 1));
    }
    unsafe fn clean_invalidate_line(&self, pa: u64) {
        self.regs
            .clean_inv_line_pa
            .set(pa as u32 & !(PL310_LINE as u32 - 1));
    }
    fn sync(&self) {
        self.regs.cache_sync.set(0);
        while self.regs.cache_sync.get() & 1 != 0 {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_offsets_match_the_trm() {
        let base = core::mem::offset_of!(Pl310Registers, cache_id);
        assert_eq!(base, 0);
        assert_eq!(core::mem::offset_of!(Pl310Registers, ctrl), 0x100);
        assert_eq!(core::mem::offset_of!(Pl310Registers, cache_sync), 0x730);
        assert_eq!(core::mem::offset_of!(Pl310Registers, inv_line_pa), 0x770);
        assert_eq!(core::mem::offset_of!(Pl310Registers, inv_way), 0x77C);
        assert_eq!(core::mem::offset_of!(Pl310Registers, clean_line_pa), 0x7B0);
        assert_eq!(
            core::mem::offset_of!(Pl310Registers, clean_inv_line_pa),
            0x7F0
        );
    }

    #[test]
    fn line_operations_write_the_line_address_to_their_register() {
        // Host test on a register block in ordinary memory: each operation leaves its
        // line-aligned address in its own register.
        let regs: &'static Pl310Registers =
            std::boxed::Box::leak(std::boxed::Box::new(unsafe_zeroed_registers()));
        // SAFETY: a private in-memory register block; nothing else uses it.
        let l2 = unsafe { Pl310::new(regs) };
        // SAFETY: the fake block maintains nothing real.
        unsafe {
            l2.clean_line(0x6000_0013);
            l2.invalidate_line(0x6000_0047);
            l2.clean_invalidate_line(0x6000_0080);
        }
        l2.sync();
        assert_eq!(regs.clean_line_pa.get(), 0x6000_0000);
        assert_eq!(regs.inv_line_pa.get(), 0x6000_0040);
        assert_eq!(regs.clean_inv_line_pa.get(), 0x6000_0080);
        assert_eq!(regs.cache_sync.get(), 0);
    }

    #[test]
    fn enable_reports_ways_that_never_finish_and_stays_off() {
        // In plain memory INV_WAY keeps the mask written, like ways that never finish: an
        // error naming them, the cache left off, AUX_CTRL as asked. (The success path runs
        // against QEMU's l2x0 in the exynos4 `caches` test.)
        let regs: &'static Pl310Registers =
            std::boxed::Box::leak(std::boxed::Box::new(unsafe_zeroed_registers()));
        // SAFETY: a private in-memory register block; nothing else uses it.
        let l2 = unsafe { Pl310::new(regs) };
        // SAFETY: the fake block holds no data.
        let r = unsafe { l2.enable(Some(0x0202_0000)) };
        assert_eq!(
            r,
            Err(Pl310Error::InvalidateTimeout(0xff)),
            "8 ways (AUX bit 16 clear)"
        );
        assert!(!l2.is_enabled());
        assert_eq!(l2.aux_ctrl(), 0x0202_0000);
        // 16 ways with AUX bit 16.
        regs.inv_way.set(0);
        // SAFETY: as above.
        let r = unsafe { l2.enable(Some(0x0203_0000)) };
        assert_eq!(r, Err(Pl310Error::InvalidateTimeout(0xffff)));
    }

    fn unsafe_zeroed_registers() -> Pl310Registers {
        // SAFETY: the register block is plain `u32` cells; all-zero is a valid value.
        unsafe { core::mem::zeroed() }
    }
}
