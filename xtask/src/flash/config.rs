//! board.toml's `[flash.<method>]` tables: how firmware gets onto the real board.
//!
//! Each table is one method the board supports, with the addresses and names its boot loader
//! uses (doc/flashing.md; the facts behind each board's values are cited in its board.toml).
//! Strict like the rest of board.toml: an unknown method or key is an error naming it.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::Deserialize;

use crate::boards::RamRange;

/// The methods a board may declare, by their board.toml / `--via` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    UbootSerial,
    SdImage,
    Dfu,
    Uuu,
    Fastboot,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::UbootSerial,
        Method::SdImage,
        Method::Dfu,
        Method::Uuu,
        Method::Fastboot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::UbootSerial => "uboot-serial",
            Method::SdImage => "sd-image",
            Method::Dfu => "dfu",
            Method::Uuu => "uuu",
            Method::Fastboot => "fastboot",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                format!("unknown flash method '{s}'; methods: {}", all.join(", "))
            })
    }
}

/// What the boot loader is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Legacy U-Boot image: 64-byte header (arch, OS, load and entry address, CRCs), then
    /// the raw binary; started with `bootm`.
    Uimage,
    /// Flattened image tree (`.itb`) with one kernel node; started with `bootm`.
    Fit,
    /// The raw binary (`booti`-style loaders, or tools that take a plain file).
    Raw,
}

impl ImageFormat {
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Uimage => "uimage",
            ImageFormat::Fit => "fit",
            ImageFormat::Raw => "raw",
        }
    }
}

/// Every method a board declares: the `[flash]` table of board.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashMethods {
    #[serde(rename = "uboot-serial")]
    pub uboot_serial: Option<UbootSerial>,
    #[serde(rename = "sd-image")]
    pub sd_image: Option<SdImage>,
    pub dfu: Option<Dfu>,
    pub uuu: Option<Uuu>,
    pub fastboot: Option<Fastboot>,
}

/// `[flash.uboot-serial]`: upload over the board's console to a running U-Boot, then
/// `bootm`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UbootSerial {
    /// The console UART as the board's documentation and Linux name it (`ttySAC1`,
    /// `ttymxc1`): where the USB-serial adapter goes. Shown in messages and the docs; the
    /// host side is `--port`.
    pub console: String,
    /// Line rate of U-Boot's console.
    pub baud: u32,
    /// U-Boot's prompt (`CONFIG_SYS_PROMPT`), how xtask knows a command has finished.
    pub prompt: String,
    pub image: ImageFormat,
    /// Where `loadx`/`loady` put the uploaded file (U-Boot's `kernel_addr_r` or free RAM).
    pub staging_address: u64,
    /// Bytes free from `staging_address` on (the load window): a larger image is refused
    /// before anything is sent.
    pub staging_size: u64,
    /// The device tree `bootm` passes to the image in x0 (AArch64) / r2 (ARMv7).
    #[serde(default = "default_fdt")]
    pub fdt: String,
}

/// `[flash.sd-image]`: a bootable SD card image for the board's U-Boot to find.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdImage {
    pub image: ImageFormat,
    /// Where the boot script loads the image from the FAT partition before `bootm`
    /// (`boot.scr` itself goes where the board's U-Boot environment says, `scriptaddr`).
    pub staging_address: u64,
    /// Size of the FAT boot partition.
    pub boot_partition_mib: u32,
    /// Sectors before the first partition, left to the boot chain (the Odroid-U3's BL1, BL2,
    /// U-Boot and TZSW live there).
    #[serde(default = "default_first_sector")]
    pub first_sector: u64,
    #[serde(default = "default_fdt")]
    pub fdt: String,
}

/// `[flash.dfu]`: USB DFU to U-Boot's `dfu` command (`dfu-util` on the host).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dfu {
    pub image: ImageFormat,
    /// The U-Boot console command that starts DFU on the board.
    pub uboot_command: String,
    /// `dfu_alt_info` entry name the image is written to (`dfu-util -a`).
    pub alt: String,
    /// USB `vendor:product` of the board in DFU mode (`dfu-util -d`).
    pub usb_id: String,
    /// Where the RAM alt setting puts the image, and its size.
    pub staging_address: u64,
    pub staging_size: u64,
    #[serde(default = "default_fdt")]
    pub fdt: String,
}

/// `[flash.uuu]`: NXP's universal update utility (i.MX serial download, then U-Boot's
/// fastboot).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uuu {
    pub image: ImageFormat,
    /// The boot loader image uuu sends over serial download (`flash.bin`), relative to the
    /// workspace or absolute.
    pub bootloader: String,
    pub staging_address: u64,
    #[serde(default = "default_fdt")]
    pub fdt: String,
}

/// `[flash.fastboot]`: U-Boot's fastboot gadget (`fastboot stage` + `oem run:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fastboot {
    pub image: ImageFormat,
    /// Where U-Boot's fastboot buffer is (`CONFIG_FASTBOOT_BUF_ADDR`).
    pub staging_address: u64,
    #[serde(default = "default_fdt")]
    pub fdt: String,
}

fn default_fdt() -> String {
    "${fdtcontroladdr}".to_string()
}

fn default_first_sector() -> u64 {
    // 1 MiB: the usual alignment; also past the Odroid-U3's boot chain (TZSW ends at 2111+).
    2048
}

impl FlashMethods {
    /// The declared methods, in `Method::ALL` order.
    pub fn declared(&self) -> Vec<Method> {
        Method::ALL
            .into_iter()
            .filter(|m| self.is_declared(*m))
            .collect()
    }

    pub fn is_declared(&self, m: Method) -> bool {
        match m {
            Method::UbootSerial => self.uboot_serial.is_some(),
            Method::SdImage => self.sd_image.is_some(),
            Method::Dfu => self.dfu.is_some(),
            Method::Uuu => self.uuu.is_some(),
            Method::Fastboot => self.fastboot.is_some(),
        }
    }

    /// An error for `--via <m>` when the board lacks it, naming the ones it has.
    pub fn require(&self, board: &str, m: Method) -> Result<()> {
        if self.is_declared(m) {
            return Ok(());
        }
        let have: Vec<&str> = self.declared().iter().map(|m| m.name()).collect();
        let have = if have.is_empty() {
            "none (its board.toml has no [flash.<method>] table)".to_string()
        } else {
            have.join(", ")
        };
        bail!("board '{board}' does not declare flash method '{m}'; it declares: {have}")
    }

    /// Addresses inside RAM, windows that fit, names not empty. `load_address` is where the
    /// image is linked (and where `bootm` copies it).
    pub fn validate(&self, ram: RamRange, load_address: u64) -> Result<()> {
        let window = |field: &str, start: u64, size: u64| -> Result<()> {
            let end = start.checked_add(size);
            match end {
                Some(end) if ram.contains(start) && end <= ram.end && size > 0 => {}
                _ => bail!(
                    "field `{field}`: {start:#x} + {size:#x} is not inside RAM {ram} (or is empty)"
                ),
            }
            if (start..start + size).contains(&load_address) {
                bail!(
                    "field `{field}`: the window {start:#x}..{:#x} holds load_address \
                     {load_address:#x}; bootm would copy the image onto itself",
                    start + size
                );
            }
            Ok(())
        };
        let nonempty = |field: &str, v: &str| -> Result<()> {
            if v.trim().is_empty() {
                bail!("field `{field}` is empty");
            }
            Ok(())
        };
        if let Some(u) = &self.uboot_serial {
            nonempty("flash.uboot-serial.console", &u.console)?;
            nonempty("flash.uboot-serial.prompt", &u.prompt)?;
            nonempty("flash.uboot-serial.fdt", &u.fdt)?;
            if u.baud == 0 {
                bail!("field `flash.uboot-serial.baud`: 0 is not a line rate");
            }
            window(
                "flash.uboot-serial.staging_address",
                u.staging_address,
                u.staging_size,
            )?;
        }
        if let Some(s) = &self.sd_image {
            window("flash.sd-image.staging_address", s.staging_address, 1)?;
            if s.boot_partition_mib == 0 {
                bail!("field `flash.sd-image.boot_partition_mib`: 0 MiB holds nothing");
            }
            if s.first_sector == 0 {
                bail!("field `flash.sd-image.first_sector`: sector 0 holds the partition table");
            }
        }
        if let Some(d) = &self.dfu {
            nonempty("flash.dfu.uboot_command", &d.uboot_command)?;
            nonempty("flash.dfu.alt", &d.alt)?;
            check_usb_id("flash.dfu.usb_id", &d.usb_id)?;
            window(
                "flash.dfu.staging_address",
                d.staging_address,
                d.staging_size,
            )?;
        }
        if let Some(u) = &self.uuu {
            nonempty("flash.uuu.bootloader", &u.bootloader)?;
            window("flash.uuu.staging_address", u.staging_address, 1)?;
        }
        if let Some(f) = &self.fastboot {
            window("flash.fastboot.staging_address", f.staging_address, 1)?;
        }
        Ok(())
    }
}

/// `vvvv:pppp`, four hex digits each.
fn check_usb_id(field: &str, id: &str) -> Result<()> {
    let ok = id.split_once(':').is_some_and(|(v, p)| {
        [v, p]
            .iter()
            .all(|h| h.len() == 4 && h.chars().all(|c| c.is_ascii_hexdigit()))
    });
    if !ok {
        bail!("field `{field}`: '{id}' is not a USB id like 04e8:6601");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: RamRange = RamRange {
        start: 0x4000_0000,
        end: 0x4800_0000,
    };

    fn parse(text: &str) -> Result<FlashMethods, toml::de::Error> {
        toml::from_str(text)
    }

    const SERIAL: &str = r#"
[uboot-serial]
console = "ttyAMA0"
baud = 115200
prompt = "=> "
image = "uimage"
staging_address = 0x4100_0000
staging_size = 0x0500_0000
"#;

    #[test]
    fn a_serial_method_parses_with_defaults() {
        let m = parse(SERIAL).unwrap();
        let u = m.uboot_serial.as_ref().unwrap();
        assert_eq!(u.fdt, "${fdtcontroladdr}");
        assert_eq!(u.image, ImageFormat::Uimage);
        assert_eq!(m.declared(), vec![Method::UbootSerial]);
        m.validate(RAM, 0x4020_0000).unwrap();
    }

    #[test]
    fn an_undeclared_method_names_the_declared_ones() {
        let m = parse(SERIAL).unwrap();
        let e = m.require("qemu-virt", Method::Dfu).unwrap_err().to_string();
        assert_eq!(
            e,
            "board 'qemu-virt' does not declare flash method 'dfu'; it declares: uboot-serial"
        );
        let none = FlashMethods::default();
        let e = none.require("b", Method::SdImage).unwrap_err().to_string();
        assert!(
            e.contains("none (its board.toml has no [flash.<method>] table)"),
            "{e}"
        );
        assert!(m.require("qemu-virt", Method::UbootSerial).is_ok());
    }

    #[test]
    fn method_names_round_trip_and_unknown_ones_are_listed() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>(), Ok(m));
        }
        let e = "tftp".parse::<Method>().unwrap_err();
        assert_eq!(
            e,
            "unknown flash method 'tftp'; methods: uboot-serial, sd-image, dfu, uuu, fastboot"
        );
    }

    #[test]
    fn unknown_tables_keys_and_formats_are_errors() {
        let e = parse("[tftp]\nimage = \"uimage\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `tftp`"), "{e}");
        let e = parse(&SERIAL.replace("baud =", "bauds ="))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `bauds`"), "{e}");
        let e = parse(&SERIAL.replace("\"uimage\"", "\"elf\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `elf`"), "{e}");
        let e = parse(&SERIAL.replace("prompt = \"=> \"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `prompt`"), "{e}");
    }

    #[test]
    fn windows_must_be_in_ram_and_clear_of_the_image() {
        let m = parse(&SERIAL.replace("0x4100_0000", "0x9000_0000")).unwrap();
        let e = m.validate(RAM, 0x4020_0000).unwrap_err().to_string();
        assert!(
            e.contains("flash.uboot-serial.staging_address") && e.contains("RAM"),
            "{e}"
        );
        let m = parse(&SERIAL.replace("0x0500_0000", "0x0800_0000")).unwrap();
        assert!(
            m.validate(RAM, 0x4020_0000).is_err(),
            "window past the RAM end"
        );
        let m = parse(SERIAL).unwrap();
        let e = m.validate(RAM, 0x4200_0000).unwrap_err().to_string();
        assert!(e.contains("onto itself"), "{e}");
        let m = parse(&SERIAL.replace("115200", "0")).unwrap();
        assert!(
            m.validate(RAM, 0x4020_0000)
                .unwrap_err()
                .to_string()
                .contains("baud")
        );
    }

    #[test]
    fn dfu_usb_ids_are_checked() {
        let dfu = r#"
[dfu]
image = "uimage"
uboot_command = "dfu 0 ram 0"
alt = "kernel"
usb_id = "04e8:6601"
staging_address = 0x4100_0000
staging_size = 0x0100_0000
"#;
        parse(dfu).unwrap().validate(RAM, 0x4000_8000).unwrap();
        let bad = parse(&dfu.replace("04e8:6601", "samsung")).unwrap();
        let e = bad.validate(RAM, 0x4000_8000).unwrap_err().to_string();
        assert!(
            e.contains("flash.dfu.usb_id") && e.contains("samsung"),
            "{e}"
        );
    }
}
