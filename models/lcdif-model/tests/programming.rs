//! The model programmed register by register, as the public sources describe the
//! controller: the shadow latch at vblank, interrupt gating and write-1-to-clear, the
//! pixel formats it scans out, the errors it records, stale framebuffers through the
//! simulator, and fault injection.

use dmasync_hal::dma::{Coherency, DeviceId, DmaMemory};
use dmasync_hal::mmio::RegisterIo;
use dmasync_lcdif_model::regs::*;
use dmasync_lcdif_model::{Fault, LcdifModel, ModelError};
use dmasync_sim::{NonCoherentSim, SimConfig};

const DEV: DeviceId = DeviceId(0);
const W: u32 = 8;
const H: u32 = 4;

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 1 << 20,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("lcdif", Coherency::NonCoherent), DEV);
    sim
}

/// A region holding `bytes` in DRAM (put there by a device write, so no CPU cache holds
/// them); its bus address.
fn fill(sim: &NonCoherentSim, bytes: &[u8]) -> u64 {
    let region = sim.alloc(bytes.len(), Coherency::NonCoherent).unwrap();
    sim.device_write(DeviceId(0), region.bus(), bytes);
    region.bus().0
}

/// The enable sequence of hardware.md §3.4 (lcdif_kms.c) for a W x H plane at `addr`.
fn enable(m: &LcdifModel<'_>, addr: u64, bpp: u32, pitch: u32) {
    m.write32(CTRL_SET, SW_RESET);
    m.write32(CTRL_CLR, SW_RESET);
    m.write32(DISP_SIZE, (H << 16) | W);
    m.write32(HSYN_PARA, (10 << 16) | 4);
    m.write32(VSYN_PARA, (3 << 16) | 2);
    m.write32(VSYN_HSYN_WIDTH, (2 << 16) | 8);
    m.write32(CTRLDESCL0_1, (H << 16) | W);
    m.write32(CTRLDESCL0_3, pitch);
    m.write32(CTRLDESCL_LOW0_4, addr as u32);
    m.write32(CTRLDESCL_HIGH0_4, (addr >> 32) as u32);
    m.write32(CTRLDESCL0_5, bpp << 24);
    m.write32(INT_ENABLE_D0, INT_VS_BLANK | INT_DMA_ERR);
    m.write32(DISP_PARA, DISP_ON | 0x11_2233);
    // EN, and the shadow load Linux's atomic_flush requests after the enable.
    m.write32(CTRLDESCL0_5, (bpp << 24) | EN | SHADOW_LOAD_EN);
}

#[test]
fn the_plane_registers_take_effect_at_the_vblank_after_shadow_load_en() {
    let sim = sim();
    let m = LcdifModel::new(&sim, DEV);
    let a = fill(&sim, &[0x10; (W * H * 4) as usize]);
    let b = fill(&sim, &[0x20; (W * H * 4) as usize]);
    enable(&m, a, BPP_ARGB8888, W * 4);
    assert_eq!(
        m.scanning(),
        None,
        "nothing latched before the first vblank"
    );
    assert!(m.vblank());
    assert_eq!(m.scanning(), Some(a));
    assert_eq!(
        m.read32(CTRLDESCL0_5) & SHADOW_LOAD_EN,
        0,
        "cleared by the latch"
    );
    assert_eq!(m.screen(), vec![0x10_1010; (W * H) as usize]);
    // A new address without SHADOW_LOAD_EN is not taken.
    m.write32(CTRLDESCL_LOW0_4, b as u32);
    m.vblank();
    assert_eq!(m.scanning(), Some(a));
    m.write32(CTRLDESCL0_5, m.read32(CTRLDESCL0_5) | SHADOW_LOAD_EN);
    m.vblank();
    assert_eq!(m.scanning(), Some(b));
    assert_eq!(m.screen(), vec![0x20_2020; (W * H) as usize]);
    assert_eq!(m.latches(), 2);
    assert_eq!(m.errors(), vec![]);
}

#[test]
fn status_is_gated_by_int_enable_and_cleared_by_writing_ones() {
    let sim = sim();
    let m = LcdifModel::new(&sim, DEV);
    let a = fill(&sim, &[0; (W * H * 4) as usize]);
    enable(&m, a, BPP_ARGB8888, W * 4);
    m.write32(INT_ENABLE_D0, 0);
    assert!(!m.vblank(), "no enable, no line");
    let st = m.read32(INT_STATUS_D0);
    assert_eq!(st, INT_VSYNC | INT_VS_BLANK | INT_DMA_DONE);
    m.write32(INT_ENABLE_D0, INT_DMA_DONE);
    assert!(m.irq_pending());
    m.write32(INT_STATUS_D0, INT_DMA_DONE);
    assert!(!m.irq_pending());
    assert_eq!(m.read32(INT_STATUS_D0), INT_VSYNC | INT_VS_BLANK);
}

#[test]
fn rgb565_and_abgr8888_reach_the_panel_as_rgb888() {
    let sim = sim();
    let m = LcdifModel::new(&sim, DEV);
    // RGB565 0xF81F (magenta) and 0x07E0 (green), alternating; 5/6 bits widened.
    let px565: Vec<u8> = (0..W * H)
        .flat_map(|i| if i % 2 == 0 { 0xF81Fu16 } else { 0x07E0 }.to_le_bytes())
        .collect();
    let a = fill(&sim, &px565);
    enable(&m, a, BPP_RGB565, W * 2);
    m.vblank();
    let want: Vec<u32> = (0..W * H)
        .map(|i| if i % 2 == 0 { 0xFF00FF } else { 0x00FF00 })
        .collect();
    assert_eq!(m.screen(), want);
    // ABGR8888: bytes R, G, B, A in memory.
    let abgr: Vec<u8> = (0..W * H).flat_map(|_| [0x12, 0x34, 0x56, 0x78]).collect();
    let b = fill(&sim, &abgr);
    m.write32(CTRLDESCL0_3, W * 4);
    m.write32(CTRLDESCL_LOW0_4, b as u32);
    m.write32(CTRLDESCL0_5, EN | SHADOW_LOAD_EN | (BPP_ABGR8888 << 24));
    m.vblank();
    assert_eq!(m.screen(), vec![0x12_3456; (W * H) as usize]);
    assert_eq!(m.errors(), vec![]);
}

#[test]
fn the_background_shows_while_the_plane_is_off() {
    let sim = sim();
    let m = LcdifModel::new(&sim, DEV);
    assert!(!m.vblank(), "no DISP_ON, no timing generator");
    assert_eq!(m.frames(), 0);
    m.write32(DISP_SIZE, (H << 16) | W);
    m.write32(INT_ENABLE_D0, INT_VS_BLANK);
    m.write32(DISP_PARA, DISP_ON | 0x11_2233);
    assert!(m.vblank());
    assert_eq!(m.scanning(), None);
    assert_eq!(m.screen(), vec![0x11_2233; (W * H) as usize]);
    assert_eq!(m.read32(INT_STATUS_D0) & INT_DMA_DONE, 0, "nothing fetched");
    assert_eq!(m.errors(), vec![]);
}

#[test]
fn misprogramming_is_recorded() {
    let sim = sim();
    let m = LcdifModel::new(&sim, DEV);
    let a = fill(&sim, &[0; (W * H * 4) as usize]);
    enable(&m, a, BPP_ARGB8888, W * 4);
    // A plane register while the load is pending: the latch would tear.
    m.write32(CTRLDESCL_LOW0_4, a as u32 + 64);
    // Timings while the output runs.
    m.write32(DISP_SIZE, (H << 16) | (W + 1));
    m.write32(0x300, 1);
    m.read32(0x2);
    assert_eq!(
        m.errors(),
        vec![
            ModelError::WriteWhileLoadPending {
                offset: CTRLDESCL_LOW0_4
            },
            ModelError::TimingWhileOn { offset: DISP_SIZE },
            ModelError::UnknownRegister {
                offset: 0x300,
                write: true
            },
            ModelError::UnknownRegister {
                offset: 0x2,
                write: false
            },
        ]
    );
    // Held in reset, a register write is refused.
    m.write32(CTRL_SET, SW_RESET);
    m.write32(DISP_PARA, DISP_ON);
    assert_eq!(
        m.errors().last(),
        Some(&ModelError::WriteInReset { offset: DISP_PARA })
    );
    assert_eq!(m.writes().last(), Some(&(DISP_PARA, DISP_ON)));
}

#[test]
fn a_frame_outside_memory_is_a_dma_error() {
    let sim = sim();
    let m = LcdifModel::new(&sim, DEV);
    let end = sim.config().dram_base + sim.config().dram_size as u64;
    enable(&m, end - 16, BPP_ARGB8888, W * 4);
    m.vblank();
    assert_eq!(m.read32(INT_STATUS_D0) & INT_DMA_ERR, INT_DMA_ERR);
    assert!(matches!(
        m.errors()[..],
        [ModelError::AddressOutsideMemory { addr, .. }] if addr == end - 16
    ));
}

#[test]
fn a_framebuffer_the_cpu_left_dirty_is_a_violation() {
    let sim = sim();
    let m = LcdifModel::new(&sim, DEV);
    let region = sim
        .alloc((W * H * 4) as usize, Coherency::NonCoherent)
        .unwrap();
    // The CPU writes through its cache and never cleans: the scan-out reads stale DRAM.
    sim.cpu_write(0, region.virt(), &[0xAB; (W * H * 4) as usize]);
    enable(&m, region.bus().0, BPP_ARGB8888, W * 4);
    m.vblank();
    assert!(!sim.violations().is_empty(), "a stale read went unnoticed");
}

#[test]
fn faults_hang_until_reset_and_fail_one_fetch() {
    let sim = sim();
    let m = LcdifModel::new(&sim, DEV);
    let a = fill(&sim, &[0x40; (W * H * 4) as usize]);
    enable(&m, a, BPP_ARGB8888, W * 4);
    m.vblank();
    m.write32(INT_STATUS_D0, INT_ALL);
    m.inject(Fault::BusError);
    assert!(m.vblank(), "DMA_ERR is enabled");
    assert_eq!(m.read32(INT_STATUS_D0) & INT_DMA_ERR, INT_DMA_ERR);
    assert_eq!(m.errors(), vec![ModelError::BusError { addr: a }]);
    m.write32(INT_STATUS_D0, INT_ALL);
    m.vblank();
    assert_eq!(m.read32(INT_STATUS_D0) & INT_DMA_ERR, 0, "one fetch only");
    m.inject(Fault::Hang);
    let frames = m.frames();
    m.vblank();
    assert_eq!(m.frames(), frames, "a hung controller has no vblank");
    enable(&m, a, BPP_ARGB8888, W * 4);
    m.vblank();
    assert_eq!(m.frames(), frames + 1, "SW_RESET ended the hang");
}
