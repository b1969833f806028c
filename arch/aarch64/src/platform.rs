//! dmasync's [`Platform`] on AArch64: cores park in WFE and are woken by SEV; time is the
//! generic timer.
//!
//! `park` relies on the event register (Arm ARM D1.6.1 "Wait for Event"): an SEV issued after
//! the waiter published itself sets every core's event register, so a WFE that comes later
//! returns at once and no wake-up is lost. A deadline is honoured through the generic timer's
//! event stream (CNTKCTL_EL1.EVNTEN), which generates an event about every 100 us on each
//! core that called [`enable_event_stream`], so a parked core re-checks its deadline at
//! least that often. SEV wakes every core; `park` may return spuriously, which the
//! primitives allow.

//!
//! The context word of each execution context is `CONTEXT_WORDS[core][level]`: the core's
//! logical index is kept in TPIDR_EL1 (written by `set_core_index`, which every core calls
//! from [`crate::stacks::use_separate_exception_stack`] before enabling interrupts), the level
//! is PSTATE.SP: threads run on SP_EL0 (SPSel 0), exceptions on SP_EL1 (SPSel 1, set on
//! exception entry). IRQ handlers run with IRQs masked and do not nest, so these two levels
//! are all the contexts a core has.

use core::sync::atomic::AtomicPtr;

use dmasync_hal::platform::{Instant, Platform};

use crate::cpu::MAX_CPUS;
use crate::{cpu, timer};

/// `[core][0]` thread level, `[core][1]` interrupt level.
static CONTEXT_WORDS: [[AtomicPtr<()>; 2]; MAX_CPUS] = [const {
    [
        AtomicPtr::new(core::ptr::null_mut()),
        AtomicPtr::new(core::ptr::null_mut()),
    ]
}; MAX_CPUS];

/// Records the calling core's logical index for [`Platform::context_word`].
///
/// # Panics
///
/// If `index >= MAX_CPUS`.
pub(crate) fn set_core_index(index: usize) {
    assert!(index < MAX_CPUS, "core index {index} out of range");
    // SAFETY: TPIDR_EL1 is a software-only register that nothing else in the image uses.
    unsafe {
        core::arch::asm!("msr tpidr_el1, {}", in(reg) index, options(nomem, nostack, preserves_flags));
    }
}

/// The AArch64 bare-metal platform of dmasync's primitives. A board installs it once with
/// `dmasync_hal::set_platform!(dmasync_aarch64::platform::Aarch64Platform)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Aarch64Platform;

impl Platform for Aarch64Platform {
    /// SEV wakes every core (WFE has no per-core target), so the token carries nothing.
    fn unparker() -> usize {
        0
    }

    fn park(deadline: Option<Instant>) {
        if deadline.is_some_and(|d| Self::now() >= d) {
            return;
        }
        aarch64_cpu::asm::wfe();
    }

    fn unpark(_token: usize) {
        // Make the state change the waiter will re-check visible before the event.
        aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::ISH);
        aarch64_cpu::asm::sev();
    }

    fn now() -> Instant {
        Instant(timer::now_ns())
    }

    fn interrupts_disable() -> usize {
        cpu::mask_irqs() as usize
    }

    fn interrupts_restore(saved: usize) {
        cpu::restore_irqs(saved as u64);
    }

    fn context_word() -> &'static AtomicPtr<()> {
        let (core, sp): (usize, usize);
        // SAFETY: reads two registers, no side effects.
        unsafe {
            core::arch::asm!(
                "mrs {c}, tpidr_el1",
                "mrs {s}, spsel",
                c = out(reg) core,
                s = out(reg) sp,
                options(nomem, nostack, preserves_flags),
            );
        }
        // Indexing panics (rather than sharing a word) on a core that never set its index.
        &CONTEXT_WORDS[core][sp & 1]
    }
}

/// Turns on the calling core's timer event stream at about 10 kHz (as Linux does), so WFE
/// never sleeps much past a deadline. CNTKCTL_EL1: EVNTEN bit 2, EVNTDIR bit 3 (0: on the
/// 0->1 transition), EVNTI bits 7:4 (counter bit watched; period 2^(EVNTI+1) ticks).
pub fn enable_event_stream() {
    let period = (timer::counter_frequency() / 10_000).max(2);
    let evnti = (63 - u64::from(period.leading_zeros()))
        .saturating_sub(1)
        .min(15);
    let mut v: u64;
    // SAFETY: CNTKCTL_EL1 only controls EL0 counter access and the event stream of this core.
    unsafe {
        core::arch::asm!("mrs {}, cntkctl_el1", out(reg) v, options(nomem, nostack, preserves_flags));
        v = (v & !0xfc) | (evnti << 4) | (1 << 2);
        core::arch::asm!("msr cntkctl_el1, {}", "isb", in(reg) v, options(nostack, preserves_flags));
    }
}
