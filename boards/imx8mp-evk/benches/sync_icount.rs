//! The `sync_icount` benchmark on imx8mp-evk (`cargo xtask bench --board imx8mp-evk`): instructions
//! per dmasync operation under QEMU `-icount`. The body is boards/common/aarch64/sync_icount.rs,
//! shared by the AArch64 boards.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_imx8mp_evk as board;

#[path = "../../common/aarch64/sync_icount.rs"]
mod body;
