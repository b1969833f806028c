//! The FIMG2D registers this driver programs: offsets and fields.
//!
//! Offsets from libdrm `exynos/fimg2d_reg.h` (MIT) and Linux `exynos_drm_g2d.c` /
//! `s5p-g2d/g2d-regs.h` (facts only), which agree on every one used here (hardware.md
//! §3.1). Fields from libdrm `exynos/fimg2d.h` (`g2d_bitblt_cmd_val`, `g2d_blend_func_val`,
//! `g2d_round_mode`, `e_g2d_coeff_mode`, `e_g2d_acoeff_mode`, `e_g2d_color_mode`) and Linux
//! (`G2D_INTEN_*`, `G2D_DMA_*`, `G2D_SFRCLEAR`). Accesses go through
//! [`dmasync_hal::mmio::RegisterIo`] at these byte offsets: a board's `MmioWindow` on
//! hardware, the register model in host tests.

// register_bitfields! makes items (field enums, `Register` types) that cannot carry docs.
#![allow(missing_docs)]

use tock_registers::register_bitfields;

/// SOFT_RESET.
pub const SOFT_RESET: usize = 0x000;
/// INTEN: which completions raise the interrupt.
pub const INTEN: usize = 0x004;
/// INTC_PEND: pending completions, write 1 to clear.
pub const INTC_PEND: usize = 0x00C;
/// CACHECTL: s5p-g2d writes 7 on v3.0 before every start (`g2d_start`, TYPE_G2D_3X).
pub const CACHECTL: usize = 0x018;
/// DMA_SFR_BASE_ADDR (v4.1): bus address of the first command list.
pub const DMA_SFR_BASE_ADDR: usize = 0x080;
/// DMA_COMMAND (v4.1).
pub const DMA_COMMAND: usize = 0x084;
/// BITBLT_START.
pub const BITBLT_START: usize = 0x100;
/// BITBLT_COMMAND.
pub const BITBLT_COMMAND: usize = 0x104;
/// BLEND_FUNCTION (v4.1).
pub const BLEND_FUNCTION: usize = 0x108;
/// ROUND_MODE (v4.1).
pub const ROUND_MODE: usize = 0x10C;
/// SRC_SELECT; SRC_BASE_ADDR, SRC_STRIDE, SRC_COLOR_MODE, SRC_LEFT_TOP, SRC_RIGHT_BOTTOM
/// follow at +4 .. +0x14.
pub const SRC_SELECT: usize = 0x300;
/// DST_SELECT; the DST_* registers follow as the SRC_* ones do.
pub const DST_SELECT: usize = 0x400;
/// From a SELECT register to its BASE_ADDR.
pub const BASE_ADDR: usize = 0x4;
/// From a SELECT register to its STRIDE.
pub const STRIDE: usize = 0x8;
/// From a SELECT register to its COLOR_MODE.
pub const COLOR_MODE: usize = 0xC;
/// From a SELECT register to its LEFT_TOP.
pub const LEFT_TOP: usize = 0x10;
/// From a SELECT register to its RIGHT_BOTTOM (exclusive corner).
pub const RIGHT_BOTTOM: usize = 0x14;
/// ROP4.
pub const ROP4: usize = 0x614;
/// ALPHA: [7:0] the global alpha.
pub const ALPHA: usize = 0x618;
/// FG_COLOR.
pub const FG_COLOR: usize = 0x700;
/// SF_COLOR (v4.1): the fast solid fill colour.
pub const SF_COLOR: usize = 0x70C;

/// ROP3 "source copy" (libdrm `G2D_ROP3_SRC`).
pub const ROP3_SRC: u32 = 0xCC;

/// A command list is 1 KiB (Linux `G2D_CMDLIST_SIZE` = PAGE_SIZE / 4): `head` (the number
/// of pairs), 254 data words of (offset, value) pairs, the word after the last pair the
/// next list's bus address or 0.
pub const LIST_BYTES: usize = 1024;
/// Lists the engine chains at most (Linux `G2D_CMDLIST_NUM`).
pub const MAX_LISTS: usize = 64;
/// The largest coordinate LEFT_TOP / RIGHT_BOTTOM take (Linux `G2D_LEN_MAX`, libdrm
/// "Range: 0 ~ 8000").
pub const MAX_COORD: u32 = 8000;

register_bitfields![u32,
    /// SOFT_RESET (Linux `G2D_SFRCLEAR`, `G2D_R`).
    pub SOFT_RESET_BITS [
        /// Resets the engine.
        RESET OFFSET(0) NUMBITS(1) [],
        /// Clears the blit registers only (the first pair of every Linux command list).
        SFRCLEAR OFFSET(1) NUMBITS(1) []
    ],
    /// INTEN and INTC_PEND (Linux `G2D_INTEN_*`, `G2D_INTP_*`).
    pub INT [
        /// A blit started from the CPU finished.
        SCF OFFSET(0) NUMBITS(1) [],
        /// A list finished (with LIST_HOLD).
        GCF OFFSET(1) NUMBITS(1) [],
        /// A user-held command finished.
        UCF OFFSET(2) NUMBITS(1) [],
        /// Every list of the chain finished.
        ACF OFFSET(3) NUMBITS(1) []
    ],
    /// DMA_COMMAND (Linux `G2D_DMA_START`, `_CONTINUE`, `_HALT`).
    pub DMA_CMD [
        /// Fetch and run the lists from DMA_SFR_BASE_ADDR.
        START OFFSET(0) NUMBITS(1) []
    ],
    /// BITBLT_COMMAND (libdrm `g2d_bitblt_cmd_val`).
    pub BITBLT_CMD [
        /// [23:20] alpha blend mode.
        ALPHA_BLEND OFFSET(20) NUMBITS(4) [
            Disable = 0,
            Enable = 1
        ],
        /// Bit 28: fast solid colour fill from SF_COLOR.
        FAST_SOLID_FILL OFFSET(28) NUMBITS(1) []
    ],
    /// BLEND_FUNCTION (libdrm `g2d_blend_func_val`).
    pub BLEND [
        /// Source coefficient (`e_g2d_coeff_mode`).
        SRC_COEFF OFFSET(0) NUMBITS(4) [
            One = 0,
            Zero = 1,
            SrcAlpha = 2
        ],
        /// How the source coefficient takes the source alpha (`e_g2d_acoeff_mode`).
        SRC_COEFF_SRC_A OFFSET(4) NUMBITS(2) [
            Alpha = 0,
            AlphaTimesGlobal = 2
        ],
        /// Destination coefficient.
        DST_COEFF OFFSET(8) NUMBITS(4) [
            One = 0,
            Zero = 1,
            SrcAlpha = 2
        ],
        /// How the destination coefficient takes the source alpha.
        DST_COEFF_SRC_A OFFSET(12) NUMBITS(2) [
            Alpha = 0,
            AlphaTimesGlobal = 2
        ],
        /// 1 - the destination coefficient.
        INV_DST_COLOR_COEFF OFFSET(18) NUMBITS(1) []
    ],
    /// ROUND_MODE (libdrm `g2d_round_mode`): mode 3 is the initial value of both.
    pub ROUND [
        /// BLEND_ROUND_3: (A*B + C*D + 0x80) with the /255 correction.
        BLEND_ROUND OFFSET(0) NUMBITS(2) [],
        /// PREMULT_ROUND_3.
        PREMULT_ROUND OFFSET(4) NUMBITS(2) []
    ],
    /// LEFT_TOP / RIGHT_BOTTOM (libdrm `g2d_point_val`).
    pub POINT [
        /// Column.
        X OFFSET(0) NUMBITS(16) [],
        /// Row.
        Y OFFSET(16) NUMBITS(16) []
    ],
    /// SRC_SELECT / DST_SELECT (libdrm `e_g2d_select_mode`).
    pub SELECT [
        /// Where the operand comes from.
        MODE OFFSET(0) NUMBITS(2) [
            Normal = 0,
            Foreground = 1,
            Background = 2
        ]
    ],
    /// SRC_COLOR_MODE / DST_COLOR_MODE (libdrm `e_g2d_color_mode`).
    pub COLOR [
        /// [3:0] the format.
        FORMAT OFFSET(0) NUMBITS(4) [
            Xrgb8888 = 0,
            Argb8888 = 1
        ],
        /// [5:4] the component order.
        ORDER OFFSET(4) NUMBITS(2) [
            Axrgb = 0
        ]
    ]
];
