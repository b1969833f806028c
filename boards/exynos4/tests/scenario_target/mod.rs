//! exynos4's [`Target`] for the shared scenarios of `dmasync-scenarios` (`smp_stress`,
//! `misbehaving_client`): the two Cortex-A9s (CPU1 released from its park, index 1); the A9
//! global timer; the heap as DMA memory maintained through L1 and the PL310
//! (`dma::heap_dma`); the board watchdog on the calling core's MCT tick.

use alloc::format;
use alloc::string::String;
use core::fmt;

use dmasync_exynos4::arch::{cpu, global_timer, test_info};
use dmasync_exynos4::{Board, BoardCache, dma, watchdog};
use dmasync_hal::dma::{DirectMemory, HeapDma};
use dmasync_scenarios::Target;
use dmasync_sync::syncset::Watched;

/// The board, as the scenarios see it.
pub struct Exynos4<'a>(pub &'a Board);

impl Target for Exynos4<'_> {
    type Memory = DirectMemory<&'static BoardCache>;
    type Dma = HeapDma<&'static BoardCache>;

    fn cores(&self) -> usize {
        self.0.cpu_count
    }

    fn memory(&self) -> Self::Memory {
        DirectMemory(self.0.cache)
    }

    fn heap_dma(&self) -> Self::Dma {
        dma::heap_dma(self.0)
    }

    fn start_secondaries(&self, entry: fn(usize) -> !) -> Result<usize, String> {
        // The SoC has two cores and the board releases the one secondary, CPU1.
        match self.0.cpu_count {
            1 => Ok(0),
            2 => {
                dmasync_exynos4::release_secondary(entry);
                Ok(1)
            }
            n => Err(format!(
                "the SCU reports {n} cores; this board starts only CPU1"
            )),
        }
    }

    fn start_watchdog(&self, domain: &'static dyn Watched) -> Result<(), String> {
        watchdog::start(domain).map_err(|e| format!("board watchdog: {e}"))?;
        // Its check runs from this core's MCT tick interrupt.
        cpu::enable_irqs();
        Ok(())
    }

    fn watchdog_runs(&self) -> u64 {
        watchdog::runs()
    }

    fn watchdog_expired(&self) -> u64 {
        watchdog::expired()
    }

    fn secondary_bring_up(_index: usize) {
        // The GIC CPU interface and banked distributor state of CPU1.
        dmasync_exynos4::secondary_bring_up();
    }

    fn idle() -> ! {
        loop {
            cpu::wait_for_interrupt_masked();
        }
    }

    fn counter() -> u64 {
        global_timer::counter()
    }

    fn frequency() -> u64 {
        global_timer::frequency()
    }

    fn wait_for_event() {
        cpu::wait_for_event();
    }

    fn send_event() {
        // DSB, then SEV.
        cpu::send_event();
    }

    fn info(args: fmt::Arguments<'_>) {
        test_info!("{args}");
    }
}
