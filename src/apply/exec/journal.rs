//! The undo journal on the host: what it holds (each op's undo, pending or done, and the
//! destroys that finish a run past its point of no return), loading the journals a killed
//! run left, and previewing their undo. Apart from the executor so the on-disk format and
//! its reading are in one place.

use super::JOURNAL_DIR;
use crate::apply::Undo;
use crate::host::Host;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub(super) fn journal_path(jail: &str) -> PathBuf {
    Path::new(JOURNAL_DIR).join(format!("{jail}.json"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum EntryState {
    Pending,
    Done,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Entry {
    /// Position in the run, across jails.
    pub(super) seq: u64,
    /// What was done, for messages.
    pub(super) what: String,
    pub(super) state: EntryState,
    pub(super) undo: Vec<Undo>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Journal {
    pub(super) run: String,
    pub(super) entries: Vec<Entry>,
    /// Set when the run reaches its point of no return for this jail (its first `zfs
    /// destroy -r`): the destroys that finish it. A journal with them is finished, never
    /// undone: what was destroyed cannot come back, and undoing the rest (restarting the
    /// jail, restoring its jail.conf) would only half-revive it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) forward: Vec<crate::host::Cmd>,
    /// The entry of the first of those destroys: until it is done (or, for a killed run, its
    /// dataset is gone), the run is not past the point and is undone as usual.
    #[serde(default)]
    pub(super) forward_seq: u64,
}

/// `forward_seq` of a journal that only has destroys left to finish.
pub(super) const FINISHING: u64 = u64::MAX;

impl Journal {
    /// Has this run destroyed something, so it must be finished rather than undone? When the
    /// first destroy is recorded but not marked done (killed while zfs ran), its dataset
    /// tells: gone means it happened.
    pub(super) fn past_point_of_no_return(&self, h: &dyn Host) -> bool {
        let Some(first) = self.forward.first() else {
            return false;
        };
        match self.entries.iter().find(|e| e.seq == self.forward_seq) {
            Some(e) if e.state == EntryState::Done => true,
            // Kept after a failed finish: nothing is left to undo.
            _ if self.forward_seq == FINISHING => true,
            _ => {
                let Some(dataset) = first.args.last() else {
                    return false;
                };
                let list = crate::host::Cmd::new(
                    crate::host::tools::ZFS,
                    ["list", "-H", "-o", "name", dataset.as_str()],
                );
                // A dataset that cannot be looked up is taken as still there: undoing is
                // then tried, and its failures are reported.
                h.output(&list)
                    .is_ok_and(|o| !o.success() && o.stderr.contains("dataset does not exist"))
            }
        }
    }
}

/// The undo a killed run left for one jail, as a preview reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingUndo {
    pub jail: String,
    /// The journal file.
    pub path: PathBuf,
    /// The undo actions [`super::recover`] would run, in order (newest change first).
    pub undo: Vec<String>,
}

impl fmt::Display for PendingUndo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a real run would first finish the undo of an interrupted run on jail {} ({}): {} change(s)",
            self.jail,
            self.path.display(),
            self.undo.len()
        )?;
        for u in &self.undo {
            write!(f, "\n  undo: {u}")?;
        }
        Ok(())
    }
}

/// What [`super::recover`] would undo for the given jails, without running or changing anything:
/// for previews, which must not finish another run's undo.
pub fn pending(host: &dyn Host, jails: &[String]) -> Result<Vec<PendingUndo>, std::io::Error> {
    let mut out = Vec::new();
    for (jail, j) in load_journals(host, Some(jails), false)? {
        let mut entries = j.entries;
        entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
        out.push(PendingUndo {
            path: journal_path(&jail),
            undo: entries
                .iter()
                .flat_map(|e| e.undo.iter().map(ToString::to_string))
                .collect(),
            jail,
        });
    }
    Ok(out)
}

/// The journals of the given jails (every journal when `jails` is `None`).
pub(super) fn load_journals(
    host: &dyn Host,
    jails: Option<&[String]>,
    clean_tmp: bool,
) -> Result<BTreeMap<String, Journal>, std::io::Error> {
    let dir = Path::new(JOURNAL_DIR);
    let mut journals = BTreeMap::new();
    if !host.exists(dir) {
        return Ok(journals);
    }
    for f in host.read_dir(dir)? {
        // A run killed inside a journal write leaves the whole old journal and the new one's
        // temporary file (see `write_atomic`): the temporary one is dropped.
        // A preview (`clean_tmp` false, on a read-only host) only skips it.
        if let Some(jail) = f.strip_suffix(".jailctl-tmp")
            && jails.is_none_or(|js| js.iter().any(|j| j == jail))
        {
            if clean_tmp {
                let _ = host.remove_file(&dir.join(&f));
            }
            continue;
        }
        let Some(jail) = f.strip_suffix(".json") else {
            continue;
        };
        if jails.is_some_and(|js| !js.iter().any(|j| j == jail)) {
            continue;
        }
        let path = dir.join(&f);
        let bytes = host.read(&path)?;
        let j: Journal = last_whole_line(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "undo journal {} is damaged ({e}); check the jail by hand and delete the file",
                    path.display()
                ),
            )
        })?;
        journals.insert(jail.to_string(), j);
    }
    Ok(journals)
}

/// The journal a file holds: its last line, or the one before when the last has no end (a
/// kill inside the append that was writing it; see `Executor::write_journal`). A file of
/// one JSON object without a newline (written whole by an undo) is its only line.
fn last_whole_line(bytes: &[u8]) -> serde_json::Result<Journal> {
    let mut lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let last = lines.pop().unwrap_or_default();
    match serde_json::from_slice(last) {
        Err(e) if !bytes.ends_with(b"\n") => match lines.pop() {
            Some(before) => serde_json::from_slice(before),
            None => Err(e),
        },
        r => r,
    }
}
