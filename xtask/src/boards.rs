//! Board facts as data: `boards/<name>/board.toml`, parsed and validated.
//!
//! The schema is deliberately strict (`deny_unknown_fields`): a misspelt key is an error that
//! names the file and the field, not a silently ignored setting.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The bare-metal targets the workspace builds for (rust-toolchain.toml).
pub const KNOWN_TARGETS: &[&str] = &["aarch64-unknown-none", "armv7a-none-eabi"];

/// QEMU's default RAM size for the ARM machines we use when no `-m` is given.
const DEFAULT_RAM_BYTES: u64 = 128 << 20;

/// Where QEMU's `-kernel` puts an AArch64 raw binary (no arm64 `Image` header), from the RAM
/// base: hw/arm/boot.c `KERNEL64_LOAD_ADDR`.
pub const RAW_IMAGE_OFFSET: u64 = 0x8_0000;

/// How the image goes to QEMU's `-kernel` (board.toml `image`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// The ELF itself: QEMU loads its segments and enters every CPU at `e_entry`, at the
    /// highest EL the CPU has, without PSCI if that EL is the conduit's (hw/arm/boot.c).
    #[default]
    Elf,
    /// Its loadable bytes as a flat binary (`objcopy -O binary`): QEMU boots it the Linux
    /// way, at RAM base + 0x80000, at EL2 if the CPU has it, with its PSCI on for the
    /// secondaries and x0 = the device tree (if the machine has one).
    Raw,
}

/// Options xtask adds itself; a board's `args` must not repeat or fight them.
const RESERVED_QEMU_OPTIONS: &[(&str, &str)] = &[
    ("-kernel", "xtask passes the image itself"),
    ("-M", "use the `machine` key"),
    ("-machine", "use the `machine` key"),
    ("-nographic", "xtask uses -display none -serial stdio"),
    ("-semihosting-config", "xtask enables semihosting itself"),
    ("-semihosting", "xtask enables semihosting itself"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Emulated,
    Hardware,
}

/// One board, as written in its board.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    pub summary: String,
    pub tier: Tier,
    /// Cargo package holding the firmware and its on-target tests.
    pub package: String,
    pub target: String,
    /// The `[[bin]]` that `cargo xtask run` boots; absent while a board has on-target tests
    /// but no demo yet (`run` then says so).
    #[serde(default)]
    pub demo: Option<String>,
    /// Where the image is linked. Written only in board.toml: the board's build.rs generates
    /// memory.ld's origin and `memory_map::LOAD_ADDRESS` from it.
    pub load_address: u64,
    /// Start of RAM; build.rs generates `memory_map::RAM_BASE` from it.
    pub ram_base: u64,
    /// `"elf"` (default) or `"raw"`: what `-kernel` gets ([`ImageFormat`]).
    #[serde(default)]
    pub image: ImageFormat,
    pub qemu: QemuConfig,
    /// Per-test expectations beyond "exit code 0", keyed by test binary name.
    #[serde(default)]
    pub tests: BTreeMap<String, TestExpectation>,
    /// How firmware gets onto the real board: `[flash.<method>]` (crate::flash::config).
    #[serde(default)]
    pub flash: crate::flash::config::FlashMethods,
    /// What a port has still to fill in (`cargo xtask new-board` writes the list; the
    /// sources mark each place `TODO(port):`). xtask prints it before the board's tests.
    #[serde(default)]
    pub todo: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuConfig {
    /// `qemu-system-aarch64` or `qemu-system-arm`.
    pub binary: String,
    pub machine: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, rename = "variant")]
    pub variants: Vec<VariantConfig>,
    /// The `-icount` options of `cargo xtask bench` on this board (default
    /// [`crate::bench::ICOUNT`]); must keep `shift=0`, which the PMU's INST_RETIRED needs.
    #[serde(default)]
    pub bench_icount: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    pub name: String,
    /// Replaces `qemu.machine` when given.
    pub machine: Option<String>,
    /// Replaces `qemu.args` when given.
    pub args: Option<Vec<String>>,
    /// Lines every test must print under this variant.
    #[serde(default)]
    pub expect: Vec<String>,
    /// The on-target tests this variant runs (test binary names); absent: all of them. For a
    /// variant that proves one boot path, not the whole suite again.
    pub tests: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestExpectation {
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub expect: Vec<String>,
    /// What happens to the screendumps the test asks for: `"save"` (default) or
    /// `"compare-reference"` (each must equal the reference renderer's frame) or
    /// `"compare-fimd-blend"` (each must equal the FIMD scene as QEMU composes it).
    #[serde(default)]
    pub screendump: ScreendumpCheck,
    /// Seconds this test may run before it counts as hung, when that is more than
    /// `--timeout` (a test whose work grows with the host's load, e.g. exynos4's `dma`,
    /// which moves 1 MiB at every alignment through QEMU's PL330 model).
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// board.toml's spelling of [`crate::screendump::Check`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScreendumpCheck {
    #[default]
    Save,
    CompareReference,
    CompareFimdBlend,
}

impl From<ScreendumpCheck> for crate::screendump::Check {
    fn from(c: ScreendumpCheck) -> Self {
        match c {
            ScreendumpCheck::Save => crate::screendump::Check::Save,
            ScreendumpCheck::CompareReference => crate::screendump::Check::CompareReference,
            ScreendumpCheck::CompareFimdBlend => crate::screendump::Check::CompareFimdBlend,
        }
    }
}

/// A variant with the board defaults filled in: what one QEMU run of a test uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub machine: String,
    pub args: Vec<String>,
    pub expect: Vec<String>,
    /// `None`: every test; else only these test binaries.
    pub tests: Option<Vec<String>>,
}

impl Variant {
    /// Whether test binary `test` runs under this variant.
    pub fn runs(&self, test: &str) -> bool {
        self.tests
            .as_ref()
            .is_none_or(|t| t.iter().any(|n| n == test))
    }
}

impl Board {
    /// Every variant, resolved. A board without `[[qemu.variant]]` has one, named "default".
    pub fn variants(&self) -> Vec<Variant> {
        if self.qemu.variants.is_empty() {
            return vec![Variant {
                name: "default".into(),
                machine: self.qemu.machine.clone(),
                args: self.qemu.args.clone(),
                expect: Vec::new(),
                tests: None,
            }];
        }
        self.qemu
            .variants
            .iter()
            .map(|v| Variant {
                name: v.name.clone(),
                machine: v
                    .machine
                    .clone()
                    .unwrap_or_else(|| self.qemu.machine.clone()),
                args: v.args.clone().unwrap_or_else(|| self.qemu.args.clone()),
                expect: v.expect.clone(),
                tests: v.tests.clone(),
            })
            .collect()
    }

    /// What a test must do to pass: its own entry, or "exit 0, print nothing in particular".
    pub fn expectation(&self, test: &str) -> TestExpectation {
        self.tests.get(test).cloned().unwrap_or_default()
    }

    /// RAM as `[start, end)` for a QEMU argument list (its `-m`, else QEMU's 128 MiB).
    pub fn ram_range(&self, args: &[String]) -> Result<RamRange> {
        let size = ram_size_from_args(args)?.unwrap_or(DEFAULT_RAM_BYTES);
        Ok(RamRange {
            start: self.ram_base,
            end: self.ram_base.saturating_add(size),
        })
    }

    fn validate(&self, dir_name: &str) -> Result<()> {
        if self.name != dir_name {
            bail!(
                "field `name`: '{}' must match its directory 'boards/{dir_name}'",
                self.name
            );
        }
        if !KNOWN_TARGETS.contains(&self.target.as_str()) {
            bail!(
                "field `target`: '{}' is not one of {}",
                self.target,
                KNOWN_TARGETS.join(", ")
            );
        }
        for (field, value) in [
            ("package", &self.package),
            ("qemu.binary", &self.qemu.binary),
            ("qemu.machine", &self.qemu.machine),
        ] {
            if value.trim().is_empty() {
                bail!("field `{field}` is empty");
            }
        }
        if self.demo.as_deref().is_some_and(|d| d.trim().is_empty()) {
            bail!("field `demo` is empty (leave it out if the board has no demo yet)");
        }
        check_args("qemu.args", &self.qemu.args)?;
        for (name, t) in &self.tests {
            if let Some(secs) = t.timeout
                && !(secs.is_finite() && secs > 0.0 && secs <= 3600.0)
            {
                bail!(
                    "field `tests.{name}.timeout`: {secs} is not a number of seconds in (0, 3600]"
                );
            }
        }
        let mut seen = BTreeSet::new();
        for (i, v) in self.qemu.variants.iter().enumerate() {
            if v.name.trim().is_empty() {
                bail!("field `qemu.variant[{i}].name` is empty");
            }
            if !seen.insert(v.name.as_str()) {
                bail!("field `qemu.variant[{i}].name`: '{}' is used twice", v.name);
            }
            if let Some(args) = &v.args {
                check_args(&format!("qemu.variant[{i}].args"), args)?;
            }
            if v.tests.as_ref().is_some_and(|t| t.is_empty()) {
                bail!("field `qemu.variant[{i}].tests` is empty (leave it out to run every test)");
            }
        }
        if self.image == ImageFormat::Raw {
            let at = self.ram_base.saturating_add(RAW_IMAGE_OFFSET);
            if self.load_address != at {
                bail!(
                    "field `load_address`: {:#x}, but image = \"raw\" is loaded by QEMU at \
                     ram_base + {RAW_IMAGE_OFFSET:#x} = {at:#x} (hw/arm/boot.c \
                     KERNEL64_LOAD_ADDR); link it there",
                    self.load_address
                );
            }
            if self.target != "aarch64-unknown-none" {
                bail!(
                    "field `image`: \"raw\" is QEMU's AArch64 Linux-style boot; target '{}' \
                     is not aarch64",
                    self.target
                );
            }
        }
        for (test, exp) in &self.tests {
            if !(0..=255).contains(&exp.exit_code) {
                bail!(
                    "field `tests.{test}.exit_code`: {} is not a process exit code (0..=255)",
                    exp.exit_code
                );
            }
        }
        let ram = self.ram_range(&self.qemu.args)?;
        if !ram.contains(self.load_address) {
            bail!(
                "field `load_address`: {:#x} is outside RAM {ram} (ram_base and qemu.args -m)",
                self.load_address
            );
        }
        self.flash.validate(ram, self.load_address)?;
        // A variant's own -m must hold the image too, not only the default one's.
        for (i, v) in self.qemu.variants.iter().enumerate() {
            let Some(args) = &v.args else { continue };
            let field = format!("qemu.variant[{i}].args");
            let ram = self
                .ram_range(args)
                .with_context(|| format!("field `{field}`"))?;
            if !ram.contains(self.load_address) {
                bail!(
                    "field `{field}`: load_address {:#x} is outside this variant's RAM {ram}",
                    self.load_address
                );
            }
        }
        Ok(())
    }
}

fn check_args(field: &str, args: &[String]) -> Result<()> {
    for arg in args {
        if let Some((_, why)) = RESERVED_QEMU_OPTIONS.iter().find(|(opt, _)| arg == opt) {
            bail!("field `{field}`: '{arg}' is not allowed here ({why})");
        }
    }
    ram_size_from_args(args).with_context(|| format!("field `{field}`"))?;
    Ok(())
}

/// RAM as a half-open address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamRange {
    pub start: u64,
    pub end: u64,
}

impl RamRange {
    pub fn contains(&self, addr: u64) -> bool {
        (self.start..self.end).contains(&addr)
    }
}

impl fmt::Display for RamRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#x}..{:#x} ({} MiB)",
            self.start,
            self.end,
            (self.end - self.start) >> 20
        )
    }
}

/// The size given by the last `-m` option, as QEMU reads it: `-m [size=]N[KMGT][,...]`,
/// where a bare number means MiB.
pub fn ram_size_from_args(args: &[String]) -> Result<Option<u64>> {
    let mut size = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "-m" {
            let Some(value) = it.next() else {
                bail!("`-m` has no value");
            };
            size = Some(parse_qemu_mem_size(value)?);
        }
    }
    Ok(size)
}

fn parse_qemu_mem_size(value: &str) -> Result<u64> {
    let first = value.split(',').next().unwrap_or_default();
    let text = first.strip_prefix("size=").unwrap_or(first);
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .with_context(|| format!("`-m {value}`: expected a size like 128M or 1G"))?;
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "M" => 20,
        "B" => 0,
        "K" => 10,
        "G" => 30,
        "T" => 40,
        _ => bail!("`-m {value}`: unknown size suffix '{suffix}'"),
    };
    number
        .checked_mul(1 << shift)
        .with_context(|| format!("`-m {value}`: size overflows"))
}

/// Parses one board.toml. Errors name the file and the offending field.
pub fn parse_board(path: &Path, text: &str, dir_name: &str) -> Result<Board> {
    let board: Board = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let line_no = text.get(..span.start).unwrap_or(text).matches('\n').count() + 1;
                let line = text.lines().nth(line_no - 1).unwrap_or_default().trim();
                format!(" line {line_no} (`{line}`)")
            })
            .unwrap_or_default();
        anyhow::anyhow!(
            "invalid board file {}{at}: {}",
            path.display(),
            e.message().trim()
        )
    })?;
    board
        .validate(dir_name)
        .with_context(|| format!("invalid board file {}", path.display()))?;
    Ok(board)
}

/// All boards of the workspace, sorted by name.
#[derive(Debug)]
pub struct Boards {
    pub all: Vec<Board>,
}

impl Boards {
    pub fn load(root: &Path) -> Result<Self> {
        let dir = root.join("boards");
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list boards in {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let file = entry.path().join("board.toml");
            if file.is_file() {
                files.push((entry.file_name().to_string_lossy().into_owned(), file));
            }
        }
        files.sort();
        let mut all = Vec::new();
        for (dir_name, file) in files {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let shown = file.strip_prefix(root).unwrap_or(&file);
            all.push(parse_board(shown, &text, &dir_name)?);
        }
        if all.is_empty() {
            bail!("no boards/*/board.toml found under {}", root.display());
        }
        Ok(Boards { all })
    }

    pub fn get(&self, name: &str) -> Result<&Board> {
        self.all.iter().find(|b| b.name == name).with_context(|| {
            format!(
                "unknown board '{name}'; boards: {}",
                self.all
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed copy of the schema's first user, so these tests do not move when the board's
    /// real expectations change (that file is checked by `every_workspace_board_parses`).
    const VIRT: &str = r#"
name = "qemu-virt"
summary = "QEMU virt: aarch64 Cortex-A53/A72, GICv2/v3, PL011, PSCI over HVC"
tier = "emulated"
package = "dmasync-qemu-virt"
target = "aarch64-unknown-none"
demo = "demo"
load_address = 0x4020_0000
ram_base = 0x4000_0000

[qemu]
binary = "qemu-system-aarch64"
machine = "virt"
args = ["-cpu", "cortex-a53", "-smp", "2", "-m", "128M"]

[[qemu.variant]]
name = "a53x2-gicv2"
[[qemu.variant]]
name = "a72x4-512M"
args = ["-cpu", "cortex-a72", "-smp", "4", "-m", "512M"]
expect = ["cpus=4"]
[[qemu.variant]]
name = "a53x2-gicv3"
machine = "virt,gic-version=3"

[tests.data_abort]
exit_code = 3
expect = ["EXCEPTION", "EC=0x25", "FAR=0x"]
"#;

    fn parse(text: &str) -> Result<Board> {
        parse_board(Path::new("boards/qemu-virt/board.toml"), text, "qemu-virt")
    }

    fn err(text: &str) -> String {
        format!(
            "{:#}",
            parse(text).expect_err("board.toml should be rejected")
        )
    }

    #[test]
    fn the_real_qemu_virt_board_parses() {
        let board = parse(VIRT).expect("qemu-virt board.toml");
        assert_eq!(board.package, "dmasync-qemu-virt");
        assert_eq!(board.tier, Tier::Emulated);
        let variants = board.variants();
        assert_eq!(variants.len(), 3);
        // Variant 1 inherits everything, variant 2 replaces args, variant 3 the machine.
        assert_eq!(variants[0].machine, "virt");
        assert_eq!(variants[0].args, board.qemu.args);
        assert!(variants[1].args.contains(&"cortex-a72".to_string()));
        assert_eq!(variants[1].expect, vec!["cpus=4"]);
        assert!(variants[0].expect.is_empty());
        assert_eq!(variants[2].machine, "virt,gic-version=3");
        assert_eq!(variants[2].args, board.qemu.args);
        let abort = board.expectation("data_abort");
        assert_eq!(abort.exit_code, 3);
        assert!(abort.expect.contains(&"EC=0x25".to_string()));
        assert_eq!(board.expectation("boot").exit_code, 0);
        assert_eq!(
            board.ram_range(&variants[1].args).unwrap().end,
            0x4000_0000 + (512 << 20)
        );
    }

    #[test]
    fn every_workspace_board_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let boards = Boards::load(root).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(boards.get("qemu-virt").is_ok());
    }

    /// Each on-target test's expectations are written once, in board.toml; an entry for a
    /// test the board's package does not declare would be checked against nothing.
    #[test]
    fn test_expectations_name_real_tests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let boards = Boards::load(root).unwrap_or_else(|e| panic!("{e:#}"));
        for board in &boards.all {
            let dir = root.join("boards").join(&board.name);
            let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let manifest: toml::Table = text.parse().unwrap();
            let declared: BTreeSet<&str> = manifest
                .get("test")
                .and_then(|t| t.as_array())
                .into_iter()
                .flatten()
                .filter_map(|t| t.get("name")?.as_str())
                .collect();
            for test in board.tests.keys() {
                // A [[test]] entry, or a tests/<name>.rs cargo finds by itself.
                let auto = dir.join("tests").join(format!("{test}.rs")).is_file();
                assert!(
                    declared.contains(test.as_str()) || auto,
                    "boards/{}/board.toml has [tests.{test}] but its package has no test of \
                     that name (declared: {declared:?})",
                    board.name
                );
            }
            // A variant's `tests` list names real tests too, or the variant runs nothing.
            for v in &board.qemu.variants {
                for test in v.tests.iter().flatten() {
                    let auto = dir.join("tests").join(format!("{test}.rs")).is_file();
                    assert!(
                        declared.contains(test.as_str()) || auto,
                        "boards/{}/board.toml variant '{}' lists test '{test}', which its \
                         package does not have (declared: {declared:?})",
                        board.name,
                        v.name
                    );
                }
            }
        }
    }

    #[test]
    fn missing_field_is_named() {
        let text = VIRT.replace("target = \"aarch64-unknown-none\"", "");
        let e = err(&text);
        assert!(e.contains("boards/qemu-virt/board.toml"), "{e}");
        assert!(e.contains("missing field `target`"), "{e}");
    }

    #[test]
    fn misspelt_field_is_named_with_its_line() {
        let text = VIRT.replace("load_address =", "load_adress =");
        let e = err(&text);
        assert!(e.contains("unknown field `load_adress`"), "{e}");
        assert!(e.contains("line "), "{e}");
    }

    #[test]
    fn wrong_type_shows_the_line() {
        let text = VIRT.replace("ram_base = 0x4000_0000", "ram_base = \"low\"");
        let e = err(&text);
        assert!(e.contains("ram_base = \"low\""), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let e = err(&VIRT.replace("target = \"aarch64-unknown-none\"", "target = \"x86\""));
        assert!(e.contains("field `target`"), "{e}");
        let e = err(&VIRT.replace("name = \"a72x4-512M\"", "name = \"a53x2-gicv2\""));
        assert!(
            e.contains("qemu.variant[1].name") && e.contains("twice"),
            "{e}"
        );
        let e = err(&VIRT.replace("exit_code = 3", "exit_code = 300"));
        assert!(e.contains("tests.data_abort.exit_code"), "{e}");
        for bad in ["-1.0", "0.0", "nan", "7200.0"] {
            let e = err(&VIRT.replace("exit_code = 3", &format!("exit_code = 3\ntimeout = {bad}")));
            assert!(e.contains("tests.data_abort.timeout"), "{bad}: {e}");
        }
        let ok = parse(&VIRT.replace("exit_code = 3", "exit_code = 3\ntimeout = 90")).unwrap();
        assert_eq!(ok.expectation("data_abort").timeout, Some(90.0));
        let e = err(&VIRT.replace("load_address = 0x4020_0000", "load_address = 0x1000"));
        assert!(e.contains("field `load_address`"), "{e}");
        let e = err(&VIRT.replace("\"-m\", \"128M\"]", "\"-m\", \"lots\"]"));
        assert!(
            e.contains("field `qemu.args`") && e.contains("-m lots"),
            "{e}"
        );
        let e = err(&VIRT.replace("\"-smp\", \"2\",", "\"-kernel\", \"x\","));
        assert!(e.contains("'-kernel' is not allowed"), "{e}");
        let e = parse_board(Path::new("b.toml"), VIRT, "other").unwrap_err();
        assert!(format!("{e:#}").contains("field `name`"));
    }

    #[test]
    fn screendump_key_is_checked() {
        assert_eq!(
            parse(VIRT).unwrap().expectation("data_abort").screendump,
            ScreendumpCheck::Save
        );
        let text = format!("{VIRT}\n[tests.screenshot]\nscreendump = \"compare-reference\"\n");
        let board = parse(&text).unwrap();
        assert_eq!(
            board.expectation("screenshot").screendump,
            ScreendumpCheck::CompareReference
        );
        let bad = format!("{VIRT}\n[tests.screenshot]\nscreendump = \"compare\"\n");
        let e = err(&bad);
        assert!(e.contains("unknown variant `compare`"), "{e}");
        assert!(e.contains("compare-reference"), "{e}");
        assert!(e.contains("screendump = \"compare\""), "{e}");
        let bad = format!("{VIRT}\n[tests.screenshot]\nscreendumps = \"save\"\n");
        assert!(err(&bad).contains("unknown field `screendumps`"));
    }

    #[test]
    fn qemu_memory_sizes() {
        let m = |v: &str| ram_size_from_args(&["-m".to_string(), v.to_string()]).unwrap();
        assert_eq!(m("128M"), Some(128 << 20));
        assert_eq!(m("512"), Some(512 << 20));
        assert_eq!(m("1G"), Some(1 << 30));
        assert_eq!(m("1g"), Some(1 << 30));
        assert_eq!(m("size=2G,slots=2,maxmem=4G"), Some(2 << 30));
        assert_eq!(ram_size_from_args(&[]).unwrap(), None);
        let last_wins = ["-m", "128M", "-m", "256M"].map(String::from);
        assert_eq!(ram_size_from_args(&last_wins).unwrap(), Some(256 << 20));
        assert!(ram_size_from_args(&["-m".to_string()]).is_err());
        assert!(ram_size_from_args(&["-m".to_string(), "12Q".to_string()]).is_err());
    }

    #[test]
    fn a_variant_whose_ram_cannot_hold_the_image_is_rejected() {
        // load_address is 2 MiB above ram_base: a 1 MiB variant ends below it.
        let small = VIRT.replace("\"-m\", \"512M\"]", "\"-m\", \"1M\"]");
        assert_ne!(small, VIRT);
        let e = err(&small);
        assert!(
            e.contains("field `qemu.variant[1].args`: load_address 0x40200000 is outside"),
            "{e}"
        );
        let bad = VIRT.replace("\"-m\", \"512M\"]", "\"-m\", \"5Q\"]");
        let e = err(&bad);
        assert!(
            e.contains("field `qemu.variant[1].args`") && e.contains("`-m 5Q`"),
            "{e}"
        );
    }

    #[test]
    fn image_key_defaults_to_elf_and_raw_must_sit_where_qemu_loads_it() {
        assert_eq!(parse(VIRT).unwrap().image, ImageFormat::Elf);
        let raw = VIRT.replace(
            "load_address = 0x4020_0000",
            "load_address = 0x4008_0000\nimage = \"raw\"",
        );
        assert_eq!(parse(&raw).unwrap().image, ImageFormat::Raw);
        let e = err(&VIRT.replace(
            "load_address = 0x4020_0000",
            "load_address = 0x4020_0000\nimage = \"raw\"",
        ));
        assert!(
            e.contains("field `load_address`: 0x40200000") && e.contains("= 0x40080000"),
            "{e}"
        );
        let e = err(&raw.replace("aarch64-unknown-none", "armv7a-none-eabi"));
        assert!(e.contains("field `image`"), "{e}");
        let e = err(&VIRT.replace(
            "load_address = 0x4020_0000",
            "load_address = 0x4020_0000\nimage = \"uimage\"",
        ));
        assert!(e.contains("unknown variant `uimage`"), "{e}");
    }

    #[test]
    fn a_variant_may_run_only_some_tests() {
        let text = VIRT.replace(
            "machine = \"virt,gic-version=3\"",
            "machine = \"virt,gic-version=3\"\ntests = [\"boot\", \"smp\"]",
        );
        let variants = parse(&text).unwrap().variants();
        assert!(variants[0].runs("data_abort") && variants[0].runs("boot"));
        assert!(variants[2].runs("boot") && variants[2].runs("smp"));
        // Whole names only: "boot" does not select "boot_twice".
        assert!(!variants[2].runs("data_abort") && !variants[2].runs("boot_twice"));
        let e = err(&text.replace("[\"boot\", \"smp\"]", "[]"));
        assert!(e.contains("field `qemu.variant[2].tests` is empty"), "{e}");
    }

    #[test]
    fn unknown_board_lists_the_known_ones() {
        let boards = Boards {
            all: vec![parse(VIRT).unwrap()],
        };
        let e = format!("{:#}", boards.get("x").unwrap_err());
        assert_eq!(e, "unknown board 'x'; boards: qemu-virt");
    }
}
