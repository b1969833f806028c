//! defmt frames -> display lines, using the `.defmt` table of the image that produced them.

use std::path::Path;

use anyhow::{Context, Result, bail};
use defmt_decoder::{Encoding, Locations, Table};

use crate::console::{FrameFormatter, malformed};

/// Decoder for one image. Images without a `.defmt` section get `Defmt::none()`.
pub struct Defmt {
    table: Option<Table>,
    locations: Locations,
    /// Shortens file paths in locations to workspace-relative ones.
    root: String,
}

impl std::fmt::Debug for Defmt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Defmt")
            .field("has_table", &self.table.is_some())
            .field("locations", &self.locations.len())
            .finish_non_exhaustive()
    }
}

impl Defmt {
    /// Reads the table (and file:line locations, when the debug info has them) from an ELF.
    pub fn from_elf(elf: &[u8], root: &Path) -> Result<Self> {
        let table = Table::parse(elf).context("cannot read the image's defmt table")?;
        if let Some(table) = &table
            && table.encoding() != Encoding::Rzcobs
        {
            // Raw frames contain 0x00 bytes, which the console protocol uses as a delimiter.
            bail!("the image uses defmt's raw encoding; the console protocol needs rzcobs");
        }
        // Locations are a nicety: without debug info we still print level and message.
        let locations = table
            .as_ref()
            .and_then(|t| t.get_locations(elf).ok())
            .unwrap_or_default();
        Ok(Defmt {
            table,
            locations,
            root: format!("{}/", root.display()),
        })
    }

    /// A decoder for a table built without an image (the fuzz targets deserialize one);
    /// refuses the raw encoding as [`Defmt::from_elf`] does. No locations.
    pub fn from_table(table: Table) -> Result<Self> {
        if table.encoding() != Encoding::Rzcobs {
            bail!("the table uses defmt's raw encoding; the console protocol needs rzcobs");
        }
        Ok(Defmt {
            table: Some(table),
            locations: Locations::new(),
            root: String::new(),
        })
    }

    /// For images that carry no defmt table, or whose table could not be read.
    pub fn none() -> Self {
        Defmt {
            table: None,
            locations: Locations::new(),
            root: String::new(),
        }
    }

    pub fn has_table(&self) -> bool {
        self.table.is_some()
    }

    fn short_location(&self, index: u64) -> Option<String> {
        let loc = self.locations.get(&index)?;
        let file = loc.file.display().to_string();
        let file = match file.strip_prefix(&self.root) {
            Some(relative) => relative.to_string(),
            // Outside the workspace (a dependency): the last two components say enough.
            None => {
                let parts: Vec<&str> = file.rsplitn(3, '/').collect();
                parts[..parts.len().min(2)]
                    .iter()
                    .rev()
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/")
            }
        };
        Some(format!("{file}:{}", loc.line))
    }
}

impl FrameFormatter for Defmt {
    fn format(&self, frame: &[u8]) -> String {
        let Some(table) = &self.table else {
            return malformed(frame.len());
        };
        // One stream decoder per frame: the console splitter has already found the frame's
        // end, and a fresh decoder cannot carry garbage from a broken frame into the next.
        let mut decoder = table.new_stream_decoder();
        decoder.received(frame);
        decoder.received(&[0]);
        let Ok(decoded) = decoder.decode() else {
            return malformed(frame.len());
        };
        let level = decoded
            .level()
            .map(|l| l.as_str().to_ascii_uppercase())
            .unwrap_or_else(|| "PRINT".into());
        let mut line = String::new();
        if let Some(ts) = decoded.display_timestamp() {
            line.push_str(&format!("{ts} "));
        }
        line.push_str(&format!("{level:<5} {}", decoded.display_message()));
        if let Some(loc) = self.short_location(decoded.index()) {
            line.push_str(&format!("  ({loc})"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_table_every_frame_is_reported_malformed() {
        let d = Defmt::none();
        assert!(!d.has_table());
        assert_eq!(d.format(&[1, 2, 3]), "<malformed defmt frame, 3 bytes>");
    }

    /// A one-entry table, as defmt-decoder would read it from an image's `.defmt` section.
    fn decoder(root: &str) -> Defmt {
        let table: Table = serde_json::from_value(serde_json::json!({
            "timestamp": null,
            "entries": {"1": {"string": {"tag": "Info", "string": "temperature {=u8} C"},
                              "raw_symbol": "x"}},
            "bitflags": {},
            "encoding": "Rzcobs"
        }))
        .expect("table");
        Defmt {
            table: Some(table),
            locations: Locations::new(),
            root: root.into(),
        }
    }

    /// rzcobs for frames shorter than 7 bytes: the bytes that are not zero, then a byte whose
    /// low bits mark where the zeros were (high bits set past the end).
    fn rzcobs_short(frame: &[u8]) -> Vec<u8> {
        assert!(frame.len() < 7);
        let mut out: Vec<u8> = frame.iter().copied().filter(|&b| b != 0).collect();
        let zeros = frame
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == 0)
            .fold(0u8, |m, (i, _)| m | 1 << i);
        out.push((zeros | (0xFF << frame.len())) & 0x7F);
        out
    }

    #[test]
    fn frames_decode_to_level_message_and_location() {
        // Entry 1 (u16 LE), then the u8 argument.
        let frame = rzcobs_short(&[0x01, 0x00, 42]);
        assert_eq!(frame, vec![0x01, 42, 0x7a]);
        let mut d = decoder("/w/");
        assert_eq!(d.format(&frame), "INFO  temperature 42 C");

        d.locations.insert(
            1,
            defmt_decoder::Location {
                file: "/w/boards/b/src/main.rs".into(),
                line: 17,
                module: "main".into(),
            },
        );
        assert_eq!(
            d.format(&frame),
            "INFO  temperature 42 C  (boards/b/src/main.rs:17)"
        );
        let mut outside = decoder("/w/");
        outside.locations = d.locations.clone();
        if let Some(loc) = outside.locations.get_mut(&1) {
            loc.file = "/home/u/.cargo/registry/defmt-1.0/src/lib.rs".into();
        }
        assert_eq!(
            outside.format(&frame),
            "INFO  temperature 42 C  (src/lib.rs:17)"
        );
    }

    #[test]
    fn undecodable_frames_are_reported_not_fatal() {
        let d = decoder("/w/");
        // Entry 5 is not in the table.
        assert_eq!(
            d.format(&rzcobs_short(&[0x05, 0x00, 42])),
            "<malformed defmt frame, 3 bytes>"
        );
        // Too short for even the entry index.
        assert_eq!(d.format(&[0x7f]), "<malformed defmt frame, 1 bytes>");
        assert_eq!(d.format(&[]), "<malformed defmt frame, 0 bytes>");
    }

    #[test]
    fn a_non_elf_is_an_error_not_a_panic() {
        assert!(Defmt::from_elf(b"not an elf", Path::new("/w")).is_err());
    }
}
