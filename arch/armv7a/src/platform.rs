//! dmasync's [`Platform`] on ARMv7-A: a waiter without a deadline parks in WFE and is woken by
//! SEV; time is the board's counter ([`crate::clock`]: the A9 global timer or the generic
//! timer).
//!
//! `park(None)` relies on the event register (ARM ARM v7, B1.8.13 "Wait For Event and Send
//! Event"): an SEV issued after the waiter published itself sets every core's event register,
//! so a WFE that comes later returns at once and no wake-up is lost. The Cortex-A9 has no
//! generic-timer event stream (the AArch64 port's way to bound a WFE), so `park` with a
//! deadline does not execute WFE at all: it returns at once, and the primitives' wait loops
//! re-check the deadline each time (a spin, never an oversleep). SEV wakes every core; `park`
//! may return spuriously, which the primitives allow.
//!
//! The context word of each execution context is `CONTEXT_WORDS[core][level]`: the core is
//! MPIDR.Aff0, the level says whether the core is inside [`crate::exceptions`]' IRQ handler
//! (aarch32-rt runs IRQ handlers in SYS mode, on the interrupted code's stack, so the mode
//! cannot tell; the handler marks its level instead). IRQ handlers run with IRQs masked and
//! do not nest, so these two levels are all the contexts a core has.

use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use dmasync_hal::platform::{Instant, Platform};

use crate::clock;
use crate::cpu::{self, MAX_CPUS};

/// `[core][0]` thread level, `[core][1]` interrupt level.
static CONTEXT_WORDS: [[AtomicPtr<()>; 2]; MAX_CPUS] = [const {
    [
        AtomicPtr::new(core::ptr::null_mut()),
        AtomicPtr::new(core::ptr::null_mut()),
    ]
}; MAX_CPUS];

/// Whether each core is running the IRQ handler (written only by that core).
static IN_IRQ: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Marks the calling core as inside (`true`) or outside the IRQ handler.
pub(crate) fn set_in_irq(inside: bool) {
    if let Some(flag) = IN_IRQ.get(cpu::core_number()) {
        flag.store(inside, Ordering::Relaxed);
    }
}

/// The ARMv7-A bare-metal platform of dmasync's primitives. A board installs it once with
/// `dmasync_hal::set_platform!(dmasync_armv7a::platform::Armv7Platform)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Armv7Platform;

impl Platform for Armv7Platform {
    /// SEV wakes every core (WFE has no per-core target), so the token carries nothing.
    fn unparker() -> usize {
        0
    }

    fn park(deadline: Option<Instant>) {
        // With a deadline, nothing would wake a WFE in time (no event stream): return and let
        // the caller re-check, which makes its wait a bounded spin.
        if deadline.is_none() {
            cpu::wait_for_event();
        }
    }

    fn unpark(_token: usize) {
        // `send_event` makes the state change the waiter re-checks visible (dsb) before SEV.
        cpu::send_event();
    }

    fn now() -> Instant {
        Instant(clock::now_ns())
    }

    fn interrupts_disable() -> usize {
        cpu::mask_irqs() as usize
    }

    fn interrupts_restore(saved: usize) {
        cpu::restore_irqs(saved as u32);
    }

    fn context_word() -> &'static AtomicPtr<()> {
        let core = cpu::core_number();
        let level = IN_IRQ.get(core).is_some_and(|f| f.load(Ordering::Relaxed));
        // Indexing panics (rather than sharing a word) on a core number we do not track.
        &CONTEXT_WORDS[core][usize::from(level)]
    }
}
