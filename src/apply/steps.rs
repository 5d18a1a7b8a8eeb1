//! The ops of each kind of plan [`Step`](crate::plan::Step), one function per kind, grouped
//! by what they act on (datasets, files, jails): [`super::ops`] dispatches to them. Apart
//! from `mod.rs` so the translation of each step reads on its own.

use super::{Op, Undo, run, zfs};
use crate::host::{Cmd, tools};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The ops of a step, each with its command undos.
type Ops = Vec<(Op, Vec<Undo>)>;

/// Properties `zfs inherit` refuses; undone with `zfs set PROP=none`.
const NOT_INHERITABLE: &[&str] = &["quota", "reservation", "refquota", "refreservation"];

// Datasets.

pub(super) fn create_volume(dataset: &str, mountpoint: &Path, quota: Option<u64>) -> Ops {
    let mut a = vec!["create".to_string()];
    a.extend(["-o".into(), format!("mountpoint={}", mountpoint.display())]);
    a.extend(["-o".into(), "jailctl:managed=yes".into()]);
    if let Some(q) = quota {
        a.extend(["-o".into(), format!("quota={q}")]);
    }
    a.push(dataset.to_string());
    vec![run(zfs(a), vec![zfs(["destroy", dataset])])]
}

pub(super) fn create_parent(dataset: &str) -> Ops {
    vec![run(
        zfs(["create", "-o", "mountpoint=none", dataset]),
        vec![zfs(["destroy", dataset])],
    )]
}

pub(super) fn clone_root(snapshot: &str, dataset: &str, props: &BTreeMap<String, String>) -> Ops {
    let mut a = vec!["clone".to_string()];
    for (k, v) in props {
        a.extend(["-o".into(), format!("{k}={v}")]);
    }
    a.extend([snapshot.to_string(), dataset.to_string()]);
    vec![run(zfs(a), vec![zfs(["destroy", "-r", dataset])])]
}

pub(super) fn retire_root(dataset: &str, retired: &str, mountpoint: &str) -> Ops {
    vec![
        run(
            zfs(["rename", dataset, retired]),
            vec![zfs(["rename", retired, dataset])],
        ),
        run(
            zfs(["set", "mountpoint=none", retired]),
            vec![zfs([
                "set".to_string(),
                format!("mountpoint={mountpoint}"),
                retired.to_string(),
            ])],
        ),
    ]
}

pub(super) fn restore_root(kept: &str, dataset: &str, mountpoint: &str) -> Ops {
    vec![
        run(
            zfs(["rename", kept, dataset]),
            vec![zfs(["rename", dataset, kept])],
        ),
        run(
            zfs([
                "set".to_string(),
                format!("mountpoint={mountpoint}"),
                dataset.to_string(),
            ]),
            vec![zfs(["set", "mountpoint=none", dataset])],
        ),
    ]
}

pub(super) fn destroy_dataset(dataset: &str) -> Ops {
    vec![run(zfs(["destroy", "-r", dataset]), vec![])]
}

pub(super) fn set_props(
    dataset: &str,
    props: &BTreeMap<String, String>,
    old: &BTreeMap<String, Option<String>>,
) -> Ops {
    let mut a = vec!["set".to_string()];
    a.extend(props.iter().map(|(k, v)| format!("{k}={v}")));
    a.push(dataset.to_string());
    let mut set_back = vec!["set".to_string()];
    let mut undo = Vec::new();
    for (k, v) in old {
        match v {
            Some(v) => set_back.push(format!("{k}={v}")),
            // zfs(8) refuses to inherit these ("property cannot be inherited").
            None if NOT_INHERITABLE.contains(&k.as_str()) => set_back.push(format!("{k}=none")),
            None => undo.push(zfs(["inherit", k.as_str(), dataset])),
        }
    }
    if set_back.len() > 1 {
        set_back.push(dataset.to_string());
        undo.insert(0, zfs(set_back));
    }
    vec![run(zfs(a), undo)]
}

// Files: no command undo, the executor records what each file held.

pub(super) fn make_dirs(paths: &[PathBuf], root: &Option<PathBuf>) -> Ops {
    vec![(
        Op::MakeDirs {
            paths: paths.to_vec(),
            root: root.clone(),
        },
        vec![],
    )]
}

pub(super) fn write_file(path: &Path, contents: &str, mode: u32, root: &Option<PathBuf>) -> Ops {
    vec![(
        Op::WriteFile {
            path: path.to_path_buf(),
            contents: contents.as_bytes().to_vec(),
            mode,
            root: root.clone(),
        },
        vec![],
    )]
}

pub(super) fn copy_host_file(from: &Path, to: &Path, mode: u32, root: &Path) -> Ops {
    vec![(
        Op::CopyFile {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            mode,
            root: Some(root.to_path_buf()),
        },
        vec![],
    )]
}

pub(super) fn remove_file(path: &Path) -> Ops {
    vec![(Op::RemoveFile(path.to_path_buf()), vec![])]
}

// Jails.

pub(super) fn await_gone(
    name: &str,
    dataset: &str,
    timeout_ms: u64,
    retry: &str,
    replace: bool,
) -> Ops {
    vec![(
        Op::AwaitGone {
            name: name.to_string(),
            dataset: dataset.to_string(),
            timeout: Duration::from_millis(timeout_ms),
            retry: retry.to_string(),
            replace,
        },
        vec![],
    )]
}

pub(super) fn unmount(source: &str, target: &str, fstype: &str, options: &str) -> Ops {
    vec![run(
        Cmd::new(tools::UMOUNT, [target]),
        vec![Cmd::new(
            tools::MOUNT,
            ["-t", fstype, "-o", options, source, target],
        )],
    )]
}

pub(super) fn create_jail(name: &str, conf: &Path) -> Ops {
    let c = conf.display().to_string();
    vec![run(
        Cmd::new(tools::JAIL, ["-f", &c, "-c", name]),
        vec![Cmd::new(tools::JAIL, ["-f", &c, "-r", name])],
    )]
}

pub(super) fn remove_jail(name: &str, conf: &Path, cpus: &Option<String>) -> Ops {
    let c = conf.display().to_string();
    let mut undo = vec![Cmd::new(tools::JAIL, ["-f", &c, "-c", name])];
    if let Some(cpus) = cpus {
        undo.push(Cmd::new(tools::CPUSET, ["-l", cpus.as_str(), "-j", name]));
    }
    vec![run(Cmd::new(tools::JAIL, ["-f", &c, "-r", name]), undo)]
}

pub(super) fn modify_jail(name: &str, params: &[String], undo: &[String]) -> Ops {
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

pub(super) fn set_limits(name: &str, old: &[String], new: &[String]) -> Ops {
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

pub(super) fn cpuset(name: &str, cpus: &str, old: &str) -> Ops {
    vec![run(
        Cmd::new(tools::CPUSET, ["-l", cpus, "-j", name]),
        vec![Cmd::new(tools::CPUSET, ["-l", old, "-j", name])],
    )]
}

pub(super) fn health_check(
    name: &str,
    command: &[String],
    timeout_ms: u64,
    interval_ms: u64,
    retries: u32,
) -> Ops {
    let mut a = vec![name.to_string()];
    a.extend(command.iter().cloned());
    vec![(
        Op::Health {
            name: name.to_string(),
            cmd: Cmd::new(tools::JEXEC, a),
            timeout: Duration::from_millis(timeout_ms),
            interval: Duration::from_millis(interval_ms),
            retries,
        },
        vec![],
    )]
}

/// No undo of their own: they act on a jail this run created, and undoing its creation
/// (`jail -r`, `zfs destroy -r` of the new clone) takes them all back.
pub(super) fn provision(p: &crate::provision::Plan) -> Ops {
    p.steps
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
        .collect()
}
