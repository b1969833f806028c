//! Board support for the Samsung Exynos4210 as QEMU's `smdkc210` and `nuri` machines model
//! it: memory map and bring-up shared by the on-target tests.
//!
//! [`init`] takes the boot core from `aarch32-rt`'s `kmain` (SYS mode, stacks and `.bss`
//! ready, CPU1 parked) to a running system: console on UART0 (plain text and defmt), the SCU,
//! the identity map with MMU, L1 caches and branch prediction on (stack guard pages
//! unmapped), the A9 global timer as the monotonic counter, the heap, and the banner.
//! [`release_secondary`] lets CPU1 out of its park; it turns its own MMU and caches on with the
//! same tables.
//!
//! The external GIC is set up for the boot core (each secondary calls
//! [`secondary_bring_up`]); [`ticks`] gives each core its MCT tick; the PL310 is enabled and
//! [`Board::cache`] maintains both levels; [`dma`] hands out DMA memory and sync domains over it.
#![no_std]

extern crate alloc;

pub mod demo;
pub mod display;
pub mod dma;
pub mod mdma;
pub mod memory_map;
pub mod ticks;
pub mod watchdog;

use core::sync::atomic::{AtomicU32, Ordering};

use dmasync_armv7a::cache::{Cp15L1, TwoLevelCache};
use dmasync_armv7a::gic::{self, GicBanks};
use dmasync_armv7a::mmu::{self, Kind, Region};
use dmasync_armv7a::{console, cpu, exit_code, fault, global_timer, heap, println, smp};
use dmasync_exynos_uart::Uart;

pub use dmasync_armv7a as arch;

// The one platform of every exynos4 binary: WFE/SEV and the A9 global timer.
dmasync_hal::set_platform!(dmasync_armv7a::platform::Armv7Platform);

/// Board name as in board.toml.
pub const BOARD_NAME: &str = "exynos4";
/// Heap size: generous for the tests, far below the 1 GiB of RAM.
pub const HEAP_SIZE: usize = 8 << 20;

/// Which QEMU machine (board) we run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// Samsung's SMDKC210 development board (has a LAN9118).
    Smdkc210,
    /// Samsung's NURI reference phone (no LAN9118).
    Nuri,
}

impl Machine {
    /// The machine's name as QEMU spells it.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Smdkc210 => "smdkc210",
            Machine::Nuri => "nuri",
        }
    }
}

/// The running board.
#[derive(Debug)]
pub struct Board {
    /// Which machine.
    pub machine: Machine,
    /// CPUs the SCU reports.
    pub cpu_count: usize,
    /// Heap range (start, size).
    pub heap: (usize, usize),
    /// RAM nothing uses yet (start, size): above the heap to the end of DRAM, for
    /// [`dma::dma_pool`].
    pub free_ram: (usize, usize),
    /// Cache maintenance by range: the calling core's L1 by MVA, then the PL310 by PA (the
    /// identity map makes PA = VA). The one PL310 driver of the program, for the whole run
    /// (DMA pools and sync domains keep a reference).
    pub cache: &'static BoardCache,
}

/// The board's cache maintenance: L1 by MVA on the calling core, then the PL310 by PA.
pub type BoardCache = TwoLevelCache<Cp15L1, dmasync_pl310::Pl310>;

struct UartSlot(core::cell::UnsafeCell<Option<Uart<'static>>>);
// SAFETY: written once by `init` on the boot core before CPU1 is released; afterwards only
// reached through the console lock.
unsafe impl Sync for UartSlot {}
static UART: UartSlot = UartSlot(core::cell::UnsafeCell::new(None));

static INITIALISED: AtomicU32 = AtomicU32::new(0);

/// Brings the board up on the boot core. Never returns on failure: prints why and exits with
/// code 4.
pub fn init() -> Board {
    if INITIALISED.swap(1, Ordering::AcqRel) != 0 {
        setup_failed(format_args!("board init called twice"));
    }
    // Console first, so every later failure can be reported.
    // SAFETY: `init` runs once (checked above), on the boot core, before CPU1 is released and
    // before anything else touches UART0 or the slot.
    unsafe {
        let slot = &mut *UART.0.get();
        *slot = Some(memory_map::uart0());
        console::install(slot.as_mut().expect("just stored"));
    }
    // SAFETY: the SCU control register of this SoC's MPCore; enabling the SCU before any core
    // turns its data cache on is the TRM's order.
    unsafe { memory_map::set_register_bits(memory_map::SCU_CONTROL, 1) };
    let regions = [
        Region {
            start: memory_map::MMIO_WINDOW.start as u32,
            end: memory_map::MMIO_WINDOW.end as u32,
            kind: Kind::Device,
        },
        Region {
            start: memory_map::RAM_BASE as u32,
            end: (memory_map::RAM_BASE + memory_map::RAM_SIZE) as u32,
            kind: Kind::Ram,
        },
    ];
    // SAFETY: boot core, once, CPU1 still parked, MMU off; the regions are this SoC's MMIO
    // window and its 1 GiB of DRAM, which holds the image.
    if let Err(e) = unsafe { mmu::init_primary(&regions) } {
        setup_failed(format_args!("MMU set-up failed: {e:?}"));
    }
    let banks = GicBanks {
        gicd: memory_map::EXT_GIC_DIST_BASE,
        gicc: memory_map::EXT_GIC_CPU_BASE,
        stride: memory_map::EXT_GIC_BANK_STRIDE,
    };
    // SAFETY: the external GIC of this SoC, inside the device-mapped MMIO window; nothing else
    // drives it.
    if let Err(e) = unsafe { gic::init_primary(banks) } {
        setup_failed(format_args!("GIC set-up failed: {e:?}"));
    }
    // SAFETY: created once, here; nothing else issues PL310 maintenance.
    let l2 = unsafe { memory_map::pl310() };
    // SAFETY: the L2 is off (reset state), so no data lives only in it; in QEMU (secure
    // state, no TrustZone firmware) CTRL is writable. AUX_CTRL is left as reset/firmware
    // made it.
    if let Err(e) = unsafe { l2.enable(None) } {
        setup_failed(format_args!("PL310 enable failed: {e:?}"));
    }
    // SAFETY: the global timer block of this SoC's MPCore, at its fixed address; nothing else
    // drives it.
    unsafe { global_timer::init(memory_map::global_timer(), memory_map::GLOBAL_TIMER_HZ) };
    // SAFETY: [IMAGE_END, IMAGE_END + HEAP_SIZE) is RAM above everything the image uses
    // (memory.x), inside the 1 GiB, and nothing else uses it.
    unsafe { heap::init(memory_map::IMAGE_END, HEAP_SIZE) };

    // SAFETY: both are side-effect-free registers of this map (SCU configuration; LAN9118
    // ID_REV, which reads 0 on a machine without the chip).
    let (scu_config, lan_id) = unsafe {
        (
            memory_map::read_register(memory_map::SCU_CONFIG),
            memory_map::read_register(memory_map::LAN9118_ID_REV),
        )
    };
    let cpu_count = (scu_config & 0x3) as usize + 1;
    let machine = if lan_id >> 16 == 0x0118 {
        Machine::Smdkc210
    } else {
        Machine::Nuri
    };
    let heap_end = memory_map::IMAGE_END + HEAP_SIZE;
    let board = Board {
        machine,
        cpu_count,
        heap: (memory_map::IMAGE_END, HEAP_SIZE),
        free_ram: (
            heap_end,
            memory_map::RAM_BASE + memory_map::RAM_SIZE - heap_end,
        ),
        // Leaked once: `init` runs once (checked above), so there is one PL310 driver.
        cache: alloc::boxed::Box::leak(alloc::boxed::Box::new(TwoLevelCache::new(
            Cp15L1::new(),
            Some(l2),
            0,
        ))),
    };
    board.print_banner();
    board
}

impl Board {
    /// The plain-text banner xtask matches per QEMU variant (board.toml `expect`).
    pub fn print_banner(&self) {
        println!(
            "{BOARD_NAME}: board={} mode={} cpus={} ram={:#x}+{}MiB timer={}Hz",
            self.machine.name(),
            fault::mode_name(cpu::cpsr()),
            self.cpu_count,
            memory_map::RAM_BASE,
            memory_map::RAM_SIZE >> 20,
            global_timer::frequency(),
        );
    }
}

/// What a secondary does first, before anything that needs interrupts: its GIC CPU interface
/// and banked distributor state. Panics (the test's verdict) if the GIC refuses.
pub fn secondary_bring_up() {
    if let Err(e) = gic::init_secondary() {
        panic!("cpu {}: GIC set-up failed: {e:?}", cpu::core_number());
    }
}

/// Releases CPU1 from its park into `entry(1)`.
pub fn release_secondary(entry: fn(usize) -> !) {
    smp::release(entry);
}

/// Prints a plain-text set-up error and exits with code 4.
pub fn setup_failed(why: core::fmt::Arguments<'_>) -> ! {
    {
        let mut con = console::emergency();
        let _ = core::fmt::Write::write_fmt(&mut *con, format_args!("board setup failed: {why}\n"));
    }
    dmasync_armv7a::semihosting::exit(exit_code::SETUP_FAILED)
}
