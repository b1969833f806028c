//! Shared by the AArch64 boards (qemu-virt, imx8mp-evk): the [`Target`] the scenarios of
//! `dmasync-scenarios` (`smp_stress`, `misbehaving_client`) run on. Each board's
//! `tests/scenario_target/mod.rs` makes this file a module (`#[path]`); the test binary names
//! its board crate `board` (`extern crate dmasync_<board> as board;`), as the other shared
//! bodies in this folder do. The board supplies the facts through the same API on both: the
//! cores PSCI starts, the generic timer, the heap as DMA memory maintained by VA
//! (`DataCache`), the board watchdog on cpu 0's virtual timer.

use alloc::format;
use alloc::string::String;
use core::fmt;

use board::arch::cache::DataCache;
use board::arch::{cpu, test_info, timer};
use board::{Board, watchdog};
use dmasync_hal::dma::{DirectMemory, HeapDma};
use dmasync_scenarios::Target;
use dmasync_sync::syncset::Watched;

/// The board, as the scenarios see it.
pub struct Aarch64Board<'a>(pub &'a Board);

impl Target for Aarch64Board<'_> {
    type Memory = DirectMemory<DataCache>;
    type Dma = HeapDma<DataCache>;

    fn cores(&self) -> usize {
        self.0.cpu_count()
    }

    fn memory(&self) -> Self::Memory {
        DirectMemory(DataCache)
    }

    fn heap_dma(&self) -> Self::Dma {
        board::dma_pool::heap_dma()
    }

    fn start_secondaries(&self, entry: fn(usize) -> !) -> Result<usize, String> {
        let started =
            board::start_secondaries(self.0, entry).map_err(|e| format!("PSCI start: {e:?}"))?;
        // The board's own report (it names the bring-up step a missing core is stuck in).
        let hz = timer::counter_frequency();
        let online = board::wait_for_secondaries(started, board::SECONDARIES_PATIENCE_S * hz);
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
        // GIC CPU interface (and redistributor on GICv3), timer interrupt, one tick, then
        // the board's report.
        board::secondary_bring_up(index);
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
