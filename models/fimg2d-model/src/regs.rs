//! The FIMG2D registers the model decodes, as the public sources give them: libdrm
//! `exynos/fimg2d_reg.h` and `exynos/fimg2d.h` (MIT), Linux `exynos_drm_g2d.c` and
//! `s5p-g2d/g2d-regs.h` (facts only), hardware.md §3.1. Written here from those sources,
//! not shared with the driver: a model that took the driver's constants would agree with
//! any mistake in them.

/// SOFT_RESET: bit 0 resets the engine, bit 1 (SFRCLEAR) clears the SFRs only.
pub const SOFT_RESET: usize = 0x000;
/// INTEN: bit 0 SCF (blit done, direct mode), 1 GCF, 2 UCF, 3 ACF (all lists done).
pub const INTEN: usize = 0x004;
/// INTC_PEND: the same bits, pending; write 1 to clear.
pub const INTC_PEND: usize = 0x00C;
/// FIFO_STAT.
pub const FIFO_STAT: usize = 0x010;
/// AXI_ID_MODE.
pub const AXI_ID_MODE: usize = 0x014;
/// CACHECTL (s5p-g2d writes 7 on v3.0 before a start).
pub const CACHECTL: usize = 0x018;
/// AXI_MODE.
pub const AXI_MODE: usize = 0x01C;
/// DMA_SFR_BASE_ADDR (v4.1): bus address of the first command list.
pub const DMA_SFR_BASE_ADDR: usize = 0x080;
/// DMA_COMMAND (v4.1): bit 0 START, 1 CONTINUE, 2 HALT.
pub const DMA_COMMAND: usize = 0x084;
/// DMA_EXE_LIST_NUM (v4.1).
pub const DMA_EXE_LIST_NUM: usize = 0x088;
/// DMA_STATUS (v4.1): bit 0 DONE, [16:1] blits done, [24:17] lists done.
pub const DMA_STATUS: usize = 0x08C;
/// DMA_HOLD_CMD (v4.1).
pub const DMA_HOLD_CMD: usize = 0x090;
/// BITBLT_START: bit 0 starts the programmed blit.
pub const BITBLT_START: usize = 0x100;
/// BITBLT_COMMAND (libdrm `g2d_bitblt_cmd_val`).
pub const BITBLT_COMMAND: usize = 0x104;
/// BLEND_FUNCTION (v4.1, libdrm `g2d_blend_func_val`).
pub const BLEND_FUNCTION: usize = 0x108;
/// ROUND_MODE (v4.1, libdrm `g2d_round_mode`).
pub const ROUND_MODE: usize = 0x10C;
/// ROTATE.
pub const ROTATE: usize = 0x200;
/// SRC_MASK_DIRECT.
pub const SRC_MASK_DIRECT: usize = 0x204;
/// DST_PAT_DIRECT.
pub const DST_PAT_DIRECT: usize = 0x208;
/// SRC_SELECT: 0 normal (memory), 1 FG colour, 2 BG colour.
pub const SRC_SELECT: usize = 0x300;
/// SRC_BASE_ADDR.
pub const SRC_BASE_ADDR: usize = 0x304;
/// SRC_STRIDE (bytes).
pub const SRC_STRIDE: usize = 0x308;
/// SRC_COLOR_MODE.
pub const SRC_COLOR_MODE: usize = 0x30C;
/// SRC_LEFT_TOP (y << 16 | x).
pub const SRC_LEFT_TOP: usize = 0x310;
/// SRC_RIGHT_BOTTOM (y << 16 | x, exclusive).
pub const SRC_RIGHT_BOTTOM: usize = 0x314;
/// SRC_SCALE_CTRL.
pub const SRC_SCALE_CTRL: usize = 0x328;
/// DST_SELECT: 0 normal (memory, read), 1 FG colour, 2 BG colour (not read).
pub const DST_SELECT: usize = 0x400;
/// DST_BASE_ADDR.
pub const DST_BASE_ADDR: usize = 0x404;
/// DST_STRIDE.
pub const DST_STRIDE: usize = 0x408;
/// DST_COLOR_MODE.
pub const DST_COLOR_MODE: usize = 0x40C;
/// DST_LEFT_TOP.
pub const DST_LEFT_TOP: usize = 0x410;
/// DST_RIGHT_BOTTOM.
pub const DST_RIGHT_BOTTOM: usize = 0x414;
/// THIRD_OPERAND.
pub const THIRD_OPERAND: usize = 0x610;
/// ROP4: [7:0] unmasked ROP3, [15:8] masked.
pub const ROP4: usize = 0x614;
/// ALPHA: [7:0] global alpha, [31:8] global colour.
pub const ALPHA: usize = 0x618;
/// FG_COLOR.
pub const FG_COLOR: usize = 0x700;
/// BG_COLOR.
pub const BG_COLOR: usize = 0x704;
/// BS_COLOR.
pub const BS_COLOR: usize = 0x708;
/// SF_COLOR (v4.1): the fast solid fill colour.
pub const SF_COLOR: usize = 0x70C;

/// The register window's size: user space may write up to 0x880 (Linux `g2d_check_reg_offset`).
pub const WINDOW: usize = 0x1000;

/// Registers both versions have.
pub const COMMON: &[usize] = &[
    SOFT_RESET,
    INTEN,
    INTC_PEND,
    FIFO_STAT,
    AXI_ID_MODE,
    CACHECTL,
    AXI_MODE,
    BITBLT_START,
    BITBLT_COMMAND,
    ROTATE,
    SRC_MASK_DIRECT,
    DST_PAT_DIRECT,
    SRC_SELECT,
    SRC_BASE_ADDR,
    SRC_STRIDE,
    SRC_COLOR_MODE,
    SRC_LEFT_TOP,
    SRC_RIGHT_BOTTOM,
    SRC_SCALE_CTRL,
    DST_SELECT,
    DST_BASE_ADDR,
    DST_STRIDE,
    DST_COLOR_MODE,
    DST_LEFT_TOP,
    DST_RIGHT_BOTTOM,
    THIRD_OPERAND,
    ROP4,
    ALPHA,
    FG_COLOR,
    BG_COLOR,
    BS_COLOR,
];

/// Registers only v4.1 has (the command-list DMA, the blend function, the fast fill).
pub const V41_ONLY: &[usize] = &[
    DMA_SFR_BASE_ADDR,
    DMA_COMMAND,
    DMA_EXE_LIST_NUM,
    DMA_STATUS,
    DMA_HOLD_CMD,
    BLEND_FUNCTION,
    ROUND_MODE,
    SF_COLOR,
];

/// INTEN / INTC_PEND bit 0: a blit started by BITBLT_START from the CPU finished.
pub const INT_SCF: u32 = 1 << 0;
/// INTEN / INTC_PEND bit 3: every command list of a DMA_COMMAND START finished.
pub const INT_ACF: u32 = 1 << 3;

/// BITBLT_COMMAND bit 28: fast solid colour fill from SF_COLOR.
pub const CMD_FAST_FILL: u32 = 1 << 28;
/// BITBLT_COMMAND [23:20]: alpha blend mode (0 off, 1 on, 2 fading on v3.0).
pub const CMD_BLEND_SHIFT: u32 = 20;

/// Colour modes (libdrm `e_g2d_color_mode`, [3:0]; [5:4] component order, 0 = AXRGB).
pub const MODE_XRGB8888: u32 = 0;
/// ARGB8888.
pub const MODE_ARGB8888: u32 = 1;

/// A command list's size in bytes (Linux `G2D_CMDLIST_SIZE` = PAGE_SIZE / 4).
pub const LIST_BYTES: usize = 1024;
/// Pairs a list holds: 254 data words (`G2D_CMDLIST_DATA_NUM`) less the next-list word.
pub const LIST_MAX_PAIRS: u32 = 126;
/// Lists a chain holds at most (Linux `G2D_CMDLIST_NUM`).
pub const MAX_LISTS: usize = 64;

/// The coordinate limit of LEFT_TOP / RIGHT_BOTTOM (libdrm: "Range: 0 ~ 8000").
pub const MAX_COORD: u32 = 8000;
