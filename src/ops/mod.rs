//! The operations the command line calls: `up`, `down`, `restart`, `destroy`, `status`,
//! `exec`, `console`. Each takes the host explicitly and runs the same sequence: lock the
//! jails involved, finish the undo of any killed earlier run on them, observe, plan, refuse
//! a plan that touches what jailctl does not own ([`owned`]), and apply (or only print the
//! commands, for `--dry-run`) with the observed state as the fingerprint an undo is checked
//! against ([`crate::apply::verify`]).
//!
//! Locks follow [`crate::apply::lock`]'s hierarchy and are passed explicitly: each changing
//! operation has an `_in` form taking the [`Held`] locks of its caller (`shutdown` holds the
//! fleet and every jail and hands them to each stop, so a stop never waits for its own run),
//! and a plain form that starts from nothing held. An operation on every jail (`--all`, empty
//! targets) takes the fleet lock; `up` ensures the host layout before it applies any step,
//! and holds a shared lock of each base it clones from while it applies. A preview
//! (`--dry-run`, on a read-only host) takes no lock and runs no recovery.

use crate::apply::layout::{self, LayoutError, LayoutStep};
use crate::apply::lock::{LockKey, Mode, warn_wait};
use crate::apply::{self, ApplyError, ApplyReport, Held, PendingUndo, UndoReport};
use crate::config::spec::{Global, JailSpec};
use crate::host::{Cmd, Host, ProcessError, tools};
use crate::observe::{self, HostState, ObserveError};
use crate::plan::{self, DownOptions, Plan, PlanError, Step, UpOptions};
use crate::render;
use serde::Serialize;

pub use crate::observe::owned;
pub mod adopt;
pub mod archive;
pub mod clone;
pub mod export;
pub mod import;
pub mod init;
mod jail_status;
pub mod snapshot;
mod stop;
pub mod upgrade;

pub use jail_status::{JailStatus, status, status_with_usage};
pub use stop::{Seen, destroy, down, down_in, down_only_with, force_down, restart};

/// Why an operation (`up`, `down`, `destroy`, `restart`, `upgrade`, ...) failed or was
/// refused.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum OpsError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Apply(#[from] ApplyError),
    #[error("cannot read the host's state: {0}")]
    Observe(
        #[from]
        #[diagnostic_source]
        ObserveError,
    ),
    #[error("cannot lock the jails: {0}")]
    Lock(
        #[from]
        #[diagnostic_source]
        crate::apply::LockError,
    ),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Layout(#[from] LayoutError),
    #[error("cannot finish the undo of an earlier interrupted run: {0}")]
    Recover(#[source] std::io::Error),
    /// An interrupted `snapshot rollback` of the jail, finished before anything else runs on
    /// it, could not be finished.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Rollback(Box<snapshot::SnapshotError>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Process(#[from] ProcessError),
    #[error("jail `{0}` is not running")]
    #[diagnostic(help("start it with `jailctl up {0}`"))]
    NotRunning(String),
    #[error(
        "refusing to destroy {dataset}: jailctl did not create {} below it: {}. Nothing was destroyed",
        if .foreign.len() == 1 { "this dataset" } else { "these datasets" },
        .foreign.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    #[diagnostic(help(
        "move or destroy {} yourself (`zfs rename`/`zfs destroy`), then run again",
        if .foreign.len() == 1 { "it" } else { "them" }
    ))]
    NotOwned {
        dataset: String,
        foreign: Vec<owned::Foreign>,
    },
    #[error("refusing to stop or change it: {0}. Nothing was changed")]
    ForeignJail(owned::ForeignJail),
    #[error(
        "refusing to use or change {dataset} for jail `{jail}`: jailctl did not create it ({why}). Nothing was changed"
    )]
    #[diagnostic(help(
        "rename or destroy it yourself (`zfs rename`/`zfs destroy`), or if it really is jailctl's, adopt it with `zfs set jailctl:managed=yes {dataset}`"
    ))]
    ForeignDataset {
        jail: String,
        dataset: String,
        why: String,
    },
    #[error(
        "refusing to restart `{jail}` because of --no-restart: {}", .reasons.join("; ")
    )]
    #[diagnostic(help("run without --no-restart when a restart is acceptable"))]
    NeedsRestart { jail: String, reasons: Vec<String> },
}

/// Options shared by the changing operations.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// Only compute the plan and the exact commands; change nothing.
    pub dry_run: bool,
    pub up: UpOptions,
    pub down: DownOptions,
    /// `up`: refuse a plan that stops a running jail (restart or re-create).
    pub no_restart: bool,
}

/// What an operation did (or would do, with `dry_run`).
#[derive(Debug, Default)]
pub struct Outcome {
    pub plan: Plan,
    /// `None` for a dry run.
    pub report: Option<ApplyReport>,
    /// Undo of interrupted earlier runs finished before this one.
    pub recovered: Vec<UndoReport>,
    /// A preview's view of the same: the undo a real run would finish first (nothing was
    /// run).
    pub pending: Vec<PendingUndo>,
    /// `--dry-run` of `up`: the host layout steps the real run would take first.
    pub layout: Vec<LayoutStep>,
}

impl Outcome {
    /// The exact commands of the plan, as `--dry-run` prints them.
    pub fn dry_run_text(&self) -> String {
        layout::dry_run_text(&self.layout) + &apply::dry_run(&self.plan)
    }
}

/// Before planning: a real run locks the jails `names` the caller does not hold yet and
/// finishes the undo of any interrupted run on them; a preview (`dry_run`, on a read-only
/// host) takes no lock and only lists what that undo would be, in `prior.pending`.
fn lock_and_recover<'h>(
    host: &dyn Host,
    held: &'h Held,
    names: &[String],
    dry_run: bool,
    prior: &mut Prior,
) -> Result<Held<'h>, OpsError> {
    if dry_run {
        prior.pending = apply::pending(host, names).map_err(OpsError::Recover)?;
        prior.pending.extend(
            names
                .iter()
                .filter_map(|n| snapshot::pending_rollback(host, n)),
        );
        return Ok(held.take(host, &[], warn_wait)?);
    }
    let locks = held.take_jails(host, names)?;
    if let Some(r) = apply::recover(host, Some(names)).map_err(OpsError::Recover)? {
        prior.recovered.push(r);
    }
    // A killed `snapshot rollback` left some datasets rolled back and some not: finish it
    // under the jail's lock (the one the rollback takes) before the jail is started, stopped
    // or destroyed, so a jail never runs on a half-rolled-back root.
    for n in names {
        snapshot::finish_rollback(host, n).map_err(|e| OpsError::Rollback(Box::new(e)))?;
    }
    Ok(locks)
}

/// What an operation found left over from interrupted earlier runs.
#[derive(Debug, Default)]
struct Prior {
    recovered: Vec<UndoReport>,
    pending: Vec<PendingUndo>,
}

/// The fleet lock for an operation on every jail (`all`); else nothing more.
fn fleet<'h>(host: &dyn Host, held: &'h Held, all: bool) -> Result<Held<'h>, OpsError> {
    let want: &[(LockKey, Mode)] = if all {
        &[(LockKey::Fleet, Mode::Exclusive)]
    } else {
        &[]
    };
    Ok(held.take(host, want, warn_wait)?)
}

/// The bases a plan clones roots from (`<zfs_root>/bases/<name>@<snapshot>`), by name.
fn cloned_bases(plan: &Plan, global: &crate::config::spec::Global) -> Vec<(LockKey, Mode)> {
    let prefix = format!("{}/bases/", global.zfs_root);
    let mut out: Vec<(LockKey, Mode)> = plan
        .steps()
        .filter_map(|(_, s)| match s {
            Step::CloneRoot { snapshot, .. } => snapshot
                .strip_prefix(&prefix)
                .and_then(|r| r.split_once('@'))
                .map(|(b, _)| (LockKey::Base(b.to_string()), Mode::Shared)),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Targets plus every defined jail that (transitively) depends on one of them.
fn with_dependents(specs: &[JailSpec], targets: &[String]) -> Vec<String> {
    let mut set: Vec<String> = if targets.is_empty() {
        specs.iter().map(|s| s.name.clone()).collect()
    } else {
        targets.to_vec()
    };
    loop {
        let before = set.len();
        for s in specs {
            if !set.contains(&s.name) && s.depends_on.iter().any(|d| set.contains(d)) {
                set.push(s.name.clone());
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// The end every changing operation shares: the ownership checks of the plan against the
/// observed `state`, then the apply, checked against that state.
fn finish(
    host: &dyn Host,
    held: &Held,
    plan: Plan,
    opts: &Opts,
    prior: Prior,
    state: &HostState,
    global: &Global,
) -> Result<Outcome, OpsError> {
    // A running jail jailctl did not start (see [`owned::foreign_jail`]) is never stopped or
    // changed, whatever its definition says.
    for jp in plan.jails.iter().filter(|j| !j.steps.is_empty()) {
        if let Some(f) = owned::foreign_jail(state, global, &jp.name) {
            return Err(OpsError::ForeignJail(f));
        }
        // Nor is a dataset that is not jailctl's used as a root or changed: the mark must be
        // set on it, not inherited from a parent an admin marked.
        let root = render::root_dataset(global, &jp.name);
        let changed = jp.steps.iter().filter_map(|s| match s {
            Step::SetProps { dataset, .. } | Step::RetireRoot { dataset, .. } => {
                Some(dataset.as_str())
            }
            _ => None,
        });
        for d in std::iter::once(root.as_str()).chain(changed) {
            if let Some(ds) = state.datasets.get(d)
                && !state.managed_local.contains(d)
            {
                return Err(OpsError::ForeignDataset {
                    jail: jp.name.clone(),
                    dataset: d.to_string(),
                    why: match ds.prop(owned::MANAGED) {
                        Some(v) => format!("{}={v} is not set on it but inherited", owned::MANAGED),
                        None => format!("{} is not set", owned::MANAGED),
                    },
                });
            }
        }
    }
    // `zfs destroy -r` takes everything below: refuse before any step if jailctl does not
    // own all of it (ownership is `jailctl:managed=yes` set locally, see [`owned`]).
    // A root retired by a re-create is destroyed under its new name; before the run it
    // still has its own.
    let retired: std::collections::BTreeMap<&str, &str> = plan
        .steps()
        .filter_map(|(_, s)| match s {
            Step::RetireRoot {
                dataset, retired, ..
            } => Some((retired.as_str(), dataset.as_str())),
            _ => None,
        })
        .collect();
    for (_, step) in plan.steps() {
        if let Step::DestroyDataset { dataset } = step {
            let now = retired.get(dataset.as_str()).copied().unwrap_or(dataset);
            let foreign = owned::foreign_below(host, now)?;
            if !foreign.is_empty() {
                return Err(OpsError::NotOwned {
                    dataset: dataset.clone(),
                    foreign,
                });
            }
        }
    }
    let report = if opts.dry_run || plan.is_empty() {
        None
    } else {
        // A base update must not swap the files under a clone being taken from it.
        let _bases = held.take(host, &cloned_bases(&plan, global), |k| {
            tracing::warn!("{k} is being changed by another jailctl; waiting to clone from it")
        })?;
        // What the run could touch, as observed to plan it: an undo is checked against it.
        let before = apply::exec::Before {
            print: apply::verify::Fingerprint::of(host, state, &plan, global),
            global,
        };
        Some(apply::exec::apply_checked(host, &plan, &before)?)
    };
    Ok(Outcome {
        plan,
        report,
        recovered: prior.recovered,
        pending: prior.pending,
        layout: Vec::new(),
    })
}

/// Make the targets (every defined jail when empty) and their dependencies match their
/// definitions, dependencies first.
pub fn up(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    targets: &[String],
    opts: &Opts,
) -> Result<Outcome, OpsError> {
    up_in(host, &Held::none(), specs, global, targets, opts)
}

/// [`up`] under the locks `held` of the caller. The host layout is ensured once the plan is
/// known and before any of it runs (with `--dry-run` only observed: its steps are returned
/// in [`Outcome::layout`]).
pub fn up_in(
    host: &dyn Host,
    held: &Held,
    specs: &[JailSpec],
    global: &Global,
    targets: &[String],
    opts: &Opts,
) -> Result<Outcome, OpsError> {
    let names = plan::order(specs, targets)?;
    let fleet = fleet(host, held, targets.is_empty() && !opts.dry_run)?;
    let mut prior = Prior::default();
    let locks = lock_and_recover(host, &fleet, &names, opts.dry_run, &mut prior)?;
    let mut state = observe::observe(host, global)?;
    state.root_links = observe::host::root_links(host, global, &names)?;
    with_pf(host, specs, global, &mut state)?;
    let plan = plan::plan_up(specs, global, &state, &names, &opts.up)?;
    if opts.no_restart {
        refuse_restarts(&plan)?;
    }
    // A plan that will run needs the shared parents; a refused or empty one changes nothing.
    let layout = match (plan.is_empty(), opts.dry_run) {
        (true, _) => Vec::new(),
        (false, true) => layout::missing(host, global)?,
        (false, false) => {
            layout::ensure(host, &locks, global)?;
            Vec::new()
        }
    };
    let mut out = finish(host, &locks, plan, opts, prior, &state, global)?;
    out.layout = layout;
    Ok(out)
}

fn refuse_restarts(plan: &Plan) -> Result<(), OpsError> {
    match plan
        .jails
        .iter()
        .find(|j| matches!(j.action, plan::Action::Restart | plan::Action::Recreate))
    {
        Some(j) => Err(OpsError::NeedsRestart {
            jail: j.name.clone(),
            reasons: j.reasons.clone(),
        }),
        None => Ok(()),
    }
}

/// Read jailctl's part of pf into `state` when a definition is NATed or a deployed jail
/// recorded pf rules ([`observe::pf::needed`]); otherwise pfctl is never run.
fn with_pf(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    state: &mut HostState,
) -> Result<(), OpsError> {
    if observe::pf::needed(specs, global, state) {
        state.pf = Some(observe::pf::observe_pf(host)?);
    }
    Ok(())
}

/// What `up` would do, without locking or changing anything (`jailctl plan`).
pub fn plan_only(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    targets: &[String],
    opts: &UpOptions,
) -> Result<Plan, OpsError> {
    let mut state = observe::observe(host, global)?;
    let names = plan::order(specs, targets)?;
    state.root_links = observe::host::root_links(host, global, &names)?;
    with_pf(host, specs, global, &mut state)?;
    Ok(plan::plan_up(specs, global, &state, targets, opts)?)
}

/// Make exactly `name` match its definition, without touching its dependencies: only that
/// jail is locked, observed and planned. For the boot scheduler, which starts a jail only
/// once its dependencies are up; `jailctl up NAME` keeps using [`up`]. Reads the host-wide
/// sysctls itself; a caller starting many jails reads them once and calls [`up_only_with`].
/// The host layout must already be there ([`layout::ensure`], run once by the caller).
pub fn up_only(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    name: &str,
    opts: &Opts,
) -> Result<Outcome, OpsError> {
    let facts = observe::host::host_facts(host)?;
    up_only_with(host, &Held::none(), specs, global, name, opts, &facts)
}

/// [`up_only`] with the host-wide facts already read: the host is observed only as far as
/// this jail's plan needs ([`observe::host::observe_jail`]: one `zfs get`, `jls -j NAME`, its
/// rctl rules, and `ifconfig -l` for a VNET jail).
pub fn up_only_with(
    host: &dyn Host,
    held: &Held,
    specs: &[JailSpec],
    global: &Global,
    name: &str,
    opts: &Opts,
    facts: &observe::host::HostFacts,
) -> Result<Outcome, OpsError> {
    let spec = specs
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| PlanError::UnknownJail(name.to_string()))?;
    let names = [name.to_string()];
    let mut prior = Prior::default();
    let locks = lock_and_recover(host, held, &names, opts.dry_run, &mut prior)?;
    let mut state = observe::host::observe_jail(host, global, spec, facts)?;
    state.root_links = observe::host::root_links(host, global, &names)?;
    with_pf(host, std::slice::from_ref(spec), global, &mut state)?;
    let plan = plan::plan_up_only(specs, global, &state, &names, &opts.up)?;
    finish(host, &locks, plan, opts, prior, &state, global)
}

/// Run `argv` inside a running jail, attached to the terminal; returns its exit status.
pub fn exec(host: &dyn Host, name: &str, argv: &[String]) -> Result<i32, OpsError> {
    let mut a = vec!["-l".to_string(), name.to_string()];
    a.extend(argv.iter().cloned());
    run_in(host, name, Cmd::new(tools::JEXEC, a))
}

/// A root login shell inside a running jail.
pub fn console(host: &dyn Host, name: &str) -> Result<i32, OpsError> {
    run_in(
        host,
        name,
        Cmd::new(tools::JEXEC, ["-l", name, "/usr/bin/login", "-f", "root"]),
    )
}

fn run_in(host: &dyn Host, name: &str, cmd: Cmd) -> Result<i32, OpsError> {
    let out = host.output(&Cmd::new(tools::JLS, ["-j", name, "jid"]))?;
    if !out.success() {
        return Err(OpsError::NotRunning(name.to_string()));
    }
    Ok(host.interactive(&cmd)?)
}

#[cfg(test)]
mod observe_tests;

#[cfg(test)]
mod tests {
    use super::jail_status::status_of;
    use super::*;
    use crate::observe::{Dataset, JailInfo};
    use jailctl_core::fixtures::{global, spec};
    use std::collections::BTreeMap;

    #[test]
    fn status_covers_defined_and_orphaned_jails() {
        let g = global();
        let mut st = HostState::default();
        let web = spec("web");
        let r = render::render(&web, &g).unwrap();
        let mut p = BTreeMap::new();
        p.insert("jailctl:managed".to_string(), "yes".to_string());
        p.insert("jailctl:spec".to_string(), r.spec_hash());
        for n in ["web", "old"] {
            let name = format!("zroot/jailctl/jails/{n}");
            st.datasets.insert(
                name.clone(),
                Dataset {
                    name,
                    props: p.clone(),
                },
            );
        }
        st.jails.insert(
            "web".into(),
            JailInfo {
                jid: 7,
                name: "web".into(),
                hostname: "web.example.org".into(),
                ..JailInfo::default()
            },
        );
        let s = status_of(&st, &[web, spec("new")], &g);
        let brief: Vec<(&str, &str, bool, Option<bool>)> = s
            .iter()
            .map(|j| (j.name.as_str(), j.state, j.defined, j.up_to_date))
            .collect();
        assert_eq!(
            brief,
            [
                ("new", "absent", true, None),
                ("old", "stopped", false, None),
                ("web", "running", true, Some(true)),
            ]
        );
        // What `list --json` prints for a jail: the fields scripts read, with their values.
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json[2]["name"], "web");
        assert_eq!(json[2]["state"], "running");
        assert_eq!(json[2]["defined"], true);
        assert_eq!(json[2]["up_to_date"], true);
        assert_eq!(json[1]["defined"], false);
        assert!(json[0]["jid"].is_null(), "{json}");
    }

    #[test]
    fn dependents_are_locked_too() {
        let mut web = spec("web");
        web.depends_on = vec!["db".into()];
        let specs = [web, spec("db"), spec("other")];
        assert_eq!(with_dependents(&specs, &["db".into()]), ["db", "web"]);
    }
}

/// `ops` on the simulated host: observe → plan → apply, end to end.
#[cfg(test)]
mod flow_tests {
    use super::*;
    use crate::apply::sim_tests::TestSim;
    use crate::host::HostFs;
    use jailctl_core::fixtures::{global, spec};
    use std::path::Path;

    fn deps() -> Vec<JailSpec> {
        let mut web = spec("web");
        web.depends_on = vec!["db".into()];
        web.limits.memory = Some(256 << 20);
        vec![web, spec("db")]
    }

    #[test]
    fn up_is_idempotent_through_observe() {
        let t = TestSim::with_base();
        let h = &t.host;
        let specs = deps();
        let g = global();
        let out = up(h, &specs, &g, &["web".into()], &Opts::default()).unwrap();
        let names: Vec<&str> = out.plan.jails.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        assert_eq!(out.report.unwrap().commands, 5); // 2 clones, 2 jail -c, 1 rctl -a
        let again = up(h, &specs, &g, &[], &Opts::default()).unwrap();
        assert!(again.plan.is_empty(), "{}", again.plan);
        assert!(again.report.is_none());
        let st = status(h, &specs, &g).unwrap();
        assert!(
            st.iter()
                .all(|s| s.state == "running" && s.up_to_date == Some(true))
        );
    }

    #[test]
    fn dry_run_changes_nothing() {
        let t = TestSim::with_base();
        let before = t.fingerprint();
        let mark = t.history().len();
        let opts = Opts {
            dry_run: true,
            ..Opts::default()
        };
        let out = up(&t.host, &deps(), &global(), &[], &opts).unwrap();
        assert!(out.report.is_none());
        assert!(
            out.dry_run_text()
                .contains("/usr/sbin/jail -f /var/run/jailctl/db.conf -c db")
        );
        jailctl_sim::fingerprint::assert_same(&before, &t.fingerprint());
        // Only read-only commands ran.
        let ran = t.ran_since(mark);
        assert!(!ran.is_empty());
        assert!(
            ran.iter()
                .all(|c| !c.contains(" clone ") && !c.contains("/usr/sbin/jail ")),
            "{ran:?}"
        );
    }

    #[test]
    fn down_needs_dependents_flag_and_restores_lost_conf() {
        let t = TestSim::with_base();
        let h = &t.host;
        let specs = deps();
        let g = global();
        up(h, &specs, &g, &[], &Opts::default()).unwrap();
        let e = down(h, &specs, &g, &["db".into()], &Opts::default()).unwrap_err();
        assert!(
            crate::host::explain(&e).contains("--with-dependents"),
            "{e}"
        );
        // /var/run was cleared: down re-renders the conf so jail -r can run the stop hooks.
        h.remove_file(Path::new("/var/run/jailctl/db.conf"))
            .unwrap();
        let opts = Opts {
            down: DownOptions {
                with_dependents: true,
                volumes: false,
            },
            ..Opts::default()
        };
        down(h, &specs, &g, &["db".into()], &opts).unwrap();
        let st = t.state();
        assert!(st.jails.is_empty(), "{:?}", st.jails);
        assert!(
            st.rctl_rules.values().all(Vec::is_empty),
            "{:?}",
            st.rctl_rules
        );
    }

    #[test]
    fn a_killed_run_is_undone_before_the_next_up() {
        let t = TestSim::with_base();
        let h = &t.host;
        let specs = vec![spec("web")];
        let g = global();
        let plan = plan::plan(&specs, &g, &t.state(), &[]).unwrap();
        crate::apply::exec::apply_inner(h, &plan, Some(2), None).unwrap();
        assert!(h.exists(Path::new("/var/db/jailctl/journal/web.json")));
        let out = up(h, &specs, &g, &[], &Opts::default()).unwrap();
        assert_eq!(out.recovered.len(), 1);
        assert!(out.recovered[0].failed.is_empty());
        assert_eq!(out.plan.jails[0].action, plan::Action::Create);
        assert!(t.has_jail("web"));
    }

    #[test]
    fn a_preview_lists_the_pending_undo_and_runs_none_of_it() {
        let t = TestSim::with_base();
        let h = &t.host;
        let specs = vec![spec("web")];
        let g = global();
        let plan = plan::plan(&specs, &g, &t.state(), &[]).unwrap();
        crate::apply::exec::apply_inner(h, &plan, Some(2), None).unwrap();
        let journal = Path::new("/var/db/jailctl/journal/web.json");
        assert!(h.exists(journal));
        let before = t.fingerprint();
        let ro = crate::host::readonly::ReadOnlyHost::new(h);
        let opts = Opts {
            dry_run: true,
            ..Opts::default()
        };
        for out in [
            up(&ro, &specs, &g, &[], &opts).unwrap(),
            down(&ro, &specs, &g, &[], &opts).unwrap(),
            destroy(&ro, &specs, &g, &[], &opts).unwrap(),
        ] {
            assert!(out.recovered.is_empty());
            assert_eq!(out.pending.len(), 1, "{:?}", out.pending);
            let p = &out.pending[0];
            assert_eq!((p.jail.as_str(), p.path.as_path()), ("web", journal));
            assert!(
                p.undo
                    .iter()
                    .any(|u| u == "/sbin/zfs destroy -r zroot/jailctl/jails/web"),
                "{p}"
            );
            assert!(p.to_string().starts_with(
                "a real run would first finish the undo of an interrupted run on jail web"
            ));
        }
        assert!(h.exists(journal));
        jailctl_sim::fingerprint::assert_same(&before, &t.fingerprint());
        // The real run finishes the undo.
        let out = up(h, &specs, &g, &[], &Opts::default()).unwrap();
        assert_eq!(out.recovered.len(), 1);
        assert!(out.pending.is_empty());
        assert!(!h.exists(journal));
    }

    #[test]
    fn exec_refuses_a_stopped_jail() {
        let t = TestSim::with_base();
        let e = exec(&t.host, "web", &["/bin/ls".into()]).unwrap_err();
        assert_eq!(
            crate::host::explain(&e),
            "jail `web` is not running; start it with `jailctl up web`"
        );
    }
}
