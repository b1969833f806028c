//! Interrupts of the BCM2836/BCM2837 (Raspberry Pi 2 and 3): the ARM "local" controller
//! (QA7, at 0x4000_0000 on the Pi 3) with the BCM2835 interrupt controller ("IC", the
//! peripherals' 64 GPU and 8 ARM lines) behind it, as one
//! [`dmasync_hal::irq::InterruptController`].
//!
//! The two blocks are one controller as a core sees it: the IC has a single IRQ output, which
//! enters the local controller as its "GPU" source and is routed to exactly one core
//! (GPU routing register, reset 0 = core 0); each core's generic-timer outputs and mailboxes
//! enter the local controller directly and are masked per core. So this crate drives both:
//! a core asks its own IRQ source register what is pending, and only for the GPU bit reads
//! the IC's pending registers. (Linux splits them into irq-bcm2836.c, a chained parent, and
//! irq-bcm2835.c; on these SoCs the IC is never used without the local controller.)
//!
//! Register facts: QEMU hw/intc/bcm2836_control.c and hw/intc/bcm2835_ic.c (offsets, reset
//! values, pending = level AND enable, enable/disable are write-1-to-set/clear, 32-bit
//! accesses only), the QA7 document they cite, and Linux drivers/irqchip/irq-bcm2836.c /
//! irq-bcm2835.c; our own code. Every line is level-triggered and there are no priorities.
//!
//! # Interrupt IDs
//!
//! | ID | source |
//! |---|---|
//! | 0..=3 | the calling core's CNTPS, CNTPNS (EL1 physical timer), CNTHP, CNTV (virtual timer): [`id::CNTPNS`] ... |
//! | 4..=7 | the calling core's mailboxes 0..3 |
//! | 9, 10, 11 | PMU, AXI, the local timer (reported, never enabled here) |
//! | 32 + n | GPU (peripheral) IRQ n, 0..=63: [`id::gpu`] |
//! | 96 + n | ARM ("basic") IRQ n, 0..=7: [`id::arm`] |
//!
//! Source 8 (GPU) is the cascade and never an ID of its own: it is resolved to the IC line.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

use dmasync_hal::irq::{InterruptController, IrqError, Trigger};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

/// Cores the local controller serves (`BCM2836_NCORES`).
pub const CORES: usize = 4;

register_structs! {
    /// The BCM2836 local control block (QA7 "ARM control", 0x100 bytes; QEMU
    /// bcm2836_control.c `REG_*`). Only the registers QEMU models are named.
    pub LocalRegisters {
        (0x00 => _reserved0),
        /// Bits 1:0 = core receiving the GPU IRQ, 3:2 = core receiving the GPU FIQ.
        (0x0c => pub gpu_routing: ReadWrite<u32>),
        (0x10 => _reserved1),
        /// Local timer routing (bits 2:0, bit 2 = FIQ).
        (0x24 => pub local_timer_routing: ReadWrite<u32>),
        (0x28 => _reserved2),
        /// Local timer control/status and clear/reload.
        (0x34 => pub local_timer_control: ReadWrite<u32>),
        (0x38 => pub local_timer_clear: ReadWrite<u32>),
        (0x3c => _reserved3),
        /// Per core: bits 0..3 IRQ enable of CNTPS, CNTPNS, CNTHP, CNTV; bits 4..7 the FIQs.
        (0x40 => pub timer_control: [ReadWrite<u32>; CORES]),
        /// Per core: bits 0..3 IRQ enable of mailboxes 0..3; bits 4..7 the FIQs.
        (0x50 => pub mailbox_control: [ReadWrite<u32>; CORES]),
        /// Per core, read-only: the IRQ sources pending for it (bit = source number).
        (0x60 => pub irq_source: [ReadOnly<u32>; CORES]),
        /// Per core, read-only: the FIQ sources.
        (0x70 => pub fiq_source: [ReadOnly<u32>; CORES]),
        /// Mailbox m of core c at [4c + m], write-1-to-set.
        (0x80 => pub mailbox_set: [WriteOnly<u32>; 16]),
        /// Mailbox m of core c at [4c + m], read / write-1-to-clear.
        (0xc0 => pub mailbox_clear: [ReadWrite<u32>; 16]),
        (0x100 => @END),
    }
}

register_structs! {
    /// The BCM2835 interrupt controller (at peripheral base + 0xB200; QEMU bcm2835_ic.c,
    /// BCM2835 ARM Peripherals §7.5).
    pub IcRegisters {
        /// Bits 0..7: ARM lines pending; 8/9: something pending in pending 1/2; 10..20:
        /// shortcuts for GPU 7, 9, 10, 18, 19, 53..57, 62.
        (0x00 => pub pending_basic: ReadOnly<u32>),
        /// GPU lines 0..31 pending (level AND enable).
        (0x04 => pub pending_1: ReadOnly<u32>),
        /// GPU lines 32..63 pending.
        (0x08 => pub pending_2: ReadOnly<u32>),
        /// FIQ source (bits 6:0) and enable (bit 7).
        (0x0c => pub fiq_control: ReadWrite<u32>),
        /// Write 1 to enable GPU lines 0..31 / 32..63 / ARM lines 0..7.
        (0x10 => pub enable_1: ReadWrite<u32>),
        (0x14 => pub enable_2: ReadWrite<u32>),
        (0x18 => pub enable_basic: ReadWrite<u32>),
        /// Write 1 to disable the same.
        (0x1c => pub disable_1: ReadWrite<u32>),
        (0x20 => pub disable_2: ReadWrite<u32>),
        (0x24 => pub disable_basic: ReadWrite<u32>),
        (0x28 => @END),
    }
}

/// The interrupt IDs of this controller (crate docs, "Interrupt IDs").
pub mod id {
    /// Secure physical timer (CNTPS) of the calling core.
    pub const CNTPS: u32 = 0;
    /// Non-secure physical timer (CNTP at EL1) of the calling core.
    pub const CNTPNS: u32 = 1;
    /// Hypervisor physical timer (CNTHP) of the calling core.
    pub const CNTHP: u32 = 2;
    /// Virtual timer (CNTV) of the calling core.
    pub const CNTV: u32 = 3;
    /// Mailbox `m` (0..=3) of the calling core.
    pub const fn mailbox(m: u32) -> u32 {
        4 + m
    }
    /// The local-source bit of the cascaded IC output (never an ID).
    pub(crate) const GPU_SOURCE: u32 = 8;
    /// Highest local source bit QEMU and the QA7 define (the local timer).
    pub(crate) const LAST_LOCAL: u32 = 11;
    /// First GPU line ID.
    pub const GPU_BASE: u32 = 32;
    /// First ARM ("basic") line ID.
    pub const ARM_BASE: u32 = 96;
    /// One past the last ID.
    pub const LIMIT: u32 = ARM_BASE + 8;
    /// GPU (peripheral) IRQ `n` (0..=63), e.g. DMA channel 0 = GPU 16.
    pub const fn gpu(n: u32) -> u32 {
        GPU_BASE + n
    }
    /// ARM ("basic") IRQ `n` (0..=7).
    pub const fn arm(n: u32) -> u32 {
        ARM_BASE + n
    }
}

/// The controller pair, shared by the four cores.
pub struct Bcm2836Intc<'a> {
    local: &'a LocalRegisters,
    ic: &'a IcRegisters,
    core_of_caller: fn() -> usize,
}

// SAFETY: `new`'s contract makes this the blocks' only driver, with a truthful core number.
// Every access is one 32-bit volatile register access. The shared IC enables are
// write-1-to-set (no read-modify-write); the per-core control registers are changed only by
// their own core (`core_of_caller`), inside a critical section, so no update is lost; reads
// (sources, pending) have no side effects.
unsafe impl Sync for Bcm2836Intc<'_> {}

impl core::fmt::Debug for Bcm2836Intc<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bcm2836Intc").finish_non_exhaustive()
    }
}

impl<'a> Bcm2836Intc<'a> {
    /// The local controller and the IC; `core_of_caller` returns the calling core's number
    /// (0..=3: MPIDR Aff0 on the BCM2836/7), the index of its per-core registers.
    ///
    /// # Safety
    ///
    /// `local` and `ic` must be these blocks (or memory standing in for them that only this
    /// driver touches), and this must be their only driver; `core_of_caller` must return the
    /// number of the core it runs on, so no two cores write the same per-core register.
    pub const unsafe fn new(
        local: &'a LocalRegisters,
        ic: &'a IcRegisters,
        core_of_caller: fn() -> usize,
    ) -> Self {
        Self {
            local,
            ic,
            core_of_caller,
        }
    }

    /// Boot-core set-up: every IC line disabled, no IC FIQ, the GPU IRQ routed to the calling
    /// core, and the calling core's timer and mailbox interrupts masked.
    pub fn init_primary(&self) -> Result<(), IrqError> {
        let core = self.core()?;
        self.ic.disable_1.set(u32::MAX);
        self.ic.disable_2.set(u32::MAX);
        self.ic.disable_basic.set(0xff);
        self.ic.fiq_control.set(0);
        // Bits 1:0 IRQ core, 3:2 FIQ core (bcm2836_control.c REG_GPU_ROUTE).
        self.local.gpu_routing.set(core as u32 | (core as u32) << 2);
        self.init_core(core);
        Ok(())
    }

    /// Sets `bits` in mailbox `m` (0..=3) of core `core` (write-1-to-set, QA7 0x80 + 16c +
    /// 4m): raises that core's mailbox interrupt if it enabled it (an inter-core interrupt).
    pub fn mailbox_send(&self, core: usize, m: usize, bits: u32) -> Result<(), IrqError> {
        if core >= CORES {
            return Err(IrqError::Controller(
                "no such core for a mailbox",
                core as u64,
            ));
        }
        if m >= 4 {
            return Err(IrqError::Controller("no such mailbox (0..=3)", m as u64));
        }
        self.local.mailbox_set[4 * core + m].set(bits);
        Ok(())
    }

    /// Reads mailbox `m` (0..=3) of the calling core and clears the bits read
    /// (write-1-to-clear, QA7 0xC0 + 16c + 4m), which quietens its interrupt: what a
    /// mailbox handler does before returning.
    pub fn mailbox_take(&self, m: usize) -> Result<u32, IrqError> {
        let core = self.core()?;
        if m >= 4 {
            return Err(IrqError::Controller("no such mailbox (0..=3)", m as u64));
        }
        let reg = &self.local.mailbox_clear[4 * core + m];
        let bits = reg.get();
        reg.set(bits);
        Ok(bits)
    }

    fn init_core(&self, core: usize) {
        self.local.timer_control[core].set(0);
        self.local.mailbox_control[core].set(0);
    }

    fn core(&self) -> Result<usize, IrqError> {
        let core = (self.core_of_caller)();
        if core < CORES {
            Ok(core)
        } else {
            Err(IrqError::Controller(
                "core number beyond the BCM2836 local controller's four",
                core as u64,
            ))
        }
    }

    /// The ID of the highest-priority source pending for `core` (lowest local bit first;
    /// for the GPU cascade the lowest pending ARM, then GPU line), if any.
    fn pending_for(&self, core: usize) -> Option<u32> {
        let sources = self.local.irq_source[core].get() & ((1 << (id::LAST_LOCAL + 1)) - 1);
        if sources == 0 {
            return None;
        }
        let first = sources.trailing_zeros();
        if first != id::GPU_SOURCE {
            return Some(first);
        }
        // GPU: ARM lines in pending-basic bits 0..7, then the two GPU pending registers
        // (bcm2835_ic.c: each reads level AND enable).
        let basic = self.ic.pending_basic.get() & 0xff;
        if basic != 0 {
            return Some(id::ARM_BASE + basic.trailing_zeros());
        }
        let p1 = self.ic.pending_1.get();
        if p1 != 0 {
            return Some(id::GPU_BASE + p1.trailing_zeros());
        }
        let p2 = self.ic.pending_2.get();
        if p2 != 0 {
            return Some(id::GPU_BASE + 32 + p2.trailing_zeros());
        }
        // Deasserted between the two reads (the device was quietened meanwhile).
        None
    }
}

impl InterruptController for Bcm2836Intc<'_> {
    fn name(&self) -> &'static str {
        "bcm2836"
    }

    fn id_limit(&self) -> u32 {
        id::LIMIT
    }

    fn init_this_core(&self) -> Result<(), IrqError> {
        let core = self.core()?;
        self.init_core(core);
        Ok(())
    }

    fn enable_private(&self, id: u32, _priority: u8) -> Result<(), IrqError> {
        let core = self.core()?;
        let (reg, bit) = match id {
            0..=3 => (&self.local.timer_control[core], id),
            4..=7 => (&self.local.mailbox_control[core], id - 4),
            _ if id < id::LIMIT => return Err(IrqError::NotPrivate(id)),
            _ => return Err(IrqError::BadId(id)),
        };
        // Read-modify-write of the calling core's own register: the critical section keeps
        // an interrupt handler on this core from slipping an update in between.
        critical_section::with(|_| reg.set(reg.get() | 1 << bit));
        Ok(())
    }

    fn enable_shared(&self, id: u32, _priority: u8, trigger: Trigger) -> Result<(), IrqError> {
        if id >= id::LIMIT {
            return Err(IrqError::BadId(id));
        }
        if id < id::GPU_BASE {
            return Err(IrqError::NotShared(id));
        }
        if trigger == Trigger::Edge {
            // Every IC line is level-sensitive (bcm2835_ic.c keeps levels only).
            return Err(IrqError::UnsupportedTrigger(id));
        }
        match id - id::GPU_BASE {
            n @ 0..=31 => self.ic.enable_1.set(1 << n),
            n @ 32..=63 => self.ic.enable_2.set(1 << (n - 32)),
            n => self.ic.enable_basic.set(1 << (n - 64)),
        }
        Ok(())
    }

    fn acknowledge(&self) -> Option<u32> {
        // Nothing to acknowledge: the sources are levels the handler quietens at the device.
        self.pending_for(self.core().ok()?)
    }

    fn end_of_interrupt(&self, _id: u32) {
        // No end-of-interrupt step: the line follows the device (or timer) level.
    }
}

#[cfg(test)]
mod tests {
    //! Register blocks in plain memory: the layout, which bit each enable sets, and how
    //! pending sources decode to IDs. Memory cannot play write-1-to-set, so the enable tests
    //! check the value written; QEMU's model runs the whole path in boards/raspi3b's tests.
    extern crate std;

    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    const LOCAL_WORDS: usize = 0x100 / 4;
    const IC_WORDS: usize = 0x28 / 4;

    struct Blocks {
        local: std::boxed::Box<[u32; LOCAL_WORDS]>,
        ic: std::boxed::Box<[u32; IC_WORDS]>,
    }

    impl Blocks {
        fn new() -> Self {
            Self {
                local: std::boxed::Box::new([0; LOCAL_WORDS]),
                ic: std::boxed::Box::new([0; IC_WORDS]),
            }
        }
        fn intc(&mut self, core: fn() -> usize) -> Bcm2836Intc<'_> {
            // SAFETY: the arrays have the blocks' sizes and u32 alignment, and are only
            // accessed through the returned references (registers are interior-mutable cells).
            let local = unsafe { &*(self.local.as_mut_ptr() as *const LocalRegisters) };
            // SAFETY: as above.
            let ic = unsafe { &*(self.ic.as_mut_ptr() as *const IcRegisters) };
            // SAFETY: the blocks are this test's memory, touched by this one thread only
            // (through the driver and, between calls, the arrays).
            unsafe { Bcm2836Intc::new(local, ic, core) }
        }
    }

    static CORE: AtomicUsize = AtomicUsize::new(0);
    fn core_from_static() -> usize {
        CORE.load(Ordering::Relaxed)
    }
    fn core2() -> usize {
        2
    }
    fn core9() -> usize {
        9
    }

    #[test]
    fn layout_matches_qemu() {
        assert_eq!(core::mem::size_of::<LocalRegisters>(), 0x100);
        assert_eq!(core::mem::size_of::<IcRegisters>(), 0x28);
        let mut b = Blocks::new();
        let base = b.local.as_ptr() as usize;
        let intc = b.intc(core2);
        assert_eq!(&intc.local.gpu_routing as *const _ as usize - base, 0x0c);
        assert_eq!(
            &intc.local.timer_control[1] as *const _ as usize - base,
            0x44
        );
        assert_eq!(&intc.local.irq_source[3] as *const _ as usize - base, 0x6c);
        assert_eq!(
            &intc.local.mailbox_clear[0] as *const _ as usize - base,
            0xc0
        );
    }

    #[test]
    fn primary_init_disables_everything_and_routes_to_the_caller() {
        let mut b = Blocks::new();
        b.local[0x48 / 4] = 0xff; // core 2's timer control
        b.local[0x58 / 4] = 0x0f; // core 2's mailbox control
        b.intc(core2).init_primary().unwrap();
        assert_eq!(b.ic[0x1c / 4], u32::MAX);
        assert_eq!(b.ic[0x20 / 4], u32::MAX);
        assert_eq!(b.ic[0x24 / 4], 0xff);
        assert_eq!(b.local[0x0c / 4], 2 | 2 << 2);
        assert_eq!(b.local[0x48 / 4], 0);
        assert_eq!(b.local[0x58 / 4], 0);
    }

    #[test]
    fn private_enables_set_the_callers_bit_only() {
        let mut b = Blocks::new();
        CORE.store(1, Ordering::Relaxed);
        let intc = b.intc(core_from_static);
        intc.enable_private(id::CNTPNS, 0x80).unwrap();
        intc.enable_private(id::CNTV, 0x80).unwrap();
        intc.enable_private(id::mailbox(3), 0x80).unwrap();
        assert_eq!(b.local[0x44 / 4], 0b1010);
        assert_eq!(b.local[0x54 / 4], 0b1000);
        for c in [0usize, 2, 3] {
            assert_eq!(b.local[0x40 / 4 + c], 0, "core {c}");
        }
    }

    #[test]
    fn bad_ids_and_triggers_are_refused_naming_the_id() {
        let mut b = Blocks::new();
        let intc = b.intc(core2);
        assert_eq!(intc.enable_private(8, 0), Err(IrqError::NotPrivate(8)));
        assert_eq!(
            intc.enable_private(id::gpu(16), 0),
            Err(IrqError::NotPrivate(48))
        );
        assert_eq!(intc.enable_private(200, 0), Err(IrqError::BadId(200)));
        assert_eq!(
            intc.enable_shared(id::CNTV, 0, Trigger::Level),
            Err(IrqError::NotShared(3))
        );
        assert_eq!(
            intc.enable_shared(id::gpu(16), 0, Trigger::Edge),
            Err(IrqError::UnsupportedTrigger(48))
        );
        assert_eq!(
            intc.enable_shared(id::LIMIT, 0, Trigger::Level),
            Err(IrqError::BadId(id::LIMIT))
        );
        assert!(b.ic.iter().all(|&w| w == 0), "nothing written on refusal");
        assert!(
            b.local.iter().all(|&w| w == 0),
            "nothing written on refusal"
        );
    }

    #[test]
    fn shared_enables_pick_the_register_and_bit() {
        let mut b = Blocks::new();
        let intc = b.intc(core2);
        intc.enable_shared(id::gpu(16), 0, Trigger::Level).unwrap(); // DMA0
        assert_eq!(b.ic[0x10 / 4], 1 << 16);
        let intc = b.intc(core2);
        intc.enable_shared(id::gpu(57), 0, Trigger::Level).unwrap(); // UART
        assert_eq!(b.ic[0x14 / 4], 1 << 25);
        let intc = b.intc(core2);
        intc.enable_shared(id::arm(1), 0, Trigger::Level).unwrap();
        assert_eq!(b.ic[0x18 / 4], 1 << 1);
    }

    #[test]
    fn mailboxes_address_core_and_number() {
        let mut b = Blocks::new();
        let intc = b.intc(core2);
        intc.mailbox_send(1, 3, 0x55).unwrap();
        assert_eq!(b.local[0x80 / 4 + 4 + 3], 0x55);
        b.local[0xc0 / 4 + 8 + 1] = 0x0f; // core 2, mailbox 1
        let intc = b.intc(core2);
        assert_eq!(intc.mailbox_take(1), Ok(0x0f));
        // Memory keeps the write: the value written back is the bits read (write-1-to-clear).
        assert_eq!(b.local[0xc0 / 4 + 8 + 1], 0x0f);
        let intc = b.intc(core2);
        assert_eq!(
            intc.mailbox_send(4, 0, 1),
            Err(IrqError::Controller("no such core for a mailbox", 4))
        );
        assert_eq!(
            intc.mailbox_take(4),
            Err(IrqError::Controller("no such mailbox (0..=3)", 4))
        );
    }

    #[test]
    fn a_core_beyond_four_is_an_error_not_an_index_panic() {
        let mut b = Blocks::new();
        let intc = b.intc(core9);
        assert_eq!(
            intc.enable_private(id::CNTV, 0),
            Err(IrqError::Controller(
                "core number beyond the BCM2836 local controller's four",
                9
            ))
        );
        assert_eq!(intc.acknowledge(), None);
    }

    #[test]
    fn acknowledge_decodes_the_callers_sources() {
        let mut b = Blocks::new();
        assert_eq!(b.intc(core2).acknowledge(), None);
        // Core 0's timer pending does not concern core 2.
        b.local[0x60 / 4] = 0b10;
        assert_eq!(b.intc(core2).acknowledge(), None);
        // Core 2: CNTPNS and CNTV pending: the lower bit first.
        b.local[0x68 / 4] = 0b1010;
        assert_eq!(b.intc(core2).acknowledge(), Some(id::CNTPNS));
        b.local[0x68 / 4] = 0b1000;
        assert_eq!(b.intc(core2).acknowledge(), Some(id::CNTV));
        // Mailbox 2.
        b.local[0x68 / 4] = 1 << 6;
        assert_eq!(b.intc(core2).acknowledge(), Some(id::mailbox(2)));
    }

    #[test]
    fn acknowledge_resolves_the_gpu_cascade() {
        let mut b = Blocks::new();
        b.local[0x60 / 4] = 1 << 8; // core 0: GPU
        b.ic[0] = 0x100; // pending basic: reg 1
        b.ic[0x04 / 4] = 1 << 16; // DMA0 (raspi3b.md §3.3)
        assert_eq!(b.intc(|| 0).acknowledge(), Some(id::gpu(16)));
        b.ic[0x04 / 4] = 0;
        b.ic[0] = 0x200;
        b.ic[0x08 / 4] = 1 << 25; // GPU 57
        assert_eq!(b.intc(|| 0).acknowledge(), Some(id::gpu(57)));
        b.ic[0] = 0x200 | 1 << 2; // ARM line 2 before the GPU lines
        assert_eq!(b.intc(|| 0).acknowledge(), Some(id::arm(2)));
        // Deasserted between the reads: spurious.
        *b.ic = [0; IC_WORDS];
        assert_eq!(b.intc(|| 0).acknowledge(), None);
    }
}
