//! Writing the SD card image to a block device (`flash --via sd-image --device /dev/sdX`):
//! what the device is (from sysfs), whether it looks like a system disk (from /proc/mounts
//! and sysfs holders), the confirmation, and the write with read-back. The decisions take
//! their inputs (a sysfs root, the mounts text, the answer) as arguments so host tests
//! exercise them without a real device; the write works on any file.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Bytes per transfer, and per progress step.
const CHUNK: usize = 1 << 20;

/// A block device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The kernel's name, `sdb` or `mmcblk0`.
    pub name: String,
    /// What the user named, `/dev/sdb`.
    pub path: PathBuf,
    pub bytes: u64,
    /// `device/model`, trimmed; `(no model in sysfs)` when absent (some SD readers).
    pub model: String,
}

impl Device {
    /// `/dev/sdb: "Ultra Fit" (29.8 GiB, 32017047552 bytes)`.
    pub fn describe(&self) -> String {
        format!(
            "{}: {:?} ({:.1} GiB, {} bytes)",
            self.path.display(),
            self.model,
            self.bytes as f64 / (1u64 << 30) as f64,
            self.bytes
        )
    }
}

/// Reads `<sys>/block/<name>/{size,device/model}` for `path` (`/dev/<name>`). A partition
/// (`/dev/sdb1`) is refused: the image carries its own partition table.
pub fn inspect(sys: &Path, path: &Path) -> Result<Device> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: not a device name", path.display()))?
        .to_string();
    let dir = sys.join("block").join(&name);
    if !dir.is_dir() {
        let whole = std::fs::read_dir(sys.join("block"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|d| dir_has(&sys.join("block").join(d), &name));
        match whole {
            Some(d) => bail!(
                "{} is a partition of /dev/{d}; give the whole device (the image has its own \
                 partition table)",
                path.display()
            ),
            None => bail!(
                "{} is not a block device the kernel lists in {} (see lsblk)",
                path.display(),
                sys.join("block").display()
            ),
        }
    }
    let size = std::fs::read_to_string(dir.join("size"))
        .with_context(|| format!("cannot read {}", dir.join("size").display()))?;
    // sysfs `size` is in 512-byte sectors whatever the device's block size.
    let sectors: u64 = size
        .trim()
        .parse()
        .with_context(|| format!("{}: size {:?} is not a number", dir.display(), size.trim()))?;
    let model = std::fs::read_to_string(dir.join("device/model"))
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|_| "(no model in sysfs)".to_string());
    Ok(Device {
        name,
        path: path.to_path_buf(),
        bytes: sectors * 512,
        model,
    })
}

fn dir_has(dir: &Path, entry: &str) -> bool {
    dir.join(entry).join("partition").is_file()
}

/// The device's own partitions, by kernel name (`sdb1`, `mmcblk0p1`).
fn partitions(sys: &Path, dev: &Device) -> Vec<String> {
    std::fs::read_dir(sys.join("block").join(&dev.name))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| dir_has(&sys.join("block").join(&dev.name), n))
        .collect()
}

/// Why `dev` looks like a disk the system uses, or None. Refused: the device or one of its
/// partitions mounted (any mount point, per `mounts`, the text of /proc/mounts), and one used
/// by device-mapper, RAID or LVM (sysfs `holders`), which is how `/` on LVM shows.
pub fn system_disk(sys: &Path, dev: &Device, mounts: &str) -> Option<String> {
    let mut names = partitions(sys, dev);
    names.push(dev.name.clone());
    let mut why = Vec::new();
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(source), Some(point)) = (f.next(), f.next()) else {
            continue;
        };
        let Some(src) = source.strip_prefix("/dev/") else {
            continue;
        };
        if names.iter().any(|n| n == src) {
            // /proc/mounts escapes spaces in mount points as \040.
            let point = point.replace("\\040", " ");
            let role = match point.as_str() {
                "/" => " (the root file system)",
                "/boot" | "/boot/efi" => " (the system's boot partition)",
                _ => "",
            };
            why.push(format!("{source} is mounted on {point}{role}"));
        }
    }
    for n in &names {
        let dir = if *n == dev.name {
            sys.join("block").join(n)
        } else {
            sys.join("block").join(&dev.name).join(n)
        };
        let holders: Vec<String> = std::fs::read_dir(dir.join("holders"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !holders.is_empty() {
            why.push(format!(
                "/dev/{n} is in use by {} (device-mapper, RAID or LVM)",
                holders.join(", ")
            ));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Refuses `dev` when it is a system disk, when the image does not fit, and unless the user
/// confirms (`yes` from --yes, else the word `yes` read from `answer` after the question is
/// written to `ask`).
pub fn decide(
    sys: &Path,
    dev: &Device,
    mounts: &str,
    image_bytes: u64,
    yes: bool,
    ask: &mut dyn Write,
    answer: &mut dyn BufRead,
) -> Result<()> {
    if let Some(why) = system_disk(sys, dev, mounts) {
        bail!(
            "refusing to write {}: it looks like a system disk: {why}",
            dev.describe()
        );
    }
    if dev.bytes < image_bytes {
        bail!(
            "the image ({image_bytes} bytes) does not fit {}",
            dev.describe()
        );
    }
    if yes {
        writeln!(ask, "==> writing {} (--yes)", dev.describe())?;
        return Ok(());
    }
    write!(
        ask,
        "==> about to overwrite {}: everything on it is lost. Type yes to go on: ",
        dev.describe()
    )?;
    ask.flush()?;
    let mut line = String::new();
    answer
        .read_line(&mut line)
        .context("cannot read the answer")?;
    if line.trim() != "yes" {
        bail!(
            "not confirmed (answer {:?}, not \"yes\"): nothing written to {}",
            line.trim(),
            dev.path.display()
        );
    }
    Ok(())
}

/// Writes `image` to the start of `target` (a block device, or any file), flushes it to the
/// medium, then reads it back and compares. `progress(done, total)` after each chunk of
/// the write and of the read-back.
pub fn write_and_verify(
    image: &Path,
    target: &Path,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<()> {
    let mut src = File::open(image).with_context(|| format!("cannot open {}", image.display()))?;
    let total = src.metadata()?.len();
    // No truncate, no create: a device path that vanished must not become a regular file.
    let mut dst = OpenOptions::new()
        .write(true)
        .open(target)
        .with_context(|| format!("cannot open {} for writing", target.display()))?;
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    loop {
        let n = read_full(&mut src, &mut buf)?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n])
            .with_context(|| format!("writing {} at byte {done}", target.display()))?;
        done += n as u64;
        progress("write", done, total);
    }
    dst.sync_all()
        .with_context(|| format!("cannot flush {}", target.display()))?;
    // Drop the cached pages so the read-back comes from the medium, not from memory.
    let _ = rustix::fs::fadvise(&dst, 0, None, rustix::fs::Advice::DontNeed);
    drop(dst);
    let mut back =
        File::open(target).with_context(|| format!("cannot reopen {}", target.display()))?;
    src.seek(SeekFrom::Start(0))?;
    compare(&mut src, &mut back, total, &mut |d| {
        progress("verify", d, total)
    })
    .with_context(|| format!("read-back of {} failed", target.display()))
}

/// Compares the first `len` bytes of `want` and `got`; the error names the first
/// differing byte offset.
pub fn compare(
    want: &mut dyn Read,
    got: &mut dyn Read,
    len: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut a = vec![0u8; CHUNK];
    let mut b = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < len {
        let want_n = ((len - done) as usize).min(CHUNK);
        let n = read_full(want, &mut a[..want_n])?;
        let m = read_full(got, &mut b[..want_n])?;
        if let Some(i) = (0..n.min(m)).find(|&i| a[i] != b[i]) {
            bail!(
                "byte {} differs: wrote {:#04x}, read back {:#04x}",
                done + i as u64,
                a[i],
                b[i]
            );
        }
        if m < n {
            bail!("only {} of {len} bytes could be read back", done + m as u64);
        }
        if n == 0 {
            bail!("the image ended at {done} of {len} bytes");
        }
        done += n as u64;
        progress(done);
    }
    Ok(())
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysfs with `sdb` (two partitions, a model) and `mmcblk0` (one partition, no model).
    fn fake_sys() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let b = t.path().join("block");
        for (dev, parts, sectors) in [
            ("sdb", &["sdb1", "sdb2"][..], 62_333_952u64),
            ("mmcblk0", &["mmcblk0p1"][..], 1024),
        ] {
            std::fs::create_dir_all(b.join(dev).join("holders")).unwrap();
            std::fs::write(b.join(dev).join("size"), format!("{sectors}\n")).unwrap();
            for p in parts {
                std::fs::create_dir_all(b.join(dev).join(p).join("holders")).unwrap();
                std::fs::write(b.join(dev).join(p).join("partition"), "1\n").unwrap();
            }
        }
        std::fs::create_dir_all(b.join("sdb/device")).unwrap();
        std::fs::write(b.join("sdb/device/model"), "Ultra Fit       \n").unwrap();
        t
    }

    #[test]
    fn devices_are_named_by_size_and_model_and_partitions_are_refused() {
        let sys = fake_sys();
        let d = inspect(sys.path(), Path::new("/dev/sdb")).unwrap();
        assert_eq!(d.bytes, 62_333_952 * 512);
        assert_eq!(d.model, "Ultra Fit");
        assert_eq!(
            d.describe(),
            "/dev/sdb: \"Ultra Fit\" (29.7 GiB, 31914983424 bytes)"
        );
        let m = inspect(sys.path(), Path::new("/dev/mmcblk0")).unwrap();
        assert_eq!(m.model, "(no model in sysfs)");
        let e = inspect(sys.path(), Path::new("/dev/sdb1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a partition of /dev/sdb"), "{e}");
        let e = inspect(sys.path(), Path::new("/dev/sdz"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a block device the kernel lists"), "{e}");
    }

    #[test]
    fn mounted_or_held_disks_are_system_disks() {
        let sys = fake_sys();
        let d = inspect(sys.path(), Path::new("/dev/sdb")).unwrap();
        let clean = "/dev/sda2 / ext4 rw 0 0\nproc /proc proc rw 0 0\n";
        assert_eq!(system_disk(sys.path(), &d, clean), None);
        let root = "/dev/sdb2 / ext4 rw 0 0\n/dev/sdb1 /boot vfat rw 0 0\n";
        let why = system_disk(sys.path(), &d, root).unwrap();
        assert_eq!(
            why,
            "/dev/sdb2 is mounted on / (the root file system); /dev/sdb1 is mounted on /boot \
             (the system's boot partition)"
        );
        let media = "/dev/sdb1 /media/my\\040card vfat rw 0 0\n";
        assert_eq!(
            system_disk(sys.path(), &d, media).unwrap(),
            "/dev/sdb1 is mounted on /media/my card"
        );
        // /dev/sdb10 is not sdb1's.
        assert_eq!(
            system_disk(sys.path(), &d, "/dev/sdb10 /x ext4 rw 0 0\n"),
            None
        );
        std::fs::create_dir_all(sys.path().join("block/sdb/sdb2/holders/dm-0")).unwrap();
        let why = system_disk(sys.path(), &d, clean).unwrap();
        assert!(why.contains("/dev/sdb2 is in use by dm-0"), "{why}");
    }

    #[test]
    fn only_yes_or_the_flag_goes_on() {
        let sys = fake_sys();
        let d = inspect(sys.path(), Path::new("/dev/sdb")).unwrap();
        let mut asked = Vec::new();
        decide(
            sys.path(),
            &d,
            "",
            1000,
            false,
            &mut asked,
            &mut &b"yes\n"[..],
        )
        .unwrap();
        let q = String::from_utf8(asked).unwrap();
        assert!(
            q.contains("about to overwrite /dev/sdb: \"Ultra Fit\""),
            "{q}"
        );
        for no in [&b"y\n"[..], b"\n", b"", b"no\n"] {
            let e = decide(
                sys.path(),
                &d,
                "",
                1000,
                false,
                &mut Vec::new(),
                &mut &no[..],
            )
            .unwrap_err()
            .to_string();
            assert!(e.starts_with("not confirmed"), "{e}");
        }
        // --yes reads nothing.
        decide(
            sys.path(),
            &d,
            "",
            1000,
            true,
            &mut Vec::new(),
            &mut &b""[..],
        )
        .unwrap();
        let e = decide(
            sys.path(),
            &d,
            "/dev/sdb1 / ext4 rw 0 0",
            1000,
            true,
            &mut Vec::new(),
            &mut &b""[..],
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("refusing to write /dev/sdb"), "{e}");
        let m = inspect(sys.path(), Path::new("/dev/mmcblk0")).unwrap();
        let e = decide(
            sys.path(),
            &m,
            "",
            1 << 20,
            true,
            &mut Vec::new(),
            &mut &b""[..],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not fit /dev/mmcblk0"), "{e}");
    }

    #[test]
    fn the_write_is_read_back_and_a_difference_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("sd.img");
        let data: Vec<u8> = (0..(3 * CHUNK + 77) as u32)
            .map(|i| (i * 7) as u8)
            .collect();
        std::fs::write(&img, &data).unwrap();
        // A "device" larger than the image, full of 0xff: the tail stays as it was.
        let dev = dir.path().join("card");
        std::fs::write(&dev, vec![0xffu8; data.len() + 4096]).unwrap();
        let mut steps = Vec::new();
        write_and_verify(&img, &dev, &mut |what, done, _| {
            steps.push((what.to_string(), done))
        })
        .unwrap();
        let back = std::fs::read(&dev).unwrap();
        assert_eq!(&back[..data.len()], &data[..]);
        assert!(back[data.len()..].iter().all(|&b| b == 0xff));
        assert_eq!(
            steps.last().unwrap(),
            &("verify".to_string(), data.len() as u64)
        );
        let mut bad = data.clone();
        bad[2 * CHUNK + 5] ^= 1;
        let e = compare(
            &mut &data[..],
            &mut &bad[..],
            data.len() as u64,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(&format!("byte {} differs", 2 * CHUNK + 5)),
            "{e}"
        );
        let e = compare(
            &mut &data[..],
            &mut &data[..100],
            data.len() as u64,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("only 100 of"), "{e}");
        // A missing target is not created.
        let gone = dir.path().join("nope");
        assert!(write_and_verify(&img, &gone, &mut |_, _, _| {}).is_err());
        assert!(!gone.exists());
    }
}
