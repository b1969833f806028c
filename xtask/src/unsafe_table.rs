//! The "Where `unsafe` lives" tables of doc/architecture.md against the tree: a crate
//! marked **none** has `#![forbid(unsafe_code)]` in its root, a `sync::` module marked
//! **none** has `#[forbid(unsafe_code)]` on its `mod` declaration, nothing the tables say
//! has `unsafe` carries a `forbid`, and every workspace member has a row.

use std::path::{Path, PathBuf};

const DOC: &str = "doc/architecture.md";
const CRATE_FORBID: &str = "#![forbid(unsafe_code)]";
const MOD_FORBID: &str = "#[forbid(unsafe_code)]";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The rows of the section's tables: first cell's code spans, and whether the second
/// cell says "none".
fn rows(doc: &str) -> Vec<(Vec<String>, bool)> {
    let section = doc
        .split("## Where `unsafe` lives")
        .nth(1)
        .expect("doc/architecture.md has a \"Where `unsafe` lives\" section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().strip_prefix('|')?.split('|').collect();
            let (first, second) = (cells.first()?.trim(), cells.get(1)?.trim());
            let names: Vec<String> = first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (!names.is_empty()).then(|| (names, second.starts_with("none")))
        })
        .collect()
}

/// Crate rows: `path/` -> says none.
fn crate_rows(doc: &str) -> Vec<(String, bool)> {
    rows(doc)
        .into_iter()
        .filter_map(|(names, none)| {
            let p = names[0].strip_suffix('/')?;
            Some((p.to_string(), none))
        })
        .collect()
}

/// Module rows: every `sync::a::b` code span of the first cell -> says none.
fn module_rows(doc: &str) -> Vec<(String, bool)> {
    rows(doc)
        .into_iter()
        .flat_map(|(names, none)| {
            names
                .into_iter()
                .filter(|n| n.starts_with("sync::"))
                .map(move |n| (n, none))
        })
        .collect()
}

fn members() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    t["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

fn crate_root(dir: &str) -> PathBuf {
    let src = root().join(dir).join("src");
    let lib = src.join("lib.rs");
    if lib.exists() {
        lib
    } else {
        src.join("main.rs")
    }
}

/// Whether the `mod` declaration of `module` (`sync::a::b`) carries `#[forbid(unsafe_code)]`
/// among the attributes right above it; `None` if the declaration is not found.
fn mod_forbidden(module: &str) -> Option<bool> {
    let mut path: Vec<&str> = module.split("::").collect();
    let name = path.pop()?;
    let krate = path.remove(0);
    let src = root().join(krate).join("src");
    let parent = if path.is_empty() {
        src.join("lib.rs")
    } else {
        let dir = src.join(path.join("/"));
        let file = dir.with_extension("rs");
        if file.exists() {
            file
        } else {
            dir.join("mod.rs")
        }
    };
    let text = std::fs::read_to_string(parent).ok()?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let decl = lines
        .iter()
        .position(|l| *l == format!("mod {name};") || *l == format!("pub mod {name};"))?;
    Some(
        lines[..decl]
            .iter()
            .rev()
            .take_while(|l| l.starts_with("#["))
            .any(|l| *l == MOD_FORBID),
    )
}

#[test]
fn every_member_has_a_row_and_none_means_forbid() {
    let doc = std::fs::read_to_string(root().join(DOC)).unwrap();
    let rows = crate_rows(&doc);
    let mut problems = Vec::new();
    for m in members() {
        let Some(&(_, none)) = rows.iter().find(|(p, _)| *p == m) else {
            problems.push(format!("{m}: no row in {DOC}'s unsafe table"));
            continue;
        };
        let root_file = crate_root(&m);
        let text = std::fs::read_to_string(&root_file).unwrap();
        let forbids = text.lines().any(|l| l.trim() == CRATE_FORBID);
        match (none, forbids) {
            (true, false) => problems.push(format!(
                "{m}: marked \"none\" but {} lacks {CRATE_FORBID}",
                root_file.display()
            )),
            (false, true) => problems.push(format!(
                "{m}: has {CRATE_FORBID}; mark it \"none\" in {DOC}"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn sync_modules_marked_none_forbid_unsafe() {
    let doc = std::fs::read_to_string(root().join(DOC)).unwrap();
    let rows = module_rows(&doc);
    assert!(
        rows.iter().any(|(_, none)| *none),
        "no sync module rows found"
    );
    let mut problems = Vec::new();
    for (m, none) in rows {
        match (none, mod_forbidden(&m)) {
            (_, None) if none => problems.push(format!("{m}: no `mod` declaration found")),
            (true, Some(false)) => {
                problems.push(format!("{m}: marked \"none\" without {MOD_FORBID}"))
            }
            (false, Some(true)) => {
                problems.push(format!("{m}: has {MOD_FORBID}; mark it \"none\""))
            }
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn parses_rows() {
    let doc = "## Where `unsafe` lives\n\n| crate | unsafe |\n|---|---|\n\
               | `a/` | none: `#![forbid(unsafe_code)]` |\n| `b/x/` | MMIO |\n\n\
               | module | unsafe |\n|---|---|\n| `sync::p`, `sync::q::r` | none |\n\n## Next\n| `c/` | none |\n";
    assert_eq!(
        crate_rows(doc),
        vec![("a".to_string(), true), ("b/x".to_string(), false)]
    );
    assert_eq!(
        module_rows(doc),
        vec![
            ("sync::p".to_string(), true),
            ("sync::q::r".to_string(), true)
        ]
    );
}
