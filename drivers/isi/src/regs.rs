//! The ISI channel registers this driver programs: offsets and fields.
//!
//! From Linux `drivers/media/platform/nxp/imx8-isi/imx8-isi-regs.h` (offsets and bit
//! positions), `imx8-isi-hw.c` (the programming sequence) and `imx8-isi-video.c` (which
//! memory-input type and output format each V4L2 format uses) — facts only — and
//! hardware.md §3.5. Accesses go through [`dmasync_hal::mmio::RegisterIo`] at these byte
//! offsets from the channel's base: a board's `MmioWindow` on hardware (channel 0 of
//! `fsl,imx8mp-isi` at 0x32E0_0000), the register model in host tests.

// register_bitfields! makes items (field enums, `Register` types) that cannot carry docs.
#![allow(missing_docs)]

use tock_registers::register_bitfields;

/// CHNL_CTRL.
pub const CHNL_CTRL: usize = 0x00;
/// CHNL_IMG_CTRL.
pub const CHNL_IMG_CTRL: usize = 0x04;
/// CHNL_OUT_BUF_CTRL.
pub const CHNL_OUT_BUF_CTRL: usize = 0x08;
/// CHNL_IMG_CFG: the input frame size.
pub const CHNL_IMG_CFG: usize = 0x0C;
/// CHNL_IER.
pub const CHNL_IER: usize = 0x10;
/// CHNL_STS (write 1 to clear).
pub const CHNL_STS: usize = 0x14;
/// CHNL_SCALE_FACTOR.
pub const CHNL_SCALE_FACTOR: usize = 0x18;
/// CHNL_SCALE_OFFSET.
pub const CHNL_SCALE_OFFSET: usize = 0x1C;
/// CHNL_CSC_COEFF0; COEFF1..5 follow every 4 bytes.
pub const CHNL_CSC_COEFF0: usize = 0x28;
/// CHNL_OUT_BUF1_ADDR_Y.
pub const CHNL_OUT_BUF1_ADDR_Y: usize = 0x70;
/// CHNL_OUT_BUF_PITCH.
pub const CHNL_OUT_BUF_PITCH: usize = 0x7C;
/// CHNL_IN_BUF_ADDR.
pub const CHNL_IN_BUF_ADDR: usize = 0x80;
/// CHNL_IN_BUF_PITCH.
pub const CHNL_IN_BUF_PITCH: usize = 0x84;
/// CHNL_MEM_RD_CTRL.
pub const CHNL_MEM_RD_CTRL: usize = 0x88;
/// CHNL_SCL_IMG_CFG: the scaled (output) size.
pub const CHNL_SCL_IMG_CFG: usize = 0x98;

/// YUV to RGB coefficients as Linux programs them for YUV input and RGB output
/// (`mxc_isi_yuv2rgb_coeffs`, in COEFF0..5 order: A2|A1, B1|A3, B3|B2, C2|C1, D1|C3,
/// D3|D2): A1 = B1 = C1 = 0x12A (1.164), A3 = 0x198 (1.596), B2 = -100, B3 = -208,
/// C2 = 0x204 (2.016), D1 = -16, D2 = D3 = -128 — BT.601 limited range.
pub const YUV2RGB_COEFFS: [u32; 6] = [
    0x0000_012A,
    0x012A_0198,
    0x0730_079C,
    0x0204_012A,
    0x01F0_0000,
    0x0180_0180,
];

/// CHNL_CTRL SRC_INPUT for the memory input on i.MX 8M Plus: the crossbar's last port,
/// after its two pixel-link inputs (Linux `mxc_isi_channel_set_control`, `num_ports` = 2
/// in the imx8mp data).
pub const SRC_INPUT_MEMORY_8MP: u32 = 2;

register_bitfields![u32,
    pub CTRL [
        CHNL_EN OFFSET(31) NUMBITS(1) [],
        CLK_EN OFFSET(30) NUMBITS(1) [],
        CHNL_BYPASS OFFSET(29) NUMBITS(1) [],
        CHAIN_BUF OFFSET(25) NUMBITS(2) [],
        SW_RST OFFSET(24) NUMBITS(1) [],
        BLANK_PXL OFFSET(16) NUMBITS(8) [],
        SRC_TYPE OFFSET(4) NUMBITS(1) [Device = 0, Memory = 1],
        SRC_INPUT OFFSET(0) NUMBITS(3) [],
    ],
    pub IMG_CTRL [
        FORMAT OFFSET(24) NUMBITS(6) [Argb8888 = 0x02, Xrgb888 = 0x05, Rgb565 = 0x0A],
        GBL_ALPHA_VAL OFFSET(16) NUMBITS(8) [],
        GBL_ALPHA_EN OFFSET(15) NUMBITS(1) [],
        DEC_X OFFSET(10) NUMBITS(2) [],
        DEC_Y OFFSET(8) NUMBITS(2) [],
        CROP_EN OFFSET(7) NUMBITS(1) [],
        VFLIP_EN OFFSET(6) NUMBITS(1) [],
        HFLIP_EN OFFSET(5) NUMBITS(1) [],
        /// The scaler works on YUV: Linux sets it whenever the scaler input is YUV.
        YCBCR_MODE OFFSET(3) NUMBITS(1) [],
        CSC_MODE OFFSET(1) NUMBITS(2) [YuvToRgb = 0, YcbcrToRgb = 1, RgbToYuv = 2, RgbToYcbcr = 3],
        CSC_BYPASS OFFSET(0) NUMBITS(1) [],
    ],
    pub OUT_BUF_CTRL [
        LOAD_BUF2_ADDR OFFSET(15) NUMBITS(1) [],
        LOAD_BUF1_ADDR OFFSET(14) NUMBITS(1) [],
    ],
    pub SIZE [
        HEIGHT OFFSET(16) NUMBITS(13) [],
        WIDTH OFFSET(0) NUMBITS(13) [],
    ],
    pub STS [
        MEM_RD_DONE OFFSET(31) NUMBITS(1) [],
        /// The frame is stored: the m2m path's completion.
        FRM_STRD OFFSET(29) NUMBITS(1) [],
        AXI_WR_ERR_V OFFSET(28) NUMBITS(1) [],
        AXI_WR_ERR_U OFFSET(27) NUMBITS(1) [],
        AXI_WR_ERR_Y OFFSET(26) NUMBITS(1) [],
        AXI_RD_ERR OFFSET(25) NUMBITS(1) [],
    ],
    pub SCALE [
        Y OFFSET(16) NUMBITS(14) [],
        X OFFSET(0) NUMBITS(14) [],
    ],
    pub PITCH [
        FRM_PITCH OFFSET(16) NUMBITS(16) [],
        LINE_PITCH OFFSET(0) NUMBITS(16) [],
    ],
    pub MEM_RD [
        IMG_TYPE OFFSET(28) NUMBITS(4) [Xrgb8 = 0x2, Rgb565 = 0x5, Yuv422_1p8p = 0xD],
        READ_MEM OFFSET(0) NUMBITS(1) [],
    ],
];
