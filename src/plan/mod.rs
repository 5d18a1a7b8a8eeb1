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

mod graph;
#[cfg(test)]
mod tests;

use crate::config::spec::{Global, JailSpec, Limits};
use crate::observe::{Dataset, HostState};
use crate::render::{self, Parts, RenderError, Rendered};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use graph::order;

pub use crate::config::layout::props;

/// Options of `up`.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Allow re-cloning a jail's root when its base changed (the old root is destroyed once
    /// the new one runs; volumes are kept).
    pub recreate: bool,
}

/// Options of `down` and `destroy`.
#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    /// Also stop running jails that depend on the targets (they go first).
    pub with_dependents: bool,
    /// `destroy` only: destroy the jail's volumes too.
    pub volumes: bool,
}

/// How long destroy and re-create wait, by default, for a removed jail to finish dying:
/// `JAILCTL_DYING_WAIT` (seconds, fractions allowed, at most a day) or 10 s. A value that is
/// not that is reported (naming the variable and the accepted form) and the default is used.
pub fn dying_wait() -> std::time::Duration {
    const DEFAULT: std::time::Duration = std::time::Duration::from_secs(10);
    match std::env::var("JAILCTL_DYING_WAIT") {
        Ok(v) => parse_dying_wait(&v).unwrap_or_else(|e| {
            tracing::warn!("{e}; waiting the default 10 s");
            DEFAULT
        }),
        Err(_) => DEFAULT,
    }
}

/// Parse a `JAILCTL_DYING_WAIT` value: seconds, fractions allowed, from 0 to 86400.
pub fn parse_dying_wait(v: &str) -> Result<std::time::Duration, String> {
    let bad =
        || format!("JAILCTL_DYING_WAIT={v}: expected seconds from 0 to 86400, e.g. 30 or 2.5");
    let s: f64 = v.trim().parse().map_err(|_| bad())?;
    if !(0.0..=86400.0).contains(&s) {
        return Err(bad());
    }
    std::time::Duration::try_from_secs_f64(s).map_err(|_| bad())
}

/// One change to the host. Turned into commands by [`crate::apply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `zfs create -p` a persistent volume (only when missing; never cloned over).
    CreateVolume {
        dataset: String,
        mountpoint: PathBuf,
        quota: Option<u64>,
    },
    /// `zfs create -o mountpoint=none` a jail's own missing parent `<zfs_root>/volumes/<jail>`
    /// (zfs create needs its parent). The shared parents are the host layout's.
    CreateParent {
        dataset: String,
    },
    /// `zfs clone` the base snapshot into the jail's root, with its properties.
    CloneRoot {
        snapshot: String,
        dataset: String,
        props: BTreeMap<String, String>,
    },
    /// Move an old root aside (unmounted, renamed) so a new clone can take its place; undone
    /// by moving it back.
    RetireRoot {
        dataset: String,
        retired: String,
        mountpoint: String,
    },
    /// `zfs destroy -r`: cannot be undone, so plans put it last.
    DestroyDataset {
        dataset: String,
    },
    /// Directories a mount needs inside the jail root; with `root`, made without following
    /// symbolic links below it.
    MakeDirs {
        paths: Vec<PathBuf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root: Option<PathBuf>,
    },
    /// Write a file; with `root`, a file inside that jail root, written without following
    /// symbolic links below it.
    WriteFile {
        path: PathBuf,
        contents: String,
        mode: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root: Option<PathBuf>,
    },
    /// Copy a host file into the jail (resolv.conf), without following symbolic links below
    /// the jail's root.
    CopyHostFile {
        from: PathBuf,
        to: PathBuf,
        mode: u32,
        root: PathBuf,
    },
    RemoveFile {
        path: PathBuf,
    },
    /// `umount TARGET` of a mount a stopped jail left under its root (jail(8)'s own clean-up
    /// failed part way); undone by mounting it again.
    Unmount {
        source: String,
        target: String,
        fstype: String,
        options: String,
    },
    /// `jail -f CONF -c NAME`.
    CreateJail {
        name: String,
        conf: PathBuf,
    },
    /// Wait, polling `jls -d -j NAME`, until a removed jail is gone: while the kernel tears
    /// it down (dying) it holds its root `dataset` busy. Gives up after `timeout_ms`, saying
    /// which jailctl command to run again (`retry`) — unless `replace` is set: then a jail
    /// still dying is left to jail(8), which lets a new jail take a dying one's name, and
    /// only the wait's bound is spent (`up` of a dying jail).
    AwaitGone {
        name: String,
        dataset: String,
        timeout_ms: u64,
        retry: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replace: bool,
    },
    /// `jail -f CONF -r NAME`.
    RemoveJail {
        name: String,
        conf: PathBuf,
        /// The jail's cpu-list, pinned again when an undo starts the jail again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpus: Option<String>,
    },
    /// `jail -m name=NAME param=value...`; `undo` holds the values to put back.
    ModifyJail {
        name: String,
        params: Vec<String>,
        undo: Vec<String>,
    },
    /// Replace all rctl rules of a jail: `rctl -r jail:NAME` when it has any, then one
    /// `rctl -a` with all new rules.
    SetLimits {
        name: String,
        old: Vec<String>,
        new: Vec<String>,
    },
    /// `cpuset -l CPUS -j NAME`; `old` is put back on undo.
    Cpuset {
        name: String,
        cpus: String,
        old: String,
    },
    /// `zfs set` properties; `old` (None = was not set locally) is put back on undo.
    SetProps {
        dataset: String,
        props: BTreeMap<String, String>,
        old: BTreeMap<String, Option<String>>,
    },
    /// VNET: bridge and epair (see [`crate::vnet`]).
    Net(crate::vnet::NetStep),
    /// Provision a jail just created (running): packages, files, commands, then record
    /// `jailctl:provisioned` (see [`crate::provision`]). Undone by undoing the creation.
    Provision(crate::provision::Plan),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateVolume { dataset, .. } => write!(f, "create volume {dataset}"),
            Step::CreateParent { dataset } => write!(f, "create parent dataset {dataset}"),
            Step::CloneRoot {
                snapshot, dataset, ..
            } => write!(f, "clone {snapshot} to {dataset}"),
            Step::RetireRoot {
                dataset, retired, ..
            } => write!(f, "move old root {dataset} aside to {retired}"),
            Step::DestroyDataset { dataset } => write!(f, "destroy {dataset}"),
            Step::MakeDirs { paths, .. } => write!(f, "create {} mount point(s)", paths.len()),
            Step::WriteFile { path, .. } => write!(f, "write {}", path.display()),
            Step::CopyHostFile { from, to, .. } => {
                write!(f, "copy {} to {}", from.display(), to.display())
            }
            Step::RemoveFile { path } => write!(f, "remove {}", path.display()),
            Step::Unmount { target, .. } => write!(f, "unmount leftover {target}"),
            Step::CreateJail { name, .. } => write!(f, "start jail {name}"),
            Step::RemoveJail { name, .. } => write!(f, "stop jail {name}"),
            Step::AwaitGone {
                name,
                replace: true,
                ..
            } => write!(
                f,
                "wait until dying jail {name} is gone (if it is not by then, start over it)"
            ),
            Step::AwaitGone { name, .. } => write!(f, "wait until jail {name} is gone"),
            Step::ModifyJail { name, params, .. } => {
                write!(f, "change {} live: {}", name, params.join(" "))
            }
            Step::SetLimits { name, new, .. } if new.is_empty() => {
                write!(f, "remove the rctl rules of {name}")
            }
            Step::SetLimits { name, new, .. } => {
                write!(f, "set {} rctl rule(s) on {name}", new.len())
            }
            Step::Cpuset { name, cpus, .. } => write!(f, "pin {name} to CPUs {cpus}"),
            Step::SetProps { dataset, props, .. } => write!(
                f,
                "record {} on {dataset}",
                props.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Step::Net(n) => write!(f, "{n}"),
            Step::Provision(p) => write!(
                f,
                "provision {} ({} step(s), recorded as {})",
                p.jail,
                p.steps.len(),
                &p.fingerprint[..12.min(p.fingerprint.len())]
            ),
        }
    }
}

/// What happens to one jail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    UpToDate,
    Create,
    Start,
    Update,
    Restart,
    Recreate,
    Stop,
    AlreadyStopped,
    Destroy,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::UpToDate => "up to date",
            Action::Create => "create",
            Action::Start => "start",
            Action::Update => "update live",
            Action::Restart => "restart",
            Action::Recreate => "re-create",
            Action::Stop => "stop",
            Action::AlreadyStopped => "already stopped",
            Action::Destroy => "destroy",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JailPlan {
    pub name: String,
    pub action: Action,
    pub reasons: Vec<String>,
    pub steps: Vec<Step>,
}

/// The whole plan: jails in the order they are handled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub jails: Vec<JailPlan>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.jails.iter().all(|j| j.steps.is_empty())
    }
    pub fn steps(&self) -> impl Iterator<Item = (&str, &Step)> {
        self.jails
            .iter()
            .flat_map(|j| j.steps.iter().map(move |s| (j.name.as_str(), s)))
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for j in &self.jails {
            writeln!(f, "{}: {}", j.name, j.action)?;
            for r in &j.reasons {
                writeln!(f, "    because {r}")?;
            }
            for s in &j.steps {
                writeln!(f, "  + {s}")?;
            }
        }
        Ok(())
    }
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
        "jail `{jail}`: base changed from {old} to {new}; re-cloning replaces its root filesystem (volumes are kept) — run again with --recreate"
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
        "jail `{jail}`: {dataset} is left from an interrupted re-create; check nothing in it is needed, then `zfs destroy -r {dataset}` and run again"
    )]
    RetiredExists { jail: String, dataset: String },
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

fn find<'a>(specs: &'a [JailSpec], name: &str) -> Option<&'a JailSpec> {
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
    let same_base = recorded_base
        .as_deref()
        .is_some_and(|b| b.split('@').next() == Some(base_ds.as_str()));
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
                timeout_ms: millis(dying_wait()),
                retry: format!("jailctl up {name}"),
                replace: true,
            });
        }
        steps.push(Step::CreateJail {
            name: name.clone(),
            conf: conf.clone(),
        });
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
    if !same_base {
        let Some(new) = newest.clone() else {
            return Err(base_missing());
        };
        if !opts.recreate {
            return Err(PlanError::BaseChanged {
                jail: name.clone(),
                old: old_base,
                new,
            });
        }
        debug_assert_eq!(new, snapshot);
        reasons.push(format!(
            "base changed from {old_base} to {snapshot} (root re-cloned, volumes kept)"
        ));
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
                timeout_ms: millis(dying_wait()),
                retry: format!("jailctl up {name} --recreate"),
                replace: false,
            });
        }
        let retired = format!("{ds_name}.retired");
        if host.datasets.contains_key(&retired) {
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

/// Plan `down`: dependents first; refuses to stop a jail a running jail depends on unless
/// `with_dependents`.
pub fn plan_down(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    targets: &[String],
    opts: &DownOptions,
) -> Result<Plan, PlanError> {
    let names = stop_order(specs, host, targets, opts)?;
    let mut plan = Plan::default();
    for n in names {
        plan.jails
            .push(down_jail(&n, global, host, find(specs, &n)));
    }
    Ok(plan)
}

/// The cpu-list a deployed jail is pinned to, `None` for all CPUs.
fn deployed_cpus(ds: Option<&Dataset>) -> Option<String> {
    ds.and_then(|d| d.prop(props::CPUSET))
        .filter(|c| *c != "all")
        .map(str::to_string)
}

fn down_jail(name: &str, global: &Global, host: &HostState, spec: Option<&JailSpec>) -> JailPlan {
    let mut steps = Vec::new();
    let mut reasons = Vec::new();
    if !host.jails.contains_key(name) {
        // A stop whose clean-up failed part way leaves mounts under the root: finish it,
        // deepest first (ZFS datasets are jailctl's own and stay mounted).
        let root = render::jail_root(global, name);
        let mut left: Vec<&crate::observe::MountEntry> = host
            .mounts
            .iter()
            .filter(|m| m.fstype != "zfs" && Path::new(&m.target).starts_with(&root))
            .filter(|m| Path::new(&m.target) != root)
            .collect();
        left.reverse();
        for m in left {
            reasons.push(format!("{} is still mounted", m.target));
            steps.push(Step::Unmount {
                source: m.source.clone(),
                target: m.target.clone(),
                fstype: m.fstype.clone(),
                options: m.options.clone(),
            });
        }
    }
    let action = match host.jails.get(name) {
        Some(j) if j.dying => {
            reasons.push("the kernel is already tearing it down (dying)".into());
            Action::AlreadyStopped
        }
        Some(_) => {
            reasons.insert(0, "it is running".into());
            steps.push(Step::RemoveJail {
                name: name.to_string(),
                conf: render::conf_path(name),
                cpus: deployed_cpus(host.datasets.get(&render::root_dataset(global, name))),
            });
            Action::Stop
        }
        None => Action::AlreadyStopped,
    };
    let rules = host.rctl_rules.get(name).cloned().unwrap_or_default();
    if !rules.is_empty() {
        // rctl keeps a jail's rules after the jail is gone. Stopping a running jail removes
        // them as one of its steps (the step says so); only for a jail already stopped are
        // they the reason there is anything to do at all.
        if action == Action::AlreadyStopped {
            reasons.push("its rctl rules outlive the jail".into());
        }
        // Before the stop: if `rctl -r` fails the jail is still running untouched, and if
        // the stop fails the rules are simply added back (no restart needed to undo).
        steps.insert(
            0,
            Step::SetLimits {
                name: name.to_string(),
                old: rules,
                new: vec![],
            },
        );
    }
    // VNET: the epair goes with the jail (also when it is dying or was stopped elsewhere).
    let net = crate::vnet::stop_steps(name, host, crate::vnet::bridge_of(spec));
    if !net.is_empty() && action == Action::AlreadyStopped {
        reasons.push("its epair is still on the host".into());
    }
    steps.extend(net.into_iter().map(Step::Net));
    JailPlan {
        name: name.to_string(),
        action,
        reasons,
        steps,
    }
}

/// Targets plus (if allowed) running dependents, in stop order (dependents first). Targets
/// not defined but present on the host (a deleted definition) are allowed.
fn stop_order(
    specs: &[JailSpec],
    host: &HostState,
    targets: &[String],
    opts: &DownOptions,
) -> Result<Vec<String>, PlanError> {
    let mut set: Vec<String> = if targets.is_empty() {
        specs.iter().map(|s| s.name.clone()).collect()
    } else {
        targets.to_vec()
    };
    // Running jails that (transitively) depend on something in the set. A dying jail is on
    // its way out: it no longer uses its dependencies and has nothing left to stop.
    loop {
        let mut added = false;
        for s in specs {
            let running = host.jails.get(&s.name).is_some_and(|j| !j.dying);
            if set.contains(&s.name) || !running {
                continue;
            }
            if let Some(dep) = s.depends_on.iter().find(|d| set.contains(d)) {
                if !opts.with_dependents {
                    return Err(PlanError::HasDependents {
                        jail: dep.clone(),
                        dependents: vec![s.name.clone()],
                    });
                }
                set.push(s.name.clone());
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    let defined: Vec<String> = set
        .iter()
        .filter(|n| find(specs, n).is_some())
        .cloned()
        .collect();
    let mut ordered = order(specs, &defined)?;
    ordered.retain(|n| set.contains(n));
    ordered.reverse();
    for n in &set {
        if !ordered.contains(n) {
            ordered.push(n.clone());
        }
    }
    Ok(ordered)
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

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Plan `destroy`: stop, remove rules, destroy the datasets jailctl manages (volumes only
/// with `opts.volumes`). The rendered jail.conf is removed too.
pub fn plan_destroy(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    targets: &[String],
    opts: &DownOptions,
) -> Result<Plan, PlanError> {
    let names = stop_order(specs, host, targets, opts)?;
    let mut plan = Plan::default();
    for n in names {
        let mut jp = down_jail(&n, global, host, find(specs, &n));
        if !targets.is_empty() && !targets.contains(&n) {
            // A dependent is only stopped.
            plan.jails.push(jp);
            continue;
        }
        let known = find(specs, &n).is_some();
        let ds_name = render::root_dataset(global, &n);
        let root = render::jail_root(global, &n);
        if !known && !host.datasets.contains_key(&ds_name) {
            return Err(PlanError::UnknownJail(n));
        }
        if !host.jails.contains_key(&n) {
            let prefix = format!("{}/", root.display());
            let under: Vec<&str> = host
                .mounts
                .iter()
                .filter(|m| m.target.starts_with(&prefix))
                .map(|m| m.target.as_str())
                .collect();
            if !under.is_empty() {
                return Err(PlanError::MountsRemain {
                    jail: n,
                    path: root.display().to_string(),
                    mounts: under.join(", "),
                });
            }
        }
        if let Some(ds) = host.datasets.get(&ds_name) {
            if ds.prop(props::MANAGED) != Some("yes") {
                return Err(PlanError::NotManaged {
                    jail: n,
                    dataset: ds_name,
                });
            }
            jp.steps.push(Step::RemoveFile {
                path: render::conf_path(&n),
            });
            if host.jails.contains_key(&n) {
                // Stopped just now or earlier, a jail the kernel is still tearing down keeps
                // its root busy: `zfs destroy` would fail with "dataset is busy".
                jp.steps.push(Step::AwaitGone {
                    name: n.clone(),
                    dataset: ds_name.clone(),
                    timeout_ms: millis(dying_wait()),
                    retry: format!("jailctl destroy {n}"),
                    replace: false,
                });
            }
            jp.steps.push(Step::DestroyDataset { dataset: ds_name });
        }
        let vprefix = format!("{}/volumes/{n}/", global.zfs_root);
        let volumes: Vec<&Dataset> = host
            .datasets
            .values()
            .filter(|d| d.name.starts_with(&vprefix) && !d.name.contains('@'))
            .collect();
        if opts.volumes {
            for d in volumes {
                if d.prop(props::MANAGED) == Some("yes") {
                    jp.steps.push(Step::DestroyDataset {
                        dataset: d.name.clone(),
                    });
                } else {
                    jp.reasons
                        .push(format!("{} is kept: jailctl did not create it", d.name));
                }
            }
        } else if !volumes.is_empty() {
            jp.reasons
                .push("volumes are kept (pass --volumes to destroy them)".into());
        }
        // Destroying is what was asked; that the jail runs is why it is stopped first, which
        // the steps show.
        jp.reasons.retain(|r| r != "it is running");
        jp.action = Action::Destroy;
        plan.jails.push(jp);
    }
    Ok(plan)
}
