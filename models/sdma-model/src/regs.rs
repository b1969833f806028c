//! The model's own register offsets and descriptor bits, from Linux
//! `drivers/dma/imx-sdma.c` (facts only) and `include/linux/platform_data/dma-imx-sdma.h`
//! (the script table). Written apart from the driver's.

/// Bytes of the register window (CHNENBL for 48 events ends at 0x2C0; 0x4000 mapped).
pub const WINDOW: usize = 0x4000;

/// SDMA_H_C0PTR: bus address of the channel control block array.
pub const C0PTR: usize = 0x000;
/// SDMA_H_INTR: per-channel interrupt, write 1 to clear.
pub const INTR: usize = 0x004;
/// SDMA_H_STATSTOP: reads the channels' HE bits, a 1 written stops that channel.
pub const STATSTOP: usize = 0x008;
/// SDMA_H_START (HSTART): a 1 written sets that channel's HE bit.
pub const HSTART: usize = 0x00C;
/// SDMA_H_EVTOVR.
pub const EVTOVR: usize = 0x010;
/// SDMA_H_DSPOVR.
pub const DSPOVR: usize = 0x014;
/// SDMA_H_HOSTOVR.
pub const HOSTOVR: usize = 0x018;
/// SDMA_H_EVTPEND.
pub const EVTPEND: usize = 0x01C;
/// SDMA_H_DSPENBL.
pub const DSPENBL: usize = 0x020;
/// SDMA_H_RESET (bit 0: soft reset).
pub const RESET: usize = 0x024;
/// SDMA_H_EVTERR.
pub const EVTERR: usize = 0x028;
/// SDMA_H_INTRMSK.
pub const INTRMSK: usize = 0x02C;
/// SDMA_H_PSW.
pub const PSW: usize = 0x030;
/// SDMA_H_EVTERRDBG.
pub const EVTERRDBG: usize = 0x034;
/// SDMA_H_CONFIG (CSM bits [1:0], ACR bit 4).
pub const CONFIG: usize = 0x038;
/// SDMA_CHN0ADDR.
pub const CHN0ADDR: usize = 0x05C;
/// SDMA_XTRIG_CONF1 / CONF2.
pub const XTRIG_CONF1: usize = 0x070;
/// SDMA_XTRIG_CONF2.
pub const XTRIG_CONF2: usize = 0x074;
/// SDMA_CHNPRI_0: 32 priority registers, 4 bytes apart (priority bits [2:0]).
pub const CHNPRI_0: usize = 0x100;
/// SDMA_CHNENBL0 on i.MX35 and later (i.MX 8M: 48 events).
pub const CHNENBL_0: usize = 0x200;
/// Events of the i.MX 7D / 8M SDMA (`sdma_imx7d.num_events`).
pub const EVENTS: usize = 48;
/// Channels.
pub const CHANNELS: usize = 32;

/// Buffer descriptor status bits (mode word bits [23:16]).
pub const BD_DONE: u32 = 0x01;
/// Next BD is the channel's base BD.
pub const BD_WRAP: u32 = 0x02;
/// Continue with the next BD.
pub const BD_CONT: u32 = 0x04;
/// Raise the channel's interrupt when this BD is done.
pub const BD_INTR: u32 = 0x08;
/// Error (`BD_RROR`).
pub const BD_ERROR: u32 = 0x10;
/// Last BD of a transfer (informational for ap_2_ap).
pub const BD_LAST: u32 = 0x20;
/// The extended buffer address word is used.
pub const BD_EXTD: u32 = 0x80;

/// Channel-0 command C0_SETDM: load `count` words into SDMA data memory.
pub const C0_SETDM: u32 = 0x01;

/// Bytes of a buffer descriptor: mode word, buffer address, extended address.
pub const BD_BYTES: u64 = 12;
/// Bytes of a channel control block: current BD, base BD, two unused words.
pub const CCB_BYTES: u64 = 16;
/// Words of a channel context (`struct sdma_context_data`: 2 state words, 8 gRegs, 14
/// unit registers, 8 scratch words).
pub const CONTEXT_WORDS: u32 = 32;
/// SDMA data-memory word address of channel 0's context (`2048 + 32 * channel`).
pub const CONTEXT_BASE: u32 = 2048;
/// The ROM script ap_2_ap's start address on i.MX 7D / 8M (`sdma_script_imx7d`).
pub const AP_2_AP: u32 = 644;
