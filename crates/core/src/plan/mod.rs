//! Planning: definitions + observed host state → the ordered steps that make the host match,
//! each jail with the reasons. Pure: no host access, so every decision is unit-testable and
//! `jailctl plan` shows exactly what `up` would do.
//!
//! What is deployed is read from the host itself: the jail's root dataset carries user
//! properties written by jailctl (`jailctl:managed`, `jailctl:base`, `jailctl:spec`,
//! `jailctl:parts`, `jailctl:params`, `jailctl:limits`, `jailctl:cpuset`). Comparing the
//! recorded part hashes with a fresh rendering tells a live change (hostname, parameters,
//! limits, cpuset, files, dataset properties) from one that needs a restart (network, mounts,
//! hooks, the fixed core of the definition).

mod down;
mod graph;
pub mod pf;
mod step;
#[cfg(test)]
mod tests;
mod upgrade;

use crate::config::spec::{Global, JailSpec, Limits};
use crate::observe::{Dataset, HostState};
use crate::render::{self, Parts, RenderError, Rendered};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use down::deployed_cpus;
pub use down::{plan_destroy, plan_down};
pub use graph::order;
pub use step::{Action, JailPlan, Plan, Step};
pub use upgrade::{kept_root, plan_finish, plan_rollback, plan_upgrade};

pub use crate::config::layout::props;

/// Options of `up`.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Allow re-cloning a jail's root when its base changed (the old root is destroyed once
    /// the new one runs; volumes are kept).
    pub recreate: bool,
    /// `jailctl upgrade`: re-clone a root that is not on its base's newest snapshot, keep the
    /// old root (renamed, see [`kept_root`]) instead of destroying it, and run the jail's
    /// health check after the start.
    pub upgrade: bool,
}

/// Options of `down` and `destroy`.
#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    /// Also stop running jails that depend on the targets (they go first).
    pub with_dependents: bool,
    /// `destroy` only: destroy the jail's volumes too.
    pub volumes: bool,
}

/// Why no plan could be made. Each message names the object and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no jail named `{0}` is defined; define it in jails/{0}.toml or check the spelling")]
    UnknownJail(String),
    #[error(
        "jail `{jail}` depends on `{dep}`, which is not defined; add jails/{dep}.toml or remove it from depends_on"
    )]
    UnknownDependency { jail: String, dep: String },
    #[error("jails depend on each other in a cycle: {}; remove one depends_on entry", .0.join(" → "))]
    Cycle(Vec<String>),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Vnet(#[from] crate::vnet::VnetError),
    #[error(
        "jail `{jail}`: base `{base}` has no snapshot ({dataset}@... not found); create it with `jailctl base create {base} --from ...` or set another base"
    )]
    BaseMissing {
        jail: String,
        base: String,
        dataset: String,
    },
    #[error(
        "jail `{jail}`: dataset {dataset} exists but was not created by jailctl (no jailctl:managed=yes); rename or destroy it yourself, or give the jail another name"
    )]
    NotManaged { jail: String, dataset: String },
    #[error(
        "jail `{jail}`: its root {root} is reached through the symbolic link {link} -> {target}; zfs clone and mount(2) would follow it and put the jail's files (and on destroy, their removal) where it points. Remove the link (`rm {link}`) and run again. Nothing was changed"
    )]
    RootIsLink {
        jail: String,
        root: String,
        link: String,
        target: String,
    },
    #[error(
        "jail `{jail}`: {from} has exec=off ({}), so nothing in the jail could run; run `zfs set exec=on {from}`{}, then run again. Nothing was changed",
        if from == dataset { "set locally".to_string() } else { format!("inherited by {dataset}") },
        if from == dataset { format!(" or `zfs inherit exec {from}`") } else { format!(" or `zfs inherit exec {from}` if its parent allows exec") }
    )]
    ExecOff {
        jail: String,
        /// Where the setting comes from.
        from: String,
        /// The jail's root (existing, or the clone about to be made).
        dataset: String,
    },
    #[error(
        "jail `{jail}`: base changed from {old} to {new}; re-cloning replaces its root filesystem (volumes are kept) — run again with --recreate, or `jailctl upgrade {jail}` to keep the old root until the new one is healthy"
    )]
    BaseChanged {
        jail: String,
        old: String,
        new: String,
    },
    #[error(
        "jail `{jail}` has resource limits but RACCT is {state}; add kern.racct.enable=1 to /boot/loader.conf and reboot, or remove the limits"
    )]
    RacctOff { jail: String, state: &'static str },
    #[error(
        "cannot stop `{jail}`: running jail(s) {} depend on it; stop them first or pass --with-dependents", .dependents.join(", ")
    )]
    HasDependents {
        jail: String,
        dependents: Vec<String>,
    },
    #[error(
        "jail `{jail}`: {path} still has mounts under it ({mounts}); unmount them before destroying, so their data is not deleted (`jailctl down {jail}` unmounts those the jail left behind)"
    )]
    MountsRemain {
        jail: String,
        path: String,
        mounts: String,
    },
    #[error(
        "jail `{jail}` is running but its dataset {dataset} is missing; stop it with `jail -r {jail}` and run again"
    )]
    RunningWithoutDataset { jail: String, dataset: String },
    /// A `[provision]` section that cannot be planned (an unreadable source file, a bad
    /// target); the message names the jail, the file and the fix.
    #[error("jail `{jail}`: {message}")]
    Provision { jail: String, message: String },
    #[error(
        "jail `{jail}` is NATed or forwards ports, but pf is not loaded (/dev/pf is missing); run `kldload pf`, `sysrc pf_enable=YES` and `service pf start` with the anchor lines of docs/networking.md in /etc/pf.conf, then run again. Nothing was changed"
    )]
    PfUnavailable { jail: String },
    #[error(
        "jail `{jail}`: {dataset} is left from an interrupted re-create; check nothing in it is needed, then `zfs destroy -r {dataset}` and run again"
    )]
    RetiredExists { jail: String, dataset: String },
    #[error(
        "jail `{jail}` has no root ({dataset} does not exist), so there is nothing to upgrade; `jailctl up {jail}` creates it from its base"
    )]
    UpgradeNoRoot { jail: String, dataset: String },
    #[error(
        "jail `{jail}` still has the root kept by an earlier upgrade, {dataset}; keep that upgrade with `jailctl upgrade {jail} --finish` (destroys it) or go back to it with `jailctl upgrade {jail} --rollback`, then run again. Nothing was changed"
    )]
    UpgradeKept { jail: String, dataset: String },
    #[error(
        "refusing to destroy jail `{jail}`: the old root its upgrade kept, {dataset}, would be left behind; keep the upgrade with `jailctl upgrade {jail} --finish` (destroys {dataset}) or go back to it with `jailctl upgrade {jail} --rollback`, then destroy. Nothing was changed"
    )]
    DestroyKept { jail: String, dataset: String },
    #[error(
        "base `{base}` does not exist ({dataset} has no snapshot); create it with `jailctl base create {base} --from URL`, then run the upgrade again. Nothing was changed"
    )]
    UpgradeBaseMissing { base: String, dataset: String },
    #[error(
        "jail `{jail}` is defined with base `{base}` ({file}), not `{wanted}`; an upgrade moves a jail to the base its definition names, so set `base = \"{wanted}\"` there first (or `default_base` in jailctl.toml if the jail uses it), then run `jailctl upgrade {jail} --base {wanted}` again. Nothing was changed"
    )]
    UpgradeBasePinned {
        jail: String,
        base: String,
        wanted: String,
        file: String,
    },
    #[error(
        "jail `{jail}` has no root kept by an upgrade ({dataset} does not exist); there is nothing to {what}"
    )]
    NothingKept {
        jail: String,
        dataset: String,
        what: &'static str,
    },
}

/// The rctl rules (`jail:NAME:resource:action=amount[/per]`) for a jail's limits, in a fixed
/// order.
pub fn rctl_rules(name: &str, l: &Limits) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |res: &str, action: &str, v: Option<u64>| {
        if let Some(v) = v {
            out.push(format!("jail:{name}:{res}:{action}={v}"));
        }
    };
    add("memoryuse", "deny", l.memory);
    add("swapuse", "deny", l.swap);
    add("pcpu", "deny", l.cpu_percent.map(u64::from));
    add("maxproc", "deny", l.processes);
    add("openfiles", "deny", l.open_files);
    add("nthr", "deny", l.threads);
    add("readbps", "throttle", l.read_bps);
    add("writebps", "throttle", l.write_bps);
    add("readiops", "throttle", l.read_iops);
    add("writeiops", "throttle", l.write_iops);
    for r in &l.raw {
        let per = r
            .per
            .as_deref()
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        out.push(format!(
            "jail:{name}:{}:{}={}{per}",
            r.resource, r.action, r.amount
        ));
    }
    out
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

pub(super) fn find<'a>(specs: &'a [JailSpec], name: &str) -> Option<&'a JailSpec> {
    specs.iter().find(|s| s.name == name)
}

/// Plan `up` for `targets` (all defined jails when empty) and everything they depend on,
/// dependencies first.
pub fn plan(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    targets: &[String],
) -> Result<Plan, PlanError> {
    plan_up(specs, global, host, targets, &UpOptions::default())
}

/// [`plan`] with options.
pub fn plan_up(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    targets: &[String],
    opts: &UpOptions,
) -> Result<Plan, PlanError> {
    let names = order(specs, targets)?;
    plan_named(specs, global, host, &names, opts)
}

/// Plan `up` for `names` in that order (all defined).
fn plan_named(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    names: &[String],
    opts: &UpOptions,
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    for n in names {
        let spec = find(specs, n).ok_or_else(|| PlanError::UnknownJail(n.clone()))?;
        // VNET: address from the pool and pre-flight checks (crate::vnet).
        let net = crate::vnet::resolve(spec, global, host, specs)?;
        plan.jails
            .push(plan_jail(&net.spec, global, host, opts, &net.props)?);
    }
    // VNET: a bridge missing from the host is created by the first jail that needs it.
    let mut bridges = std::collections::BTreeSet::new();
    for jp in &mut plan.jails {
        jp.steps.retain(|s| match s {
            Step::Net(crate::vnet::NetStep::CreateBridge { bridge, .. }) => {
                bridges.insert(bridge.clone())
            }
            _ => true,
        });
    }
    add_parents(&mut plan, global, host);
    Ok(plan)
}

/// Put a [`Step::CreateParent`] before the first step that needs a missing per-jail parent
/// (`<zfs_root>/volumes/<jail>`, the jail's own). The shared parents (`<zfs_root>` and its
/// `jails`, `bases`, `volumes`) are the host layout's, made once under the layout lock before
/// any plan runs ([`crate::apply::layout`]): a plan never creates them, so jails planned in
/// parallel cannot race for them.
fn add_parents(plan: &mut Plan, global: &Global, host: &HostState) {
    let mut have: std::collections::BTreeSet<String> = host.datasets.keys().cloned().collect();
    let root = format!("{}/", global.zfs_root);
    for jp in &mut plan.jails {
        let mut out = Vec::with_capacity(jp.steps.len());
        for step in jp.steps.drain(..) {
            let target = match &step {
                Step::CloneRoot { dataset, .. } | Step::CreateVolume { dataset, .. } => {
                    Some(dataset.clone())
                }
                _ => None,
            };
            if let Some(ds) = target.as_deref().and_then(|d| d.strip_prefix(&root)) {
                let parts: Vec<&str> = ds.split('/').collect();
                // parts[0] is a layout parent (`jails`, `volumes`): not the plan's to make.
                for i in 2..parts.len() {
                    let parent = format!("{root}{}", parts[..i].join("/"));
                    if have.insert(parent.clone()) {
                        out.push(Step::CreateParent { dataset: parent });
                    }
                }
                have.insert(format!("{root}{ds}"));
            }
            out.push(step);
        }
        jp.steps = out;
    }
}

/// Plan `up` for exactly `names`, in the order given, without pulling in their dependencies:
/// for callers that order the jails themselves (the boot scheduler starts a jail only after
/// its dependencies are up, so re-planning them per jail would only lock and re-check them).
pub fn plan_up_only(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    names: &[String],
    opts: &UpOptions,
) -> Result<Plan, PlanError> {
    plan_named(specs, global, host, names, opts)
}

/// The properties recorded on a root dataset for a rendering.
fn record_props(spec: &JailSpec, snapshot: &str, r: &Rendered) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert(props::MANAGED.into(), "yes".into());
    p.insert(props::BASE.into(), snapshot.to_string());
    p.insert(props::SPEC.into(), r.spec_hash());
    p.insert(props::PARTS.into(), r.parts.encode());
    p.insert(
        props::PARAMS.into(),
        serde_json::to_string(&r.params).expect("strings serialize"),
    );
    let rules = rctl_rules(&spec.name, &spec.limits);
    p.insert(
        props::LIMITS.into(),
        if rules.is_empty() {
            "none".into()
        } else {
            rules.join(",")
        },
    );
    p.insert(
        props::CPUSET.into(),
        spec.cpuset.clone().unwrap_or_else(|| "all".into()),
    );
    p
}

fn root_props(spec: &JailSpec) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    let r = &spec.root;
    p.insert(
        "quota".into(),
        r.quota.map_or("none".into(), |q| q.to_string()),
    );
    p.insert(
        "reservation".into(),
        r.reservation.map_or("none".into(), |q| q.to_string()),
    );
    if let Some(c) = &r.compression {
        p.insert("compression".into(), c.clone());
    }
    p
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

/// The provisioning steps of a jail about to be created (`None` when `[provision]` is
/// empty). Reads the provisioning source files: what is fingerprinted is what is written.
fn provision_plan(
    spec: &JailSpec,
    dataset: &str,
    root: &Path,
) -> Result<Option<crate::provision::Plan>, PlanError> {
    if crate::provision::is_empty(&spec.provision) {
        return Ok(None);
    }
    crate::provision::plan(&spec.name, dataset, root, &spec.provision)
        .map(Some)
        .map_err(|e| {
            let help = miette::Diagnostic::help(&e)
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            PlanError::Provision {
                jail: spec.name.clone(),
                message: format!("{e}{help}"),
            }
        })
}

/// Why an existing jail's provisioning is not what its definition says. Provisioning runs
/// once, when the jail is created: it is never run again on a live jail (its effects would
/// be duplicated), so these are only reported.
fn provision_reasons(
    spec: &JailSpec,
    ds: &Dataset,
    prov: Option<&crate::provision::Plan>,
) -> Option<String> {
    use crate::provision::{Status, status};
    let recorded = ds.prop(props::PROVISIONED);
    match (prov, status(recorded, "")) {
        (None, Status::Pending) => None,
        (None, _) => Some(format!(
            "[provision] was removed from {}'s definition; what it installed stays until the jail is re-created",
            spec.name
        )),
        (Some(p), _) => match status(recorded, &p.fingerprint) {
            Status::Done => None,
            Status::Changed { .. } => Some(
                "provisioning changed; re-create the jail to apply it (it runs once, at creation)"
                    .into(),
            ),
            Status::Pending => Some(
                "[provision] has never run on this jail (it was created without it); re-create the jail to apply it"
                    .into(),
            ),
        },
    }
}

fn racct_state(host: &HostState) -> Option<&'static str> {
    match host.racct {
        Some(true) => None,
        Some(false) => Some("disabled"),
        None => Some("not in this kernel"),
    }
}

fn plan_jail(
    spec: &JailSpec,
    global: &Global,
    host: &HostState,
    opts: &UpOptions,
    net_props: &BTreeMap<String, String>,
) -> Result<JailPlan, PlanError> {
    let name = &spec.name;
    let r = render::render(spec, global)?;
    // pf: the jail's NAT and forwards, recorded as a hash with the other properties.
    let pf_want = render::pf::jail_rules(spec, global);
    if pf_want.is_some()
        && let Some(e) = pf::unavailable(spec, host)
    {
        return Err(e);
    }
    // Recorded only for a jail that has (or had) rules, so other jails' datasets and plans
    // are as they were.
    let had_pf = host
        .datasets
        .get(&render::root_dataset(global, name))
        .and_then(|d| d.prop(props::PF))
        .is_some_and(|v| v != "-");
    let mut net_props = net_props.clone();
    if pf_want.is_some() || had_pf {
        net_props.insert(props::PF.into(), pf::recorded(pf_want.as_ref()));
    }
    let net_props = &net_props;
    let ds_name = render::root_dataset(global, name);
    let root = render::jail_root(global, name);
    let conf = render::conf_path(name);
    let base_ds = render::base_dataset(global, &spec.base);
    let newest = newest_snapshot(host, &base_ds);
    let rules = rctl_rules(name, &spec.limits);
    let observed_rules = host.rctl_rules.get(name).cloned().unwrap_or_default();
    let info = host.jails.get(name);
    // VNET: a dying VNET jail holds nothing a new start needs once its epair is destroyed
    // (start_steps does that first), and the kernel lets a new jail take a dying one's name.
    let vnet_dying = info.is_some_and(|j| j.dying) && crate::vnet::bridge_of(Some(spec)).is_some();
    let info = info.filter(|_| !vnet_dying);
    // Any other dying jail: it is not running; the start waits (bounded) for it to go and
    // then lets jail(8) replace it if it is still there.
    let dying = info.is_some_and(|j| j.dying);
    let info = info.filter(|j| !j.dying);
    let running = info.is_some();
    if let Some(l) = host.root_links.get(name) {
        return Err(PlanError::RootIsLink {
            jail: name.clone(),
            root: root.display().to_string(),
            link: l.link.clone(),
            target: l.target.clone(),
        });
    }
    if !running {
        exec_check(host, name, &ds_name)?;
    }
    if !rules.is_empty()
        && let Some(state) = racct_state(host)
    {
        return Err(PlanError::RacctOff {
            jail: name.clone(),
            state,
        });
    }
    let base_missing = || PlanError::BaseMissing {
        jail: name.clone(),
        base: spec.base.clone(),
        dataset: base_ds.clone(),
    };
    // A new root is cloned from the base's newest snapshot; an existing jail keeps the one
    // it was cloned from (recorded in jailctl:base) until it is re-created.
    let recorded_base = host
        .datasets
        .get(&ds_name)
        .and_then(|d| d.prop(props::BASE))
        .map(str::to_string);
    let same_base = if opts.upgrade {
        // An upgrade moves a root to its base's newest snapshot, a newer one of the same
        // base too.
        recorded_base.is_some() && recorded_base == newest
    } else {
        recorded_base
            .as_deref()
            .is_some_and(|b| b.split('@').next() == Some(base_ds.as_str()))
    };
    let snapshot = match (&recorded_base, same_base, &newest) {
        (Some(b), true, _) => b.clone(),
        (_, _, Some(n)) => n.clone(),
        _ => String::new(),
    };

    let prov = provision_plan(spec, &ds_name, &root)?;

    let mut steps = Vec::new();
    let mut reasons = Vec::new();
    let files_steps = |steps: &mut Vec<Step>| {
        steps.push(Step::WriteFile {
            path: root.join("etc/rc.conf"),
            contents: r.rc_conf.clone(),
            mode: 0o644,
            root: Some(root.clone()),
        });
    };
    // Steps that create and start the jail from a root that exists; a root just cloned is
    // provisioned right after `jail -c` (the jail must run), before its limits apply.
    let start_steps = |steps: &mut Vec<Step>, fresh_root: bool| {
        if !r.mount_points.is_empty() {
            steps.push(Step::MakeDirs {
                paths: r.mount_points.clone(),
                root: Some(root.clone()),
            });
        }
        steps.push(Step::WriteFile {
            path: conf.clone(),
            contents: r.conf.clone(),
            mode: 0o600,
            root: None,
        });
        // VNET: bridge and epair before jail(8) moves the jail end in.
        let net = crate::vnet::start_steps(spec, global, host);
        steps.extend(net.into_iter().map(Step::Net));
        // A re-create has already waited (it had to, to move the root aside).
        if dying && !steps.iter().any(|s| matches!(s, Step::AwaitGone { .. })) {
            steps.push(Step::AwaitGone {
                name: name.clone(),
                dataset: ds_name.clone(),
                timeout_ms: millis(global.dying_wait),
                retry: format!("jailctl up {name}"),
                replace: true,
            });
        }
        steps.push(Step::CreateJail {
            name: name.clone(),
            conf: conf.clone(),
        });
        // pf: the anchor and the table entry once the jail (and its address) exists.
        if let Some(w) = &pf_want {
            steps.extend(pf::start_steps(w, host.datasets.get(&ds_name), host));
        } else {
            // No longer NATed (a network change restarts the jail): its rules go.
            steps.extend(pf::stop_steps(
                name,
                Some(spec),
                host.datasets.get(&ds_name),
                host,
            ));
        }
        if fresh_root && let Some(p) = &prov {
            steps.push(Step::Provision(p.clone()));
        }
        if !rules.is_empty() || !observed_rules.is_empty() {
            steps.push(Step::SetLimits {
                name: name.clone(),
                old: observed_rules.clone(),
                new: rules.clone(),
            });
        }
        if let Some(c) = &spec.cpuset {
            steps.push(Step::Cpuset {
                name: name.clone(),
                cpus: c.clone(),
                old: "all".into(),
            });
        }
    };
    let volume_steps = |steps: &mut Vec<Step>| {
        for v in &spec.volumes {
            let ds = render::volume_dataset(global, name, &v.name);
            if !host.datasets.contains_key(&ds) {
                steps.push(Step::CreateVolume {
                    dataset: ds,
                    mountpoint: render::volume_mountpoint(global, name, &v.name),
                    quota: v.quota,
                });
            }
        }
    };
    let clone_step = |steps: &mut Vec<Step>| {
        let mut p = root_props(spec);
        p.insert("mountpoint".into(), root.display().to_string());
        p.extend(record_props(spec, &snapshot, &r));
        p.extend(net_props.clone());
        if opts.upgrade
            && let Some(old) = &recorded_base
        {
            p.insert(props::UPGRADE_FROM.into(), old.clone());
        }
        steps.push(Step::CloneRoot {
            snapshot: snapshot.clone(),
            dataset: ds_name.clone(),
            props: p,
        });
        files_steps(steps);
        steps.push(Step::CopyHostFile {
            from: "/etc/resolv.conf".into(),
            to: root.join("etc/resolv.conf"),
            mode: 0o644,
            root: root.clone(),
        });
    };

    let Some(ds) = host.datasets.get(&ds_name) else {
        if opts.upgrade {
            return Err(PlanError::UpgradeNoRoot {
                jail: name.clone(),
                dataset: ds_name,
            });
        }
        if running {
            return Err(PlanError::RunningWithoutDataset {
                jail: name.clone(),
                dataset: ds_name,
            });
        }
        if newest.is_none() {
            return Err(base_missing());
        }
        reasons.push(format!("{ds_name} does not exist"));
        volume_steps(&mut steps);
        clone_step(&mut steps);
        start_steps(&mut steps, true);
        if let Some(p) = &prov {
            reasons.push(format!(
                "it is provisioned once, now ({} step(s))",
                p.steps.len()
            ));
        }
        return Ok(JailPlan {
            name: name.clone(),
            action: Action::Create,
            reasons,
            steps,
        });
    };
    if ds.prop(props::MANAGED) != Some("yes") {
        return Err(PlanError::NotManaged {
            jail: name.clone(),
            dataset: ds_name,
        });
    }

    // A changed base: re-clone (only when asked), volumes kept.
    let old_base = ds.prop(props::BASE).unwrap_or("-").to_string();
    if opts.upgrade && same_base {
        return Ok(JailPlan {
            name: name.clone(),
            action: Action::UpToDate,
            reasons: vec![format!(
                "its root is already cloned from {old_base}, the newest snapshot of {base_ds}; nothing to upgrade"
            )],
            steps: Vec::new(),
        });
    }
    if !same_base {
        let Some(new) = newest.clone() else {
            return Err(base_missing());
        };
        if !opts.recreate && !opts.upgrade {
            return Err(PlanError::BaseChanged {
                jail: name.clone(),
                old: old_base,
                new,
            });
        }
        debug_assert_eq!(new, snapshot);
        let kept = kept_root(&ds_name);
        if opts.upgrade {
            if host.datasets.contains_key(&kept) {
                return Err(PlanError::UpgradeKept {
                    jail: name.clone(),
                    dataset: kept,
                });
            }
            reasons.push(format!(
                "upgrade from {old_base} to {snapshot}: the old root is kept as {kept}, volumes are kept as they are, provisioning runs again{}",
                if spec.health.is_some() { ", then the health check" } else { "" }
            ));
        } else {
            reasons.push(format!(
                "base changed from {old_base} to {snapshot} (root re-cloned, volumes kept)"
            ));
        }
        if running {
            steps.push(Step::RemoveJail {
                name: name.clone(),
                conf: conf.clone(),
                cpus: deployed_cpus(Some(ds)),
            });
        }
        if host.jails.contains_key(name) {
            // The stopped (or already dying) jail holds its root until the kernel is done.
            steps.push(Step::AwaitGone {
                name: name.clone(),
                dataset: ds_name.clone(),
                timeout_ms: millis(global.dying_wait),
                retry: if opts.upgrade {
                    format!("jailctl upgrade {name}")
                } else {
                    format!("jailctl up {name} --recreate")
                },
                replace: false,
            });
        }
        let retired = if opts.upgrade {
            kept
        } else {
            format!("{ds_name}.retired")
        };
        if !opts.upgrade && host.datasets.contains_key(&retired) {
            return Err(PlanError::RetiredExists {
                jail: name.clone(),
                dataset: retired,
            });
        }
        steps.push(Step::RetireRoot {
            dataset: ds_name.clone(),
            retired: retired.clone(),
            mountpoint: root.display().to_string(),
        });
        volume_steps(&mut steps);
        clone_step(&mut steps);
        start_steps(&mut steps, true);
        if opts.upgrade {
            if let Some(h) = &spec.health {
                steps.push(health_step(name, h));
            }
            return Ok(JailPlan {
                name: name.clone(),
                action: Action::Upgrade,
                reasons,
                steps,
            });
        }
        steps.push(Step::DestroyDataset { dataset: retired });
        return Ok(JailPlan {
            name: name.clone(),
            action: Action::Recreate,
            reasons,
            steps,
        });
    }

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

    // Live dataset properties.
    let want_root = root_props(spec);
    let mut set = BTreeMap::new();
    let mut old = BTreeMap::new();
    for (k, v) in &want_root {
        if !prop_matches(ds, k, v) {
            reasons.push(format!("{k} changes to {v}"));
            set.insert(k.clone(), v.clone());
            old.insert(k.clone(), ds.prop(k).map(str::to_string));
        }
    }
    let files_changed = changed.contains(&"files");
    if files_changed {
        reasons.push("/etc/rc.conf changed".into());
        files_steps(&mut steps);
    }
    volume_steps(&mut steps);
    if steps.iter().any(|s| matches!(s, Step::CreateVolume { .. })) {
        reasons.push("a volume is missing".into());
    }

    let action;
    if !running {
        if !changed.is_empty() {
            reasons.push(format!("definition changed ({})", changed.join(", ")));
        }
        reasons.push(if dying {
            "jail is not running (the kernel is still tearing down the stopped one: it is awaited, then replaced)".into()
        } else {
            "jail is not running".into()
        });
        start_steps(&mut steps, false);
        action = Action::Start;
    } else if !restart.is_empty() {
        reasons.extend(restart);
        steps.push(Step::RemoveJail {
            name: name.clone(),
            conf: conf.clone(),
            cpus: deployed_cpus(Some(ds)),
        });
        start_steps(&mut steps, false);
        action = Action::Restart;
    } else {
        let mut live = Vec::new();
        let mut undo = Vec::new();
        if changed.contains(&"host") {
            let old_host = info.map(|j| j.hostname.clone()).unwrap_or_default();
            reasons.push(format!(
                "hostname changes from {old_host} to {}",
                spec.hostname
            ));
            live.push(format!("host.hostname={}", spec.hostname));
            undo.push(format!("host.hostname={old_host}"));
        }
        for p in &changed_params {
            let k = p.split('=').next().unwrap_or(p);
            reasons.push(format!("parameter {p} changes live"));
            live.push(p.clone());
            if let Some(o) = old_params.iter().find(|o| o.split('=').next() == Some(k)) {
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
        if !changed.is_empty() {
            steps.push(Step::WriteFile {
                path: conf.clone(),
                contents: r.conf.clone(),
                mode: 0o600,
                root: None,
            });
        }
        if !same_rules(&observed_rules, &rules) {
            reasons.push("resource limits differ from the running ones".into());
            steps.push(Step::SetLimits {
                name: name.clone(),
                old: observed_rules.clone(),
                new: rules.clone(),
            });
        }
        steps.extend(pf::live_steps(
            spec,
            pf_want.as_ref(),
            ds,
            host,
            &mut reasons,
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
        action = if steps.is_empty() && set.is_empty() {
            Action::UpToDate
        } else {
            Action::Update
        };
    }

    if let Some(why) = provision_reasons(spec, ds, prov.as_ref()) {
        reasons.push(why);
    }
    // Record what is now deployed.
    if let Some(n) = newest.as_ref().filter(|n| **n != snapshot) {
        reasons.push(format!(
            "base has a newer snapshot: would move to {n} on re-create"
        ));
    }
    for (k, v) in record_props(spec, &snapshot, &r)
        .into_iter()
        .chain(net_props.clone())
    {
        if ds.prop(&k).unwrap_or("") != v {
            old.insert(k.clone(), ds.prop(&k).map(str::to_string));
            set.insert(k, v);
        }
    }
    if !set.is_empty() {
        steps.push(Step::SetProps {
            dataset: ds_name,
            props: set,
            old,
        });
    }
    let action = if action == Action::UpToDate && !steps.is_empty() {
        Action::Update
    } else {
        action
    };
    Ok(JailPlan {
        name: name.clone(),
        action,
        reasons,
        steps,
    })
}

/// The newest snapshot of `dataset` in the observed state: base snapshots are named
/// `YYYYMMDD-HHMMSS` with `-2`, `-3`... for the same second, so they order by stem, then by
/// numeric suffix. Other names (a hand-made `@jailctl`) order before timestamped ones.
pub fn newest_snapshot(host: &HostState, dataset: &str) -> Option<String> {
    let prefix = format!("{dataset}@");
    let key = |full: &str| {
        let short = &full[prefix.len()..];
        let (stem, n) = match short.get(..15) {
            Some(stem) if is_stamp(stem) => {
                let n = short[15..]
                    .strip_prefix('-')
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or(1);
                (stem.to_string(), n)
            }
            _ => (String::new(), 0),
        };
        (!stem.is_empty(), stem, n, short.to_string())
    };
    host.datasets
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.as_str())
        .max_by_key(|k| key(k))
        .map(str::to_string)
}

fn is_stamp(s: &str) -> bool {
    s.len() == 15
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 8 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// Refuse a jail whose root (or, for a new jail, the parent its clone inherits from) has
/// `exec=off`: jail(8)'s `/bin/sh /etc/rc` and every jexec would fail with "Permission
/// denied" part-way through the start.
fn exec_check(host: &HostState, jail: &str, root_ds: &str) -> Result<(), PlanError> {
    let nearest = std::iter::successors(Some(root_ds), |d| d.rsplit_once('/').map(|(p, _)| p))
        .find_map(|d| host.datasets.get(d));
    let Some(d) = nearest.filter(|d| d.prop("exec") == Some("off")) else {
        return Ok(());
    };
    let from = match host.exec_sources.get(&d.name).map(String::as_str) {
        Some(s) => s.strip_prefix("inherited from ").unwrap_or(&d.name),
        None => &d.name,
    };
    Err(PlanError::ExecOff {
        jail: jail.to_string(),
        from: from.to_string(),
        dataset: root_ds.to_string(),
    })
}

pub(super) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The [`Step::HealthCheck`] of a jail's `[health]` section.
pub(super) fn health_step(name: &str, h: &crate::config::spec::HealthCheck) -> Step {
    Step::HealthCheck {
        name: name.to_string(),
        command: h.command.clone(),
        timeout_ms: millis(h.timeout),
        interval_ms: millis(h.interval),
        retries: h.retries,
    }
}
