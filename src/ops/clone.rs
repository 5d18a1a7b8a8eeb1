//! `jailctl clone`: a new jail whose root is a ZFS clone of a snapshot of another jail's
//! root, with a definition of its own (the source's, resolved, under the new name, with a new
//! address or hostname when given). A copy to try a change on without touching the original.
//! With `volumes`, the source's volumes are cloned from the same atomic snapshot; without,
//! the new jail gets empty volumes at its first `up`. Every step is undone when a later one
//! fails ([`super::adopt::Undo`]).
//!
//! A clone depends on the snapshot it was made from (zfs(8), zfs clone): the snapshot
//! (`jailctl-clone-NEW-TIME`, listed by `jailctl snapshot list SRC`) stays while the clone
//! exists, and `zfs promote` on the clone reverses that dependency.

use super::adopt::{self, AdoptError, AdoptRefusal, Undo};
use super::snapshot::{self, SnapshotError};
use crate::apply::JailLocks;
use crate::config::layout as names;
use crate::config::spec::{Global, JailSpec};
use crate::host::{Cmd, Host, tools};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CloneError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Refused(#[from] AdoptRefusal),
    #[error("cannot write the definition of `{name}`: {source}")]
    Definition {
        name: String,
        #[source]
        source: EditError,
    },
    #[error("cannot lock jails `{0}` and `{1}`: {2}")]
    Lock(String, String, #[source] std::io::Error),
    #[error(
        "clone of `{src}` as `{name}` failed: {cause}; {}{}",
        if .undone.is_empty() { "nothing had been changed yet".to_string() } else { format!("undone: {}", .undone.join("; ")) },
        if .not_undone.is_empty() { String::new() } else { format!("; NOT undone (take these back by hand): {}", .not_undone.join("; ")) }
    )]
    #[diagnostic(forward(cause))]
    Failed {
        src: String,
        name: String,
        #[source]
        cause: Box<AdoptError>,
        undone: Vec<String>,
        not_undone: Vec<String>,
    },
}

/// Why a definition could not be edited for its new address or hostname.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EditError {
    #[error("it is not valid TOML: {0}")]
    Parse(#[source] toml::de::Error),
    #[error("its [network] is not a table")]
    #[diagnostic(help("write the network settings as a [network] section"))]
    NetworkNotTable,
    #[error("it cannot be written back as TOML: {0}")]
    Write(#[source] toml::ser::Error),
}

/// What the new definition changes from the source's.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub ip4: Option<String>,
    pub ip6: Option<String>,
    pub hostname: Option<String>,
}

/// The source's jail file with `changes` applied.
pub fn edit_definition(toml_text: &str, changes: &Changes) -> Result<String, EditError> {
    // Unchanged, the text stays as it is, comments included.
    if changes.ip4.is_none() && changes.ip6.is_none() && changes.hostname.is_none() {
        return Ok(toml_text.to_string());
    }
    let mut t: toml::Table = toml_text.parse().map_err(EditError::Parse)?;
    if let Some(h) = &changes.hostname {
        t.insert("hostname".into(), toml::Value::String(h.clone()));
    }
    for (key, v) in [("ip4", &changes.ip4), ("ip6", &changes.ip6)] {
        if let Some(a) = v {
            let net = t
                .entry("network")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(net) = net else {
                return Err(EditError::NetworkNotTable);
            };
            net.insert(
                key.into(),
                toml::Value::Array(vec![toml::Value::String(a.clone())]),
            );
        }
    }
    toml::to_string(&t).map_err(EditError::Write)
}

/// What was cloned.
#[derive(Debug, Clone)]
pub struct CloneReport {
    pub snapshot: String,
    pub datasets: Vec<String>,
    pub definition: PathBuf,
}

/// Properties not carried to the clone: its own mountpoint, and an automatically allocated
/// address (the new jail gets its own).
const NOT_CARRIED: &[&str] = &["mountpoint", names::IP4_PROP];

/// Clone jail `src` as `name`, with `definition` (a jail file) as its definition.
pub fn clone(
    host: &dyn Host,
    config_dir: &Path,
    global: &Global,
    src: &JailSpec,
    name: &str,
    definition: &str,
    volumes: bool,
) -> Result<CloneReport, CloneError> {
    let _locks = JailLocks::acquire(host, &[src.name.clone(), name.to_string()], |n| {
        tracing::warn!("jail {n} is locked by another jailctl; waiting")
    })
    .map_err(|e| CloneError::Lock(src.name.clone(), name.to_string(), e))?;
    adopt::finish_interrupted(host, name).map_err(|cause| CloneError::Failed {
        src: src.name.clone(),
        name: name.to_string(),
        cause: Box::new(cause),
        undone: Vec::new(),
        not_undone: Vec::new(),
    })?;
    let all = snapshot::datasets(src, global);
    let from: Vec<String> = if volumes { all } else { all[..1].to_vec() };
    snapshot::check_owned(host, &src.name, &from)?;
    let new_vols: Vec<String> = src
        .volumes
        .iter()
        .map(|v| names::volume_dataset(global, name, &v.name))
        .collect();
    adopt::check_free(host, config_dir, global, name, &new_vols)?;
    adopt::validate(config_dir, name, definition)?;
    let snap = format!(
        "{}clone-{name}-{}",
        snapshot::PREFIX,
        crate::base::unique_snapshot_name(&[], std::time::SystemTime::now())
    );
    let mut undo = Undo::new(host, name);
    let r = run_clone(
        host, config_dir, global, src, name, definition, &from, &snap, &mut undo,
    );
    match r {
        Ok(r) => {
            undo.commit().map_err(|cause| CloneError::Failed {
                src: src.name.clone(),
                name: name.to_string(),
                cause: Box::new(cause),
                undone: Vec::new(),
                not_undone: Vec::new(),
            })?;
            Ok(r)
        }
        Err(cause) => {
            let (undone, not_undone) = undo.rollback();
            Err(CloneError::Failed {
                src: src.name.clone(),
                name: name.to_string(),
                cause: Box::new(cause),
                undone,
                not_undone,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_clone(
    host: &dyn Host,
    config_dir: &Path,
    global: &Global,
    src: &JailSpec,
    name: &str,
    definition: &str,
    from: &[String],
    snap: &str,
    undo: &mut Undo<'_>,
) -> Result<CloneReport, AdoptError> {
    let run = |cmd: &Cmd| host.run(cmd).map(|_| ()).map_err(AdoptError::from);
    // One atomic snapshot of everything cloned.
    let snaps: Vec<String> = from.iter().map(|d| format!("{d}@{snap}")).collect();
    let mut a = vec![
        "snapshot".to_string(),
        "-o".into(),
        format!("{}=yes", snapshot::PROP),
    ];
    a.extend(snaps.iter().cloned());
    for s in &snaps {
        undo.push(
            format!("took {s}"),
            Cmd::new(tools::ZFS, ["destroy", s.as_str()]),
        )?;
    }
    run(&Cmd::new(tools::ZFS, a))?;
    let mut made = Vec::new();
    for (i, (ds, s)) in from.iter().zip(&snaps).enumerate() {
        let (target, mountpoint) = if i == 0 {
            (
                names::root_dataset(global, name),
                names::jail_root(global, name),
            )
        } else {
            let v = &src.volumes[i - 1].name;
            if i == 1 {
                adopt::ensure_volume_parent(host, global, name, undo)?;
            }
            (
                names::volume_dataset(global, name, v),
                names::volume_mountpoint(global, name, v),
            )
        };
        let mut a = vec!["clone".to_string()];
        a.extend(["-o".into(), format!("mountpoint={}", mountpoint.display())]);
        let props = super::archive::local_props(host, ds)?;
        for (k, v) in props
            .iter()
            .filter(|(k, _)| !NOT_CARRIED.contains(&k.as_str()))
        {
            a.extend(["-o".into(), format!("{k}={v}")]);
        }
        a.extend([s.clone(), target.clone()]);
        undo.push(
            format!("cloned {target}"),
            Cmd::new(tools::ZFS, ["destroy", "-r", target.as_str()]),
        )?;
        run(&Cmd::new(tools::ZFS, a))?;
        made.push(target);
    }
    let path = adopt::definition_path(config_dir, name);
    undo.file(path.clone())?;
    adopt::write_definition(&path, definition).map_err(|source| AdoptError::File {
        what: "write",
        path: path.clone(),
        source,
    })?;
    Ok(CloneReport {
        snapshot: snap.to_string(),
        datasets: made,
        definition: path,
    })
}
