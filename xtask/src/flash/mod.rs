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

/// For host tests that check our output with a real tool (`mkimage`, `uuu`, `dfu-util`,
/// `fastboot`): its path, or a panic naming the Debian package and the command that
/// installs it. `cargo xtask test` installs these before the host tests (as root with apt),
/// so a test never passes without having run the tool.
#[cfg(test)]
pub(crate) fn required_tool(file: &'static str, package: &str) -> &'static std::path::Path {
    let path = std::path::Path::new(file);
    assert!(
        path.is_file(),
        "{file} is not installed (Debian package {package}); `cargo xtask test` installs it when \
         run as root, else run: sudo apt-get update && sudo env DEBIAN_FRONTEND=noninteractive \
         apt-get install -y {package}"
    );
    path
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(
        expected = "/nonexistent/dfu-util is not installed (Debian package dfu-util); \
                               `cargo xtask test` installs it when run as root, else run: sudo \
                               apt-get update && sudo env DEBIAN_FRONTEND=noninteractive \
                               apt-get install -y dfu-util"
    )]
    fn a_missing_tool_fails_the_test_with_the_install_command() {
        super::required_tool("/nonexistent/dfu-util", "dfu-util");
    }

    #[test]
    fn a_present_tool_is_returned() {
        assert_eq!(
            super::required_tool("/bin/sh", "dash"),
            std::path::Path::new("/bin/sh")
        );
    }
}
