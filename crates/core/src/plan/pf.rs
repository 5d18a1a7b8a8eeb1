//! Planning the packet filter: a NATed jail's anchor loaded when it starts (and reloaded
//! live when its forwards change, without a restart), its address added to the
//! `<jailctl_nat>` table, and both taken away when it stops. Each step carries what its undo
//! needs (the rules the anchor held before), so applying stays a pure translation.

use super::*;
use crate::config::layout::{IP4_PROP, pf_anchor};
use crate::render::pf::PfRules;

/// One change to pf, for one jail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "pf", rename_all = "snake_case")]
pub enum PfStep {
    /// `pfctl -a ANCHOR -f -` with `rules` on stdin (replaces the anchor's rules); undo:
    /// load `old` back, or flush the anchor when it held nothing.
    Load {
        anchor: String,
        rules: String,
        old: Option<String>,
    },
    /// `pfctl -a ANCHOR -F all`; undo: load `old` back.
    Flush { anchor: String, old: String },
    /// `pfctl -t jailctl_nat -T add ADDR`; undo: delete it.
    TableAdd { addr: String },
    /// `pfctl -t jailctl_nat -T delete ADDR`; undo: add it back.
    TableDelete { addr: String },
}

impl fmt::Display for PfStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PfStep::Load { anchor, rules, old } => {
                write!(
                    f,
                    "{} pf anchor {anchor} ({} rule(s)",
                    if old.is_some() { "reload" } else { "load" },
                    rules.lines().count()
                )?;
                // `plan` shows the rule changes, one per line.
                let before: Vec<&str> = old.as_deref().unwrap_or("").lines().collect();
                for l in rules.lines() {
                    write!(f, "\n      + {l}")?;
                }
                if !before.is_empty() {
                    for l in before {
                        write!(f, "\n      - {l}")?;
                    }
                }
                write!(f, ")")
            }
            PfStep::Flush { anchor, old } => {
                write!(
                    f,
                    "flush pf anchor {anchor} ({} rule(s))",
                    old.lines().count()
                )
            }
            PfStep::TableAdd { addr } => write!(f, "add {addr} to pf table <{PF_NAT_TABLE}>"),
            PfStep::TableDelete { addr } => {
                write!(f, "remove {addr} from pf table <{PF_NAT_TABLE}>")
            }
        }
    }
}

use crate::config::layout::PF_NAT_TABLE;

/// Why pf cannot take a jail's rules.
pub(super) fn unavailable(spec: &JailSpec, host: &HostState) -> Option<PlanError> {
    let pf = host.pf.as_ref()?;
    (!pf.available).then(|| PlanError::PfUnavailable {
        jail: spec.name.clone(),
    })
}

/// The steps that put a starting jail's rules in place; an address the jail had before
/// (recorded on its dataset) leaves the table.
pub(super) fn start_steps(want: &PfRules, ds: Option<&Dataset>, host: &HostState) -> Vec<Step> {
    let pf = host.pf.as_ref();
    let old = pf.and_then(|p| p.anchors.get(&want.anchor)).cloned();
    let mut steps = vec![Step::Pf(PfStep::Load {
        anchor: want.anchor.clone(),
        rules: want.text.clone(),
        old,
    })];
    let addr = want.nat_addr.to_string();
    if !pf.is_some_and(|p| p.nat_table.contains(&addr)) {
        steps.push(Step::Pf(PfStep::TableAdd { addr: addr.clone() }));
    }
    if let Some(old) = ds.and_then(recorded_addr)
        && old != addr
        && pf.is_some_and(|p| p.nat_table.contains(&old))
    {
        steps.push(Step::Pf(PfStep::TableDelete { addr: old }));
    }
    steps
}

/// The NATed address recorded in `jailctl:pf` (`HASH,ADDR`).
fn recorded_addr(ds: &Dataset) -> Option<String> {
    ds.prop(props::PF)
        .and_then(|v| v.split_once(','))
        .map(|(_, a)| a.to_string())
}

/// What `jailctl:pf` records for a rendering: `HASH,ADDR` (the hash of the rules and the
/// address in the table, so a later run can take that address out even once the definition
/// says another), or `none`.
pub(super) fn recorded(want: Option<&PfRules>) -> String {
    want.map_or_else(|| "none".into(), |w| format!("{},{}", w.hash(), w.nat_addr))
}

/// A running jail: reload its anchor live when what is loaded is not what it renders (or
/// pf lost it), remove it when the jail is no longer NATed. Same jail, same jid.
pub(super) fn live_steps(
    spec: &JailSpec,
    want: Option<&PfRules>,
    ds: &Dataset,
    host: &HostState,
    reasons: &mut Vec<String>,
) -> Vec<Step> {
    let anchor = pf_anchor(&spec.name);
    let loaded = host.pf.as_ref().and_then(|p| p.anchors.get(&anchor));
    let have = ds.prop(props::PF).unwrap_or("none");
    match want {
        Some(w) => {
            let mut steps = vec![];
            if have != recorded(Some(w)) {
                reasons.push(
                    "pf rules changed (NAT or port forwards); the anchor is reloaded live".into(),
                );
                steps = start_steps(w, Some(ds), host);
            } else if loaded.is_none() {
                reasons.push(format!(
                    "pf anchor {anchor} is not loaded (pf was reloaded or flushed)"
                ));
                steps = start_steps(w, Some(ds), host);
            } else if !host
                .pf
                .as_ref()
                .is_some_and(|p| p.nat_table.contains(&w.nat_addr.to_string()))
            {
                reasons.push(format!(
                    "{} is missing from pf table <{PF_NAT_TABLE}>",
                    w.nat_addr
                ));
                steps.push(Step::Pf(PfStep::TableAdd {
                    addr: w.nat_addr.to_string(),
                }));
            }
            steps
        }
        None => {
            let steps = stop_steps(&spec.name, Some(spec), Some(ds), host);
            if !steps.is_empty() {
                reasons.push("the jail is no longer NATed; its pf rules are removed".into());
            }
            steps
        }
    }
}

/// The steps that take a jail's rules away: flush its anchor, take its addresses out of the
/// table (those it has in its definition or recorded, that the table holds).
pub fn stop_steps(
    name: &str,
    spec: Option<&JailSpec>,
    ds: Option<&Dataset>,
    host: &HostState,
) -> Vec<Step> {
    let Some(pf) = host.pf.as_ref() else {
        return vec![];
    };
    let anchor = pf_anchor(name);
    let mut steps = vec![];
    if let Some(old) = pf.anchors.get(&anchor) {
        steps.push(Step::Pf(PfStep::Flush {
            anchor,
            old: old.clone(),
        }));
    }
    let mut addrs: Vec<String> = vec![];
    if let Some(a) = spec.and_then(crate::render::pf::first_ip4) {
        addrs.push(a.to_string());
    }
    if let Some(a) = ds
        .and_then(|d| d.prop(IP4_PROP))
        .and_then(|v| v.split('/').next())
    {
        addrs.push(a.to_string());
    }
    addrs.extend(ds.and_then(recorded_addr));
    addrs.sort();
    addrs.dedup();
    for a in addrs {
        if pf.nat_table.contains(&a) {
            steps.push(Step::Pf(PfStep::TableDelete { addr: a }));
        }
    }
    steps
}
