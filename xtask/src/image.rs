//! What an ELF image puts into guest memory, and whether that fits the board's RAM.

use std::path::Path;

use anyhow::{Context, Result, bail};
use object::elf::PT_LOAD;
use object::read::elf::{ElfFile, FileHeader, ProgramHeader};
use object::{FileKind, ReadRef};

use crate::boards::RamRange;

/// One loadable segment: QEMU copies it to its *physical* address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub start: u64,
    pub mem_size: u64,
}

impl Segment {
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.mem_size)
    }
}

/// Loadable segments of a 32- or 64-bit ELF.
pub fn load_segments(elf: &[u8]) -> Result<Vec<Segment>> {
    match FileKind::parse(elf).context("not an ELF file")? {
        FileKind::Elf32 => segments_of::<object::elf::FileHeader32<object::Endianness>, _>(elf),
        FileKind::Elf64 => segments_of::<object::elf::FileHeader64<object::Endianness>, _>(elf),
        other => bail!("not an ELF file ({other:?})"),
    }
}

fn segments_of<'d, H: FileHeader, R: ReadRef<'d>>(data: R) -> Result<Vec<Segment>> {
    let file = ElfFile::<H, R>::parse(data).context("malformed ELF")?;
    let endian = file.endian();
    Ok(file
        .elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == PT_LOAD && ph.p_memsz(endian).into() > 0)
        .map(|ph| Segment {
            start: ph.p_paddr(endian).into(),
            mem_size: ph.p_memsz(endian).into(),
        })
        .collect())
}

/// A flat binary of an ELF's loadable bytes, as `objcopy -O binary` makes it: the file bytes
/// of every `PT_LOAD` segment at its physical address minus the lowest one, gaps zero-filled;
/// the zero-initialised tail (`.bss`, stacks: memory size beyond file size) is left out, as
/// the image's own entry code clears what must be zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawImage {
    /// Physical address of byte 0.
    pub base: u64,
    /// The ELF's entry point.
    pub entry: u64,
    pub bytes: Vec<u8>,
}

/// Most bytes a raw image may span: QEMU reads a `-kernel` file into RAM, and nothing we
/// boot is near this (it catches a segment at a stray address, which would make a huge file).
const RAW_MAX_BYTES: u64 = 64 << 20;

/// The raw binary of a 64-bit ELF ([`RawImage`]).
pub fn raw_binary(elf: &[u8]) -> Result<RawImage> {
    match FileKind::parse(elf).context("not an ELF file")? {
        FileKind::Elf64 => raw_of::<object::elf::FileHeader64<object::Endianness>>(elf),
        other => bail!("a raw image is made from a 64-bit ELF, not {other:?}"),
    }
}

fn raw_of<H: FileHeader>(data: &[u8]) -> Result<RawImage> {
    let file = ElfFile::<H, &[u8]>::parse(data).context("malformed ELF")?;
    let endian = file.endian();
    let mut pieces = Vec::new();
    for ph in file.elf_program_headers() {
        if ph.p_type(endian) != PT_LOAD || ph.p_filesz(endian).into() == 0 {
            continue;
        }
        let bytes = ph
            .data(endian, data)
            .map_err(|()| anyhow::anyhow!("a PT_LOAD segment's file bytes lie outside the ELF"))?;
        pieces.push((ph.p_paddr(endian).into(), bytes));
    }
    let Some(base) = pieces.iter().map(|&(at, _)| at).min() else {
        bail!("the ELF has no loadable bytes");
    };
    let end = pieces
        .iter()
        .map(|&(at, b)| at.saturating_add(b.len() as u64))
        .max()
        .unwrap_or(base);
    if end - base > RAW_MAX_BYTES {
        bail!(
            "the loadable bytes span {base:#x}..{end:#x} ({}), more than a raw image may ({})",
            size_text(end - base),
            size_text(RAW_MAX_BYTES)
        );
    }
    let mut bytes = vec![0u8; (end - base) as usize];
    pieces.sort_by_key(|&(at, _)| at);
    let mut filled = base;
    for (at, piece) in pieces {
        if at < filled {
            bail!("PT_LOAD segments overlap at {at:#x}");
        }
        let off = (at - base) as usize;
        bytes[off..off + piece.len()].copy_from_slice(piece);
        filled = at + piece.len() as u64;
    }
    Ok(RawImage {
        base,
        entry: file.elf_header().e_entry(endian).into(),
        bytes,
    })
}

/// Address range covered by the loadable segments.
pub fn footprint(segments: &[Segment]) -> Option<(u64, u64)> {
    let start = segments.iter().map(|s| s.start).min()?;
    let end = segments.iter().map(Segment::end).max()?;
    Some((start, end))
}

/// One clear sentence when the image's loadable span leaves RAM.
pub fn check_fits(name: &Path, segments: &[Segment], ram: RamRange) -> Result<()> {
    let Some((start, end)) = footprint(segments) else {
        return Ok(());
    };
    if start < ram.start {
        bail!(
            "image {} does not fit in RAM: it starts at {start:#x}, below the RAM start {:#x} (RAM {ram})",
            name.display(),
            ram.start
        );
    }
    if end > ram.end {
        bail!(
            "image {} does not fit in RAM: it ends at {end:#x}, past the RAM end {:#x} (RAM {ram})",
            name.display(),
            ram.end
        );
    }
    Ok(())
}

/// Human-readable byte count.
pub fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: RamRange = RamRange {
        start: 0x4000_0000,
        end: 0x4800_0000,
    };

    fn seg(start: u64, mem_size: u64) -> Segment {
        Segment { start, mem_size }
    }

    #[test]
    fn an_image_inside_ram_fits() {
        let segs = [seg(0x4020_0000, 0x1000), seg(0x4020_1000, 0x7df_f000)];
        assert!(check_fits(Path::new("demo"), &segs, RAM).is_ok());
        assert_eq!(footprint(&segs), Some((0x4020_0000, 0x4800_0000)));
    }

    #[test]
    fn an_image_past_the_ram_end_is_named_with_both_addresses() {
        let segs = [seg(0x4020_0000, 0x1000), seg(0x4020_1000, 0x1000_0000)];
        let e = check_fits(Path::new("target/x/demo"), &segs, RAM).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("target/x/demo"), "{e}");
        assert!(e.contains("ends at 0x50201000"), "{e}");
        assert!(e.contains("RAM end 0x48000000"), "{e}");
    }

    #[test]
    fn an_image_below_ram_is_rejected() {
        let e = check_fits(Path::new("demo"), &[seg(0x8_0000, 16)], RAM).unwrap_err();
        assert!(format!("{e}").contains("starts at 0x80000, below the RAM start"));
        // Nothing to load cannot overflow anything.
        assert!(check_fits(Path::new("empty"), &[], RAM).is_ok());
    }

    #[test]
    fn segments_of_a_real_elf() {
        // The running test executable is an ELF on the Linux hosts this tool supports.
        let exe = std::env::current_exe().unwrap();
        let segs = load_segments(&std::fs::read(exe).unwrap()).unwrap();
        assert!(!segs.is_empty());
        assert!(load_segments(b"\x7fELF garbage").is_err());
        assert!(load_segments(b"text").is_err());
    }

    /// A minimal ELF64 (little-endian, AArch64) with the given PT_LOAD segments
    /// (paddr, file bytes, memory size) and entry point.
    fn elf64(entry: u64, segments: &[(u64, &[u8], u64)]) -> Vec<u8> {
        const EH: usize = 64;
        const PH: usize = 56;
        let mut out = vec![0u8; EH + PH * segments.len()];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // little-endian
        out[6] = 1; // EV_CURRENT
        out[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        out[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[24..32].copy_from_slice(&entry.to_le_bytes());
        out[32..40].copy_from_slice(&(EH as u64).to_le_bytes()); // e_phoff
        out[52..54].copy_from_slice(&(EH as u16).to_le_bytes());
        out[54..56].copy_from_slice(&(PH as u16).to_le_bytes());
        out[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (i, &(paddr, bytes, memsz)) in segments.iter().enumerate() {
            let offset = out.len() as u64;
            out.extend_from_slice(bytes);
            let ph = &mut out[EH + i * PH..EH + (i + 1) * PH];
            ph[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
            ph[8..16].copy_from_slice(&offset.to_le_bytes());
            ph[16..24].copy_from_slice(&paddr.to_le_bytes()); // p_vaddr
            ph[24..32].copy_from_slice(&paddr.to_le_bytes()); // p_paddr
            ph[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
        }
        out
    }

    #[test]
    fn raw_binary_places_segments_by_physical_address() {
        // Out of order in the file, a gap between them, a .bss tail that is not written.
        let elf = elf64(
            0x4008_0000,
            &[(0x4008_1000, b"data", 0x2000), (0x4008_0000, b"code", 4)],
        );
        let raw = raw_binary(&elf).unwrap();
        assert_eq!(raw.base, 0x4008_0000);
        assert_eq!(raw.entry, 0x4008_0000);
        assert_eq!(raw.bytes.len(), 0x1004);
        assert_eq!(&raw.bytes[..4], b"code");
        assert!(raw.bytes[4..0x1000].iter().all(|&b| b == 0));
        assert_eq!(&raw.bytes[0x1000..], b"data");
    }

    #[test]
    fn raw_binary_refusals_say_why() {
        let e = |elf: &[u8]| format!("{:#}", raw_binary(elf).unwrap_err());
        assert!(e(&elf64(0, &[(0x4008_0000, b"", 0x100)])).contains("no loadable bytes"));
        let far = elf64(0, &[(0x4008_0000, b"a", 1), (0x8000_0000, b"b", 1)]);
        assert!(e(&far).contains("more than a raw image may"), "{}", e(&far));
        let overlap = elf64(0, &[(0x4008_0000, b"abcd", 4), (0x4008_0002, b"ef", 2)]);
        assert!(e(&overlap).contains("overlap at 0x40080002"));
        assert!(e(b"text").contains("not an ELF"));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size_text(512), "512 B");
        assert_eq!(size_text(2048), "2.0 KiB");
        assert_eq!(size_text(3 << 20), "3.0 MiB");
    }
}
