//! AArch64 architecture glue (filled in by the board bring-up).
#![no_std]
