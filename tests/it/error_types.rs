//! Errors one way, checked on the source: every error type derives `miette::Diagnostic`
//! (so its help and source chain reach the report the command line prints), and no function
//! that other modules can call returns `Result<_, String>` (an error as bare text has lost
//! its help, its source chain and its kind).
//!
//! An error type is a struct or enum named `…Error`, or one that derives `thiserror::Error`;
//! it passes with `miette::Diagnostic` among its derives or an `impl … Diagnostic for NAME`
//! in the same crate. A named field of an error type that holds an error (a type, or a
//! `Box` of one, named `…Error` or `Errno`) must be its source: named `source`, or marked
//! `#[source]`, `#[from]` or `#[diagnostic_source]`. A function counts when it is `pub`, `pub(crate)`, `pub(super)` or
//! `pub(in …)`, or is declared in a trait; private helpers of one module may keep a `String`
//! error. Test files and inline `#[cfg(test)] mod tests` are not read.
//!
//! In the simulated host's models of jail(8), pfctl(8) and zfs(8) ([`TOOL_TEXT`]) a `String`
//! error is allowed: there a failure of a simulated tool *is* text — the message FreeBSD's
//! tool would print — and the model's modules hand it on only to print it as the tool does.
//! The rest of the simulator (its settings, the kernel queries) is read like the other
//! crates.
//!
//! [`NOT_YET_TYPED`] lists what still returns `String` with the reason; it is a ratchet: an
//! entry that no longer does fails, so the list only shrinks.

use std::path::{Path, PathBuf};

/// Crates read for error types.
const CRATES: &[&str] = &[
    "src",
    "crates/core/src",
    "crates/host/src",
    "crates/sim/src",
];

/// The simulator's tool models, whose `String` errors are the tool's own error text.
const TOOL_TEXT: &[&str] = &[
    "crates/sim/src/jail/",
    "crates/sim/src/pf/",
    "crates/sim/src/zfs/",
];

/// Functions (`path::Trait::name` or `path::name`) that still return `Result<_, String>`:
/// none (`boot::JailDriver`, the last, returns `boot::DriverError`). Kept so an exception
/// has one place, with its reason.
const NOT_YET_TYPED: &[&str] = &[];

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

fn is_test_file(p: &Path) -> bool {
    let name = p.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs")
}

/// The text before an inline `#[cfg(test)]` + `mod tests {` (the project puts it last).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The text with comments and the contents of string and char literals blanked out (same
/// length, lines kept), so braces and parentheses can be counted.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let hashes = b[..i].iter().rev().take_while(|&&c| c == b'#').count();
            let raw = i > hashes && b[i - hashes - 1] == b'r';
            let mut j = i + 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if !raw && b[j] == b'\\' {
                    j += 2;
                    continue;
                }
                if b[j] == b'"' && b[j + 1..].iter().take(hashes).all(|&c| c == b'#') {
                    break;
                }
                j += 1;
            }
            blank(&mut out, i + 1, j.min(b.len()));
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\''), not a lifetime ('a).
            let lit = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|n| i + 2 + n)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                None
            };
            match lit {
                Some(end) => {
                    blank(&mut out, i + 1, end);
                    i = end + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Where the bracket opened at `open` closes.
fn closing(code: &[u8], open: usize) -> Option<usize> {
    let (o, c) = match code[open] {
        b'(' => (b'(', b')'),
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => (b'<', b'>'),
    };
    let mut depth = 0usize;
    for (k, &ch) in code.iter().enumerate().skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == c && !(c == b'>' && k > 0 && code[k - 1] == b'-') {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// An identifier starting at `i`.
fn ident(code: &str, i: usize) -> &str {
    let rest = &code[i..];
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Is `at` the start of a word (not the tail of a longer identifier)?
fn word_start(code: &str, at: usize) -> bool {
    at == 0
        || !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Does `ty` (a return type, spaces normalised) have `String` as its error type?
fn string_error(ty: &str) -> bool {
    let t: String = ty.split_whitespace().collect::<Vec<_>>().join(" ");
    let inner = t
        .strip_prefix("Result<")
        .or_else(|| t.strip_prefix("std::result::Result<"))
        .or_else(|| t.strip_prefix("core::result::Result<"))
        .and_then(|r| r.strip_suffix('>'));
    let Some(inner) = inner else { return false };
    // The last top-level argument.
    let mut depth = 0i32;
    let mut last = 0;
    for (k, c) in inner.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => last = k + 1,
            _ => {}
        }
    }
    let err = inner[last..].trim();
    err == "String" || err == "std::string::String"
}

/// The functions of one file that other modules can call and that return
/// `Result<_, String>`: `name` or `Trait::name`.
fn string_fns(text: &str) -> Vec<String> {
    let code = code_only(without_tests(text));
    let bytes = code.as_bytes();
    // The byte spans of trait bodies, with the trait's name.
    let mut traits: Vec<(usize, usize, String)> = Vec::new();
    for (at, _) in code.match_indices("trait ") {
        if !word_start(&code, at) {
            continue;
        }
        let name = ident(&code, at + 6).to_string();
        let Some(open) = code[at..].find(['{', ';']).map(|n| at + n) else {
            continue;
        };
        if bytes[open] == b'{'
            && let Some(close) = closing(bytes, open)
        {
            traits.push((open, close, name));
        }
    }
    let mut out = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        if !word_start(&code, at) {
            continue;
        }
        let name = ident(&code, at + 3);
        if name.is_empty() {
            continue;
        }
        let line_start = code[..at].rfind('\n').map_or(0, |n| n + 1);
        let before = code[line_start..at].trim();
        let in_trait = traits.iter().find(|(o, c, _)| *o < at && at < *c);
        let visible = before.starts_with("pub") || in_trait.is_some();
        if !visible {
            continue;
        }
        let Some(open) = code[at..].find('(').map(|n| at + n) else {
            continue;
        };
        let Some(close) = closing(bytes, open) else {
            continue;
        };
        let rest = &code[close + 1..];
        let Some(ret) = rest.trim_start().strip_prefix("->") else {
            continue;
        };
        let end = [ret.find('{'), ret.find(';'), ret.find(" where")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(ret.len());
        if string_error(&ret[..end]) {
            out.push(match in_trait {
                Some((_, _, t)) => format!("{t}::{name}"),
                None => name.to_string(),
            });
        }
    }
    out
}

/// The attributes just above byte `at` of `code` (comments blanked), nearest first.
fn attrs_before(code: &str, at: usize) -> String {
    let b = code.as_bytes();
    let mut end = at;
    let mut out = String::new();
    loop {
        let mut k = end;
        while k > 0 && b[k - 1].is_ascii_whitespace() {
            k -= 1;
        }
        if k == 0 || b[k - 1] != b']' {
            return out;
        }
        let mut depth = 0;
        let mut j = k;
        while j > 0 {
            j -= 1;
            match b[j] {
                b']' => depth += 1,
                b'[' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        if j == 0 || b[j - 1] != b'#' {
            return out;
        }
        out.push_str(&code[j - 1..k]);
        out.push(' ');
        end = j - 1;
    }
}

/// The error types of one file's text and whether each derives `Diagnostic`: `(name,
/// derives)`. Types implementing it by hand are checked against the whole crate by the
/// caller.
fn error_types(text: &str) -> Vec<(String, bool)> {
    let code = code_only(without_tests(text));
    let mut out = Vec::new();
    let mut line_start = 0;
    for l in code.split_inclusive('\n') {
        let start = line_start;
        line_start += l.len();
        let indent = l.len() - l.trim_start().len();
        let t = l.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let Some(rest) = t
            .strip_prefix("enum ")
            .or_else(|| t.strip_prefix("struct "))
        else {
            continue;
        };
        let name = ident(rest, 0);
        let attrs = attrs_before(&code, start + indent);
        let derives = |what: &str| {
            attrs
                .split("#[")
                .any(|a| a.trim_start().starts_with("derive(") && a.contains(what))
        };
        if !(name.ends_with("Error") || derives("thiserror::Error")) {
            continue;
        }
        out.push((name.to_string(), derives("Diagnostic")));
    }
    out
}

/// The fields of a `{ ... }` group (its text without the braces): `(attributes, name,
/// type)`, split at the commas outside brackets.
fn fields(group: &str) -> Vec<(String, String, String)> {
    let mut pieces = Vec::new();
    let (mut depth, mut from) = (0i32, 0);
    let b = group.as_bytes();
    for (k, &c) in b.iter().enumerate() {
        match c {
            b'(' | b'[' | b'{' | b'<' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'>' if k == 0 || b[k - 1] != b'-' => depth -= 1,
            b',' if depth == 0 => {
                pieces.push(&group[from..k]);
                from = k + 1;
            }
            _ => {}
        }
    }
    pieces.push(&group[from..]);
    let mut out = Vec::new();
    for piece in pieces {
        let mut p = piece.trim();
        let mut attrs = String::new();
        while p.starts_with("#[") {
            let Some(end) = closing(p.as_bytes(), 1) else {
                break;
            };
            attrs.push_str(&p[..=end]);
            p = p[end + 1..].trim_start();
        }
        let p = p.strip_prefix("pub ").unwrap_or(p);
        if let Some((name, ty)) = p.split_once(':')
            && !name.is_empty()
            && name.trim().chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            out.push((attrs, name.trim().to_string(), ty.trim().to_string()));
        }
    }
    out
}

/// The named fields of the error types of one file that hold an error but are not marked
/// as its source: `Type.field`.
fn unsourced_causes(text: &str) -> Vec<String> {
    let code = code_only(without_tests(text));
    let bytes = code.as_bytes();
    let names: Vec<String> = error_types(text).into_iter().map(|(n, _)| n).collect();
    let mut out = Vec::new();
    for kw in ["enum ", "struct "] {
        for (at, _) in code.match_indices(kw) {
            if !word_start(&code, at) {
                continue;
            }
            let name = ident(&code, at + kw.len());
            if !names.iter().any(|n| n == name) {
                continue;
            }
            let Some(open) = code[at..].find(['{', ';', '(']).map(|n| at + n) else {
                continue;
            };
            if bytes[open] != b'{' {
                continue;
            }
            let Some(close) = closing(bytes, open) else {
                continue;
            };
            // A struct's body is its one group; an enum's are its variants' `{ ... }`, the
            // braces outside brackets (an attribute's arguments may hold some).
            let mut groups = Vec::new();
            if kw == "struct " {
                groups.push(&code[open + 1..close]);
            } else {
                let mut depth = 0i32;
                let mut k = open + 1;
                while k < close {
                    match bytes[k] {
                        b'(' | b'[' => depth += 1,
                        b')' | b']' => depth -= 1,
                        b'{' if depth == 0 => {
                            let Some(end) = closing(bytes, k) else { break };
                            groups.push(&code[k + 1..end]);
                            k = end;
                        }
                        _ => {}
                    }
                    k += 1;
                }
            }
            for g in groups {
                for (attrs, field, ty) in fields(g) {
                    let inner = ty
                        .strip_prefix("Box<")
                        .and_then(|r| r.strip_suffix('>'))
                        .unwrap_or(&ty);
                    let last = inner.rsplit("::").next().unwrap_or(inner);
                    if !(last.ends_with("Error") || last == "Errno") || field == "source" {
                        continue;
                    }
                    let marked = ["#[source]", "#[from]", "#[diagnostic_source]"]
                        .iter()
                        .any(|m| attrs.contains(m));
                    if !marked {
                        out.push(format!("{name}.{field}"));
                    }
                }
            }
        }
    }
    out
}

/// `impl … Diagnostic for NAME` anywhere in `texts`.
fn implements_by_hand(texts: &[String], name: &str) -> bool {
    texts.iter().any(|t| {
        t.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("impl")
                && l.contains("Diagnostic for ")
                && l.split("Diagnostic for ")
                    .nth(1)
                    .is_some_and(|r| ident(r, 0) == name)
        })
    })
}

/// `(file, text)` of every non-test source file of `dir`.
fn sources(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join(dir), &mut files);
    files.sort();
    files
        .iter()
        .filter(|f| !is_test_file(f))
        .map(|f| {
            (
                f.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(f).unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_error_type_derives_diagnostic() {
    let mut seen = 0;
    let mut bad = Vec::new();
    for c in CRATES {
        let files = sources(c);
        let texts: Vec<String> = files.iter().map(|(_, t)| t.clone()).collect();
        for (file, text) in &files {
            for (name, derives) in error_types(text) {
                seen += 1;
                if !derives && !implements_by_hand(&texts, &name) {
                    bad.push(format!("{file}: {name}"));
                }
            }
        }
    }
    // The reader sees the code: there were 39 error types when this check came in.
    assert!(seen > 35, "only {seen} error types found");
    eprintln!("{seen} error types, {} without Diagnostic", bad.len());
    assert!(
        bad.is_empty(),
        "error types that do not derive miette::Diagnostic (add it, with the fix as \
         #[diagnostic(help(...))] and the cause as #[source]):\n{}",
        bad.join("\n")
    );
}

#[test]
fn a_field_holding_an_error_is_its_source() {
    let mut bad = Vec::new();
    for c in CRATES {
        for (file, text) in sources(c) {
            for f in unsourced_causes(&text) {
                bad.push(format!("{file}: {f}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "an error held in a field but not marked as the source (the chain stops there): \
         add #[source]:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_function_other_modules_call_returns_a_string_error() {
    let mut found = Vec::new();
    let mut read = 0;
    let mut tool_text = 0;
    for c in CRATES {
        for (file, text) in sources(c) {
            read += 1;
            for f in string_fns(&text) {
                if TOOL_TEXT.iter().any(|d| file.starts_with(d)) {
                    tool_text += 1;
                } else {
                    found.push(format!("{file}::{f}"));
                }
            }
        }
    }
    assert!(read > 100, "only {read} files read");
    let new: Vec<&String> = found
        .iter()
        .filter(|f| !NOT_YET_TYPED.contains(&f.as_str()))
        .collect();
    let done: Vec<&&str> = NOT_YET_TYPED
        .iter()
        .filter(|u| !found.iter().any(|f| f == **u))
        .collect();
    eprintln!(
        "{} functions return Result<_, String> across modules ({} listed as not yet typed); \
         {tool_text} more in the simulator's tool models",
        found.len(),
        NOT_YET_TYPED.len()
    );
    assert!(
        new.is_empty(),
        "return a typed error (thiserror + miette::Diagnostic) instead of a String:\n{}",
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        done.is_empty(),
        "typed now: remove from NOT_YET_TYPED in tests/it/error_types.rs:\n{}",
        done.iter().map(|s| **s).collect::<Vec<_>>().join("\n")
    );
}

/// The reader itself: what it must flag, it flags; what it must pass, it passes.
#[test]
fn the_reader_finds_string_errors_and_bare_error_types() {
    let text = r#"
/// Bare.
#[derive(Debug, thiserror::Error)]
pub enum BadError {
    #[error("x: {0}")]
    X(String),
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("y")]
#[diagnostic(help(
    "a fix, {}",
    if true { "long" } else { "short" }
))]
pub struct GoodError;

#[derive(Debug, thiserror::Error)]
#[error("refused")]
pub struct Refusal;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WrapError {
    #[error("a: {cause}")]
    Kept {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("b: {cause}")]
    Lost { cause: Box<ProcessError>, errno: nix::errno::Errno },
    #[error("c: {source}")]
    Named { source: ParseError, message: String },
}

pub fn parse(s: &str) -> Result<u32, String> {
    let msg = "fn fake() -> Result<(), String> {";
    Err(msg.into())
}

pub(crate) fn nested(
    a: &str,
    b: impl Fn(&str) -> Result<(), String>,
) -> Result<Result<(), String>, GoodError> {
    Ok(Ok(()))
}

pub(super) fn map() -> std::result::Result<BTreeMap<String, Vec<String>>, String> {
    todo!()
}

fn private() -> Result<(), String> {
    Ok(())
}

pub trait Driver {
    fn start(&self, name: &str) -> Result<(), String>;
    fn typed(&self) -> Result<(), GoodError>;
}

// pub fn commented() -> Result<(), String> {}
"#;
    assert_eq!(
        error_types(text),
        [
            ("BadError".to_string(), false),
            ("GoodError".to_string(), true),
            ("Refusal".to_string(), false),
            ("WrapError".to_string(), true)
        ]
    );
    assert_eq!(
        unsourced_causes(text),
        ["WrapError.cause", "WrapError.errno"]
    );
    let kept =
        fields("\n        path: PathBuf,\n        #[source]\n        cause: std::io::Error,\n");
    assert_eq!(
        kept[1],
        (
            "#[source]".to_string(),
            "cause".to_string(),
            "std::io::Error".to_string()
        )
    );
    assert_eq!(string_fns(text), ["parse", "map", "Driver::start"]);
    assert!(implements_by_hand(
        &["impl miette::Diagnostic for BadError {}".to_string()],
        "BadError"
    ));
    assert!(!implements_by_hand(
        &["impl miette::Diagnostic for BadErrors {}".to_string()],
        "BadError"
    ));
}
