//! A jail.conf(5) parser and resolver, written from the man page and the grammar jail(8)
//! accepts. The simulated jail(8) reads its `-f` file with it, and the rest of jailctl may use
//! it to check a rendered jail.conf before it ever reaches a host.
//!
//! Parsing keeps statements in file order (with `.include`s spliced in); [`JailConf::resolve`]
//! then applies, for one jail, every top-level statement, every matching wildcard block
//! (`*`, `foo.*`) and the jail's own blocks in that order, so later definitions override
//! earlier ones, and finally expands `$var` / `${var}` references.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Nesting limit of `.include`.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// A parse or resolution failure, shown by jail(8) after `jail: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfError {
    pub file: String,
    /// 1-based line, 0 when not tied to a line.
    pub line: usize,
    /// Set for errors that belong to one jail (variables).
    pub jail: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.jail, self.line) {
            (None, _) if self.message == "unexpected EOF" => {
                write!(f, "{}: unexpected EOF", self.file)
            }
            (Some(j), _) => write!(f, "{j}: {}", self.message),
            (None, 0) => write!(f, "{}: {}", self.file, self.message),
            (None, l) => write!(f, "{} line {l}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfError {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(String),
}

type Word = Vec<Piece>;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Semi,
    Comma,
    Eq,
    PlusEq,
    Word(Word),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `name;`, `name = v;` or `name v;`
    Set,
    /// `name += v;`
    Append,
}

/// One statement, with the block it sits in (`None` at top level).
#[derive(Clone, Debug)]
pub struct Stmt {
    pub block: Option<String>,
    /// Parameter name, or `$var` for a variable definition.
    pub name: String,
    pub op: Op,
    values: Vec<Word>,
    pub file: String,
    pub line: usize,
}

/// A parsed configuration.
#[derive(Clone, Debug, Default)]
pub struct JailConf {
    pub stmts: Vec<Stmt>,
    /// Non-wildcard jails in order of first appearance.
    pub jails: Vec<String>,
}

/// A parameter value after resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PVal {
    Bool(bool),
    List(Vec<String>),
}

/// The effective parameters of one jail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedJail {
    pub name: String,
    /// Parameters in the order they were first set (variables excluded).
    pub params: Vec<(String, PVal)>,
}

impl ResolvedJail {
    pub fn get(&self, name: &str) -> Option<&PVal> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
    /// List values (empty for an unset or boolean parameter).
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(PVal::List(l)) => l.iter().filter(|s| !s.is_empty()).cloned().collect(),
            _ => vec![],
        }
    }
    /// The value joined with commas, as jail(8) passes lists to the kernel.
    pub fn string(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            PVal::List(l) => Some(l.join(",")),
            PVal::Bool(b) => Some(b.to_string()),
        }
    }
    /// A boolean parameter: `Some(true)` for `name;` or `name = true`, `Some(false)` for
    /// `noname;` or `= false`.
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            PVal::Bool(b) => Some(*b),
            PVal::List(l) => match l.first().map(String::as_str) {
                Some("true") | Some("1") => Some(true),
                Some("false") | Some("0") => Some(false),
                _ => None,
            },
        }
    }
}

/// Boolean parameters, for the `noname` form.
pub fn is_bool_param(name: &str) -> bool {
    const B: &[&str] = &[
        "persist",
        "ip4.saddrsel",
        "ip6.saddrsel",
        "exec.clean",
        "mount.devfs",
        "mount.fdescfs",
        "mount.procfs",
        "ip_hostname",
        "dying",
    ];
    B.contains(&name)
        || name
            .strip_prefix("allow.")
            .is_some_and(|a| crate::host::sim::jail::ALLOW.contains(&a))
}

/// `noname` → (`name`, false) when `name` is boolean.
pub fn split_no(name: &str) -> Option<String> {
    let (head, last) = match name.rsplit_once('.') {
        Some((h, l)) => (format!("{h}."), l),
        None => (String::new(), name),
    };
    let base = format!("{head}{}", last.strip_prefix("no")?);
    is_bool_param(&base).then_some(base)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
    file: String,
}

impl Lexer<'_> {
    fn err(&self, line: usize, m: impl Into<String>) -> ConfError {
        ConfError {
            file: self.file.clone(),
            line,
            jail: None,
            message: m.into(),
        }
    }
    fn peek(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }
    /// Skip blanks, comments and line continuations.
    fn skip(&mut self) -> Result<(), ConfError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b'\n'), _) => {
                    self.line += 1;
                    self.i += 1;
                }
                (Some(b' ' | b'\t' | b'\r'), _) => self.i += 1,
                (Some(b'\\'), Some(b'\n')) => {
                    self.line += 1;
                    self.i += 2;
                }
                (Some(b'#'), _) | (Some(b'/'), Some(b'/')) => {
                    while self.peek(0).is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let start = self.line;
                    self.i += 2;
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (None, _) => return Err(self.err(start, "unterminated comment")),
                            (Some(b'*'), Some(b'/')) => {
                                self.i += 2;
                                break;
                            }
                            (Some(b'\n'), _) => {
                                self.line += 1;
                                self.i += 1;
                            }
                            _ => self.i += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn is_plain(c: u8) -> bool {
        !c.is_ascii_whitespace() && !b"{};,=\"'#$\\".contains(&c)
    }

    /// A backslash escape; `self.i` is at the backslash.
    fn escape(&mut self, out: &mut Vec<u8>) {
        self.i += 1;
        let Some(c) = self.peek(0) else { return };
        self.i += 1;
        match c {
            b'\n' => self.line += 1,
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek(0) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            self.i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match self.peek(0).and_then(|d| (d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            self.i += 1;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    out.push(b'x');
                } else {
                    out.push(v as u8);
                }
            }
            other => out.push(other),
        }
    }

    fn flush(lit: &mut Vec<u8>, w: &mut Word) {
        if !lit.is_empty() {
            w.push(Piece::Lit(String::from_utf8_lossy(lit).into_owned()));
            lit.clear();
        }
    }

    fn var(&mut self, w: &mut Word, lit: &mut Vec<u8>) -> Result<(), ConfError> {
        // self.i at '$'
        if self.peek(1) == Some(b'{') {
            let start = self.i + 2;
            let mut j = start;
            while j < self.s.len() && !b"{}\n".contains(&self.s[j]) {
                j += 1;
            }
            if self.s.get(j) != Some(&b'}') {
                return Err(self.err(self.line, "syntax error: unterminated ${"));
            }
            Self::flush(lit, w);
            w.push(Piece::Var(
                String::from_utf8_lossy(&self.s[start..j]).into_owned(),
            ));
            self.i = j + 1;
        } else {
            let start = self.i + 1;
            let mut j = start;
            while j < self.s.len()
                && (self.s[j].is_ascii_alphanumeric() || self.s[j] == b'_')
                && !(j == start && self.s[j].is_ascii_digit())
            {
                j += 1;
            }
            if j == start {
                lit.push(b'$');
                self.i += 1;
                return Ok(());
            }
            Self::flush(lit, w);
            w.push(Piece::Var(
                String::from_utf8_lossy(&self.s[start..j]).into_owned(),
            ));
            self.i = j;
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Option<(Tok, usize)>, ConfError> {
        self.skip()?;
        let line = self.line;
        let Some(c) = self.peek(0) else {
            return Ok(None);
        };
        let simple = match c {
            b'{' => Some(Tok::Open),
            b'}' => Some(Tok::Close),
            b';' => Some(Tok::Semi),
            b',' => Some(Tok::Comma),
            b'=' => Some(Tok::Eq),
            b'+' if self.peek(1) == Some(b'=') => {
                self.i += 1;
                Some(Tok::PlusEq)
            }
            _ => None,
        };
        if let Some(t) = simple {
            self.i += 1;
            return Ok(Some((t, line)));
        }
        let mut w = Word::new();
        let mut lit = Vec::new();
        loop {
            match self.peek(0) {
                Some(b'"') => {
                    let start = self.line;
                    self.i += 1;
                    loop {
                        match self.peek(0) {
                            None => return Err(self.err(start, "unterminated string")),
                            Some(b'"') => {
                                self.i += 1;
                                break;
                            }
                            Some(b'\\') => self.escape(&mut lit),
                            Some(b'$') => self.var(&mut w, &mut lit)?,
                            Some(b'\n') => {
                                self.line += 1;
                                lit.push(b'\n');
                                self.i += 1;
                            }
                            Some(ch) => {
                                lit.push(ch);
                                self.i += 1;
                            }
                        }
                    }
                    if w.is_empty() && lit.is_empty() {
                        // An empty string is still a value.
                        w.push(Piece::Lit(String::new()));
                    }
                }
                Some(b'\'') => {
                    let start = self.line;
                    self.i += 1;
                    loop {
                        match self.peek(0) {
                            None => return Err(self.err(start, "unterminated string")),
                            Some(b'\'') => {
                                self.i += 1;
                                break;
                            }
                            Some(b'\\') => self.escape(&mut lit),
                            Some(b'\n') => {
                                self.line += 1;
                                lit.push(b'\n');
                                self.i += 1;
                            }
                            Some(ch) => {
                                lit.push(ch);
                                self.i += 1;
                            }
                        }
                    }
                    if w.is_empty() && lit.is_empty() {
                        w.push(Piece::Lit(String::new()));
                    }
                }
                Some(b'$') => self.var(&mut w, &mut lit)?,
                Some(b'\\') if self.peek(1) != Some(b'\n') => self.escape(&mut lit),
                Some(b'+') if self.peek(1) == Some(b'=') => break,
                Some(ch) if Self::is_plain(ch) => {
                    lit.push(ch);
                    self.i += 1;
                }
                _ => break,
            }
        }
        Self::flush(&mut lit, &mut w);
        // Drop the empty placeholder if real pieces followed it.
        if w.len() > 1 {
            w.retain(|p| p != &Piece::Lit(String::new()));
        }
        Ok(Some((Tok::Word(w), line)))
    }
}

fn word_text(w: &Word) -> String {
    w.iter()
        .map(|p| match p {
            Piece::Lit(s) => s.clone(),
            Piece::Var(v) => format!("${{{v}}}"),
        })
        .collect()
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Open => "{".into(),
        Tok::Close => "}".into(),
        Tok::Semi => ";".into(),
        Tok::Comma => ",".into(),
        Tok::Eq => "=".into(),
        Tok::PlusEq => "+=".into(),
        Tok::Word(w) => word_text(w),
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Lists the names in a directory.
pub type ListDir<'a> = &'a dyn Fn(&Path) -> io::Result<Vec<String>>;

/// Where the parser gets files from.
pub struct Source<'a> {
    pub read: &'a dyn Fn(&Path) -> io::Result<String>,
    /// Names in a directory, for `.include` globs; `None` means globs match nothing.
    pub list_dir: Option<ListDir<'a>>,
}

/// Parse `path` and everything it includes. Globs in `.include` match nothing (use
/// [`parse_file_with`] to give a directory lister).
pub fn parse_file(
    path: &Path,
    read: &dyn Fn(&Path) -> io::Result<String>,
) -> Result<JailConf, ConfError> {
    parse_file_with(
        path,
        &Source {
            read,
            list_dir: None,
        },
    )
}

/// Parse `path` with a directory lister for `.include` globs.
pub fn parse_file_with(path: &Path, src: &Source<'_>) -> Result<JailConf, ConfError> {
    let mut conf = JailConf::default();
    let text = (src.read)(path).map_err(|e| ConfError {
        file: path.display().to_string(),
        line: 0,
        jail: None,
        message: crate::host::sim::jail::strerror(&e),
    })?;
    parse_into(&mut conf, &text, path, src, 0)?;
    Ok(conf)
}

/// Parse text that names `file` in its messages; `.include` is resolved against `file`.
pub fn parse_str(text: &str, file: &str) -> Result<JailConf, ConfError> {
    let read = |p: &Path| -> io::Result<String> { std::fs::read_to_string(p) };
    let mut conf = JailConf::default();
    parse_into(
        &mut conf,
        text,
        Path::new(file),
        &Source {
            read: &read,
            list_dir: None,
        },
        0,
    )?;
    Ok(conf)
}

fn expand_glob(pattern: &Path, src: &Source<'_>) -> Vec<PathBuf> {
    let Some(list) = src.list_dir else {
        return vec![];
    };
    let mut cur = vec![PathBuf::from("/")];
    for comp in pattern.components().skip(1) {
        let c = comp.as_os_str().to_string_lossy();
        let mut next = vec![];
        for d in &cur {
            if has_glob(&c) {
                let Ok(pat) = glob::Pattern::new(&c) else {
                    continue;
                };
                for n in list(d).unwrap_or_default() {
                    if pat.matches(&n) && !n.starts_with('.') {
                        next.push(d.join(n));
                    }
                }
            } else {
                next.push(d.join(&*c));
            }
        }
        cur = next;
    }
    cur.sort();
    cur
}

fn parse_into(
    conf: &mut JailConf,
    text: &str,
    path: &Path,
    src: &Source<'_>,
    depth: usize,
) -> Result<(), ConfError> {
    let file = path.display().to_string();
    let mut lx = Lexer {
        s: text.as_bytes(),
        i: 0,
        line: 1,
        file: file.clone(),
    };
    let mut toks = vec![];
    while let Some(t) = lx.next()? {
        toks.push(t);
    }
    let eof_line = lx.line;
    let syntax = |t: Option<&(Tok, usize)>| -> ConfError {
        match t {
            Some((t, l)) => ConfError {
                file: file.clone(),
                line: *l,
                jail: None,
                message: format!("{}: syntax error", tok_text(t)),
            },
            None => ConfError {
                file: file.clone(),
                line: eof_line,
                jail: None,
                message: "unexpected EOF".into(),
            },
        }
    };
    let mut k = 0;
    let mut block: Option<String> = None;
    while k < toks.len() {
        let (t, line) = &toks[k];
        match t {
            Tok::Semi => {
                k += 1;
                continue;
            }
            Tok::Close if block.is_some() => {
                block = None;
                k += 1;
                continue;
            }
            Tok::Word(w) => {
                let name = match w.as_slice() {
                    [Piece::Var(v)] => format!("${v}"),
                    _ if w.iter().all(|p| matches!(p, Piece::Lit(_))) => word_text(w),
                    _ => return Err(syntax(Some(&toks[k]))),
                };
                if name == ".include" {
                    let (Some((Tok::Word(pw), _)), Some((Tok::Semi, _))) =
                        (toks.get(k + 1), toks.get(k + 2))
                    else {
                        return Err(syntax(toks.get(k + 1).or(toks.get(k))));
                    };
                    if pw.iter().any(|p| matches!(p, Piece::Var(_))) {
                        return Err(ConfError {
                            file: file.clone(),
                            line: *line,
                            jail: None,
                            message: "include path may not contain variables".into(),
                        });
                    }
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        return Err(ConfError {
                            file: file.clone(),
                            line: *line,
                            jail: None,
                            message: "too many nested includes".into(),
                        });
                    }
                    let inc = word_text(pw);
                    let inc_path = if inc.starts_with('/') {
                        PathBuf::from(&inc)
                    } else {
                        path.parent().unwrap_or(Path::new("/")).join(&inc)
                    };
                    let files = if has_glob(&inc) {
                        expand_glob(&inc_path, src)
                    } else {
                        vec![inc_path]
                    };
                    for f in files {
                        let text = (src.read)(&f).map_err(|e| ConfError {
                            file: f.display().to_string(),
                            line: 0,
                            jail: None,
                            message: crate::host::sim::jail::strerror(&e),
                        })?;
                        let saved = block.clone();
                        parse_into(conf, &text, &f, src, depth + 1)?;
                        block = saved;
                    }
                    k += 3;
                    continue;
                }
                match toks.get(k + 1) {
                    Some((Tok::Open, _)) => {
                        if block.is_some() || name.starts_with('$') {
                            return Err(syntax(toks.get(k + 1)));
                        }
                        if !name.contains('*') && !conf.jails.contains(&name) {
                            conf.jails.push(name.clone());
                        }
                        block = Some(name);
                        k += 2;
                        continue;
                    }
                    Some((Tok::Semi, _)) => {
                        conf.stmts.push(Stmt {
                            block: block.clone(),
                            name,
                            op: Op::Set,
                            values: vec![],
                            file: file.clone(),
                            line: *line,
                        });
                        k += 2;
                        continue;
                    }
                    _ => {}
                }
                let (op, mut j) = match toks.get(k + 1) {
                    Some((Tok::Eq, _)) => (Op::Set, k + 2),
                    Some((Tok::PlusEq, _)) => (Op::Append, k + 2),
                    Some((Tok::Word(_), _)) => (Op::Set, k + 1),
                    other => return Err(syntax(other)),
                };
                let mut values = vec![];
                loop {
                    match toks.get(j) {
                        Some((Tok::Word(v), _)) => values.push(v.clone()),
                        other => return Err(syntax(other)),
                    }
                    match toks.get(j + 1) {
                        Some((Tok::Comma, _)) => j += 2,
                        Some((Tok::Semi, _)) => break,
                        other => return Err(syntax(other)),
                    }
                }
                conf.stmts.push(Stmt {
                    block: block.clone(),
                    name,
                    op,
                    values,
                    file: file.clone(),
                    line: *line,
                });
                k = j + 2;
            }
            _ => return Err(syntax(Some(&toks[k]))),
        }
    }
    if block.is_some() {
        return Err(syntax(None));
    }
    Ok(())
}

fn block_matches(block: &Option<String>, jail: &str) -> bool {
    match block.as_deref() {
        None | Some("*") => true,
        Some(b) => match b.strip_suffix(".*") {
            Some(prefix) => jail.starts_with(&format!("{prefix}.")),
            None => b == jail,
        },
    }
}

impl JailConf {
    /// The effective parameters of `name`: top-level and wildcard statements and the jail's own
    /// blocks in file order, then variables expanded. Works for jails not in the file too
    /// (they get only the wildcard parameters).
    pub fn resolve(&self, name: &str) -> Result<ResolvedJail, ConfError> {
        let mut raw: Vec<(String, Option<Vec<Word>>)> = vec![];
        let numeric = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
        let lit = |s: &str| vec![vec![Piece::Lit(s.to_string())]];
        raw.push((
            if numeric { "jid" } else { "name" }.to_string(),
            Some(lit(name)),
        ));
        for s in self.stmts.iter().filter(|s| block_matches(&s.block, name)) {
            let (pname, vals) = if s.values.is_empty() {
                match split_no(&s.name) {
                    Some(b) => (b, lit("false")),
                    None => (s.name.clone(), vec![]),
                }
            } else {
                (s.name.clone(), s.values.clone())
            };
            match raw.iter_mut().find(|(n, _)| *n == pname) {
                Some((_, v)) => match (s.op, v.as_mut()) {
                    (Op::Append, Some(list)) if !s.values.is_empty() => {
                        list.extend(vals);
                    }
                    _ => *v = Some(vals),
                },
                None => raw.push((pname, Some(vals))),
            }
        }
        let err = |m: String| ConfError {
            file: String::new(),
            line: 0,
            jail: Some(name.to_string()),
            message: m,
        };
        let mut params = vec![];
        for (pname, vals) in &raw {
            if pname.starts_with('$') {
                continue;
            }
            let v = match vals {
                None => continue,
                Some(v) if v.is_empty() => PVal::Bool(true),
                Some(v) => {
                    let mut out = vec![];
                    for w in v {
                        out.extend(expand(w, &raw, 0).map_err(err)?);
                    }
                    if out.len() == 1
                        && (out[0] == "false" || out[0] == "true")
                        && is_bool_param(pname)
                    {
                        PVal::Bool(out[0] == "true")
                    } else {
                        PVal::List(out)
                    }
                }
            };
            params.push((pname.clone(), v));
        }
        Ok(ResolvedJail {
            name: name.to_string(),
            params,
        })
    }
}

type Raw = Vec<(String, Option<Vec<Word>>)>;

fn expand(w: &Word, raw: &Raw, depth: usize) -> Result<Vec<String>, String> {
    if depth > 16 {
        return Err("variable expansion loop".into());
    }
    if let [Piece::Var(v)] = w.as_slice() {
        return lookup(v, raw, depth);
    }
    let mut s = String::new();
    for p in w {
        match p {
            Piece::Lit(l) => s += l,
            Piece::Var(v) => {
                let vals = lookup(v, raw, depth)?;
                if vals.len() > 1 {
                    return Err(format!("{}: array cannot be substituted inline", v));
                }
                s += vals.first().map(String::as_str).unwrap_or("");
            }
        }
    }
    Ok(vec![s])
}

fn lookup(v: &str, raw: &Raw, depth: usize) -> Result<Vec<String>, String> {
    let var = format!("${v}");
    let found = raw
        .iter()
        .find(|(n, _)| *n == var)
        .or_else(|| raw.iter().find(|(n, _)| n == v));
    match found {
        Some((_, Some(words))) if words.is_empty() => Ok(vec!["true".into()]),
        Some((_, Some(words))) => {
            let mut out = vec![];
            for w in words {
                out.extend(expand(w, raw, depth + 1)?);
            }
            Ok(out)
        }
        _ => Err(format!("variable \"{v}\" not found")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn list(v: &[&str]) -> PVal {
        PVal::List(v.iter().map(|s| s.to_string()).collect())
    }

    const MAN_EXAMPLE: &str = r#"$base = "/jails";
exec.start = "/bin/sh /etc/rc"; exec.stop = "/bin/sh /etc/rc.shutdown jail";
exec.clean; mount.devfs; path = "$base/$name";
web { host.hostname = "web.example"; ip4.addr = "em0|10.0.0.5/24"; ip4.addr += "lo1|127.0.1.5"; depend = db; }
"#;

    #[test]
    fn reference_example_resolves() {
        let c = parse_str(MAN_EXAMPLE, "/etc/jail.conf").unwrap();
        assert_eq!(c.jails, vec!["web"]);
        let r = c.resolve("web").unwrap();
        assert_eq!(r.get("path"), Some(&list(&["/jails/web"])));
        assert_eq!(r.get("exec.start"), Some(&list(&["/bin/sh /etc/rc"])));
        assert_eq!(r.get("exec.clean"), Some(&PVal::Bool(true)));
        assert_eq!(r.flag("mount.devfs"), Some(true));
        assert_eq!(r.list("ip4.addr"), vec!["em0|10.0.0.5/24", "lo1|127.0.1.5"]);
        assert_eq!(r.string("depend").as_deref(), Some("db"));
        assert_eq!(r.string("name").as_deref(), Some("web"));
        assert!(r.get("$base").is_none(), "variables are not parameters");
    }

    #[test]
    fn vnet_example_from_the_networking_section() {
        let text = r#"web {
  vnet; vnet.interface = "e0b_web";
  exec.prestart += "ifconfig epair0 create up";        # or: n=$(ifconfig epair create) ...
  exec.prestart += "ifconfig epair0a up name e0a_web"; exec.prestart += "ifconfig epair0b up name e0b_web";
  exec.prestart += "ifconfig bridge0 addm e0a_web";
  exec.poststop += "ifconfig e0a_web destroy";
  persist;
}
"#;
        let r = parse_str(text, "j.conf").unwrap().resolve("web").unwrap();
        assert_eq!(r.list("exec.prestart").len(), 4);
        assert_eq!(r.get("vnet"), Some(&PVal::Bool(true)));
        assert_eq!(r.list("exec.poststop"), vec!["ifconfig e0a_web destroy"]);
    }

    #[test]
    fn ordering_wildcards_and_noname() {
        let text = r#"
* { persist; host.domainname = "early"; }
web { host.domainname = "mine"; allow.nomount; }
db.* { enforce_statfs = 1; }
db.child { }
* { securelevel = 3; }
ip4.nosaddrsel;
"#;
        let c = parse_str(text, "f").unwrap();
        assert_eq!(c.jails, vec!["web", "db.child"]);
        let w = c.resolve("web").unwrap();
        assert_eq!(
            w.string("host.domainname").as_deref(),
            Some("mine"),
            "jail overrides an earlier wildcard"
        );
        assert_eq!(
            w.string("securelevel").as_deref(),
            Some("3"),
            "a later wildcard forces its value"
        );
        assert_eq!(w.flag("allow.mount"), Some(false));
        assert_eq!(w.flag("ip4.saddrsel"), Some(false));
        assert_eq!(w.get("enforce_statfs"), None);
        let d = c.resolve("db.child").unwrap();
        assert_eq!(d.string("enforce_statfs").as_deref(), Some("1"));
        let n = c.resolve("42").unwrap();
        assert_eq!(n.string("jid").as_deref(), Some("42"));
    }

    #[test]
    fn quoting_escapes_comments_and_continuation() {
        let text = "/* block\n comment */ web {\n  $v = \"x\";\n  a.b = 'no $v here\\t';\n  c = \"tab\\there \\x41\\101 $v ${v}\";\n  d = plain$v // trailing\n  ;\n  e = \"one \\\n two\";\n  f v1, v2 , \"v 3\";\n  g = \"\";\n  h = \"a\"'b'c;\n}\n";
        let c = parse_str(text, "f").unwrap();
        let r = c.resolve("web").unwrap();
        let m: BTreeMap<_, _> = r.params.iter().cloned().collect();
        assert_eq!(m["a.b"], list(&["no $v here\t"]));
        assert_eq!(m["c"], list(&["tab\there AA x x"]));
        assert_eq!(m["d"], list(&["plainx"]));
        assert_eq!(m["e"], list(&["one  two"]));
        assert_eq!(m["f"], list(&["v1", "v2", "v 3"]));
        assert_eq!(m["g"], list(&[""]));
        assert_eq!(m["h"], list(&["abc"]));
    }

    #[test]
    fn list_variable_inline_is_an_error_whole_is_spliced() {
        let text = "$addrs = 10.0.0.1, 10.0.0.2;\nweb { ip4.addr = $addrs; }\ndb { host.hostname = \"h-$addrs\"; }\n";
        let c = parse_str(text, "f").unwrap();
        assert_eq!(
            c.resolve("web").unwrap().list("ip4.addr"),
            vec!["10.0.0.1", "10.0.0.2"]
        );
        let e = c.resolve("db").unwrap_err();
        assert_eq!(
            e.to_string(),
            "db: addrs: array cannot be substituted inline"
        );
        let e = parse_str("web { path = \"$nope\"; }", "f")
            .unwrap()
            .resolve("web")
            .unwrap_err();
        assert_eq!(e.to_string(), "web: variable \"nope\" not found");
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let cases = [
            (
                "web {\n  persist\n}\n",
                3,
                "/etc/jail.conf line 3: }: syntax error",
            ),
            (
                "web { persist; }\n}\n",
                2,
                "/etc/jail.conf line 2: }: syntax error",
            ),
            (
                "a = 1;\nb = ;\n",
                2,
                "/etc/jail.conf line 2: ;: syntax error",
            ),
            (
                "a = 1;\n\nweb { b { } }\n",
                3,
                "/etc/jail.conf line 3: {: syntax error",
            ),
            (
                "a = \"open\n\n",
                1,
                "/etc/jail.conf line 1: unterminated string",
            ),
            (
                "x = 1;\n/* open\n",
                2,
                "/etc/jail.conf line 2: unterminated comment",
            ),
        ];
        for (text, line, msg) in cases {
            let e = parse_str(text, "/etc/jail.conf").unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert_eq!(e.to_string(), msg, "{text:?}");
        }
        let e = parse_str("web { persist;\n", "/etc/jail.conf").unwrap_err();
        assert_eq!(e.to_string(), "/etc/jail.conf: unexpected EOF");
        assert_eq!(e.line, 2);
    }

    fn files(map: &'static [(&'static str, &'static str)]) -> impl Fn(&Path) -> io::Result<String> {
        move |p: &Path| {
            map.iter()
                .find(|(n, _)| Path::new(n) == p)
                .map(|(_, t)| t.to_string())
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
    }

    #[test]
    fn includes_relative_glob_missing_and_depth() {
        static FS: &[(&str, &str)] = &[
            (
                "/etc/jail.conf",
                "persist;\n.include \"jail.conf.d/*.conf\";\n.include \"/etc/extra.conf\";\n.include \"/none/*.conf\";\n",
            ),
            ("/etc/jail.conf.d/a.conf", "a { path = /a; }\n"),
            ("/etc/jail.conf.d/b.conf", "b { path = /b; }\n"),
            ("/etc/extra.conf", "c { path = /c; }\n"),
            ("/etc/bad.conf", ".include \"missing.conf\";\n"),
            ("/etc/loop.conf", ".include \"loop.conf\";\n"),
        ];
        let read = files(FS);
        let list = |d: &Path| -> io::Result<Vec<String>> {
            let pre = format!("{}/", d.display());
            let v: Vec<String> = FS
                .iter()
                .filter_map(|(n, _)| {
                    n.strip_prefix(&pre)
                        .filter(|r| !r.contains('/'))
                        .map(str::to_string)
                })
                .collect();
            if v.is_empty() {
                Err(io::ErrorKind::NotFound.into())
            } else {
                Ok(v)
            }
        };
        let src = Source {
            read: &read,
            list_dir: Some(&list),
        };
        let c = parse_file_with(Path::new("/etc/jail.conf"), &src).unwrap();
        assert_eq!(c.jails, vec!["a", "b", "c"]);
        assert_eq!(c.resolve("b").unwrap().flag("persist"), Some(true));
        let e = parse_file_with(Path::new("/etc/bad.conf"), &src).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/missing.conf: No such file or directory"
        );
        let e = parse_file_with(Path::new("/etc/loop.conf"), &src).unwrap_err();
        assert!(e.to_string().ends_with("too many nested includes"), "{e}");
        let e = parse_file(Path::new("/etc/nothere.conf"), &read).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/nothere.conf: No such file or directory"
        );
    }
}
