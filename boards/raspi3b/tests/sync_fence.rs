//! The `sync_fence` on-target test on raspi3b; the body is boards/common/aarch64/sync_fence.rs, shared by the
//! AArch64 boards.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_raspi3b as board;

#[path = "../../common/aarch64/sync_fence.rs"]
mod body;
