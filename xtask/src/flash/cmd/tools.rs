//! The Debian packages `flash` and its tests use, provisioned like QEMU (crate::provision):
//! installed with apt-get when xtask runs as root on a Debian machine, otherwise the exact
//! command is printed. All come from bookworm itself (u-boot-qemu is not in backports).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::provision;

/// A file a package installs, and that package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub file: &'static str,
    pub package: &'static str,
    /// What it is for, in messages.
    pub purpose: &'static str,
}

pub const UBOOT_QEMU_ARM64: Tool = Tool {
    file: "/usr/lib/u-boot/qemu_arm64/u-boot.bin",
    package: "u-boot-qemu",
    purpose: "U-Boot for the QEMU rehearsal (AArch64)",
};
/// The same package's 32-bit build, for the ARMv7-A rehearsal (`qemu-system-arm -M virt`).
pub const UBOOT_QEMU_ARM: Tool = Tool {
    file: "/usr/lib/u-boot/qemu_arm/u-boot.bin",
    package: "u-boot-qemu",
    purpose: "U-Boot for the QEMU rehearsal (ARMv7-A)",
};

/// The U-Boot the rehearsal boots under `qemu_binary` (rehearsal::uboot_for's file).
pub fn uboot_qemu(qemu_binary: &str) -> Option<Tool> {
    [UBOOT_QEMU_ARM64, UBOOT_QEMU_ARM]
        .into_iter()
        .find(|t| super::rehearsal::uboot_for(qemu_binary) == Some(t.file))
}
/// `mkimage`, which the uImage writer's host test checks its output with.
pub const MKIMAGE: Tool = Tool {
    file: "/usr/bin/mkimage",
    package: "u-boot-tools",
    purpose: "mkimage, the reference reader of U-Boot images (host tests)",
};
pub const DFU_UTIL: Tool = Tool {
    file: "/usr/bin/dfu-util",
    package: "dfu-util",
    purpose: "USB DFU downloads to U-Boot's `dfu` command",
};
pub const FASTBOOT: Tool = Tool {
    file: "/usr/bin/fastboot",
    package: "fastboot",
    purpose: "U-Boot's fastboot gadget",
};
pub const UUU: Tool = Tool {
    file: "/usr/bin/uuu",
    package: "uuu",
    purpose: "NXP i.MX serial download and fastboot",
};

/// The tools host tests run to check xtask's output against (`crate::flash::required_tool`
/// in the library's tests): `cargo xtask test` provisions them before the host tests, so
/// those tests always run (issue #13).
pub const HOST_TEST_TOOLS: &[Tool] = &[MKIMAGE, DFU_UTIL, FASTBOOT, UUU];

/// `found /usr/bin/dfu-util` or `MISSING: apt-get install dfu-util`, for --dry-run.
pub fn status(t: Tool) -> String {
    if Path::new(t.file).is_file() {
        format!("found {}", t.file)
    } else {
        format!("MISSING {}: apt-get install {}", t.file, t.package)
    }
}

/// For the tools that talk to a real board: present, or an error naming the Debian package.
/// Not installed by xtask (it is a one-time choice of the person at the board).
pub fn require(t: Tool) -> Result<()> {
    if Path::new(t.file).is_file() {
        return Ok(());
    }
    bail!(
        "{} is not installed ({}; Debian package {}): sudo apt-get install {}",
        t.file,
        t.purpose,
        t.package,
        t.package
    )
}

/// The commands that install `packages`.
pub fn install_commands(sudo: &str, packages: &[&str]) -> Vec<String> {
    vec![
        format!("{sudo}apt-get update"),
        format!(
            "{sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y {}",
            packages.join(" ")
        ),
    ]
}

fn missing(tools: &[Tool]) -> Vec<Tool> {
    tools
        .iter()
        .copied()
        .filter(|t| !Path::new(t.file).is_file())
        .collect()
}

/// Makes sure every tool is there: installs the missing ones' packages when root with apt,
/// else fails naming each file, its purpose and the command to run.
pub fn ensure(tools: &[Tool]) -> Result<()> {
    let lacking = missing(tools);
    if lacking.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = lacking.iter().map(|t| t.package).collect();
    packages.sort();
    packages.dedup();
    let list = lacking
        .iter()
        .map(|t| format!("{} ({}; Debian package {})", t.file, t.purpose, t.package))
        .collect::<Vec<_>>()
        .join(", ");
    if provision::is_root() && provision::on_path("apt-get") {
        eprintln!("note: missing {list}; installing with apt-get");
        provision::run_with_progress("apt-get update", Command::new("apt-get").arg("update"))?;
        provision::run_with_progress(
            "apt-get install",
            Command::new("apt-get")
                .args(["install", "-y"])
                .args(&packages),
        )
        .with_context(|| format!("installing {} failed", packages.join(" ")))?;
        let still = missing(tools);
        if let Some(t) = still.first() {
            bail!(
                "after installing {}: {} is still missing",
                t.package,
                t.file
            );
        }
        return Ok(());
    }
    eprintln!("missing: {list}. On Debian 12 install with:");
    for cmd in install_commands("sudo ", &packages) {
        eprintln!("    {cmd}");
    }
    bail!("missing {list} (install commands above)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_commands_name_the_packages_without_backports() {
        let c = install_commands("sudo ", &["u-boot-qemu", "u-boot-tools"]);
        assert_eq!(c[0], "sudo apt-get update");
        assert!(
            c[1].ends_with("apt-get install -y u-boot-qemu u-boot-tools"),
            "{}",
            c[1]
        );
        assert!(!c[1].contains("backports"));
    }

    #[test]
    fn each_qemu_gets_its_own_u_boot_build() {
        assert_eq!(uboot_qemu("qemu-system-aarch64"), Some(UBOOT_QEMU_ARM64));
        assert_eq!(uboot_qemu("qemu-system-arm"), Some(UBOOT_QEMU_ARM));
        assert_eq!(uboot_qemu("qemu-system-riscv64"), None);
    }

    #[test]
    fn a_missing_board_tool_names_its_package() {
        let ghost = Tool {
            file: "/nonexistent/uuu",
            package: "uuu",
            purpose: "NXP i.MX serial download and fastboot",
        };
        let e = require(ghost).unwrap_err().to_string();
        assert_eq!(
            e,
            "/nonexistent/uuu is not installed (NXP i.MX serial download and fastboot; Debian \
             package uuu): sudo apt-get install uuu"
        );
        require(Tool {
            file: "/bin/sh",
            package: "dash",
            purpose: "test",
        })
        .unwrap();
    }

    #[test]
    fn the_host_tests_tools_are_debian_packages() {
        let packages: Vec<&str> = HOST_TEST_TOOLS.iter().map(|t| t.package).collect();
        assert_eq!(packages, ["u-boot-tools", "dfu-util", "fastboot", "uuu"]);
        assert!(
            HOST_TEST_TOOLS
                .iter()
                .all(|t| t.file.starts_with("/usr/bin/"))
        );
    }

    #[test]
    fn a_missing_file_is_reported_missing() {
        let ghost = Tool {
            file: "/nonexistent/tool",
            package: "ghost",
            purpose: "test",
        };
        assert_eq!(missing(&[ghost]), vec![ghost]);
        let sh = Tool {
            file: "/bin/sh",
            package: "dash",
            purpose: "test",
        };
        assert!(missing(&[sh]).is_empty());
    }
}
