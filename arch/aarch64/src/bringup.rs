//! Secondary cores after PSCI `CPU_ON` or a spin-table release: each sets up its part of the
//! interrupt controller and its timer interrupt, proves both with one tick and reports in; the boot core waits for them and can
//! name the step a core that never reported in is stuck in. Board-independent: boards start
//! the cores ([`start_all`]) from the affinities their device tree or SoC map gives.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::cpu::{self, MAX_CPUS};
use crate::smp::{self, StartError, StartMethod};
use crate::timer::{self, PhysicalTimer};
use crate::{irq, mmu, println, ticks};

/// How long a secondary waits for its first timer tick before declaring it lost.
pub const SECONDARY_TICK_PATIENCE_S: u64 = 5;

/// How long the boot core waits for secondaries to report in (covers
/// [`SECONDARY_TICK_PATIENCE_S`] plus start-up), for the demo and the tests.
pub const SECONDARIES_PATIENCE_S: u64 = 10;

/// MPIDR (+1, 0 = not yet) of each logical core that reported in.
static REPORTED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Counter value at which each core reported in.
static REPORTED_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// How far each secondary got in [`secondary_bring_up`], so a core that never reports in
/// can be named with the step it is stuck in ([`BRING_UP_STEPS`]).
static BRING_UP: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];
/// What a [`BRING_UP`] value means.
const BRING_UP_STEPS: [&str; 4] = [
    "never entered its bring-up (PSCI CPU_ON or the spin-table release, or the core's MMU and stack set-up)",
    "setting up its part of the interrupt controller (GIC CPU interface, per-core registers)",
    "enabling its timer interrupt",
    "waiting for its first timer tick",
];

/// What a secondary does first (called by the entry [`start_all`] starts each core into): its
/// part of the interrupt controller (GIC CPU interface, BCM2836 per-core registers), its timer
/// interrupt, one timer tick to prove both, then it reports in.
pub fn secondary_bring_up(index: usize) {
    BRING_UP[index].store(1, Ordering::Relaxed);
    if let Err(e) = irq::init_this_core() {
        panic!("cpu {index}: interrupt controller set-up failed: {e:?}");
    }
    BRING_UP[index].store(2, Ordering::Relaxed);
    if let Err(e) = ticks::enable_on_this_core() {
        panic!("cpu {index}: timer interrupt set-up failed: {e:?}");
    }
    BRING_UP[index].store(3, Ordering::Relaxed);
    cpu::enable_irqs();
    let before = ticks::count_on(index);
    let hz = timer::counter_frequency();
    let deadline = PhysicalTimer.arm_in(hz / 1000); // 1 ms
    // Generous: under TCG on a loaded host QEMU's timer callbacks (its main loop) can lag
    // the guest counter by a second or more. The bound is there to report a hang, not to time
    // anything (xtask's own limit is 30 s).
    let give_up = deadline + SECONDARY_TICK_PATIENCE_S * hz;
    while ticks::count_on(index) == before && timer::counter() < give_up {
        cpu::wait_for_event();
    }
    if ticks::count_on(index) == before {
        panic!("cpu {index}: no timer interrupt within {SECONDARY_TICK_PATIENCE_S} s");
    }
    let (m, c, i) = mmu::mmu_and_caches_enabled();
    let mpidr = cpu::mpidr();
    REPORTED_AT[index].store(timer::counter(), Ordering::Relaxed);
    REPORTED[index].store(mpidr + 1, Ordering::Release);
    defmt::info!(
        "cpu {=usize} online: MPIDR={=u64:#x} EL{=u8} MMU={=bool} D$={=bool} I$={=bool} tick ok",
        index,
        mpidr,
        cpu::current_el(),
        m,
        c,
        i
    );
}

/// Default secondary entry: bring up, report in, then sleep.
pub fn secondary_idle(index: usize) -> ! {
    secondary_bring_up(index);
    loop {
        cpu::wait_for_interrupt();
    }
}

/// Which logical cores have reported in: (index, MPIDR, counter at report).
pub fn reported_cores() -> impl Iterator<Item = (usize, u64, u64)> {
    (0..MAX_CPUS).filter_map(|i| {
        let m = REPORTED[i].load(Ordering::Acquire);
        (m != 0).then(|| (i, m - 1, REPORTED_AT[i].load(Ordering::Relaxed)))
    })
}

/// Waits up to `timeout_ticks` for `expected` secondaries to report in; returns how many did.
/// On a time-out, prints each started core that did not report in with the bring-up step it
/// is stuck in.
pub fn wait_for_secondaries(expected: usize, timeout_ticks: u64) -> usize {
    let start = timer::counter();
    loop {
        let n = reported_cores().count();
        if n >= expected {
            return n;
        }
        if timer::counter().wrapping_sub(start) > timeout_ticks {
            let me = cpu::cpu_index().unwrap_or(0);
            for i in (0..=expected.min(MAX_CPUS - 1)).filter(|&i| i != me) {
                if REPORTED[i].load(Ordering::Acquire) == 0 {
                    let step = BRING_UP[i].load(Ordering::Relaxed) as usize;
                    println!(
                        "cpu {i} did not report in: {}",
                        BRING_UP_STEPS.get(step).copied().unwrap_or("unknown step")
                    );
                }
            }
            return n;
        }
        core::hint::spin_loop();
    }
}

/// Starts every core in `mpidrs` except the calling one, core `i` as logical index `i`,
/// each running `entry(index)`, with the board's start `method`. Returns how many were started.
pub fn start_all(
    method: StartMethod,
    mpidrs: &[u64],
    entry: fn(usize) -> !,
) -> Result<usize, StartError> {
    let me = cpu::mpidr();
    let mut started = 0;
    for (index, &mpidr) in mpidrs.iter().enumerate() {
        if mpidr == me {
            continue;
        }
        smp::start_secondary(method, index, mpidr, entry)?;
        started += 1;
    }
    Ok(started)
}
