//! The journal of a base operation. `base create`, `update` and `destroy` change a dataset in
//! several host commands (create, fill, record properties, snapshot), and a run killed between
//! two of them used to leave a base that neither `create` ("already exists") nor `update` ("no
//! snapshot") could finish. So, as the jail executor does ([`crate::apply::exec`]), each change
//! is written down with its undo *before* it is made (pending), and marked done after it
//! succeeds; the file is `/var/db/jailctl/journal/bases/<name>.json`.
//!
//! The next `base create|update|destroy` of the same base reads the journal first (the caller
//! holds the base's lock, so no live run owns it) and either undoes the interrupted run
//! (`create`, `update`: their effects can be taken back exactly) or finishes it (`destroy`:
//! past `zfs destroy -r` nothing can be brought back, so it is rolled forward). Reads (`base
//! list`) never recover.
//!
//! Every undo is idempotent, so a recovery that is itself killed is simply run again: a
//! `zfs destroy` of something already gone counts as done, `zfs set`/`inherit`/`rollback` to
//! the recorded values can be repeated.

use super::{BaseError, zfs_cmd};
use crate::host::{Cmd, Host, ProcessError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where base journals live on the host (a directory of its own, so the jail journals'
/// `recover` never mistakes one for a jail's).
pub const BASE_JOURNAL_DIR: &str = "/var/db/jailctl/journal/bases";

/// The journal file of base `name`.
pub fn journal_path(name: &str) -> PathBuf {
    Path::new(BASE_JOURNAL_DIR).join(format!("{name}.json"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Done,
}

/// How to take one change back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum BaseUndo {
    /// A zfs command. With `best_effort`, a failure is reported as "kept", not as an error
    /// (a parent dataset `zfs create -p` made, which another base may use by now).
    Run {
        cmd: Cmd,
        #[serde(default)]
        best_effort: bool,
    },
    /// Remove a directory and everything in it (extraction debris left on the parent file
    /// system once the dataset is gone). A host path.
    RemoveTree { path: PathBuf },
    /// Remove a directory if it is empty (one `create` made on the way to the mountpoint).
    RemoveEmptyDir { path: PathBuf },
}

impl std::fmt::Display for BaseUndo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseUndo::Run { cmd, .. } => write!(f, "{cmd}"),
            BaseUndo::RemoveTree { path } => write!(f, "rm -rf {}", path.display()),
            BaseUndo::RemoveEmptyDir { path } => write!(f, "rmdir {}", path.display()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// What was done, for messages.
    pub what: String,
    pub state: State,
    /// Run in this order to take the change back.
    pub undo: Vec<BaseUndo>,
}

/// The journal of one run on one base.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journal {
    /// `create`, `update` or `destroy`.
    pub op: String,
    pub base: String,
    pub dataset: String,
    /// Commands that finish the run instead of undoing it (set once the run is past its point
    /// of no return: `destroy`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward: Vec<Cmd>,
    pub entries: Vec<Entry>,
}

fn journal_error(path: &Path, cause: std::io::Error) -> BaseError {
    BaseError::Io {
        what: "write the base journal (check that /var/db is writable)".into(),
        path: path.to_path_buf(),
        cause,
    }
}

impl Journal {
    /// A new, empty journal for `op` on base `base`; nothing is written yet.
    pub fn new(op: &str, base: &str, dataset: &str) -> Self {
        Journal {
            op: op.to_string(),
            base: base.to_string(),
            dataset: dataset.to_string(),
            forward: Vec::new(),
            entries: Vec::new(),
        }
    }

    fn save(&self, host: &dyn Host) -> Result<(), BaseError> {
        let path = journal_path(&self.base);
        let bytes = serde_json::to_vec(self).expect("journal serializes");
        host.mkdir_p(Path::new(BASE_JOURNAL_DIR), 0o700)
            .and_then(|()| host.write(&path, &bytes, 0o600))
            .map_err(|e| journal_error(&path, e))
    }

    /// Write down a change about to be made, with its undo (pending).
    pub fn record(
        &mut self,
        host: &dyn Host,
        what: impl Into<String>,
        undo: Vec<BaseUndo>,
    ) -> Result<(), BaseError> {
        self.entries.push(Entry {
            what: what.into(),
            state: State::Pending,
            undo,
        });
        self.save(host)
    }

    /// Write down the commands that finish this run (before the first of them runs).
    pub fn roll_forward(&mut self, host: &dyn Host, cmds: Vec<Cmd>) -> Result<(), BaseError> {
        self.forward = cmds;
        self.save(host)
    }

    /// The last recorded change happened.
    pub fn done(&mut self, host: &dyn Host) -> Result<(), BaseError> {
        if let Some(e) = self.entries.last_mut() {
            e.state = State::Done;
        }
        self.save(host)
    }

    /// The run finished: nothing is left to undo.
    pub fn close(self, host: &dyn Host) -> Result<(), BaseError> {
        let path = journal_path(&self.base);
        match host.remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BaseError::Io {
                what: "remove the base journal".into(),
                path,
                cause: e,
            }),
            _ => Ok(()),
        }
    }

    /// Undo every recorded change, newest first. The journal file is rewritten after each
    /// entry, so a recovery that is itself interrupted resumes where it stopped; it is removed
    /// when everything was undone and kept (with what is left) otherwise.
    pub fn undo(mut self, host: &dyn Host) -> UndoOutcome {
        let mut out = UndoOutcome::default();
        while let Some(e) = self.entries.last().cloned() {
            let mut failed = false;
            for u in &e.undo {
                match run_undo(host, u) {
                    Ok(()) => out.undone.push(u.to_string()),
                    Err(why) => match u {
                        BaseUndo::Run {
                            best_effort: true, ..
                        }
                        | BaseUndo::RemoveEmptyDir { .. } => out.kept.push((u.to_string(), why)),
                        // A pending change may never have happened: its undo may fail.
                        _ if e.state == State::Pending => {}
                        _ => {
                            out.failed.push((u.to_string(), why));
                            failed = true;
                        }
                    },
                }
            }
            if failed {
                let _ = self.save(host);
                out.journal_kept = Some(journal_path(&self.base));
                return out;
            }
            self.entries.pop();
            let _ = self.save(host);
        }
        let _ = self.close(host);
        out
    }

    /// Run the commands that finish this run; a `zfs destroy` of what is already gone counts
    /// as done. The journal is removed when all of them worked.
    pub fn finish_forward(self, host: &dyn Host) -> UndoOutcome {
        let mut out = UndoOutcome::default();
        for cmd in &self.forward {
            match run_idempotent(host, cmd) {
                Ok(()) => out.undone.push(cmd.to_string()),
                Err(why) => out.failed.push((cmd.to_string(), why)),
            }
        }
        if out.failed.is_empty() {
            let _ = self.close(host);
        } else {
            out.journal_kept = Some(journal_path(&self.base));
        }
        out
    }
}

/// How an undo (or a roll forward) went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UndoOutcome {
    /// Actions that worked.
    pub undone: Vec<String>,
    /// Actions that failed, with why: the base is not as it was.
    pub failed: Vec<(String, String)>,
    /// Best-effort actions that did not happen (a shared parent still in use), with why.
    pub kept: Vec<(String, String)>,
    /// The journal, when it was kept because something failed.
    pub journal_kept: Option<PathBuf>,
}

impl UndoOutcome {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// One line for messages: what was done, what failed.
    pub fn describe(&self) -> String {
        let mut s = if self.undone.is_empty() {
            "nothing needed undoing".to_string()
        } else {
            self.undone.join("; ")
        };
        for (what, why) in &self.kept {
            s.push_str(&format!("; kept ({what}: {why})"));
        }
        for (what, why) in &self.failed {
            s.push_str(&format!("; FAILED {what}: {why}"));
        }
        if let Some(p) = &self.journal_kept {
            s.push_str(&format!(
                "; the journal {} is kept: fix the above by hand, then delete it",
                p.display()
            ));
        }
        s
    }
}

fn process_cause(e: &ProcessError) -> String {
    match e {
        ProcessError::Failed { status, stderr, .. } => {
            format!("exited with status {status}: {}", stderr.trim())
        }
        e => e.to_string(),
    }
}

/// Run `cmd`; a `zfs destroy` whose target is already gone counts as done.
fn run_idempotent(host: &dyn Host, cmd: &Cmd) -> Result<(), String> {
    let out = host.output(cmd).map_err(|e| process_cause(&e))?;
    if out.success() {
        return Ok(());
    }
    let gone = cmd.args.first().is_some_and(|a| a == "destroy")
        && (out.stderr.contains("dataset does not exist")
            || out
                .stderr
                .contains("could not find any snapshots to destroy"));
    if gone {
        return Ok(());
    }
    Err(format!(
        "exited with status {}: {}",
        out.status,
        out.stderr.trim()
    ))
}

fn run_undo(host: &dyn Host, u: &BaseUndo) -> Result<(), String> {
    match u {
        BaseUndo::Run { cmd, .. } => run_idempotent(host, cmd),
        BaseUndo::RemoveTree { path } => match std::fs::remove_dir_all(host.local_path(path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", path.display()))
            }
            _ => Ok(()),
        },
        BaseUndo::RemoveEmptyDir { path } => match std::fs::remove_dir(host.local_path(path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", path.display()))
            }
            _ => Ok(()),
        },
    }
}

/// The interrupted run on base `name`, if one left its journal.
pub fn pending(host: &dyn Host, name: &str) -> Result<Option<Journal>, BaseError> {
    let path = journal_path(name);
    // A run killed inside a journal write leaves the old journal whole and the new one's
    // temporary file beside it: the temporary one is dropped.
    let _ = host.remove_file(&path.with_extension("jailctl-tmp"));
    let bytes = match host.read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => {
            return Err(BaseError::Io {
                what: "read the base journal".into(),
                path,
                cause,
            });
        }
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| BaseError::Io {
        what: "read the base journal".into(),
        path: path.clone(),
        cause: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is damaged ({e}); check the base with `zfs list -t all -r` and `jailctl base list`, fix it by hand and delete {}",
                path.display()
            ),
        ),
    })
}

/// What recovering an interrupted run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// `create`, `update` or `destroy`.
    pub op: String,
    /// Rolled forward (finished) rather than undone.
    pub finished: bool,
    pub outcome: UndoOutcome,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} the interrupted `base {}` first: {}",
            if self.finished { "finished" } else { "undid" },
            self.op,
            self.outcome.describe()
        )
    }
}

/// Finish or undo the run a kill interrupted on base `name`. The caller holds the base's
/// lock. `Ok(None)` when there was none; an error when something could not be put right (the
/// journal is then kept, and the message says what to fix).
pub fn recover(host: &dyn Host, name: &str) -> Result<Option<Recovered>, BaseError> {
    let Some(j) = pending(host, name)? else {
        return Ok(None);
    };
    let op = j.op.clone();
    let dataset = j.dataset.clone();
    let finished = !j.forward.is_empty();
    let outcome = if finished {
        j.finish_forward(host)
    } else {
        j.undo(host)
    };
    if !outcome.ok() {
        return Err(BaseError::Recover {
            name: name.to_string(),
            dataset,
            op,
            report: outcome.describe(),
        });
    }
    Ok(Some(Recovered {
        op,
        finished,
        outcome,
    }))
}

/// `zfs destroy -r DATASET`, as an undo.
pub fn destroy_undo(dataset: &str) -> BaseUndo {
    BaseUndo::Run {
        cmd: zfs_cmd(["destroy", "-r", dataset]),
        best_effort: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{HostFs, Runner};
    use jailctl_sim::SimHost;
    use jailctl_sim::faults::{FaultRule, SimConfig};

    const DS: &str = "zroot/jailctl/bases/b";

    fn host(dir: &Path, faults: Vec<FaultRule>) -> SimHost {
        SimHost::open_with(
            dir,
            SimConfig {
                faults,
                ..SimConfig::default()
            },
        )
        .unwrap()
    }

    fn exists(h: &SimHost, ds: &str) -> bool {
        h.output(&zfs_cmd(["list", "-H", "-o", "name", ds]))
            .unwrap()
            .success()
    }

    /// A create killed after `zfs create`: the journal left behind takes the dataset away,
    /// and a second recovery (as after a recovery that was itself killed) finds nothing.
    #[test]
    fn a_killed_create_is_undone_once_and_idempotently() {
        let d = tempfile::tempdir().unwrap();
        let h = host(d.path(), vec![]);
        let mut j = Journal::new("create", "b", DS);
        j.record(&h, "zfs create", vec![destroy_undo(DS)]).unwrap();
        h.run(&zfs_cmd([
            "create",
            "-p",
            "-o",
            "mountpoint=/usr/local/jails/.bases/b",
            DS,
        ]))
        .unwrap();
        j.done(&h).unwrap();
        // Killed here: the journal stays on disk.
        let again = pending(&h, "b").unwrap().unwrap();
        assert_eq!(again.entries.len(), 1);
        let r = recover(&h, "b").unwrap().unwrap();
        assert!(!r.finished);
        assert_eq!(r.outcome.undone.len(), 1, "{r}");
        assert!(!exists(&h, DS));
        assert!(!h.exists(&journal_path("b")));
        assert_eq!(recover(&h, "b").unwrap(), None);
        // The same undo run twice (a recovery killed before it removed the journal): a
        // destroy of what is gone counts as done.
        let mut j = Journal::new("create", "b", DS);
        j.record(&h, "zfs create", vec![destroy_undo(DS)]).unwrap();
        j.done(&h).unwrap();
        let r = recover(&h, "b").unwrap().unwrap();
        assert!(r.outcome.ok(), "{r}");
    }

    /// A pending entry may never have happened: its undo failing is not an error. A done
    /// entry whose undo fails keeps the journal and says so.
    #[test]
    fn a_failing_undo_keeps_the_journal_and_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let h = host(d.path(), vec![]);
        h.run(&zfs_cmd(["create", "-p", DS])).unwrap();
        let rollback = BaseUndo::Run {
            cmd: zfs_cmd(["rollback", "zroot/jailctl/bases/b@nope"]),
            best_effort: false,
        };
        let mut j = Journal::new("update", "b", DS);
        j.record(&h, "empty and extract", vec![rollback.clone()])
            .unwrap();
        // Pending: tolerated.
        let r = recover(&h, "b").unwrap().unwrap();
        assert!(r.outcome.ok() && r.outcome.undone.is_empty(), "{r}");
        let mut j = Journal::new("update", "b", DS);
        j.record(&h, "empty and extract", vec![rollback]).unwrap();
        j.done(&h).unwrap();
        let e = recover(&h, "b").unwrap_err().to_string();
        assert!(
            e.contains("interrupted `base update`")
                && e.contains("FAILED")
                && e.contains("the journal /var/db/jailctl/journal/bases/b.json is kept"),
            "{e}"
        );
        assert!(h.exists(&journal_path("b")));
    }

    /// A destroy journal is finished, not undone, and a parent `zfs create -p` made is only
    /// taken away when nothing else uses it (best effort, reported as kept).
    #[test]
    fn destroy_rolls_forward_and_shared_parents_are_kept() {
        let d = tempfile::tempdir().unwrap();
        let h = host(d.path(), vec![]);
        h.run(&zfs_cmd(["create", "-p", DS])).unwrap();
        h.run(&zfs_cmd(["create", "zroot/jailctl/bases/other"]))
            .unwrap();
        let mut j = Journal::new("destroy", "b", DS);
        j.roll_forward(&h, vec![zfs_cmd(["destroy", "-r", DS])])
            .unwrap();
        let r = recover(&h, "b").unwrap().unwrap();
        assert!(r.finished && r.outcome.ok(), "{r}");
        assert!(
            r.to_string()
                .starts_with("finished the interrupted `base destroy`")
        );
        assert!(!exists(&h, DS));

        h.run(&zfs_cmd(["create", DS])).unwrap();
        let mut j = Journal::new("create", "b", DS);
        j.record(
            &h,
            "zfs create -p",
            vec![
                destroy_undo(DS),
                BaseUndo::Run {
                    cmd: zfs_cmd(["destroy", "zroot/jailctl/bases"]),
                    best_effort: true,
                },
            ],
        )
        .unwrap();
        j.done(&h).unwrap();
        let r = recover(&h, "b").unwrap().unwrap();
        assert!(r.outcome.ok(), "{r}");
        assert_eq!(r.outcome.kept.len(), 1, "{r}");
        assert!(exists(&h, "zroot/jailctl/bases/other"));
    }
}
