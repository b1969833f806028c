//! A GICv2 through `arm-gic` (`arm_gic::gicv2::GicV2`, which works on AArch32), and IRQ
//! dispatch: acknowledge, run the registered handler, end of interrupt.
//!
//! Each core drives the GIC through its own register bank: SoCs like the Exynos4210 give
//! every core its CPU interface and distributor alias at `base + core * stride` (Linux
//! `cpu-offset = <0x8000>` in exynos4210.dtsi; QEMU maps the same aliases,
//! hw/intc/exynos4210_gic.c), an MPCore-internal GIC has stride 0. One `GicV2` per core, all
//! behind one lock, so the distributor's shared registers are never written by two cores at
//! once.
//!
//! What arm-gic 0.10's `GicV2` does not offer is done here by register, from the GICv2
//! architecture specification (IHI 0048B, 4.3.11 GICD_IPRIORITYR and 4.3.12 GICD_ITARGETSR,
//! both byte-accessible): one interrupt's priority byte (the crate writes the whole 32-bit
//! word, which would reset three neighbours) and an SPI's target CPUs.

use core::sync::atomic::{AtomicUsize, Ordering};

use arm_gic::gicv2::registers::{Gicc, Gicd};
use arm_gic::gicv2::{GicV2, SgiTarget, SgiTargetListFilter};
use arm_gic::{IntId, InterruptGroup, Trigger};

use crate::cpu::{self, MAX_CPUS};
use crate::spin::SpinLock;

/// Where a GICv2's registers are.
#[derive(Debug, Clone, Copy)]
pub struct GicBanks {
    /// Distributor of core 0.
    pub gicd: usize,
    /// CPU interface of core 0.
    pub gicc: usize,
    /// Distance from one core's bank to the next (0: one bank for all).
    pub stride: usize,
}

/// Errors from GIC set-up and configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GicError {
    /// `init_primary` has not run.
    NotInitialised,
    /// This core's bank was already set up.
    AlreadyInitialised,
    /// The calling core's number is beyond what the driver keeps state for.
    CoreOutOfRange(usize),
    /// The interrupt ID is not one this GIC has, or not of the kind asked for.
    BadIntId(u32),
    /// The GIC refused to enable the interrupt (the enable bit did not stick).
    CannotEnable(u32),
}

/// How many interrupt IDs the handler table covers (GICv2's maximum is 1020).
const MAX_INTIDS: usize = 1020;

struct Bank {
    gic: GicV2<'static>,
    gicd: usize,
}

// SAFETY: the driver holds MMIO pointers into this core's bank; it is only used under
// `GICS`' lock, and a GIC may be programmed from any core.
unsafe impl Send for Bank {}

static GICS: SpinLock<[Option<Bank>; MAX_CPUS]> = SpinLock::new([const { None }; MAX_CPUS]);
static BANKS: SpinLock<Option<GicBanks>> = SpinLock::new(None);
static HANDLERS: [AtomicUsize; MAX_INTIDS] = [const { AtomicUsize::new(0) }; MAX_INTIDS];

/// The group interrupts are acknowledged in (arm-gic's `setup` puts every interrupt in group
/// 1 when the GIC has the Security Extensions, else in group 0).
static GROUP1: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn group() -> InterruptGroup {
    if GROUP1.load(Ordering::Relaxed) {
        InterruptGroup::Group1
    } else {
        InterruptGroup::Group0
    }
}

fn this_core() -> Result<usize, GicError> {
    let n = cpu::core_number();
    if n < MAX_CPUS {
        Ok(n)
    } else {
        Err(GicError::CoreOutOfRange(n))
    }
}

/// Sets up the GIC (distributor and this core's CPU interface) on the boot core and installs
/// the IRQ dispatcher. IRQs stay masked in CPSR; the caller unmasks them.
///
/// # Safety
///
/// `banks` must be this machine's GICv2, mapped as device memory, driven by nothing else.
pub unsafe fn init_primary(banks: GicBanks) -> Result<(), GicError> {
    {
        let mut b = BANKS.lock();
        if b.is_some() {
            return Err(GicError::AlreadyInitialised);
        }
        *b = Some(banks);
    }
    // SAFETY: forwarded from our caller.
    unsafe { init_this_core(banks)? };
    crate::exceptions::set_irq_dispatch(dispatch);
    Ok(())
}

/// Sets up this (secondary) core's CPU interface and banked distributor state.
pub fn init_secondary() -> Result<(), GicError> {
    let banks = (*BANKS.lock()).ok_or(GicError::NotInitialised)?;
    // SAFETY: `init_primary`'s caller vouched for the banks; each core creates the driver of
    // its own bank once (checked in `init_this_core`).
    unsafe { init_this_core(banks) }
}

unsafe fn init_this_core(banks: GicBanks) -> Result<(), GicError> {
    let core = this_core()?;
    let mut gics = GICS.lock();
    if gics[core].is_some() {
        return Err(GicError::AlreadyInitialised);
    }
    let gicd = banks.gicd + core * banks.stride;
    let gicc = banks.gicc + core * banks.stride;
    // SAFETY: this core's bank of the GIC the caller vouched for; one driver per bank.
    let mut gic = unsafe { GicV2::new(gicd as *mut Gicd, gicc as *mut Gicc) };
    GROUP1.store(gic.typer().has_security_extension(), Ordering::Relaxed);
    // Distributor on (idempotent across cores), every interrupt in the one group, this core's
    // CPU interface on with priority mask 0xff.
    gic.setup();
    gics[core] = Some(Bank { gic, gicd });
    Ok(())
}

/// Registers `handler` for `intid` (replacing any previous one). Handlers run in IRQ context
/// with IRQs masked and must not block.
pub fn register_handler(intid: u32, handler: fn(u32)) -> Result<(), GicError> {
    let slot = HANDLERS
        .get(intid as usize)
        .ok_or(GicError::BadIntId(intid))?;
    slot.store(handler as usize, Ordering::Release);
    Ok(())
}

fn set_priority_byte(gicd: usize, intid: u32, priority: u8) {
    // SAFETY: GICD_IPRIORITYR<n> bytes are at 0x400 + intid in the distributor bank we own
    // (under the lock); byte writes are architected (IHI 0048B 4.3.11).
    unsafe { core::ptr::write_volatile((gicd + 0x400 + intid as usize) as *mut u8, priority) };
}

/// Enables an SGI or PPI on the calling core with `priority` (lower is more urgent).
pub fn enable_private(intid: u32, priority: u8) -> Result<(), GicError> {
    let id = IntId::try_from(intid).map_err(|_| GicError::BadIntId(intid))?;
    if !id.is_private() {
        return Err(GicError::BadIntId(intid));
    }
    let core = this_core()?;
    let mut gics = GICS.lock();
    let bank = gics[core].as_mut().ok_or(GicError::NotInitialised)?;
    set_priority_byte(bank.gicd, intid, priority);
    bank.gic
        .enable_interrupt(id, true)
        .map_err(|_| GicError::CannotEnable(intid))
}

/// Enables a shared peripheral interrupt with `priority` and `trigger`, delivered to the
/// cores in `cpu_mask` (bit n = core n).
pub fn enable_shared(intid: u32, priority: u8, edge: bool, cpu_mask: u8) -> Result<(), GicError> {
    let id = IntId::try_from(intid).map_err(|_| GicError::BadIntId(intid))?;
    if id.is_private() || intid as usize >= MAX_INTIDS {
        return Err(GicError::BadIntId(intid));
    }
    let core = this_core()?;
    let mut gics = GICS.lock();
    let bank = gics[core].as_mut().ok_or(GicError::NotInitialised)?;
    bank.gic
        .set_trigger(id, if edge { Trigger::Edge } else { Trigger::Level });
    set_priority_byte(bank.gicd, intid, priority);
    // SAFETY: GICD_ITARGETSR<n> bytes are at 0x800 + intid, byte-writable for SPIs
    // (IHI 0048B 4.3.12); our bank, under the lock.
    unsafe { core::ptr::write_volatile((bank.gicd + 0x800 + intid as usize) as *mut u8, cpu_mask) };
    bank.gic
        .enable_interrupt(id, true)
        .map_err(|_| GicError::CannotEnable(intid))
}

/// Sends SGI `sgi` (0..=15) to the cores in `cpu_mask`.
pub fn send_sgi(sgi: u32, cpu_mask: u8) -> Result<(), GicError> {
    if sgi > 15 {
        return Err(GicError::BadIntId(sgi));
    }
    let core = this_core()?;
    let mut gics = GICS.lock();
    let bank = gics[core].as_mut().ok_or(GicError::NotInitialised)?;
    // The distributor forwards an SGI only after earlier stores are visible to the target.
    cpu::send_event_barrier();
    bank.gic.send_sgi(
        IntId::sgi(sgi),
        SgiTarget::List {
            target_list_filter: SgiTargetListFilter::CPUTargetList,
            target_list: u16::from(cpu_mask),
        },
    );
    Ok(())
}

/// The IRQ dispatcher (installed by `init_primary`): acknowledge on this core's interface,
/// run the registered handler without the GIC lock, end of interrupt.
fn dispatch() {
    let Ok(core) = this_core() else { return };
    let acked = GICS.lock()[core]
        .as_mut()
        .and_then(|b| b.gic.get_and_acknowledge_interrupt(group()));
    let Some(intid) = acked else {
        return; // spurious (1023): another core took it, or it deasserted
    };
    let n = u32::from(intid);
    let handler = HANDLERS
        .get(n as usize)
        .map(|h| h.load(Ordering::Acquire))
        .unwrap_or(0);
    if handler != 0 {
        // SAFETY: the slot was stored from a `fn(u32)` by `register_handler`.
        let f: fn(u32) = unsafe { core::mem::transmute::<usize, fn(u32)>(handler) };
        f(n);
    } else {
        defmt::warn!("IRQ {=u32} has no handler", n);
    }
    if let Some(b) = GICS.lock()[core].as_mut() {
        b.gic.end_interrupt(intid, group());
    }
}
