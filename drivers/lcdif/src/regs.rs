//! The LCDIFv3 ("V8" set) registers this driver programs: offsets and fields.
//!
//! From Linux `drivers/gpu/drm/mxsfb/lcdif_regs.h` (facts only; hardware.md §3.4). The
//! accesses go through [`dmasync_hal::mmio::RegisterIo`] at these byte offsets: a board's
//! `MmioWindow` on hardware, the register model in host tests.

// register_bitfields! makes items (field enums, `Register` types) that cannot carry docs.
#![allow(missing_docs)]

use tock_registers::register_bitfields;

/// CTRL (`LCDC_V8_CTRL`).
pub const CTRL: usize = 0x00;
/// CTRL's set alias (`REG_SET` = +4).
pub const CTRL_SET: usize = 0x04;
/// CTRL's clear alias (`REG_CLR` = +8).
pub const CTRL_CLR: usize = 0x08;
/// DISP_PARA.
pub const DISP_PARA: usize = 0x10;
/// DISP_SIZE.
pub const DISP_SIZE: usize = 0x14;
/// HSYN_PARA.
pub const HSYN_PARA: usize = 0x18;
/// VSYN_PARA.
pub const VSYN_PARA: usize = 0x1C;
/// VSYN_HSYN_WIDTH.
pub const VSYN_HSYN_WIDTH: usize = 0x20;
/// INT_STATUS_D0 (Linux's interrupt handler writes the bits it saw back to clear them).
pub const INT_STATUS_D0: usize = 0x24;
/// INT_ENABLE_D0.
pub const INT_ENABLE_D0: usize = 0x28;
/// CTRLDESCL0_1: the plane's size.
pub const CTRLDESCL0_1: usize = 0x200;
/// CTRLDESCL0_3: the plane's pitch and burst sizes.
pub const CTRLDESCL0_3: usize = 0x208;
/// CTRLDESCL_LOW0_4: framebuffer address \[31:0\].
pub const CTRLDESCL_LOW0_4: usize = 0x20C;
/// CTRLDESCL_HIGH0_4: framebuffer address \[35:32\].
pub const CTRLDESCL_HIGH0_4: usize = 0x210;
/// CTRLDESCL0_5: enable, shadow load, format.
pub const CTRLDESCL0_5: usize = 0x214;
/// CSC0_CTRL: BYPASS b0 (`lcdif_set_formats` bypasses it for RGB in, RGB out).
pub const CSC0_CTRL: usize = 0x21C;
/// CSC0_CTRL.BYPASS.
pub const CSC0_BYPASS: u32 = 1 << 0;

/// `LCDIF_MIN_XRES` / `LCDIF_MIN_YRES`.
pub const MIN_RES: u32 = 120;
/// `LCDIF_MAX_XRES` / `LCDIF_MAX_YRES`.
pub const MAX_RES: u32 = 0xFFFF;
/// CTRLDESCL0_3.PITCH is 16 bits wide.
pub const MAX_PITCH: usize = 0xFFFF;
/// CTRLDESCL_HIGH0_4 carries address bits \[35:32\]: a 36-bit bus.
pub const ADDR_BITS: u32 = 36;

register_bitfields![u32,
    pub CTRL [
        SW_RESET OFFSET(31) NUMBITS(1) [],
        NEG OFFSET(4) NUMBITS(1) [],
        INV_PXCK OFFSET(3) NUMBITS(1) [],
        INV_DE OFFSET(2) NUMBITS(1) [],
        INV_VS OFFSET(1) NUMBITS(1) [],
        INV_HS OFFSET(0) NUMBITS(1) []
    ],
    pub DISP_PARA [
        DISP_ON OFFSET(31) NUMBITS(1) [],
        LINE_PATTERN OFFSET(26) NUMBITS(4) [
            Rgb888 = 0
        ],
        BGND OFFSET(0) NUMBITS(24) []
    ],
    /// DISP_SIZE and CTRLDESCL0_1: Y (height) \[31:16\], X (width) \[15:0\].
    pub SIZE [
        Y OFFSET(16) NUMBITS(16) [],
        X OFFSET(0) NUMBITS(16) []
    ],
    /// HSYN_PARA, VSYN_PARA: back porch \[31:16\], front porch \[15:0\].
    pub PORCH [
        BP OFFSET(16) NUMBITS(16) [],
        FP OFFSET(0) NUMBITS(16) []
    ],
    pub VSYN_HSYN_WIDTH [
        PW_V OFFSET(16) NUMBITS(16) [],
        PW_H OFFSET(0) NUMBITS(16) []
    ],
    pub INT_D0 [
        FIFO_EMPTY OFFSET(24) NUMBITS(1) [],
        DMA_DONE OFFSET(16) NUMBITS(1) [],
        DMA_ERR OFFSET(8) NUMBITS(1) [],
        VS_BLANK OFFSET(2) NUMBITS(1) [],
        UNDERRUN OFFSET(1) NUMBITS(1) [],
        VSYNC OFFSET(0) NUMBITS(1) []
    ],
    /// P_SIZE and T_SIZE are undocumented; Linux (`lcdif_set_mode`) sets both to 2
    /// (256-byte bursts), as the downstream kernel does.
    pub CTRLDESCL0_3 [
        P_SIZE OFFSET(20) NUMBITS(3) [],
        T_SIZE OFFSET(16) NUMBITS(2) [],
        PITCH OFFSET(0) NUMBITS(16) []
    ],
    pub CTRLDESCL0_5 [
        EN OFFSET(31) NUMBITS(1) [],
        SHADOW_LOAD_EN OFFSET(30) NUMBITS(1) [],
        BPP OFFSET(24) NUMBITS(4) [
            Rgb565 = 0x4,
            Argb8888 = 0x9
        ]
    ]
];
