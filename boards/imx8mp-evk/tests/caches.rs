//! The `caches` on-target test on imx8mp-evk; the body is boards/common/aarch64/caches.rs, shared by the
//! AArch64 boards.
#![no_std]
#![no_main]

extern crate alloc;
extern crate dmasync_imx8mp_evk as board;

#[path = "../../common/aarch64/caches.rs"]
mod body;
