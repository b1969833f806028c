//! The `sync_icount` benchmark on qemu-virt (`cargo xtask bench --board qemu-virt`): instructions
//! per dmasync operation under QEMU `-icount`. The body is boards/common/aarch64/sync_icount.rs,
//! shared by the AArch64 boards.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_qemu_virt as board;

#[path = "../../common/aarch64/sync_icount.rs"]
mod body;
