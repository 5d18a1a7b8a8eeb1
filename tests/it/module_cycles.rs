//! No cycles between modules inside a crate. The layer check (`module_graph.rs`) orders the
//! top-level modules; this one looks inside them: for every module of every crate, the
//! sibling modules its files name (`super::x`, `crate::a::x`, a bare `x::` when `x` is a
//! sibling) must not name it back, directly or through other siblings. A reference between a
//! module and its own ancestor is not counted (a parent declares its children and they use
//! its items), and test files are skipped. A cycle fails with the files that make each arrow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: &[&str] = &[
    "src",
    "crates/core/src",
    "crates/host/src",
    "crates/sim/src",
];

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

/// A file's module path: `config/rules.rs` → `["config", "rules"]`, `config/mod.rs` →
/// `["config"]`, `lib.rs` → `[]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The code without comments and without an inline `#[cfg(test)] mod tests { ... }` (which
/// runs to the end of the file by the project's convention).
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

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier sequences of every path in `code` that starts at `start` offsets: the
/// segments of `a::b::c` up to the first that is not followed by `::`. `use a::{b, c::d}`
/// groups give `a::b` and `a::c::d`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // A path does not follow an identifier, a `::` or a `.` (`x.parse::<i64>()` calls a
        // method with a turbofish; it names no module called `parse`).
        if is_ident(chars[i])
            && (i == 0 || !(is_ident(chars[i - 1]) || matches!(chars[i - 1], ':' | '.')))
        {
            i = read_path(&chars, i, &[], &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Read a path starting at `i` with `prefix` before it; push every complete path into `out`.
fn read_path(chars: &[char], mut i: usize, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut segs = prefix.to_vec();
    loop {
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        segs.push(chars[start..i].iter().collect());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            if chars.get(i) == Some(&'{') {
                i += 1;
                loop {
                    while i < chars.len() && chars[i].is_whitespace() {
                        i += 1;
                    }
                    match chars.get(i) {
                        Some('}') => return i + 1,
                        Some(',') => i += 1,
                        Some(c) if is_ident(*c) => {
                            i = read_path(chars, i, &segs, out);
                        }
                        Some(_) => i += 1,
                        None => return i,
                    }
                }
            }
            if !chars.get(i).is_some_and(|c| is_ident(*c)) {
                out.push(segs);
                return i;
            }
        } else {
            if segs.len() > 1 {
                out.push(segs);
            }
            return i;
        }
    }
}

/// The module a path names, resolved against the modules of the crate, from the module
/// `from`; `None` when it names something outside the crate or no module.
fn resolve(
    from: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut base: Vec<String>;
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base = vec![];
            rest = &path[1..];
        }
        Some("self") => {
            base = from.to_vec();
            rest = &path[1..];
        }
        Some("super") => {
            base = from.to_vec();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => {
            // A bare path: a child of this module, or a sibling (through `use super::*`).
            let mut child = from.to_vec();
            child.push(path[0].clone());
            if modules.contains(&child) {
                base = from.to_vec();
            } else if !from.is_empty() {
                let mut sib = from[..from.len() - 1].to_vec();
                sib.push(path[0].clone());
                if !modules.contains(&sib) {
                    return None;
                }
                base = from[..from.len() - 1].to_vec();
            } else {
                return None;
            }
        }
    }
    // The longest prefix of `rest` that is a module.
    let mut best = None;
    for seg in rest {
        base.push(seg.clone());
        if modules.contains(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

type Arrows = BTreeMap<Vec<String>, BTreeMap<Vec<String>, BTreeSet<String>>>;

/// Sibling → sibling arrows of one crate, each with the files that make it.
fn arrows(dir: &Path) -> Arrows {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_path(f.strip_prefix(dir).unwrap()))
        .collect();
    let mut out = Arrows::new();
    for f in &files {
        let rel = f.strip_prefix(dir).unwrap();
        let name = rel.to_string_lossy();
        if name.ends_with("tests.rs") || name == "fixtures.rs" {
            continue;
        }
        let from = module_path(rel);
        for p in paths(&code(&std::fs::read_to_string(f).unwrap())) {
            let Some(to) = resolve(&from, &p, &modules) else {
                continue;
            };
            // Lift both ends to the children of their deepest common ancestor.
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue; // an ancestor or descendant
            }
            let a = from[..=common].to_vec();
            let b = to[..=common].to_vec();
            out.entry(a)
                .or_default()
                .entry(b)
                .or_default()
                .insert(name.to_string());
        }
    }
    out
}

/// Every cycle's members (strongly connected components of more than one module).
fn cycles(arrows: &Arrows) -> Vec<Vec<Vec<String>>> {
    let nodes: BTreeSet<&Vec<String>> = arrows
        .iter()
        .flat_map(|(a, to)| std::iter::once(a).chain(to.keys()))
        .collect();
    let reach = |from: &Vec<String>| -> BTreeSet<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for t in arrows.get(&n).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(t.clone()) {
                    todo.push(t.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) || !reaches[n].contains(*n) {
            continue;
        }
        let scc: Vec<Vec<String>> = nodes
            .iter()
            .filter(|m| reaches[n].contains(**m) && reaches[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        done.extend(scc.iter().cloned());
        out.push(scc);
    }
    out
}

#[test]
fn no_module_cycles_inside_a_crate() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut total = 0;
    for dir in CRATES {
        let a = arrows(&top.join(dir));
        total += a.values().map(BTreeMap::len).sum::<usize>();
        for scc in cycles(&a) {
            let mut lines = vec![format!(
                "{dir}: {}",
                scc.iter()
                    .map(|m| m.join("::"))
                    .collect::<Vec<_>>()
                    .join(" <-> ")
            )];
            for m in &scc {
                for (t, files) in &a[m] {
                    if scc.contains(t) {
                        lines.push(format!(
                            "  {} -> {} in {files:?}",
                            m.join("::"),
                            t.join("::")
                        ));
                    }
                }
            }
            found.push(lines.join("\n"));
        }
    }
    assert!(
        found.is_empty(),
        "module cycles (move the shared item into one of them or a module below both):\n{}",
        found.join("\n")
    );
    // The reader sees arrows at all: the crates had 85 between sibling modules when this
    // check was written; a reader that lost most of them would pass any tree.
    assert!(total > 60, "only {total} arrows seen");
}

#[test]
fn the_reader_resolves_super_crate_bare_and_grouped_paths() {
    let modules: BTreeSet<Vec<String>> = [
        vec![],
        vec!["config".to_string()],
        vec!["config".to_string(), "rules".to_string()],
        vec!["config".to_string(), "units".to_string()],
        vec!["plan".to_string()],
    ]
    .into_iter()
    .collect();
    let from = vec!["config".to_string(), "rules".to_string()];
    let got: Vec<Option<Vec<String>>> = paths(
        "use super::units::check; let x = crate::plan::Plan::new(); units::f(); use crate::{plan::{self, Step}, config::units}; let n = s.units::<u8>();",
    )
    .iter()
    .map(|p| resolve(&from, p, &modules))
    .collect();
    let s = |v: &[&str]| Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert_eq!(
        got,
        vec![
            s(&["config", "units"]),
            s(&["plan"]),
            s(&["config", "units"]),
            s(&["plan"]),
            s(&["plan"]),
            s(&["config", "units"]),
        ]
    );
    let mut a = Arrows::new();
    let m = |x: &str| vec![x.to_string()];
    a.entry(m("a"))
        .or_default()
        .entry(m("b"))
        .or_default()
        .insert("a.rs".into());
    a.entry(m("b"))
        .or_default()
        .entry(m("c"))
        .or_default()
        .insert("b.rs".into());
    assert!(cycles(&a).is_empty());
    a.entry(m("c"))
        .or_default()
        .entry(m("a"))
        .or_default()
        .insert("c.rs".into());
    assert_eq!(cycles(&a), vec![vec![m("a"), m("b"), m("c")]]);
}
