//! Running one op: its undo worked out (files' previous contents, directories a new
//! dataset's mountpoint makes) and journaled as pending before it runs, then marked done.

use super::files::{file_meta, in_root, write_file};
use super::journal::{Entry, EntryState, Journal, journal_path};
use super::wait::{await_gone, health};
use super::{ApplyError, JOURNAL_DIR, StepError, firewall_lock, io_cause};
use crate::apply::net::NetError;
use crate::apply::{Op, Undo};
use crate::host::{Host, ProcessError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(super) struct Executor<'a> {
    pub(super) host: &'a dyn Host,
    pub(super) run: String,
    pub(super) seq: u64,
    pub(super) journals: BTreeMap<String, Journal>,
    /// Test hook: stop after this many ops, as if killed (no undo, journal left).
    pub(super) kill_after: Option<usize>,
    /// Jails a replacing [`Op::AwaitGone`] gave up on: still dying when started again.
    pub(super) still_dying: std::collections::BTreeSet<String>,
    /// The last failed command ran past its deadline and was killed: it may have done part
    /// of its work, so its undo runs too.
    pub(super) timed_out: bool,
}

impl Executor<'_> {
    /// The jail's journal of this run, made empty the first time the run touches the jail.
    pub(super) fn journal_mut(&mut self, jail: &str) -> &mut Journal {
        let run = &self.run;
        self.journals
            .entry(jail.to_string())
            .or_insert_with(|| Journal {
                run: run.clone(),
                entries: vec![],
                forward: vec![],
                forward_seq: 0,
            })
    }

    fn save(&self, jail: &str) -> Result<(), ApplyError> {
        self.write_journal(jail)
            .map_err(|(path, source)| ApplyError::Journal { path, source })
    }

    /// Write the jail's journal; on failure, its path and the OS error.
    ///
    /// The journal file is a list of lines, each the whole journal as it stood, and the last
    /// whole line counts ([`super::journal::load_journals`]). The run's first entry replaces
    /// the file (atomically, so an old run's lines never count); later ones are appended, one
    /// durable write each and no new file (`HostFs::append`). A kill inside an append leaves a
    /// line without its end, which the reader skips: the line before it is the journal as it
    /// was before the op that was about to run, which then never ran.
    fn write_journal(&self, jail: &str) -> Result<(), (PathBuf, std::io::Error)> {
        let path = journal_path(jail);
        let j = &self.journals[jail];
        let mut bytes = serde_json::to_vec(j).expect("journal serializes");
        bytes.push(b'\n');
        let first = j.entries.len() <= 1;
        self.host
            .mkdir_p(Path::new(JOURNAL_DIR), 0o700)
            .and_then(|()| {
                if first {
                    self.host.write(&path, &bytes, 0o600)
                } else {
                    self.host.append(&path, &bytes, 0o600)
                }
            })
            .map_err(|source| (path, source))
    }

    fn previous(
        &self,
        path: &Path,
        root: Option<&Path>,
    ) -> Result<Option<Vec<u8>>, std::io::Error> {
        let read = match in_root(path, root) {
            Some((root, rel)) => self.host.read_in_root(root, rel),
            None => self.host.read(path),
        };
        match read {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Record in the pending entry of `jail` that `ifconfig epair<unit> create` is about to
    /// run, replacing the unit noted before (the kernel refused that one).
    fn note_epair_unit(&mut self, jail: &str, unit: u32) -> Result<(), NetError> {
        let j = self
            .journals
            .get_mut(jail)
            .expect("journaled before the op");
        let undo = &mut j.entries.last_mut().expect("pending entry").undo;
        undo.retain(|u| !is_unnamed_epair(u));
        // First: destroying the unnamed pair must come before the jail-named undo fails.
        undo.insert(
            0,
            Undo::Net(crate::apply::net::NetOp::DestroyUnnamedEpair { unit }),
        );
        self.write_journal(jail)
            .map_err(|(path, source)| NetError::Journal { path, source })
    }

    /// Run one op; journal first. `Err(cause)` when the op failed.
    pub(super) fn run_op(
        &mut self,
        jail: &str,
        op: &Op,
        mut undo: Vec<Undo>,
    ) -> Result<Result<(), StepError>, ApplyError> {
        self.dirs_undo(op, &mut undo);
        if let Err(cause) = self.file_undo(op, &mut undo) {
            return Ok(Err(cause));
        }
        self.journal_pending(jail, op, undo)?;
        let result = self.perform(jail, op);
        if result.is_ok() {
            self.mark_done(jail)?;
        }
        Ok(result)
    }

    /// The directories a new dataset's mountpoint makes, to remove after its destroy.
    fn dirs_undo(&self, op: &Op, undo: &mut Vec<Undo>) {
        // A dataset mounted where directories are missing makes them; its undo (a `zfs
        // destroy`, first in `undo`) removes only the mountpoint, so the rest go after it.
        if let Some(mp) = new_mountpoint(op) {
            let missing: Vec<PathBuf> = mp
                .ancestors()
                .take_while(|p| p.parent().is_some() && !self.host.exists(p))
                .map(Path::to_path_buf)
                .collect();
            if !missing.is_empty() {
                undo.push(Undo::RemoveDirs { paths: missing });
            }
        }
    }

    /// What a file op's target held before (its contents, mode and owner), to restore.
    fn file_undo(&self, op: &Op, undo: &mut Vec<Undo>) -> Result<(), StepError> {
        let file_target = match op {
            Op::WriteFile {
                path, mode, root, ..
            }
            | Op::CopyFile {
                to: path,
                mode,
                root,
                ..
            } => Some((path.clone(), *mode, root.clone())),
            Op::RemoveFile(path) => Some((path.clone(), 0o644, None)),
            _ => None,
        };
        if let Some((path, mode, root)) = file_target {
            match self.previous(&path, root.as_deref()) {
                // A link planted where the file goes is replaced, never read: undo removes.
                Err(e) if root.is_some() && crate::host::nofollow::is_link_refusal(&e) => undo
                    .push(Undo::RestoreFile {
                        path,
                        previous: None,
                        mode,
                        root,
                        owner: None,
                    }),
                Ok(previous) => {
                    // Give the file back the mode and owner it had, not the op's.
                    let meta = previous
                        .as_ref()
                        .and_then(|_| file_meta(self.host, &path, root.is_some()));
                    undo.push(Undo::RestoreFile {
                        path,
                        previous,
                        mode: meta.map_or(mode, |m| m.0),
                        owner: meta.and_then(|m| m.1),
                        root,
                    })
                }
                Err(e) => return Err(io_cause("cannot read", &path, e)),
            }
        }
        Ok(())
    }

    /// Record the op and its undo as pending in the jail's journal, on the host.
    fn journal_pending(&mut self, jail: &str, op: &Op, undo: Vec<Undo>) -> Result<(), ApplyError> {
        self.seq += 1;
        let seq = self.seq;
        self.journal_mut(jail).entries.push(Entry {
            seq,
            what: op.to_string(),
            state: EntryState::Pending,
            undo,
        });
        self.save(jail)
    }

    /// Do what the op says.
    fn perform(&mut self, jail: &str, op: &Op) -> Result<(), StepError> {
        let h = self.host;
        match op {
            Op::Run(cmd) => firewall_lock(h, cmd).and_then(|_lock| {
                h.run(cmd).map(|_| ()).map_err(|e| {
                    self.timed_out = matches!(e, ProcessError::TimedOut { .. });
                    StepError::Process(e)
                })
            }),
            Op::MakeDirs { paths, root } => paths.iter().try_for_each(|p| {
                match in_root(p, root.as_deref()) {
                    Some((root, rel)) => h.mkdir_in_root(root, rel),
                    None => h.mkdir_p(p, 0o755),
                }
                .map_err(|e| io_cause("cannot create directory", p, e))
            }),
            Op::WriteFile {
                path,
                contents,
                mode,
                root,
            } => write_file(h, path, root.as_deref(), contents, *mode),
            Op::CopyFile {
                from,
                to,
                mode,
                root,
            } => match h.read(from) {
                Ok(b) => write_file(h, to, root.as_deref(), &b, *mode),
                Err(e) => Err(io_cause("cannot read", from, e)),
            },
            Op::RemoveFile(p) => match h.remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(io_cause("cannot remove", p, e))
                }
                _ => Ok(()),
            },
            Op::AwaitGone {
                name,
                dataset,
                timeout,
                retry,
                replace,
            } => match await_gone(h, name, dataset, *timeout, retry) {
                // jail(8) lets the new jail take the dying one's name.
                Err(_) if *replace => {
                    self.still_dying.insert(name.clone());
                    Ok(())
                }
                r => r,
            },
            Op::Health {
                name,
                cmd,
                timeout,
                interval,
                retries,
            } => health(h, name, cmd, *timeout, *interval, *retries),
            Op::Net(n) => {
                // An epair's unit is chosen under the network lock: journal it before the
                // pair exists, so a kill between its create and its rename is undone.
                let mut note = |unit: u32| self.note_epair_unit(jail, unit);
                Ok(crate::apply::net::run_noting(h, n, &mut note)?)
            }
        }
    }

    /// Mark the op just run as done in the jail's journal.
    /// Mark the last entry done. Saved at once only past the point of no return (a destroy:
    /// the next run finishes the destroys not marked done, and must not run a done one
    /// again); any other entry is saved done with the next op's pending entry, or not at all
    /// when the run succeeds and its journal is removed. That halves the journal's durable
    /// writes per op. A kill in between leaves it pending, and a pending entry's undo runs as
    /// a done one's does, its failures tolerated (the op did run, so its undo applies).
    fn mark_done(&mut self, jail: &str) -> Result<(), ApplyError> {
        let j = self.journals.get_mut(jail).expect("just inserted");
        let e = j.entries.last_mut().expect("just pushed");
        e.state = EntryState::Done;
        // Done, the pair carries the jail's names: its unit may be reused by any pair.
        e.undo.retain(|u| !is_unnamed_epair(u));
        let forward = j.forward.iter().any(|c| c.to_string() == e.what);
        if forward { self.save(jail) } else { Ok(()) }
    }
}

fn is_unnamed_epair(u: &Undo) -> bool {
    matches!(
        u,
        Undo::Net(crate::apply::net::NetOp::DestroyUnnamedEpair { .. })
    )
}

/// The mountpoint of the dataset a `zfs create` or `zfs clone` op makes, when it sets one.
fn new_mountpoint(op: &Op) -> Option<&Path> {
    let Op::Run(c) = op else { return None };
    if c.program != crate::host::tools::ZFS
        || !c
            .args
            .first()
            .is_some_and(|a| a == "create" || a == "clone")
    {
        return None;
    }
    c.args
        .iter()
        .filter_map(|a| a.strip_prefix("mountpoint="))
        .map(Path::new)
        .find(|p| p.is_absolute())
}
