//! `cargo xtask flash`: the parts that read or write bytes — board.toml's `[flash.<method>]`
//! tables, the legacy uImage writer, the X/YMODEM sender and U-Boot's replies — as library
//! code, so host tests (and fuzz targets) exercise exactly what the command runs. The
//! command itself (serial port, QEMU rehearsal, provisioning) is in `flash/cmd/`, part of
//! the binary. doc/flashing.md describes the whole flow.

pub mod blockdev;
pub mod config;
pub mod fit;
pub mod kermit;
pub mod sdimage;
pub mod uboot;
pub mod uimage;
pub mod usbtools;
pub mod xymodem;
