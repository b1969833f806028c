//! The model's own register offsets and bits (Linux `drivers/gpu/drm/mxsfb/lcdif_regs.h`,
//! the "V8" set; hardware.md §3.4). Written for the model, apart from the driver's.

/// CTRL; SET and CLR aliases at +4 / +8 (`REG_SET`, `REG_CLR`).
pub const CTRL: usize = 0x00;
/// CTRL set alias.
pub const CTRL_SET: usize = 0x04;
/// CTRL clear alias.
pub const CTRL_CLR: usize = 0x08;
/// DISP_PARA: DISP_ON b31, LINE_PATTERN \[29:26\], background RGB \[23:0\].
pub const DISP_PARA: usize = 0x10;
/// DISP_SIZE: DELTA_Y \[31:16\], DELTA_X \[15:0\].
pub const DISP_SIZE: usize = 0x14;
/// HSYN_PARA: BP \[31:16\], FP \[15:0\].
pub const HSYN_PARA: usize = 0x18;
/// VSYN_PARA: BP \[31:16\], FP \[15:0\].
pub const VSYN_PARA: usize = 0x1C;
/// VSYN_HSYN_WIDTH: PW_V \[31:16\], PW_H \[15:0\].
pub const VSYN_HSYN_WIDTH: usize = 0x20;
/// INT_STATUS_D0 (write 1 to clear, as Linux's `lcdif_irq_handler` writes it back).
pub const INT_STATUS_D0: usize = 0x24;
/// INT_ENABLE_D0.
pub const INT_ENABLE_D0: usize = 0x28;
/// INT_STATUS_D1.
pub const INT_STATUS_D1: usize = 0x30;
/// INT_ENABLE_D1.
pub const INT_ENABLE_D1: usize = 0x34;
/// CTRLDESCL0_1: HEIGHT \[31:16\], WIDTH \[15:0\].
pub const CTRLDESCL0_1: usize = 0x200;
/// CTRLDESCL0_3: PITCH \[15:0\] (P_SIZE/T_SIZE burst fields above it).
pub const CTRLDESCL0_3: usize = 0x208;
/// CTRLDESCL_LOW0_4: address bits \[31:0\].
pub const CTRLDESCL_LOW0_4: usize = 0x20C;
/// CTRLDESCL_HIGH0_4: address bits \[35:32\] in \[3:0\].
pub const CTRLDESCL_HIGH0_4: usize = 0x210;
/// CTRLDESCL0_5: EN b31, SHADOW_LOAD_EN b30, BPP \[27:24\].
pub const CTRLDESCL0_5: usize = 0x214;
/// CSC0_CTRL .. CSC0_COEF5 (0x21C..=0x234), stored only.
pub const CSC0_CTRL: usize = 0x21C;
/// The last CSC coefficient register.
pub const CSC0_COEF5: usize = 0x234;
/// PANIC0_THRES, stored only.
pub const PANIC0_THRES: usize = 0x238;
/// Bytes of the register window the model answers.
pub const WINDOW: usize = 0x240;

/// CTRL.SW_RESET.
pub const SW_RESET: u32 = 1 << 31;
/// DISP_PARA.DISP_ON.
pub const DISP_ON: u32 = 1 << 31;
/// CTRLDESCL0_5.EN.
pub const EN: u32 = 1 << 31;
/// CTRLDESCL0_5.SHADOW_LOAD_EN.
pub const SHADOW_LOAD_EN: u32 = 1 << 30;

/// INT_STATUS_D0 bits.
pub const INT_VSYNC: u32 = 1 << 0;
/// Underrun.
pub const INT_UNDERRUN: u32 = 1 << 1;
/// Vertical blanking started.
pub const INT_VS_BLANK: u32 = 1 << 2;
/// The plane's DMA hit a bus error.
pub const INT_DMA_ERR: u32 = 1 << 8;
/// The plane's DMA fetched the whole frame.
pub const INT_DMA_DONE: u32 = 1 << 16;
/// FIFO empty (never raised by the model).
pub const INT_FIFO_EMPTY: u32 = 1 << 24;
/// Every INT_STATUS_D0 bit.
pub const INT_ALL: u32 =
    INT_VSYNC | INT_UNDERRUN | INT_VS_BLANK | INT_DMA_ERR | INT_DMA_DONE | INT_FIFO_EMPTY;

/// CTRLDESCL0_5.BPP values the model scans out.
pub const BPP_RGB565: u32 = 0x4;
/// 32-bit ARGB8888 (also what Linux programs for XRGB8888).
pub const BPP_ARGB8888: u32 = 0x9;
/// 32-bit ABGR8888.
pub const BPP_ABGR8888: u32 = 0xA;

/// The register offsets the model knows.
pub fn known(offset: usize) -> bool {
    matches!(
        offset,
        CTRL | CTRL_SET
            | CTRL_CLR
            | DISP_PARA
            | DISP_SIZE
            | HSYN_PARA
            | VSYN_PARA
            | VSYN_HSYN_WIDTH
            | INT_STATUS_D0
            | INT_ENABLE_D0
            | INT_STATUS_D1
            | INT_ENABLE_D1
            | CTRLDESCL0_1
            | CTRLDESCL0_3
            | CTRLDESCL_LOW0_4
            | CTRLDESCL_HIGH0_4
            | CTRLDESCL0_5
            | PANIC0_THRES
    ) || (CSC0_CTRL..=CSC0_COEF5).contains(&offset) && offset.is_multiple_of(4)
}
