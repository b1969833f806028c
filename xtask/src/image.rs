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

    #[test]
    fn sizes_read_well() {
        assert_eq!(size_text(512), "512 B");
        assert_eq!(size_text(2048), "2.0 KiB");
        assert_eq!(size_text(3 << 20), "3.0 MiB");
    }
}
