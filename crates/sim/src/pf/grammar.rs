//! The part of pf.conf(5)'s grammar jailctl emits and the tests' main rulesets use, after
//! FreeBSD's sbin/pfctl/parse.y: lines and tokens, the order of sections, and one function
//! per rule kind (`tabledef`, `anchorrule`, `natrule`, `pfrule`) with their hosts and ports.

use super::Ruleset;
use std::collections::{BTreeMap, BTreeSet};

/// What one file or stdin held.
pub(super) struct Parsed {
    pub(super) rules: Ruleset,
    pub(super) tables: BTreeMap<String, BTreeSet<String>>,
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
pub(super) fn parse(name: &str, text: &str, main: bool) -> Result<Parsed, String> {
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
        "table" => table_rule(&mut c),
        "nat-anchor" | "rdr-anchor" | "anchor" => anchor_rule(&mut c, &first, main),
        "nat" | "rdr" => nat_rule(&mut c, &first),
        "pass" | "block" => filter_rule(&mut c, &first),
        _ => Err(SYNTAX.into()),
    }
}

/// tabledef: TABLE '<' STRING '>' table_opts (parse.y)
fn table_rule(c: &mut Cur<'_>) -> Result<Parsed1, String> {
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

/// anchorrule: NATANCHOR / RDRANCHOR / ANCHOR string ... (parse.y)
fn anchor_rule(c: &mut Cur<'_>, first: &str, main: bool) -> Result<Parsed1, String> {
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

/// natrule: nataction interface af proto fromto ... redirpool pool_opts (parse.y);
/// nataction is `[no] nat|rdr [pass]`.
fn nat_rule(c: &mut Cur<'_>, first: &str) -> Result<Parsed1, String> {
    c.out.push(first.to_string());
    c.eat("pass");
    c.eat("log");
    on_iface(c)?;
    let _ = c.eat("inet") || c.eat("inet6");
    let proto = proto(c)?;
    fromto(c, proto.is_some())?;
    // redirpool: '->' host [PORT rport]; a port only for rdr, only with tcp/udp.
    if !c.eat("->") {
        return Err(SYNTAX.into());
    }
    host(c)?;
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

/// pfrule: action dir logquick interface af proto fromto filter_opts (parse.y).
fn filter_rule(c: &mut Cur<'_>, first: &str) -> Result<Parsed1, String> {
    c.out.push(first.to_string());
    if !(c.eat("in") || c.eat("out")) {
        // Both directions: valid, printed as such.
    }
    c.eat("log");
    c.eat("quick");
    if c.peek() == Some("on") {
        on_iface(c)?;
    }
    let _ = c.eat("inet") || c.eat("inet6");
    let proto = proto(c)?;
    if c.peek() == Some("all") {
        c.eat("all");
    } else if c.peek() == Some("from") {
        fromto(c, proto.is_some())?;
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

pub(super) fn check_addr(s: &str) -> Result<(), String> {
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
        && n.len() < crate::net::IFNAMSIZ
        && n.starts_with(|c: char| c.is_ascii_alphabetic())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c))
}
