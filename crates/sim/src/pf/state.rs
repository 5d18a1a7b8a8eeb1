//! pf's rulesets and anchors as pfctl changes and lists them: the ruleset a command works on,
//! pf freeing empty anchors, and the `-s` listings.

use super::{PfState, Ruleset, anchor_matches};
use std::collections::BTreeSet;

pub(super) fn ruleset_mut<'a>(
    pf: &'a mut PfState,
    anchor: Option<&str>,
) -> Option<&'a mut Ruleset> {
    match anchor {
        None => Some(&mut pf.main),
        Some(a) => Some(pf.anchors.entry(a.to_string()).or_default()),
    }
}

/// pf frees an anchor whose rulesets are empty (pf_remove_if_empty_ruleset).
pub(super) fn prune(pf: &mut PfState) {
    pf.anchors.retain(|_, rs| !rs.is_empty());
}

/// Whether ruleset `path` exists: an anchor with rules, or a parent of one (pf creates each
/// component of an anchor's path and frees them when they empty).
fn ruleset_exists(pf: &PfState, path: &str) -> bool {
    pf.anchors
        .keys()
        .any(|k| k == path || k.strip_prefix(path).is_some_and(|r| r.starts_with('/')))
}

/// `pfctl -s WHAT [-a ANCHOR]`: the text pfctl prints, or its error.
pub(super) fn show_text(pf: &PfState, what: &str, anchor: Option<&str>) -> Result<String, String> {
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
    match what {
        "info" | "i" => Ok(format!(
            "Status: {} for 0 days 00:00:00           Debug: Urgent\n\nState Table                          Total             Rate\n  current entries                        0               \n",
            if pf.enabled { "Enabled" } else { "Disabled" }
        )),
        "nat" | "n" | "rules" | "r" => Ok(show_rules(pf, what.starts_with('n'), anchor)),
        "Anchors" | "A" => Ok(show_anchors(pf, anchor)),
        "Tables" | "T" => Ok(pf.tables.keys().map(|t| format!("{t}\n")).collect()),
        _ => Err(format!("Unknown show modifier '{what}'")),
    }
}

/// `-s nat` or `-s rules`: the main ruleset's, one anchor's, or (`NAME/*`) each child
/// anchor's.
fn show_rules(pf: &PfState, nat: bool, anchor: Option<&str>) -> String {
    let pick = |rs: &Ruleset, nat: bool| -> Vec<String> {
        if nat {
            rs.nat.clone()
        } else {
            rs.rules.clone()
        }
    };
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
    out
}

/// `-s Anchors`: the anchors directly under `anchor` (or at the top).
fn show_anchors(pf: &PfState, anchor: Option<&str>) -> String {
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
    names.iter().map(|n| format!("  {n}\n")).collect()
}
