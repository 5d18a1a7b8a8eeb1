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
mod steps;
#[cfg(test)]
mod tests;
pub mod verify;

use crate::host::{Cmd, tools};
use crate::plan::{Plan, Step};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

pub use exec::{
    ApplyError, ApplyReport, JOURNAL_DIR, PendingUndo, StepError, UndoReport, apply, pending,
    recover,
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
    use steps as s;
    match step {
        Step::CreateVolume {
            dataset,
            mountpoint,
            quota,
        } => s::create_volume(dataset, mountpoint, *quota),
        Step::CreateParent { dataset } => s::create_parent(dataset),
        Step::CloneRoot {
            snapshot,
            dataset,
            props,
        } => s::clone_root(snapshot, dataset, props),
        Step::RetireRoot {
            dataset,
            retired,
            mountpoint,
        } => s::retire_root(dataset, retired, mountpoint),
        Step::DestroyDataset { dataset } => s::destroy_dataset(dataset),
        Step::MakeDirs { paths, root } => s::make_dirs(paths, root),
        Step::WriteFile {
            path,
            contents,
            mode,
            root,
        } => s::write_file(path, contents, *mode, root),
        Step::CopyHostFile {
            from,
            to,
            mode,
            root,
        } => s::copy_host_file(from, to, *mode, root),
        Step::RemoveFile { path } => s::remove_file(path),
        Step::AwaitGone {
            name,
            dataset,
            timeout_ms,
            retry,
            replace,
        } => s::await_gone(name, dataset, *timeout_ms, retry, *replace),
        Step::Unmount {
            source,
            target,
            fstype,
            options,
        } => s::unmount(source, target, fstype, options),
        Step::CreateJail { name, conf } => s::create_jail(name, conf),
        Step::RemoveJail { name, conf, cpus } => s::remove_jail(name, conf, cpus),
        Step::ModifyJail { name, params, undo } => s::modify_jail(name, params, undo),
        Step::SetLimits { name, old, new } => s::set_limits(name, old, new),
        Step::Cpuset { name, cpus, old } => s::cpuset(name, cpus, old),
        Step::SetProps {
            dataset,
            props,
            old,
        } => s::set_props(dataset, props, old),
        Step::Net(n) => crate::apply::net::ops(n),
        Step::Pf(p) => pf_ops(p),
        Step::RestoreRoot {
            kept,
            dataset,
            mountpoint,
        } => s::restore_root(kept, dataset, mountpoint),
        Step::HealthCheck {
            name,
            command,
            timeout_ms,
            interval_ms,
            retries,
        } => s::health_check(name, command, *timeout_ms, *interval_ms, *retries),
        Step::Provision(p) => s::provision(p),
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
