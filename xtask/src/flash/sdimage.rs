//! A bootable SD card image: an MBR (mbrman) with one bootable FAT partition (fatfs) holding
//! the files U-Boot's distro boot looks for (`boot.scr`, a mkimage script image) and what the
//! script loads. Written to a temporary file next to the target and renamed when complete,
//! so a half-written image never takes the good one's place.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

const SECTOR: u64 = 512;
/// FAT32 with LBA (partition type 0x0c): what U-Boot and every OS read.
const FAT32_LBA: u8 = 0x0c;

/// A window `[start, start + len)` of a file, as a disk of its own for fatfs.
struct Slice<'f> {
    file: &'f mut File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min((self.len - self.pos) as usize);
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.file.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Write for Slice<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos >= self.len && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the partition end",
            ));
        }
        let n = buf.len().min((self.len - self.pos) as usize);
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let put = self.file.write(&buf[..n])?;
        self.pos += put as u64;
        Ok(put)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Slice<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(n) if n <= self.len => {
                self.pos = n;
                Ok(n)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the partition",
            )),
        }
    }
}

/// Writes `out`: `first_sector` sectors left to the boot chain, then a bootable FAT
/// partition of `partition_mib` MiB with `files` in its root. Errors name what did not fit.
pub fn write(
    out: &Path,
    first_sector: u64,
    partition_mib: u32,
    files: &[(&str, &[u8])],
) -> Result<()> {
    let part_bytes = u64::from(partition_mib) << 20;
    let payload: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
    // FAT tables, directory and cluster slack: leave a generous eighth.
    if payload > part_bytes - part_bytes / 8 {
        bail!(
            "{payload} bytes of files do not fit a {partition_mib} MiB boot partition \
             (board.toml flash.sd-image.boot_partition_mib)"
        );
    }
    let dir = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let start = first_sector * SECTOR;
    tmp.as_file_mut()
        .set_len(start + part_bytes)
        .context("cannot size the image")?;

    let sectors = u32::try_from(part_bytes / SECTOR).context("partition too large for MBR")?;
    let lba = u32::try_from(first_sector).context("first sector too large for MBR")?;
    let mut mbr = mbrman::MBR::new_from(tmp.as_file_mut(), SECTOR as u32, *b"dmas")
        .context("cannot create the partition table")?;
    mbr[1] = mbrman::MBRPartitionEntry {
        boot: mbrman::BOOT_ACTIVE,
        first_chs: mbrman::CHS::empty(),
        sys: FAT32_LBA,
        last_chs: mbrman::CHS::empty(),
        starting_lba: lba,
        sectors,
    };
    mbr.write_into(tmp.as_file_mut())
        .context("cannot write the partition table")?;

    let mut slice = Slice {
        file: tmp.as_file_mut(),
        start,
        len: part_bytes,
        pos: 0,
    };
    fatfs::format_volume(
        &mut slice,
        fatfs::FormatVolumeOptions::new().volume_label(*b"DMASYNC    "),
    )
    .context("cannot format the boot partition")?;
    slice.pos = 0;
    {
        let fs = fatfs::FileSystem::new(&mut slice, fatfs::FsOptions::new())
            .context("cannot open the new FAT file system")?;
        for (name, data) in files {
            let mut f = fs
                .root_dir()
                .create_file(name)
                .with_context(|| format!("cannot create {name} on the boot partition"))?;
            f.write_all(data)
                .with_context(|| format!("cannot write {name} on the boot partition"))?;
            f.flush()?;
        }
        fs.unmount().context("cannot finish the FAT file system")?;
    }
    tmp.as_file_mut().sync_all()?;
    tmp.persist(out)
        .with_context(|| format!("cannot rename the finished image to {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_has_a_bootable_fat_partition_with_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sd.img");
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 13) as u8).collect();
        write(
            &out,
            2048,
            16,
            &[("boot.scr", b"script"), ("dmasync.uimg", &big)],
        )
        .unwrap();
        let mut f = File::open(&out).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 2048 * 512 + (16 << 20));
        let mbr = mbrman::MBR::read_from(&mut f, 512).unwrap();
        let p = &mbr[1];
        assert_eq!((p.boot, p.sys, p.starting_lba), (0x80, 0x0c, 2048));
        assert_eq!(p.sectors, (16 << 20) / 512);
        let mut slice = Slice {
            file: &mut f,
            start: 2048 * 512,
            len: 16 << 20,
            pos: 0,
        };
        let fs = fatfs::FileSystem::new(&mut slice, fatfs::FsOptions::new()).unwrap();
        let mut back = Vec::new();
        fs.root_dir()
            .open_file("dmasync.uimg")
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, big);
        // Nothing but the finished image is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn files_larger_than_the_partition_are_refused_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sd.img");
        let huge = vec![0u8; 2 << 20];
        let e = write(&out, 2048, 2, &[("dmasync.uimg", &huge)]).unwrap_err();
        assert!(
            e.to_string().contains("do not fit a 2 MiB boot partition"),
            "{e}"
        );
        assert!(!out.exists());
    }
}
