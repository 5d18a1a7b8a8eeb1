//! pfctl(8)'s command line on the simulated host: its options, in the order pfctl applies
//! them (disable, flush, load, table command, enable, show), and its messages.

use super::PfState;
use super::grammar::{check_addr, parse};
use super::state::{prune, ruleset_mut, show_text};
use crate::Ctx;
use jailctl_host::Output;

const USAGE: &str = "usage: pfctl [-AdeghMmNnOPqRrvz] [-a anchor] [-D macro=value] [-F modifier]\n\t[-f file] [-i interface] [-K host | network]\n\t[-k host | network | gateway | label | id] [-o level] [-p device]\n\t[-s modifier] [-t table -T command [address ...]] [-x level]\n";

fn fail(msg: impl AsRef<str>) -> Output {
    Output::fail(1, format!("pfctl: {}\n", msg.as_ref()))
}

/// The options of one pfctl run.
#[derive(Default)]
struct Opts {
    anchor: Option<String>,
    file: Option<String>,
    flush: Option<String>,
    show: Option<String>,
    table: Option<String>,
    tcmd: Option<String>,
    enable: bool,
    disable: bool,
    quiet: bool,
    /// The addresses of a table command.
    operands: Vec<String>,
}

/// `pfctl` with the options jailctl and its tests use.
pub fn run(ctx: &mut Ctx<'_>, args: &[String], stdin: Option<&[u8]>) -> Output {
    let o = match parse_args(args) {
        Ok(o) => o,
        Err(out) => return out,
    };
    if !ctx.state.kld.loaded.contains("pf") {
        return fail("/dev/pf: No such file or directory");
    }
    if let Some(a) = &o.anchor
        && let Err(e) = check_anchor(a, o.show.is_some())
    {
        return fail(e);
    }
    let pf = &mut ctx.state.pf;
    let mut err = String::new();
    let mut out = String::new();
    if o.disable {
        if !pf.enabled {
            return fail("pf not enabled");
        }
        pf.enabled = false;
        err.push_str("pf disabled\n");
    }
    if let Some(what) = &o.flush
        && let Err(e) = flush(pf, what, o.anchor.as_deref(), &mut err)
    {
        return e;
    }
    if let Some(f) = &o.file
        && let Err(e) = load(ctx, f, o.anchor.as_ref(), stdin)
    {
        return e;
    }
    let pf = &mut ctx.state.pf;
    if let (Some(t), Some(cmd)) = (&o.table, &o.tcmd)
        && let Err(e) = table_cmd(pf, &o, t, cmd, &mut out, &mut err)
    {
        return e;
    }
    if o.enable {
        if pf.enabled {
            return fail("pf already enabled");
        }
        pf.enabled = true;
        err.push_str("pf enabled\n");
    }
    if let Some(what) = &o.show {
        match show_text(pf, what, o.anchor.as_deref()) {
            Ok(s) => out.push_str(&s),
            Err(e) => return fail(e),
        }
    }
    if o.quiet {
        err.clear();
    }
    Output {
        status: 0,
        stdout: out,
        stderr: err,
    }
}

/// The options, or pfctl's usage for a command line it refuses.
fn parse_args(args: &[String]) -> Result<Opts, Output> {
    let mut o = Opts::default();
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
            "-a" => val(&mut o.anchor),
            "-f" => val(&mut o.file),
            "-F" => val(&mut o.flush),
            "-s" => val(&mut o.show),
            "-t" => val(&mut o.table),
            "-T" => val(&mut o.tcmd),
            "-e" => {
                o.enable = true;
                true
            }
            "-d" => {
                o.disable = true;
                true
            }
            "-q" => {
                o.quiet = true;
                true
            }
            "-v" | "-n" => true,
            s if !s.starts_with('-') => {
                o.operands.push(s.to_string());
                true
            }
            _ => false,
        };
        if !ok {
            return Err(Output::fail(1, USAGE));
        }
    }
    if !o.operands.is_empty() && o.tcmd.is_none() {
        return Err(Output::fail(1, USAGE));
    }
    if o.tcmd.is_some() != o.table.is_some() {
        // pfctl.c: -T needs -t, and -t alone does nothing useful.
        return Err(Output::fail(1, USAGE));
    }
    Ok(o)
}

/// `-F all|nat|rules` of the main ruleset or of an anchor.
fn flush(
    pf: &mut PfState,
    what: &str,
    anchor: Option<&str>,
    err: &mut String,
) -> Result<(), Output> {
    let Some(rs) = ruleset_mut(pf, anchor) else {
        return Err(fail(format!("flush: {}", "Invalid argument")));
    };
    match what {
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
        _ => return Err(fail(format!("Unknown flush modifier '{what}'"))),
    }
    prune(pf);
    Ok(())
}

/// `-f FILE` (or `-f -`, standard input): the main ruleset or an anchor, replaced as a whole,
/// or nothing loaded when a line is refused.
fn load(
    ctx: &mut Ctx<'_>,
    f: &str,
    anchor: Option<&String>,
    stdin: Option<&[u8]>,
) -> Result<(), Output> {
    let (name, text) = if f == "-" {
        match stdin {
            Some(b) => ("stdin".to_string(), String::from_utf8_lossy(b).into_owned()),
            None => ("stdin".to_string(), String::new()),
        }
    } else {
        match std::fs::read_to_string(ctx.host_path(std::path::Path::new(f))) {
            Ok(t) => (f.to_string(), t),
            Err(e) => {
                return Err(fail(format!(
                    "cannot open the main config file!: {}",
                    crate::strerror(&e)
                )));
            }
        }
    };
    let parsed = match parse(&name, &text, anchor.is_none()) {
        Ok(p) => p,
        Err(msg) => {
            return Err(Output::fail(
                1,
                format!("{msg}pfctl: Syntax error in config file: pf rules not loaded\n"),
            ));
        }
    };
    let pf = &mut ctx.state.pf;
    match anchor {
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
    Ok(())
}

/// `-t TABLE -T add|delete|show|flush|kill [ADDRESS...]` on a table of the main ruleset.
fn table_cmd(
    pf: &mut PfState,
    o: &Opts,
    t: &str,
    cmd: &str,
    out: &mut String,
    err: &mut String,
) -> Result<(), Output> {
    if o.anchor.is_some() {
        // jailctl's table is the main ruleset's; an anchor's own tables are not modelled.
        return Err(fail("anchor tables are not modelled by the simulated host"));
    }
    let operands = &o.operands;
    match cmd {
        "add" => {
            if operands.is_empty() {
                return Err(Output::fail(1, USAGE));
            }
            for a in operands {
                if let Err(e) = check_addr(a) {
                    return Err(fail(e));
                }
            }
            let created = !pf.tables.contains_key(t);
            let set = pf.tables.entry(t.to_string()).or_default();
            let mut n = 0;
            for a in operands {
                if set.insert(a.clone()) {
                    n += 1;
                }
            }
            if !o.quiet {
                if created {
                    err.push_str("1 table created.\n");
                }
                err.push_str(&format!("{n}/{} addresses added.\n", operands.len()));
            }
        }
        "delete" => {
            if operands.is_empty() {
                return Err(Output::fail(1, USAGE));
            }
            let Some(set) = pf.tables.get_mut(t) else {
                return Err(fail("Table does not exist."));
            };
            let mut n = 0;
            for a in operands {
                if set.remove(a) {
                    n += 1;
                }
            }
            if !o.quiet {
                err.push_str(&format!("{n}/{} addresses deleted.\n", operands.len()));
            }
        }
        "show" => {
            let Some(set) = pf.tables.get(t) else {
                return Err(fail("Table does not exist."));
            };
            for a in set {
                out.push_str(&format!("   {a}\n"));
            }
        }
        "flush" => {
            let Some(set) = pf.tables.get_mut(t) else {
                return Err(fail("Table does not exist."));
            };
            let n = set.len();
            set.clear();
            if !o.quiet {
                err.push_str(&format!("{n} addresses deleted.\n"));
            }
        }
        "kill" => {
            if pf.tables.remove(t).is_none() {
                return Err(fail("Table does not exist."));
            }
            err.push_str("1 table deleted.\n");
        }
        other => return Err(fail(format!("Unknown table command '{other}'"))),
    }
    Ok(())
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
