//! The pipeline's layering, checked on the source: every `crate::MODULE` a top-level module
//! of `src/` names outside its tests must be on a lower layer than itself (ARCHITECTURE.md
//! draws the same layers). A reference that runs back up fails here with the file that
//! makes it, before it can grow into a cycle that ties the layers together.

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
    &["cli"],
];

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
/// `crate::{A::x, B, ...}` group.
fn named(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let ident = |from: usize| -> String {
        code[from..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i + "crate::".len();
        at = start;
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

/// module -> module it names -> the files that name it.
fn edges(src: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" || rel.ends_with("tests.rs") {
            continue;
        }
        for t in named(&code(&std::fs::read_to_string(&f).unwrap())) {
            if t != module && layer_of(&t).is_some() {
                out.entry(module.clone())
                    .or_default()
                    .entry(t)
                    .or_default()
                    .insert(format!("src/{}", rel.display()));
            }
        }
    }
    out
}

#[test]
fn every_module_names_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    modules.sort();
    for m in &modules {
        assert!(
            layer_of(m).is_some(),
            "src/{m} is not in the layer list of tests/it/module_graph.rs; add it to the layer it belongs to (and to ARCHITECTURE.md)"
        );
    }
    let e = edges(&src);
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
    for (from, to) in [("plan", "observe"), ("apply", "plan"), ("cli", "ops")] {
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
