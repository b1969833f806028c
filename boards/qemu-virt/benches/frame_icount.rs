//! The `frame_icount` benchmark on qemu-virt (`cargo xtask bench --board qemu-virt frame`):
//! instructions per frame of the demo pipeline under QEMU `-icount`. The body is
//! boards/common/aarch64/frame_icount.rs, shared by the AArch64 boards.
#![no_std]
#![no_main]

extern crate dmasync_qemu_virt as board;

#[path = "../../common/aarch64/frame_icount.rs"]
mod body;
