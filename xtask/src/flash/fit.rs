//! A FIT image (flattened image tree, `.itb`): a flattened device tree holding one kernel
//! image node with its bytes, a CRC32 hash node, and one configuration, which is what `bootm
//! <addr>` boots. Written by hand (the FDT format is four blocks; no maintained Rust FDT
//! writer was in the tree); checked with `mkimage -l` in the tests below and booted by
//! U-Boot in the QEMU rehearsal.
//!
//! FDT layout (devicetree specification v0.4, ch. 5): a 40-byte header, the memory
//! reservation block (here only its terminating empty entry), the structure block (tokens
//! BEGIN_NODE 1, END_NODE 2, PROP 3, END 9, all 4-byte aligned), then the strings block
//! (property names, NUL-terminated). Node and property names follow U-Boot's
//! doc/usage/fit/source_file_format.rst.

use anyhow::{Result, bail};

use super::uimage::{Arch, Os};

const MAGIC: u32 = 0xd00d_feed;
const HEADER_LEN: usize = 40;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const END: u32 = 9;

/// What the one image node says.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub name: String,
    pub arch: Arch,
    pub os: Os,
    pub load: u64,
    pub entry: u64,
    /// Seconds since 1970, the tree's `timestamp`.
    pub time: u32,
}

struct Writer {
    structure: Vec<u8>,
    strings: Vec<u8>,
}

impl Writer {
    fn word(&mut self, w: u32) {
        self.structure.extend_from_slice(&w.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
    }

    fn begin(&mut self, name: &str) {
        self.word(BEGIN_NODE);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        self.pad();
    }

    fn end(&mut self) {
        self.word(END_NODE);
    }

    /// The offset of `name` in the strings block, adding it the first time.
    fn name_offset(&mut self, name: &str) -> u32 {
        let mut at = 0;
        for s in self.strings.split(|&b| b == 0) {
            if s == name.as_bytes() && at < self.strings.len() {
                return at as u32;
            }
            at += s.len() + 1;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off
    }

    fn prop(&mut self, name: &str, value: &[u8]) {
        let off = self.name_offset(name);
        self.word(PROP);
        self.word(value.len() as u32);
        self.word(off);
        self.structure.extend_from_slice(value);
        self.pad();
    }

    fn text(&mut self, name: &str, value: &str) {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.prop(name, &v);
    }

    fn cell(&mut self, name: &str, value: u32) {
        self.prop(name, &value.to_be_bytes());
    }
}

/// The FIT holding `data` as its kernel image, with configuration `conf-1` the default.
pub fn write(k: &Kernel, data: &[u8]) -> Result<Vec<u8>> {
    if k.name.contains('\0') {
        bail!("the image name {:?} holds a NUL", k.name);
    }
    let (Ok(load), Ok(entry)) = (u32::try_from(k.load), u32::try_from(k.entry)) else {
        bail!(
            "load {:#x} / entry {:#x} above 4 GiB: this FIT writer uses one address cell",
            k.load,
            k.entry
        );
    };
    let arch = match k.arch {
        Arch::Arm => "arm",
        Arch::Arm64 => "arm64",
    };
    let os = match k.os {
        Os::Linux => "linux",
        Os::UBoot => "u-boot",
    };
    let mut w = Writer {
        structure: Vec::new(),
        strings: Vec::new(),
    };
    w.begin("");
    w.text("description", &k.name);
    w.cell("timestamp", k.time);
    w.cell("#address-cells", 1);
    w.begin("images");
    w.begin("kernel-1");
    w.text("description", &k.name);
    w.prop("data", data);
    w.text("type", "kernel");
    w.text("arch", arch);
    w.text("os", os);
    w.text("compression", "none");
    w.cell("load", load);
    w.cell("entry", entry);
    w.begin("hash-1");
    w.prop("value", &crc32fast::hash(data).to_be_bytes());
    w.text("algo", "crc32");
    w.end();
    w.end();
    w.end();
    w.begin("configurations");
    w.text("default", "conf-1");
    w.begin("conf-1");
    w.text("description", &k.name);
    w.text("kernel", "kernel-1");
    w.end();
    w.end();
    w.end();
    w.word(END);

    let rsvmap = HEADER_LEN;
    let structure = rsvmap + 16;
    let strings = structure + w.structure.len();
    let total = strings + w.strings.len();
    let mut out = Vec::with_capacity(total);
    for v in [
        MAGIC,
        total as u32,
        structure as u32,
        strings as u32,
        rsvmap as u32,
        17, // version
        16, // last compatible version
        0,  // boot_cpuid_phys
        w.strings.len() as u32,
        w.structure.len() as u32,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&w.structure);
    out.extend_from_slice(&w.strings);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Kernel {
        Kernel {
            name: "dmasync qemu-virt boot".into(),
            arch: Arch::Arm64,
            os: Os::Linux,
            load: 0x4020_0000,
            entry: 0x4020_0000,
            time: 1_700_000_000,
        }
    }

    #[test]
    fn the_tree_is_well_formed() {
        let data: Vec<u8> = (0..1001u32).map(|i| i as u8).collect();
        let fit = write(&kernel(), &data).unwrap();
        let be = |o: usize| u32::from_be_bytes(fit[o..o + 4].try_into().unwrap());
        assert_eq!(be(0), MAGIC);
        assert_eq!(be(4) as usize, fit.len());
        assert_eq!(be(20), 17);
        let (st, sz) = (be(8) as usize, be(36) as usize);
        assert_eq!(st % 4, 0);
        assert_eq!(be(st), BEGIN_NODE);
        assert_eq!(be(st + sz - 4), END);
        // The data is in there verbatim, and each property name once.
        assert!(fit.windows(data.len()).any(|w| w == &data[..]));
        let strings = &fit[be(12) as usize..];
        assert_eq!(
            strings
                .split(|&b| b == 0)
                .filter(|s| *s == b"description")
                .count(),
            1
        );
        let e = write(
            &Kernel {
                load: 0x1_0000_0000,
                ..kernel()
            },
            &data,
        )
        .unwrap_err();
        assert!(e.to_string().contains("above 4 GiB"), "{e}");
    }

    #[test]
    fn mkimage_reads_it() {
        let mkimage = crate::flash::required_tool("/usr/bin/mkimage", "u-boot-tools");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.itb");
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 31) as u8).collect();
        std::fs::write(&path, write(&kernel(), &data).unwrap()).unwrap();
        let out = std::process::Command::new(mkimage)
            .arg("-l")
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        for want in [
            "FIT description: dmasync qemu-virt boot",
            "Image 0 (kernel-1)",
            "Type:         Kernel Image",
            "Compression:  uncompressed",
            "Data Size:    70000 Bytes",
            "Architecture: AArch64",
            "OS:           Linux",
            "Load Address: 0x40200000",
            "Entry Point:  0x40200000",
            "Hash algo:    crc32",
            &format!("Hash value:   {:08x}", crc32fast::hash(&data)),
            "Default Configuration: 'conf-1'",
            "Kernel:       kernel-1",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
