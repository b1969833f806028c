//! Making sure the Rust toolchains are complete: the pinned one with every target and
//! component rust-toolchain.toml lists, and nightly with Miri for the Miri step.
//!
//! rustup installs the targets and components of rust-toolchain.toml only when it installs
//! the toolchain itself; a machine that already has the pinned channel (a CI image, another
//! checkout) lacks the bare-metal targets. xtask is a host crate, so it builds without them
//! and adds what is missing before it builds firmware.

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cargo;

pub const FILE: &str = "rust-toolchain.toml";

/// A toolchain and what it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub channel: String,
    pub profile: Option<String>,
    pub targets: Vec<String>,
    pub components: Vec<String>,
    /// Who asks for it, for messages: `rust-toolchain.toml`, `the Miri step`.
    pub why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolchainFile {
    toolchain: ToolchainTable,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolchainTable {
    channel: Option<String>,
    path: Option<String>,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    components: Vec<String>,
    profile: Option<String>,
}

/// Parses the text of a rust-toolchain.toml (`[toolchain]` with `channel`, optional
/// `targets`, `components`, `profile`).
pub fn parse(text: &str) -> Result<Wanted> {
    let file: ToolchainFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = file.toolchain;
    if let Some(path) = t.path {
        bail!(
            "[toolchain] path = \"{path}\" names a custom toolchain, which xtask cannot \
             install; use `channel`"
        );
    }
    let channel = match t.channel {
        Some(c) if !c.trim().is_empty() => c.trim().to_string(),
        Some(_) => bail!("[toolchain] channel is empty"),
        None => bail!("[toolchain] has no `channel` (e.g. channel = \"1.95.0\")"),
    };
    for (field, list) in [("targets", &t.targets), ("components", &t.components)] {
        if let Some(bad) = list
            .iter()
            .find(|s| s.trim().is_empty() || s.contains(char::is_whitespace))
        {
            bail!("[toolchain] {field} has an invalid entry {bad:?}");
        }
    }
    Ok(Wanted {
        channel,
        profile: t.profile,
        targets: t.targets,
        components: t.components,
        why: FILE.to_string(),
    })
}

/// The checkout's rust-toolchain.toml.
pub fn read(root: &Path) -> Result<Wanted> {
    let path = root.join(FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("{} is not a usable toolchain file", path.display()))
}

/// What Miri needs: nightly with the `miri` and `rust-src` components.
pub fn miri_nightly() -> Wanted {
    Wanted {
        channel: "nightly".into(),
        profile: Some("minimal".into()),
        targets: Vec::new(),
        components: vec!["miri".into(), "rust-src".into()],
        why: "the Miri step".into(),
    }
}

/// What rustup lists as installed for one toolchain.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Installed {
    /// `rustup target list --installed --toolchain <channel>`: target triples.
    pub targets: Vec<String>,
    /// `rustup component list --installed --toolchain <channel>`: names, host-specific ones
    /// with `-<host>` appended (`clippy-x86_64-unknown-linux-gnu`, `rust-src`).
    pub components: Vec<String>,
}

/// One rustup command that adds what is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    Toolchain {
        channel: String,
        profile: Option<String>,
        components: Vec<String>,
        targets: Vec<String>,
    },
    Targets {
        channel: String,
        targets: Vec<String>,
    },
    Components {
        channel: String,
        components: Vec<String>,
    },
}

impl Install {
    /// The rustup arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        match self {
            Install::Toolchain {
                channel,
                profile,
                components,
                targets,
            } => {
                a.extend(["toolchain", "install", channel.as_str()].map(String::from));
                if !components.is_empty() {
                    a.push("--component".into());
                    a.push(components.join(","));
                }
                if !targets.is_empty() {
                    a.push("--target".into());
                    a.push(targets.join(","));
                }
                if let Some(p) = profile {
                    a.push("--profile".into());
                    a.push(p.clone());
                }
            }
            Install::Targets { channel, targets } => {
                a.extend(["target", "add", "--toolchain", channel.as_str()].map(String::from));
                a.extend(targets.iter().cloned());
            }
            Install::Components {
                channel,
                components,
            } => {
                a.extend(["component", "add", "--toolchain", channel.as_str()].map(String::from));
                a.extend(components.iter().cloned());
            }
        }
        a
    }

    /// `rustup target add --toolchain 1.95.0 aarch64-unknown-none`, as typed.
    pub fn command_line(&self) -> String {
        format!("rustup {}", self.args().join(" "))
    }

    /// What is missing, in words.
    pub fn what(&self) -> String {
        match self {
            Install::Toolchain { channel, .. } => format!("toolchain {channel} is not installed"),
            Install::Targets { channel, targets } => {
                format!("toolchain {channel} lacks target(s) {}", targets.join(", "))
            }
            Install::Components {
                channel,
                components,
            } => format!(
                "toolchain {channel} lacks component(s) {}",
                components.join(", ")
            ),
        }
    }
}

/// Whether rustup's installed-component list has `component` (plain, or with the host
/// triple appended as rustup lists host-specific components).
fn has_component(installed: &[String], component: &str, host: &str) -> bool {
    let with_host = format!("{component}-{host}");
    installed.iter().any(|c| *c == component || *c == with_host)
}

/// The installs that make `installed` (None: the toolchain itself is missing) what `want`
/// asks for; empty when nothing is missing.
pub fn plan(want: &Wanted, installed: Option<&Installed>, host: &str) -> Vec<Install> {
    let Some(have) = installed else {
        return vec![Install::Toolchain {
            channel: want.channel.clone(),
            profile: want.profile.clone(),
            components: want.components.clone(),
            targets: want.targets.clone(),
        }];
    };
    let mut steps = Vec::new();
    let targets: Vec<String> = want
        .targets
        .iter()
        .filter(|t| !have.targets.contains(t))
        .cloned()
        .collect();
    if !targets.is_empty() {
        steps.push(Install::Targets {
            channel: want.channel.clone(),
            targets,
        });
    }
    let components: Vec<String> = want
        .components
        .iter()
        .filter(|c| !has_component(&have.components, c, host))
        .cloned()
        .collect();
    if !components.is_empty() {
        steps.push(Install::Components {
            channel: want.channel.clone(),
            components,
        });
    }
    steps
}

/// Whether `rustup toolchain list` names `channel` (as `<channel>-<host>` or `<channel>`);
/// `nightly` is not `nightly-2025-01-01-<host>`.
fn toolchain_listed(list: &str, channel: &str, host: &str) -> bool {
    let with_host = format!("{channel}-{host}");
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|name| name == channel || name == with_host)
}

/// `Default host: x86_64-unknown-linux-gnu` in `rustup show`.
fn host_from_show(show: &str) -> Option<String> {
    show.lines()
        .find_map(|l| l.trim().strip_prefix("Default host:"))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The message when rustup is not there: what to install, with the exact commands.
pub fn no_rustup_message(want: &Wanted) -> String {
    let install = plan(want, None, "");
    let mut msg = format!(
        "rustup is not on PATH; dmasync needs it to provide toolchain {} ({}). \
         Install rustup and the toolchain with:\n    \
         curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none\n    \
         . \"$HOME/.cargo/env\"",
        want.channel, want.why
    );
    for step in install {
        msg.push_str("\n    ");
        msg.push_str(&step.command_line());
    }
    msg.push_str("\nthen run the command again.");
    msg
}

fn rustup() -> Command {
    let mut cmd = Command::new("rustup");
    // Set by the rustup proxy that started xtask; every call here names its toolchain.
    cmd.env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// Stdout of `rustup <args>`; None when rustup is not on PATH.
fn query(args: &[&str]) -> Result<Option<String>> {
    let out = match rustup().args(args).stdin(Stdio::null()).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot run rustup {}", args.join(" "))),
    };
    if !out.status.success() {
        bail!(
            "`rustup {}` failed with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Installs whatever `want` lacks, one line printed per install.
pub fn ensure(want: &Wanted) -> Result<()> {
    let Some(show) = query(&["show"])? else {
        bail!("{}", no_rustup_message(want));
    };
    let host = host_from_show(&show).context("`rustup show` names no `Default host:`")?;
    let list = query(&["toolchain", "list"])?.unwrap_or_default();
    let installed = if toolchain_listed(&list, &want.channel, &host) {
        let ch = want.channel.as_str();
        let targets = query(&["target", "list", "--installed", "--toolchain", ch])?;
        let components = query(&["component", "list", "--installed", "--toolchain", ch])?;
        Some(Installed {
            targets: lines(&targets.unwrap_or_default()),
            components: lines(&components.unwrap_or_default()),
        })
    } else {
        None
    };
    for step in plan(want, installed.as_ref(), &host) {
        println!(
            "install: {} ({}): $ {}",
            step.what(),
            want.why,
            step.command_line()
        );
        let status = rustup()
            .args(step.args())
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", step.command_line()))?;
        if !status.success() {
            bail!("`{}` failed with {status}", step.command_line());
        }
    }
    Ok(())
}

/// The pinned toolchain of the checkout, complete; before anything builds firmware.
pub fn ensure_pinned(root: &Path) -> Result<()> {
    ensure(&read(root)?)
}

/// Nightly with Miri and its sysroot (`cargo +nightly miri setup`).
pub fn ensure_miri(root: &Path) -> Result<()> {
    ensure(&miri_nightly())?;
    let mut setup = cargo::cargo(root);
    setup.args(["+nightly", "miri", "setup"]);
    if !cargo::run_plain(setup)? {
        bail!("`cargo +nightly miri setup` failed (Miri's sysroot could not be built)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "x86_64-unknown-linux-gnu";

    fn pinned() -> Wanted {
        parse(
            "[toolchain]\nchannel = \"1.95.0\"\n\
             targets = [\"aarch64-unknown-none\", \"armv7a-none-eabi\"]\n\
             components = [\"rustfmt\", \"clippy\"]\nprofile = \"minimal\"\n",
        )
        .unwrap()
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_the_checkouts_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let w = read(root).unwrap();
        assert!(!w.channel.is_empty());
        assert!(w.targets.contains(&"aarch64-unknown-none".to_string()));
        assert_eq!(w.why, FILE);
    }

    #[test]
    fn parses_fields() {
        let w = pinned();
        assert_eq!(w.channel, "1.95.0");
        assert_eq!(
            w.targets,
            strings(&["aarch64-unknown-none", "armv7a-none-eabi"])
        );
        assert_eq!(w.components, strings(&["rustfmt", "clippy"]));
        assert_eq!(w.profile.as_deref(), Some("minimal"));
        let bare = parse("[toolchain]\nchannel = \"stable\"\n").unwrap();
        assert!(bare.targets.is_empty() && bare.components.is_empty() && bare.profile.is_none());
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let err = |t: &str| format!("{:#}", parse(t).unwrap_err());
        assert!(err("").contains("toolchain"), "{}", err(""));
        assert!(err("[toolchain]\ntargets = []\n").contains("no `channel`"));
        assert!(err("[toolchain]\nchannel = \" \"\n").contains("empty"));
        let unknown = err("[toolchain]\nchannel = \"1.95.0\"\ntarget = [\"x\"]\n");
        assert!(
            unknown.contains("target") && unknown.contains("line 3"),
            "{unknown}"
        );
        let typed = err("[toolchain]\nchannel = \"1.95.0\"\ntargets = \"aarch64-unknown-none\"\n");
        assert!(typed.contains("line 3"), "{typed}");
        assert!(err("[toolchain]\npath = \"/opt/rust\"\n").contains("custom toolchain"));
        assert!(
            err("[toolchain]\nchannel = \"1.95.0\"\ncomponents = [\"\"]\n")
                .contains("components has an invalid entry")
        );
    }

    #[test]
    fn nothing_to_do_when_complete() {
        let have = Installed {
            targets: strings(&[HOST, "aarch64-unknown-none", "armv7a-none-eabi"]),
            components: strings(&[
                "cargo-x86_64-unknown-linux-gnu",
                "clippy-x86_64-unknown-linux-gnu",
                "rustfmt-x86_64-unknown-linux-gnu",
                "rust-std-aarch64-unknown-none",
            ]),
        };
        assert!(plan(&pinned(), Some(&have), HOST).is_empty());
    }

    #[test]
    fn only_the_missing_are_installed() {
        let have = Installed {
            targets: strings(&[HOST, "armv7a-none-eabi"]),
            components: strings(&[
                "clippy-x86_64-unknown-linux-gnu",
                "rustc-x86_64-unknown-linux-gnu",
            ]),
        };
        let steps = plan(&pinned(), Some(&have), HOST);
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps[0].command_line(),
            "rustup target add --toolchain 1.95.0 aarch64-unknown-none"
        );
        assert_eq!(
            steps[1].command_line(),
            "rustup component add --toolchain 1.95.0 rustfmt"
        );
        assert!(steps[0].what().contains("aarch64-unknown-none"));
        assert!(!steps[0].what().contains("armv7a"));
    }

    #[test]
    fn miri_components_on_an_existing_nightly() {
        let want = miri_nightly();
        let bare = Installed {
            targets: strings(&[HOST]),
            components: strings(&["rustc-x86_64-unknown-linux-gnu"]),
        };
        let steps = plan(&want, Some(&bare), HOST);
        assert_eq!(
            steps.iter().map(Install::command_line).collect::<Vec<_>>(),
            ["rustup component add --toolchain nightly miri rust-src"]
        );
        // rust-src is listed without a host suffix, miri with one.
        let half = Installed {
            targets: strings(&[HOST]),
            components: strings(&["rust-src"]),
        };
        assert_eq!(
            plan(&want, Some(&half), HOST)[0].command_line(),
            "rustup component add --toolchain nightly miri"
        );
        let full = Installed {
            targets: strings(&[HOST]),
            components: strings(&["miri-x86_64-unknown-linux-gnu", "rust-src"]),
        };
        assert!(plan(&want, Some(&full), HOST).is_empty());
        // A component for another host does not count.
        let other = Installed {
            targets: Vec::new(),
            components: strings(&["miri-aarch64-unknown-linux-gnu", "rust-src"]),
        };
        assert_eq!(plan(&want, Some(&other), HOST).len(), 1);
    }

    #[test]
    fn missing_toolchain_is_installed_whole() {
        assert_eq!(
            plan(&miri_nightly(), None, HOST)[0].command_line(),
            "rustup toolchain install nightly --component miri,rust-src --profile minimal"
        );
        assert_eq!(
            plan(&pinned(), None, HOST)[0].command_line(),
            "rustup toolchain install 1.95.0 --component rustfmt,clippy \
             --target aarch64-unknown-none,armv7a-none-eabi --profile minimal"
        );
    }

    #[test]
    fn toolchain_list_matching() {
        let list = "stable-x86_64-unknown-linux-gnu (default)\n\
                    nightly-2025-01-01-x86_64-unknown-linux-gnu\n\
                    1.95.0-x86_64-unknown-linux-gnu (active)\n";
        assert!(toolchain_listed(list, "1.95.0", HOST));
        assert!(toolchain_listed(list, "stable", HOST));
        assert!(!toolchain_listed(list, "nightly", HOST));
        assert!(!toolchain_listed(list, "1.95", HOST));
        assert!(!toolchain_listed(
            "no installed toolchains\n",
            "nightly",
            HOST
        ));
        assert!(toolchain_listed(
            "nightly-x86_64-unknown-linux-gnu\n",
            "nightly",
            HOST
        ));
    }

    #[test]
    fn host_of_rustup_show() {
        let show = "Default host: x86_64-unknown-linux-gnu\nrustup home:  /home/ci/.rustup\n";
        assert_eq!(host_from_show(show).as_deref(), Some(HOST));
        assert_eq!(host_from_show("rustup home: /x\n"), None);
    }

    #[test]
    fn message_without_rustup_gives_the_commands() {
        let msg = no_rustup_message(&pinned());
        assert!(msg.starts_with("rustup is not on PATH"), "{msg}");
        assert!(msg.contains("https://sh.rustup.rs"), "{msg}");
        assert!(msg.contains(
            "rustup toolchain install 1.95.0 --component rustfmt,clippy \
             --target aarch64-unknown-none,armv7a-none-eabi --profile minimal"
        ));
        assert!(msg.contains("rust-toolchain.toml"));
        let miri = no_rustup_message(&miri_nightly());
        assert!(miri.contains("the Miri step"));
        assert!(miri.contains("rustup toolchain install nightly --component miri,rust-src"));
    }
}
