//! The `sync_icount` benchmark on raspi3b (`cargo xtask bench --board raspi3b`): instructions
//! per dmasync operation under QEMU `-icount`. The body is boards/common/aarch64/sync_icount.rs,
//! shared by the AArch64 boards.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_raspi3b as board;

#[path = "../../common/aarch64/sync_icount.rs"]
mod body;
