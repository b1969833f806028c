//! The SDMA registers and memory structures this driver programs: offsets and fields.
//!
//! From Linux `drivers/dma/imx-sdma.c` (facts only: `SDMA_H_*`, `SDMA_CHNPRI_0`,
//! `SDMA_CHNENBL0_IMX35`, `BD_*`, `C0_*`, `struct sdma_mode_count`,
//! `struct sdma_buffer_descriptor`, `struct sdma_channel_control`,
//! `struct sdma_context_data`, `SDMA_BD_MAX_CNT`) and
//! `include/linux/platform_data/dma-imx-sdma.h` with the `sdma_script_imx7d` table that
//! `fsl,imx8mp-sdma` uses (hardware.md §3.5). Accesses go through
//! [`dmasync_hal::mmio::RegisterIo`] at these byte offsets.

// register_bitfields! makes items (field enums, `Register` types) that cannot carry docs.
#![allow(missing_docs)]

use tock_registers::register_bitfields;

/// SDMA_H_C0PTR: bus address of the channel control block array.
pub const C0PTR: usize = 0x000;
/// SDMA_H_INTR: one bit per channel, write 1 to clear.
pub const INTR: usize = 0x004;
/// SDMA_H_STATSTOP: reads the channels' HE bits; a 1 written stops the channel.
pub const STATSTOP: usize = 0x008;
/// SDMA_H_START (HSTART): a 1 written starts the channel.
pub const HSTART: usize = 0x00C;
/// SDMA_H_EVTOVR.
pub const EVTOVR: usize = 0x010;
/// SDMA_H_DSPOVR.
pub const DSPOVR: usize = 0x014;
/// SDMA_H_HOSTOVR.
pub const HOSTOVR: usize = 0x018;
/// SDMA_H_CONFIG.
pub const CONFIG: usize = 0x038;
/// SDMA_CHN0ADDR: `sdma_init` writes 0x4050 ("Set Command Channel (Channel Zero)").
pub const CHN0ADDR: usize = 0x05C;
/// The value `sdma_init` writes to CHN0ADDR.
pub const CHN0ADDR_VALUE: u32 = 0x4050;
/// SDMA_CHNPRI_0; channel n's priority at +4n.
pub const CHNPRI_0: usize = 0x100;
/// SDMA_CHNENBL0 (i.MX35 and later); event n's channel mask at +4n.
pub const CHNENBL_0: usize = 0x200;
/// Events of the i.MX 7D / 8M SDMA (`sdma_imx7d.num_events`).
pub const EVENTS: usize = 48;
/// Channels (`MAX_DMA_CHANNELS`).
pub const CHANNELS: usize = 32;
/// Highest channel priority (`MXC_SDMA_MAX_PRIORITY`); 0 disables a channel.
pub const MAX_PRIORITY: u32 = 7;

/// Bytes of a channel control block (`current_bd_ptr`, `base_bd_ptr`, 2 unused words).
pub const CCB_BYTES: usize = 16;
/// Bytes of a buffer descriptor (mode word, `buffer_addr`, `ext_buffer_addr`).
pub const BD_BYTES: usize = 12;
/// Words of a channel context (`sizeof(struct sdma_context_data) / 4`).
pub const CONTEXT_WORDS: u32 = 32;
/// SDMA data-memory word address of the contexts: channel n's is at `2048 + 32 n`.
pub const CONTEXT_BASE: u32 = 2048;
/// Largest count per BD Linux uses (`SDMA_BD_MAX_CNT`, the 16-bit field kept 4-aligned).
pub const BD_MAX_COUNT: usize = 0xFFFC;
/// The ROM script ap_2_ap (`sdma_script_imx7d.ap_2_ap_addr`).
pub const AP_2_AP: u32 = 644;
/// Channel-0 command C0_SETDM: `count` words from `buffer_addr` into data memory.
pub const C0_SETDM: u32 = 0x01;

register_bitfields![u32,
    /// `struct sdma_mode_count`: the first word of a buffer descriptor.
    pub MODE [
        COUNT OFFSET(0) NUMBITS(16) [],
        DONE OFFSET(16) NUMBITS(1) [],
        WRAP OFFSET(17) NUMBITS(1) [],
        CONT OFFSET(18) NUMBITS(1) [],
        INTR OFFSET(19) NUMBITS(1) [],
        ERROR OFFSET(20) NUMBITS(1) [],
        LAST OFFSET(21) NUMBITS(1) [],
        EXTD OFFSET(23) NUMBITS(1) [],
        COMMAND OFFSET(24) NUMBITS(8) []
    ],
    /// SDMA_H_CONFIG.
    pub CONFIG_BITS [
        /// Context switch mode; 3 = dynamic (`SDMA_H_CONFIG_CSM`).
        CSM OFFSET(0) NUMBITS(2) [Dynamic = 3],
        /// AHB/core clock ratio (`SDMA_H_CONFIG_ACR`).
        ACR OFFSET(4) NUMBITS(1) []
    ],
    /// `struct sdma_state_registers`, first word.
    pub STATE0 [
        PC OFFSET(0) NUMBITS(14) []
    ]
];
