//! qemu-virt's [`Target`] for the shared scenarios of `dmasync-scenarios` (`smp_stress`,
//! `misbehaving_client`): every core the device tree lists, started through PSCI; the
//! generic timer; the heap as DMA memory maintained by VA (`DataCache`); the board watchdog
//! on cpu 0's virtual timer.

use alloc::format;
use alloc::string::String;
use core::fmt;

use dmasync_hal::dma::{DirectMemory, HeapDma};
use dmasync_qemu_virt::arch::cache::DataCache;
use dmasync_qemu_virt::arch::{cpu, test_info, timer};
use dmasync_qemu_virt::{Board, watchdog};
use dmasync_scenarios::Target;
use dmasync_sync::syncset::Watched;

/// The board, as the scenarios see it.
pub struct Virt<'a>(pub &'a Board);

impl Target for Virt<'_> {
    type Memory = DirectMemory<DataCache>;
    type Dma = HeapDma<DataCache>;

    fn cores(&self) -> usize {
        self.0.dt.cpu_count
    }

    fn memory(&self) -> Self::Memory {
        DirectMemory(DataCache)
    }

    fn heap_dma(&self) -> Self::Dma {
        dmasync_qemu_virt::dma_pool::heap_dma()
    }

    fn start_secondaries(&self, entry: fn(usize) -> !) -> Result<usize, String> {
        let started = dmasync_qemu_virt::start_secondaries(self.0, entry)
            .map_err(|e| format!("PSCI start: {e:?}"))?;
        // The board's own report (it names the bring-up step a missing core is stuck in).
        let hz = timer::counter_frequency();
        let online = dmasync_qemu_virt::wait_for_secondaries(
            started,
            dmasync_qemu_virt::SECONDARIES_PATIENCE_S * hz,
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
        // GIC CPU interface, timer interrupt, one tick, then the board's report.
        dmasync_qemu_virt::secondary_bring_up(index);
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
