//! The pipeline's layering, checked on the source of every crate of the workspace: every
//! module a top-level module names outside its tests (`crate::MODULE`, `jailctl_core::MODULE`,
//! `jailctl_host::...`, `jailctl_sim`) must be on a lower layer than itself, and the crates
//! may depend on each other only as ARCHITECTURE.md draws it. A reference that runs back up
//! fails here with the file that makes it, before it can grow into a cycle that ties the
//! layers together; the crate boundaries make most of them compile errors as well.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may name modules of lower layers only.
const LAYERS: &[&[&str]] = &[
    &["jail_params", "platform"],
    &["host"],
    &["config"],
    &["render"],
    &["observe"],
    &["vnet"],
    &["provision"],
    &["plan"],
    &["apply"],
    &["base"],
    &["ops"],
    &["boot", "doctor"],
    // The simulated host implements the seam for `--simulate`; only the command line opens it.
    &["sim"],
    &["cli"],
];

/// The crates of the workspace: directory, the crate's name in paths, and how its files map
/// to the modules of the layer table.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Each top-level file or directory of `src/` is a module (`jailctl`, `jailctl-core`).
    Modules,
    /// The seam: `platform/` and `jail_params.rs` are their own modules, the rest is `host`.
    Host,
    /// The whole crate is one module, `sim`.
    Sim,
}

const CRATES: &[(&str, Kind)] = &[
    ("src", Kind::Modules),
    ("crates/core/src", Kind::Modules),
    ("crates/host/src", Kind::Host),
    ("crates/sim/src", Kind::Sim),
];

/// The workspace's crates and the workspace crates each may depend on (normal dependencies;
/// the simulator is a dev-dependency of the others and an optional one of the binary).
const CRATE_DEPS: &[(&str, &[&str])] = &[
    (
        "Cargo.toml",
        &["jailctl-core", "jailctl-host", "jailctl-sim"],
    ),
    ("crates/core/Cargo.toml", &["jailctl-host"]),
    ("crates/host/Cargo.toml", &[]),
    ("crates/sim/Cargo.toml", &["jailctl-host"]),
];

/// The module a file of a crate belongs to.
fn module_of(kind: Kind, rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string();
    match kind {
        Kind::Modules => first,
        Kind::Host if first == "platform" || first == "jail_params" => first,
        Kind::Host => "host".into(),
        Kind::Sim => "sim".into(),
    }
}

/// What a path's first segment after `root` names, in the layer table's terms.
fn target(kind: Kind, root: &str, first: &str) -> String {
    match (root, kind) {
        ("jailctl_sim", _) | ("crate", Kind::Sim) => "sim".into(),
        ("jailctl_host", _) | ("crate", Kind::Host) => match first {
            "platform" | "jail_params" => first.into(),
            _ => "host".into(),
        },
        _ => first.into(),
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without an inline `mod tests { ... }` (test
/// modules in their own `tests.rs` files are skipped by the caller).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every top-level module named in `code`: `crate::NAME` and the first names of a
/// `crate::{A::x, B, ...}` group, and the same after the workspace's crate names.
fn named(code: &str) -> BTreeSet<String> {
    named_in(Kind::Modules, code)
}

fn named_in(kind: Kind, code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for root in ["crate", "jailctl_core", "jailctl_host", "jailctl_sim"] {
        for first in named_after(code, root) {
            out.insert(target(kind, root, &first));
        }
    }
    out
}

/// The first segments after `ROOT::` in `code` (an empty one for a bare `jailctl_sim`).
fn named_after(code: &str, root: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let pat = format!("{root}::");
    let bytes = code.as_bytes();
    let ident = |from: usize| -> String {
        code[from..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut at = 0;
    while let Some(i) = code[at..].find(&pat) {
        let start = at + i + pat.len();
        at = start;
        // `jailctl_core::` inside a longer identifier is not this root.
        if at - pat.len() > 0
            && code[..at - pat.len()]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        if bytes.get(start) == Some(&b'{') {
            let (mut depth, mut first, mut k) = (1, true, start + 1);
            while depth > 0 && k < bytes.len() {
                match bytes[k] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    b',' if depth == 1 => first = true,
                    c if depth == 1 && first && (c.is_ascii_alphanumeric() || c == b'_') => {
                        let w = ident(k);
                        k += w.len();
                        out.insert(w);
                        first = false;
                        continue;
                    }
                    _ => {}
                }
                k += 1;
            }
        } else {
            out.insert(ident(start));
        }
    }
    out
}

type Edges = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// module -> module it names -> the files that name it, over every crate.
fn edges(top: &Path) -> Edges {
    let mut out = Edges::new();
    for &(dir, kind) in CRATES {
        let src = top.join(dir);
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let rel = f.strip_prefix(&src).unwrap();
            let file = rel.to_string_lossy();
            // Test files (`tests.rs`, `*_tests.rs`, the core's test fixtures) may reach up: a
            // test may run a plan to check an observer.
            if file.ends_with("tests.rs")
                || (kind == Kind::Modules && file == "fixtures.rs")
                || (kind == Kind::Modules && (file == "lib.rs" || file == "main.rs"))
            {
                continue;
            }
            let module = module_of(kind, rel);
            for t in named_in(kind, &code(&std::fs::read_to_string(&f).unwrap())) {
                if t != module && layer_of(&t).is_some() {
                    out.entry(module.clone())
                        .or_default()
                        .entry(t)
                        .or_default()
                        .insert(format!("{dir}/{file}"));
                }
            }
        }
    }
    out
}

#[test]
fn every_module_names_only_lower_layers() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    for &(dir, kind) in CRATES {
        for p in std::fs::read_dir(top.join(dir)).unwrap() {
            let p = p.unwrap().path();
            if !(p.is_dir() || p.extension().is_some_and(|x| x == "rs")) {
                continue;
            }
            let rel = Path::new(p.file_name().unwrap());
            let m = module_of(kind, rel);
            if kind == Kind::Modules && (m == "lib" || m == "main" || m == "fixtures") {
                continue;
            }
            assert!(
                layer_of(&m).is_some(),
                "{dir}/{} is not in the layer list of tests/it/module_graph.rs; add it to the layer it belongs to (and to ARCHITECTURE.md)",
                rel.display()
            );
        }
    }
    let e = edges(top);
    let mut up = Vec::new();
    for (from, to) in &e {
        for (t, files) in to {
            if layer_of(t) >= layer_of(from) {
                up.push(format!("{from} -> {t} (in {files:?})"));
            }
        }
    }
    assert!(
        up.is_empty(),
        "references that run back up the layers (move the item down, or pass it in):\n{}",
        up.join("\n")
    );
    // The check sees the references it must: the pipeline's main edges are there.
    for (from, to) in [
        ("plan", "observe"),
        ("apply", "plan"),
        ("cli", "ops"),
        ("cli", "sim"),
        ("sim", "host"),
        ("observe", "platform"),
    ] {
        assert!(e[from].contains_key(to), "{from} -> {to} not seen: {e:?}");
    }
}

#[test]
fn the_reference_reader_finds_grouped_and_plain_paths() {
    let c = code(
        "use crate::{observe::HostState, render, plan::{self, Plan}};\n\
         let x = crate::vnet::bridge_of(s); // crate::cli in a comment\n\
         #[cfg(test)]\nmod tests {\n use crate::boot;\n}\n",
    );
    let n: Vec<String> = named(&c).into_iter().collect();
    assert_eq!(n, ["observe", "plan", "render", "vnet"]);
}

/// The workspace crates each crate depends on, read from its manifest.
fn workspace_deps(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let mut out = BTreeSet::new();
    let mut tables: Vec<&toml::Table> = Vec::new();
    if let Some(d) = doc.get("dependencies").and_then(|d| d.as_table()) {
        tables.push(d);
    }
    if let Some(t) = doc.get("target").and_then(|t| t.as_table()) {
        for cfg in t.values() {
            if let Some(d) = cfg.get("dependencies").and_then(|d| d.as_table()) {
                tables.push(d);
            }
        }
    }
    for t in tables {
        out.extend(t.keys().filter(|k| k.starts_with("jailctl")).cloned());
    }
    out
}

#[test]
fn crates_depend_on_each_other_only_downwards() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (manifest, allowed) in CRATE_DEPS {
        let got = workspace_deps(&top.join(manifest));
        let want: BTreeSet<String> = allowed.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            got, want,
            "{manifest}: its workspace dependencies changed; the crate graph in ARCHITECTURE.md and CRATE_DEPS in tests/it/module_graph.rs say which are allowed"
        );
    }
    // The simulator is never a normal dependency of the core or the seam.
    for manifest in ["crates/core/Cargo.toml", "crates/host/Cargo.toml"] {
        assert!(
            !workspace_deps(&top.join(manifest)).contains("jailctl-sim"),
            "{manifest}"
        );
    }
}

#[test]
fn the_reference_reader_maps_crate_paths_to_modules() {
    let c = code(
        "use jailctl_host::{Cmd, tools};\nuse jailctl_host::platform::x;\nlet h = jailctl_sim::SimHost::open(d);\nlet s = jailctl_core::plan::plan(a);\nlet n = my_jailctl_core::x;\n",
    );
    let n: Vec<String> = named_in(Kind::Modules, &c).into_iter().collect();
    assert_eq!(n, ["host", "plan", "platform", "sim"]);
    let n: Vec<String> = named_in(
        Kind::Host,
        "use crate::platform::a; use crate::deadline::b;",
    )
    .into_iter()
    .collect();
    assert_eq!(n, ["host", "platform"]);
}
