//! QEMU's fw_cfg device: selector, data and DMA registers, the file directory, DMA writes.
//!
//! Register layout of the MMIO variant (QEMU hw/nvram/fw_cfg.c `fw_cfg_init_mem_wide`, as
//! hw/arm/virt.c instantiates it; Linux drivers/firmware/qemu_fw_cfg.c uses the same
//! offsets for `qemu,fw-cfg-mmio`): data at +0, selector at +8 (16 bits, big-endian), DMA
//! address at +16 (64 bits, big-endian; writing the low word at +20 starts the transfer).
//! Item keys: signature 0x0000 ("QEMU"), id 0x0001 (bit 1: DMA interface), file directory
//! 0x0019. The directory is a big-endian count followed by 64-byte entries {be32 size,
//! be16 select, be16 reserved, `name[56]`} (docs/specs/fw_cfg.rst in QEMU).
//!
//! A DMA transfer is described by `FWCfgDmaAccess` {be32 control, be32 length, be64 address}
//! in guest memory; control bits ERROR 0x01, READ 0x02, SKIP 0x04, SELECT 0x08 (key in the
//! top 16 bits), WRITE 0x10. The device clears control (keeping ERROR on failure) when done.
//! QEMU performs the whole transfer inside the register write.

use core::fmt;

/// Key of the signature item.
pub const KEY_SIGNATURE: u16 = 0x0000;
/// Key of the id (feature) item.
pub const KEY_ID: u16 = 0x0001;
/// Key of the file directory.
pub const KEY_FILE_DIR: u16 = 0x0019;
/// ID bit: the DMA interface exists.
pub const ID_DMA: u32 = 1 << 1;

/// DMA control: error (set by the device).
pub const DMA_CTL_ERROR: u32 = 0x01;
/// DMA control: read.
pub const DMA_CTL_READ: u32 = 0x02;
/// DMA control: skip.
pub const DMA_CTL_SKIP: u32 = 0x04;
/// DMA control: select the key in bits 31..16 first.
pub const DMA_CTL_SELECT: u32 = 0x08;
/// DMA control: write.
pub const DMA_CTL_WRITE: u32 = 0x10;

/// Bytes of one directory entry.
pub const DIR_ENTRY_LEN: usize = 64;
/// Bytes of a file name in a directory entry (NUL-padded).
pub const FILE_NAME_LEN: usize = 56;

/// Register access to a fw_cfg device; [`MmioFwCfg`] on the target, a model in tests.
pub trait FwCfgIo {
    /// Selects item `key` and rewinds its data offset.
    fn select(&mut self, key: u16);
    /// Reads the next byte of the selected item.
    fn read_byte(&mut self) -> u8;
    /// Writes the bus address of a DMA access structure (starting the transfer), then
    /// returns when the device is done with it. The caller has made the structure and its
    /// data visible to the device.
    fn start_dma(&mut self, access_bus: u64);
}

/// The MMIO fw_cfg register block at a fixed address.
#[derive(Debug)]
pub struct MmioFwCfg {
    base: usize,
}

impl MmioFwCfg {
    /// The registers at `base`.
    ///
    /// # Safety
    ///
    /// `base` is the `qemu,fw-cfg-mmio` register block (at least 0x18 bytes), mapped as
    /// device memory for the rest of the program, and nothing else drives it.
    pub unsafe fn new(base: usize) -> Self {
        Self { base }
    }
}

impl FwCfgIo for MmioFwCfg {
    fn select(&mut self, key: u16) {
        // SAFETY: `new`'s contract: +8 is the selector register of our device.
        unsafe { core::ptr::write_volatile((self.base + 8) as *mut u16, key.to_be()) }
    }

    fn read_byte(&mut self) -> u8 {
        // SAFETY: `new`'s contract: +0 is the data register; byte reads are allowed
        // (fw_cfg.c `fw_cfg_data_mem_ops` takes 1..8-byte accesses).
        unsafe { core::ptr::read_volatile(self.base as *const u8) }
    }

    fn start_dma(&mut self, access_bus: u64) {
        // High word first, then the low word, which triggers (as Linux qemu_fw_cfg.c does).
        // SAFETY: `new`'s contract: +16/+20 are the DMA address register halves.
        unsafe {
            core::ptr::write_volatile(
                (self.base + 16) as *mut u32,
                ((access_bus >> 32) as u32).to_be(),
            );
            core::ptr::write_volatile((self.base + 20) as *mut u32, (access_bus as u32).to_be());
        }
    }
}

/// What went wrong talking to fw_cfg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwCfgError {
    /// The signature item is not "QEMU": not a fw_cfg device.
    BadSignature([u8; 4]),
    /// The device has no DMA interface (ramfb needs it).
    NoDma,
    /// The file is not in the directory (e.g. QEMU started without `-device ramfb`).
    NoSuchFile(&'static str),
    /// A DMA transfer ended with the ERROR bit.
    DmaError,
    /// A DMA transfer did not complete (control never cleared).
    DmaStuck(u32),
}

impl fmt::Display for FwCfgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature(s) => write!(f, "fw_cfg: signature {s:02x?} is not \"QEMU\""),
            Self::NoDma => f.write_str("fw_cfg: the device has no DMA interface"),
            Self::NoSuchFile(n) => write!(f, "fw_cfg: no file \"{n}\" in the directory"),
            Self::DmaError => f.write_str("fw_cfg: DMA transfer reported an error"),
            Self::DmaStuck(c) => {
                write!(f, "fw_cfg: DMA transfer did not complete (control {c:#x})")
            }
        }
    }
}

fn read_be32(io: &mut impl FwCfgIo) -> u32 {
    let mut b = [0u8; 4];
    b.iter_mut().for_each(|x| *x = io.read_byte());
    u32::from_be_bytes(b)
}

/// Checks the signature and the DMA feature bit.
pub fn probe(io: &mut impl FwCfgIo) -> Result<(), FwCfgError> {
    io.select(KEY_SIGNATURE);
    let mut sig = [0u8; 4];
    sig.iter_mut().for_each(|x| *x = io.read_byte());
    if &sig != b"QEMU" {
        return Err(FwCfgError::BadSignature(sig));
    }
    io.select(KEY_ID);
    let mut id = [0u8; 4];
    id.iter_mut().for_each(|x| *x = io.read_byte());
    // The id item is stored little-endian (fw_cfg.c `fw_cfg_add_i32`).
    if u32::from_le_bytes(id) & ID_DMA == 0 {
        return Err(FwCfgError::NoDma);
    }
    Ok(())
}

/// A directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The item key to select.
    pub select: u16,
    /// Its size in bytes.
    pub size: u32,
}

/// Finds `name` in the file directory.
pub fn find_file(io: &mut impl FwCfgIo, name: &'static str) -> Result<FileEntry, FwCfgError> {
    io.select(KEY_FILE_DIR);
    let count = read_be32(io);
    for _ in 0..count {
        let mut e = [0u8; DIR_ENTRY_LEN];
        e.iter_mut().for_each(|x| *x = io.read_byte());
        let size = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        let select = u16::from_be_bytes([e[4], e[5]]);
        let raw = &e[8..8 + FILE_NAME_LEN];
        let n = raw.iter().position(|&c| c == 0).unwrap_or(FILE_NAME_LEN);
        if &raw[..n] == name.as_bytes() {
            return Ok(FileEntry { select, size });
        }
    }
    Err(FwCfgError::NoSuchFile(name))
}

/// Encodes an `FWCfgDmaAccess` (16 bytes, big-endian).
pub fn dma_access(control: u32, length: u32, address: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&control.to_be_bytes());
    b[4..8].copy_from_slice(&length.to_be_bytes());
    b[8..16].copy_from_slice(&address.to_be_bytes());
    b
}

/// The control word of a select-and-write of item `key`.
pub const fn write_control(key: u16) -> u32 {
    ((key as u32) << 16) | DMA_CTL_SELECT | DMA_CTL_WRITE
}

/// Reads the control word the device left in an access structure: `Ok` when done cleanly.
pub fn dma_outcome(control: u32) -> Result<(), FwCfgError> {
    if control & DMA_CTL_ERROR != 0 {
        Err(FwCfgError::DmaError)
    } else if control != 0 {
        Err(FwCfgError::DmaStuck(control))
    } else {
        Ok(())
    }
}

/// An in-memory fw_cfg for host tests: items by key, a byte cursor, and DMA writes
/// recorded per key. Bus addresses are host pointers (identity, as on QEMU virt).
#[cfg(test)]
pub(crate) mod fake {
    extern crate std;

    use alloc::sync::Arc;
    use alloc::vec;
    use alloc::vec::Vec;
    use std::sync::Mutex;

    use super::*;

    /// What the device saw, shared with the test.
    #[derive(Default, Debug)]
    pub struct Log {
        /// (key, bytes) of every DMA write that succeeded.
        pub writes: Vec<(u16, Vec<u8>)>,
        /// Make the next DMA transfers fail with the ERROR bit.
        pub fail_dma: bool,
    }

    pub struct FakeFwCfg {
        pub items: Vec<(u16, Vec<u8>)>,
        pub selected: Option<u16>,
        pub cursor: usize,
        pub log: Arc<Mutex<Log>>,
    }

    impl FakeFwCfg {
        pub fn with_files(files: &[(&str, u16, u32)], dma: bool) -> Self {
            let mut dir = (files.len() as u32).to_be_bytes().to_vec();
            for (name, select, size) in files {
                let mut e = [0u8; DIR_ENTRY_LEN];
                e[0..4].copy_from_slice(&size.to_be_bytes());
                e[4..6].copy_from_slice(&select.to_be_bytes());
                e[8..8 + name.len()].copy_from_slice(name.as_bytes());
                dir.extend_from_slice(&e);
            }
            let id: u32 = if dma { 0b11 } else { 0b01 };
            Self {
                items: vec![
                    (KEY_SIGNATURE, b"QEMU".to_vec()),
                    (KEY_ID, id.to_le_bytes().to_vec()),
                    (KEY_FILE_DIR, dir),
                ],
                selected: None,
                cursor: 0,
                log: Arc::default(),
            }
        }
    }

    impl FwCfgIo for FakeFwCfg {
        fn select(&mut self, key: u16) {
            self.selected = Some(key);
            self.cursor = 0;
        }
        fn read_byte(&mut self) -> u8 {
            let item = self
                .items
                .iter()
                .find(|(k, _)| Some(*k) == self.selected)
                .map(|(_, v)| v.as_slice())
                .unwrap_or(&[]);
            let b = item.get(self.cursor).copied().unwrap_or(0);
            self.cursor += 1;
            b
        }
        fn start_dma(&mut self, access_bus: u64) {
            let access = access_bus as usize as *mut [u8; 16];
            // SAFETY: test-only: the driver passes the address of its own live descriptor.
            let a = unsafe { access.read() };
            let control = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
            let len = u32::from_be_bytes([a[4], a[5], a[6], a[7]]) as usize;
            let addr = u64::from_be_bytes(a[8..16].try_into().unwrap()) as usize;
            let mut log = self.log.lock().unwrap();
            let done =
                if log.fail_dma || control & DMA_CTL_WRITE == 0 || control & DMA_CTL_SELECT == 0 {
                    DMA_CTL_ERROR
                } else {
                    // SAFETY: test-only: the descriptor names the driver's own live buffer.
                    let data = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
                    log.writes.push(((control >> 16) as u16, data.to_vec()));
                    0
                };
            // SAFETY: as above.
            unsafe { (access as *mut [u8; 4]).write(done.to_be_bytes()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeFwCfg;
    use super::*;

    #[test]
    fn probe_checks_signature_and_dma() {
        assert_eq!(probe(&mut FakeFwCfg::with_files(&[], true)), Ok(()));
        assert_eq!(
            probe(&mut FakeFwCfg::with_files(&[], false)),
            Err(FwCfgError::NoDma)
        );
        let mut bad = FakeFwCfg::with_files(&[], true);
        bad.items[0].1 = b"QEMX".to_vec();
        assert_eq!(probe(&mut bad), Err(FwCfgError::BadSignature(*b"QEMX")));
    }

    #[test]
    fn directory_lookup_matches_whole_names() {
        let mut io = FakeFwCfg::with_files(
            &[
                ("etc/ramfb-old", 0x20, 28),
                ("etc/acpi/tables", 0x21, 4096),
                ("etc/ramfb", 0x2a, 28),
            ],
            true,
        );
        assert_eq!(
            find_file(&mut io, "etc/ramfb"),
            Ok(FileEntry {
                select: 0x2a,
                size: 28
            })
        );
        assert_eq!(
            find_file(&mut io, "etc/ram"),
            Err(FwCfgError::NoSuchFile("etc/ram"))
        );
    }

    #[test]
    fn dma_access_and_control_encoding() {
        let a = dma_access(write_control(0x2a), 28, 0x4123_4560);
        assert_eq!(a[..4], [0x00, 0x2a, 0x00, 0x18]);
        assert_eq!(a[4..8], [0, 0, 0, 28]);
        assert_eq!(a[8..], [0, 0, 0, 0, 0x41, 0x23, 0x45, 0x60]);
        assert_eq!(dma_outcome(0), Ok(()));
        assert_eq!(dma_outcome(DMA_CTL_ERROR), Err(FwCfgError::DmaError));
        assert_eq!(
            dma_outcome(0x002a_0018),
            Err(FwCfgError::DmaStuck(0x002a_0018))
        );
    }
}
