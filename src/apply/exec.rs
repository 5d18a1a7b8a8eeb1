//! The executor and its undo journal. Before each op runs, its undo is written to the jail's
//! journal (`/var/db/jailctl/journal/<name>.json`) marked *pending*; after it succeeds it is
//! marked *done*. If an op fails, everything this run did is undone in reverse order and the
//! error names the failed step, its command output, and how the undo went. If jailctl is
//! killed mid-run, the journal stays behind and [`recover`] finishes the undo before the next
//! run touches that jail (pending entries may or may not have happened, so their undo is
//! allowed to fail). After an undo the host is observed again and compared with what it
//! was ([`super::verify`]): the report says "the host is as before" only when that check
//! found nothing, and otherwise lists what remains with the command that cleans it.

use super::lock::{Held, LockKey, Mode};
use super::{Op, Undo, ops};
use crate::host::{Cmd, Host, ProcessError};
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where journals live on the host.
pub const JOURNAL_DIR: &str = "/var/db/jailctl/journal";

fn journal_path(jail: &str) -> PathBuf {
    Path::new(JOURNAL_DIR).join(format!("{jail}.json"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EntryState {
    Pending,
    Done,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    /// Position in the run, across jails.
    seq: u64,
    /// What was done, for messages.
    what: String,
    state: EntryState,
    undo: Vec<Undo>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Journal {
    run: String,
    entries: Vec<Entry>,
    /// Set when the run reaches its point of no return for this jail (its first `zfs
    /// destroy -r`): the destroys that finish it. A journal with them is finished, never
    /// undone: what was destroyed cannot come back, and undoing the rest (restarting the
    /// jail, restoring its jail.conf) would only half-revive it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    forward: Vec<crate::host::Cmd>,
    /// The entry of the first of those destroys: until it is done (or, for a killed run, its
    /// dataset is gone), the run is not past the point and is undone as usual.
    #[serde(default)]
    forward_seq: u64,
}

/// `forward_seq` of a journal that only has destroys left to finish.
const FINISHING: u64 = u64::MAX;

impl Journal {
    /// Has this run destroyed something, so it must be finished rather than undone? When the
    /// first destroy is recorded but not marked done (killed while zfs ran), its dataset
    /// tells: gone means it happened.
    fn past_point_of_no_return(&self, h: &dyn Host) -> bool {
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

/// What a successful apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Every op run, with its jail.
    pub done: Vec<(String, String)>,
    /// How many of them were commands.
    pub commands: usize,
}

/// How an undo went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UndoReport {
    /// Undo actions that worked.
    pub undone: Vec<String>,
    /// Undo actions that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Journals kept because something could not be undone.
    pub kept: Vec<PathBuf>,
    /// The host observed again after the undo, compared with before the run.
    pub checked: super::verify::Checked,
    /// Commands run to finish a run that was past its point of no return (a `zfs destroy`
    /// had started), instead of undoing it.
    pub finished: Vec<String>,
    /// Such commands that failed, with why; their journal is kept and the next run of the
    /// same command finishes them.
    pub unfinished: Vec<(String, String)>,
}

impl fmt::Display for UndoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::verify::Checked;
        let mut lines = Vec::new();
        if !self.finished.is_empty() || !self.unfinished.is_empty() {
            lines.push(format!(
                "past the point of no return (a dataset was being destroyed), so finished rather than undone: {}",
                if self.finished.is_empty() {
                    "nothing yet".to_string()
                } else {
                    self.finished.join("; ")
                }
            ));
            for (what, why) in &self.unfinished {
                lines.push(format!("  - NOT finished: {what}: {why}"));
            }
            if !self.unfinished.is_empty() {
                lines.push(
                    "fix the cause, then run the same command again: it finishes these first"
                        .to_string(),
                );
            }
        }
        let only_forward = self.undone.is_empty()
            && self.failed.is_empty()
            && (!self.finished.is_empty() || !self.unfinished.is_empty());
        if only_forward {
        } else if self.failed.is_empty() {
            let mut line = format!(
                "undo: all {} change(s) made by this run were undone",
                self.undone.len()
            );
            // "As before" only when the host was observed again and compared.
            if matches!(self.checked, Checked::AsBefore) {
                line.push_str("; the host is as before (checked)");
            }
            lines.push(line);
        } else {
            lines.push(format!(
                "undo: {} change(s) undone, {} could NOT be undone:",
                self.undone.len(),
                self.failed.len()
            ));
            for (what, why) in &self.failed {
                lines.push(format!("  - {what}: {why}"));
            }
            lines.push(format!(
                "fix these by hand, then delete {}",
                self.kept
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        match &self.checked {
            Checked::AsBefore | Checked::NotChecked => {}
            Checked::Failed(why) => lines.push(format!(
                "could not check the host afterwards ({why}); compare it with `jailctl status` and `zfs list`"
            )),
            Checked::Differs(left) => {
                lines.push("checked: the host is NOT as before:".to_string());
                for r in left {
                    lines.push(format!("  - {}: {}", r.what, r.fix));
                }
            }
        }
        f.write_str(&lines.join("\n"))
    }
}

/// A failed apply.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("jail `{jail}`: {step} failed: {cause}\n{undo}")]
    Step {
        jail: String,
        step: String,
        cause: String,
        undo: Box<UndoReport>,
    },
    #[error(
        "cannot write the undo journal {path}: {source}; nothing was changed for this step (check that /var/db is writable)"
    )]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_cause(what: &str, path: &Path, e: &std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

fn process_cause(e: &ProcessError) -> String {
    match e {
        ProcessError::Failed {
            cmd,
            status,
            stdout,
            stderr,
        } => {
            let mut s = format!("`{cmd}` exited with status {status}");
            for (label, text) in [("stderr", stderr), ("stdout", stdout)] {
                let t = text.trim();
                if !t.is_empty() {
                    s.push_str(&format!("\n  {label}: {}", t.replace('\n', "\n    ")));
                }
            }
            s
        }
        e => e.to_string(),
    }
}

struct Executor<'a> {
    host: &'a dyn Host,
    run: String,
    seq: u64,
    journals: BTreeMap<String, Journal>,
    /// Test hook: stop after this many ops, as if killed (no undo, journal left).
    kill_after: Option<usize>,
    /// Jails a replacing [`Op::AwaitGone`] gave up on: still dying when started again.
    still_dying: std::collections::BTreeSet<String>,
    /// The last failed command ran past its deadline and was killed: it may have done part
    /// of its work, so its undo runs too.
    timed_out: bool,
}

impl Executor<'_> {
    fn save(&self, jail: &str) -> Result<(), ApplyError> {
        let path = journal_path(jail);
        let j = &self.journals[jail];
        let bytes = serde_json::to_vec(j).expect("journal serializes");
        self.host
            .mkdir_p(Path::new(JOURNAL_DIR), 0o700)
            .and_then(|()| self.host.write(&path, &bytes, 0o600))
            .map_err(|source| ApplyError::Journal { path, source })
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
    fn note_epair_unit(&mut self, jail: &str, unit: u32) -> Result<(), String> {
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
        self.save(jail)
            .map_err(|e| format!("{e}; the epair was not created"))
    }

    /// Run one op; journal first. `Err(cause)` when the op failed.
    fn run_op(
        &mut self,
        jail: &str,
        op: &Op,
        mut undo: Vec<Undo>,
    ) -> Result<Result<(), String>, ApplyError> {
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
                Err(e) => return Ok(Err(io_cause("cannot read", &path, &e))),
            }
        }
        self.seq += 1;
        let run = self.run.clone();
        let journal = self
            .journals
            .entry(jail.to_string())
            .or_insert_with(|| Journal {
                run,
                entries: vec![],
                forward: vec![],
                forward_seq: 0,
            });
        journal.entries.push(Entry {
            seq: self.seq,
            what: op.to_string(),
            state: EntryState::Pending,
            undo,
        });
        self.save(jail)?;
        let h = self.host;
        let result = match op {
            Op::Run(cmd) => firewall_lock(h, cmd).and_then(|_lock| {
                h.run(cmd).map(|_| ()).map_err(|e| {
                    self.timed_out = matches!(e, ProcessError::TimedOut { .. });
                    process_cause(&e)
                })
            }),
            Op::MakeDirs { paths, root } => paths.iter().try_for_each(|p| {
                match in_root(p, root.as_deref()) {
                    Some((root, rel)) => h.mkdir_in_root(root, rel),
                    None => h.mkdir_p(p, 0o755),
                }
                .map_err(|e| io_cause("cannot create directory", p, &e))
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
                Err(e) => Err(io_cause("cannot read", from, &e)),
            },
            Op::RemoveFile(p) => match h.remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(io_cause("cannot remove", p, &e))
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
                crate::apply::net::run_noting(h, n, &mut note)
            }
        };
        if result.is_ok() {
            let j = self.journals.get_mut(jail).expect("just inserted");
            let e = j.entries.last_mut().expect("just pushed");
            e.state = EntryState::Done;
            // Done, the pair carries the jail's names: its unit may be reused by any pair.
            e.undo.retain(|u| !is_unnamed_epair(u));
            self.save(jail)?;
        }
        Ok(result)
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

/// The permission bits of an existing file and, for a host file (not inside a jail root),
/// its owner.
fn file_meta(h: &dyn Host, path: &Path, in_root: bool) -> Option<(u32, Option<(u32, u32)>)> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(h.local_path(path)).ok()?;
    if !md.is_file() {
        return None;
    }
    Some((md.mode() & 0o7777, (!in_root).then(|| (md.uid(), md.gid()))))
}

/// Give a restored host file its recorded owner when it differs (a rewrite makes a new
/// file, owned by whoever runs jailctl).
fn restore_owner(h: &dyn Host, path: &Path, owner: (u32, u32)) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let local = h.local_path(path);
    let md = std::fs::symlink_metadata(&local).map_err(|e| io_cause("cannot inspect", path, &e))?;
    if (md.uid(), md.gid()) == owner {
        return Ok(());
    }
    std::os::unix::fs::lchown(&local, Some(owner.0), Some(owner.1)).map_err(|e| {
        format!(
            "cannot give {} back its owner {}:{}: {e}",
            path.display(),
            owner.0,
            owner.1
        )
    })
}

/// The jail `jail ... -r NAME` removes.
fn removed_jail(cmd: &crate::host::Cmd) -> Option<&str> {
    (cmd.program == crate::host::tools::JAIL && cmd.args.iter().any(|a| a == "-r"))
        .then(|| cmd.args.last().map(String::as_str))
        .flatten()
}

/// Is this op `jail ... -c NAME`?
fn is_create(op: &Op) -> bool {
    matches!(op, Op::Run(c) if c.program == crate::host::tools::JAIL
        && c.args.iter().any(|a| a == "-c"))
}

/// How often [`await_gone`] asks jls(8).
const DYING_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Wait until `jls -d -j NAME` no longer finds the jail (it exits non-zero once the kernel
/// has forgotten it), asking at most every [`DYING_POLL`] and giving up after `timeout`.
fn await_gone(
    h: &dyn Host,
    name: &str,
    dataset: &str,
    timeout: std::time::Duration,
    retry: &str,
) -> Result<(), String> {
    let start = std::time::Instant::now();
    let jls = crate::host::Cmd::new(crate::host::tools::JLS, ["-d", "-j", name, "jid"]);
    loop {
        let out = h.output(&jls).map_err(|e| process_cause(&e))?;
        if !out.success() {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(format!(
                "jail {name} is still dying (the kernel is tearing it down) after {:.1} s; its root {dataset} is busy; run `{retry}` again in a few seconds (a jail that had open connections can take a minute or more to go: JAILCTL_DYING_WAIT=SECONDS waits longer)",
                waited.as_secs_f64()
            ));
        }
        std::thread::sleep(DYING_POLL.min(timeout - waited));
    }
}

/// Probe a jail's health up to `retries` times (at least once), `interval` apart, each probe
/// killed after `timeout`; healthy when one exits 0. The error carries the last probe's
/// result, so the report says why the new root was given up.
fn health(
    h: &dyn Host,
    name: &str,
    cmd: &crate::host::Cmd,
    timeout: std::time::Duration,
    interval: std::time::Duration,
    retries: u32,
) -> Result<(), String> {
    let attempts = retries.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match h.output_within(cmd, timeout) {
            Ok(out) if out.success() => return Ok(()),
            Ok(out) => {
                let why = out.stderr.trim();
                last = format!(
                    "`{cmd}` exited {}{}",
                    out.status,
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {why}")
                    }
                );
            }
            Err(ProcessError::TimedOut { .. }) => {
                last = format!(
                    "`{cmd}` did not answer within {:.1} s and was killed",
                    timeout.as_secs_f64()
                )
            }
            Err(e) => last = process_cause(&e),
        }
        if attempt < attempts {
            std::thread::sleep(interval);
        }
    }
    Err(format!(
        "jail {name} is not healthy: {attempts} probe(s) failed, last: {last}; check the service inside the jail (`jexec {name} ...`) or loosen [health]"
    ))
}

/// `path` split into its jail root and the part below, when it is inside one.
fn in_root<'a>(path: &'a Path, root: Option<&'a Path>) -> Option<(&'a Path, &'a Path)> {
    let root = root?;
    path.strip_prefix(root).ok().map(|rel| (root, rel))
}

fn write_file(
    h: &dyn Host,
    path: &Path,
    root: Option<&Path>,
    contents: &[u8],
    mode: u32,
) -> Result<(), String> {
    if let Some((root, rel)) = in_root(path, root) {
        return h
            .write_in_root(root, rel, contents, mode)
            .map_err(|e| io_cause("cannot write", path, &e));
    }
    if let Some(parent) = path.parent() {
        h.mkdir_p(parent, 0o755)
            .map_err(|e| io_cause("cannot create directory", parent, &e))?;
    }
    h.write(path, contents, mode)
        .map_err(|e| io_cause("cannot write", path, &e))
}

/// The firewall's lock of [`crate::apply::lock`], held for the length of one pfctl(8) command
/// (`None` for any other program): anchor loads and flushes and `<jailctl_nat>` table changes
/// of concurrent runs (and boot threads) take turns. The run's jail and base locks come before
/// it in the one order, and nothing is taken while it is held.
fn firewall_lock(h: &dyn Host, cmd: &Cmd) -> Result<Option<Held<'static>>, String> {
    if cmd.program != crate::host::tools::PFCTL {
        return Ok(None);
    }
    Held::acquire(h, &[(LockKey::Firewall, Mode::Exclusive)], |_| {})
        .map(Some)
        .map_err(|e| format!("cannot take the firewall lock: {e}"))
}

fn run_undo(h: &dyn Host, u: &Undo) -> Result<(), String> {
    match u {
        Undo::Net(n) => crate::apply::net::run(h, n),
        Undo::Run { cmd } => {
            let lock = firewall_lock(h, cmd)?;
            h.run(cmd).map_err(|e| process_cause(&e))?;
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
                Err(io_cause("cannot remove", path, &e))
            }
            _ => Ok(()),
        },
        Undo::RemoveDirs { paths } => paths.iter().try_for_each(|p| match h.remove_dir(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!(
                "{}; check what is in it, then `rmdir {}`",
                io_cause("cannot remove directory", p, &e),
                p.display()
            )),
            _ => Ok(()),
        }),
    }
}

/// Undo the entries of the given journals, newest first; remove journals that were fully
/// undone and keep (rewritten with what is left) the others.
/// With `retry` (recovery of a killed run), journals past their point of no return are
/// finished now; without (the failure path of the run itself, whose last command just
/// failed), they are kept with the destroys still to do, for the next run.
fn undo_journals(h: &dyn Host, journals: BTreeMap<String, Journal>, retry: bool) -> UndoReport {
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
                    report.failed.push((u.to_string(), why));
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
        let kept = Journal {
            run: j.run,
            entries: vec![],
            forward: j.forward,
            forward_seq: FINISHING,
        };
        let _ = h.write(
            &path,
            &serde_json::to_vec(&kept).expect("journal serializes"),
            0o600,
        );
        report.kept.push(path);
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
    let kept = Journal {
        run: j.run,
        entries: vec![],
        forward: left,
        forward_seq: FINISHING,
    };
    let _ = h.write(
        &path,
        &serde_json::to_vec(&kept).expect("journal serializes"),
        0o600,
    );
    report.kept.push(path);
}

fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.{:09}-{}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id()
    )
}

/// Run a plan. The caller holds the locks of every jail in it (see [`super::JailLocks`]) and
/// has called [`recover`] for them. An undo is not checked: see [`apply_checked`].
pub fn apply(host: &dyn Host, plan: &Plan) -> Result<ApplyReport, ApplyError> {
    apply_inner(host, plan, None, None)
}

/// What the host was before a run, to check an undo against.
pub struct Before<'a> {
    pub print: super::verify::Fingerprint,
    pub global: &'a crate::config::spec::Global,
}

/// [`apply`], and after an undo, observe the host again and compare it with `before` (taken
/// with [`super::verify::Fingerprint::of`] from the state the plan was made from).
pub fn apply_checked(
    host: &dyn Host,
    plan: &Plan,
    before: &Before,
) -> Result<ApplyReport, ApplyError> {
    apply_inner(host, plan, None, Some(before))
}

pub(crate) fn apply_inner(
    host: &dyn Host,
    plan: &Plan,
    kill_after: Option<usize>,
    before: Option<&Before>,
) -> Result<ApplyReport, ApplyError> {
    let mut ex = Executor {
        host,
        run: run_id(),
        seq: 0,
        journals: BTreeMap::new(),
        kill_after,
        still_dying: Default::default(),
        timed_out: false,
    };
    let mut report = ApplyReport::default();
    let steps: Vec<(&str, &crate::plan::Step)> = plan.steps().collect();
    for (i, &(jail, step)) in steps.iter().enumerate() {
        if matches!(step, crate::plan::Step::DestroyDataset { .. })
            && ex.journals.get(jail).is_none_or(|j| j.forward.is_empty())
        {
            // The point of no return for this jail: from here a killed run is finished by the
            // next one, with these destroys (this one and the jail's later ones).
            let forward = steps[i..]
                .iter()
                .filter(|(j, s)| {
                    *j == jail && matches!(s, crate::plan::Step::DestroyDataset { .. })
                })
                .flat_map(|(_, s)| ops(s))
                .filter_map(|(op, _)| match op {
                    Op::Run(cmd) => Some(cmd),
                    _ => None,
                })
                .collect();
            let run = ex.run.clone();
            let j = ex
                .journals
                .entry(jail.to_string())
                .or_insert_with(|| Journal {
                    run,
                    entries: vec![],
                    forward: vec![],
                    forward_seq: 0,
                });
            j.forward = forward;
            // `run_op` numbers the destroy's entry next.
            j.forward_seq = ex.seq + 1;
        }
        // `-v` tells the run step by step, each line under its jail and step; `-vv` adds
        // every operation as it runs.
        let _step = tracing::info_span!("apply", jail = %jail, step = i + 1).entered();
        tracing::info!("{step}");
        for (op, undo) in ops(step) {
            if ex.kill_after.is_some_and(|n| report.done.len() >= n) {
                return Ok(report);
            }
            tracing::debug!("run {op}");
            match ex.run_op(jail, &op, undo) {
                Ok(Ok(())) => {
                    if op.is_command() {
                        report.commands += 1;
                    }
                    report.done.push((jail.to_string(), op.to_string()));
                }
                Ok(Err(mut cause)) => {
                    if ex.still_dying.contains(jail) && is_create(&op) {
                        cause.push_str(&format!(
                            "\n  jail {jail} was still dying (the kernel is tearing down the jail it replaces) after the wait; wait until `jls -d -j {jail}` no longer lists it, then run `jailctl up {jail}` again (JAILCTL_DYING_WAIT=SECONDS waits longer)"
                        ));
                    }
                    // A failed tool leaves things as they were, so the failed op is not
                    // undone (undoing a `zfs clone` that failed because the dataset exists
                    // would destroy it). Except `rctl -a`: it adds rule by rule and reports
                    // how many failed, so some may be in place; its undo runs, tolerantly.
                    // Nor a command killed at its deadline, which may have done part of its
                    // work.
                    let partial = ex.timed_out
                        || matches!(&op, Op::Run(c)
                        if c.program == crate::host::tools::RCTL
                            && c.args.first().is_some_and(|a| a == "-a"));
                    if let Some(j) = ex.journals.get_mut(jail) {
                        j.entries.retain(|e| e.state == EntryState::Done || partial);
                    }
                    let mut undo = undo_journals(host, std::mem::take(&mut ex.journals), false);
                    if let Some(b) = before {
                        undo.checked = b.print.check(host, b.global, plan);
                    }
                    return Err(ApplyError::Step {
                        jail: jail.to_string(),
                        step: step.to_string(),
                        cause,
                        undo: Box::new(undo),
                    });
                }
                Err(journal_err) => {
                    let _ = undo_journals(host, std::mem::take(&mut ex.journals), false);
                    return Err(journal_err);
                }
            }
        }
    }
    for jail in ex.journals.keys() {
        let _ = host.remove_file(&journal_path(jail));
    }
    Ok(report)
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

/// The undo a killed run left for one jail, as a preview reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingUndo {
    pub jail: String,
    /// The journal file.
    pub path: PathBuf,
    /// The undo actions [`recover`] would run, in order (newest change first).
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

/// What [`recover`] would undo for the given jails, without running or changing anything:
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
fn load_journals(
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
        let j: Journal = serde_json::from_slice(&bytes).map_err(|e| {
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
