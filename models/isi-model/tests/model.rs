//! The model on its own, programmed register by register as the public sources describe:
//! a frame it executes, and each kind of programming it reports as an error (and does not
//! execute), the interrupt gating, and the faults.

use dmasync_hal::dma::{BusAddr, Coherency, DeviceId};
use dmasync_hal::mmio::RegisterIo;
use dmasync_isi_model::regs::*;
use dmasync_isi_model::{Fault, IsiModel, ModelError};
use dmasync_sim::{NonCoherentSim, SimConfig};

const DEV: DeviceId = DeviceId(0);

fn sim() -> NonCoherentSim {
    let sim = NonCoherentSim::new(SimConfig {
        dram_size: 1 << 20,
        ..SimConfig::default()
    });
    assert_eq!(sim.add_device("isi", Coherency::NonCoherent), DEV);
    sim
}

/// A 4x2 XRGB8 input at `base`, 2x1 ARGB8888 output at `base + 0x1000`: factor 0x2000 is
/// decimation territory, so 4 -> 3 (0x1556) and 2 -> 2.
fn program(m: &IsiModel<'_>, base: u64) {
    m.write32(CHNL_CTRL, CTRL_SW_RST);
    m.write32(CHNL_CTRL, CTRL_CLK_EN);
    m.write32(CHNL_IMG_CFG, 2 << 16 | 4);
    m.write32(
        CHNL_IMG_CTRL,
        OUT_ARGB8888 << 24 | 0x80 << 16 | IMG_GBL_ALPHA_EN | IMG_CSC_BYPASS,
    );
    m.write32(CHNL_SCALE_FACTOR, 0x1000 << 16 | 0x1556);
    m.write32(CHNL_SCALE_OFFSET, 0);
    m.write32(CHNL_SCL_IMG_CFG, 2 << 16 | 3);
    m.write32(CHNL_OUT_BUF1_ADDR_Y, (base + 0x1000) as u32);
    m.write32(CHNL_OUT_BUF_PITCH, 12);
    m.write32(CHNL_IN_BUF_ADDR, base as u32);
    m.write32(CHNL_IN_BUF_PITCH, 16);
    m.write32(CHNL_CTRL, CTRL_CHNL_EN | CTRL_CLK_EN | CTRL_SRC_MEMORY | 2);
    m.write32(CHNL_IER, STS_FRM_STRD | STS_AXI_RD_ERR | STS_AXI_WR_ERR_Y);
    m.write32(CHNL_MEM_RD_CTRL, IN_XRGB8 << 28);
}

fn start(m: &IsiModel<'_>) {
    m.write32(CHNL_MEM_RD_CTRL, IN_XRGB8 << 28 | MEM_RD_READ_MEM);
}

fn base(sim: &NonCoherentSim) -> u64 {
    sim.config().dram_base
}

#[test]
fn a_frame_scales_by_the_factor_and_raises_frm_strd() {
    let sim = sim();
    let m = IsiModel::new(&sim, DEV);
    let b = base(&sim);
    let px: Vec<u8> = (0..8u32)
        .flat_map(|i| (0x0010_2030 + i).to_le_bytes())
        .collect();
    sim.device_write(DEV, BusAddr(b), &px);
    program(&m, b);
    start(&m);
    assert!(m.busy());
    assert!(m.run(), "FRM_STRD is enabled");
    assert_eq!(m.errors(), vec![]);
    assert!(m.read32(CHNL_STS) & STS_FRM_STRD != 0);
    let mut out = [0u8; 24];
    sim.device_read(DEV, BusAddr(b + 0x1000), &mut out);
    // Columns (i * 0x1556) >> 12 = 0, 1, 2; rows 0, 1; alpha the global 0x80.
    let word = |i: usize| u32::from_le_bytes(out[i * 4..i * 4 + 4].try_into().unwrap());
    let want = |x: u32, y: u32| 0x8010_2030 + y * 4 + x;
    assert_eq!(
        [word(0), word(1), word(2)],
        [want(0, 0), want(1, 0), want(2, 0)]
    );
    assert_eq!(
        [word(3), word(4), word(5)],
        [want(0, 1), want(1, 1), want(2, 1)]
    );
    // Clearing the status drops the line.
    m.write32(CHNL_STS, u32::MAX);
    assert!(!m.irq_pending());
    assert_eq!(m.frames(), 1);
}

#[test]
fn the_interrupt_is_gated_by_the_enable() {
    let sim = sim();
    let m = IsiModel::new(&sim, DEV);
    program(&m, base(&sim));
    m.write32(CHNL_IER, 0);
    start(&m);
    assert!(!m.run());
    assert!(
        m.read32(CHNL_STS) & STS_FRM_STRD != 0,
        "the status is set anyway"
    );
}

#[test]
fn a_write_while_busy_is_an_error() {
    let sim = sim();
    let m = IsiModel::new(&sim, DEV);
    program(&m, base(&sim));
    start(&m);
    m.write32(CHNL_IN_BUF_ADDR, 0);
    assert_eq!(
        m.errors(),
        vec![ModelError::WriteWhileBusy {
            offset: CHNL_IN_BUF_ADDR
        }]
    );
    m.run();
    assert_eq!(m.frames(), 1, "the frame still ran as programmed");
}

/// Each bad programming, applied after the good one: the frame is refused and reported.
#[test]
fn bad_programming_is_reported_and_not_executed() {
    type Bad = fn(&IsiModel<'_>, u64);
    let cases: [(Bad, ModelError); 9] = [
        (
            |m, _| m.write32(CHNL_CTRL, CTRL_CLK_EN),
            ModelError::NotEnabled,
        ),
        (
            |m, _| m.write32(CHNL_SCALE_FACTOR, 0x1000 << 16 | 0x0800),
            ModelError::UpScale,
        ),
        (
            |m, _| m.write32(CHNL_SCL_IMG_CFG, 2 << 16 | 2),
            ModelError::ScaleMismatch,
        ),
        (
            |m, _| m.write32(CHNL_IN_BUF_PITCH, 8),
            ModelError::BadPitch { which: "input" },
        ),
        (
            |m, _| m.write32(CHNL_OUT_BUF_PITCH, 4),
            ModelError::BadPitch { which: "output" },
        ),
        (
            |m, _| m.write32(CHNL_IMG_CFG, 2 << 16),
            ModelError::BadSize { which: "input" },
        ),
        (
            |m, _| {
                m.write32(
                    CHNL_CTRL,
                    CTRL_CHNL_EN | CTRL_CLK_EN | CTRL_SRC_MEMORY | CTRL_BYPASS,
                )
            },
            ModelError::BypassWithProcessing,
        ),
        (
            |m, _| m.write32(CHNL_IMG_CTRL, OUT_ARGB8888 << 24 | CSC_MODE_YCBCR2RGB << 1),
            ModelError::CscMismatch,
        ),
        (
            |m, b| m.write32(CHNL_OUT_BUF1_ADDR_Y, (b + (1 << 20) - 8) as u32),
            ModelError::AddressOutsideMemory { addr: 0, len: 12 },
        ),
    ];
    for (bad, want) in cases {
        let sim = sim();
        let m = IsiModel::new(&sim, DEV);
        let b = base(&sim);
        program(&m, b);
        bad(&m, b);
        start(&m);
        m.run();
        let errors = m.errors();
        match want {
            ModelError::AddressOutsideMemory { .. } => {
                assert!(
                    matches!(errors[..], [ModelError::AddressOutsideMemory { .. }]),
                    "{errors:?}"
                );
                assert!(
                    m.read32(CHNL_STS) & STS_AXI_WR_ERR_Y != 0,
                    "reported as an AXI error"
                );
            }
            _ => assert_eq!(errors, vec![want]),
        }
        assert_eq!(m.frames(), 0);
        assert!(m.read32(CHNL_STS) & STS_FRM_STRD == 0);
    }
}

#[test]
fn faults_hang_and_bus_error() {
    let sim = sim();
    let m = IsiModel::new(&sim, DEV);
    program(&m, base(&sim));
    m.inject(Fault::Hang);
    start(&m);
    assert!(!m.run() && m.busy());
    m.write32(CHNL_CTRL, CTRL_SW_RST);
    assert!(!m.busy(), "SW_RST ends it");
    program(&m, base(&sim));
    m.inject(Fault::BusError);
    start(&m);
    assert!(m.run(), "AXI_RD_ERR is enabled");
    assert!(m.read32(CHNL_STS) & STS_AXI_RD_ERR != 0);
    assert!(matches!(m.errors()[..], [ModelError::BusError { .. }]));
    assert!(m.busy(), "stopped, not completed");
}
