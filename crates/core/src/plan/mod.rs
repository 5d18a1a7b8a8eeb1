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
mod shared;
mod step;
#[cfg(test)]
mod tests;
mod up;
mod upgrade;

use crate::config::spec::{Global, JailSpec, Limits};
use crate::observe::{Dataset, HostState};
use crate::render::{self, RenderError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use down::{plan_destroy, plan_down};
pub use graph::order;
pub use shared::Shared;
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

/// Why no plan could be made. Each message names the object; the help says the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error("no jail named `{0}` is defined")]
    #[diagnostic(help("define it in jails/{0}.toml or check the spelling"))]
    UnknownJail(String),
    #[error("jail `{jail}` depends on `{dep}`, which is not defined")]
    #[diagnostic(help("add jails/{dep}.toml or remove it from depends_on"))]
    UnknownDependency { jail: String, dep: String },
    #[error("jails depend on each other in a cycle: {}", .0.join(" → "))]
    #[diagnostic(help("remove one depends_on entry"))]
    Cycle(Vec<String>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Vnet(#[from] crate::vnet::VnetError),
    #[error("jail `{jail}`: base `{base}` has no snapshot ({dataset}@... not found)")]
    #[diagnostic(help(
        "create it with `jailctl base create {base} --from ...` or set another base"
    ))]
    BaseMissing {
        jail: String,
        base: String,
        dataset: String,
    },
    #[error(
        "jail `{jail}`: dataset {dataset} exists but was not created by jailctl (no jailctl:managed=yes)"
    )]
    #[diagnostic(help("rename or destroy it yourself, or give the jail another name"))]
    NotManaged { jail: String, dataset: String },
    #[error(
        "jail `{jail}`: its root {root} is reached through the symbolic link {link} -> {target}; zfs clone and mount(2) would follow it and put the jail's files (and on destroy, their removal) where it points. Nothing was changed"
    )]
    #[diagnostic(help("remove the link (`rm {link}`) and run again"))]
    RootIsLink {
        jail: String,
        root: String,
        link: String,
        target: String,
    },
    #[error(
        "jail `{jail}`: {from} has exec=off ({}), so nothing in the jail could run. Nothing was changed",
        if from == dataset { "set locally".to_string() } else { format!("inherited by {dataset}") }
    )]
    #[diagnostic(help(
        "run `zfs set exec=on {from}`{}, then run again",
        if from == dataset { format!(" or `zfs inherit exec {from}`") } else { format!(" or `zfs inherit exec {from}` if its parent allows exec") }
    ))]
    ExecOff {
        jail: String,
        /// Where the setting comes from.
        from: String,
        /// The jail's root (existing, or the clone about to be made).
        dataset: String,
    },
    #[error(
        "jail `{jail}`: base changed from {old} to {new}; re-cloning replaces its root filesystem (volumes are kept)"
    )]
    #[diagnostic(help(
        "run again with --recreate, or `jailctl upgrade {jail}` to keep the old root until the new one is healthy"
    ))]
    BaseChanged {
        jail: String,
        old: String,
        new: String,
    },
    #[error("jail `{jail}` has resource limits but RACCT is {state}")]
    #[diagnostic(help(
        "add kern.racct.enable=1 to /boot/loader.conf and reboot, or remove the limits"
    ))]
    RacctOff { jail: String, state: &'static str },
    #[error(
        "cannot stop `{jail}`: running jail(s) {} depend on it", .dependents.join(", ")
    )]
    #[diagnostic(help("stop them first or pass --with-dependents"))]
    HasDependents {
        jail: String,
        dependents: Vec<String>,
    },
    #[error(
        "jail `{jail}`: {path} still has mounts under it ({mounts}); destroying it now would delete their data"
    )]
    #[diagnostic(help(
        "unmount them before destroying (`jailctl down {jail}` unmounts those the jail left behind)"
    ))]
    MountsRemain {
        jail: String,
        path: String,
        mounts: String,
    },
    #[error("jail `{jail}` is running but its dataset {dataset} is missing")]
    #[diagnostic(help("stop it with `jail -r {jail}` and run again"))]
    RunningWithoutDataset { jail: String, dataset: String },
    /// A `[provision]` section that cannot be planned (an unreadable source file, a bad
    /// target): the message names the jail and the file; the help and the source chain are
    /// the provisioning error's.
    #[error("jail `{jail}`: {cause}")]
    #[diagnostic(forward(cause))]
    Provision {
        jail: String,
        #[source]
        cause: Shared<crate::provision::ProvisionError>,
    },
    #[error(
        "jail `{jail}` is NATed or forwards ports, but pf is not loaded (/dev/pf is missing). Nothing was changed"
    )]
    #[diagnostic(help(
        "run `kldload pf`, `sysrc pf_enable=YES` and `service pf start` with the anchor lines of docs/networking.md in /etc/pf.conf, then run again"
    ))]
    PfUnavailable { jail: String },
    #[error("jail `{jail}`: {dataset} is left from an interrupted re-create")]
    #[diagnostic(help(
        "check nothing in it is needed, then `zfs destroy -r {dataset}` and run again"
    ))]
    RetiredExists { jail: String, dataset: String },
    #[error("jail `{jail}` has no root ({dataset} does not exist), so there is nothing to upgrade")]
    #[diagnostic(help("`jailctl up {jail}` creates it from its base"))]
    UpgradeNoRoot { jail: String, dataset: String },
    #[error(
        "jail `{jail}` still has the root kept by an earlier upgrade, {dataset}. Nothing was changed"
    )]
    #[diagnostic(help(
        "keep that upgrade with `jailctl upgrade {jail} --finish` (destroys it) or go back to it with `jailctl upgrade {jail} --rollback`, then run again"
    ))]
    UpgradeKept { jail: String, dataset: String },
    #[error(
        "refusing to destroy jail `{jail}`: the old root its upgrade kept, {dataset}, would be left behind. Nothing was changed"
    )]
    #[diagnostic(help(
        "keep the upgrade with `jailctl upgrade {jail} --finish` (destroys {dataset}) or go back to it with `jailctl upgrade {jail} --rollback`, then destroy"
    ))]
    DestroyKept { jail: String, dataset: String },
    #[error("base `{base}` does not exist ({dataset} has no snapshot). Nothing was changed")]
    #[diagnostic(help(
        "create it with `jailctl base create {base} --from URL`, then run the upgrade again"
    ))]
    UpgradeBaseMissing { base: String, dataset: String },
    #[error(
        "jail `{jail}` is defined with base `{base}` ({file}), not `{wanted}`; an upgrade moves a jail to the base its definition names. Nothing was changed"
    )]
    #[diagnostic(help(
        "set `base = \"{wanted}\"` there first (or `default_base` in jailctl.toml if the jail uses it), then run `jailctl upgrade {jail} --base {wanted}` again"
    ))]
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
            .push(up::plan_jail(&net.spec, global, host, opts, &net.props)?);
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
