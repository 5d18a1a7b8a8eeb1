//! Snapshots of a jail: its root dataset and every volume, taken, listed, rolled back and
//! destroyed together, so the jail's system and its data always come back to the same moment.
//! A snapshot is taken with one `zfs snapshot` command naming every dataset, which ZFS makes
//! atomic. jailctl names its snapshots `jailctl-LABEL` (a timestamp when no label is given),
//! marks them with `jailctl:snapshot=yes`, and only touches datasets it created itself
//! (`jailctl:managed=yes` set locally, see [`super::owned`]). A rollback cannot be undone, so
//! every condition zfs would refuse on is checked on every dataset before the first one.

use crate::apply::JailLocks;
use crate::config::spec::{Global, JailSpec};
use crate::host::{Cmd, Host, ProcessError, tools};
use serde::Serialize;

mod rollback;

pub use rollback::{ROLLBACK_JOURNAL_DIR, rollback};
pub(crate) use rollback::{finish_rollback, pending_rollback};

/// The prefix of every snapshot jailctl takes of a jail.
pub const PREFIX: &str = "jailctl-";
/// The user property set on each of them.
pub const PROP: &str = "jailctl:snapshot";

/// Why a snapshot could not be taken, listed, rolled back to or destroyed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SnapshotError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Process(Box<ProcessError>),
    #[error("nothing rolled back: the rollback of jail `{0}` was not confirmed")]
    Declined(String),
    #[error("cannot lock jail `{0}`: {1}")]
    Lock(String, #[source] std::io::Error),
    #[error("jail `{jail}` has no dataset {dataset} yet")]
    #[diagnostic(help("create it with `jailctl up {jail}`, then run again"))]
    NotCreated { jail: String, dataset: String },
    #[error("refusing to snapshot jail `{jail}`: jailctl did not create {dataset} ({why})")]
    #[diagnostic(help("snapshot it yourself with `zfs snapshot`"))]
    NotOwned {
        jail: String,
        dataset: String,
        why: String,
    },
    #[error(
        "refusing to {action} {snapshot}: jailctl did not take it (jailctl:snapshot is not yes), so it leaves it alone. Nothing was changed"
    )]
    #[diagnostic(help(
        "run `zfs destroy`/`zfs rollback` on it yourself, or adopt it with `zfs set jailctl:snapshot=yes {snapshot}` and run again"
    ))]
    NotOurs {
        action: &'static str,
        snapshot: String,
    },
    #[error(
        "refusing to roll back to {snapshot} with --force: `zfs rollback -r` would destroy snapshots jailctl did not take (jailctl:snapshot is not yes): {}. Nothing was rolled back",
        .foreign.join(", ")
    )]
    #[diagnostic(help(
        "move them out of the way yourself (`zfs destroy`, or `zfs send` them elsewhere first), or adopt them with `zfs set jailctl:snapshot=yes SNAPSHOT`, then run again"
    ))]
    NewerNotOurs {
        snapshot: String,
        foreign: Vec<String>,
    },
    #[error("invalid snapshot label \"{0}\"")]
    #[diagnostic(help("use letters, digits and `-_.:` only (at most 200 characters)"))]
    BadLabel(String),
    #[error("jail `{jail}` has no snapshot \"{snapshot}\"")]
    #[diagnostic(help("{}", known_hint(.known, .jail)))]
    Unknown {
        jail: String,
        snapshot: String,
        known: Vec<String>,
    },
    #[error("jail `{jail}` already has a snapshot \"{snapshot}\"")]
    #[diagnostic(help(
        "pick another label, or destroy it first with `jailctl snapshot destroy {jail} {snapshot}`"
    ))]
    Exists { jail: String, snapshot: String },
    #[error("refusing to roll back jail `{0}` while it is running. Nothing was rolled back")]
    #[diagnostic(help("stop it with `jailctl down {0}`, then run again"))]
    Running(String),
    #[error(
        "refusing to roll back to {snapshot}: newer snapshots exist and would be destroyed: {}. Nothing was rolled back",
        .newer.join(", ")
    )]
    #[diagnostic(help("pass --force to destroy them, or pick the newest"))]
    Newer {
        snapshot: String,
        newer: Vec<String>,
    },
    #[error(
        "refusing to {action}: {} cloned from {from}, and jailctl does not destroy clones: {}. Nothing was changed",
        if .clones.len() == 1 { "a dataset is" } else { "datasets are" },
        .clones.join(", ")
    )]
    #[diagnostic(help(
        "destroy or promote {} yourself (`zfs destroy`/`zfs promote`), then run again",
        if .clones.len() == 1 { "it" } else { "them" }
    ))]
    Clones {
        /// What was refused: `destroy ZROOT@S`.
        action: String,
        /// What the clones are cloned from.
        from: String,
        clones: Vec<String>,
    },
    #[error(
        "{action} of {failed} failed after {} succeeded ({}): {error}; that part cannot be undone",
        if .done.len() == 1 { "this one" } else { "these" },
        .done.join(", ")
    )]
    #[diagnostic(help("fix the cause and run the same command again for the rest"))]
    Partial {
        action: &'static str,
        done: Vec<String>,
        failed: String,
        #[source]
        error: Box<ProcessError>,
    },
    #[error(
        "jail `{jail}`: the interrupted rollback to {snapshot} could not be finished: {source}"
    )]
    #[diagnostic(help(
        "fix the cause and run again, or, to give it up, delete {}",
        .journal.display()
    ))]
    Unfinished {
        jail: String,
        snapshot: String,
        #[source]
        source: Box<ProcessError>,
        journal: std::path::PathBuf,
    },
    #[error(
        "jail `{jail}`: the journal of an interrupted rollback, {}, is damaged ({source})",
        .journal.display()
    )]
    #[diagnostic(help(
        "check the jail's datasets (`zfs list -t snapshot -r ...`); to give the rollback up, delete {}",
        .journal.display()
    ))]
    Damaged {
        jail: String,
        #[source]
        source: serde_json::Error,
        journal: std::path::PathBuf,
    },
    #[error("cannot read or write the rollback journal {}: {cause}", .path.display())]
    #[diagnostic(help("check that /var/db is writable"))]
    Journal {
        path: std::path::PathBuf,
        #[source]
        cause: std::io::Error,
    },
}

impl From<ProcessError> for SnapshotError {
    fn from(e: ProcessError) -> Self {
        SnapshotError::Process(Box::new(e))
    }
}

fn known_hint(known: &[String], jail: &str) -> String {
    if known.is_empty() {
        format!("it has none: take one with `jailctl snapshot create {jail}`")
    } else {
        format!("its snapshots: {}", known.join(", "))
    }
}

/// One snapshot of a jail, across its datasets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapInfo {
    pub jail: String,
    /// The short name (`jailctl-...`), the same on every dataset.
    pub name: String,
    /// Seconds since the epoch (of the root's snapshot, or the first dataset holding it).
    pub creation: u64,
    /// Bytes held only by this snapshot, summed over its datasets.
    pub used: u64,
    /// The full snapshot names, root first.
    pub datasets: Vec<String>,
}

/// The jail's root dataset followed by its volumes.
pub fn datasets(spec: &JailSpec, global: &Global) -> Vec<String> {
    std::iter::once(format!("{}/jails/{}", global.zfs_root, spec.name))
        .chain(
            spec.volumes
                .iter()
                .map(|v| format!("{}/volumes/{}/{}", global.zfs_root, spec.name, v.name)),
        )
        .collect()
}

/// The label of `LABEL` or `jailctl-LABEL`, if it is one: letters, digits and `-_.:`, 1 to
/// 200 characters (no `/` or `@`, which zfs would read as a dataset or snapshot separator).
pub fn check_label(l: &str) -> Result<&str, SnapshotError> {
    let l = l.strip_prefix(PREFIX).unwrap_or(l);
    let ok = !l.is_empty()
        && l.len() <= 200
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if ok {
        Ok(l)
    } else {
        Err(SnapshotError::BadLabel(l.to_string()))
    }
}

/// `jailctl-<label>`, or `jailctl-YYYYMMDD-HHMMSS` made unique among `existing` short names.
pub fn snapshot_name(
    label: Option<&str>,
    existing: &[String],
    now: std::time::SystemTime,
) -> Result<String, SnapshotError> {
    match label {
        Some(l) => Ok(format!("{PREFIX}{}", check_label(l)?)),
        None => {
            let stems: Vec<String> = existing
                .iter()
                .filter_map(|e| e.strip_prefix(PREFIX).map(str::to_string))
                .collect();
            Ok(format!(
                "{PREFIX}{}",
                crate::base::unique_snapshot_name(&stems, now)
            ))
        }
    }
}

/// One row of [`list_cmd`].
#[derive(Clone, Debug)]
struct Row {
    dataset: String,
    snap: String,
    creation: u64,
    used: u64,
    clones: Vec<String>,
    /// Taken by jailctl: `jailctl:snapshot=yes`.
    ours: bool,
}

/// `zfs list` of every snapshot directly on the given datasets, oldest first.
fn list_cmd(datasets: &[String]) -> Cmd {
    let mut a: Vec<String> = [
        "list",
        "-H",
        "-p",
        "-o",
        "name,creation,used,clones,jailctl:snapshot",
        "-t",
        "snapshot",
        "-s",
        "createtxg",
        "-d",
        "1",
    ]
    .map(String::from)
    .to_vec();
    a.extend(datasets.iter().cloned());
    Cmd::new(tools::ZFS, a)
}

/// A failed query naming a dataset that does not exist becomes [`SnapshotError::NotCreated`].
fn missing(jail: &str, datasets: &[String], e: ProcessError) -> SnapshotError {
    if let ProcessError::Failed { stderr, .. } = &e
        && stderr.contains("dataset does not exist")
        && let Some(d) = datasets.iter().find(|d| stderr.contains(&format!("'{d}'")))
    {
        return SnapshotError::NotCreated {
            jail: jail.to_string(),
            dataset: d.clone(),
        };
    }
    e.into()
}

fn rows(host: &dyn Host, jail: &str, datasets: &[String]) -> Result<Vec<Row>, SnapshotError> {
    let out = host
        .run(&list_cmd(datasets))
        .map_err(|e| missing(jail, datasets, e))?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (name, creation, used, clones) = (f.next()?, f.next()?, f.next()?, f.next()?);
            let ours = f.next() == Some("yes");
            let (ds, snap) = name.split_once('@')?;
            Some(Row {
                dataset: ds.to_string(),
                snap: snap.to_string(),
                creation: creation.parse().unwrap_or(0),
                used: used.parse().unwrap_or(0),
                clones: clones
                    .split(',')
                    .filter(|c| !c.is_empty() && *c != "-")
                    .map(str::to_string)
                    .collect(),
                ours,
            })
        })
        .collect())
}

/// Refuse a dataset jailctl did not create (or that does not exist).
pub(crate) fn check_owned(
    host: &dyn Host,
    jail: &str,
    datasets: &[String],
) -> Result<(), SnapshotError> {
    let get = crate::host::zfs::Get::new([super::owned::MANAGED], datasets.iter().cloned());
    let out = host
        .run(&get.cmd())
        .map_err(|e| missing(jail, datasets, e))?;
    let rows =
        crate::host::zfs::parse_rows(&out.stdout, true).map_err(|e| SnapshotError::NotOwned {
            jail: jail.to_string(),
            dataset: e.text.clone(),
            why: format!("cannot read this {e}"),
        })?;
    for r in rows {
        let (name, value, source) = (r.name, r.value, r.source);
        if value != "yes" || source != "local" {
            return Err(SnapshotError::NotOwned {
                jail: jail.to_string(),
                dataset: name.to_string(),
                why: if value == "-" {
                    format!("{} is not set", super::owned::MANAGED)
                } else {
                    format!("{}={value}, {source}", super::owned::MANAGED)
                },
            });
        }
    }
    Ok(())
}

pub(crate) fn lock(host: &dyn Host, jail: &str) -> Result<JailLocks, SnapshotError> {
    JailLocks::acquire(host, &[jail.to_string()], |n| {
        tracing::warn!("jail {n} is locked by another jailctl; waiting")
    })
    .map_err(|e| SnapshotError::Lock(jail.to_string(), e))
}

/// Take a snapshot of the jail's root and volumes in one atomic `zfs snapshot`; returns the
/// full names taken, root first.
pub fn create(
    host: &dyn Host,
    spec: &JailSpec,
    global: &Global,
    label: Option<&str>,
) -> Result<Vec<String>, SnapshotError> {
    let _locks = lock(host, &spec.name)?;
    let ds = datasets(spec, global);
    check_owned(host, &spec.name, &ds)?;
    let existing: Vec<String> = rows(host, &spec.name, &ds)?
        .into_iter()
        .map(|r| r.snap)
        .collect();
    let snap = snapshot_name(label, &existing, std::time::SystemTime::now())?;
    if existing.contains(&snap) {
        return Err(SnapshotError::Exists {
            jail: spec.name.clone(),
            snapshot: snap.strip_prefix(PREFIX).unwrap_or(&snap).to_string(),
        });
    }
    let full: Vec<String> = ds.iter().map(|d| format!("{d}@{snap}")).collect();
    let mut a = vec!["snapshot".to_string(), "-o".into(), format!("{PROP}=yes")];
    a.extend(full.iter().cloned());
    host.run(&Cmd::new(tools::ZFS, a))?;
    Ok(full)
}

/// jailctl's snapshots of the jail (those named `jailctl-...`), oldest first.
pub fn list(
    host: &dyn Host,
    spec: &JailSpec,
    global: &Global,
) -> Result<Vec<SnapInfo>, SnapshotError> {
    let ds = datasets(spec, global);
    let mut out: Vec<SnapInfo> = Vec::new();
    for r in rows(host, &spec.name, &ds)? {
        if !r.snap.starts_with(PREFIX) || !r.ours {
            continue;
        }
        let full = format!("{}@{}", r.dataset, r.snap);
        match out.iter_mut().find(|s| s.name == r.snap) {
            Some(s) => {
                s.used += r.used;
                s.datasets.push(full);
            }
            None => out.push(SnapInfo {
                jail: spec.name.clone(),
                name: r.snap,
                creation: r.creation,
                used: r.used,
                datasets: vec![full],
            }),
        }
    }
    // Root first in each, and snapshots ordered by the root's (or first dataset's) creation.
    for s in &mut out {
        s.datasets
            .sort_by_key(|d| ds.iter().position(|x| d.starts_with(&format!("{x}@"))));
    }
    out.sort_by_key(|s| s.creation);
    Ok(out)
}

/// The snapshot's rows (datasets holding it) and every row, after the ownership check.
fn find(
    host: &dyn Host,
    spec: &JailSpec,
    global: &Global,
    snapshot: &str,
    action: &'static str,
) -> Result<(String, Vec<Row>, Vec<Row>), SnapshotError> {
    let ds = datasets(spec, global);
    check_owned(host, &spec.name, &ds)?;
    let all = rows(host, &spec.name, &ds)?;
    let wanted = if snapshot.starts_with(PREFIX) {
        snapshot.to_string()
    } else {
        format!("{PREFIX}{snapshot}")
    };
    let hit: Vec<Row> = all.iter().filter(|r| r.snap == wanted).cloned().collect();
    // A `jailctl-...` snapshot made by hand (zfs snapshot without the property) is not ours.
    if let Some(r) = hit.iter().find(|r| !r.ours) {
        return Err(SnapshotError::NotOurs {
            action,
            snapshot: format!("{}@{}", r.dataset, r.snap),
        });
    }
    if hit.is_empty() {
        let mut known: Vec<String> = Vec::new();
        for r in &all {
            if r.snap.starts_with(PREFIX) && r.ours && !known.contains(&r.snap) {
                known.push(r.snap.clone());
            }
        }
        return Err(SnapshotError::Unknown {
            jail: spec.name.clone(),
            snapshot: snapshot.to_string(),
            known,
        });
    }
    Ok((wanted, hit, all))
}

/// Destroy `snapshot` on the jail's root and volumes; refused while a dataset is cloned from
/// it. Returns the snapshots destroyed.
pub fn destroy(
    host: &dyn Host,
    spec: &JailSpec,
    global: &Global,
    snapshot: &str,
) -> Result<Vec<String>, SnapshotError> {
    let _locks = lock(host, &spec.name)?;
    let (snap, hit, _) = find(host, spec, global, snapshot, "destroy")?;
    let clones: Vec<String> = hit.iter().flat_map(|h| h.clones.clone()).collect();
    if !clones.is_empty() {
        return Err(SnapshotError::Clones {
            action: format!("destroy snapshot {snap} of jail `{}`", spec.name),
            from: "it".to_string(),
            clones,
        });
    }
    let mut done = Vec::new();
    for h in &hit {
        let full = format!("{}@{snap}", h.dataset);
        if let Err(error) = host.run(&Cmd::new(tools::ZFS, ["destroy", full.as_str()])) {
            if done.is_empty() {
                return Err(error.into());
            }
            return Err(SnapshotError::Partial {
                action: "destroy",
                done,
                failed: full,
                error: Box::new(error),
            });
        }
        done.push(full);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_the_label_or_a_unique_timestamp() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_198);
        assert_eq!(
            snapshot_name(Some("pre-upgrade"), &[], t).unwrap(),
            "jailctl-pre-upgrade"
        );
        assert_eq!(
            snapshot_name(Some("jailctl-x"), &[], t).unwrap(),
            "jailctl-x"
        );
        assert_eq!(
            snapshot_name(None, &["jailctl-20240229-235958".into()], t).unwrap(),
            "jailctl-20240229-235958-2"
        );
        assert!(matches!(
            snapshot_name(Some("a b"), &[], t),
            Err(SnapshotError::BadLabel(_))
        ));
        assert!(snapshot_name(Some(""), &[], t).is_err());
    }
}
