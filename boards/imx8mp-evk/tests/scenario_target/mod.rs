//! imx8mp-evk's [`Target`] for the shared scenarios of `dmasync-scenarios` (`smp_stress`,
//! `misbehaving_client`): the four Cortex-A53s PSCI reports, started over SMC; the generic
//! timer; the heap as DMA memory maintained by VA (`DataCache`); the board watchdog on cpu 0's
//! virtual timer (INTID 27).

use alloc::format;
use alloc::string::String;
use core::fmt;

use dmasync_hal::dma::{DirectMemory, HeapDma};
use dmasync_imx8mp_evk::arch::cache::DataCache;
use dmasync_imx8mp_evk::arch::{cpu, test_info, timer};
use dmasync_imx8mp_evk::{Board, watchdog};
use dmasync_scenarios::Target;
use dmasync_sync::syncset::Watched;

/// The board, as the scenarios see it.
pub struct Evk<'a>(pub &'a Board);

impl Target for Evk<'_> {
    type Memory = DirectMemory<DataCache>;
    type Dma = HeapDma<DataCache>;

    fn cores(&self) -> usize {
        self.0.cpu_count
    }

    fn memory(&self) -> Self::Memory {
        DirectMemory(DataCache)
    }

    fn heap_dma(&self) -> Self::Dma {
        dmasync_imx8mp_evk::dma_pool::heap_dma()
    }

    fn start_secondaries(&self, entry: fn(usize) -> !) -> Result<usize, String> {
        let started = dmasync_imx8mp_evk::start_secondaries(self.0, entry)
            .map_err(|e| format!("PSCI start: {e:?}"))?;
        // The board's own report (it names the bring-up step a missing core is stuck in).
        let hz = timer::counter_frequency();
        let online = dmasync_imx8mp_evk::wait_for_secondaries(
            started,
            dmasync_imx8mp_evk::SECONDARIES_PATIENCE_S * hz,
        );
        if online < started {
            return Err(format!(
                "{online} of {started} started secondaries reported in"
            ));
        }
        Ok(started)
    }

    fn start_watchdog(&self, domain: &'static dyn Watched) -> Result<(), String> {
        watchdog::start(self.0.virtual_timer_intid(), domain)
            .map_err(|e| format!("board watchdog: {e}"))
    }

    fn watchdog_runs(&self) -> u64 {
        watchdog::runs()
    }

    fn watchdog_expired(&self) -> u64 {
        watchdog::expired()
    }

    fn secondary_bring_up(index: usize) {
        // GIC redistributor and CPU interface, timer interrupt, one tick, then the report.
        dmasync_imx8mp_evk::secondary_bring_up(index);
    }

    fn idle() -> ! {
        loop {
            cpu::wait_for_interrupt();
        }
    }

    fn counter() -> u64 {
        timer::counter()
    }

    fn frequency() -> u64 {
        timer::counter_frequency()
    }

    fn wait_for_event() {
        cpu::wait_for_event();
    }

    fn send_event() {
        // SAFETY: `dsb ish` orders earlier stores before the event; `sev` only sets every
        // core's event register.
        unsafe { core::arch::asm!("dsb ish", "sev", options(nostack, preserves_flags)) };
    }

    fn info(args: fmt::Arguments<'_>) {
        test_info!("{args}");
    }
}
