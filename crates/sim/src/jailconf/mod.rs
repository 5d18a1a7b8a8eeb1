//! A jail.conf(5) parser and resolver that behaves like FreeBSD 14's jail(8). The simulated
//! jail(8) reads its `-f` file with it, and the rest of jailctl may use it to check a rendered
//! jail.conf before it ever reaches a host. A parser that accepted what jail(8) refuses (or
//! read a value differently) would let jailctl ship a file that fails on the real host.
//!
//! It follows `usr.sbin/jail/` of the freebsd-src 14.x line, file by file:
//! - the lexer (`lex`) is `jaillex.l`: the same token classes (`STR`/`STR1`, `VAR`/`VAR1`:
//!   a piece glued to the one before it, with no blank between, continues the same string),
//!   the same escapes (`text2lval`), the same complaints (unterminated comment, string,
//!   variable) and flex's `yylineno` for line numbers;
//! - the grammar (`grammar`) is `jailparse.y`: jail blocks (nested ones name sub-jails
//!   `parent.child`), parameters with `=`, `+=` or a bare value, variables `$name = ...`,
//!   and `.include` handled as `special_param` does; the first syntax error is reported with
//!   `yyerror`'s text (the offending token as written, or "unexpected EOF");
//! - resolution (`resolve`, [`JailConf::resolve`]) is `config.c`'s `load_config` and
//!   `add_param`: the jail's name (or jid) first, wildcard blocks and the jail's own block
//!   in file order, `name`/`jid` immutable, variables that may not share a parameter's
//!   name, then variable substitution with its messages (not found, loop, array inline).
//!
//! Not modelled: yacc's error recovery (FreeBSD may print more than one syntax error for one
//! file; the simulator stops at the first), and the kernel's own checks of values.
//!
//! This file holds the public API (the parsed and resolved forms, the entry points) and the
//! items the three stages share.

use std::fmt;
use std::io;
use std::path::Path;

mod grammar;
mod lex;
mod resolve;
#[cfg(test)]
mod tests;

use grammar::{Parser, stopped};

/// Nesting limit of `.include` (`MAX_INCLUDE_DEPTH` in config.c).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// A parse or resolution failure, shown by jail(8) after `jail: `. It has no help: the
/// simulated jail(8) prints its message as jail(8) does, and nothing more.
#[derive(Clone, Debug, PartialEq, Eq, miette::Diagnostic)]
pub struct ConfError {
    /// The file the message names; empty for a message that names none.
    pub file: String,
    /// 1-based line, 0 when not tied to a line.
    pub line: usize,
    /// Set for errors that belong to one jail (variables, redefinitions).
    pub jail: Option<String>,
    /// The message. Several messages (jail(8) goes on after some errors) are joined by
    /// `\njail: `, each complete.
    pub message: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.jail, self.line) {
            (Some(j), _) => write!(f, "{j}: {}", self.message),
            (None, _) if self.file.is_empty() => write!(f, "{}", self.message),
            (None, _) if self.message == "unexpected EOF" => {
                write!(f, "{}: unexpected EOF", self.file)
            }
            (None, 0) => write!(f, "{}: {}", self.file, self.message),
            (None, l) => write!(f, "{} line {l}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfError {}

/// One string of a value as jailparse.y builds it (`struct cfstring`): the literal bytes, and
/// the variables to insert, each at a byte position of the literal.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct CfStr {
    s: Vec<u8>,
    vars: Vec<(String, usize)>,
}

/// How a statement sets its parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `name;`, `name = v;` or `name v;`
    Set,
    /// `name += v;`
    Append,
}

/// One parameter or variable statement (`struct cfparam` as the grammar makes it).
#[derive(Clone, Debug)]
struct Param {
    /// Parameter name, or the variable's name without `$`.
    name: String,
    var: bool,
    op: Op,
    values: Vec<CfStr>,
}

/// A jail block (`struct cfjail` before resolution); its index is jail(8)'s `seq`.
#[derive(Clone, Debug)]
struct Block {
    name: String,
    params: Vec<Param>,
}

/// A parsed configuration.
#[derive(Clone, Debug, Default)]
pub struct JailConf {
    blocks: Vec<Block>,
    /// The block of top-level statements (`global_jail`, named `*`), once there is one.
    global: Option<usize>,
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
            .is_some_and(|a| jailctl_host::jail_params::ALLOW.contains(&a))
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

fn open_error(file: &str, e: &io::Error) -> ConfError {
    ConfError {
        file: file.to_string(),
        line: 0,
        jail: None,
        message: crate::strerror(e),
    }
}

/// Parse `path` with a directory lister for `.include` globs.
pub fn parse_file_with(path: &Path, src: &Source<'_>) -> Result<JailConf, ConfError> {
    let file = path.display().to_string();
    let text = (src.read)(path).map_err(|e| open_error(&file, &e))?;
    let mut p = Parser::new(src);
    if let Err(e) = p.parse(&text, &file, None) {
        return Err(stopped(&p.errors, e));
    }
    p.finish()
}

/// Parse text that names `file` in its messages; `.include` is resolved against `file`.
pub fn parse_str(text: &str, file: &str) -> Result<JailConf, ConfError> {
    let read = |p: &Path| -> io::Result<String> { std::fs::read_to_string(p) };
    let src = Source {
        read: &read,
        list_dir: None,
    };
    let mut p = Parser::new(&src);
    if let Err(e) = p.parse(text, file, None) {
        return Err(stopped(&p.errors, e));
    }
    p.finish()
}
