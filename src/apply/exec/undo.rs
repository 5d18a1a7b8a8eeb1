//! Undoing a run: each journal entry's undo run newest first, the journal removed or kept
//! with what could not be undone, and a run past its point of no return finished (or left
//! for the next run) instead. Used by a failed run and by [`recover`] after a killed one.

use super::files::{in_root, restore_owner, write_file};
use super::journal::{Entry, EntryState, FINISHING, Journal, journal_path, load_journals};
use super::wait::await_gone;
use super::{StepError, UndoReport, firewall_lock, io_cause};
use crate::apply::Undo;
use crate::host::Host;
use std::collections::BTreeMap;

/// The jail `jail ... -r NAME` removes.
fn removed_jail(cmd: &crate::host::Cmd) -> Option<&str> {
    (cmd.program == crate::host::tools::JAIL && cmd.args.iter().any(|a| a == "-r"))
        .then(|| cmd.args.last().map(String::as_str))
        .flatten()
}

fn run_undo(h: &dyn Host, u: &Undo) -> Result<(), StepError> {
    match u {
        Undo::Net(n) => Ok(crate::apply::net::run(h, n)?),
        Undo::Run { cmd } => {
            let lock = firewall_lock(h, cmd)?;
            h.run(cmd).map_err(StepError::Process)?;
            drop(lock);
            // Undoing a start removes the jail, and the kernel may keep it dying (a VNET
            // jail always is, while its network stack goes) with its root busy: wait for it
            // before the undos after this one destroy that root. One still dying after the
            // wait makes the destroy fail with its own message, and the journal keeps it.
            if let Some(name) = removed_jail(cmd) {
                let _ = await_gone(
                    h,
                    name,
                    "its root",
                    crate::config::dying_wait_from_env(),
                    "jailctl up",
                );
            }
            Ok(())
        }
        Undo::RestoreFile {
            path,
            previous: Some(b),
            mode,
            root,
            owner,
        } => {
            write_file(h, path, root.as_deref(), b, *mode)?;
            match owner {
                Some(o) if root.is_none() => restore_owner(h, path, *o),
                _ => Ok(()),
            }
        }
        Undo::RestoreFile {
            path,
            previous: None,
            root,
            ..
        } => match match in_root(path, root.as_deref()) {
            Some((root, rel)) => h.remove_in_root(root, rel),
            None => h.remove_file(path),
        } {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_cause("cannot remove", path, e))
            }
            _ => Ok(()),
        },
        Undo::RemoveDirs { paths } => paths.iter().try_for_each(|p| match h.remove_dir(p) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(StepError::Rmdir {
                path: p.clone(),
                source,
            }),
            _ => Ok(()),
        }),
    }
}

/// Undo the entries of the given journals, newest first; remove journals that were fully
/// undone and keep (rewritten with what is left) the others.
/// With `retry` (recovery of a killed run), journals past their point of no return are
/// finished now; without (the failure path of the run itself, whose last command just
/// failed), they are kept with the destroys still to do, for the next run.
pub(super) fn undo_journals(
    h: &dyn Host,
    journals: BTreeMap<String, Journal>,
    retry: bool,
) -> UndoReport {
    let (forward, mut journals): (BTreeMap<String, Journal>, BTreeMap<String, Journal>) = journals
        .into_iter()
        .partition(|(_, j)| j.past_point_of_no_return(h));
    // The others are undone as usual, whatever they planned to destroy later.
    for j in journals.values_mut() {
        j.forward.clear();
    }
    let mut report = UndoReport::default();
    for (jail, j) in forward {
        if retry {
            finish_forward(h, &jail, j, &mut report);
        } else {
            leave_forward(h, &jail, j, &mut report);
        }
    }
    let mut all: Vec<(String, Entry)> = journals
        .iter()
        .flat_map(|(jail, j)| j.entries.iter().map(move |e| (jail.clone(), e.clone())))
        .collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.1.seq));
    let mut left: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for (jail, e) in all {
        let _undo = tracing::info_span!("undo", jail = %jail, step = e.seq).entered();
        let mut failed = false;
        for u in &e.undo {
            tracing::info!("{u}");
            match run_undo(h, u) {
                Ok(()) => report.undone.push(u.to_string()),
                // A pending op may never have happened: its undo failing is expected.
                Err(_) if e.state == EntryState::Pending => {}
                Err(why) => {
                    report
                        .failed
                        .push((u.to_string(), crate::host::explain(&why)));
                    failed = true;
                }
            }
        }
        if failed {
            left.entry(jail).or_default().push(e);
        }
    }
    for (jail, j) in journals {
        let path = journal_path(&jail);
        match left.remove(&jail) {
            Some(mut entries) => {
                entries.reverse();
                let kept = Journal {
                    run: j.run,
                    entries,
                    forward: vec![],
                    forward_seq: 0,
                };
                let _ = h.write(
                    &path,
                    &serde_json::to_vec(&kept).expect("journal serializes"),
                    0o600,
                );
                report.kept.push(path);
            }
            None => {
                let _ = h.remove_file(&path);
            }
        }
    }
    report
}

/// Finish a jail's run that was past its point of no return: run its destroys again (one
/// whose dataset is already gone counts as done). The journal goes when all worked, and is
/// kept with only them otherwise, for the next run.
fn finish_forward(h: &dyn Host, jail: &str, j: Journal, report: &mut UndoReport) {
    let mut failed = false;
    for cmd in &j.forward {
        match h.output(cmd) {
            Ok(out) if out.success() => report.finished.push(cmd.to_string()),
            Ok(out)
                if cmd.args.first().is_some_and(|a| a == "destroy")
                    && out.stderr.contains("dataset does not exist") =>
            {
                report.finished.push(format!("{cmd} (already done)"))
            }
            Ok(out) => {
                failed = true;
                report.unfinished.push((
                    cmd.to_string(),
                    format!("exited with status {}: {}", out.status, out.stderr.trim()),
                ));
            }
            Err(e) => {
                failed = true;
                report.unfinished.push((cmd.to_string(), e.to_string()));
            }
        }
    }
    let path = journal_path(jail);
    if failed {
        keep_finishing(h, path, j.run, j.forward, report);
    } else {
        let _ = h.remove_file(&path);
    }
}

/// Keep a journal past its point of no return with only the destroys not done yet, for the
/// next run to finish; report what was done and what is left.
fn leave_forward(h: &dyn Host, jail: &str, j: Journal, report: &mut UndoReport) {
    let (done, left): (Vec<_>, Vec<_>) = j.forward.into_iter().partition(|cmd| {
        let what = cmd.to_string();
        j.entries
            .iter()
            .any(|e| e.what == what && e.state == EntryState::Done)
    });
    report.finished.extend(done.iter().map(ToString::to_string));
    let path = journal_path(jail);
    if left.is_empty() {
        let _ = h.remove_file(&path);
        return;
    }
    report.unfinished.extend(
        left.iter()
            .map(|c| (c.to_string(), "not done in this run".to_string())),
    );
    keep_finishing(h, path, j.run, left, report);
}

/// Write the journal at `path` as one the next run only finishes: no entries to undo, the
/// destroys `forward` still to do.
fn keep_finishing(
    h: &dyn Host,
    path: std::path::PathBuf,
    run: String,
    forward: Vec<crate::host::Cmd>,
    report: &mut UndoReport,
) {
    let kept = Journal {
        run,
        entries: vec![],
        forward,
        forward_seq: FINISHING,
    };
    let _ = h.write(
        &path,
        &serde_json::to_vec(&kept).expect("journal serializes"),
        0o600,
    );
    report.kept.push(path);
}

/// Finish the undo of runs that were killed, for the given jails (every journal when
/// `jails` is `None`). The caller holds those jails' locks, so no live run owns the journals.
/// Returns `None` when there was nothing to recover.
pub fn recover(
    host: &dyn Host,
    jails: Option<&[String]>,
) -> Result<Option<UndoReport>, std::io::Error> {
    let journals = load_journals(host, jails, true)?;
    if journals.is_empty() {
        return Ok(None);
    }
    Ok(Some(undo_journals(host, journals, true)))
}
