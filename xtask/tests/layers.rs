//! The workspace's layering, checked on every `cargo test` (issue #9, "folder = layer").
//!
//! Top-level folders are layers and [`LAYERS`] is their order, bottom up: the one place it is
//! written (doc/architecture.md "Layers" explains it). From `cargo metadata --no-deps` (path
//! dependencies are listed there, so nothing is resolved or downloaded) the test fails, naming
//! the crates and the edge, on
//!
//! - a dependency — normal, build or dev — from a crate in one top-level folder to a crate in
//!   another folder that is not on a lower layer (upward, or sideways between the two bottom
//!   folders);
//! - a cycle between top-level folders;
//! - a crate whose name is not `dmasync-<folder name>`, or that lives in a folder no layer
//!   names.
//!
//! Dev-dependencies follow the same direction rule: a test-only dependency on a higher layer
//! still makes the lower folder's tests build the higher one. `sim/` (host only) sits right above
//! `hal/`, so every layer from `arch/` up may use it in its tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The layers, bottom up; each is a set of top-level folders. A crate may depend on crates in
/// its own folder and on crates in folders of lower layers, nothing else.
///
/// `protocol/` (the console wire protocol) and `hal/` form the bottom layer together and do
/// not use each other: the protocol is bytes and lines shared by the firmware and xtask, the
/// hal is traits and types, and neither needs the other. `arch/`, `boards/` and `xtask/` use the
/// protocol; `sim/` is the host-only simulator, below `sync/` and everything that tests with it.
/// `models/` holds the host-only register-level models of devices QEMU does not emulate and
/// the independent pixel oracle: they sit on the simulator (they move bytes through it as a
/// bus master would) and below `drivers/`, whose tests drive them, so a model can never reuse
/// a driver's code.
const LAYERS: &[&[&str]] = &[
    &["protocol", "hal"],
    &["sim"],
    &["models"],
    &["arch"],
    &["sync"],
    &["engine"],
    &["drivers"],
    &["demo"],
    &["boards"],
    &["xtask"],
];

/// Prefix of every crate name; the rest is the crate's folder name.
const CRATE_PREFIX: &str = "dmasync-";
/// The folders whose crates run on the host only: the non-coherent memory simulator and the
/// device models and oracle built on it.
const HOST_ONLY: &[&str] = &["sim", "models"];

/// One workspace crate, as the check sees it.
#[derive(Debug)]
struct Krate {
    name: String,
    /// Manifest directory relative to the workspace root, `/`-separated (`arch/aarch64`).
    dir: String,
}

impl Krate {
    fn top(&self) -> &str {
        top_folder(&self.dir)
    }
}

fn top_folder(dir: &str) -> &str {
    dir.split('/').next().unwrap_or("")
}

/// The layer index of a top-level folder, `None` when no layer names it.
fn layer_of(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&folder))
}

fn relative_dir(root: &Path, dir: &Path) -> Option<String> {
    let rel = dir.strip_prefix(root).ok()?;
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// Every violation of the layering in `metadata` (the JSON of `cargo metadata
/// --format-version 1`, with or without `--no-deps`), one message each; empty when the tree is
/// layered.
fn check(metadata: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let root = Path::new(metadata["workspace_root"].as_str().expect("workspace_root"));
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .filter_map(Value::as_str)
        .collect();

    // Workspace crates by manifest directory.
    let mut crates: BTreeMap<String, Krate> = BTreeMap::new();
    let packages = metadata["packages"].as_array().expect("packages");
    for p in packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
    {
        let name = p["name"].as_str().expect("package name").to_owned();
        let manifest = Path::new(p["manifest_path"].as_str().expect("manifest_path"));
        let dir = manifest
            .parent()
            .and_then(|d| relative_dir(root, d))
            .unwrap_or_default();
        crates.insert(dir.clone(), Krate { name, dir });
    }

    // (c) names and known folders.
    for k in crates.values() {
        if k.dir.is_empty() {
            problems.push(format!(
                "crate `{}` sits at the workspace root; every crate lives in a layer's folder",
                k.name
            ));
            continue;
        }
        let folder_name = k.dir.rsplit('/').next().unwrap_or(&k.dir);
        let expected = format!("{CRATE_PREFIX}{folder_name}");
        if k.name != expected {
            problems.push(format!(
                "crate `{}` in {}/ must be named `{expected}` (dmasync-<folder name>)",
                k.name, k.dir
            ));
        }
        if layer_of(k.top()).is_none() {
            problems.push(format!(
                "crate `{}` is in {}/, a top-level folder no layer names: add it to LAYERS in xtask/tests/layers.rs at its layer",
                k.name,
                k.top()
            ));
        }
    }

    // (a) direction of every path dependency between top-level folders.
    let mut folder_edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for p in packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
    {
        let manifest = Path::new(p["manifest_path"].as_str().expect("manifest_path"));
        let Some(from) = manifest
            .parent()
            .and_then(|d| relative_dir(root, d))
            .and_then(|d| crates.get(&d))
        else {
            continue;
        };
        for dep in p["dependencies"].as_array().into_iter().flatten() {
            let Some(path) = dep["path"].as_str() else {
                continue;
            };
            let Some(to) = relative_dir(root, Path::new(path)).and_then(|d| crates.get(&d)) else {
                continue;
            };
            let kind = dep["kind"].as_str().unwrap_or("normal");
            let (ff, tf) = (from.top(), to.top());
            if ff == tf {
                continue;
            }
            let edge = format!(
                "`{}` ({}/) -> `{}` ({}/), {kind} dependency",
                from.name, from.dir, to.name, to.dir
            );
            folder_edges
                .entry(ff.to_owned())
                .or_default()
                .entry(tf.to_owned())
                .or_insert_with(|| edge.clone());
            // sim/ and models/ are host-only: a test may use them, firmware never. Among
            // themselves (models/ on sim/) they are host code all the way down.
            if HOST_ONLY.contains(&tf) && !HOST_ONLY.contains(&ff) && kind != "dev" {
                problems.push(format!(
                    "{edge}: {tf}/ is host-only (simulator, device models) and may only be a dev-dependency"
                ));
            }
            if let (Some(fl), Some(tl)) = (layer_of(ff), layer_of(tf))
                && tl >= fl
            {
                let how = if tl == fl {
                    "beside it on the same layer"
                } else {
                    "above it"
                };
                problems.push(format!("{edge}: {ff}/ may not depend on {tf}/, which is {how} (LAYERS in xtask/tests/layers.rs)"));
            }
        }
    }

    // (b) cycles between top-level folders (every edge kind).
    for cycle in folder_cycles(&folder_edges) {
        let path: Vec<String> = cycle.iter().map(|f| format!("{f}/")).collect();
        let edges: Vec<&str> = cycle
            .windows(2)
            .map(|w| folder_edges[&w[0]][&w[1]].as_str())
            .collect();
        problems.push(format!(
            "folder cycle {}: {}",
            path.join(" -> "),
            edges.join("; ")
        ));
    }
    problems
}

/// One cycle per strongly connected group of folders (closed: first folder repeated at the end).
fn folder_cycles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    let mut cycles = Vec::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for start in edges.keys() {
        if reported.contains(start) {
            continue;
        }
        // Depth-first search for a path from `start` back to itself.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flat_map(BTreeMap::keys) {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start.clone());
                    reported.extend(cycle.iter().cloned());
                    cycles.push(cycle);
                    stack.clear();
                    break;
                }
                if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    cycles
}

fn workspace_metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

#[test]
fn workspace_follows_the_layers() {
    let metadata = workspace_metadata();
    let problems = check(&metadata);
    assert!(
        problems.is_empty(),
        "the workspace breaks its layering:\n  {}",
        problems.join("\n  ")
    );
    // The check reads the real document's shape: the same metadata with one upward edge added
    // (hal/ using the sync core, the shape issue #9 removed) is reported.
    let mut broken = metadata.clone();
    let root = broken["workspace_root"].as_str().unwrap().to_owned();
    let hal = broken["packages"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == "dmasync-hal")
        .unwrap();
    hal["dependencies"].as_array_mut().unwrap().push(
        serde_json::json!({ "name": "dmasync-sync", "kind": null, "path": format!("{root}/sync") }),
    );
    let problems = check(&broken);
    assert!(
        problems.iter().any(
            |p| p.contains("`dmasync-hal` (hal/) -> `dmasync-sync` (sync/), normal dependency")
        ),
        "an upward edge in the real metadata went unreported: {problems:#?}"
    );
    // The check saw the tree: the crates of the layers that exist today are there.
    let names: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for expected in [
        "dmasync-hal",
        "dmasync-sync",
        "dmasync-engine",
        "dmasync-xtask",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from cargo metadata: {names:?}"
        );
    }
}

// ---- the negative checks: synthetic metadata with what the real tree must never contain ----

/// A metadata document in `cargo metadata`'s shape: crates as (dir, name), edges as
/// (from dir, to dir, kind) with kind `None` for a normal dependency.
fn synthetic(crates: &[(&str, &str)], deps: &[(&str, &str, Option<&str>)]) -> Value {
    let root = "/ws";
    let packages: Vec<Value> = crates
        .iter()
        .map(|&(dir, name)| {
            let dependencies: Vec<Value> = deps
                .iter()
                .filter(|d| d.0 == dir)
                .map(|&(_, to, kind)| {
                    let to_name = crates.iter().find(|c| c.0 == to).map_or("external", |c| c.1);
                    serde_json::json!({ "name": to_name, "kind": kind, "path": format!("{root}/{to}") })
                })
                .collect();
            serde_json::json!({
                "name": name,
                "id": format!("path+file://{root}/{dir}#0.1.0"),
                "manifest_path": format!("{root}/{dir}/Cargo.toml"),
                "dependencies": dependencies,
            })
        })
        .collect();
    let members: Vec<Value> = packages.iter().map(|p| p["id"].clone()).collect();
    serde_json::json!({ "workspace_root": root, "workspace_members": members, "packages": packages })
}

const TREE: &[(&str, &str)] = &[
    ("protocol", "dmasync-protocol"),
    ("hal", "dmasync-hal"),
    ("sim", "dmasync-sim"),
    ("models/g2d-model", "dmasync-g2d-model"),
    ("arch/aarch64", "dmasync-aarch64"),
    ("sync", "dmasync-sync"),
    ("engine", "dmasync-engine"),
    ("drivers/soft", "dmasync-soft"),
    ("drivers/pl310", "dmasync-pl310"),
    ("boards/qemu-virt", "dmasync-qemu-virt"),
    ("xtask", "dmasync-xtask"),
];

/// Downward edges of the real shape, incl. same-folder and test-only ones.
const GOOD: &[(&str, &str, Option<&str>)] = &[
    ("sim", "hal", None),
    ("models/g2d-model", "sim", None),
    ("models/g2d-model", "hal", None),
    ("arch/aarch64", "hal", None),
    ("arch/aarch64", "protocol", None),
    ("sync", "hal", None),
    ("sync", "sim", Some("dev")),
    ("sync", "sync", Some("dev")),
    ("engine", "sync", None),
    ("drivers/soft", "engine", None),
    ("drivers/soft", "drivers/pl310", None),
    ("drivers/soft", "models/g2d-model", Some("dev")),
    ("boards/qemu-virt", "arch/aarch64", None),
    ("boards/qemu-virt", "drivers/soft", Some("build")),
    ("xtask", "protocol", None),
];

fn with(
    extra: &[(&'static str, &'static str, Option<&'static str>)],
) -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    GOOD.iter().chain(extra).copied().collect()
}

#[test]
fn a_layered_synthetic_tree_passes() {
    let problems = check(&synthetic(TREE, GOOD));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn an_upward_edge_is_reported_with_its_crates() {
    // The old hal/ <-> sync/ shape: the architecture glue in hal/ using the sync core.
    let problems = check(&synthetic(TREE, &with(&[("hal", "sync", None)])));
    assert!(
        problems.iter().any(|p| p
            .contains("`dmasync-hal` (hal/) -> `dmasync-sync` (sync/), normal dependency")
            && p.contains("hal/ may not depend on sync/, which is above it")),
        "{problems:#?}"
    );
    // ... which with sync -> hal is also a folder cycle.
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("folder cycle hal/ -> sync/ -> hal/")),
        "{problems:#?}"
    );
}

#[test]
fn upward_build_and_dev_edges_are_reported() {
    let problems = check(&synthetic(
        TREE,
        &with(&[
            ("sync", "engine", Some("dev")),
            ("arch/aarch64", "sync", Some("build")),
        ]),
    ));
    assert!(
        problems
            .iter()
            .any(|p| p
                .contains("`dmasync-sync` (sync/) -> `dmasync-engine` (engine/), dev dependency")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.contains(
            "`dmasync-aarch64` (arch/aarch64/) -> `dmasync-sync` (sync/), build dependency"
        )),
        "{problems:#?}"
    );
}

#[test]
fn the_two_bottom_folders_do_not_use_each_other() {
    let problems = check(&synthetic(TREE, &with(&[("hal", "protocol", None)])));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("hal/ may not depend on protocol/, which is beside it")),
        "{problems:#?}"
    );
}

#[test]
fn a_folder_cycle_is_reported_even_outside_the_layers() {
    // tools/ is on no layer, so only the cycle check can see tools/ <-> drivers/.
    let mut tree = TREE.to_vec();
    tree.push(("tools/gen", "dmasync-gen"));
    let problems = check(&synthetic(
        &tree,
        &with(&[
            ("tools/gen", "drivers/soft", None),
            ("drivers/pl310", "tools/gen", None),
        ]),
    ));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("in tools/, a top-level folder no layer names")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("folder cycle")
            && p.contains("drivers/")
            && p.contains("tools/")),
        "{problems:#?}"
    );
}

#[test]
fn a_crate_not_named_after_its_folder_is_reported() {
    let mut tree = TREE.to_vec();
    tree.retain(|c| c.0 != "sync" && c.0 != "boards/qemu-virt");
    tree.push(("sync", "dmasync"));
    tree.push(("boards/qemu-virt", "board-qemu-virt"));
    let problems = check(&synthetic(&tree, GOOD));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("crate `dmasync` in sync/ must be named `dmasync-sync`")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.contains(
            "crate `board-qemu-virt` in boards/qemu-virt/ must be named `dmasync-qemu-virt`"
        )),
        "{problems:#?}"
    );
}

#[test]
fn the_host_only_simulator_is_only_a_dev_dependency() {
    let problems = check(&synthetic(TREE, &with(&[("engine", "sim", None)])));
    assert!(
        problems.iter().any(|p| p
            .contains("`dmasync-engine` (engine/) -> `dmasync-sim` (sim/), normal dependency")
            && p.contains("host-only")),
        "{problems:#?}"
    );
}

#[test]
fn a_device_model_is_host_only_and_below_the_drivers() {
    // A driver that links its model into firmware, and a model that reuses a driver's code.
    let problems = check(&synthetic(
        TREE,
        &with(&[
            ("drivers/soft", "models/g2d-model", None),
            ("models/g2d-model", "drivers/soft", Some("dev")),
        ]),
    ));
    assert!(
        problems.iter().any(|p| p.contains(
            "`dmasync-soft` (drivers/soft/) -> `dmasync-g2d-model` (models/g2d-model/), normal dependency"
        ) && p.contains("host-only")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("models/ may not depend on drivers/")),
        "{problems:#?}"
    );
}
