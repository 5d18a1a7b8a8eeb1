//! The executor and its undo journal. Before each op runs, its undo is written to the jail's
//! journal (`/var/db/jailctl/journal/<name>.json`) marked *pending*; after it succeeds it is
//! marked *done*. If an op fails, everything this run did is undone in reverse order and the
//! error names the failed step, its command output, and how the undo went. If jailctl is
//! killed mid-run, the journal stays behind and [`recover`] finishes the undo before the next
//! run touches that jail (pending entries may or may not have happened, so their undo is
//! allowed to fail). After an undo the host is observed again and compared with what it
//! was ([`super::verify`]): the report says "the host is as before" only when that check
//! found nothing, and otherwise lists what remains with the command that cleans it.

mod files;
mod journal;
mod run;
mod undo;
mod wait;

use super::lock::{Held, LockError, LockKey, Mode};
use super::{Op, ops};
use crate::host::{Cmd, Host, ProcessError};
use crate::plan::Plan;
use journal::{EntryState, journal_path};
use run::Executor;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use undo::undo_journals;

pub use journal::{PendingUndo, pending};
pub use undo::recover;

/// Where journals live on the host.
pub const JOURNAL_DIR: &str = "/var/db/jailctl/journal";

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
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    /// The help is the cause's.
    #[error("jail `{jail}`: {step} failed: {cause}\n{undo}")]
    #[diagnostic(forward(cause))]
    Step {
        jail: String,
        step: String,
        #[source]
        cause: Box<StepError>,
        undo: Box<UndoReport>,
    },
    #[error(
        "cannot write the undo journal {path}: {source}; nothing was changed for this step",
        path = .path.display()
    )]
    #[diagnostic(help("check that /var/db is writable"))]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why one operation of a step, or of an undo, failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StepError {
    /// A command failed: the message shows its standard error and output on lines of their
    /// own.
    #[error("{}", process_cause(.0))]
    #[diagnostic(transparent)]
    Process(#[source] ProcessError),
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove directory {}: {source}", .path.display())]
    #[diagnostic(help("check what is in it, then `rmdir {}`", .path.display()))]
    Rmdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot give {} back its owner {}:{}: {source}", .path.display(), .owner.0, .owner.1)]
    Owner {
        path: PathBuf,
        owner: (u32, u32),
        #[source]
        source: std::io::Error,
    },
    #[error(
        "jail {name} is still dying (the kernel is tearing it down) after {waited:.1} s; its root {dataset} is busy"
    )]
    #[diagnostic(help(
        "run `{retry}` again in a few seconds (a jail that had open connections can take a minute or more to go: JAILCTL_DYING_WAIT=SECONDS waits longer)"
    ))]
    Dying {
        name: String,
        dataset: String,
        waited: f64,
        /// The command to run again.
        retry: String,
    },
    /// Every probe of `[health]` failed; `last` says how the last one did.
    #[error("jail {name} is not healthy: {attempts} probe(s) failed, last: {last}")]
    #[diagnostic(help(
        "check the service inside the jail (`jexec {name} ...`) or loosen [health]"
    ))]
    Unhealthy {
        name: String,
        attempts: u32,
        last: String,
    },
    #[error("cannot take the firewall lock: {0}")]
    FirewallLock(
        #[source]
        #[diagnostic_source]
        LockError,
    ),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Net(#[from] crate::apply::net::NetError),
    /// The jail a started one replaces was still dying when it was started.
    #[error(
        "{cause}\n  jail {jail} was still dying (the kernel is tearing down the jail it replaces) after the wait"
    )]
    #[diagnostic(help(
        "wait until `jls -d -j {jail}` no longer lists it, then run `jailctl up {jail}` again (JAILCTL_DYING_WAIT=SECONDS waits longer)"
    ))]
    StillDying {
        jail: String,
        #[source]
        cause: Box<StepError>,
    },
}

/// [`StepError::Io`]: `what` (`cannot write`, ...) of `path` failed with `source`.
pub(super) fn io_cause(what: &'static str, path: &Path, source: std::io::Error) -> StepError {
    StepError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn process_cause(e: &ProcessError) -> String {
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

/// The firewall's lock of [`crate::apply::lock`], held for the length of one pfctl(8) command
/// (`None` for any other program): anchor loads and flushes and `<jailctl_nat>` table changes
/// of concurrent runs (and boot threads) take turns. The run's jail and base locks come before
/// it in the one order, and nothing is taken while it is held.
pub(super) fn firewall_lock(h: &dyn Host, cmd: &Cmd) -> Result<Option<Held<'static>>, StepError> {
    if cmd.program != crate::host::tools::PFCTL {
        return Ok(None);
    }
    Held::acquire(h, &[(LockKey::Firewall, Mode::Exclusive)], |_| {})
        .map(Some)
        .map_err(StepError::FirewallLock)
}

/// Is this op `jail ... -c NAME`?
fn is_create(op: &Op) -> bool {
    matches!(op, Op::Run(c) if c.program == crate::host::tools::JAIL
        && c.args.iter().any(|a| a == "-c"))
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
            note_forward(&mut ex, jail, &steps[i..]);
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
                Ok(Err(cause)) => {
                    return Err(fail_step(&mut ex, plan, before, jail, step, &op, cause));
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

/// Record that `jail` reaches its point of no return at the first of `later` (its first
/// destroy).
fn note_forward(ex: &mut Executor, jail: &str, later: &[(&str, &crate::plan::Step)]) {
    // The point of no return for this jail: from here a killed run is finished by the
    // next one, with these destroys (this one and the jail's later ones).
    let forward = later
        .iter()
        .filter(|(j, s)| *j == jail && matches!(s, crate::plan::Step::DestroyDataset { .. }))
        .flat_map(|(_, s)| ops(s))
        .filter_map(|(op, _)| match op {
            Op::Run(cmd) => Some(cmd),
            _ => None,
        })
        .collect();
    // `run_op` numbers the destroy's entry next.
    let next = ex.seq + 1;
    let j = ex.journal_mut(jail);
    j.forward = forward;
    j.forward_seq = next;
}

/// A step's op failed: undo the run (the failed op too when it may have done part of its
/// work) and say what failed and how the undo went.
fn fail_step(
    ex: &mut Executor,
    plan: &Plan,
    before: Option<&Before>,
    jail: &str,
    step: &crate::plan::Step,
    op: &Op,
    mut cause: StepError,
) -> ApplyError {
    let host = ex.host;
    if ex.still_dying.contains(jail) && is_create(op) {
        cause = StepError::StillDying {
            jail: jail.to_string(),
            cause: Box::new(cause),
        };
    }
    // A failed tool leaves things as they were, so the failed op is not
    // undone (undoing a `zfs clone` that failed because the dataset exists
    // would destroy it). Except `rctl -a`: it adds rule by rule and reports
    // how many failed, so some may be in place; its undo runs, tolerantly.
    // Nor a command killed at its deadline, which may have done part of its
    // work.
    let partial = ex.timed_out
        || matches!(op, Op::Run(c)
            if c.program == crate::host::tools::RCTL
                && c.args.first().is_some_and(|a| a == "-a"));
    if let Some(j) = ex.journals.get_mut(jail) {
        j.entries.retain(|e| e.state == EntryState::Done || partial);
    }
    let mut undo = undo_journals(host, std::mem::take(&mut ex.journals), false);
    if let Some(b) = before {
        undo.checked = b.print.check(host, b.global, plan);
    }
    ApplyError::Step {
        jail: jail.to_string(),
        step: step.to_string(),
        cause: Box::new(cause),
        undo: Box::new(undo),
    }
}
