//! Making sure what the tests need is there: a recent enough QEMU for the on-target tests,
//! and the Debian packages the host tests link ([`HOST_PACKAGES`]). Check, and on a Debian
//! machine where we are root, install with apt-get; otherwise say exactly what to run.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::qemu;

const BACKPORTS_LINE: &str = "deb http://deb.debian.org/debian bookworm-backports main";
const BACKPORTS_LIST: &str = "/etc/apt/sources.list.d/dmasync-bookworm-backports.list";
/// Debian's package with both qemu-system-aarch64 and qemu-system-arm.
const PACKAGE: &str = "qemu-system-arm";

/// A QEMU binary that passed the version check.
#[derive(Debug, Clone)]
pub struct Qemu {
    pub path: PathBuf,
    pub version: (u32, u32, u32),
}

/// What the check found.
#[derive(Debug)]
enum Check {
    Usable(Qemu),
    Problem(String),
}

fn check(binary: &str) -> Check {
    let Some(path) = qemu::locate(binary) else {
        let place = match std::env::var_os(qemu::DIR_OVERRIDE_VAR) {
            Some(dir) => format!(
                "in {} (${})",
                PathBuf::from(dir).display(),
                qemu::DIR_OVERRIDE_VAR
            ),
            None => "on PATH".to_string(),
        };
        return Check::Problem(format!("{binary} not found {place}"));
    };
    match qemu::version_of(&path) {
        Ok(version) if (version.0, version.1) >= qemu::MIN_VERSION => {
            Check::Usable(Qemu { path, version })
        }
        Ok((a, b, c)) => Check::Problem(format!(
            "{} is version {a}.{b}.{c}; dmasync needs {}.{} or newer",
            path.display(),
            qemu::MIN_VERSION.0,
            qemu::MIN_VERSION.1
        )),
        Err(e) => Check::Problem(format!("{e:#}")),
    }
}

/// What to do about a missing or old QEMU.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Root on a Debian-like machine: install with apt-get now.
    InstallWithApt,
    /// Tell the user the commands (with sudo) and stop.
    Instruct,
}

fn plan(is_root: bool, has_apt: bool, dir_overridden: bool) -> Plan {
    // With an explicit QEMU directory, apt (which installs into /usr/bin) cannot help.
    if is_root && has_apt && !dir_overridden {
        Plan::InstallWithApt
    } else {
        Plan::Instruct
    }
}

/// The commands that install QEMU from bookworm-backports.
fn install_commands(sudo: &str, have_backports: bool) -> Vec<String> {
    let mut cmds = Vec::new();
    if !have_backports {
        cmds.push(format!(
            "echo '{BACKPORTS_LINE}' | {sudo}tee {BACKPORTS_LIST}"
        ));
    }
    cmds.push(format!("{sudo}apt-get update"));
    cmds.push(format!(
        "{sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports {PACKAGE}"
    ));
    cmds
}

/// Whether a sources file text enables bookworm-backports (one-line or deb822 format).
fn mentions_backports(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .any(|l| l.split_whitespace().any(|w| w == "bookworm-backports"))
}

fn apt_has_backports() -> bool {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .any(|t| mentions_backports(&t))
}

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Returns a usable QEMU for `binary`, installing it when this machine lets us.
pub fn ensure(binary: &str) -> Result<Qemu> {
    let problem = match check(binary) {
        Check::Usable(q) => return Ok(q),
        Check::Problem(p) => p,
    };
    let dir_overridden = std::env::var_os(qemu::DIR_OVERRIDE_VAR).is_some();
    match plan(is_root(), on_path("apt-get"), dir_overridden) {
        Plan::InstallWithApt => {
            eprintln!("note: {problem}; installing {PACKAGE} from bookworm-backports");
            install_with_apt().context("installing QEMU with apt-get failed")?;
            match check(binary) {
                Check::Usable(q) => Ok(q),
                Check::Problem(p) => bail!("after installing {PACKAGE}: {p}"),
            }
        }
        Plan::Instruct => {
            eprintln!(
                "QEMU {}.{} or newer is needed: {problem}.",
                qemu::MIN_VERSION.0,
                qemu::MIN_VERSION.1
            );
            eprintln!("On Debian 12 install it with:");
            for cmd in install_commands("sudo ", apt_has_backports()) {
                eprintln!("    {cmd}");
            }
            if dir_overridden {
                eprintln!(
                    "or point ${} at a directory holding {binary}.",
                    qemu::DIR_OVERRIDE_VAR
                );
            }
            bail!("{problem} (install commands above)")
        }
    }
}

/// Runs one command with a spinner (terminal) or plain prefixed lines (logs, CI).
pub(crate) fn run_with_progress(what: &str, cmd: &mut Command) -> Result<()> {
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || forward_lines(out, tx)));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || forward_lines(err, tx)));
    }
    drop(tx);
    let spinner = std::io::stdout().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {prefix}: {wide_msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let mut tail: Vec<String> = Vec::new();
    for line in rx {
        match &spinner {
            Some(bar) => bar.set_message(line.clone()),
            None => println!("{what}: {line}"),
        }
        tail.push(line);
        if tail.len() > 20 {
            tail.remove(0);
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child
        .wait()
        .with_context(|| format!("cannot wait for {what}"))?;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    if !status.success() {
        for line in &tail {
            eprintln!("    {line}");
        }
        bail!("`{what}` failed with {status}");
    }
    println!("{what}: done");
    Ok(())
}

fn forward_lines(from: impl std::io::Read, tx: mpsc::Sender<String>) {
    for line in BufReader::new(from).lines() {
        let Ok(line) = line else { break };
        if tx.send(line).is_err() {
            break;
        }
    }
}

fn install_with_apt() -> Result<()> {
    if !apt_has_backports() {
        std::fs::write(BACKPORTS_LIST, format!("{BACKPORTS_LINE}\n"))
            .with_context(|| format!("cannot write {BACKPORTS_LIST}"))?;
        println!("added {BACKPORTS_LIST}");
    }
    run_with_progress("apt-get update", Command::new("apt-get").arg("update"))?;
    run_with_progress(
        "apt-get install",
        Command::new("apt-get").args(["install", "-y", "-t", "bookworm-backports", PACKAGE]),
    )
}

/// Debian packages the host tests need, and why.
///
/// `libpixman-1-dev`: the pixel oracle (models/pixman-oracle) uses the `pixman` crate, whose
/// `pixman-sys` links the system library with a plain `-lpixman-1` (no pkg-config, nothing
/// bundled); the linker finds `libpixman-1.so` only in the -dev package (the runtime
/// package, libpixman-1-0, which QEMU depends on, has just `libpixman-1.so.0`).
pub const HOST_PACKAGES: &[&str] = &["libpixman-1-dev"];

/// Whether `dpkg-query -W -f '${Status}' <package>` printed an installed package's status.
fn dpkg_says_installed(status: &str) -> bool {
    status.trim() == "install ok installed"
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success() && dpkg_says_installed(&String::from_utf8_lossy(&o.stdout))
        })
}

/// The packages of `wanted` that `installed` says are missing, in order.
fn missing_packages<'p>(wanted: &[&'p str], installed: impl Fn(&str) -> bool) -> Vec<&'p str> {
    wanted.iter().copied().filter(|p| !installed(p)).collect()
}

/// The commands that install `packages`.
fn host_install_commands(sudo: &str, packages: &[&str]) -> Vec<String> {
    vec![
        format!("{sudo}apt-get update"),
        format!(
            "{sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y {}",
            packages.join(" ")
        ),
    ]
}

/// Makes sure every [`HOST_PACKAGES`] package is installed, installing the missing ones when
/// root with apt (the same rule as for QEMU); returns what it installed. On a machine without
/// dpkg the packages count as missing and the error says what is needed.
pub fn ensure_host_packages() -> Result<Vec<&'static str>> {
    let missing = missing_packages(HOST_PACKAGES, dpkg_installed);
    if missing.is_empty() {
        return Ok(missing);
    }
    let list = missing.join(" ");
    match plan(is_root(), on_path("apt-get"), false) {
        Plan::InstallWithApt => {
            eprintln!("note: the host tests need {list}; installing it with apt-get");
            run_with_progress("apt-get update", Command::new("apt-get").arg("update"))?;
            run_with_progress(
                "apt-get install",
                Command::new("apt-get")
                    .args(["install", "-y"])
                    .args(&missing),
            )
            .with_context(|| format!("installing {list} with apt-get failed"))?;
            let still = missing_packages(&missing, dpkg_installed);
            if !still.is_empty() {
                bail!(
                    "after apt-get install, still not installed: {}",
                    still.join(" ")
                );
            }
            Ok(missing)
        }
        Plan::Instruct => {
            eprintln!("The host tests need {list} (pixman for the pixel oracle).");
            eprintln!("On Debian install it with:");
            for cmd in host_install_commands("sudo ", &missing) {
                eprintln!("    {cmd}");
            }
            bail!("missing host packages: {list} (install commands above)")
        }
    }
}

/// `/usr/bin/qemu-system-aarch64 10.0.2`, for banners.
pub fn describe(q: &Qemu) -> String {
    let (a, b, c) = q.version;
    format!("{} {a}.{b}.{c}", q.path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_with_apt_installs() {
        assert_eq!(plan(true, true, false), Plan::InstallWithApt);
        assert_eq!(plan(false, true, false), Plan::Instruct);
        assert_eq!(plan(true, false, false), Plan::Instruct);
        assert_eq!(plan(true, true, true), Plan::Instruct);
    }

    #[test]
    fn instructions_add_backports_only_when_missing() {
        let full = install_commands("sudo ", false);
        assert_eq!(full.len(), 3);
        assert!(
            full[0].contains("sudo tee /etc/apt/sources.list.d/dmasync-bookworm-backports.list")
        );
        assert!(full[2].ends_with("apt-get install -y -t bookworm-backports qemu-system-arm"));
        assert_eq!(install_commands("sudo ", true).len(), 2);
    }

    #[test]
    fn backports_detection() {
        assert!(mentions_backports(
            "deb http://deb.debian.org/debian bookworm-backports main\n"
        ));
        assert!(mentions_backports(
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates bookworm-backports\n"
        ));
        assert!(!mentions_backports(
            "# deb http://deb.debian.org/debian bookworm-backports main\n"
        ));
        assert!(!mentions_backports(
            "deb http://deb.debian.org/debian bookworm main\n"
        ));
    }

    #[test]
    fn host_packages_missing_are_those_dpkg_lacks() {
        let wanted = ["libpixman-1-dev", "pkg-config", "libfoo-dev"];
        assert_eq!(
            missing_packages(&wanted, |p| p == "pkg-config"),
            ["libpixman-1-dev", "libfoo-dev"]
        );
        assert!(missing_packages(&wanted, |_| true).is_empty());
        assert!(HOST_PACKAGES.contains(&"libpixman-1-dev"));
    }

    #[test]
    fn dpkg_status_parsing() {
        assert!(dpkg_says_installed("install ok installed"));
        assert!(!dpkg_says_installed("deinstall ok config-files"));
        assert!(!dpkg_says_installed("unknown ok not-installed"));
        assert!(!dpkg_says_installed(""));
    }

    #[test]
    fn host_package_instructions() {
        let cmds = host_install_commands("sudo ", &["libpixman-1-dev", "pkg-config"]);
        assert_eq!(
            cmds,
            [
                "sudo apt-get update",
                "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y libpixman-1-dev pkg-config"
            ]
        );
        assert_eq!(host_install_commands("", &["x"])[0], "apt-get update");
    }

    #[test]
    fn missing_binary_is_a_problem_not_a_panic() {
        assert!(matches!(
            check("qemu-system-definitely-not-here"),
            Check::Problem(p) if p.contains("not found")
        ));
    }
}
