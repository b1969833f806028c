//! Firmware images of a board: building them, their sizes, and the RAM check.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::boards::{Board, RamRange};
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
