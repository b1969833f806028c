//! Firmware images of a board: building them, their sizes, and the RAM check.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::boards::{Board, ImageFormat, RamRange};
use crate::cargo::{self, Artifact, Images};
use crate::image::{self, Segment};

/// A built image and what it loads into guest memory.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub kind: String,
    pub path: PathBuf,
    pub file_size: u64,
    pub segments: Vec<Segment>,
}

impl Image {
    pub fn read(artifact: &Artifact) -> Result<Self> {
        let bytes = std::fs::read(&artifact.path)
            .with_context(|| format!("cannot read {}", artifact.path.display()))?;
        let segments = image::load_segments(&bytes)
            .with_context(|| format!("{} is not a loadable image", artifact.path.display()))?;
        Ok(Image {
            name: artifact.name.clone(),
            kind: artifact.kind.clone(),
            path: artifact.path.clone(),
            file_size: bytes.len() as u64,
            segments,
        })
    }

    pub fn loaded_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.mem_size).sum()
    }

    pub fn check_fits(&self, ram: RamRange) -> Result<()> {
        image::check_fits(&self.path, &self.segments, ram)
    }
}

/// What QEMU's `-kernel` gets for the ELF at `elf`, by the board's `image` key: the ELF
/// itself, or its raw binary written into `dir` (which must outlive the QEMU run). A raw
/// image must start at the board's `load_address` with its entry point there, because QEMU
/// loads it there and jumps to its first byte.
pub fn kernel_image(board: &Board, elf: &Path, dir: &Path) -> Result<PathBuf> {
    match board.image {
        ImageFormat::Elf => Ok(elf.to_path_buf()),
        ImageFormat::Raw => {
            let bytes =
                std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
            let raw = image::raw_binary(&bytes)
                .with_context(|| format!("cannot make a raw image of {}", elf.display()))?;
            check_raw_placement(board, &raw)
                .with_context(|| format!("{} as a raw image", elf.display()))?;
            let name = elf.file_name().unwrap_or_default().to_string_lossy();
            let out = dir.join(format!("{name}.bin"));
            std::fs::write(&out, &raw.bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            Ok(out)
        }
    }
}

/// A raw image's first byte must be at `load_address` and be the entry point.
fn check_raw_placement(board: &Board, raw: &image::RawImage) -> Result<()> {
    if raw.base != board.load_address {
        bail!(
            "its first loadable byte is at {:#x}, but QEMU puts a raw image at board.toml \
             load_address {:#x}",
            raw.base,
            board.load_address
        );
    }
    if raw.entry != raw.base {
        bail!(
            "its entry point {:#x} is not its first byte {:#x}: QEMU jumps to the start of a \
             raw image",
            raw.entry,
            raw.base
        );
    }
    Ok(())
}

/// `cargo xtask build`: every bin and test binary of the board, listed with sizes, all
/// checked against the board's default RAM.
pub fn build(root: &Path, board: &Board) -> Result<()> {
    let artifacts = cargo::build_images(root, &board.package, &board.target, Images::BinsAndTests)?;
    if artifacts.is_empty() {
        bail!("{} has no bins or test binaries to build", board.package);
    }
    let ram = board.ram_range(&board.qemu.args)?;
    let images = artifacts
        .iter()
        .map(Image::read)
        .collect::<Result<Vec<_>>>()?;
    println!(
        "images for {} ({:?}, {}): {}",
        board.name, board.tier, board.target, board.summary
    );
    println!("RAM {ram}");
    let mut first_misfit = None;
    for img in &images {
        let place = image::footprint(&img.segments)
            .map(|(s, e)| format!("{s:#x}..{e:#x}"))
            .unwrap_or_else(|| "nothing to load".into());
        let fits = img.check_fits(ram);
        println!(
            "  {:<4} {:<12} {:>10} loaded  {:>10} file  {place}{}  {}",
            img.kind,
            img.name,
            image::size_text(img.loaded_bytes()),
            image::size_text(img.file_size),
            if fits.is_ok() { "" } else { "  DOES NOT FIT" },
            img.path.strip_prefix(root).unwrap_or(&img.path).display(),
        );
        if let Err(e) = fits {
            first_misfit.get_or_insert(e);
        }
    }
    match first_misfit {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Builds just the demo bin and returns its path.
pub fn build_demo(root: &Path, board: &Board) -> Result<PathBuf> {
    let Some(demo) = &board.demo else {
        bail!(
            "board '{}' has no demo yet (its board.toml has no `demo` field); run its on-target \
             tests with `cargo xtask test --board {}`, or boot an image with `--elf <path>`",
            board.name,
            board.name
        );
    };
    let artifacts = cargo::build_images(
        root,
        &board.package,
        &board.target,
        Images::Bin(demo.clone()),
    )?;
    artifacts
        .into_iter()
        .find(|a| a.kind == "bin" && &a.name == demo)
        .map(|a| a.path)
        .with_context(|| {
            format!(
                "cargo built no bin '{}' for {} (board.toml field `demo`)",
                demo, board.package
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boards::parse_board;

    const RAW_BOARD: &str = r#"
name = "b"
summary = "s"
tier = "emulated"
package = "p"
target = "aarch64-unknown-none"
load_address = 0x4008_0000
ram_base = 0x4000_0000
image = "raw"
[qemu]
binary = "qemu-system-aarch64"
machine = "imx8mp-evk"
"#;

    fn raw(base: u64, entry: u64) -> image::RawImage {
        image::RawImage {
            base,
            entry,
            bytes: vec![0; 4],
        }
    }

    #[test]
    fn a_raw_image_must_start_at_the_load_address_with_its_entry() {
        let board = parse_board(Path::new("b.toml"), RAW_BOARD, "b").unwrap();
        assert!(check_raw_placement(&board, &raw(0x4008_0000, 0x4008_0000)).is_ok());
        let e = format!(
            "{:#}",
            check_raw_placement(&board, &raw(0x4020_0000, 0x4020_0000)).unwrap_err()
        );
        assert!(
            e.contains("0x40200000") && e.contains("load_address 0x40080000"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            check_raw_placement(&board, &raw(0x4008_0000, 0x4008_0040)).unwrap_err()
        );
        assert!(e.contains("entry point 0x40080040"), "{e}");
    }

    #[test]
    fn an_elf_board_boots_the_elf_itself() {
        let text = RAW_BOARD.replace("image = \"raw\"\n", "");
        let board = parse_board(Path::new("b.toml"), &text, "b").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let elf = Path::new("/nonexistent/demo");
        assert_eq!(kernel_image(&board, elf, dir.path()).unwrap(), elf);
        // A raw board reads the ELF, so a missing one is an error naming it.
        let board = parse_board(Path::new("b.toml"), RAW_BOARD, "b").unwrap();
        let e = format!("{:#}", kernel_image(&board, elf, dir.path()).unwrap_err());
        assert!(e.contains("/nonexistent/demo"), "{e}");
    }
}
