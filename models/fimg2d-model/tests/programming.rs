//! The model on its own, programmed register by register as the public sources describe:
//! what it executes, when it interrupts, and the programming it records as errors.

use dmasync_fimg2d_model::regs::*;
use dmasync_fimg2d_model::{Fault, Fimg2dModel, ModelError, Version};
use dmasync_hal::dma::{BusAddr, Coherency, DeviceId};
use dmasync_hal::mmio::RegisterIo;
use dmasync_sim::{NonCoherentSim, SimConfig};

const DEV: DeviceId = DeviceId(0);

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 1 << 20,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("fimg2d", Coherency::NonCoherent), DEV);
    sim
}

fn base(sim: &NonCoherentSim) -> u64 {
    sim.config().dram_base
}

/// A fast fill of a w x h rectangle at (x, y) in a surface at `at` with `stride`.
fn fill_regs(
    at: u64,
    stride: u32,
    (x, y, w, h): (u32, u32, u32, u32),
    color: u32,
) -> Vec<(usize, u32)> {
    vec![
        (DST_SELECT, 0),
        (DST_BASE_ADDR, at as u32),
        (DST_STRIDE, stride),
        (DST_COLOR_MODE, MODE_ARGB8888),
        (DST_LEFT_TOP, y << 16 | x),
        (DST_RIGHT_BOTTOM, (y + h) << 16 | (x + w)),
        (SF_COLOR, color),
        (BITBLT_COMMAND, CMD_FAST_FILL),
    ]
}

fn program(m: &Fimg2dModel<'_>, regs: &[(usize, u32)]) {
    for &(o, v) in regs {
        m.write32(o, v);
    }
}

fn read(sim: &NonCoherentSim, at: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    sim.device_read(DeviceId(0), BusAddr(at), &mut b);
    b
}

#[test]
fn a_direct_fill_runs_when_time_passes_and_interrupts_only_if_enabled() {
    let sim = sim();
    let m = Fimg2dModel::new(&sim, DEV, Version::V41);
    let at = base(&sim) + 0x1000;
    program(&m, &fill_regs(at, 16, (1, 1, 2, 2), 0xAABB_CCDD));
    m.write32(BITBLT_START, 1);
    assert!(m.busy());
    assert_eq!(
        read(&sim, at, 64),
        vec![0; 64],
        "nothing happens before time passes"
    );
    assert!(!m.run(), "INTEN is 0: no interrupt");
    assert_eq!(
        m.read32(INTC_PEND),
        INT_SCF,
        "but the completion is pending"
    );
    let got = read(&sim, at, 64);
    let px = 0xAABB_CCDDu32.to_le_bytes();
    for (i, p) in got.chunks(4).enumerate() {
        let (x, y) = (i % 4, i / 4);
        let inside = (1..3).contains(&x) && (1..3).contains(&y);
        assert_eq!(
            p,
            if inside { &px[..] } else { &[0; 4][..] },
            "pixel {x},{y}"
        );
    }
    m.write32(INTC_PEND, INT_SCF);
    m.write32(INTEN, INT_SCF);
    m.write32(BITBLT_START, 1);
    assert!(m.run() && m.irq_pending());
    m.write32(INTC_PEND, INT_SCF);
    assert!(!m.irq_pending());
    assert_eq!(m.errors(), vec![]);
    assert_eq!(m.blits(), 2);
}

#[test]
fn writes_while_busy_are_recorded_and_soft_reset_ends_a_hang() {
    let sim = sim();
    let m = Fimg2dModel::new(&sim, DEV, Version::V41);
    program(&m, &fill_regs(base(&sim), 16, (0, 0, 4, 4), 1));
    m.inject(Fault::Hang);
    m.write32(BITBLT_START, 1);
    m.write32(DST_BASE_ADDR, 0);
    m.write32(BITBLT_START, 1);
    m.write32(INTC_PEND, 0xF);
    assert!(!m.run(), "hung");
    assert_eq!(
        m.errors(),
        vec![
            ModelError::WriteWhileBusy {
                offset: DST_BASE_ADDR
            },
            ModelError::WriteWhileBusy {
                offset: BITBLT_START
            },
        ]
    );
    m.write32(SOFT_RESET, 1);
    assert!(!m.busy(), "SOFT_RESET ends the hang");
    assert_eq!(m.read32(DST_BASE_ADDR), 0, "and clears the registers");
}

#[test]
fn bad_rectangles_colour_modes_and_addresses_are_recorded_and_not_executed() {
    let sim = sim();
    let m = Fimg2dModel::new(&sim, DEV, Version::V41);
    let at = base(&sim);
    let cases: Vec<(Vec<(usize, u32)>, ModelError)> = vec![
        (
            fill_regs(at, 16, (2, 0, 0, 1), 1),
            ModelError::BadRectangle {
                which: "dst",
                left_top: 2,
                right_bottom: 1 << 16 | 2,
            },
        ),
        (
            fill_regs(at, 8, (0, 0, 4, 1), 1),
            ModelError::BadRectangle {
                which: "dst",
                left_top: 0,
                right_bottom: 1 << 16 | 4,
            },
        ),
        (
            fill_regs(at, 16, (0, 0, 8001, 1), 1),
            ModelError::BadRectangle {
                which: "dst",
                left_top: 0,
                right_bottom: 1 << 16 | 8001,
            },
        ),
        (
            [
                fill_regs(at, 16, (0, 0, 1, 1), 1),
                vec![(DST_COLOR_MODE, 2)],
            ]
            .concat(),
            ModelError::UnsupportedColorMode {
                which: "dst",
                mode: 2,
            },
        ),
        (
            fill_regs(at + (1 << 20) - 16, 16, (0, 0, 4, 2), 1),
            ModelError::AddressOutsideMemory {
                addr: at + (1 << 20) - 16,
                len: 32,
            },
        ),
    ];
    for (regs, want) in cases {
        program(&m, &regs);
        m.write32(BITBLT_START, 1);
        m.run();
        assert_eq!(m.errors().last(), Some(&want));
        m.write32(SOFT_RESET, 1);
    }
    assert_eq!(m.blits(), 0);
}

#[test]
fn v30_has_no_list_dma_fast_fill_or_blend_function() {
    let sim = sim();
    let m = Fimg2dModel::new(&sim, DEV, Version::V30);
    m.write32(DMA_COMMAND, 1);
    m.write32(SF_COLOR, 1);
    assert_eq!(m.read32(BLEND_FUNCTION), 0);
    assert_eq!(
        m.errors(),
        vec![
            ModelError::UnknownRegister {
                offset: DMA_COMMAND,
                write: true
            },
            ModelError::UnknownRegister {
                offset: SF_COLOR,
                write: true
            },
            ModelError::UnknownRegister {
                offset: BLEND_FUNCTION,
                write: false
            },
        ]
    );
    assert!(!m.busy());
}

/// Writes a command list at `at` (bus) through the simulator: head, pairs, next.
fn put_list(sim: &NonCoherentSim, at: u64, pairs: &[(usize, u32)], head: u32, next: u32) {
    let mut w = vec![head];
    for &(o, v) in pairs {
        w.extend([o as u32, v]);
    }
    w.push(next);
    let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
    sim.device_write(DeviceId(0), BusAddr(at), &bytes);
}

#[test]
fn command_lists_chain_and_end_with_acf() {
    let sim = sim();
    let m = Fimg2dModel::new(&sim, DEV, Version::V41);
    let lists = base(&sim) + 0x8000;
    let surf = base(&sim) + 0x1000;
    let mut a = vec![(SOFT_RESET, 2), (INTEN, INT_ACF)];
    a.extend(fill_regs(surf, 16, (0, 0, 4, 1), 0x0101_0101));
    a.push((BITBLT_START, 1));
    let mut b = vec![(SOFT_RESET, 2)];
    b.extend(fill_regs(surf, 16, (0, 1, 4, 1), 0x0202_0202));
    b.push((BITBLT_START, 1));
    put_list(&sim, lists, &a, a.len() as u32, (lists + 1024) as u32);
    put_list(&sim, lists + 1024, &b, b.len() as u32, 0);
    m.write32(DMA_SFR_BASE_ADDR, lists as u32);
    m.write32(DMA_COMMAND, 1);
    assert!(m.run());
    assert_eq!(m.read32(INTC_PEND), INT_ACF);
    assert_eq!((m.lists(), m.blits()), (2, 2));
    assert_eq!(read(&sim, surf, 32), [[1u8; 16], [2u8; 16]].concat());
    assert_eq!(m.read32(DMA_STATUS) & 1, 1);
    assert_eq!(m.errors(), vec![]);
}

#[test]
fn a_list_without_end_and_a_list_outside_memory_are_recorded() {
    let sim = sim();
    let m = Fimg2dModel::new(&sim, DEV, Version::V41);
    let lists = base(&sim) + 0x8000;
    // Too many pairs for a 1 KiB list.
    put_list(&sim, lists, &[], LIST_MAX_PAIRS + 1, 0);
    m.write32(DMA_SFR_BASE_ADDR, lists as u32);
    m.write32(DMA_COMMAND, 1);
    m.run();
    // A list that points at itself.
    put_list(&sim, lists + 1024, &[(ALPHA, 1)], 1, (lists + 1024) as u32);
    m.write32(DMA_SFR_BASE_ADDR, (lists + 1024) as u32);
    m.write32(DMA_COMMAND, 1);
    m.run();
    // Outside DRAM.
    m.write32(DMA_SFR_BASE_ADDR, 0x1000);
    m.write32(DMA_COMMAND, 1);
    m.run();
    assert_eq!(
        m.errors(),
        vec![
            ModelError::ListWithoutEnd { list: lists as u32 },
            ModelError::ListWithoutEnd {
                list: (lists + 1024) as u32
            },
            ModelError::AddressOutsideMemory {
                addr: 0x1000,
                len: 4
            },
        ]
    );
}

#[test]
fn a_dirty_cpu_line_is_not_what_the_engine_reads() {
    // The engine reads DRAM: bytes the CPU wrote but did not clean are not seen, and the
    // simulator records the stale read.
    let sim = sim();
    let m = Fimg2dModel::new(&sim, DEV, Version::V41);
    let region = dmasync_hal::dma::DmaMemory::alloc(&sim, 4096, Coherency::NonCoherent).unwrap();
    let lists = region.bus().0;
    let words = [1u32, ALPHA as u32, 5, 0];
    let bytes: Vec<u8> = words.iter().flat_map(|x| x.to_le_bytes()).collect();
    sim.cpu_write(0, region.virt(), &bytes);
    m.write32(DMA_SFR_BASE_ADDR, lists as u32);
    m.write32(DMA_COMMAND, 1);
    m.run();
    assert_eq!(m.read32(ALPHA), 0, "the uncleaned list was not seen");
    assert!(
        !sim.violations().is_empty(),
        "the stale read is a violation"
    );
}
