//! `cargo xtask new-board NAME --arch A --qemu-machine M`: writes a board crate from the
//! templates in xtask/templates/ and adds it to the workspace members.
//!
//! The scaffold knows only machines xtask has facts for ([`machine_facts`]); everything else
//! is refused with the reason. Facts it cannot know are marked `TODO(port):` in the sources
//! and listed in board.toml's `todo`, never guessed. Nothing half-written is left behind:
//! the crate is written to a temporary directory next to its place and renamed into it, and
//! the workspace manifest is replaced by a rename only after that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

/// The architecture of the new board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// AArch64 (`aarch64-unknown-none`).
    Aarch64,
    /// ARMv7-A (`armv7a-none-eabi`).
    Armv7a,
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub name: String,
    pub arch: Arch,
    pub qemu_machine: Option<String>,
    pub like: Option<String>,
}

/// Names that are directories under boards/ without being boards.
const RESERVED: &[&str] = &["common", "scenarios"];

/// A board name must make a valid crate name `dmasync-NAME` and a directory name: lower-case
/// ASCII letters, digits and single dashes, starting with a letter (the house style of
/// boards/; xtask/tests/layers.rs wants package = `dmasync-<folder>`).
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why: &str| -> Result<()> {
        bail!("invalid board name '{name}': {why} (e.g. `raspi3b`, `my-soc-evk`)")
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 40 {
        return bad("it is longer than 40 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("it must start with a lower-case ASCII letter");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return bad(&format!(
            "'{c}' is not allowed; use lower-case ASCII letters, digits and '-'"
        ));
    }
    if name.ends_with('-') || name.contains("--") {
        return bad("dashes must separate words (no trailing or doubled '-')");
    }
    if RESERVED.contains(&name) {
        return bad("boards/common and boards/scenarios are shared code, not boards");
    }
    Ok(())
}

/// The facts a template is filled from for one known machine.
#[derive(Debug, Clone)]
struct Facts {
    arch: Arch,
    summary: &'static str,
    /// Where the facts come from (for board.toml's header).
    source: &'static str,
    /// board.toml's `image` line (with its comment), or empty for the default ELF.
    image: &'static str,
    load_address: &'static str,
    ram_base: &'static str,
    qemu_binary: &'static str,
    qemu_machine: &'static str,
    qemu_args: &'static [&'static str],
    variant: &'static str,
    /// `-smp` and `-m` of `qemu_args`, for the banner.
    cpus: u32,
    ram_mib: u32,
    ram_base_hex: &'static str,
    psci_conduit: &'static str,
    psci_doc: &'static str,
    entry_el: u8,
    entry_el_why: &'static str,
    gic: &'static str,
    gic_rev_check: &'static str,
    timer_hz: u64,
    timer_why: &'static str,
    timer_intid: u32,
    memory_map: &'static str,
    console_dependency: &'static str,
    /// What a real board of this kind must still fill in (board.toml `todo`, README).
    todo: &'static [&'static str],
}

/// QEMU `virt`, aarch64: hw/arm/virt.c, hardware.md §1.2 (checked there with test programs).
const VIRT_AARCH64: Facts = Facts {
    arch: Arch::Aarch64,
    summary: "QEMU virt: aarch64 Cortex-A53, GICv2, PL011, PSCI over HVC",
    source: " from QEMU 10.0 hw/arm/virt.c (hardware.md §1.2)",
    image: "",
    load_address: "0x4020_0000",
    ram_base: "0x4000_0000",
    qemu_binary: "qemu-system-aarch64",
    qemu_machine: "virt",
    qemu_args: &["-cpu", "cortex-a53", "-smp", "2", "-m", "128M"],
    variant: "a53x2",
    cpus: 2,
    ram_mib: 128,
    ram_base_hex: "0x40000000",
    psci_conduit: "Hvc",
    psci_doc: "/// PSCI conduit: HVC. QEMU virt without `virtualization=on` has no EL2 or EL3 and answers\n\
               /// PSCI over HVC itself (hw/arm/virt.c; hardware.md §1.2).",
    entry_el: 1,
    entry_el_why: "QEMU virt without EL2/EL3 enters an ELF at EL1 (hw/arm/virt.c removes them).",
    gic: "v2",
    gic_rev_check: "rev == 2",
    timer_hz: 62_500_000,
    timer_why: "QEMU's generic timer runs at 62.5 MHz on virt with cortex-a53 (hardware.md §1.2).",
    timer_intid: 30,
    memory_map: include_str!("../templates/aarch64/memory_map_virt.rs.tpl"),
    console_dependency: "arm-pl011-uart = { workspace = true }",
    todo: &[],
};

/// QEMU `imx8mp-evk`: boards/imx8mp-evk's facts (QEMU hw/arm/fsl-imx8mp.c, hardware.md §1.3).
const IMX8MP_EVK: Facts = Facts {
    arch: Arch::Aarch64,
    summary: "NXP i.MX 8M Plus (QEMU imx8mp-evk): 4x Cortex-A53, GICv3, UART2, PSCI over SMC",
    source: " from boards/imx8mp-evk (QEMU hw/arm/fsl-imx8mp.c, hardware.md §1.3)",
    image: "# A raw binary, booted the Linux way at EL2 with QEMU's PSCI on (an ELF would start at\n\
            # EL3 with PSCI off: the secondaries could never start; hardware.md §1.3).\n\
            image = \"raw\"\n",
    load_address: "0x4008_0000",
    ram_base: "0x4000_0000",
    qemu_binary: "qemu-system-aarch64",
    qemu_machine: "imx8mp-evk",
    // The first -serial is UART1's; xtask's -serial stdio becomes UART2, the console.
    qemu_args: &["-smp", "4", "-m", "128M", "-serial", "null"],
    variant: "a53x4",
    cpus: 4,
    ram_mib: 128,
    ram_base_hex: "0x40000000",
    psci_conduit: "Smc",
    psci_doc: "/// PSCI conduit: SMC, to TF-A on the EVK and to QEMU's PSCI (hw/arm/fsl-imx8mp.c;\n\
               /// hardware.md §1.3). There is no device tree to read it from.",
    entry_el: 2,
    entry_el_why: "QEMU's Linux-style boot of a raw image enters at EL2 (hw/arm/boot.c).",
    gic: "v3",
    gic_rev_check: "rev == 3 || rev == 4",
    timer_hz: 8_000_000,
    timer_why: "The i.MX 8M Plus system counter runs at 8 MHz (QEMU fsl-imx8mp.c cntfrq).",
    timer_intid: 30,
    memory_map: include_str!("../templates/aarch64/memory_map_imx8mp-evk.rs.tpl"),
    console_dependency: "dmasync-imx-uart = { workspace = true }",
    todo: &[
        "src/memory_map.rs: the facts are the i.MX 8M Plus's; change every one your SoC differs in",
    ],
};

/// QEMU `virt` run by `qemu-system-arm` with Cortex-A15s: hw/arm/virt.c (the same
/// `base_memmap[]` as on AArch64), PSCI over HVC, the ARMv7 generic timer; hardware.md §5.2
/// boots Debian's `qemu_arm` U-Boot on the same machine shape.
const VIRT_ARMV7A: Facts = Facts {
    arch: Arch::Armv7a,
    summary: "QEMU virt: ARMv7-A Cortex-A15, GICv2, PL011, PSCI over HVC, generic timer",
    source: " from QEMU 10.0 hw/arm/virt.c (32-bit virt, cortex-a15)",
    image: "",
    load_address: "0x4020_0000",
    ram_base: "0x4000_0000",
    qemu_binary: "qemu-system-arm",
    qemu_machine: "virt",
    qemu_args: &["-cpu", "cortex-a15", "-smp", "2", "-m", "128M"],
    variant: "a15x2",
    cpus: 2,
    ram_mib: 128,
    ram_base_hex: "0x40000000",
    psci_conduit: "Hvc",
    psci_doc: "",
    entry_el: 1,
    entry_el_why: "QEMU virt without EL2/EL3 enters an ELF in SVC mode (PL1).",
    gic: "v2",
    gic_rev_check: "rev == 2",
    timer_hz: 62_500_000,
    timer_why: "QEMU's generic timer runs at 62.5 MHz for a cortex-a15 (the legacy \
                GTIMER_DEFAULT_HZ of cores before Armv8.6, target/arm/cpu.h).",
    timer_intid: 30,
    memory_map: include_str!("../templates/armv7a/memory_map_virt.rs.tpl"),
    console_dependency: "arm-pl011-uart = { workspace = true }",
    todo: &[],
};

/// The machines the scaffold has facts for: (`--qemu-machine`, board `--like` names it).
/// A machine name may appear once per architecture.
const KNOWN: &[(&str, &str, &Facts)] = &[
    ("virt", "qemu-virt", &VIRT_AARCH64),
    ("imx8mp-evk", "imx8mp-evk", &IMX8MP_EVK),
    ("virt", "qemu-virt-a15", &VIRT_ARMV7A),
];

/// The facts for the machine asked for, or why the scaffold cannot make that board.
fn machine_facts(req: &Request) -> Result<&'static Facts> {
    let known = || {
        KNOWN
            .iter()
            .map(|(m, b, f)| format!("--qemu-machine {m} / --like {b} ({})", arch_name(f.arch)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let facts = match (&req.like, req.qemu_machine.as_deref()) {
        (Some(like), machine) => {
            if like == "exynos4" {
                bail!(
                    "--like exynos4 (smdkc210, nuri): the scaffold's ARMv7-A templates are for \
                     PSCI and the generic timer (--qemu-machine virt); exynos4's bring-up \
                     differs (the A9 global timer, the MCT tick, CPU1 released through the \
                     SoC's registers); copy boards/exynos4 by hand (doc/porting.md). Known: {}",
                    known()
                );
            }
            let Some((m, _, facts)) = KNOWN.iter().find(|(_, b, _)| b == like) else {
                bail!(
                    "--like {like}: not a board the scaffold has facts for; known: {}",
                    known()
                );
            };
            if let Some(machine) = machine.filter(|given| given != m) {
                bail!("--like {like} runs on QEMU machine '{m}', not '{machine}'");
            }
            *facts
        }
        (None, Some(machine)) => match (req.arch, machine) {
            (Arch::Armv7a, "smdkc210" | "nuri") => bail!(
                "--arch armv7a --qemu-machine {machine}: the scaffold's ARMv7-A templates are \
                 for PSCI and the generic timer (--qemu-machine virt); the Exynos4210's \
                 Cortex-A9s have neither; copy boards/exynos4 by hand (doc/porting.md)"
            ),
            (arch, m) => match KNOWN
                .iter()
                .find(|(km, _, f)| *km == m && f.arch == arch)
                .or_else(|| KNOWN.iter().find(|(km, _, _)| *km == m))
            {
                // A machine of the other architecture falls through to the mismatch below.
                Some((_, _, facts)) => *facts,
                None => bail!(
                    "unknown QEMU machine '{m}' for --arch {}: xtask has facts for {}",
                    arch_name(arch),
                    known()
                ),
            },
        },
        (None, None) => bail!(
            "--qemu-machine (or --like) is needed: every board.toml has a [qemu] section \
             (xtask runs the on-target tests in QEMU); known: {}",
            known()
        ),
    };
    if facts.arch != req.arch {
        bail!(
            "--arch {}: QEMU machine '{}' is {}",
            arch_name(req.arch),
            facts.qemu_machine,
            arch_name(facts.arch)
        );
    }
    Ok(facts)
}

fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "aarch64",
        Arch::Armv7a => "armv7a",
    }
}

/// One template of a board crate: where it goes and its text.
const AARCH64_FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/aarch64/Cargo.toml.tpl"),
    ),
    (
        "board.toml",
        include_str!("../templates/aarch64/board.toml.tpl"),
    ),
    (
        "memory.ld",
        include_str!("../templates/aarch64/memory.ld.tpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/aarch64/lib.rs.tpl"),
    ),
    (
        "tests/boot.rs",
        include_str!("../templates/aarch64/boot.rs.tpl"),
    ),
    (
        "README.md",
        include_str!("../templates/aarch64/README.md.tpl"),
    ),
];

/// The ARMv7-A templates (QEMU virt with PSCI and the generic timer); memory.x comes from
/// the shared boards/common/armv7a_build.rs.
const ARMV7A_FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/armv7a/Cargo.toml.tpl"),
    ),
    (
        "board.toml",
        include_str!("../templates/armv7a/board.toml.tpl"),
    ),
    ("src/lib.rs", include_str!("../templates/armv7a/lib.rs.tpl")),
    (
        "tests/boot.rs",
        include_str!("../templates/armv7a/boot.rs.tpl"),
    ),
    (
        "README.md",
        include_str!("../templates/armv7a/README.md.tpl"),
    ),
];

/// Replaces every `{{key}}` of `template`; a placeholder without a value, or a value never
/// used, is an error (a template and its facts must agree).
pub fn fill(template: &str, values: &BTreeMap<&str, String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("unclosed placeholder at '{}'", clip(&rest[start..])))?;
        let key = &after[..end];
        let value = values
            .get(key)
            .with_context(|| format!("placeholder {{{{{key}}}}} has no value"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn clip(s: &str) -> &str {
    s.char_indices().nth(30).map_or(s, |(i, _)| &s[..i])
}

/// The values the templates are filled with.
fn values(req: &Request, facts: &Facts) -> BTreeMap<&'static str, String> {
    let name = req.name.as_str();
    let ident = format!("dmasync_{}", name.replace('-', "_"));
    let banner = match facts.arch {
        // The ARMv7-A board's banner (templates/armv7a/lib.rs.tpl `print_banner`).
        Arch::Armv7a => format!(
            "{name}: mode=SYS cpus={} ram={}+{}MiB gic={} psci={} timer={}Hz intid={}",
            facts.cpus,
            facts.ram_base_hex,
            facts.ram_mib,
            facts.gic,
            facts.psci_conduit.to_ascii_lowercase(),
            facts.timer_hz,
            facts.timer_intid
        ),
        Arch::Aarch64 => format!(
            "{name}: EL1 cpus={} ram={}+{}MiB gic={} psci={} timer={}Hz intid={} entered=EL{}",
            facts.cpus,
            facts.ram_base_hex,
            facts.ram_mib,
            facts.gic,
            facts.psci_conduit.to_ascii_lowercase(),
            facts.timer_hz,
            facts.timer_intid,
            facts.entry_el
        ),
    };
    let quoted = |items: &[&str]| {
        items
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let checklist = if facts.todo.is_empty() {
        "- Nothing the boot test needs: every fact of this machine is known (board.toml \
         `todo` is empty)."
            .to_string()
    } else {
        facts
            .todo
            .iter()
            .map(|t| format!("- [ ] {t}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut command = format!("{name} --arch {}", arch_name(req.arch));
    if let Some(m) = &req.qemu_machine {
        command.push_str(&format!(" --qemu-machine {m}"));
    }
    if let Some(b) = &req.like {
        command.push_str(&format!(" --like {b}"));
    }
    let timer_hz_lit = group_digits(facts.timer_hz);
    BTreeMap::from([
        ("name", name.to_string()),
        ("package", format!("dmasync-{name}")),
        ("ident", ident),
        ("summary", facts.summary.to_string()),
        ("facts_source", facts.source.to_string()),
        ("tier", "emulated".to_string()),
        ("target", target(facts.arch).to_string()),
        ("image_line", facts.image.to_string()),
        ("load_address", facts.load_address.to_string()),
        ("ram_base", facts.ram_base.to_string()),
        ("ram_mib", facts.ram_mib.to_string()),
        ("todo", quoted(facts.todo)),
        ("qemu_binary", facts.qemu_binary.to_string()),
        ("qemu_machine", facts.qemu_machine.to_string()),
        ("qemu_args", quoted(facts.qemu_args)),
        ("variant", facts.variant.to_string()),
        ("banner", banner),
        ("psci_conduit", facts.psci_conduit.to_string()),
        ("psci_name", facts.psci_conduit.to_ascii_lowercase()),
        ("psci_doc", facts.psci_doc.to_string()),
        ("entry_el", facts.entry_el.to_string()),
        ("entry_el_why", facts.entry_el_why.to_string()),
        ("gic", facts.gic.to_string()),
        ("gic_rev_check", facts.gic_rev_check.to_string()),
        ("timer_hz_lit", timer_hz_lit),
        ("timer_why", facts.timer_why.to_string()),
        ("console_dependency", facts.console_dependency.to_string()),
        ("checklist", checklist),
        ("command_args", command),
    ])
}

fn target(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "aarch64-unknown-none",
        Arch::Armv7a => "armv7a-none-eabi",
    }
}

/// `62500000` as `62_500_000` (clippy's unreadable_literal).
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// Every file of the new crate, path relative to boards/NAME, filled in.
fn render(req: &Request, facts: &Facts) -> Result<Vec<(PathBuf, String)>> {
    let values = values(req, facts);
    let mut files = Vec::new();
    let templates = match facts.arch {
        Arch::Aarch64 => AARCH64_FILES,
        Arch::Armv7a => ARMV7A_FILES,
    };
    for (path, template) in templates
        .iter()
        .copied()
        .chain([("src/memory_map.rs", facts.memory_map)])
    {
        let text = fill(template, &values).with_context(|| format!("template for {path}"))?;
        files.push((PathBuf::from(path), text));
    }
    Ok(files)
}

/// The workspace manifest with `boards/NAME` added to `members` (after the last board, else
/// before the closing bracket), comments and layout kept.
pub fn add_member(manifest: &str, name: &str) -> Result<String> {
    let start = manifest
        .find("\nmembers = [")
        .context("the workspace Cargo.toml has no `members = [` line")?
        + 1;
    let len = manifest[start..]
        .find("\n]")
        .context("the workspace `members` list has no closing `]` line")?;
    let list = &manifest[start..start + len];
    let entry = format!("\"boards/{name}\"");
    if list.contains(&entry) {
        bail!("the workspace members already list {entry}");
    }
    // After the last `"boards/...` line if there is one: the list goes layer by layer.
    let insert_at = list
        .match_indices("\n    \"boards/")
        .last()
        .map(|(i, _)| {
            let line_end = list[i + 1..].find('\n').map_or(list.len(), |e| i + 1 + e);
            start + line_end
        })
        .unwrap_or(start + len);
    let mut out = String::with_capacity(manifest.len() + entry.len() + 8);
    out.push_str(&manifest[..insert_at]);
    out.push_str(&format!("\n    {entry},"));
    out.push_str(&manifest[insert_at..]);
    Ok(out)
}

/// Writes boards/NAME and adds it to the workspace. Returns the new crate's directory.
pub fn create(root: &Path, req: &Request) -> Result<PathBuf> {
    validate_name(&req.name)?;
    let facts = machine_facts(req)?;
    let boards = root.join("boards");
    let dir = boards.join(&req.name);
    if dir.exists() {
        bail!("boards/{} exists already; choose another name", req.name);
    }
    let manifest_path = root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let package = format!("dmasync-{}", req.name);
    if manifest.contains(&format!("\n{package} = ")) || manifest.contains(&format!("\"{package}\""))
    {
        bail!("the workspace Cargo.toml already names a package {package}");
    }
    let new_manifest = add_member(&manifest, &req.name)?;
    let files = render(req, facts)?;

    // Everything into a temporary directory beside the target (same file system, so the
    // rename is atomic); it is removed on any error before the rename.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".new-board-{}-", req.name))
        .tempdir_in(&boards)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                boards.display()
            )
        })?;
    for (path, text) in &files {
        let full = staging.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&full, text).with_context(|| format!("cannot write {}", full.display()))?;
    }
    let manifest_tmp = root.join(format!(".Cargo.toml.new-board-{}", req.name));
    std::fs::write(&manifest_tmp, &new_manifest)
        .with_context(|| format!("cannot write {}", manifest_tmp.display()))?;

    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        let _ = std::fs::remove_file(&manifest_tmp);
        return Err(e).with_context(|| format!("cannot move the new crate to {}", dir.display()));
    }
    if let Err(e) = std::fs::rename(&manifest_tmp, &manifest_path) {
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&manifest_tmp);
        return Err(e).with_context(|| format!("cannot update {}", manifest_path.display()));
    }
    Ok(dir)
}

/// `cargo xtask new-board`: creates the board and says what to do next.
pub fn run(root: &Path, req: &Request) -> Result<()> {
    let dir = create(root, req)?;
    let shown = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
    println!("new-board: wrote {shown}/ and added it to the workspace members");
    println!(
        "  next: cargo xtask test --target-only --board {}",
        req.name
    );
    println!("  then: the checklist in {shown}/README.md (TODO(port): marks, board.toml todo)");
    Ok(())
}

/// The on-target verdict name of the scaffold check (a `cargo xtask test` FILTER matches it).
pub const SCAFFOLD_TEST: &str = "new_board";

/// The boards the scaffold check generates: (name, `--arch`, `--qemu-machine`, `--like`).
const SCAFFOLD_BOARDS: &[(&str, Arch, Option<&str>, Option<&str>)] = &[
    ("scaffold-virt", Arch::Aarch64, Some("virt"), None),
    ("scaffold-imx8mp", Arch::Aarch64, None, Some("imx8mp-evk")),
    ("scaffold-virt-a15", Arch::Armv7a, Some("virt"), None),
];

/// The scaffold check: copies the workspace's tracked files (`git ls-files`) to
/// target/new-board-check/ws, runs new-board there for every known machine
/// ([`SCAFFOLD_BOARDS`]), then builds and boots each generated board's on-target tests
/// unchanged, one verdict each. The copy builds into this workspace's target directory (its
/// .cargo/config.toml says so) and keeps the files' modification times, so only the new
/// crates (and, the first time, the path crates) build. The copy is removed when the check
/// passed and kept, its path noted, when it failed.
pub fn scaffold_check(
    root: &Path,
    sel: &crate::target_tests::Selection,
    qemus: &mut BTreeMap<String, Result<crate::provision::Qemu, String>>,
    section: &mut crate::report::Section,
) {
    let dir = root.join("target/new-board-check");
    let ws = dir.join("ws");
    println!(
        "==> new-board: {} generated in a copy of the workspace, {}",
        SCAFFOLD_BOARDS
            .iter()
            .map(|b| b.0)
            .collect::<Vec<_>>()
            .join(", "),
        ws.display()
    );
    let prepared = copy_workspace(root, &ws).and_then(|()| {
        for &(name, arch, machine, like) in SCAFFOLD_BOARDS {
            let req = Request {
                name: name.into(),
                arch,
                qemu_machine: machine.map(Into::into),
                like: like.map(Into::into),
            };
            create(&ws, &req).with_context(|| format!("new-board {name}"))?;
        }
        crate::boards::Boards::load(&ws)
    });
    let boards = match prepared {
        Ok(b) => b,
        Err(e) => return section.fail(format!("{SCAFFOLD_TEST}: {e:#}")),
    };
    // Every test the scaffold wrote, under each board's one variant.
    let all = crate::target_tests::Selection {
        filters: &[],
        variant: None,
        timeout: sel.timeout,
        verbose: sel.verbose,
    };
    let failed = section.failed;
    for &(name, _, _, _) in SCAFFOLD_BOARDS {
        match boards.get(name) {
            Ok(board) => crate::target_tests::run_board(&ws, board, &all, qemus, section),
            Err(e) => section.fail(format!("{SCAFFOLD_TEST}: {e:#}")),
        }
    }
    if section.failed == failed {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        section.note(format!(
            "{SCAFFOLD_TEST}: the generated workspace is kept in {}",
            ws.display()
        ));
    }
}

/// Copies every file `git ls-files` lists (as it is in the work tree) from `root` to `to`,
/// modification times kept, and points the copy's cargo at `root`'s target directory.
fn copy_workspace(root: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to).with_context(|| format!("cannot remove {}", to.display()))?;
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .context("cannot run git ls-files")?;
    if !out.status.success() {
        bail!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let list = String::from_utf8(out.stdout).context("git ls-files printed a non-UTF-8 path")?;
    for rel in list.split('\0').filter(|p| !p.is_empty()) {
        let src = root.join(rel);
        // Deleted in the work tree but not yet in the index: the copy is of the work tree.
        let Ok(meta) = std::fs::metadata(&src) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let dst = to.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {rel}"))?;
        let modified = meta
            .modified()
            .with_context(|| format!("no mtime for {rel}"))?;
        std::fs::File::options()
            .write(true)
            .open(&dst)
            .and_then(|f| f.set_modified(modified))
            .with_context(|| format!("cannot set the mtime of the copy of {rel}"))?;
    }
    let config = to.join(".cargo/config.toml");
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let mut table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", config.display()))?;
    let build = table
        .entry("build")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(build) = build.as_table_mut() else {
        bail!("{}: `build` is not a table", config.display());
    };
    let target_dir = root.join("target");
    build.insert(
        "target-dir".into(),
        toml::Value::String(target_dir.to_string_lossy().into_owned()),
    );
    std::fs::create_dir_all(config.parent().expect("has a parent"))?;
    std::fs::write(&config, toml::to_string(&table)?)
        .with_context(|| format!("cannot write {}", config.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, arch: Arch, machine: Option<&str>) -> Request {
        Request {
            name: name.into(),
            arch,
            qemu_machine: machine.map(Into::into),
            like: None,
        }
    }

    #[test]
    fn names_that_make_crates_are_accepted() {
        for ok in ["raspi3b", "my-soc-evk", "a", "imx8mq-2"] {
            validate_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("Raspi", "lower-case"),
            ("3b", "start with"),
            ("rasp_i", "'_' is not allowed"),
            ("ras pi", "' ' is not allowed"),
            ("raspi-", "dashes"),
            ("ras--pi", "dashes"),
            ("../evil", "start with"),
            ("a/b", "'/' is not allowed"),
            ("common", "shared code"),
            ("scenarios", "shared code"),
            ("päd", "'ä' is not allowed"),
        ] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
        assert!(validate_name(&"a".repeat(41)).is_err());
    }

    fn like(name: &str, arch: Arch, board: &str, machine: Option<&str>) -> Request {
        Request {
            like: Some(board.into()),
            ..req(name, arch, machine)
        }
    }

    fn refusal(r: &Request) -> String {
        machine_facts(r).unwrap_err().to_string()
    }

    #[test]
    fn unknown_machines_and_arches_are_refused() {
        let e = refusal(&req("x", Arch::Aarch64, Some("raspi3b")));
        assert!(e.contains("unknown QEMU machine 'raspi3b'"), "{e}");
        assert!(
            e.contains("--qemu-machine virt"),
            "lists the known ones: {e}"
        );
        let e = refusal(&req("x", Arch::Armv7a, Some("smdkc210")));
        assert!(e.contains("copy boards/exynos4 by hand"), "{e}");
        assert!(e.contains("generic timer"), "{e}");
        let e = refusal(&req("x", Arch::Aarch64, None));
        assert!(e.contains("--qemu-machine (or --like) is needed"), "{e}");
        let e = refusal(&like("x", Arch::Armv7a, "exynos4", None));
        assert!(e.contains("copy boards/exynos4 by hand"), "{e}");
        let e = refusal(&like("x", Arch::Aarch64, "qemu-virt-a15", None));
        assert!(
            e.contains("--arch aarch64: QEMU machine 'virt' is armv7a"),
            "{e}"
        );
        let e = refusal(&req("x", Arch::Armv7a, Some("raspi2b")));
        assert!(
            e.contains("unknown QEMU machine 'raspi2b' for --arch armv7a"),
            "{e}"
        );
        let e = refusal(&like("x", Arch::Aarch64, "pinephone", None));
        assert!(e.contains("--like pinephone: not a board"), "{e}");
        let e = refusal(&like("x", Arch::Aarch64, "imx8mp-evk", Some("virt")));
        assert!(
            e.contains("runs on QEMU machine 'imx8mp-evk', not 'virt'"),
            "{e}"
        );
        let e = refusal(&req("x", Arch::Armv7a, Some("imx8mp-evk")));
        assert!(e.contains("'imx8mp-evk' is aarch64"), "{e}");
    }

    #[test]
    fn known_machines_by_name_or_board() {
        let m = |r: &Request| machine_facts(r).unwrap().qemu_machine;
        assert_eq!(m(&req("x", Arch::Aarch64, Some("virt"))), "virt");
        assert_eq!(m(&like("x", Arch::Aarch64, "qemu-virt", None)), "virt");
        assert_eq!(
            m(&like("x", Arch::Aarch64, "qemu-virt", Some("virt"))),
            "virt"
        );
        assert_eq!(
            m(&req("x", Arch::Aarch64, Some("imx8mp-evk"))),
            "imx8mp-evk"
        );
        assert_eq!(
            m(&like("x", Arch::Aarch64, "imx8mp-evk", None)),
            "imx8mp-evk"
        );
        // `virt` is known for both architectures; --arch picks the facts.
        let a15 = machine_facts(&req("x", Arch::Armv7a, Some("virt"))).unwrap();
        assert_eq!(
            (a15.arch, a15.qemu_binary),
            (Arch::Armv7a, "qemu-system-arm")
        );
        let a53 = machine_facts(&req("x", Arch::Aarch64, Some("virt"))).unwrap();
        assert_eq!(a53.qemu_binary, "qemu-system-aarch64");
        let like_a15 = machine_facts(&like("x", Arch::Armv7a, "qemu-virt-a15", None)).unwrap();
        assert_eq!(like_a15.arch, Arch::Armv7a);
    }

    #[test]
    fn armv7a_virt_templates_fill_completely() {
        let r = req("my-a15", Arch::Armv7a, Some("virt"));
        let files = render(&r, &VIRT_ARMV7A).unwrap();
        assert_eq!(files.len(), ARMV7A_FILES.len() + 1);
        for (path, text) in &files {
            assert!(
                !text.contains("{{"),
                "{}: unfilled placeholder",
                path.display()
            );
            // Nothing of the AArch64 templates may leak into an ARMv7-A board.
            if path.extension().is_some_and(|e| e == "rs" || e == "toml") {
                assert!(
                    !text.contains("dmasync_aarch64") && !text.contains("dmasync-aarch64"),
                    "{}: names the AArch64 crate",
                    path.display()
                );
            }
        }
        let get = |p: &str| &files.iter().find(|(f, _)| f == Path::new(p)).unwrap().1;
        assert!(get("Cargo.toml").contains("name = \"dmasync-my-a15\""));
        assert!(get("Cargo.toml").contains("build = \"../common/armv7a_build.rs\""));
        assert!(get("tests/boot.rs").contains("use dmasync_my_a15::"));
        assert!(get("tests/boot.rs").contains("fn psci_over_hvc("));
        assert!(get("src/memory_map.rs").contains("pub const RAM_SIZE: usize = 128 << 20;"));
        let board =
            crate::boards::parse_board(Path::new("board.toml"), get("board.toml"), "my-a15")
                .unwrap();
        assert_eq!(board.target, "armv7a-none-eabi");
        assert_eq!(board.qemu.binary, "qemu-system-arm");
        assert_eq!(
            (board.load_address, board.ram_base),
            (0x4020_0000, 0x4000_0000)
        );
        assert_eq!(
            board.variants()[0].expect[0],
            "my-a15: mode=SYS cpus=2 ram=0x40000000+128MiB gic=v2 psci=hvc timer=62500000Hz \
             intid=30"
        );
        let args = board.variants()[0].args.join(" ");
        assert!(
            args.contains("-cpu cortex-a15") && args.contains("-smp 2") && args.contains("-m 128M"),
            "{args}"
        );
        assert!(
            board
                .expectation("boot")
                .expect
                .iter()
                .any(|l| l.contains("cpu 1 online")),
            "the boot test's defmt line from the PSCI-started core is required"
        );
    }

    #[test]
    fn imx8mp_like_board_keeps_its_boot_facts_and_todo() {
        let r = like("soc", Arch::Aarch64, "imx8mp-evk", None);
        let files = render(&r, &IMX8MP_EVK).unwrap();
        let get = |p: &str| &files.iter().find(|(f, _)| f == Path::new(p)).unwrap().1;
        for (path, text) in &files {
            assert!(
                !text.contains("{{"),
                "{}: unfilled placeholder",
                path.display()
            );
        }
        let board =
            crate::boards::parse_board(Path::new("board.toml"), get("board.toml"), "soc").unwrap();
        assert_eq!(board.image, crate::boards::ImageFormat::Raw);
        assert_eq!(board.load_address, 0x4008_0000);
        assert_eq!(board.todo.len(), 1);
        assert!(
            board.variants()[0].expect[0]
                .ends_with("psci=smc timer=8000000Hz intid=30 entered=EL2")
        );
        assert!(get("Cargo.toml").contains("dmasync-imx-uart"));
        assert!(get("README.md").contains("- [ ] src/memory_map.rs"));
        assert!(get("README.md").contains("--like imx8mp-evk"));
    }

    #[test]
    fn placeholders_are_filled_and_missing_values_refused() {
        let v = BTreeMap::from([("a", "1".to_string()), ("b", "two".to_string())]);
        assert_eq!(fill("x{{a}}y{{b}}{{a}}", &v).unwrap(), "x1ytwo1");
        assert_eq!(fill("no placeholders", &v).unwrap(), "no placeholders");
        let e = fill("{{c}}", &v).unwrap_err().to_string();
        assert!(e.contains("{{c}} has no value"), "{e}");
        assert!(
            fill("{{a", &v)
                .unwrap_err()
                .to_string()
                .contains("unclosed")
        );
        assert_eq!(group_digits(62_500_000), "62_500_000");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1_000");
    }

    #[test]
    fn every_template_fills_completely() {
        let r = req("my-board", Arch::Aarch64, Some("virt"));
        let files = render(&r, &VIRT_AARCH64).unwrap();
        assert_eq!(files.len(), AARCH64_FILES.len() + 1);
        for (path, text) in &files {
            assert!(
                !text.contains("{{"),
                "{}: unfilled placeholder",
                path.display()
            );
            // The sources were derived from imx8mp-evk's; nothing of that SoC may remain
            // (the README names it as the board to copy more tests from).
            if path.extension().is_some_and(|e| e == "rs" || e == "toml") {
                let lower = text.to_lowercase();
                assert!(
                    !lower.contains("imx") && !lower.contains("uart2"),
                    "{}: copied from imx8mp-evk",
                    path.display()
                );
            }
        }
        let get = |p: &str| &files.iter().find(|(f, _)| f == Path::new(p)).unwrap().1;
        assert!(get("Cargo.toml").contains("name = \"dmasync-my-board\""));
        assert!(get("tests/boot.rs").contains("use dmasync_my_board::"));
        let board =
            crate::boards::parse_board(Path::new("board.toml"), get("board.toml"), "my-board")
                .unwrap();
        assert_eq!(board.package, "dmasync-my-board");
        assert_eq!(board.qemu.machine, "virt");
        assert_eq!(
            (board.load_address, board.ram_base),
            (0x4020_0000, 0x4000_0000)
        );
        assert!(board.todo.is_empty());
        let banner = &board.variants()[0].expect[0];
        assert_eq!(
            banner,
            "my-board: EL1 cpus=2 ram=0x40000000+128MiB gic=v2 psci=hvc timer=62500000Hz \
             intid=30 entered=EL1"
        );
        // The banner's -smp and -m are the ones QEMU gets.
        let args = board.variants()[0].args.join(" ");
        assert!(
            args.contains("-smp 2") && args.contains("-m 128M"),
            "{args}"
        );
    }

    const MANIFEST: &str = "[workspace]\nresolver = \"3\"\nmembers = [\n    # c\n    \"hal\",\n    \
        \"boards/qemu-virt\",\n    \"boards/exynos4\",\n    \"xtask\",\n]\nexclude = []\n";

    #[test]
    fn members_get_the_board_after_the_last_board() {
        let m = add_member(MANIFEST, "newb").unwrap();
        assert!(
            m.contains("\"boards/exynos4\",\n    \"boards/newb\",\n    \"xtask\","),
            "{m}"
        );
        assert!(m.ends_with("]\nexclude = []\n"));
        let e = add_member(&m, "newb").unwrap_err().to_string();
        assert!(e.contains("already"), "{e}");
        let plain = "[workspace]\nmembers = [\n    \"hal\",\n]\n";
        assert_eq!(
            add_member(plain, "b").unwrap(),
            "[workspace]\nmembers = [\n    \"hal\",\n    \"boards/b\",\n]\n"
        );
        assert!(add_member("[workspace]\n", "b").is_err());
    }

    /// A scratch workspace with a manifest and boards/.
    fn scratch() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("boards")).unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), MANIFEST).unwrap();
        dir
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join("boards"))
            .unwrap()
            .chain(std::fs::read_dir(root).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn create_writes_the_crate_and_the_member() {
        let ws = scratch();
        let dir = create(ws.path(), &req("newb", Arch::Aarch64, Some("virt"))).unwrap();
        assert_eq!(dir, ws.path().join("boards/newb"));
        for f in [
            "Cargo.toml",
            "board.toml",
            "memory.ld",
            "src/lib.rs",
            "src/memory_map.rs",
            "tests/boot.rs",
            "README.md",
        ] {
            assert!(dir.join(f).is_file(), "{f} missing");
        }
        let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("\"boards/newb\","), "{manifest}");
        // No staging directory or manifest copy left.
        assert_eq!(listing(ws.path()), ["Cargo.toml", "boards", "newb"]);
        let dir = create(ws.path(), &req("newa", Arch::Armv7a, Some("virt"))).unwrap();
        for f in [
            "Cargo.toml",
            "board.toml",
            "src/lib.rs",
            "src/memory_map.rs",
            "tests/boot.rs",
            "README.md",
        ] {
            assert!(dir.join(f).is_file(), "{f} missing");
        }
        let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("\"boards/newb\",\n    \"boards/newa\","),
            "{manifest}"
        );
    }

    #[test]
    fn refusals_leave_nothing_behind() {
        let ws = scratch();
        std::fs::create_dir(ws.path().join("boards/taken")).unwrap();
        let before = listing(ws.path());
        let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap();
        for (r, why) in [
            (req("taken", Arch::Aarch64, Some("virt")), "exists already"),
            (
                req("Bad", Arch::Aarch64, Some("virt")),
                "invalid board name",
            ),
            (
                req("ok", Arch::Aarch64, Some("nope")),
                "unknown QEMU machine",
            ),
            (req("ok", Arch::Armv7a, Some("imx8mp-evk")), "armv7a"),
            (req("ok", Arch::Armv7a, Some("smdkc210")), "boards/exynos4"),
            (req("ok", Arch::Aarch64, None), "--qemu-machine"),
        ] {
            let e = format!("{:#}", create(ws.path(), &r).unwrap_err());
            assert!(e.contains(why), "{}: {e}", r.name);
            assert_eq!(listing(ws.path()), before, "{}", r.name);
            assert_eq!(
                std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap(),
                manifest
            );
        }
        // A package name the manifest already has (a crate outside boards/).
        let taken = MANIFEST.replace("\"hal\"", "\"drivers/x\", \"dmasync-dup\"");
        std::fs::write(ws.path().join("Cargo.toml"), &taken).unwrap();
        let e = create(ws.path(), &req("dup", Arch::Aarch64, Some("virt"))).unwrap_err();
        assert!(e.to_string().contains("already names a package"), "{e}");
        assert_eq!(listing(ws.path()), before);
    }
}
