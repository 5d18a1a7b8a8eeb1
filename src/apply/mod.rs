//! Applying a plan: each [`Step`] becomes a list of [`Op`]s (exact argv for commands, or a
//! file operation through [`HostFs`](crate::host::HostFs)), each with the [`Undo`] that
//! reverses it. The translation is pure and snapshot-tested; [`exec`] runs the ops with an
//! undo journal, and `--dry-run` prints the same list without running anything.

#[cfg(test)]
mod dry_run_tests;
pub mod exec;
pub mod layout;
pub mod lock;
pub mod net;
#[cfg(test)]
mod net_tests;
#[cfg(test)]
mod readonly_tests;
#[cfg(test)]
pub(crate) mod sim_tests;
#[cfg(test)]
mod tests;
pub mod verify;

use crate::host::{Cmd, tools};
use crate::plan::{Plan, Step};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

pub use exec::{
    ApplyError, ApplyReport, JOURNAL_DIR, PendingUndo, UndoReport, apply, pending, recover,
};
pub use lock::{Held, JailLocks, LOCK_DIR, LockError, LockKey, Mode};

/// One thing done to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Run(Cmd),
    /// With `root`: directories inside that jail root, no symbolic link below it followed.
    MakeDirs {
        paths: Vec<PathBuf>,
        root: Option<PathBuf>,
    },
    /// With `root`: a file inside that jail root, no symbolic link below it followed.
    WriteFile {
        path: PathBuf,
        contents: Vec<u8>,
        mode: u32,
        root: Option<PathBuf>,
    },
    CopyFile {
        from: PathBuf,
        to: PathBuf,
        mode: u32,
        root: Option<PathBuf>,
    },
    RemoveFile(PathBuf),
    /// Poll `jls -d -j NAME` until the jail is gone (see [`Step::AwaitGone`]); with
    /// `replace`, a jail still dying at the end is left for `jail -c` to replace.
    AwaitGone {
        name: String,
        dataset: String,
        timeout: std::time::Duration,
        retry: String,
        replace: bool,
    },
    /// VNET: several commands that depend on each other's output or on the host's state
    /// (see [`crate::apply::net::NetOp`]).
    Net(crate::apply::net::NetOp),
    /// Run `cmd` (a health probe through jexec) up to `retries` times, `interval` apart,
    /// each killed after `timeout`, until one exits 0 (see [`Step::HealthCheck`]).
    Health {
        name: String,
        cmd: Cmd,
        timeout: std::time::Duration,
        interval: std::time::Duration,
        retries: u32,
    },
}

impl Op {
    /// Does this op change the host through a command (what `--dry-run` counts)?
    pub fn is_command(&self) -> bool {
        matches!(self, Op::Run(_) | Op::Net(_))
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Run(c) => write!(f, "{c}"),
            Op::MakeDirs { paths: p, .. } => write!(
                f,
                "# mkdir -p {}",
                p.iter()
                    .map(|p| crate::host::shell_quote(&p.display().to_string()))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Op::WriteFile {
                path,
                contents,
                mode,
                ..
            } => write!(
                f,
                "# write {} ({} bytes, mode {mode:o})",
                path.display(),
                contents.len()
            ),
            Op::CopyFile { from, to, .. } => {
                write!(f, "# copy {} to {}", from.display(), to.display())
            }
            Op::RemoveFile(p) => write!(f, "# remove {}", p.display()),
            Op::AwaitGone {
                name,
                timeout,
                replace,
                ..
            } => write!(
                f,
                "# wait until `jls -d -j {name}` finds no jail (up to {:.1} s{})",
                timeout.as_secs_f64(),
                if *replace { ", then start over it" } else { "" }
            ),
            Op::Net(n) => write!(f, "{n}"),
            Op::Health {
                cmd,
                interval,
                retries,
                ..
            } => write!(
                f,
                "# health check: {cmd} (up to {} probe(s) {:.1} s apart)",
                (*retries).max(1),
                interval.as_secs_f64()
            ),
        }
    }
}

/// How to reverse one op. File undos are filled in by the executor with what the file held
/// before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum Undo {
    Run {
        cmd: Cmd,
    },
    RestoreFile {
        path: PathBuf,
        /// Contents before the op; `None` = the file did not exist.
        previous: Option<Vec<u8>>,
        mode: u32,
        /// The jail root `path` is inside (written without following links).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root: Option<PathBuf>,
        /// Owner (uid, gid) of the file before the op, given back on restore (host files
        /// only: inside a jail root the jail's root user could redirect a chown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<(u32, u32)>,
    },
    /// VNET: re-create a jail's epair, or remove a bridge nothing uses any more.
    Net(crate::apply::net::NetOp),
    /// Remove, deepest first, the directories a `zfs create`/`zfs clone` made when it mounted
    /// the new dataset (its mountpoint's missing parents: ZFS removes only the mountpoint
    /// itself when the dataset is destroyed). One that is not empty is an error.
    RemoveDirs {
        paths: Vec<PathBuf>,
    },
}

impl fmt::Display for Undo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undo::Run { cmd } => write!(f, "{cmd}"),
            Undo::RestoreFile {
                path,
                previous: None,
                ..
            } => write!(f, "remove {}", path.display()),
            Undo::RestoreFile { path, .. } => write!(f, "restore {}", path.display()),
            Undo::Net(n) => write!(f, "{}", n.undo_text()),
            Undo::RemoveDirs { paths } => write!(
                f,
                "rmdir {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }
}

/// Properties `zfs inherit` refuses; undone with `zfs set PROP=none`.
const NOT_INHERITABLE: &[&str] = &["quota", "reservation", "refquota", "refreservation"];

fn zfs<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Cmd {
    Cmd::new(tools::ZFS, args)
}

fn run(cmd: Cmd, undo: Vec<Cmd>) -> (Op, Vec<Undo>) {
    (
        Op::Run(cmd),
        undo.into_iter().map(|cmd| Undo::Run { cmd }).collect(),
    )
}

/// The ops of a step with the command undos (run in the given order). File ops get their
/// undo from the executor.
pub fn ops(step: &Step) -> Vec<(Op, Vec<Undo>)> {
    match step {
        Step::CreateVolume {
            dataset,
            mountpoint,
            quota,
        } => {
            let mut a = vec!["create".to_string()];
            a.extend(["-o".into(), format!("mountpoint={}", mountpoint.display())]);
            a.extend(["-o".into(), "jailctl:managed=yes".into()]);
            if let Some(q) = quota {
                a.extend(["-o".into(), format!("quota={q}")]);
            }
            a.push(dataset.clone());
            vec![run(zfs(a), vec![zfs(["destroy", dataset.as_str()])])]
        }
        Step::CreateParent { dataset } => vec![run(
            zfs(["create", "-o", "mountpoint=none", dataset.as_str()]),
            vec![zfs(["destroy", dataset.as_str()])],
        )],
        Step::CloneRoot {
            snapshot,
            dataset,
            props,
        } => {
            let mut a = vec!["clone".to_string()];
            for (k, v) in props {
                a.extend(["-o".into(), format!("{k}={v}")]);
            }
            a.extend([snapshot.clone(), dataset.clone()]);
            vec![run(zfs(a), vec![zfs(["destroy", "-r", dataset.as_str()])])]
        }
        Step::RetireRoot {
            dataset,
            retired,
            mountpoint,
        } => vec![
            run(
                zfs(["rename", dataset.as_str(), retired.as_str()]),
                vec![zfs(["rename", retired.as_str(), dataset.as_str()])],
            ),
            run(
                zfs(["set", "mountpoint=none", retired.as_str()]),
                vec![zfs([
                    "set".to_string(),
                    format!("mountpoint={mountpoint}"),
                    retired.clone(),
                ])],
            ),
        ],
        Step::DestroyDataset { dataset } => {
            vec![run(zfs(["destroy", "-r", dataset.as_str()]), vec![])]
        }
        Step::MakeDirs { paths, root } => vec![(
            Op::MakeDirs {
                paths: paths.clone(),
                root: root.clone(),
            },
            vec![],
        )],
        Step::WriteFile {
            path,
            contents,
            mode,
            root,
        } => vec![(
            Op::WriteFile {
                path: path.clone(),
                contents: contents.clone().into_bytes(),
                mode: *mode,
                root: root.clone(),
            },
            vec![],
        )],
        Step::CopyHostFile {
            from,
            to,
            mode,
            root,
        } => vec![(
            Op::CopyFile {
                from: from.clone(),
                to: to.clone(),
                mode: *mode,
                root: Some(root.clone()),
            },
            vec![],
        )],
        Step::RemoveFile { path } => vec![(Op::RemoveFile(path.clone()), vec![])],
        Step::AwaitGone {
            name,
            dataset,
            timeout_ms,
            retry,
            replace,
        } => vec![(
            Op::AwaitGone {
                name: name.clone(),
                dataset: dataset.clone(),
                timeout: std::time::Duration::from_millis(*timeout_ms),
                retry: retry.clone(),
                replace: *replace,
            },
            vec![],
        )],
        Step::Unmount {
            source,
            target,
            fstype,
            options,
        } => vec![run(
            Cmd::new(tools::UMOUNT, [target.as_str()]),
            vec![Cmd::new(
                tools::MOUNT,
                [
                    "-t",
                    fstype.as_str(),
                    "-o",
                    options.as_str(),
                    source.as_str(),
                    target.as_str(),
                ],
            )],
        )],
        Step::CreateJail { name, conf } => {
            let c = conf.display().to_string();
            vec![run(
                Cmd::new(tools::JAIL, ["-f", &c, "-c", name]),
                vec![Cmd::new(tools::JAIL, ["-f", &c, "-r", name])],
            )]
        }
        Step::RemoveJail { name, conf, cpus } => {
            let c = conf.display().to_string();
            let mut undo = vec![Cmd::new(tools::JAIL, ["-f", &c, "-c", name])];
            if let Some(cpus) = cpus {
                undo.push(Cmd::new(tools::CPUSET, ["-l", cpus.as_str(), "-j", name]));
            }
            vec![run(Cmd::new(tools::JAIL, ["-f", &c, "-r", name]), undo)]
        }
        Step::ModifyJail { name, params, undo } => {
            let words = |ps: &[String]| {
                let mut a = vec!["-m".to_string(), format!("name={name}")];
                a.extend(ps.iter().cloned());
                Cmd::new(tools::JAIL, a)
            };
            let u = if undo.is_empty() {
                vec![]
            } else {
                vec![words(undo)]
            };
            vec![run(words(params), u)]
        }
        Step::SetLimits { name, old, new } => {
            let filter = format!("jail:{name}");
            let mut out = Vec::new();
            if !old.is_empty() {
                let mut add = vec!["-a".to_string()];
                add.extend(old.iter().cloned());
                out.push(run(
                    Cmd::new(tools::RCTL, ["-r", filter.as_str()]),
                    vec![Cmd::new(tools::RCTL, add)],
                ));
            }
            if !new.is_empty() {
                let mut add = vec!["-a".to_string()];
                add.extend(new.iter().cloned());
                out.push(run(
                    Cmd::new(tools::RCTL, add),
                    vec![Cmd::new(tools::RCTL, ["-r", filter.as_str()])],
                ));
            }
            out
        }
        Step::Cpuset { name, cpus, old } => vec![run(
            Cmd::new(tools::CPUSET, ["-l", cpus, "-j", name]),
            vec![Cmd::new(tools::CPUSET, ["-l", old, "-j", name])],
        )],
        Step::SetProps {
            dataset,
            props,
            old,
        } => {
            let mut a = vec!["set".to_string()];
            a.extend(props.iter().map(|(k, v)| format!("{k}={v}")));
            a.push(dataset.clone());
            let mut set_back = vec!["set".to_string()];
            let mut undo = Vec::new();
            for (k, v) in old {
                match v {
                    Some(v) => set_back.push(format!("{k}={v}")),
                    // zfs(8) refuses to inherit these ("property cannot be inherited").
                    None if NOT_INHERITABLE.contains(&k.as_str()) => {
                        set_back.push(format!("{k}=none"))
                    }
                    None => undo.push(zfs(["inherit", k.as_str(), dataset.as_str()])),
                }
            }
            if set_back.len() > 1 {
                set_back.push(dataset.clone());
                undo.insert(0, zfs(set_back));
            }
            vec![run(zfs(a), undo)]
        }
        Step::Net(n) => crate::apply::net::ops(n),
        Step::Pf(p) => pf_ops(p),
        Step::RestoreRoot {
            kept,
            dataset,
            mountpoint,
        } => vec![
            run(
                zfs(["rename", kept.as_str(), dataset.as_str()]),
                vec![zfs(["rename", dataset.as_str(), kept.as_str()])],
            ),
            run(
                zfs([
                    "set".to_string(),
                    format!("mountpoint={mountpoint}"),
                    dataset.clone(),
                ]),
                vec![zfs(["set", "mountpoint=none", dataset.as_str()])],
            ),
        ],
        Step::HealthCheck {
            name,
            command,
            timeout_ms,
            interval_ms,
            retries,
        } => {
            let mut a = vec![name.clone()];
            a.extend(command.iter().cloned());
            vec![(
                Op::Health {
                    name: name.clone(),
                    cmd: Cmd::new(tools::JEXEC, a),
                    timeout: std::time::Duration::from_millis(*timeout_ms),
                    interval: std::time::Duration::from_millis(*interval_ms),
                    retries: *retries,
                },
                vec![],
            )]
        }
        // No undo of their own: they act on a jail this run created, and undoing its
        // creation (`jail -r`, `zfs destroy -r` of the new clone) takes them all back.
        Step::Provision(p) => p
            .steps
            .iter()
            .map(|s| match s {
                crate::provision::Step::Run { cmd, .. } => (Op::Run(cmd.clone()), vec![]),
                crate::provision::Step::Write {
                    dest,
                    mode,
                    contents,
                    ..
                } => (
                    Op::WriteFile {
                        path: dest.clone(),
                        contents: contents.clone(),
                        mode: *mode,
                        root: Some(p.root.clone()),
                    },
                    vec![],
                ),
            })
            .collect(),
    }
}

/// `pfctl ARGS`.
fn pfctl<const N: usize>(args: [&str; N]) -> Cmd {
    Cmd::new(tools::PFCTL, args)
}

/// Load `rules` into `anchor`, the rules on stdin (never a file: nothing is left behind).
pub fn pf_load(anchor: &str, rules: &str) -> Cmd {
    pfctl(["-a", anchor, "-f", "-"]).stdin(rules)
}

/// Flush every rule of `anchor` (pf then frees the empty anchor).
pub fn pf_flush(anchor: &str) -> Cmd {
    pfctl(["-a", anchor, "-F", "all"])
}

/// The ops of a pf step: one pfctl each, undone by loading back what was there, flushing
/// what was not, or the opposite table change.
fn pf_ops(step: &crate::plan::pf::PfStep) -> Vec<(Op, Vec<Undo>)> {
    use crate::config::layout::PF_NAT_TABLE as T;
    use crate::plan::pf::PfStep;
    match step {
        PfStep::Load { anchor, rules, old } => vec![run(
            pf_load(anchor, rules),
            vec![match old {
                Some(o) if !o.trim().is_empty() => pf_load(anchor, o),
                _ => pf_flush(anchor),
            }],
        )],
        PfStep::Flush { anchor, old } => {
            vec![run(pf_flush(anchor), vec![pf_load(anchor, old)])]
        }
        PfStep::TableAdd { addr } => vec![run(
            pfctl(["-t", T, "-T", "add", addr]),
            vec![pfctl(["-t", T, "-T", "delete", addr])],
        )],
        PfStep::TableDelete { addr } => vec![run(
            pfctl(["-t", T, "-T", "delete", addr]),
            vec![pfctl(["-t", T, "-T", "add", addr])],
        )],
    }
}

/// Every op of a plan, in order, with its jail: what `--dry-run` prints.
pub fn plan_ops(plan: &Plan) -> Vec<(String, Op)> {
    plan.steps()
        .flat_map(|(jail, s)| {
            ops(s)
                .into_iter()
                .map(move |(op, _)| (jail.to_string(), op))
        })
        .collect()
}

/// The `--dry-run` text: one line per op, commands exactly as they would run.
pub fn dry_run(plan: &Plan) -> String {
    let mut out = String::new();
    for (_, op) in plan_ops(plan) {
        out.push_str(&op.to_string());
        out.push('\n');
    }
    out
}
