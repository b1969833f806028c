//! Board support for the NXP i.MX 8M Plus EVK (QEMU `imx8mp-evk`: 4x Cortex-A53, GICv3,
//! UART2 console, generic timer at 8 MHz): memory map, bring-up shared by the on-target tests.
//!
//! QEMU boots the image the Linux way (board.toml `image = "raw"`): at EL2, with its PSCI
//! over SMC for the secondaries (an ELF would start at EL3, where QEMU's PSCI is off and the
//! secondaries can never be started: hardware.md §1.3). `dmasync_aarch64::boot` drops to
//! EL1 before any Rust runs; U-Boot's `booti` on the real EVK enters the same way, with TF-A
//! providing PSCI over SMC.
//!
//! [`init`] takes the core from `aarch64-rt`'s entry to a running system: vectors, console,
//! PSCI probe of the cores, identity map with MMU and caches, heap, GIC and timer interrupt.
//! Then [`start_secondaries`] brings up the other cores PSCI reports.
#![no_std]

extern crate alloc;

pub mod demo;
// Shared with qemu-virt (board-independent: identity map, `DataCache`, the virtual timer).
#[path = "../../common/aarch64/board/dma_pool.rs"]
pub mod dma_pool;
#[path = "../../common/aarch64/board/engine.rs"]
pub mod engine;
pub mod memory_map;
#[path = "../../common/aarch64/board/watchdog.rs"]
pub mod watchdog;

use dmasync_aarch64::cpu::{self, MAX_CPUS};
use dmasync_aarch64::gic::{self, GicVersion};
use dmasync_aarch64::mmu::{self, IdentityMap};
use dmasync_aarch64::psci::{self, Conduit};
use dmasync_aarch64::smp::{StartError, StartMethod};
use dmasync_aarch64::{bringup, console, exit_code, heap, println, semihosting, stacks, timer};

pub use dmasync_aarch64 as arch;
// The secondaries' bring-up and the timer tick are the architecture's (shared with qemu-virt).
pub use dmasync_aarch64::bringup::{
    SECONDARIES_PATIENCE_S, SECONDARY_TICK_PATIENCE_S, reported_cores, secondary_bring_up,
    secondary_idle, wait_for_secondaries,
};
pub use dmasync_aarch64::ticks;
pub use dmasync_aarch64::ticks::TIMER_PRIORITY;

// The one platform of every imx8mp-evk binary: WFE/SEV and the generic timer.
dmasync_hal::set_platform!(dmasync_aarch64::platform::Aarch64Platform);

/// Board name as in board.toml.
pub const BOARD_NAME: &str = "imx8mp-evk";

/// Heap size cap; the RAM after the image and heap stays free ([`Board::free_ram`]).
pub const HEAP_MAX: usize = 16 << 20;

/// PSCI conduit: SMC, to TF-A on the EVK and to QEMU's PSCI (`boot_info.psci_conduit` in
/// hw/arm/fsl-imx8mp.c; hardware.md §1.3, §5.3). There is no device tree to read it from.
pub const PSCI_CONDUIT: Conduit = Conduit::Smc;

unsafe extern "C" {
    /// Start of the image's code (aarch64-rt image.ld).
    static text_begin: u8;
    /// End of the image's code (aarch64-rt image.ld).
    static text_end: u8;
    /// End of everything the image occupies, stacks included, 4 KiB aligned (aarch64-rt
    /// image.ld names it `dma_region`; we use it as "first free byte of RAM").
    static dma_region: u8;
}

/// The running board: what the probes found and what init set up.
#[derive(Debug)]
pub struct Board {
    /// Exception level we run at (1: the boot path drops there).
    pub el: u8,
    /// Exception level the boot core was entered at (2 for QEMU's and U-Boot's Linux boot).
    pub entry_el: u8,
    /// Cores PSCI reports present (a prefix of [`memory_map::CPU_MPIDRS`]).
    pub cpu_count: usize,
    /// RAM (start, size).
    pub ram: (usize, usize),
    /// Counter value when `main` was entered, and when `init` finished.
    pub boot_ticks: (u64, u64),
    /// Heap range (start, size).
    pub heap: (usize, usize),
    /// RAM left after image and heap (start, size).
    pub free_ram: (usize, usize),
    /// The live page tables (kept for later mapping changes; never dropped).
    pub idmap: IdentityMap,
}

impl Board {
    /// Counter frequency in Hz.
    pub fn timer_hz(&self) -> u64 {
        timer::counter_frequency()
    }

    /// Cores present.
    pub fn cpu_count(&self) -> usize {
        self.cpu_count
    }

    /// MPIDR affinity of each logical core (index = logical number).
    pub fn cpu_mpidrs(&self) -> &'static [u64] {
        &memory_map::CPU_MPIDRS[..self.cpu_count]
    }

    /// INTID of the EL1 physical timer.
    pub fn timer_intid(&self) -> u32 {
        memory_map::TIMER_INTID
    }

    /// INTID of the EL1 virtual timer, the [`watchdog`]'s interrupt.
    pub fn virtual_timer_intid(&self) -> Option<u32> {
        Some(memory_map::VIRTUAL_TIMER_INTID)
    }

    /// The GIC version in use.
    pub fn gic_version(&self) -> GicVersion {
        memory_map::GIC.version()
    }

    /// The PSCI conduit.
    pub fn psci(&self) -> Option<Conduit> {
        Some(PSCI_CONDUIT)
    }

    /// The plain-text banner xtask matches (board.toml `expect`); `init` prints it as soon as
    /// the cores are counted.
    pub fn print_banner(&self) {
        print_banner(self.el, self.entry_el, self.cpu_count, self.ram);
    }
}

fn print_banner(el: u8, entry_el: u8, cpus: usize, ram: (usize, usize)) {
    println!(
        "{BOARD_NAME}: EL{el} cpus={cpus} ram={:#x}+{}MiB gic={} psci={} timer={}Hz intid={} \
         entered=EL{entry_el}",
        ram.0,
        ram.1 >> 20,
        memory_map::GIC.version().name(),
        PSCI_CONDUIT.name(),
        timer::counter_frequency(),
        memory_map::TIMER_INTID,
    );
}

/// Prints a plain-text set-up error and exits with code 4.
pub fn setup_failed(why: core::fmt::Arguments<'_>) -> ! {
    {
        let mut con = console::emergency();
        let _ = core::fmt::Write::write_fmt(&mut *con, format_args!("board setup failed: {why}\n"));
    }
    semihosting::exit(exit_code::SETUP_FAILED)
}

struct UartSlot(core::cell::UnsafeCell<Option<dmasync_imx_uart::Uart<'static>>>);
// SAFETY: written once by `init` on the primary before any other core runs; afterwards only
// reached through the console lock.
unsafe impl Sync for UartSlot {}
static UART: UartSlot = UartSlot(core::cell::UnsafeCell::new(None));

/// How many of [`memory_map::CPU_MPIDRS`] exist, by PSCI `AFFINITY_INFO`: QEMU answers
/// INVALID_PARAMETERS for a core `-smp` did not create (target/arm/tcg/psci.c), TF-A for one
/// the platform does not have. Cores must be numbered without gaps.
fn count_cpus() -> Result<usize, (u64, smccc::psci::Error)> {
    let mut n = 0;
    for &mpidr in &memory_map::CPU_MPIDRS {
        match psci::affinity_info(PSCI_CONDUIT, mpidr) {
            Ok(_) => n += 1,
            Err(smccc::psci::Error::InvalidParameters) => break,
            Err(e) => return Err((mpidr, e)),
        }
    }
    Ok(n)
}

/// Brings the board up on the boot core. `_x0` is the boot loader's x0 (a device tree when
/// one was passed; the fixed map here does not need it). Never returns on failure: prints
/// why and exits with code 4.
pub fn init(_x0: u64) -> Board {
    let t_entry = timer::counter();
    let el = dmasync_aarch64::boot::early_init();

    // Console first, so every later failure can be reported.
    // SAFETY: `init` runs once, on the boot core, before anything else touches UART2 or the
    // slot; UART2 is reachable (MMU off: device memory).
    unsafe {
        let slot = &mut *UART.0.get();
        *slot = Some(memory_map::uart2());
        console::install(slot.as_mut().expect("just stored"));
    }

    let entry_el = dmasync_aarch64::boot::entry_el();
    if el != 1 {
        setup_failed(format_args!(
            "running at EL{el} (entered at EL{entry_el}): the drop to EL1 did not happen"
        ));
    }
    if entry_el == 3 {
        // Nothing above us answers an SMC: QEMU turns its PSCI off for an EL3 entry (an ELF
        // boot), and on silicon EL3 is TF-A's. An SMC would trap to our own, absent, EL3.
        setup_failed(format_args!(
            "entered at EL3, so no PSCI firmware is above us (QEMU enters an ELF at EL3 with \
             its PSCI off, and the secondaries can never start): boot the raw image \
             (board.toml image = \"raw\") or through TF-A"
        ));
    }
    let cpu_count = count_cpus().unwrap_or_else(|(mpidr, e)| {
        setup_failed(format_args!(
            "PSCI AFFINITY_INFO({mpidr:#x}) over {} failed: {e:?}",
            PSCI_CONDUIT.name()
        ))
    });
    if !(1..=MAX_CPUS).contains(&cpu_count)
        || !memory_map::CPU_MPIDRS[..cpu_count].contains(&cpu::mpidr())
    {
        setup_failed(format_args!(
            "PSCI reports {cpu_count} cores, and the boot core's MPIDR {:#x} is not among them",
            cpu::mpidr()
        ));
    }
    cpu::set_cpu_table(&memory_map::CPU_MPIDRS[..cpu_count]);
    let ram = (memory_map::RAM_BASE, memory_map::RAM_SIZE);
    print_banner(el, entry_el, cpu_count, ram);

    // Identity map: MMIO window as device, RAM as normal memory except the stacks' guard
    // pages, our code read-only+exec.
    let ram_end = ram.0 + ram.1;
    // Linker-provided symbols: only their addresses are used.
    let (text_start, text_stop, image_end) = (
        (&raw const text_begin) as usize,
        (&raw const text_end) as usize,
        (&raw const dma_region) as usize,
    );
    if text_start < ram.0 || image_end > ram_end {
        setup_failed(format_args!(
            "image {text_start:#x}..{image_end:#x} is not inside RAM {:#x}..{ram_end:#x}",
            ram.0
        ));
    }
    let mut idmap = IdentityMap::new();
    let mapped = idmap
        .map(
            memory_map::MMIO_WINDOW.start,
            memory_map::MMIO_WINDOW.end,
            mmu::DEVICE,
        )
        .and_then(|()| idmap.map_with_holes(ram.0, ram_end, mmu::NORMAL_RW, stacks::guard_pages()))
        .and_then(|()| idmap.map(text_start, text_stop, mmu::NORMAL_TEXT));
    if let Err(e) = mapped {
        setup_failed(format_args!("building the identity map failed: {e:?}"));
    }
    // SAFETY: the map covers the image (text RX, the rest RW), its stacks and heap (all in
    // RAM) and every device we use (UART2 and the GIC, in the MMIO window); we run at EL1 on
    // the boot core, MMU off, no secondary started yet.
    unsafe { idmap.activate() };

    // Heap right after the image (no device tree to keep clear of).
    let heap_size = HEAP_MAX.min(ram_end - image_end);
    if heap_size == 0 {
        setup_failed(format_args!("no RAM left for the heap"));
    }
    // SAFETY: [image_end, image_end + heap_size) is mapped RAM past the end of the image and
    // its stacks, used by nothing else; called once.
    unsafe { heap::init(image_end, heap_size) };
    let heap_end = image_end + heap_size;
    let free_ram = (heap_end, ram_end - heap_end);

    // SAFETY: the frames are this SoC's GIC (memory_map), in the MMIO window mapped as device
    // memory above, and nothing else drives the GIC. Boot core, before secondaries.
    if let Err(e) = unsafe { gic::init_primary(memory_map::GIC, cpu_count) } {
        setup_failed(format_args!("GIC set-up failed: {e:?}"));
    }
    ticks::install(memory_map::TIMER_INTID)
        .unwrap_or_else(|e| setup_failed(format_args!("timer interrupt set-up failed: {e:?}")));
    cpu::enable_irqs();

    Board {
        el,
        entry_el,
        cpu_count,
        ram,
        boot_ticks: (t_entry, timer::counter()),
        heap: (image_end, heap_size),
        free_ram,
        idmap,
    }
}

/// Starts every other core PSCI reported, each running `entry(index)`. Returns how many were
/// started.
pub fn start_secondaries(board: &Board, entry: fn(usize) -> !) -> Result<usize, StartError> {
    bringup::start_all(StartMethod::Psci(PSCI_CONDUIT), board.cpu_mpidrs(), entry)
}
