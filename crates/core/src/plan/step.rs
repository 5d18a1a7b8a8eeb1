//! What a plan is made of: [`Step`]s, each jail's [`JailPlan`] with its [`Action`] and
//! reasons, and the whole [`Plan`], with the text `plan` and `--dry-run` print.

use super::*;

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
    /// pf: a jail's anchor and its NAT table entry (see [`super::pf`]).
    Pf(super::pf::PfStep),
    /// Provision a jail just created (running): packages, files, commands, then record
    /// `jailctl:provisioned` (see [`crate::provision`]). Undone by undoing the creation.
    Provision(crate::provision::Plan),
    /// Put back a root kept by `jailctl upgrade` (`zfs rename KEPT DS`, then mount it at
    /// `mountpoint`); undone by unmounting it and renaming it back.
    RestoreRoot {
        kept: String,
        dataset: String,
        mountpoint: String,
    },
    /// Run the jail's `[health]` command with jexec(8), up to `retries` probes `interval_ms`
    /// apart, each killed after `timeout_ms`; the step fails (and the run is undone) when
    /// no probe exits 0. Changes nothing itself.
    HealthCheck {
        name: String,
        command: Vec<String>,
        timeout_ms: u64,
        interval_ms: u64,
        retries: u32,
    },
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
            Step::Pf(p) => write!(f, "{p}"),
            Step::Provision(p) => write!(
                f,
                "provision {} ({} step(s), recorded as {})",
                p.jail,
                p.steps.len(),
                &p.fingerprint[..12.min(p.fingerprint.len())]
            ),
            Step::RestoreRoot { kept, dataset, .. } => {
                write!(f, "put the kept root {kept} back as {dataset}")
            }
            Step::HealthCheck {
                name,
                command,
                retries,
                interval_ms,
                ..
            } => write!(
                f,
                "health check of {name}: `{}` (up to {} probe(s) {:.1} s apart)",
                command.join(" "),
                (*retries).max(1),
                *interval_ms as f64 / 1000.0
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
    /// `jailctl upgrade`: a new root from the new base, the old one kept.
    Upgrade,
    /// `jailctl upgrade --rollback`: the kept root back.
    RollBack,
    /// `jailctl upgrade --finish`: the kept root destroyed.
    Finish,
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
            Action::Upgrade => "upgrade",
            Action::RollBack => "roll back the upgrade",
            Action::Finish => "finish the upgrade",
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
