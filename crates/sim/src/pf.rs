//! pfctl(8) on the simulated host: the packet filter's rulesets, anchors and tables, strictly
//! enough that jailctl's firewall steps fail and succeed as on FreeBSD. pf needs its kernel
//! module (`kldload pf`; without it `/dev/pf` does not exist), is enabled or not (`pfctl -e`,
//! `-d`, `-s info`), and holds:
//!
//! - the main ruleset, loaded from a file (`pfctl -f /etc/pf.conf`), in which the anchor lines
//!   (`nat-anchor "jailctl/*"`, `rdr-anchor ...`, `anchor ...`) decide whether rules in
//!   jailctl's anchors are ever evaluated;
//! - anchors, loaded from standard input (`pfctl -a jailctl/web -f -`), replaced as a whole,
//!   flushed with `-F all`; an anchor left with no rule disappears, as pf removes an empty
//!   ruleset;
//! - tables of the main ruleset (`-t T -T add|delete|show`).
//!
//! Rules are checked against the part of pf.conf(5)'s grammar jailctl emits and the main
//! rulesets of the tests use (FreeBSD's sbin/pfctl/parse.y: `natrule`, `pfrule`, `tabledef`,
//! `anchorrule`, and `check_rulestate`'s order of sections); anything else is a syntax error
//! reported as pfctl reports it (`stdin:LINE: syntax error`, then `pfctl: Syntax error in
//! config file: pf rules not loaded`, exit 1), and nothing is loaded. Rules are shown as
//! loaded, with whitespace normalised and single ports written `port = N` (pfctl prints the
//! operator); pfctl's own additions when printing (`flags S/SA`, `round-robin`, service names)
//! are left out.

use super::Ctx;
use jailctl_host::Output;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The packet filter's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfState {
    /// `pfctl -e` ran (and no `-d` since).
    #[serde(default)]
    pub enabled: bool,
    /// The main ruleset (`pfctl -f FILE` without `-a`).
    #[serde(default)]
    pub main: Ruleset,
    /// Anchors by path (`jailctl/web`), each with its rules; never empty.
    #[serde(default)]
    pub anchors: BTreeMap<String, Ruleset>,
    /// Tables of the main ruleset, with their addresses.
    #[serde(default)]
    pub tables: BTreeMap<String, BTreeSet<String>>,
}

/// One ruleset: translation rules (`nat`, `rdr`, `nat-anchor`, `rdr-anchor`) and filter
/// rules (`pass`, `block`, `anchor`), each normalised to one line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    pub nat: Vec<String>,
    pub rules: Vec<String>,
}

impl Ruleset {
    fn is_empty(&self) -> bool {
        self.nat.is_empty() && self.rules.is_empty()
    }
}

impl PfState {
    /// Whether the main ruleset evaluates the anchors under `prefix` (`jailctl`) for both
    /// translation and filtering: what `doctor` checks.
    pub fn evaluates(&self, prefix: &str) -> bool {
        let want = |kw: &str| format!("{kw} \"{prefix}/*\" all");
        self.main.nat.contains(&want("nat-anchor"))
            && self.main.nat.contains(&want("rdr-anchor"))
            && self.main.rules.contains(&want("anchor"))
    }

    /// The rdr rules pf applies to arriving packets right now: none unless pf is enabled,
    /// and only those of anchors the main ruleset reaches through an anchor line.
    pub fn effective_rdr(&self) -> Vec<String> {
        if !self.enabled {
            return vec![];
        }
        let mut out = vec![];
        for (path, rs) in &self.anchors {
            let reached = self.main.nat.iter().any(|l| {
                l.strip_prefix("rdr-anchor \"")
                    .and_then(|r| r.strip_suffix("\" all"))
                    .is_some_and(|pat| anchor_matches(pat, path))
            });
            if reached {
                out.extend(rs.nat.iter().filter(|r| r.starts_with("rdr ")).cloned());
            }
        }
        out
    }
}

/// Whether an anchor line's name (`jailctl/*` or `jailctl/web`) reaches anchor `path`.
fn anchor_matches(pat: &str, path: &str) -> bool {
    match pat.strip_suffix("/*") {
        Some(parent) => path
            .strip_prefix(parent)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|child| !child.is_empty() && !child.contains('/')),
        None => pat == path,
    }
}

const USAGE: &str = "usage: pfctl [-AdeghMmNnOPqRrvz] [-a anchor] [-D macro=value] [-F modifier]\n\t[-f file] [-i interface] [-K host | network]\n\t[-k host | network | gateway | label | id] [-o level] [-p device]\n\t[-s modifier] [-t table -T command [address ...]] [-x level]\n";

fn fail(msg: impl AsRef<str>) -> Output {
    Output::fail(1, format!("pfctl: {}\n", msg.as_ref()))
}

/// `pfctl` with the options jailctl and its tests use.
pub fn run(ctx: &mut Ctx<'_>, args: &[String], stdin: Option<&[u8]>) -> Output {
    let mut anchor: Option<String> = None;
    let mut file: Option<String> = None;
    let mut flush: Option<String> = None;
    let mut show: Option<String> = None;
    let mut table: Option<String> = None;
    let mut tcmd: Option<String> = None;
    let mut enable = false;
    let mut disable = false;
    let mut quiet = false;
    let mut operands: Vec<String> = vec![];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |slot: &mut Option<String>| match it.next() {
            Some(v) => {
                *slot = Some(v.clone());
                true
            }
            None => false,
        };
        let ok = match a.as_str() {
            "-a" => val(&mut anchor),
            "-f" => val(&mut file),
            "-F" => val(&mut flush),
            "-s" => val(&mut show),
            "-t" => val(&mut table),
            "-T" => val(&mut tcmd),
            "-e" => {
                enable = true;
                true
            }
            "-d" => {
                disable = true;
                true
            }
            "-q" => {
                quiet = true;
                true
            }
            "-v" | "-n" => true,
            s if !s.starts_with('-') => {
                operands.push(s.to_string());
                true
            }
            _ => false,
        };
        if !ok {
            return Output::fail(1, USAGE);
        }
    }
    if !operands.is_empty() && tcmd.is_none() {
        return Output::fail(1, USAGE);
    }
    if tcmd.is_some() != table.is_some() {
        // pfctl.c: -T needs -t, and -t alone does nothing useful.
        return Output::fail(1, USAGE);
    }
    if !ctx.state.kld.loaded.contains("pf") {
        return fail("/dev/pf: No such file or directory");
    }
    if let Some(a) = &anchor
        && let Err(e) = check_anchor(a, show.is_some())
    {
        return fail(e);
    }
    let pf = &mut ctx.state.pf;
    let mut err = String::new();
    let mut out = String::new();
    if disable {
        if !pf.enabled {
            return fail("pf not enabled");
        }
        pf.enabled = false;
        err.push_str("pf disabled\n");
    }
    if let Some(what) = &flush {
        let Some(rs) = ruleset_mut(pf, anchor.as_deref()) else {
            return fail(format!("flush: {}", "Invalid argument"));
        };
        match what.as_str() {
            "all" | "a" => {
                rs.nat.clear();
                rs.rules.clear();
                err.push_str("rules cleared\nnat cleared\n");
                if anchor.is_none() {
                    pf.tables.clear();
                    err.push_str("0 tables deleted.\n");
                }
            }
            "nat" | "n" => {
                rs.nat.clear();
                err.push_str("nat cleared\n");
            }
            "rules" | "r" => {
                rs.rules.clear();
                err.push_str("rules cleared\n");
            }
            _ => return fail(format!("Unknown flush modifier '{what}'")),
        }
        prune(pf);
    }
    if let Some(f) = &file {
        let (name, text) = if f == "-" {
            match stdin {
                Some(b) => ("stdin".to_string(), String::from_utf8_lossy(b).into_owned()),
                None => ("stdin".to_string(), String::new()),
            }
        } else {
            match std::fs::read_to_string(ctx.host_path(std::path::Path::new(f))) {
                Ok(t) => (f.clone(), t),
                Err(e) => {
                    return fail(format!(
                        "cannot open the main config file!: {}",
                        super::strerror(&e)
                    ));
                }
            }
        };
        let parsed = match parse(&name, &text, anchor.is_none()) {
            Ok(p) => p,
            Err(msg) => {
                return Output::fail(
                    1,
                    format!("{msg}pfctl: Syntax error in config file: pf rules not loaded\n"),
                );
            }
        };
        let pf = &mut ctx.state.pf;
        match &anchor {
            None => {
                pf.main = parsed.rules;
                for (t, addrs) in parsed.tables {
                    pf.tables.insert(t, addrs);
                }
            }
            Some(a) => {
                pf.anchors.insert(a.clone(), parsed.rules);
            }
        }
        prune(&mut ctx.state.pf);
    }
    let pf = &mut ctx.state.pf;
    if let (Some(t), Some(cmd)) = (&table, &tcmd) {
        if anchor.is_some() {
            // jailctl's table is the main ruleset's; an anchor's own tables are not modelled.
            return fail("anchor tables are not modelled by the simulated host");
        }
        match cmd.as_str() {
            "add" => {
                if operands.is_empty() {
                    return Output::fail(1, USAGE);
                }
                for a in &operands {
                    if let Err(e) = check_addr(a) {
                        return fail(e);
                    }
                }
                let created = !pf.tables.contains_key(t);
                let set = pf.tables.entry(t.clone()).or_default();
                let mut n = 0;
                for a in &operands {
                    if set.insert(a.clone()) {
                        n += 1;
                    }
                }
                if !quiet {
                    if created {
                        err.push_str("1 table created.\n");
                    }
                    err.push_str(&format!("{n}/{} addresses added.\n", operands.len()));
                }
            }
            "delete" => {
                if operands.is_empty() {
                    return Output::fail(1, USAGE);
                }
                let Some(set) = pf.tables.get_mut(t) else {
                    return fail("Table does not exist.");
                };
                let mut n = 0;
                for a in &operands {
                    if set.remove(a) {
                        n += 1;
                    }
                }
                if !quiet {
                    err.push_str(&format!("{n}/{} addresses deleted.\n", operands.len()));
                }
            }
            "show" => {
                let Some(set) = pf.tables.get(t) else {
                    return fail("Table does not exist.");
                };
                for a in set {
                    out.push_str(&format!("   {a}\n"));
                }
            }
            "flush" => {
                let Some(set) = pf.tables.get_mut(t) else {
                    return fail("Table does not exist.");
                };
                let n = set.len();
                set.clear();
                if !quiet {
                    err.push_str(&format!("{n} addresses deleted.\n"));
                }
            }
            "kill" => {
                if pf.tables.remove(t).is_none() {
                    return fail("Table does not exist.");
                }
                err.push_str("1 table deleted.\n");
            }
            other => return fail(format!("Unknown table command '{other}'")),
        }
    }
    if enable {
        if pf.enabled {
            return fail("pf already enabled");
        }
        pf.enabled = true;
        err.push_str("pf enabled\n");
    }
    if let Some(what) = &show {
        match show_text(pf, what, anchor.as_deref()) {
            Ok(s) => out.push_str(&s),
            Err(e) => return fail(e),
        }
    }
    if quiet {
        err.clear();
    }
    Output {
        status: 0,
        stdout: out,
        stderr: err,
    }
}

/// An anchor path as pfctl accepts it: components of letters, digits, `_`, `-`, `.`, with a
/// trailing `/*` only where rules are shown.
fn check_anchor(a: &str, showing: bool) -> Result<(), String> {
    let body = match a.strip_suffix("/*") {
        Some(b) if showing => b,
        _ => a,
    };
    // MAXPATHLEN for the whole path (pfvar.h's anchor path buffer).
    let ok = !body.is_empty()
        && body.len() < 1024
        && body.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('_')
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch))
        });
    if ok {
        Ok(())
    } else {
        Err(format!("anchor name '{a}' is invalid"))
    }
}

fn ruleset_mut<'a>(pf: &'a mut PfState, anchor: Option<&str>) -> Option<&'a mut Ruleset> {
    match anchor {
        None => Some(&mut pf.main),
        Some(a) => Some(pf.anchors.entry(a.to_string()).or_default()),
    }
}

/// pf frees an anchor whose rulesets are empty (pf_remove_if_empty_ruleset).
fn prune(pf: &mut PfState) {
    pf.anchors.retain(|_, rs| !rs.is_empty());
}

/// Whether ruleset `path` exists: an anchor with rules, or a parent of one (pf creates each
/// component of an anchor's path and frees them when they empty).
fn ruleset_exists(pf: &PfState, path: &str) -> bool {
    pf.anchors
        .keys()
        .any(|k| k == path || k.strip_prefix(path).is_some_and(|r| r.starts_with('/')))
}

fn show_text(pf: &PfState, what: &str, anchor: Option<&str>) -> Result<String, String> {
    // Listing an anchor that does not exist: the ioctl fails with EINVAL.
    if let Some(a) = anchor {
        let path = a.strip_suffix("/*").unwrap_or(a);
        if !ruleset_exists(pf, path) {
            let ioctl = if what.starts_with('A') {
                "DIOCGETRULESETS"
            } else {
                "DIOCGETRULES"
            };
            return Err(format!("{ioctl}: Invalid argument"));
        }
    }
    let pick = |rs: &Ruleset, nat: bool| -> Vec<String> {
        if nat {
            rs.nat.clone()
        } else {
            rs.rules.clone()
        }
    };
    match what {
        "info" | "i" => Ok(format!(
            "Status: {} for 0 days 00:00:00           Debug: Urgent\n\nState Table                          Total             Rate\n  current entries                        0               \n",
            if pf.enabled { "Enabled" } else { "Disabled" }
        )),
        "nat" | "n" | "rules" | "r" => {
            let nat = what.starts_with('n');
            let mut out = String::new();
            match anchor {
                None => {
                    for l in pick(&pf.main, nat) {
                        out.push_str(&l);
                        out.push('\n');
                    }
                }
                Some(a) if a.ends_with("/*") => {
                    // Each child anchor, as pfctl prints a recursive listing: the anchor
                    // line with its rules in braces.
                    let parent = &a[..a.len() - 2];
                    for (path, rs) in &pf.anchors {
                        if !anchor_matches(a, path) {
                            continue;
                        }
                        let child = &path[parent.len() + 1..];
                        let lines = pick(rs, nat);
                        if lines.is_empty() {
                            continue;
                        }
                        let kw = if nat { "nat-anchor" } else { "anchor" };
                        out.push_str(&format!("{kw} \"{child}\" all {{\n"));
                        for l in lines {
                            out.push_str(&format!("  {l}\n"));
                        }
                        out.push_str("}\n");
                    }
                }
                Some(a) => {
                    if let Some(rs) = pf.anchors.get(a) {
                        for l in pick(rs, nat) {
                            out.push_str(&l);
                            out.push('\n');
                        }
                    }
                }
            }
            Ok(out)
        }
        "Anchors" | "A" => {
            let parent = anchor.unwrap_or("");
            let mut names = BTreeSet::new();
            for path in pf.anchors.keys() {
                let rest = if parent.is_empty() {
                    Some(path.as_str())
                } else {
                    path.strip_prefix(parent).and_then(|r| r.strip_prefix('/'))
                };
                if let Some(r) = rest {
                    let first = r.split('/').next().unwrap_or(r);
                    names.insert(if parent.is_empty() {
                        first.to_string()
                    } else {
                        format!("{parent}/{first}")
                    });
                }
            }
            Ok(names.iter().map(|n| format!("  {n}\n")).collect())
        }
        "Tables" | "T" => Ok(pf.tables.keys().map(|t| format!("{t}\n")).collect()),
        _ => Err(format!("Unknown show modifier '{what}'")),
    }
}

/// What one file or stdin held.
struct Parsed {
    rules: Ruleset,
    tables: BTreeMap<String, BTreeSet<String>>,
}

/// Sections in the order `check_rulestate` requires (parse.y): tables and options, then
/// translation, then filtering.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Options,
    Translation,
    Filter,
}

/// Parse a ruleset. `main`: the main ruleset (tables may be defined; anchors only here in
/// the models jailctl's tests use). Errors are pfctl's lines, `NAME:LINE: message\n`.
fn parse(name: &str, text: &str, main: bool) -> Result<Parsed, String> {
    let mut p = Parsed {
        rules: Ruleset::default(),
        tables: BTreeMap::new(),
    };
    let mut errs = String::new();
    let mut section = Section::Options;
    // Continuation lines (`\` at the end) join the next one, as pf.conf's lexer does.
    let mut joined: Vec<(usize, String)> = vec![];
    let mut acc: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let (start, mut buf) = acc.take().unwrap_or((i + 1, String::new()));
        if let Some(l) = line.strip_suffix('\\') {
            buf.push_str(l);
            buf.push(' ');
            acc = Some((start, buf));
            continue;
        }
        buf.push_str(line);
        joined.push((start, buf));
    }
    if let Some(a) = acc {
        joined.push(a);
    }
    for (lineno, line) in joined {
        let toks = tokens(&line);
        if toks.is_empty() {
            continue;
        }
        let r = rule(&toks, main);
        match r {
            Ok(Parsed1::Table(t, addrs)) => {
                if section > Section::Options {
                    // Tables belong with the options (parse.y's check_rulestate).
                    errs.push_str(&format!(
                        "{name}:{lineno}: Rules must be in order: options, normalization, queueing, translation, filtering\n"
                    ));
                    continue;
                }
                p.tables.insert(t, addrs);
            }
            Ok(Parsed1::Nat(l)) => {
                if section > Section::Translation {
                    errs.push_str(&format!(
                        "{name}:{lineno}: Rules must be in order: options, normalization, queueing, translation, filtering\n"
                    ));
                    continue;
                }
                section = Section::Translation;
                p.rules.nat.push(l);
            }
            Ok(Parsed1::Filter(l)) => {
                section = Section::Filter;
                p.rules.rules.push(l);
            }
            Err(e) => errs.push_str(&format!("{name}:{lineno}: {e}\n")),
        }
    }
    if errs.is_empty() { Ok(p) } else { Err(errs) }
}

enum Parsed1 {
    Table(String, BTreeSet<String>),
    Nat(String),
    Filter(String),
}

/// Words, with `<table>`, `{`, `}`, `(`, `)`, `!`, `,` and `->` apart, and quoted strings
/// whole (quotes kept).
fn tokens(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                flush(&mut cur, &mut out);
                let mut q = String::from('"');
                for d in chars.by_ref() {
                    q.push(d);
                    if d == '"' {
                        break;
                    }
                }
                out.push(q);
            }
            ' ' | '\t' => flush(&mut cur, &mut out),
            '{' | '}' | '(' | ')' | '!' | ',' => {
                flush(&mut cur, &mut out);
                out.push(c.to_string());
            }
            '-' if chars.peek() == Some(&'>') => {
                flush(&mut cur, &mut out);
                chars.next();
                out.push("->".into());
            }
            _ => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// A cursor over one rule's tokens.
struct Cur<'a> {
    t: &'a [String],
    i: usize,
    out: Vec<String>,
}

impl Cur<'_> {
    fn peek(&self) -> Option<&str> {
        self.t.get(self.i).map(String::as_str)
    }
    fn eat(&mut self, w: &str) -> bool {
        if self.peek() == Some(w) {
            self.out.push(w.to_string());
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn next(&mut self) -> Result<String, String> {
        let w = self.t.get(self.i).cloned().ok_or("syntax error")?;
        self.i += 1;
        Ok(w)
    }
    fn done(&self) -> bool {
        self.i >= self.t.len()
    }
}

const SYNTAX: &str = "syntax error";

fn rule(t: &[String], main: bool) -> Result<Parsed1, String> {
    let mut c = Cur {
        t,
        i: 0,
        out: vec![],
    };
    let first = c.next()?;
    match first.as_str() {
        // tabledef: TABLE '<' STRING '>' table_opts (parse.y)
        "table" => {
            let name = c.next()?;
            let name = name
                .strip_prefix('<')
                .and_then(|n| n.strip_suffix('>'))
                .filter(|n| valid_name(n))
                .ok_or(SYNTAX)?
                .to_string();
            let mut addrs = BTreeSet::new();
            while let Some(w) = c.peek() {
                match w {
                    "persist" | "const" | "counters" => c.i += 1,
                    "{" => {
                        c.i += 1;
                        loop {
                            let a = c.next()?;
                            match a.as_str() {
                                "}" => break,
                                "," => {}
                                _ => {
                                    check_addr(&a)?;
                                    addrs.insert(a);
                                }
                            }
                        }
                    }
                    _ => return Err(SYNTAX.into()),
                }
            }
            Ok(Parsed1::Table(name, addrs))
        }
        // anchorrule: NATANCHOR / RDRANCHOR / ANCHOR string ... (parse.y)
        "nat-anchor" | "rdr-anchor" | "anchor" => {
            if !main {
                // jailctl's anchors hold no nested anchors; say so rather than model them.
                return Err("nested anchors are not modelled by the simulated host".into());
            }
            let n = c.next()?;
            let name = n
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .ok_or(SYNTAX)?;
            if !c.done() {
                return Err(SYNTAX.into());
            }
            let line = format!("{first} \"{name}\" all");
            Ok(if first == "anchor" {
                Parsed1::Filter(line)
            } else {
                Parsed1::Nat(line)
            })
        }
        // natrule: nataction interface af proto fromto ... redirpool pool_opts (parse.y);
        // nataction is `[no] nat|rdr [pass]`.
        "nat" | "rdr" => {
            c.out.push(first.clone());
            c.eat("pass");
            c.eat("log");
            on_iface(&mut c)?;
            let _ = c.eat("inet") || c.eat("inet6");
            let proto = proto(&mut c)?;
            fromto(&mut c, proto.is_some())?;
            // redirpool: '->' host [PORT rport]; a port only for rdr, only with tcp/udp.
            if !c.eat("->") {
                return Err(SYNTAX.into());
            }
            host(&mut c)?;
            if c.peek() == Some("port") {
                if first != "rdr" || proto.is_none() {
                    return Err("redirection port needs tcp or udp".into());
                }
                c.eat("port");
                let p = c.next()?;
                rport(&p)?;
                c.out.push(p);
            }
            if !c.done() {
                return Err(SYNTAX.into());
            }
            Ok(Parsed1::Nat(c.out.join(" ")))
        }
        // pfrule: action dir logquick interface af proto fromto filter_opts (parse.y).
        "pass" | "block" => {
            c.out.push(first.clone());
            if !(c.eat("in") || c.eat("out")) {
                // Both directions: valid, printed as such.
            }
            c.eat("log");
            c.eat("quick");
            if c.peek() == Some("on") {
                on_iface(&mut c)?;
            }
            let _ = c.eat("inet") || c.eat("inet6");
            let proto = proto(&mut c)?;
            if c.peek() == Some("all") {
                c.eat("all");
            } else if c.peek() == Some("from") {
                fromto(&mut c, proto.is_some())?;
            }
            if c.eat("keep") || c.eat("modulate") || c.eat("synproxy") {
                if !c.eat("state") {
                    return Err(SYNTAX.into());
                }
            } else {
                c.eat("no").then_some(()).map_or(Ok(()), |_| {
                    if c.eat("state") {
                        Ok(())
                    } else {
                        Err(SYNTAX.to_string())
                    }
                })?;
            }
            if !c.done() {
                return Err(SYNTAX.into());
            }
            Ok(Parsed1::Filter(c.out.join(" ")))
        }
        _ => Err(SYNTAX.into()),
    }
}

/// `on IFNAME`: an interface name, required for translation rules here.
fn on_iface(c: &mut Cur<'_>) -> Result<(), String> {
    if !c.eat("on") {
        return Err(SYNTAX.into());
    }
    let i = c.next()?;
    if !valid_ifname(&i) {
        return Err(SYNTAX.into());
    }
    c.out.push(i);
    Ok(())
}

/// `proto tcp|udp|icmp|{ tcp udp }`; the protocol when it is one that has ports.
fn proto(c: &mut Cur<'_>) -> Result<Option<String>, String> {
    if !c.eat("proto") {
        return Ok(None);
    }
    let p = c.next()?;
    match p.as_str() {
        "tcp" | "udp" => {
            c.out.push(p.clone());
            Ok(Some(p))
        }
        "icmp" | "icmp6" => {
            c.out.push(p);
            Ok(None)
        }
        _ => Err(format!("unknown protocol {p}")),
    }
}

/// `from HOST [port P] to HOST [port P]`; a port needs tcp or udp (parse.y:
/// "port only applies to tcp/udp").
fn fromto(c: &mut Cur<'_>, ports_ok: bool) -> Result<(), String> {
    for kw in ["from", "to"] {
        if !c.eat(kw) {
            return Err(SYNTAX.into());
        }
        host(c)?;
        if c.peek() == Some("port") {
            if !ports_ok {
                return Err("port only applies to tcp/udp".into());
            }
            c.i += 1;
            c.out.push("port".into());
            let p = c.next()?;
            let shown = if p == "=" {
                let n = c.next()?;
                port_num(&n)?;
                format!("= {n}")
            } else if let Some((a, b)) = p.split_once(':') {
                let (a, b) = (port_num(a)?, port_num(b)?);
                if a > b {
                    return Err(SYNTAX.into());
                }
                p.clone()
            } else {
                port_num(&p)?;
                format!("= {p}")
            };
            c.out.push(shown);
        }
    }
    Ok(())
}

/// A host: `any`, `self`, `! host`, an address with an optional prefix, `<table>` or
/// `(ifname)` (the interface's address, followed as it changes).
fn host(c: &mut Cur<'_>) -> Result<(), String> {
    if c.eat("!") {
        return host(c);
    }
    let w = c.next()?;
    match w.as_str() {
        "any" | "self" => c.out.push(w),
        "(" => {
            let i = c.next()?;
            if !valid_ifname(&i) || c.next()? != ")" {
                return Err(SYNTAX.into());
            }
            c.out.push(format!("({i})"));
        }
        _ if w.starts_with('<') => {
            let n = w
                .strip_prefix('<')
                .and_then(|n| n.strip_suffix('>'))
                .filter(|n| valid_name(n))
                .ok_or(SYNTAX)?;
            c.out.push(format!("<{n}>"));
        }
        _ => {
            check_addr(&w)?;
            c.out.push(w);
        }
    }
    Ok(())
}

fn port_num(s: &str) -> Result<u16, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(_) => Err(format!("illegal port value {s}")),
        Err(_) => Err(format!("illegal port value {s}")),
    }
}

/// The port of a redirection: `N`, `N:M` or `N:*` (parse.y's `rport`).
fn rport(s: &str) -> Result<(), String> {
    match s.split_once(':') {
        None => port_num(s).map(|_| ()),
        Some((a, "*")) => port_num(a).map(|_| ()),
        Some((a, b)) => {
            if port_num(a)? > port_num(b)? {
                return Err(SYNTAX.into());
            }
            Ok(())
        }
    }
}

fn check_addr(s: &str) -> Result<(), String> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let max = if a.parse::<std::net::Ipv4Addr>().is_ok() {
        32
    } else if a.parse::<std::net::Ipv6Addr>().is_ok() {
        128
    } else {
        return Err(format!("no IP address found for {s}"));
    };
    if let Some(l) = len
        && !l.parse::<u32>().is_ok_and(|l| l <= max)
    {
        return Err(format!("invalid netmask '{l}'"));
    }
    Ok(())
}

/// A table name (PF_TABLE_NAME_SIZE is 32 with the NUL).
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() < 32
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn valid_ifname(n: &str) -> bool {
    !n.is_empty()
        && n.len() < super::net::IFNAMSIZ
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Ruleset, String> {
        parse("stdin", text, false).map(|p| p.rules)
    }

    #[test]
    fn what_jailctl_emits_parses() {
        let r = p("nat on em0 inet from <jailctl_nat> to any -> (em0)\n\
                   rdr on em0 inet proto tcp from any to (em0) port 8080 -> 10.0.0.4 port 80\n\
                   rdr on em0 inet proto udp from any to 192.0.2.10 port 5000:5010 -> 10.0.0.4 port 6000:*\n\
                   pass in on em0 inet proto tcp from any to 10.0.0.4 port 80 keep state\n")
        .unwrap();
        assert_eq!(
            r.nat,
            [
                "nat on em0 inet from <jailctl_nat> to any -> (em0)",
                "rdr on em0 inet proto tcp from any to (em0) port = 8080 -> 10.0.0.4 port 80",
                "rdr on em0 inet proto udp from any to 192.0.2.10 port 5000:5010 -> 10.0.0.4 port 6000:*",
            ]
        );
        assert_eq!(
            r.rules,
            ["pass in on em0 inet proto tcp from any to 10.0.0.4 port = 80 keep state"]
        );
    }

    #[test]
    fn malformed_rules_are_refused_with_their_line() {
        for (text, want) in [
            (
                "rdr on em0 proto tcp from any to any port 80 10.0.0.4\n",
                "stdin:1: syntax error",
            ),
            (
                "nat on em0 from any to any -> 10.0.0.4 port 80\n",
                "stdin:1: redirection port needs tcp or udp",
            ),
            (
                "\npass in on em0 proto tcp from any to any port 70000\n",
                "stdin:2: illegal port value 70000",
            ),
            (
                "pass in on em0 from any to any port 80\n",
                "stdin:1: port only applies to tcp/udp",
            ),
            (
                "pass in all\nnat on em0 from any to any -> (em0)\n",
                "stdin:2: Rules must be in order: options, normalization, queueing, translation, filtering",
            ),
            (
                "rdr on em0 proto tcp from any to 10.0.0.300 port 80 -> 10.0.0.4\n",
                "stdin:1: no IP address found for 10.0.0.300",
            ),
        ] {
            let e = p(text).unwrap_err();
            assert_eq!(e.trim_end(), want, "{text}");
        }
    }

    /// pfctl as jailctl drives it: module, stdin loads, refusals, listings, flush, tables.
    #[test]
    fn pfctl_as_jailctl_drives_it() {
        let d = tempfile::tempdir().unwrap();
        let mut st = crate::SimState::default();
        let mut ctx = Ctx {
            state: &mut st,
            root: d.path(),
            hung: false,
            stdin: None,
            stdout: Vec::new(),
        };
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let out = run(&mut ctx, &a(&["-s", "info"]), None);
        assert_eq!(
            (out.status, out.stderr.as_str()),
            (1, "pfctl: /dev/pf: No such file or directory\n")
        );
        ctx.state.kld.loaded.insert("pf".into());
        assert!(
            run(&mut ctx, &a(&["-s", "info"]), None)
                .stdout
                .starts_with("Status: Disabled")
        );
        assert_eq!(run(&mut ctx, &a(&["-e"]), None).stderr, "pf enabled\n");
        assert_eq!(
            run(&mut ctx, &a(&["-e"]), None).stderr,
            "pfctl: pf already enabled\n"
        );
        // A malformed rule: pf's message and status, and nothing loaded.
        let bad = b"nat on em0 from any to any -> (em0)\nrdr on em0 proto tcp from any to any port 99999 -> 10.0.0.4\n";
        let out = run(&mut ctx, &a(&["-a", "jailctl/web", "-f", "-"]), Some(bad));
        assert_eq!(out.status, 1);
        assert_eq!(
            out.stderr,
            "stdin:2: illegal port value 99999\npfctl: Syntax error in config file: pf rules not loaded\n"
        );
        assert!(ctx.state.pf.anchors.is_empty());
        let out = run(&mut ctx, &a(&["-a", "jailctl/*", "-s", "nat"]), None);
        assert_eq!(out.stderr, "pfctl: DIOCGETRULES: Invalid argument\n");
        let good = b"nat on em0 inet from <jailctl_nat> to any -> (em0)\npass in on em0 inet proto tcp from any to 10.0.0.4 port 80 keep state\n";
        let out = run(&mut ctx, &a(&["-a", "jailctl/web", "-f", "-"]), Some(good));
        assert_eq!(out.status, 0, "{out:?}");
        assert_eq!(
            run(&mut ctx, &a(&["-a", "jailctl", "-s", "Anchors"]), None).stdout,
            "  jailctl/web\n"
        );
        assert_eq!(
            run(&mut ctx, &a(&["-a", "jailctl/web", "-s", "rules"]), None).stdout,
            "pass in on em0 inet proto tcp from any to 10.0.0.4 port = 80 keep state\n"
        );
        let out = run(
            &mut ctx,
            &a(&["-t", "jailctl_nat", "-T", "add", "10.0.0.4"]),
            None,
        );
        assert_eq!(out.stderr, "1 table created.\n1/1 addresses added.\n");
        let out = run(&mut ctx, &a(&["-t", "jailctl_nat", "-T", "show"]), None);
        assert_eq!(out.stdout, "   10.0.0.4\n");
        let out = run(
            &mut ctx,
            &a(&["-t", "jailctl_nat", "-T", "delete", "10.0.0.4"]),
            None,
        );
        assert_eq!(out.stderr, "1/1 addresses deleted.\n");
        let out = run(&mut ctx, &a(&["-a", "jailctl/web", "-F", "all"]), None);
        assert_eq!(out.status, 0);
        assert!(ctx.state.pf.anchors.is_empty(), "an empty anchor stays");
        let out = run(&mut ctx, &a(&["-t", "nope", "-T", "show"]), None);
        assert_eq!(out.stderr, "pfctl: Table does not exist.\n");
    }

    #[test]
    fn recursive_anchor_patterns() {
        assert!(anchor_matches("jailctl/*", "jailctl/web"));
        assert!(!anchor_matches("jailctl/*", "jailctl/web/x"));
        assert!(!anchor_matches("jailctl/*", "jailctlx/web"));
        assert!(anchor_matches("jailctl/web", "jailctl/web"));
    }
}
