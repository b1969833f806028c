//! IRQ dispatch over the board's interrupt controller ([`dmasync_hal::irq::InterruptController`]).
//!
//! The board installs its controller once ([`install`]: [`crate::gic::init_primary`] does it
//! for a GIC; a SoC with another controller passes its driver). From then on every IRQ taken
//! at EL1 is acknowledged through it, the handler registered for the ID runs, and the
//! controller is told the interrupt ended. The tick, the secondaries' bring-up and the
//! watchdog only use this module, so they run unchanged on any controller.

use core::sync::atomic::{AtomicUsize, Ordering};

pub use dmasync_hal::irq::{InterruptController, IrqError, Trigger};

use crate::spin::SpinLock;

/// Number of IDs the handler table covers (the GIC's SGIs, PPIs and SPIs up to the special
/// range; other controllers use fewer).
pub const MAX_IRQ_ID: usize = 1020;

static HANDLERS: [AtomicUsize; MAX_IRQ_ID] = [const { AtomicUsize::new(0) }; MAX_IRQ_ID];

static CONTROLLER: SpinLock<Option<&'static dyn InterruptController>> = SpinLock::new(None);

/// Installs the machine's interrupt controller and makes [`dispatch`] the IRQ handler. Once
/// per boot, on the boot core, after the controller's own initialisation.
pub fn install(controller: &'static dyn InterruptController) -> Result<(), IrqError> {
    {
        let mut slot = CONTROLLER.lock();
        if slot.is_some() {
            return Err(IrqError::AlreadyInstalled);
        }
        *slot = Some(controller);
    }
    crate::exceptions::set_irq_handler(dispatch);
    Ok(())
}

/// The installed controller, if any.
pub fn controller() -> Option<&'static dyn InterruptController> {
    *CONTROLLER.lock()
}

fn installed() -> Result<&'static dyn InterruptController, IrqError> {
    controller().ok_or(IrqError::NotInitialised)
}

/// Registers `handler` for `id` (replacing any previous one). Handlers run in IRQ context
/// with IRQs masked and must not block.
pub fn register_handler(id: u32, handler: fn(u32)) -> Result<(), IrqError> {
    let slot = HANDLERS.get(id as usize).ok_or(IrqError::BadId(id))?;
    slot.store(handler as usize, Ordering::Release);
    Ok(())
}

/// Enables the per-core interrupt `id` on the calling core.
pub fn enable_private(id: u32, priority: u8) -> Result<(), IrqError> {
    installed()?.enable_private(id, priority)
}

/// Enables the shared interrupt `id` (delivered to the controller's default core).
pub fn enable_shared(id: u32, priority: u8, trigger: Trigger) -> Result<(), IrqError> {
    installed()?.enable_shared(id, priority, trigger)
}

/// Sets up the calling secondary core's part of the controller.
pub fn init_this_core() -> Result<(), IrqError> {
    installed()?.init_this_core()
}

/// The IRQ entry point: acknowledge, run the registered handler, end of interrupt.
fn dispatch() {
    let Some(c) = controller() else {
        return;
    };
    let Some(id) = c.acknowledge() else {
        return; // spurious (another core took it, or it deasserted)
    };
    let handler = HANDLERS
        .get(id as usize)
        .map(|h| h.load(Ordering::Acquire))
        .unwrap_or(0);
    if handler != 0 {
        // SAFETY: the slot was stored from a `fn(u32)` by `register_handler`.
        let f: fn(u32) = unsafe { core::mem::transmute::<usize, fn(u32)>(handler) };
        f(id);
    } else {
        defmt::warn!("IRQ {=u32} has no handler", id);
    }
    c.end_of_interrupt(id);
}
