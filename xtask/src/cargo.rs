//! Running cargo: plain commands, commands whose libtest output we count, and firmware
//! builds whose executables we collect from cargo's JSON messages.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// `cargo` through the rustup proxy, so `+nightly` and rust-toolchain.toml both work.
pub fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root);
    // Inherited from `cargo xtask`: would pin the nested cargo to the outer toolchain/binary.
    cmd.env_remove("RUSTUP_TOOLCHAIN").env_remove("CARGO");
    cmd
}

/// `cargo fmt --all -- --check` as the user would type it (env vars first).
pub fn display(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            parts.push(format!("{}={}", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    parts.push(cmd.get_program().to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs a command with inherited output; Ok(success).
pub fn run_plain(mut cmd: Command) -> Result<bool> {
    println!("$ {}", display(&cmd));
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", display(&cmd)))?;
    Ok(status.success())
}

/// Runs a command, echoing its stdout and returning it for counting; Ok((success, stdout)).
pub fn run_echoing(mut cmd: Command) -> Result<(bool, String)> {
    println!("$ {}", display(&cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", display(&cmd)))?;
    let mut all = String::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            println!("{line}");
            all.push_str(&line);
            all.push('\n');
        }
    }
    let status = child.wait().context("cannot wait for cargo")?;
    Ok((status.success(), all))
}

/// One executable cargo built for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub name: String,
    /// `bin` or `test`.
    pub kind: String,
    pub path: PathBuf,
}

/// Pulls executables out of `--message-format=json*` lines.
pub fn artifacts_from_json(stdout: &str) -> Vec<Artifact> {
    let mut found = Vec::new();
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let kind = msg["target"]["kind"][0].as_str().unwrap_or_default();
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        found.push(Artifact {
            name: name.to_string(),
            kind: kind.to_string(),
            path: PathBuf::from(exe),
        });
    }
    found.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    found.dedup();
    found
}

/// What to build for a board.
#[derive(Debug, Clone)]
pub enum Images {
    BinsAndTests,
    Tests,
    Bin(String),
}

/// `cargo build --release -p <package> --target <target> ...`; the executables it produced.
pub fn build_images(
    root: &Path,
    package: &str,
    target: &str,
    images: Images,
) -> Result<Vec<Artifact>> {
    let mut cmd = cargo(root);
    cmd.args(["build", "--release", "-p", package, "--target", target]);
    match images {
        Images::BinsAndTests => cmd.args(["--bins", "--tests"]),
        Images::Tests => cmd.arg("--tests"),
        Images::Bin(name) => cmd.args(["--bin", name.as_str()]),
    };
    cmd.arg("--message-format=json-render-diagnostics");
    println!("$ {}", display(&cmd));
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", display(&cmd)))?;
    if !out.status.success() {
        bail!("building {package} for {target} failed (compiler messages above)");
    }
    Ok(artifacts_from_json(&String::from_utf8_lossy(&out.stdout)))
}

/// Names of a package's `[[test]]` targets, without building (cargo metadata).
pub fn test_target_names(root: &Path, package: &str) -> Result<Vec<String>> {
    let out = cargo(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed");
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed invalid JSON")?;
    test_targets_in_metadata(&meta, package)
}

fn test_targets_in_metadata(meta: &serde_json::Value, package: &str) -> Result<Vec<String>> {
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata: no packages")?;
    let pkg = packages
        .iter()
        .find(|p| p["name"] == package)
        .with_context(|| format!("package '{package}' is not a member of the workspace"))?;
    let mut names: Vec<String> = pkg["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "test"))
        })
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_collected_with_their_kind() {
        let out = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"dmasync"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"timer"},"executable":"/t/release/deps/timer-1a2b"}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"demo"},"executable":"/t/release/demo"}
{"reason":"build-finished","success":true}
not json
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"boot"},"executable":"/t/release/deps/boot-9f"}"#;
        let a = artifacts_from_json(out);
        let names: Vec<(&str, &str)> = a
            .iter()
            .map(|a| (a.kind.as_str(), a.name.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![("bin", "demo"), ("test", "boot"), ("test", "timer")]
        );
        assert_eq!(a[1].path, PathBuf::from("/t/release/deps/boot-9f"));
    }

    #[test]
    fn test_targets_from_metadata() {
        let meta = serde_json::json!({"packages": [
            {"name": "dmasync-qemu-virt", "targets": [
                {"name": "demo", "kind": ["bin"]},
                {"name": "timer", "kind": ["test"]},
                {"name": "boot", "kind": ["test"]}
            ]}
        ]});
        assert_eq!(
            test_targets_in_metadata(&meta, "dmasync-qemu-virt").unwrap(),
            vec!["boot", "timer"]
        );
        assert!(test_targets_in_metadata(&meta, "nope").is_err());
    }

    #[test]
    fn commands_display_with_their_environment() {
        let mut cmd = Command::new("cargo");
        cmd.env("RUSTFLAGS", "--cfg loom")
            .args(["test", "-p", "dmasync-sync"]);
        assert_eq!(
            display(&cmd),
            "RUSTFLAGS=--cfg loom cargo test -p dmasync-sync"
        );
    }
}
