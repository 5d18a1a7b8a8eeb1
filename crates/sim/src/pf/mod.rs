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
//!
//! The files: `cmd` (pfctl's command line), `grammar` (the rule check) and `state` (rulesets
//! and anchors as pfctl changes and lists them); the state itself is here.

use crate::table::Table;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

mod cmd;
mod grammar;
mod state;
#[cfg(test)]
mod tests;

pub use cmd::run;

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
    pub anchors: Table<String, Ruleset>,
    /// Tables of the main ruleset, with their addresses.
    #[serde(default)]
    pub tables: Table<String, BTreeSet<String>>,
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
