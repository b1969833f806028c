//! The BCM2835 DMA registers and control block this driver programs: offsets and fields.
//!
//! From the public "BCM2835 ARM Peripherals" document, §4.2 (as quoted and used in Linux
//! `drivers/dma/bcm2835-dma.c`: `BCM2835_DMA_*`, `struct bcm2835_dma_cb`, `MAX_DMA_LEN`,
//! `MAX_LITE_DMA_LEN`) and QEMU `hw/dma/bcm2835_dma.c`; facts only. raspi3b.md §4 has
//! what was checked under QEMU. Accesses go through [`dmasync_hal::mmio::RegisterIo`] at
//! these byte offsets from the block of channels 0-14 (0x7E00_7000 on the bus).

// register_bitfields! makes items (field enums, `Register` types) that cannot carry docs.
#![allow(missing_docs)]

use tock_registers::register_bitfields;

/// Channels 0-14 lie in one block at 0x100 per channel (channel 15 has its own block and,
/// on the Pi, no interrupt line: not used).
pub const CHANNELS: usize = 15;
/// Bytes between two channels' registers.
pub const CHANNEL_STRIDE: usize = 0x100;
/// CS: control and status.
pub const CS: usize = 0x00;
/// CONBLK_AD: bus address of the control block to load (0 = idle, the chain's end).
pub const CONBLK_AD: usize = 0x04;
/// DEBUG: error flags (write 1 to clear) and the LITE bit.
pub const DEBUG: usize = 0x20;
/// INT_STATUS: one bit per channel, the channel's CS.INT.
pub const INT_STATUS: usize = 0xFE0;
/// ENABLE: one bit per channel; a channel whose bit is clear does not run (reset 0xFFFF).
pub const ENABLE: usize = 0xFF0;

/// Offset of register `reg` of channel `ch`.
pub const fn chan(ch: usize, reg: usize) -> usize {
    ch * CHANNEL_STRIDE + reg
}

/// Bytes of a control block: TI, SOURCE_AD, DEST_AD, TXFR_LEN, STRIDE, NEXTCONBK, 2 reserved.
pub const CB_BYTES: usize = 32;
/// Control blocks must start on a 256-bit boundary (Peripherals §4.2.1.1, quoted in Linux).
pub const CB_ALIGN: usize = 32;
/// Longest TXFR_LEN of a full channel: its field is 30 bits (Linux caps at `SZ_1G`), kept a
/// multiple of 4.
pub const MAX_LEN: usize = (1 << 30) - 4;
/// Longest TXFR_LEN of a lite channel (Linux `MAX_LITE_DMA_LEN`, 64 KiB - 4).
pub const MAX_LITE_LEN: usize = 0x1_0000 - 4;
/// Channels 7-14 are lite (Peripherals §4.5: no 2D mode, 16-bit length) even when DEBUG.LITE
/// reads 0, as it does under QEMU.
pub const FIRST_LITE: usize = 7;

register_bitfields![u32,
    /// CS (`BCM2835_DMA_ACTIVE` ... `BCM2835_DMA_RESET`).
    pub CS_BITS [
        ACTIVE OFFSET(0) NUMBITS(1) [],
        /// The current CB ended; write 1 to clear.
        END OFFSET(1) NUMBITS(1) [],
        /// Interrupt status; write 1 to clear.
        INT OFFSET(2) NUMBITS(1) [],
        PAUSED OFFSET(4) NUMBITS(1) [],
        WAITING_FOR_OUTSTANDING_WRITES OFFSET(6) NUMBITS(1) [],
        /// An error; the flags are in DEBUG.
        ERROR OFFSET(8) NUMBITS(1) [],
        ABORT OFFSET(30) NUMBITS(1) [],
        /// Self-clearing channel reset.
        RESET OFFSET(31) NUMBITS(1) []
    ],
    /// TI, the first word of a control block (`BCM2835_DMA_INT_EN` ... `NO_WIDE_BURSTS`).
    pub TI [
        INTEN OFFSET(0) NUMBITS(1) [],
        /// 2D mode: TXFR_LEN is YLENGTH:XLENGTH, STRIDE applies.
        TDMODE OFFSET(1) NUMBITS(1) [],
        /// Wait for each write's AXI response.
        WAIT_RESP OFFSET(3) NUMBITS(1) [],
        DEST_INC OFFSET(4) NUMBITS(1) [],
        DEST_WIDTH OFFSET(5) NUMBITS(1) [],
        DEST_DREQ OFFSET(6) NUMBITS(1) [],
        DEST_IGNORE OFFSET(7) NUMBITS(1) [],
        SRC_INC OFFSET(8) NUMBITS(1) [],
        SRC_WIDTH OFFSET(9) NUMBITS(1) [],
        SRC_DREQ OFFSET(10) NUMBITS(1) [],
        SRC_IGNORE OFFSET(11) NUMBITS(1) [],
        BURST_LENGTH OFFSET(12) NUMBITS(4) [],
        PERMAP OFFSET(16) NUMBITS(5) [],
        WAITS OFFSET(21) NUMBITS(5) [],
        NO_WIDE_BURSTS OFFSET(26) NUMBITS(1) []
    ],
    /// TXFR_LEN in 2D mode: YLENGTH + 1 rows (raspi3b.md §4) of XLENGTH bytes.
    pub TXFR_2D [
        XLENGTH OFFSET(0) NUMBITS(16) [],
        YLENGTH OFFSET(16) NUMBITS(14) []
    ],
    /// STRIDE: signed byte increments added after each row but the last.
    pub STRIDE [
        S_STRIDE OFFSET(0) NUMBITS(16) [],
        D_STRIDE OFFSET(16) NUMBITS(16) []
    ],
    /// DEBUG (`BCM2835_DMA_DEBUG_*`).
    pub DEBUG_BITS [
        /// AXI read with the last signal not set; write 1 to clear.
        READ_LAST_NOT_SET_ERROR OFFSET(0) NUMBITS(1) [],
        /// FIFO error; write 1 to clear.
        FIFO_ERROR OFFSET(1) NUMBITS(1) [],
        /// Slave read response error; write 1 to clear.
        READ_ERROR OFFSET(2) NUMBITS(1) [],
        OUTSTANDING_WRITES OFFSET(4) NUMBITS(4) [],
        /// A lite channel.
        LITE OFFSET(28) NUMBITS(1) []
    ]
];

/// The three DEBUG error flags.
pub const DEBUG_ERRORS: u32 = 0b111;
