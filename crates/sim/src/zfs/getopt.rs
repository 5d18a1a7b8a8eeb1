//! The command line of the simulated zfs: getopt(3)-style option parsing, the usage text each
//! subcommand prints with exit status 2, and `-o PROP=VALUE` lists.
//!
//! Why it exists: a malformed command must fail as zfs(8) does (the `invalid option`,
//! `missing argument` and usage messages), the same way for every subcommand.

use super::props::{PKind, PROPS, check_assignment};
use super::{DsKind, Fail, err};
use std::collections::BTreeMap;

/// Options parsed by [`getopt`]: flag → values (empty string for flags without argument).
pub(super) struct Opts {
    pub(super) flags: Vec<(char, String)>,
    pub(super) rest: Vec<String>,
}

impl Opts {
    pub(super) fn has(&self, c: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == c)
    }
    pub(super) fn values(&self, c: char) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(f, _)| *f == c)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// POSIX getopt as the BSD libc does it: stops at the first operand or `--`. `spec` lists the
/// option letters, a letter followed by `:` takes an argument.
pub(super) fn getopt(
    args: &[String],
    spec: &str,
    usage: &dyn Fn() -> String,
) -> Result<Opts, Fail> {
    let mut flags = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            let pos = spec.find(c).filter(|_| c != ':');
            let Some(pos) = pos else {
                return Err(Fail(2, format!("invalid option '{c}'\n{}", usage())));
            };
            if spec[pos + 1..].starts_with(':') {
                let val: String = if j + 1 < chars.len() {
                    chars[j + 1..].iter().collect()
                } else {
                    i += 1;
                    match args.get(i) {
                        Some(v) => v.clone(),
                        None => {
                            return Err(Fail(
                                2,
                                format!("missing argument for '{c}' option\n{}", usage()),
                            ));
                        }
                    }
                };
                flags.push((c, val));
                break;
            }
            flags.push((c, String::new()));
            j += 1;
        }
        i += 1;
    }
    Ok(Opts {
        flags,
        rest: args[i..].to_vec(),
    })
}

pub(super) const USAGE_TAIL: &str = "\nFor the property list, run: zfs set|get\n\nFor the delegated permission list, run: zfs allow|unallow\n";

pub(super) fn usage_text(cmd: &str) -> String {
    let lines: &[&str] = match cmd {
        "create" => &[
            "create [-Pnpuv] [-o property=value] ... <filesystem>",
            "create [-Pnpsv] [-b blocksize] [-o property=value] ... -V <size> <volume>",
        ],
        "snapshot" => &["snapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ..."],
        "clone" => &["clone [-p] [-o property=value] ... <snapshot> <filesystem|volume>"],
        "destroy" => &[
            "destroy [-fnpRrv] <filesystem|volume>",
            "destroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]",
            "destroy <filesystem|volume>#<bookmark>",
        ],
        "set" => &["set <property=value> ... <filesystem|volume|snapshot> ..."],
        "get" => &[
            "get [-rHp] [-d max] [-o \"all\" | field[,...]]",
            "    [-t type[,...]] [-s source[,...]]",
            "    <\"all\" | property[,...]> [filesystem|volume|snapshot|bookmark] ...",
        ],
        "inherit" => &["inherit [-rS] <property> <filesystem|volume|snapshot> ..."],
        "list" => &[
            "list [-Hp] [-r|-d max] [-o property[,...]] [-s property]...",
            "    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...",
        ],
        "rename" => &[
            "rename [-f] <filesystem|volume|snapshot> <filesystem|volume|snapshot>",
            "rename -p [-f] <filesystem|volume> <filesystem|volume>",
            "rename -u [-f] <filesystem> <filesystem>",
            "rename -r <snapshot> <snapshot>",
        ],
        "promote" => &["promote <clone-filesystem>"],
        "rollback" => &["rollback [-rRf] <snapshot>"],
        _ => &[],
    };
    let mut s = String::from("usage:\n");
    for l in lines {
        s.push('\t');
        s.push_str(l);
        s.push('\n');
    }
    if matches!(cmd, "set" | "get" | "inherit" | "list") {
        s.push_str("\nThe following properties are supported:\n\n\tPROPERTY       EDIT  INHERIT   VALUES\n\n");
        for p in PROPS {
            s.push_str(&format!(
                "\t{:<15} {:>4}  {:>7}   {}\n",
                p.name,
                if p.kind == PKind::Ro { "NO" } else { "YES" },
                if p.inherit { "YES" } else { "NO" },
                p.values
            ));
        }
        s.push_str("\nSizes are specified in bytes with standard units such as K, M, G, etc.\n\nUser-defined properties can be specified by using a name containing a colon (:).\n");
    } else {
        s.push_str(USAGE_TAIL);
    }
    s
}

pub(super) fn usage_fail(cmd: &str, msg: &str) -> Fail {
    let mut m = String::new();
    if !msg.is_empty() {
        m.push_str(msg);
        m.push('\n');
    }
    m.push_str(&usage_text(cmd));
    Fail(2, m)
}

pub(super) fn main_usage() -> String {
    let mut s =
        String::from("usage: zfs command args ...\nwhere 'command' is one of the following:\n\n");
    for c in [
        "create", "destroy", "snapshot", "rename", "clone", "promote", "list", "set", "get",
        "inherit",
    ] {
        for l in usage_text(c).lines().skip(1) {
            if l.starts_with('\t') {
                s.push_str(l);
                s.push('\n');
            }
        }
    }
    s
}

/// `-o prop=value` options as zfs_main.c's parseprop takes them: the `=` and a value must
/// be there and no property may come twice; the values are checked later (zfs_valid_proplist).
pub(super) fn parse_o_syntax(vals: &[&str], cmd: &str) -> Result<Vec<(String, String)>, Fail> {
    let mut out: Vec<(String, String)> = Vec::new();
    for v in vals {
        let Some((p, val)) = v.split_once('=') else {
            return Err(usage_fail(cmd, "missing '=' for property=value argument"));
        };
        if val.is_empty() {
            return Err(usage_fail(cmd, "missing value in property=value argument"));
        }
        if out.iter().any(|(q, _)| q == p) {
            return Err(err(format!("property '{p}' specified multiple times")));
        }
        out.push((p.to_string(), val.to_string()));
    }
    Ok(out)
}

/// Check parsed `-o` values for a new dataset, failing with `cannot ACTION: REASON`.
pub(super) fn check_o(
    raw: &[(String, String)],
    kind: DsKind,
    action: &str,
) -> Result<BTreeMap<String, String>, Fail> {
    let mut out = BTreeMap::new();
    for (p, val) in raw {
        let (p, val) = check_assignment(kind, p, val).map_err(|e| err(format!("{action}: {e}")))?;
        if out.insert(p.clone(), val).is_some() {
            return Err(err(format!("property '{p}' specified multiple times")));
        }
    }
    Ok(out)
}

/// Parse and check `-o prop=value` options into canonical pairs.
pub(super) fn parse_o(
    vals: &[&str],
    kind: DsKind,
    action: &str,
    cmd: &str,
) -> Result<BTreeMap<String, String>, Fail> {
    check_o(&parse_o_syntax(vals, cmd)?, kind, action)
}

// ---------------------------------------------------------------------------------------
// Entry points
