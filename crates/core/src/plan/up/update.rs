//! A deployed jail on the base its definition names: what changed since it was deployed,
//! whether that needs a start, a restart or only live changes (`jail -m`, rctl, pf, cpuset,
//! dataset properties), and the record of what is now deployed.

use super::provisioning::provision_reasons;
use super::{Jail, root_props};
use crate::observe::Dataset;
use crate::plan::down::deployed_cpus;
use crate::plan::step::{Action, JailPlan, Step};
use crate::plan::{pf, props};
use crate::render::Parts;
use std::collections::BTreeMap;

/// What differs between the deployed jail and its rendering.
struct Changes {
    /// The rendered parts that differ (all of them when the dataset has no record).
    parts: Vec<&'static str>,
    /// The jail(8) parameters recorded at deployment.
    old_params: Vec<String>,
    /// The parameters rendered now that were not deployed.
    changed_params: Vec<String>,
    /// Why the running jail must restart (empty: its changes apply live).
    restart: Vec<String>,
}

/// Dataset properties to set (`set`), with their observed values to undo to (`old`).
type PropChanges = (BTreeMap<String, String>, BTreeMap<String, Option<String>>);

pub(super) fn update(j: &Jail, ds: &Dataset) -> JailPlan {
    let mut steps = Vec::new();
    let mut reasons = Vec::new();
    let c = changes(j, ds, &mut reasons);
    // Live dataset properties.
    let (set, old) = root_prop_changes(j, ds, &mut reasons);
    let files_changed = c.parts.contains(&"files");
    if files_changed {
        reasons.push("/etc/rc.conf changed".into());
        j.files_steps(&mut steps);
    }
    j.volume_steps(&mut steps);
    if steps.iter().any(|s| matches!(s, Step::CreateVolume { .. })) {
        reasons.push("a volume is missing".into());
    }

    let action;
    if !j.running {
        if !c.parts.is_empty() {
            reasons.push(format!("definition changed ({})", c.parts.join(", ")));
        }
        reasons.push(if j.dying {
            "jail is not running (the kernel is still tearing down the stopped one: it is awaited, then replaced)".into()
        } else {
            "jail is not running".into()
        });
        j.start_steps(&mut steps, false);
        action = Action::Start;
    } else if !c.restart.is_empty() {
        reasons.extend(c.restart);
        steps.push(Step::RemoveJail {
            name: j.name.clone(),
            conf: j.conf.clone(),
            cpus: deployed_cpus(Some(ds)),
        });
        j.start_steps(&mut steps, false);
        action = Action::Restart;
    } else {
        live_steps(j, ds, &c, &mut reasons, &mut steps);
        action = if steps.is_empty() && set.is_empty() {
            Action::UpToDate
        } else {
            Action::Update
        };
    }
    record(j, ds, action, reasons, steps, (set, old))
}

/// The parts and parameters that changed since deployment, and which of them need a
/// restart of a running jail.
fn changes(j: &Jail, ds: &Dataset, reasons: &mut Vec<String>) -> Changes {
    let r = &j.r;
    let recorded = ds.prop(props::PARTS).and_then(Parts::decode);
    let changed: Vec<&str> = match &recorded {
        Some(p) => r.parts.changed(p),
        None => {
            reasons.push("no record of the deployed definition on the dataset".into());
            vec!["core", "host", "net", "mounts", "hooks", "params", "files"]
        }
    };
    let old_params: Vec<String> = ds
        .prop(props::PARAMS)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    let removed: Vec<&String> = old_params
        .iter()
        .filter(|p| {
            let k = p.split('=').next().unwrap_or(p);
            !r.params.iter().any(|n| n.split('=').next() == Some(k))
        })
        .collect();
    let changed_params: Vec<String> = r
        .params
        .iter()
        .filter(|p| !old_params.contains(p))
        .cloned()
        .collect();

    let mut restart = Vec::new();
    for part in &changed {
        match *part {
            "core" => restart.push("jailctl's fixed jail settings changed".to_string()),
            "net" => restart.push("network settings changed".into()),
            "mounts" => restart.push("mounts or volumes changed".into()),
            "hooks" => restart.push("exec hooks changed".into()),
            _ => {}
        }
    }
    for p in &removed {
        restart.push(format!(
            "parameter {p} was removed; jail(8) cannot reset it on a running jail"
        ));
    }
    for p in &changed_params {
        if restart_only(p) {
            restart.push(format!("parameter {p} cannot change on a running jail"));
        }
    }
    Changes {
        parts: changed,
        old_params,
        changed_params,
        restart,
    }
}

/// The `[root]` properties whose observed value differs from the wanted one.
fn root_prop_changes(j: &Jail, ds: &Dataset, reasons: &mut Vec<String>) -> PropChanges {
    let want_root = root_props(j.spec);
    let mut set = BTreeMap::new();
    let mut old = BTreeMap::new();
    for (k, v) in &want_root {
        if !prop_matches(ds, k, v) {
            reasons.push(format!("{k} changes to {v}"));
            set.insert(k.clone(), v.clone());
            old.insert(k.clone(), ds.prop(k).map(str::to_string));
        }
    }
    (set, old)
}

/// A running jail that needs no restart: its hostname and parameters (`jail -m`), jail.conf,
/// limits, pf rules and cpuset change in place.
fn live_steps(
    j: &Jail,
    ds: &Dataset,
    c: &Changes,
    reasons: &mut Vec<String>,
    steps: &mut Vec<Step>,
) {
    let (spec, name) = (j.spec, j.name);
    let mut live = Vec::new();
    let mut undo = Vec::new();
    if c.parts.contains(&"host") {
        let old_host = j.info.map(|j| j.hostname.clone()).unwrap_or_default();
        reasons.push(format!(
            "hostname changes from {old_host} to {}",
            spec.hostname
        ));
        live.push(format!("host.hostname={}", spec.hostname));
        undo.push(format!("host.hostname={old_host}"));
    }
    for p in &c.changed_params {
        let k = p.split('=').next().unwrap_or(p);
        reasons.push(format!("parameter {p} changes live"));
        live.push(p.clone());
        if let Some(o) = c.old_params.iter().find(|o| o.split('=').next() == Some(k)) {
            undo.push(o.clone());
        }
    }
    if !live.is_empty() {
        steps.push(Step::ModifyJail {
            name: name.clone(),
            params: live,
            undo,
        });
    }
    if !c.parts.is_empty() {
        steps.push(Step::WriteFile {
            path: j.conf.clone(),
            contents: j.r.conf.clone(),
            mode: 0o600,
            root: None,
        });
    }
    if !same_rules(&j.observed_rules, &j.rules) {
        reasons.push("resource limits differ from the running ones".into());
        steps.push(Step::SetLimits {
            name: name.clone(),
            old: j.observed_rules.clone(),
            new: j.rules.clone(),
        });
    }
    steps.extend(pf::live_steps(
        spec,
        j.pf_want.as_ref(),
        ds,
        j.host,
        reasons,
    ));
    let want_cpus = spec.cpuset.clone().unwrap_or_else(|| "all".into());
    let old_cpus = ds.prop(props::CPUSET).unwrap_or("all").to_string();
    if want_cpus != old_cpus {
        reasons.push(format!("cpuset changes from {old_cpus} to {want_cpus}"));
        steps.push(Step::Cpuset {
            name: name.clone(),
            cpus: want_cpus,
            old: old_cpus,
        });
    }
}

/// Finish a deployed jail's plan: report provisioning and base drift, and record what is now
/// deployed on its root dataset.
fn record(
    j: &Jail,
    ds: &Dataset,
    action: Action,
    mut reasons: Vec<String>,
    mut steps: Vec<Step>,
    (mut set, mut old): PropChanges,
) -> JailPlan {
    if let Some(why) = provision_reasons(j.spec, ds, j.prov.as_ref()) {
        reasons.push(why);
    }
    // Record what is now deployed.
    if let Some(n) = j.newest.as_ref().filter(|n| **n != j.snapshot) {
        reasons.push(format!(
            "base has a newer snapshot: would move to {n} on re-create"
        ));
    }
    for (k, v) in j.record_props().into_iter().chain(j.net_props.clone()) {
        if ds.prop(&k).unwrap_or("") != v {
            old.insert(k.clone(), ds.prop(&k).map(str::to_string));
            set.insert(k, v);
        }
    }
    if !set.is_empty() {
        steps.push(Step::SetProps {
            dataset: j.ds_name.clone(),
            props: set,
            old,
        });
    }
    let action = if action == Action::UpToDate && !steps.is_empty() {
        Action::Update
    } else {
        action
    };
    JailPlan {
        name: j.name.clone(),
        action,
        reasons,
        steps,
    }
}

/// A rule as compared: the `/jail` per-suffix rctl(8) may print is the default and dropped.
fn normalize_rule(r: &str) -> String {
    r.strip_suffix("/jail").unwrap_or(r).to_string()
}

fn same_rules(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<_> = a.iter().map(|r| normalize_rule(r)).collect();
    let mut b: Vec<_> = b.iter().map(|r| normalize_rule(r)).collect();
    a.sort();
    b.sort();
    a == b
}

/// Is an observed property value equal to the wanted one (`none` and `0` and `-` alike)?
fn prop_matches(ds: &Dataset, k: &str, want: &str) -> bool {
    let have = ds.props.get(k).map(String::as_str).unwrap_or("-");
    let norm = |v: &str| match v {
        "-" | "none" | "0" => "none".to_string(),
        v => v.to_string(),
    };
    norm(have) == norm(want)
}

/// jail(8) parameters that cannot change on a running jail.
fn restart_only(param: &str) -> bool {
    let key = param.split('=').next().unwrap_or(param);
    matches!(
        key,
        "vnet" | "path" | "jid" | "name" | "persist" | "devfs_ruleset" | "enforce_statfs"
    ) || key.starts_with("exec.")
        || key.starts_with("mount")
        || key.starts_with("ip4")
        || key.starts_with("ip6")
        || key.starts_with("vnet.")
}
