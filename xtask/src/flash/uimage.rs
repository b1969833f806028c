//! The raw binary of a firmware ELF, and the legacy U-Boot image ("uImage") around it.
//!
//! Header layout, all fields big-endian (U-Boot include/image.h, `struct legacy_img_hdr`;
//! checked against `mkimage -l` / `dumpimage -l` in the tests below):
//!
//! | offset | field | |
//! |---|---|---|
//! | 0 | magic | 0x27051956 |
//! | 4 | header CRC32 | over the 64 bytes with this field zero |
//! | 8 | time | seconds since 1970 |
//! | 12 | data size | |
//! | 16 | load address | where `bootm` copies the data |
//! | 20 | entry point | where it jumps |
//! | 24 | data CRC32 | |
//! | 28 | os, arch, type, compression | one byte each |
//! | 32 | name | 32 bytes, NUL-padded |
//!
//! CRC32 is the zlib one (crc32fast).

use anyhow::{Context, Result, bail};
use object::elf::PT_LOAD;
use object::read::elf::{ElfFile, FileHeader, ProgramHeader};
use object::{FileKind, Object, ReadRef};

pub const HEADER_LEN: usize = 64;
pub const MAGIC: u32 = 0x2705_1956;
const NAME_LEN: usize = 32;

/// `ih_arch` values (image.h `IH_ARCH_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Arm = 2,
    Arm64 = 22,
}

impl Arch {
    /// The architecture for a Rust bare-metal target.
    pub fn for_target(target: &str) -> Result<Arch> {
        match target.split('-').next().unwrap_or_default() {
            "aarch64" => Ok(Arch::Arm64),
            t if t.starts_with("arm") => Ok(Arch::Arm),
            _ => bail!("no U-Boot image architecture for target '{target}'"),
        }
    }
}

/// `ih_os` values. `Linux` makes `bootm` take its Linux path: caches and MMU off, the device
/// tree in x0 / r2 (hardware.md §5.2); that is what bare-metal firmware wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux = 5,
    UBoot = 17,
}

/// `ih_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Standalone = 1,
    Kernel = 2,
    Script = 6,
}

/// What goes into one header.
#[derive(Debug, Clone)]
pub struct Header {
    pub arch: Arch,
    pub os: Os,
    pub kind: Kind,
    pub load: u32,
    pub entry: u32,
    pub time: u32,
    pub name: String,
}

/// Header plus data: the bytes of a `.uimg` file. Errors name what does not fit.
pub fn write(h: &Header, data: &[u8]) -> Result<Vec<u8>> {
    if h.name.len() >= NAME_LEN {
        bail!(
            "uImage name '{}' is {} bytes; at most {} fit",
            h.name,
            h.name.len(),
            NAME_LEN - 1
        );
    }
    let size = u32::try_from(data.len())
        .with_context(|| format!("{} bytes do not fit a uImage (4 GiB at most)", data.len()))?;
    let mut hdr = [0u8; HEADER_LEN];
    hdr[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    hdr[8..12].copy_from_slice(&h.time.to_be_bytes());
    hdr[12..16].copy_from_slice(&size.to_be_bytes());
    hdr[16..20].copy_from_slice(&h.load.to_be_bytes());
    hdr[20..24].copy_from_slice(&h.entry.to_be_bytes());
    hdr[24..28].copy_from_slice(&crc32fast::hash(data).to_be_bytes());
    hdr[28] = h.os as u8;
    hdr[29] = h.arch as u8;
    hdr[30] = h.kind as u8;
    hdr[31] = 0; // IH_COMP_NONE
    hdr[32..32 + h.name.len()].copy_from_slice(h.name.as_bytes());
    let hcrc = crc32fast::hash(&hdr);
    hdr[4..8].copy_from_slice(&hcrc.to_be_bytes());
    let mut out = Vec::with_capacity(HEADER_LEN + data.len());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(data);
    Ok(out)
}

/// A U-Boot script image (`mkimage -T script`): the data is a list of part lengths (one
/// part here), a zero terminator, then the script text.
pub fn write_script(h: &Header, script: &str) -> Result<Vec<u8>> {
    let len = u32::try_from(script.len()).context("script too large")?;
    let mut data = Vec::with_capacity(8 + script.len());
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(script.as_bytes());
    write(h, &data)
}

/// The loadable bytes of an ELF laid out from its lowest physical address, as
/// `objcopy -O binary` makes them; `.bss` (no file bytes) is left out, the firmware zeroes
/// it itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub load: u64,
    pub entry: u64,
    pub bytes: Vec<u8>,
}

/// Largest gap-filled span accepted: firmware images are far smaller; a larger span means
/// segments scattered over the address space (objcopy would write that much zeroes).
const MAX_SPAN: u64 = 256 << 20;

pub fn binary_from_elf(elf: &[u8]) -> Result<Binary> {
    match FileKind::parse(elf).context("not an ELF file")? {
        FileKind::Elf32 => binary_of::<object::elf::FileHeader32<object::Endianness>, _>(elf),
        FileKind::Elf64 => binary_of::<object::elf::FileHeader64<object::Endianness>, _>(elf),
        other => bail!("not an ELF file ({other:?})"),
    }
}

fn binary_of<'d, H: FileHeader, R: ReadRef<'d>>(data: R) -> Result<Binary> {
    let file = ElfFile::<H, R>::parse(data).context("malformed ELF")?;
    let endian = file.endian();
    let mut parts = Vec::new();
    for ph in file.elf_program_headers() {
        if ph.p_type(endian) != PT_LOAD || ph.p_filesz(endian).into() == 0 {
            continue;
        }
        let bytes = ph
            .data(endian, data)
            .map_err(|_| anyhow::anyhow!("a loadable segment lies outside the file"))?;
        parts.push((ph.p_paddr(endian).into(), bytes));
    }
    parts.sort_by_key(|(addr, _)| *addr);
    let Some(&(load, _)) = parts.first() else {
        bail!("the ELF has no loadable bytes");
    };
    let end = parts
        .iter()
        .map(|(a, b)| a + b.len() as u64)
        .max()
        .unwrap_or(load);
    if end - load > MAX_SPAN {
        bail!(
            "the loadable segments span {load:#x}..{end:#x} ({} MiB); a flashable image must \
             be one contiguous block",
            (end - load) >> 20
        );
    }
    let mut bytes = vec![0u8; (end - load) as usize];
    for (addr, part) in &parts {
        let at = (addr - load) as usize;
        bytes[at..at + part.len()].copy_from_slice(part);
    }
    let entry = file.entry();
    if !(load..end).contains(&entry) {
        bail!("the entry point {entry:#x} is outside the loaded bytes {load:#x}..{end:#x}");
    }
    Ok(Binary { load, entry, bytes })
}

/// A parsed header, for checking what was written (and what U-Boot will read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub size: u32,
    pub load: u32,
    pub entry: u32,
    pub data_crc: u32,
    pub os: u8,
    pub arch: u8,
    pub kind: u8,
    pub name: String,
}

/// Reads and verifies a header (magic, header CRC, data CRC when the data is there).
pub fn parse(image: &[u8]) -> Result<Parsed> {
    let Some(hdr) = image.get(..HEADER_LEN) else {
        bail!("{} bytes are too short for a uImage header", image.len());
    };
    let be = |at: usize| u32::from_be_bytes(hdr[at..at + 4].try_into().expect("4 bytes"));
    if be(0) != MAGIC {
        bail!("bad uImage magic {:#010x}", be(0));
    }
    let mut zeroed = [0u8; HEADER_LEN];
    zeroed.copy_from_slice(hdr);
    zeroed[4..8].fill(0);
    if crc32fast::hash(&zeroed) != be(4) {
        bail!("uImage header CRC mismatch");
    }
    let size = be(12);
    let data = image
        .get(HEADER_LEN..HEADER_LEN + size as usize)
        .with_context(|| format!("uImage data is shorter than its header's {size} bytes"))?;
    if crc32fast::hash(data) != be(24) {
        bail!("uImage data CRC mismatch");
    }
    let name = &hdr[32..];
    let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN)];
    Ok(Parsed {
        size,
        load: be(16),
        entry: be(20),
        data_crc: be(24),
        os: hdr[28],
        arch: hdr[29],
        kind: hdr[30],
        name: String::from_utf8_lossy(name).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn header() -> Header {
        Header {
            arch: Arch::Arm64,
            os: Os::Linux,
            kind: Kind::Kernel,
            load: 0x4020_0000,
            entry: 0x4020_0040,
            time: 1_700_000_000,
            name: "dmasync boot".into(),
        }
    }

    #[test]
    fn header_fields_and_crcs() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let img = write(&header(), &data).unwrap();
        assert_eq!(img.len(), 64 + 1000);
        assert_eq!(&img[0..4], &[0x27, 0x05, 0x19, 0x56]);
        assert_eq!(&img[12..16], &1000u32.to_be_bytes());
        assert_eq!(&img[28..32], &[5, 22, 2, 0]);
        let p = parse(&img).unwrap();
        assert_eq!((p.load, p.entry, p.size), (0x4020_0000, 0x4020_0040, 1000));
        assert_eq!(p.data_crc, crc32fast::hash(&data));
        assert_eq!(p.name, "dmasync boot");
        // A flipped data bit, a flipped header bit: both caught.
        let mut bad = img.clone();
        bad[100] ^= 1;
        assert!(parse(&bad).unwrap_err().to_string().contains("data CRC"));
        let mut bad = img.clone();
        bad[17] ^= 1;
        assert!(parse(&bad).unwrap_err().to_string().contains("header CRC"));
        assert!(parse(&img[..40]).is_err());
    }

    #[test]
    fn a_long_name_is_refused() {
        let mut h = header();
        h.name = "x".repeat(32);
        assert!(
            write(&h, b"")
                .unwrap_err()
                .to_string()
                .contains("at most 31")
        );
        h.name = "x".repeat(31);
        assert!(write(&h, b"").is_ok());
    }

    #[test]
    fn architectures_from_targets() {
        assert_eq!(
            Arch::for_target("aarch64-unknown-none").unwrap(),
            Arch::Arm64
        );
        assert_eq!(Arch::for_target("armv7a-none-eabi").unwrap(), Arch::Arm);
        assert!(Arch::for_target("riscv64gc-unknown-none-elf").is_err());
    }

    #[test]
    fn the_host_executable_is_not_one_block() {
        // A PIE host binary links at 0, its entry inside: the layout logic runs on a real ELF.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let bin = binary_from_elf(&exe).unwrap();
        assert!((bin.load..bin.load + bin.bytes.len() as u64).contains(&bin.entry));
        assert!(binary_from_elf(b"\x7fELF nope").is_err());
    }

    /// `mkimage -l` from Debian's u-boot-tools, the real reader of these headers. `cargo
    /// xtask test` provisions the tool before the host tests; without it this test fails
    /// with the command that installs it.
    #[test]
    fn mkimage_reads_what_we_write() {
        let mkimage = crate::flash::required_tool("/usr/bin/mkimage", "u-boot-tools");
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..4096u32).map(|i| (i ^ (i >> 3)) as u8).collect();
        let img = write(&header(), &data).unwrap();
        let file = dir.path().join("a.uimg");
        std::fs::write(&file, &img).unwrap();
        let out = Command::new(mkimage).arg("-l").arg(&file).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        for want in [
            "Image Name:   dmasync boot",
            "Image Type:   AArch64 Linux Kernel Image (uncompressed)",
            "Data Size:    4096 Bytes",
            "Load Address: 40200000",
            "Entry Point:  40200040",
        ] {
            assert!(text.contains(want), "missing '{want}' in:\n{text}");
        }
        // And the other way: what mkimage makes from the same data is byte-identical.
        let raw = dir.path().join("a.bin");
        std::fs::write(&raw, &data).unwrap();
        let theirs = dir.path().join("b.uimg");
        let st = Command::new(mkimage)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["-A", "arm64", "-O", "linux", "-T", "kernel", "-C", "none"])
            .args([
                "-a",
                "0x40200000",
                "-e",
                "0x40200040",
                "-n",
                "dmasync boot",
                "-d",
            ])
            .arg(&raw)
            .arg(&theirs)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        assert_eq!(std::fs::read(&theirs).unwrap(), img);
        // A script image too: mkimage -T script of the same text.
        let script = "echo hello\nbootm 0x41000000 - ${fdtcontroladdr}\n";
        let mut h = header();
        h.arch = Arch::Arm;
        h.kind = Kind::Script;
        h.load = 0;
        h.entry = 0;
        h.name = "boot".into();
        let ours = write_script(&h, script).unwrap();
        let txt = dir.path().join("boot.cmd");
        std::fs::write(&txt, script).unwrap();
        let scr = dir.path().join("boot.scr");
        let st = Command::new(mkimage)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["-A", "arm", "-O", "linux", "-T", "script", "-C", "none"])
            .args(["-a", "0", "-e", "0", "-n", "boot", "-d"])
            .arg(&txt)
            .arg(&scr)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        assert_eq!(std::fs::read(&scr).unwrap(), ours);
    }
}
