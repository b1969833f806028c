//! The ISI channel registers the model decodes, as Linux gives them
//! (`drivers/media/platform/nxp/imx8-isi/imx8-isi-regs.h`; the sequence in `imx8-isi-hw.c`
//! and `imx8-isi-m2m.c`; facts only) and hardware.md §3.5. Written here from those sources,
//! not shared with the driver: a model that took the driver's constants would agree with any
//! mistake in them.

/// CHNL_CTRL: b31 CHNL_EN, b30 CLK_EN, b29 CHNL_BYPASS, [26:25] CHAIN_BUF, b24 SW_RST,
/// [23:16] BLANK_PXL, b4 SRC_TYPE (1 = memory), [2:0] SRC_INPUT.
pub const CHNL_CTRL: usize = 0x00;
/// CHNL_IMG_CTRL: [29:24] output FORMAT, [23:16] GBL_ALPHA_VAL, b15 GBL_ALPHA_EN,
/// [11:10] DEC_X, [9:8] DEC_Y, b7 CROP_EN, b6 VFLIP_EN, b5 HFLIP_EN, b3 YCBCR_MODE,
/// [2:1] CSC_MODE, b0 CSC_BYPASS.
pub const CHNL_IMG_CTRL: usize = 0x04;
/// CHNL_OUT_BUF_CTRL: b15 LOAD_BUF2_ADDR, b14 LOAD_BUF1_ADDR, panic thresholds.
pub const CHNL_OUT_BUF_CTRL: usize = 0x08;
/// CHNL_IMG_CFG: [28:16] input height, [12:0] input width.
pub const CHNL_IMG_CFG: usize = 0x0C;
/// CHNL_IER: b31 MEM_RD_DONE_EN, b30 LINE_RCVD_EN, b29 FRM_RCVD_EN, b28..26 AXI_WR_ERR
/// V/U/Y, b25 AXI_RD_ERR.
pub const CHNL_IER: usize = 0x10;
/// CHNL_STS: the same bits as status (b29 FRM_STRD), write 1 to clear.
pub const CHNL_STS: usize = 0x14;
/// CHNL_SCALE_FACTOR: [29:16] Y_SCALE, [13:0] X_SCALE, 1.12 fixed point (0x1000 = 1.0).
pub const CHNL_SCALE_FACTOR: usize = 0x18;
/// CHNL_SCALE_OFFSET: [27:16] Y, [11:0] X, in the same 1/4096 units.
pub const CHNL_SCALE_OFFSET: usize = 0x1C;
/// CHNL_CROP_ULC.
pub const CHNL_CROP_ULC: usize = 0x20;
/// CHNL_CROP_LRC.
pub const CHNL_CROP_LRC: usize = 0x24;
/// CHNL_CSC_COEFF0..5: A2|A1, B1|A3, B3|B2, C2|C1, D1|C3, D3|D2 (11-bit signed
/// coefficients with 8 fraction bits in [26:16]/[10:0]; 9-bit signed offsets D).
pub const CHNL_CSC_COEFF0: usize = 0x28;
/// CHNL_OUT_BUF1_ADDR_Y: the output buffer's (RGB or luma) bus address.
pub const CHNL_OUT_BUF1_ADDR_Y: usize = 0x70;
/// CHNL_OUT_BUF1_ADDR_U.
pub const CHNL_OUT_BUF1_ADDR_U: usize = 0x74;
/// CHNL_OUT_BUF1_ADDR_V.
pub const CHNL_OUT_BUF1_ADDR_V: usize = 0x78;
/// CHNL_OUT_BUF_PITCH: [15:0] output line pitch in bytes.
pub const CHNL_OUT_BUF_PITCH: usize = 0x7C;
/// CHNL_IN_BUF_ADDR: the memory input's bus address.
pub const CHNL_IN_BUF_ADDR: usize = 0x80;
/// CHNL_IN_BUF_PITCH: [31:16] FRM_PITCH, [15:0] LINE_PITCH in bytes.
pub const CHNL_IN_BUF_PITCH: usize = 0x84;
/// CHNL_MEM_RD_CTRL: [31:28] IMG_TYPE, b0 READ_MEM (0 then 1 starts the read).
pub const CHNL_MEM_RD_CTRL: usize = 0x88;
/// CHNL_OUT_BUF2_ADDR_Y.
pub const CHNL_OUT_BUF2_ADDR_Y: usize = 0x8C;
/// CHNL_SCL_IMG_CFG: [28:16] scaled height, [12:0] scaled width.
pub const CHNL_SCL_IMG_CFG: usize = 0x98;

/// Registers the model knows (others are recorded as unknown).
pub const KNOWN: &[usize] = &[
    CHNL_CTRL,
    CHNL_IMG_CTRL,
    CHNL_OUT_BUF_CTRL,
    CHNL_IMG_CFG,
    CHNL_IER,
    CHNL_STS,
    CHNL_SCALE_FACTOR,
    CHNL_SCALE_OFFSET,
    CHNL_CROP_ULC,
    CHNL_CROP_LRC,
    0x28,
    0x2C,
    0x30,
    0x34,
    0x38,
    0x3C,
    CHNL_OUT_BUF1_ADDR_Y,
    CHNL_OUT_BUF1_ADDR_U,
    CHNL_OUT_BUF1_ADDR_V,
    CHNL_OUT_BUF_PITCH,
    CHNL_IN_BUF_ADDR,
    CHNL_IN_BUF_PITCH,
    CHNL_MEM_RD_CTRL,
    CHNL_OUT_BUF2_ADDR_Y,
    CHNL_SCL_IMG_CFG,
];

/// CHNL_CTRL bits.
pub const CTRL_CHNL_EN: u32 = 1 << 31;
/// CHNL_CTRL CLK_EN.
pub const CTRL_CLK_EN: u32 = 1 << 30;
/// CHNL_CTRL CHNL_BYPASS.
pub const CTRL_BYPASS: u32 = 1 << 29;
/// CHNL_CTRL SW_RST.
pub const CTRL_SW_RST: u32 = 1 << 24;
/// CHNL_CTRL SRC_TYPE = memory.
pub const CTRL_SRC_MEMORY: u32 = 1 << 4;

/// CHNL_IMG_CTRL GBL_ALPHA_EN.
pub const IMG_GBL_ALPHA_EN: u32 = 1 << 15;
/// CHNL_IMG_CTRL CROP_EN.
pub const IMG_CROP_EN: u32 = 1 << 7;
/// CHNL_IMG_CTRL VFLIP_EN.
pub const IMG_VFLIP: u32 = 1 << 6;
/// CHNL_IMG_CTRL HFLIP_EN.
pub const IMG_HFLIP: u32 = 1 << 5;
/// CHNL_IMG_CTRL YCBCR_MODE: the scaler works on YUV (Linux: must be set for YUV input).
pub const IMG_YCBCR_MODE: u32 = 1 << 3;
/// CHNL_IMG_CTRL CSC_BYPASS.
pub const IMG_CSC_BYPASS: u32 = 1;
/// CSC_MODE (bits 2:1) YCbCr to RGB.
pub const CSC_MODE_YCBCR2RGB: u32 = 1;

/// Output formats (CHNL_IMG_CTRL FORMAT) the model writes.
pub const OUT_ARGB8888: u32 = 0x02;
/// XRGB888 in 32 bits.
pub const OUT_XRGB888: u32 = 0x05;
/// RGB565.
pub const OUT_RGB565: u32 = 0x0A;

/// Memory input types (CHNL_MEM_RD_CTRL IMG_TYPE) the model reads.
pub const IN_XRGB8: u32 = 0x2;
/// RGB565.
pub const IN_RGB565: u32 = 0x5;
/// YUV 4:2:2 one plane, 8 bits packed (V4L2 YUYV in Linux's table).
pub const IN_YUV422_1P8P: u32 = 0xD;

/// Status / enable bits.
pub const STS_MEM_RD_DONE: u32 = 1 << 31;
/// FRM_STRD: the frame is stored (the m2m path's completion).
pub const STS_FRM_STRD: u32 = 1 << 29;
/// AXI write error on the Y (RGB) output.
pub const STS_AXI_WR_ERR_Y: u32 = 1 << 26;
/// AXI read error on the memory input.
pub const STS_AXI_RD_ERR: u32 = 1 << 25;

/// READ_MEM.
pub const MEM_RD_READ_MEM: u32 = 1;
