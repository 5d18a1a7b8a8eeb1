//! jailctl's part of the packet filter, read with pfctl(8): the rules in each jail's anchor
//! (`pfctl -a 'jailctl/*' -s nat` and `-s rules`, every anchor below `jailctl` in one
//! listing each) and the addresses in the `<jailctl_nat>` table (`-T show`). Planning
//! compares them with what the definitions render, and undoes a reload by loading back what
//! was there. Read only when needed ([`needed`]): a host without NAT or forwards never runs
//! pfctl.

use super::ObserveError;
use crate::config::layout::{PF_ANCHOR, PF_NAT_TABLE, props};
use crate::config::spec::{Global, JailSpec};
use crate::host::{Cmd, Runner, tools};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What pf holds of jailctl's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PfObserved {
    /// pf's device exists (the module is loaded); without it nothing else was read.
    pub available: bool,
    /// Anchor path (`jailctl/web`) → its rules, translation rules first, one per line.
    pub anchors: BTreeMap<String, String>,
    /// The addresses in `<jailctl_nat>`.
    pub nat_table: BTreeSet<String>,
}

/// `pfctl -a 'jailctl/*' -s nat|rules`.
pub fn show_cmd(what: &str) -> Cmd {
    Cmd::new(tools::PFCTL, ["-a", &format!("{PF_ANCHOR}/*"), "-s", what])
}

/// `pfctl -t jailctl_nat -T show`.
pub fn table_cmd() -> Cmd {
    Cmd::new(tools::PFCTL, ["-t", PF_NAT_TABLE, "-T", "show"])
}

/// Whether planning needs pf: a definition is NATed, or a deployed jail recorded rules.
pub fn needed(specs: &[JailSpec], global: &Global, st: &super::HostState) -> bool {
    specs.iter().any(|s| global.nat_of(&s.network).is_some())
        || st
            .datasets
            .values()
            .any(|d| d.prop(props::PF).is_some_and(|v| v != "none" && v != "-"))
}

/// Read jailctl's anchors and table. pf not loaded (`/dev/pf` missing) is `available:
/// false`, not an error: planning then refuses only the jails that need pf.
pub fn observe_pf(host: &dyn Runner) -> Result<PfObserved, ObserveError> {
    let mut st = PfObserved {
        available: true,
        ..Default::default()
    };
    let mut nat_lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rule_lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (what, into) in [("nat", &mut nat_lines), ("rules", &mut rule_lines)] {
        let c = show_cmd(what);
        let out = host.output(&c)?;
        if !out.success() {
            if out.stderr.contains("/dev/pf") {
                st.available = false;
                return Ok(st);
            }
            // No `jailctl` anchor at all: pf refuses to list a ruleset that does not exist
            // (the ioctl fails with EINVAL), which means no jail has rules loaded.
            if out.stderr.contains("Invalid argument") {
                return table_into(host, st);
            }
            return Err(failed(c, out));
        }
        *into = parse_listing(&out.stdout).map_err(|e| ObserveError::Parse {
            cmd: c.clone(),
            source: e.into(),
        })?;
    }
    let names: BTreeSet<&String> = nat_lines.keys().chain(rule_lines.keys()).collect();
    for n in names {
        let mut text = String::new();
        for l in nat_lines
            .get(n)
            .into_iter()
            .chain(rule_lines.get(n))
            .flatten()
        {
            text.push_str(l);
            text.push('\n');
        }
        st.anchors.insert(format!("{PF_ANCHOR}/{n}"), text);
    }
    table_into(host, st)
}

/// Add the addresses of `<jailctl_nat>` (none when the table does not exist yet).
fn table_into(host: &dyn Runner, mut st: PfObserved) -> Result<PfObserved, ObserveError> {
    let c = table_cmd();
    let out = host.output(&c)?;
    if out.success() {
        st.nat_table = out
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
    } else if !out.stderr.contains("Table does not exist") {
        return Err(failed(c, out));
    }
    Ok(st)
}

fn failed(cmd: Cmd, out: crate::host::Output) -> ObserveError {
    ObserveError::Command(crate::host::ProcessError::Failed {
        cmd,
        status: out.status,
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

/// A recursive listing: `KEYWORD "CHILD" all {`, the child's rules indented, `}`.
pub fn parse_listing(text: &str) -> Result<BTreeMap<String, Vec<String>>, super::ParseError> {
    let what = "pfctl -a jailctl/* -s";
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t == "}" {
            if cur.take().is_none() {
                return Err(super::ParseError::new(what, i + 1, "`}` without an anchor"));
            }
            continue;
        }
        if cur.is_none() {
            let name = t
                .split_once('"')
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(n, _)| n.to_string())
                .filter(|_| t.ends_with('{'))
                .ok_or_else(|| {
                    super::ParseError::new(what, i + 1, format!("expected an anchor, found {t:?}"))
                })?;
            out.entry(name.clone()).or_default();
            cur = Some(name);
            continue;
        }
        if let Some(c) = &cur {
            out.entry(c.clone()).or_default().push(t.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recursive_listing_is_read_per_anchor() {
        let text = "nat-anchor \"web\" all {\n  nat on em0 inet from <jailctl_nat> to any -> (em0)\n  rdr on em0 inet proto tcp from any to (em0) port = 8080 -> 10.0.0.4 port 80\n}\nnat-anchor \"db\" all {\n  nat on em0 inet from <jailctl_nat> to any -> (em0)\n}\n";
        let m = parse_listing(text).unwrap();
        assert_eq!(m["web"].len(), 2);
        assert_eq!(
            m["db"],
            ["nat on em0 inet from <jailctl_nat> to any -> (em0)"]
        );
        assert!(parse_listing("}\n").is_err());
        assert!(parse_listing("pass all\n").is_err());
    }
}
