//! What xtask says to U-Boot over the console and how it reads the answers.
//! Message formats are U-Boot 2023.01's (cmd/load.c, common/autoboot.c, cmd/crc32 via
//! common/hash.c), checked against Debian's qemu_arm64 build (hardware.md §5.2).

use super::config::ImageFormat;
use anyhow::{Result, bail};

use super::xymodem::Protocol;

/// Printed while autoboot counts down (common/autoboot.c).
pub const AUTOBOOT: &str = "Hit any key to stop autoboot";

/// The upload command for a protocol at an address.
pub fn load_command(protocol: Protocol, addr: u64) -> String {
    let cmd = match protocol {
        Protocol::Xmodem => "loadx",
        Protocol::Ymodem => "loady",
        Protocol::Kermit => "loadb",
    };
    format!("{cmd} {addr:#x}")
}

/// What U-Boot prints when it is ready to receive (cmd/load.c).
pub fn ready_line(protocol: Protocol) -> String {
    format!("## Ready for binary ({}) download", protocol.name())
}

/// `## Total Size      = 0x00002c40 = 11328 Bytes` -> 11328.
pub fn parse_total_size(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        // XMODEM's second ACK of EOT (0x06) lands right before the line.
        let rest = line
            .trim_matches(|c: char| c.is_whitespace() || c.is_control())
            .strip_prefix("## Total Size")?;
        let hex = rest.split('=').nth(1)?.trim();
        u64::from_str_radix(hex.strip_prefix("0x")?, 16).ok()
    })
}

/// `crc32 for 41000000 ... 41002c3f ==> 619d7add` -> 0x619d7add.
pub fn parse_crc32(text: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let (head, value) = line.split_once("==>")?;
        if !head.trim_start().starts_with("crc32 for") {
            return None;
        }
        u32::from_str_radix(value.trim(), 16).ok()
    })
}

/// The size U-Boot received against what was sent: YMODEM and Kermit report exactly the
/// size, XMODEM the size rounded up to whole 1K blocks.
pub fn check_total(protocol: Protocol, sent: u64, reported: u64) -> Result<()> {
    let ok = match protocol {
        Protocol::Ymodem | Protocol::Kermit => reported == sent,
        Protocol::Xmodem => reported >= sent && reported - sent < 1024,
    };
    if !ok {
        bail!(
            "U-Boot received {reported} bytes, {} sent {sent}",
            protocol.name()
        );
    }
    Ok(())
}

/// `crc32 <addr> <len>`.
pub fn crc_command(addr: u64, len: u64) -> String {
    format!("crc32 {addr:#x} {len:#x}")
}

/// `bootm <addr> - <fdt>`: no initrd, the given device tree.
pub fn boot_command(addr: u64, fdt: &str) -> String {
    format!("bootm {addr:#x} - {fdt}")
}

/// `bootm` for an image of `format`: a FIT names its configuration (`#conf-1`, the one
/// `flash::fit` writes), because a U-Boot with `CONFIG_FIT_BEST_MATCH` ignores `default`
/// and looks for a configuration matching its own device tree's `compatible`, which a
/// bare-metal FIT does not have ("Could not find configuration node" in the rehearsal).
pub fn boot_command_for(format: ImageFormat, addr: u64, fdt: &str) -> String {
    match format {
        ImageFormat::Fit => format!("bootm {addr:#x}#conf-1 - {fdt}"),
        _ => boot_command(addr, fdt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fit_is_booted_by_its_configuration() {
        assert_eq!(
            boot_command_for(ImageFormat::Fit, 0x4100_0000, "${fdtcontroladdr}"),
            "bootm 0x41000000#conf-1 - ${fdtcontroladdr}"
        );
        assert_eq!(
            boot_command_for(ImageFormat::Uimage, 0x4100_0000, "-"),
            "bootm 0x41000000 - -"
        );
    }

    #[test]
    fn u_boot_replies_are_read() {
        let text = "xyzModem - CRC mode, 1(SOH)/12(STX)/0(CAN) packets, 0 retries\r\n\
                    ## Total Size      = 0x00002c40 = 11328 Bytes\r\n\
                    ## Start Addr      = 0x41000000\r\n=> ";
        assert_eq!(parse_total_size(text), Some(11328));
        assert_eq!(parse_total_size("## Total Size = junk"), None);
        // As U-Boot 2023.01 prints it after `loadx` (QEMU rehearsal), its second ACK first.
        let xmodem = "\u{6}## Total Size      = 0x00011400 = 70656 Bytes\r\n\
                      ## Start Addr      = 0x41000000\r\n=> ";
        assert_eq!(parse_total_size(xmodem), Some(70656));
        let crc =
            "=> crc32 0x41000000 0x2c40\r\ncrc32 for 41000000 ... 41002c3f ==> 619d7add\r\n=> ";
        assert_eq!(parse_crc32(crc), Some(0x619d_7add));
        assert_eq!(parse_crc32("=> crc32 0x41000000 0x2c40\r\n"), None);
    }

    #[test]
    fn sizes_are_checked_per_protocol() {
        assert!(check_total(Protocol::Ymodem, 11328, 11328).is_ok());
        assert!(check_total(Protocol::Ymodem, 11328, 11264).is_err());
        assert!(check_total(Protocol::Xmodem, 11328, 12288).is_ok());
        let e = check_total(Protocol::Xmodem, 11328, 10240).unwrap_err();
        assert_eq!(
            e.to_string(),
            "U-Boot received 10240 bytes, xmodem sent 11328"
        );
    }

    #[test]
    fn commands() {
        assert_eq!(
            load_command(Protocol::Kermit, 0x4100_0000),
            "loadb 0x41000000"
        );
        assert_eq!(
            load_command(Protocol::Ymodem, 0x4100_0000),
            "loady 0x41000000"
        );
        assert_eq!(
            load_command(Protocol::Xmodem, 0x4100_0000),
            "loadx 0x41000000"
        );
        assert_eq!(
            boot_command(0x4100_0000, "${fdtcontroladdr}"),
            "bootm 0x41000000 - ${fdtcontroladdr}"
        );
        assert_eq!(crc_command(0x4100_0000, 0x2c40), "crc32 0x41000000 0x2c40");
        assert_eq!(
            ready_line(Protocol::Xmodem),
            "## Ready for binary (xmodem) download"
        );
    }
}
