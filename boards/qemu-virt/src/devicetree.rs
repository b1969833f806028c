//! Finding and reading the flattened device tree QEMU (or a boot loader) hands us.
//!
//! The `fdt` crate (zero-copy, no allocation, works with the MMU off) parses it; the few
//! properties it does not decode (3-cell `interrupts`, `status`) are read here from the raw
//! big-endian cells (Devicetree Specification v0.4, sections 2.3 and 2.4).

use dmasync_aarch64::cpu::{MAX_CPUS, MPIDR_AFFINITY_MASK};
use dmasync_aarch64::gic::GicFrames;
use dmasync_aarch64::psci::Conduit;
use fdt::Fdt;

use crate::memory_map;

/// What the board needs from the device tree.
#[derive(Clone, Copy, Debug)]
pub struct DtInfo {
    /// Where the blob is and its size.
    pub dtb: (usize, usize),
    /// Whether it came from x0 (Linux-style boot) or the RAM-base probe (ELF boot).
    pub from_x0: bool,
    /// `/model` (QEMU virt: "linux,dummy-virt").
    pub model: &'static str,
    /// First root `compatible` string (QEMU virt: "linux,dummy-virt", hw/arm/virt.c).
    pub compatible: &'static str,
    /// First `/memory` region: base and size in bytes.
    pub ram: (usize, usize),
    /// MPIDR affinity of each CPU, in `/cpus` order (logical index = position).
    pub cpus: [u64; MAX_CPUS],
    /// Number of valid entries in `cpus`.
    pub cpu_count: usize,
    /// The interrupt controller.
    pub gic: GicFrames,
    /// PSCI conduit from `/psci` `method`, if PSCI is described.
    pub psci: Option<Conduit>,
    /// INTID of the EL1 physical (non-secure) timer interrupt.
    pub timer_intid: u32,
    /// virtio-mmio slots (`virtio,mmio`): register base and size, in device-tree order
    /// (QEMU virt lists the 32 slots from the highest address down).
    pub virtio_mmio: [(usize, usize); MAX_VIRTIO_MMIO],
    /// Number of valid entries in `virtio_mmio`.
    pub virtio_mmio_count: usize,
    /// QEMU's fw_cfg registers (`qemu,fw-cfg-mmio`): base and size.
    pub fw_cfg: Option<(usize, usize)>,
}

/// Most virtio-mmio slots recorded (QEMU virt has 32, hw/arm/virt.c `NUM_VIRTIO_TRANSPORTS`).
pub const MAX_VIRTIO_MMIO: usize = 32;

impl DtInfo {
    /// The valid part of `cpus`.
    pub fn cpu_mpidrs(&self) -> &[u64] {
        &self.cpus[..self.cpu_count]
    }

    /// The valid part of `virtio_mmio`.
    pub fn virtio_mmio_slots(&self) -> &[(usize, usize)] {
        &self.virtio_mmio[..self.virtio_mmio_count]
    }
}

/// Why the device tree could not be used. Every variant is a board set-up failure (exit 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtError {
    /// Neither x0 nor the RAM base holds a valid FDT.
    NotFound { x0: u64, probed: usize },
    /// A required node or property is missing or malformed.
    Missing(&'static str),
    /// More CPUs than the firmware supports.
    TooManyCpus { found: usize, limit: usize },
    /// A RAM region we cannot map.
    BadRam { base: usize, size: usize },
}

impl core::fmt::Display for DtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotFound { x0, probed } => write!(
                f,
                "no device tree found (x0={x0:#x} is not an FDT, nor is RAM base {probed:#x}); \
                 boot with -kernel <elf> linked at {:#x}, or pass the DTB in x0",
                crate::memory_map::LOAD_ADDRESS
            ),
            Self::Missing(what) => write!(f, "device tree: missing or malformed {what}"),
            Self::TooManyCpus { found, limit } => write!(
                f,
                "device tree lists {found} CPUs, but this firmware supports at most {limit} \
                 (dmasync_aarch64::cpu::MAX_CPUS)"
            ),
            Self::BadRam { base, size } => {
                write!(f, "device tree: unusable RAM region {base:#x}+{size:#x}")
            }
        }
    }
}

const FDT_MAGIC: u32 = 0xd00d_feed;

/// GICv3 (`arm,gic-v3`) and the GICv2 family, per Linux's
/// Documentation/devicetree/bindings/interrupt-controller/arm,gic*.yaml.
const GIC_COMPATIBLE: &[&str] = &[
    "arm,gic-v3",
    "arm,cortex-a15-gic",
    "arm,gic-400",
    "arm,cortex-a9-gic",
];
const PSCI_COMPATIBLE: &[&str] = &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];
const TIMER_COMPATIBLE: &[&str] = &["arm,armv8-timer", "arm,armv7-timer"];
/// Linux Documentation/devicetree/bindings/virtio/mmio.yaml.
const VIRTIO_MMIO_COMPATIBLE: &str = "virtio,mmio";
/// Linux Documentation/devicetree/bindings/firmware/qemu,fw-cfg-mmio.yaml.
const FW_CFG_COMPATIBLE: &str = "qemu,fw-cfg-mmio";

/// Reads a big-endian u32 (the FDT byte order) at `addr`.
///
/// # Safety
///
/// `addr..addr+4` must be readable.
unsafe fn read_be32(addr: usize) -> u32 {
    let mut b = [0u8; 4];
    for (i, byte) in b.iter_mut().enumerate() {
        // SAFETY: the caller guarantees the 4 bytes are readable.
        *byte = unsafe { core::ptr::read_volatile((addr + i) as *const u8) };
    }
    u32::from_be_bytes(b)
}

/// Whether `addr` plausibly holds an FDT: inside RAM, 8-byte aligned (DT spec 5.1), magic.
fn is_fdt(addr: usize) -> bool {
    if !(memory_map::RAM_BASE..memory_map::RAM_LIMIT).contains(&addr) || !addr.is_multiple_of(8) {
        return false;
    }
    // SAFETY: the address lies in the RAM window of this machine, which is readable from the
    // RAM base up to at least the first 128 MiB, where both the probe address and every
    // boot loader's DTB are. (A wild x0 beyond real RAM would raise a reported exception.)
    unsafe { read_be32(addr) == FDT_MAGIC }
}

/// Finds the device tree: x0 if it points at one (U-Boot `bootm`/`booti`, QEMU's Linux boot
/// stub), else the RAM base where QEMU puts it for an ELF boot.
pub fn locate(x0: u64) -> Result<(Fdt<'static>, usize, bool), DtError> {
    let x0u = x0 as usize;
    let (addr, from_x0) = if is_fdt(x0u) {
        (x0u, true)
    } else if is_fdt(memory_map::DTB_PROBE_ADDRESS) {
        (memory_map::DTB_PROBE_ADDRESS, false)
    } else {
        return Err(DtError::NotFound {
            x0,
            probed: memory_map::DTB_PROBE_ADDRESS,
        });
    };
    // SAFETY: `addr` holds the FDT magic; `from_ptr` reads the header's size and then the
    // blob, which boot loaders leave in place and we never overwrite (the heap starts after
    // our image, which is linked above it).
    let fdt = unsafe { Fdt::from_ptr(addr as *const u8) }.map_err(|_| DtError::NotFound {
        x0,
        probed: memory_map::DTB_PROBE_ADDRESS,
    })?;
    Ok((fdt, addr, from_x0))
}

fn be32_cells(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// Reads everything the board needs.
pub fn parse(fdt: &Fdt<'static>, dtb_addr: usize, from_x0: bool) -> Result<DtInfo, DtError> {
    let dtb = (dtb_addr, fdt.total_size());
    let model = fdt.root().model();
    let compatible = fdt.root().compatible().first();

    // One pass over the root's children finds everything QEMU puts there (memory@, cpus,
    // intc@, psci, timer); `fdt`'s own finders walk the whole tree per query, which took
    // ~10 ms of boot time with the caches off. A tree that nests them deeper (real boards'
    // /soc) falls back to those full walks.
    let root = fdt.find_node("/").ok_or(DtError::Missing("root node"))?;
    let mut mem = None;
    let mut gic_node = None;
    let mut psci_node = None;
    let mut timer_node = None;
    let mut virtio_mmio = [(0usize, 0usize); MAX_VIRTIO_MMIO];
    let mut virtio_mmio_count = 0usize;
    let mut fw_cfg = None;
    for n in root.children() {
        if mem.is_none() && n.property("device_type").and_then(|p| p.as_str()) == Some("memory") {
            mem = Some(n);
        }
        if let Some(compatible) = n.compatible() {
            for c in compatible.all() {
                if GIC_COMPATIBLE.contains(&c) && gic_node.is_none() {
                    gic_node = Some(n);
                } else if PSCI_COMPATIBLE.contains(&c) && psci_node.is_none() {
                    psci_node = Some(n);
                } else if TIMER_COMPATIBLE.contains(&c) && timer_node.is_none() {
                    timer_node = Some(n);
                } else if c == VIRTIO_MMIO_COMPATIBLE && virtio_mmio_count < MAX_VIRTIO_MMIO {
                    if let Some(r) = n.reg().and_then(|mut r| r.next()) {
                        virtio_mmio[virtio_mmio_count] =
                            (r.starting_address as usize, r.size.unwrap_or(0));
                        virtio_mmio_count += 1;
                    }
                } else if c == FW_CFG_COMPATIBLE && fw_cfg.is_none() {
                    fw_cfg = n
                        .reg()
                        .and_then(|mut r| r.next())
                        .map(|r| (r.starting_address as usize, r.size.unwrap_or(0)));
                }
            }
        }
    }
    let mem = mem
        .or_else(|| {
            fdt.all_nodes()
                .find(|n| n.property("device_type").and_then(|p| p.as_str()) == Some("memory"))
        })
        .ok_or(DtError::Missing("/memory node"))?;
    let gic_node = gic_node.or_else(|| fdt.find_compatible(GIC_COMPATIBLE));
    let psci_node = psci_node.or_else(|| fdt.find_compatible(PSCI_COMPATIBLE));
    let timer_node = timer_node.or_else(|| fdt.find_compatible(TIMER_COMPATIBLE));
    let region = mem
        .reg()
        .and_then(|mut r| r.next())
        .ok_or(DtError::Missing("/memory reg"))?;
    let ram_base = region.starting_address as usize;
    let ram_size = region.size.ok_or(DtError::Missing("/memory reg size"))?;
    if ram_base < memory_map::RAM_BASE
        || ram_size == 0
        || ram_base.saturating_add(ram_size) > memory_map::RAM_LIMIT
    {
        return Err(DtError::BadRam {
            base: ram_base,
            size: ram_size,
        });
    }

    // CPUs: /cpus/cpu@N nodes that are not disabled, reg = MPIDR affinity.
    let cpus_node = fdt.find_node("/cpus").ok_or(DtError::Missing("/cpus"))?;
    let mut cpus = [0u64; MAX_CPUS];
    let mut cpu_count = 0usize;
    for cpu in cpus_node.children() {
        if cpu.name.split('@').next() != Some("cpu") {
            continue;
        }
        let enabled = cpu
            .property("status")
            .and_then(|p| p.as_str())
            .is_none_or(|s| s == "okay" || s == "ok");
        if !enabled {
            continue;
        }
        let reg = cpu.property("reg").ok_or(DtError::Missing("cpu reg"))?;
        let mpidr = match reg.value.len() {
            4 => u64::from(be32_cells(reg.value).next().unwrap_or(0)),
            8 => {
                let mut c = be32_cells(reg.value);
                (u64::from(c.next().unwrap_or(0)) << 32) | u64::from(c.next().unwrap_or(0))
            }
            _ => return Err(DtError::Missing("cpu reg (1 or 2 cells)")),
        };
        if cpu_count < MAX_CPUS {
            cpus[cpu_count] = mpidr & MPIDR_AFFINITY_MASK;
        }
        cpu_count += 1;
    }
    if cpu_count == 0 {
        return Err(DtError::Missing("cpu nodes"));
    }
    if cpu_count > MAX_CPUS {
        return Err(DtError::TooManyCpus {
            found: cpu_count,
            limit: MAX_CPUS,
        });
    }

    // GIC: v3 if "arm,gic-v3", else the GICv2 family.
    let gic_node = gic_node.ok_or(DtError::Missing(
        "interrupt controller (arm,gic-v3 or a GICv2)",
    ))?;
    let is_v3 = gic_node
        .compatible()
        .is_some_and(|c| c.all().any(|s| s == "arm,gic-v3"));
    let mut reg = gic_node.reg().ok_or(DtError::Missing("GIC reg"))?;
    let gicd = reg
        .next()
        .ok_or(DtError::Missing("GIC distributor reg"))?
        .starting_address as usize;
    let second = reg
        .next()
        .ok_or(DtError::Missing("GIC CPU interface / redistributor reg"))?
        .starting_address as usize;
    let gic = if is_v3 {
        GicFrames::V3 { gicd, gicr: second }
    } else {
        GicFrames::V2 { gicd, gicc: second }
    };

    // PSCI conduit.
    let psci = psci_node
        .and_then(|n| n.property("method"))
        .and_then(|p| p.as_str())
        .and_then(Conduit::from_dt_method);

    // Timer: interrupts = <secure-phys> <non-secure-phys> <virt> <hyp>, 3 cells each
    // (type, number, flags; Linux Documentation/devicetree/bindings/timer/arm,arch_timer.yaml).
    let timer = timer_node.ok_or(DtError::Missing("arch timer node"))?;
    let irqs = timer
        .property("interrupts")
        .ok_or(DtError::Missing("timer interrupts"))?;
    let cells: [u32; 3] = {
        let mut it = be32_cells(irqs.value).skip(3);
        [
            it.next().ok_or(DtError::Missing("timer non-secure PPI"))?,
            it.next().ok_or(DtError::Missing("timer non-secure PPI"))?,
            it.next().ok_or(DtError::Missing("timer non-secure PPI"))?,
        ]
    };
    // GIC binding: type 0 = SPI (INTID 32 + n), 1 = PPI (INTID 16 + n).
    let timer_intid = match cells[0] {
        1 => 16 + cells[1],
        0 => 32 + cells[1],
        _ => return Err(DtError::Missing("timer interrupt type")),
    };

    Ok(DtInfo {
        dtb,
        from_x0,
        model,
        compatible,
        ram: (ram_base, ram_size),
        cpus,
        cpu_count,
        gic,
        psci,
        timer_intid,
        virtio_mmio,
        virtio_mmio_count,
        fw_cfg,
    })
}
