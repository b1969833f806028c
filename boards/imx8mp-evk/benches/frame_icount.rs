//! The `frame_icount` benchmark on imx8mp-evk (`cargo xtask bench --board imx8mp-evk frame`):
//! instructions per frame of the demo pipeline under QEMU `-icount`. The body is
//! boards/common/aarch64/frame_icount.rs, shared by the AArch64 boards.
#![no_std]
#![no_main]

extern crate dmasync_imx8mp_evk as board;

#[path = "../../common/aarch64/frame_icount.rs"]
mod body;
