//! Rolling a jail back to a snapshot, and the journal that lets the next run finish a
//! rollback a kill interrupted (no `zfs rollback` can be undone). Apart from taking, listing
//! and destroying snapshots because of that journal.

use super::{Row, SnapshotError, find, lock};
use crate::config::spec::{Global, JailSpec};
use crate::host::{Cmd, Host, tools};

/// Where the journal of a rollback in progress lives: a rollback cannot be undone, so a killed
/// one is finished by the next `snapshot rollback` of the jail.
pub const ROLLBACK_JOURNAL_DIR: &str = "/var/db/jailctl/journal/rollback";

fn rollback_journal(jail: &str) -> std::path::PathBuf {
    std::path::Path::new(ROLLBACK_JOURNAL_DIR).join(format!("{jail}.json"))
}

/// What a rollback set out to do, written before its first `zfs rollback`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RollbackJournal {
    /// The short snapshot name, the same on every dataset.
    snapshot: String,
    /// Every dataset to roll back, root first.
    datasets: Vec<String>,
    /// `-r`: destroy the newer snapshots too.
    force: bool,
}

fn rollback_cmd(dataset: &str, snap: &str, force: bool) -> Cmd {
    let full = format!("{dataset}@{snap}");
    let mut a = vec!["rollback"];
    if force {
        a.push("-r");
    }
    a.push(&full);
    Cmd::new(tools::ZFS, a)
}

/// Finish a rollback a kill interrupted: roll every dataset it named back again (one already
/// rolled back is rolled back to where it is). Returns the snapshot, when there was one.
pub(crate) fn finish_rollback(
    host: &dyn Host,
    jail: &str,
) -> Result<Option<String>, SnapshotError> {
    let path = rollback_journal(jail);
    // A kill inside the journal write leaves a temporary file beside it: dropped.
    let _ = host.remove_file(&path.with_extension("jailctl-tmp"));
    let bytes = match host.read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(SnapshotError::Journal { path, cause }),
    };
    let j: RollbackJournal =
        serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Damaged {
            jail: jail.to_string(),
            source,
            journal: path.clone(),
        })?;
    for ds in &j.datasets {
        let cmd = rollback_cmd(ds, &j.snapshot, j.force);
        host.run(&cmd).map_err(|e| SnapshotError::Unfinished {
            jail: jail.to_string(),
            snapshot: format!("{ds}@{}", j.snapshot),
            source: Box::new(e),
            journal: path.clone(),
        })?;
    }
    host.remove_file(&path)
        .map_err(|cause| SnapshotError::Journal {
            path: path.clone(),
            cause,
        })?;
    tracing::warn!(
        "jail `{jail}`: finished the interrupted rollback to {} first ({})",
        j.snapshot,
        j.datasets.join(", ")
    );
    Ok(Some(j.snapshot))
}

/// What [`finish_rollback`] would do for `jail`, for previews: `None` without a pending
/// rollback journal (or with one that cannot be read: the real run reports that).
pub(crate) fn pending_rollback(host: &dyn Host, jail: &str) -> Option<crate::apply::PendingUndo> {
    let path = rollback_journal(jail);
    let j: RollbackJournal = serde_json::from_slice(&host.read(&path).ok()?).ok()?;
    Some(crate::apply::PendingUndo {
        jail: jail.to_string(),
        undo: j
            .datasets
            .iter()
            .map(|ds| {
                format!(
                    "{} (the rest of an interrupted `jailctl snapshot rollback {jail} {}`)",
                    rollback_cmd(ds, &j.snapshot, j.force),
                    j.snapshot
                )
            })
            .collect(),
        path,
    })
}

/// Whether the jail is running (`jls -j NAME` succeeds).
fn running(host: &dyn Host, name: &str) -> Result<bool, SnapshotError> {
    Ok(host
        .output(&Cmd::new(tools::JLS, ["-j", name, "jid"]))?
        .success())
}

/// Roll the stopped jail's root and volumes back to `snapshot`. Snapshots newer than it are
/// destroyed only with `force` (`zfs rollback -r`); their clones never are. Returns the
/// datasets rolled back, root first (a volume created after the snapshot has none and is
/// left as it is).
///
/// `confirm` is asked once every check has passed and before anything is rolled back, with
/// the snapshot about to be restored; `false` ends the call with [`SnapshotError::Declined`].
pub fn rollback(
    host: &dyn Host,
    spec: &JailSpec,
    global: &Global,
    snapshot: &str,
    force: bool,
    confirm: &mut dyn FnMut(&str) -> bool,
) -> Result<Vec<String>, SnapshotError> {
    let _locks = lock(host, &spec.name)?;
    if running(host, &spec.name)? {
        return Err(SnapshotError::Running(spec.name.clone()));
    }
    let finished = finish_rollback(host, &spec.name)?;
    let (snap, hit, all) = find(host, spec, global, snapshot, "roll back to")?;
    if finished.as_deref() == Some(snap.as_str()) {
        // The interrupted run was this same rollback, confirmed then: it is now complete.
        return Ok(hit.iter().map(|h| h.dataset.clone()).collect());
    }
    let mut newer = Vec::new();
    let mut clones = Vec::new();
    let mut foreign = Vec::new();
    for h in &hit {
        let mine: Vec<&Row> = all.iter().filter(|r| r.dataset == h.dataset).collect();
        let at = mine.iter().position(|r| r.snap == snap).unwrap_or(0);
        for r in &mine[at + 1..] {
            if !r.ours {
                foreign.push(format!("{}@{}", r.dataset, r.snap));
            }
            newer.push(format!("{}@{}", r.dataset, r.snap));
            clones.extend(r.clones.iter().cloned());
        }
    }
    let target = format!("{}@{snap}", hit[0].dataset);
    if !clones.is_empty() {
        return Err(SnapshotError::Clones {
            action: format!("roll back to {target}"),
            from: format!("the newer snapshots {}", newer.join(", ")),
            clones,
        });
    }
    if force && !foreign.is_empty() {
        return Err(SnapshotError::NewerNotOurs {
            snapshot: target,
            foreign,
        });
    }
    if !newer.is_empty() && !force {
        return Err(SnapshotError::Newer {
            snapshot: target,
            newer,
        });
    }
    if !confirm(&target) {
        return Err(SnapshotError::Declined(spec.name.clone()));
    }
    // No rollback can be undone: from the first one on, a killed run is finished by the next.
    let journal = rollback_journal(&spec.name);
    let record = RollbackJournal {
        snapshot: snap.clone(),
        datasets: hit.iter().map(|h| h.dataset.clone()).collect(),
        force,
    };
    host.mkdir_p(std::path::Path::new(ROLLBACK_JOURNAL_DIR), 0o700)
        .and_then(|()| {
            host.write(
                &journal,
                &serde_json::to_vec(&record).expect("journal serializes"),
                0o600,
            )
        })
        .map_err(|cause| SnapshotError::Journal {
            path: journal.clone(),
            cause,
        })?;
    let mut done = Vec::new();
    for h in &hit {
        if let Err(error) = host.run(&rollback_cmd(&h.dataset, &snap, force)) {
            if done.is_empty() {
                // zfs(8) changed nothing: there is nothing to finish.
                let _ = host.remove_file(&journal);
                return Err(error.into());
            }
            // The journal stays: the next rollback of this jail finishes the rest first.
            return Err(SnapshotError::Partial {
                action: "rollback",
                done,
                failed: h.dataset.clone(),
                error: Box::new(error),
            });
        }
        done.push(h.dataset.clone());
    }
    host.remove_file(&journal)
        .map_err(|cause| SnapshotError::Journal {
            path: journal,
            cause,
        })?;
    Ok(done)
}
