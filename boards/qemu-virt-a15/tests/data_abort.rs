//! The `data_abort` on-target test on qemu-virt-a15; the body is boards/common/armv7a/data_abort.rs, shared by the
//! ARMv7-A boards.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_qemu_virt_a15 as board;

#[path = "../../common/armv7a/data_abort.rs"]
mod body;
