//! The jail.conf grammar: `jailparse.y` of freebsd-src 14.x `usr.sbin/jail/` over the lexer's
//! tokens, with config.c's `include_config` for `.include`. It builds the blocks and
//! statements of a [`JailConf`]; resolution happens later, per jail (`resolve`).

use std::path::{Path, PathBuf};

use super::lex::{Lexed, Lexer, Tok};
use super::resolve::wild_jail_name;
use super::{Block, CfStr, ConfError, JailConf, MAX_INCLUDE_DEPTH, Op, Param, Source, open_error};

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn expand_glob(pattern: &Path, src: &Source<'_>) -> Vec<PathBuf> {
    let Some(list) = src.list_dir else {
        return vec![];
    };
    let mut cur = vec![PathBuf::from(if pattern.is_absolute() { "/" } else { "" })];
    for comp in pattern.components() {
        let c = comp.as_os_str().to_string_lossy();
        if c == "/" {
            continue;
        }
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

/// jailparse.y's grammar over the tokens of one file, with `include_config` recursing into
/// included files. `current` is the grammar's `current_jail` (an index in `conf.blocks`).
pub(super) struct Parser<'s, 'r> {
    src: &'s Source<'r>,
    conf: JailConf,
    /// The include depth (config.c's static `depth`).
    depth: usize,
    /// Complaints that do not stop the parse (lexer errors, `.include` with a variable);
    /// jail(8) exits 1 after the parse when there are any.
    pub(super) errors: Vec<String>,
}

/// A parse that stopped: its message, after the complaints made before it.
pub(super) fn stopped(errors: &[String], last: ConfError) -> ConfError {
    if errors.is_empty() {
        return last;
    }
    let mut all = errors.join("\njail: ");
    all.push_str("\njail: ");
    all.push_str(&last.to_string());
    ConfError {
        file: String::new(),
        line: 0,
        jail: None,
        message: all,
    }
}

impl<'s, 'r> Parser<'s, 'r> {
    pub(super) fn new(src: &'s Source<'r>) -> Self {
        Parser {
            src,
            conf: JailConf::default(),
            depth: 0,
            errors: vec![],
        }
    }

    pub(super) fn finish(self) -> Result<JailConf, ConfError> {
        match self.errors.split_last() {
            None => Ok(self.conf),
            Some((last, before)) => {
                let mut msg = before.join("\njail: ");
                if !msg.is_empty() {
                    msg.push_str("\njail: ");
                }
                msg.push_str(last);
                Err(ConfError {
                    file: String::new(),
                    line: 0,
                    jail: None,
                    message: msg,
                })
            }
        }
    }

    fn add_jail(&mut self, name: String) -> usize {
        if !wild_jail_name(&name) && !self.conf.jails.contains(&name) {
            self.conf.jails.push(name.clone());
        }
        self.conf.blocks.push(Block {
            name,
            params: vec![],
        });
        self.conf.blocks.len() - 1
    }

    /// One file: `conf` of the grammar, statements going to `current` (or the global jail).
    pub(super) fn parse(
        &mut self,
        text: &str,
        file: &str,
        current: Option<usize>,
    ) -> Result<(), ConfError> {
        let mut lx = Lexer {
            s: text.as_bytes(),
            i: 0,
            line: 1,
            instr: false,
            dq: false,
            file: file.to_string(),
            errors: vec![],
        };
        let mut toks = vec![];
        let mut k = 0;
        // Complaints of the lexer come out as it reads, before a syntax error it reaches
        // (the caller puts them in front).
        self.conf_list(&mut lx, &mut toks, &mut k, current, file, false)
    }

    /// The next token (read on demand, as yacc asks the lexer), keeping the lexer's
    /// complaints in order with the rest.
    fn peek<'t>(
        &mut self,
        lx: &mut Lexer<'_>,
        toks: &'t mut Vec<Lexed>,
        k: usize,
    ) -> Option<&'t Lexed> {
        while toks.len() <= k {
            let t = lx.next();
            self.errors.append(&mut lx.errors);
            match t {
                Some(t) => toks.push(t),
                None => return None,
            }
        }
        toks.get(k)
    }

    fn syntax(&self, lx: &Lexer<'_>, t: Option<&Lexed>) -> ConfError {
        match t {
            Some(t) => ConfError {
                file: lx.file.clone(),
                line: t.line,
                jail: None,
                message: format!("{}: syntax error", t.text),
            },
            None => ConfError {
                file: lx.file.clone(),
                line: lx.line,
                jail: None,
                message: "unexpected EOF".into(),
            },
        }
    }

    /// `conf`: statements and jail blocks until the end of the file, or until the `}` that
    /// closes the block being read (`in_block`), which is left unread.
    fn conf_list(
        &mut self,
        lx: &mut Lexer<'_>,
        toks: &mut Vec<Lexed>,
        k: &mut usize,
        current: Option<usize>,
        file: &str,
        in_block: bool,
    ) -> Result<(), ConfError> {
        loop {
            let Some(t) = self.peek(lx, toks, *k).cloned() else {
                return if in_block {
                    Err(self.syntax(lx, None))
                } else {
                    Ok(())
                };
            };
            match &t.tok {
                Tok::Ch(b';') => *k += 1,
                Tok::Ch(b'}') if in_block => return Ok(()),
                Tok::Str { s, cont: false } => {
                    let next = self.peek(lx, toks, *k + 1).cloned();
                    if matches!(next.as_ref().map(|n| &n.tok), Some(Tok::Ch(b'{'))) {
                        // jail_name: a block inside a block names a sub-jail.
                        let own = String::from_utf8_lossy(s).into_owned();
                        let name = match current {
                            Some(c) => format!("{}.{own}", self.conf.blocks[c].name),
                            None => own,
                        };
                        let j = self.add_jail(name);
                        *k += 2;
                        self.conf_list(lx, toks, k, Some(j), file, true)?;
                        *k += 1;
                        continue;
                    }
                    let name = String::from_utf8_lossy(s).into_owned();
                    *k += 1;
                    self.param(lx, toks, k, name, false, current, file)?;
                }
                Tok::Var { name, cont: false } => {
                    *k += 1;
                    self.param(lx, toks, k, name.clone(), true, current, file)?;
                }
                _ => return Err(self.syntax(lx, Some(&t))),
            }
        }
    }

    /// `param ';'` after its name.
    #[allow(clippy::too_many_arguments)]
    fn param(
        &mut self,
        lx: &mut Lexer<'_>,
        toks: &mut Vec<Lexed>,
        k: &mut usize,
        name: String,
        var: bool,
        current: Option<usize>,
        file: &str,
    ) -> Result<(), ConfError> {
        let t = self.peek(lx, toks, *k).cloned();
        let (op, nameval) = match t.as_ref().map(|t| &t.tok) {
            Some(Tok::Ch(b';')) => (Op::Set, false),
            Some(Tok::Ch(b'=')) => {
                *k += 1;
                (Op::Set, false)
            }
            Some(Tok::PlEq) => {
                *k += 1;
                (Op::Append, false)
            }
            Some(Tok::Str { cont: false, .. }) | Some(Tok::Var { cont: false, .. }) => {
                (Op::Set, true)
            }
            _ => return Err(self.syntax(lx, t.as_ref())),
        };
        let mut values = vec![];
        if !matches!(t.as_ref().map(|t| &t.tok), Some(Tok::Ch(b';'))) {
            loop {
                values.push(self.string(lx, toks, k)?);
                let t = self.peek(lx, toks, *k).cloned();
                match t.as_ref().map(|t| &t.tok) {
                    Some(Tok::Ch(b',')) => *k += 1,
                    Some(Tok::Ch(b';')) => break,
                    _ => return Err(self.syntax(lx, t.as_ref())),
                }
            }
        }
        // The ';' (read, so the line is the one it is on).
        let semi_line = self.peek(lx, toks, *k).map_or(lx.line, |t| t.line);
        *k += 1;
        if nameval && !var && name == ".include" {
            // jailparse.y's special_param: each value is a file (or glob) to read here.
            for v in &values {
                if v.vars.is_empty() {
                    let f = String::from_utf8_lossy(&v.s).into_owned();
                    self.include(&f, file, current)?;
                } else {
                    self.errors.push(format!(
                        "{file} line {semi_line}: variables not permitted in '.include' filename"
                    ));
                }
            }
            return Ok(());
        }
        let j = match current {
            Some(c) => c,
            None => match self.conf.global {
                Some(g) => g,
                None => {
                    let g = self.add_jail("*".into());
                    self.conf.global = Some(g);
                    g
                }
            },
        };
        self.conf.blocks[j].params.push(Param {
            name,
            var,
            op,
            values,
        });
        Ok(())
    }

    /// `string`: a first piece, then the pieces glued to it.
    fn string(
        &mut self,
        lx: &mut Lexer<'_>,
        toks: &mut Vec<Lexed>,
        k: &mut usize,
    ) -> Result<CfStr, ConfError> {
        let mut out = CfStr::default();
        let mut first = true;
        loop {
            let t = self.peek(lx, toks, *k).cloned();
            match t.as_ref().map(|t| &t.tok) {
                Some(Tok::Str { s, cont }) if *cont != first => out.s.extend_from_slice(s),
                Some(Tok::Var { name, cont }) if *cont != first => {
                    out.vars.push((name.clone(), out.s.len()))
                }
                _ if first => return Err(self.syntax(lx, t.as_ref())),
                _ => return Ok(out),
            }
            first = false;
            *k += 1;
        }
    }

    /// config.c's `include_config`: a path relative to the including file's directory,
    /// globs that may match nothing, a plain name that must exist.
    fn include(
        &mut self,
        name: &str,
        outer: &str,
        current: Option<usize>,
    ) -> Result<(), ConfError> {
        self.depth += 1;
        if self.depth > MAX_INCLUDE_DEPTH {
            return Err(ConfError {
                file: String::new(),
                line: 0,
                jail: None,
                message: "maximum include depth exceeded".into(),
            });
        }
        let full = match (name.starts_with('/'), outer.rfind('/')) {
            (false, Some(slash)) => format!("{}{name}", &outer[..=slash]),
            _ => name.to_string(),
        };
        let files = if has_glob(&full) {
            expand_glob(Path::new(&full), self.src)
        } else {
            vec![PathBuf::from(&full)]
        };
        for f in files {
            let fname = f.display().to_string();
            let text = (self.src.read)(&f).map_err(|e| open_error(&fname, &e))?;
            self.parse(&text, &fname, current)?;
        }
        self.depth -= 1;
        Ok(())
    }
}
