//! Board support for QEMU `virt` (aarch64): memory map, device-tree use, bring-up shared by
//! the demo and the on-target tests.
//!
//! [`init`] takes the core from `aarch64-rt`'s entry to a running system: vectors, console,
//! device tree, identity map with MMU and caches, heap, GIC and timer interrupt. Then
//! [`start_secondaries`] brings up every other core the device tree lists.
#![no_std]

extern crate alloc;

pub mod demo;
pub mod devicetree;
pub mod display;
// Shared with imx8mp-evk (board-independent: identity map, `DataCache`, the virtual timer).
#[path = "../../common/aarch64/board/dma_pool.rs"]
pub mod dma_pool;
#[path = "../../common/aarch64/board/engine.rs"]
pub mod engine;
pub mod memory_map;
#[path = "../../common/aarch64/board/watchdog.rs"]
pub mod watchdog;

use dmasync_aarch64::bringup;
use dmasync_aarch64::cpu;
use dmasync_aarch64::gic::{self, GicFrames, GicVersion};
use dmasync_aarch64::mmu::{self, IdentityMap};
use dmasync_aarch64::psci::Conduit;
use dmasync_aarch64::smp::{StartError, StartMethod};
use dmasync_aarch64::timer;
use dmasync_aarch64::{console, exit_code, heap, println, semihosting, stacks};

pub use devicetree::DtInfo;
pub use dmasync_aarch64 as arch;
// The secondaries' bring-up and the timer tick are the architecture's (shared by every
// AArch64 board); re-exported under the names the tests and the demo use.
pub use dmasync_aarch64::bringup::{
    SECONDARIES_PATIENCE_S, SECONDARY_TICK_PATIENCE_S, reported_cores, secondary_bring_up,
    secondary_idle, wait_for_secondaries,
};
pub use dmasync_aarch64::ticks;
pub use dmasync_aarch64::ticks::TIMER_PRIORITY;

// The one platform of every qemu-virt binary: WFE/SEV and the generic timer.
dmasync_hal::set_platform!(dmasync_aarch64::platform::Aarch64Platform);

/// Board name as in board.toml.
pub const BOARD_NAME: &str = "qemu-virt";

/// Heap size cap; the rest of RAM after the image and heap stays free for later users
/// (DMA pools, frame buffers), see [`Board::free_ram`].
pub const HEAP_MAX: usize = 16 << 20;

unsafe extern "C" {
    /// Start of the image's code (aarch64-rt image.ld).
    static text_begin: u8;
    /// End of the image's code (aarch64-rt image.ld).
    static text_end: u8;
    /// End of everything the image occupies, stacks included, 4 KiB aligned (aarch64-rt
    /// image.ld names it `dma_region`; we use it as "first free byte of RAM").
    static dma_region: u8;
}

/// The running board: what the device tree said and what init set up.
#[derive(Debug)]
pub struct Board {
    /// Device-tree facts.
    pub dt: DtInfo,
    /// Exception level we run at (1: the boot path drops there from EL2/EL3).
    pub el: u8,
    /// Exception level the boot core was entered at (1, 2 with `virtualization=on`).
    pub entry_el: u8,
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

    /// The GIC version in use.
    pub fn gic_version(&self) -> GicVersion {
        self.dt.gic.version()
    }

    /// Cores the device tree lists (the accessors below are what the test bodies shared
    /// with other boards use: boards/common/aarch64/).
    pub fn cpu_count(&self) -> usize {
        self.dt.cpu_count
    }

    /// MPIDR affinity of each logical core (index = logical number).
    pub fn cpu_mpidrs(&self) -> &[u64] {
        self.dt.cpu_mpidrs()
    }

    /// INTID of the EL1 physical timer.
    pub fn timer_intid(&self) -> u32 {
        self.dt.timer_intid
    }

    /// The EL1 virtual timer's INTID (the [`watchdog`]'s interrupt): third (type, number, flags) triple of the arch timer's
    /// `interrupts` in the device tree the board booted with (still in RAM: init keeps the heap
    /// and free RAM clear of it).
    pub fn virtual_timer_intid(&self) -> Option<u32> {
        let (fdt, _, _) = devicetree::locate(self.dt.dtb.0 as u64).ok()?;
        let node = fdt.find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])?;
        let irqs = node.property("interrupts")?.value;
        let cell = |i: usize| {
            irqs.get(i * 4..i * 4 + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        // Triples: secure phys, non-secure phys, virtual, hypervisor. GIC binding: type 1 = PPI
        // (INTID 16 + n), 0 = SPI (INTID 32 + n).
        match (cell(6)?, cell(7)?) {
            (1, n) => Some(16 + n),
            (0, n) => Some(32 + n),
            _ => None,
        }
    }

    /// The PSCI conduit, if the device tree has a /psci node.
    pub fn psci(&self) -> Option<Conduit> {
        self.dt.psci
    }

    /// The plain-text banner xtask matches per QEMU variant (board.toml `expect`); `init`
    /// prints it as soon as the device tree has been read.
    pub fn print_banner(&self) {
        print_banner(self.el, self.entry_el, &self.dt);
    }
}

fn print_banner(el: u8, entry_el: u8, dt: &DtInfo) {
    println!(
        "{BOARD_NAME}: EL{el} cpus={} ram={:#x}+{}MiB gic={} psci={} timer={}Hz intid={} \
         entered=EL{entry_el}",
        dt.cpu_count,
        dt.ram.0,
        dt.ram.1 >> 20,
        dt.gic.version().name(),
        dt.psci.map_or("none", Conduit::name),
        timer::counter_frequency(),
        dt.timer_intid,
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

struct UartSlot(core::cell::UnsafeCell<Option<arm_pl011_uart::Uart<'static>>>);
// SAFETY: written once by `init` on the primary before any other core runs; afterwards only
// reached through the console lock.
unsafe impl Sync for UartSlot {}
static UART: UartSlot = UartSlot(core::cell::UnsafeCell::new(None));

/// Brings the board up on the boot core. `x0` is the boot loader's x0 (device tree pointer
/// for Linux-style boots). Never returns on failure: prints why and exits with code 4.
pub fn init(x0: u64) -> Board {
    let t_entry = timer::counter();
    let el = dmasync_aarch64::boot::early_init();

    // Console first, so every later failure can be reported.
    // SAFETY: `init` runs once, on the boot core, before anything else touches UART0 or the
    // slot; UART0 is reachable (MMU off: device memory).
    unsafe {
        let slot = &mut *UART.0.get();
        *slot = Some(memory_map::uart0());
        console::install(slot.as_mut().expect("just stored"));
    }

    let entry_el = dmasync_aarch64::boot::entry_el();
    if el != 1 {
        // The boot path (dmasync_aarch64::boot::drop_to_el1) leaves EL2/EL3 before Rust runs.
        setup_failed(format_args!(
            "running at EL{el} (entered at EL{entry_el}): the drop to EL1 did not happen"
        ));
    }

    let (fdt, dtb_addr, from_x0) =
        devicetree::locate(x0).unwrap_or_else(|e| setup_failed(format_args!("{e}")));
    let dt = devicetree::parse(&fdt, dtb_addr, from_x0)
        .unwrap_or_else(|e| setup_failed(format_args!("{e}")));
    cpu::set_cpu_table(dt.cpu_mpidrs());
    // The banner as early as it can be complete: what the device tree says.
    print_banner(el, entry_el, &dt);

    // Identity map: MMIO window as device, RAM as normal memory except the stacks' guard
    // pages, our code read-only+exec.
    let (ram_base, ram_size) = dt.ram;
    let ram_end = ram_base + ram_size;
    // Linker-provided symbols: only their addresses are used.
    let (text_start, text_stop, image_end) = (
        (&raw const text_begin) as usize,
        (&raw const text_end) as usize,
        (&raw const dma_region) as usize,
    );
    if text_start < ram_base || image_end > ram_end {
        setup_failed(format_args!(
            "image {text_start:#x}..{image_end:#x} is not inside RAM {ram_base:#x}..{ram_end:#x}"
        ));
    }
    for (what, addr) in gic_frame_addresses(&dt.gic) {
        if !memory_map::MMIO_WINDOW.contains(&addr) {
            setup_failed(format_args!(
                "{what} at {addr:#x} is outside the MMIO window"
            ));
        }
    }
    let mut idmap = IdentityMap::new();
    let mapped = idmap
        .map(
            memory_map::MMIO_WINDOW.start,
            memory_map::MMIO_WINDOW.end,
            mmu::DEVICE,
        )
        .and_then(|()| {
            idmap.map_with_holes(ram_base, ram_end, mmu::NORMAL_RW, stacks::guard_pages())
        })
        .and_then(|()| idmap.map(text_start, text_stop, mmu::NORMAL_TEXT));
    if let Err(e) = mapped {
        setup_failed(format_args!("building the identity map failed: {e:?}"));
    }
    // SAFETY: the map covers the image (text RX, the rest RW), its stacks and heap (all in
    // RAM), the device tree (RAM) and every device we use (MMIO window); we run at EL1 on the
    // boot core, MMU off, no secondary started yet.
    unsafe { idmap.activate() };

    // Heap after the image, and the RAM left over for later users, both keeping clear of
    // the device tree (a boot loader may have put it anywhere in RAM; QEMU's Linux-style boot
    // puts it at 64 MiB).
    let dtb = page_range(dt.dtb.0, dt.dtb.0 + dt.dtb.1);
    let (heap_start, heap_end) = carve(image_end..ram_end, &dtb, HEAP_MAX)
        .unwrap_or_else(|| setup_failed(format_args!("no RAM left for the heap")));
    let heap_size = heap_end - heap_start;
    // SAFETY: [heap_start, heap_end) is mapped RAM past the end of the image and its stacks,
    // clear of the device tree, used by nothing else; called once.
    unsafe { heap::init(heap_start, heap_size) };
    let free_ram =
        carve(heap_end..ram_end, &dtb, usize::MAX).map_or((heap_end, 0), |(s, e)| (s, e - s));

    // Interrupts: GIC from the device tree, timer PPI on this core.
    // SAFETY: the frames come from this machine's device tree, lie in the MMIO window mapped
    // as device memory above, and nothing else drives the GIC. Boot core, before secondaries.
    if let Err(e) = unsafe { gic::init_primary(dt.gic, dt.cpu_count) } {
        setup_failed(format_args!("GIC set-up failed: {e:?}"));
    }
    ticks::install(dt.timer_intid)
        .unwrap_or_else(|e| setup_failed(format_args!("timer interrupt set-up failed: {e:?}")));
    cpu::enable_irqs();

    Board {
        dt,
        el,
        entry_el,
        boot_ticks: (t_entry, timer::counter()),
        heap: (heap_start, heap_size),
        free_ram,
        idmap,
    }
}

/// `[start, end)` widened to 4 KiB pages.
fn page_range(start: usize, end: usize) -> core::ops::Range<usize> {
    (start & !0xfff)..end.next_multiple_of(0x1000)
}

/// A piece of `within` that does not overlap `avoid`, at most `max` bytes: the lower piece if
/// it holds `max` bytes (keeps the heap right after the image), else the larger one.
fn carve(
    within: core::ops::Range<usize>,
    avoid: &core::ops::Range<usize>,
    max: usize,
) -> Option<(usize, usize)> {
    let below = within.start..avoid.start.clamp(within.start, within.end);
    let above = avoid.end.clamp(within.start, within.end)..within.end;
    let best = if below.len() >= max.min(above.len()) {
        below
    } else {
        above
    };
    (!best.is_empty()).then(|| (best.start, best.start + best.len().min(max)))
}

fn gic_frame_addresses(frames: &GicFrames) -> [(&'static str, usize); 2] {
    match *frames {
        GicFrames::V2 { gicd, gicc } => [("GICD", gicd), ("GICC", gicc)],
        GicFrames::V3 { gicd, gicr } => [("GICD", gicd), ("GICR", gicr)],
    }
}

/// Starts every secondary core the device tree lists, each running `entry(index)`. Returns
/// how many were started.
pub fn start_secondaries(board: &Board, entry: fn(usize) -> !) -> Result<usize, StartError> {
    let Some(conduit) = board.dt.psci else {
        if board.dt.cpu_count > 1 {
            setup_failed(format_args!(
                "{} CPUs but no PSCI node in the device tree: cannot start secondaries",
                board.dt.cpu_count
            ));
        }
        return Ok(0);
    };
    bringup::start_all(StartMethod::Psci(conduit), board.dt.cpu_mpidrs(), entry)
}
