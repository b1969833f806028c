//! The `sync_fence` on-target test on exynos4; the body is boards/common/armv7a/sync_fence.rs, shared by the
//! ARMv7-A boards.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_exynos4 as board;

#[path = "../../common/armv7a/sync_fence.rs"]
mod body;
