//! `jailctl upgrade`: move jails to a new base and keep the way back. The upgrade is one
//! journaled run (stop, keep the old root under another name, clone the new base, start,
//! provision, health check), so any failure, the health check's included, undoes it: the
//! old root comes back under its name and the jail runs again as it did. `--rollback` goes
//! back later; `--finish` destroys the kept root. Plans come from
//! [`crate::plan::plan_upgrade`], [`crate::plan::plan_rollback`] and
//! [`crate::plan::plan_finish`]; locks, recovery, ownership checks and the checked apply are
//! those of every changing operation ([`super::finish`]).

use super::{OpsError, Opts, Outcome, Prior, fleet, lock_and_recover};
use crate::apply::Held;
use crate::config::spec::{Global, JailSpec};
use crate::host::Host;
use crate::observe;
use crate::plan::{self, PlanError};

/// The old root an upgrade kept, as `list` and `status` show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeptRoot {
    pub dataset: String,
    /// The base snapshot it was cloned from (`jailctl:base` on it).
    pub base: Option<String>,
}

/// The root kept by an upgrade of `name`, if there is one on the observed host.
pub fn kept(st: &observe::HostState, global: &Global, name: &str) -> Option<KeptRoot> {
    let dataset = plan::kept_root(&crate::render::root_dataset(global, name));
    st.datasets.get(&dataset).map(|d| KeptRoot {
        base: d.prop(plan::props::BASE).map(str::to_string),
        dataset,
    })
}

/// What to do with the named jail(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What<'a> {
    /// Upgrade to the newest snapshot of the definition's base (`Some`: which must be it).
    Upgrade(Option<&'a str>),
    /// Put the kept root back.
    Rollback,
    /// Destroy the kept root.
    Finish,
}

/// The jails `--all` upgrades: every defined jail whose root exists, and with `base`, only
/// those defined with it.
pub fn all_targets(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    base: Option<&str>,
) -> Result<Vec<String>, OpsError> {
    let state = observe::observe(host, global)?;
    Ok(specs
        .iter()
        .filter(|s| base.is_none_or(|b| s.base == b))
        .filter(|s| {
            state
                .datasets
                .contains_key(&crate::render::root_dataset(global, &s.name))
        })
        .map(|s| s.name.clone())
        .collect())
}

/// Run `what` on `names` (with `all`, under the fleet lock). A dry run (`opts.dry_run`, on a
/// read-only host) only plans.
pub fn upgrade(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    names: &[String],
    all: bool,
    what: What,
    opts: &Opts,
) -> Result<Outcome, OpsError> {
    let held = Held::none();
    let fleet = fleet(host, &held, all && !opts.dry_run)?;
    let mut prior = Prior::default();
    let locks = lock_and_recover(host, &fleet, names, opts.dry_run, &mut prior)?;
    let mut state = observe::observe(host, global)?;
    state.root_links = observe::host::root_links(host, global, names)?;
    let plan = match what {
        What::Upgrade(base) => plan::plan_upgrade(specs, global, &state, names, base)?,
        What::Rollback | What::Finish => {
            let [name] = names else {
                return Err(PlanError::UnknownJail(names.join(" ")).into());
            };
            // The kept root is used (renamed back) or destroyed: it must be jailctl's own.
            let kept = plan::kept_root(&crate::render::root_dataset(global, name));
            if state.datasets.contains_key(&kept) && !state.managed_local.contains(&kept) {
                return Err(OpsError::ForeignDataset {
                    jail: name.clone(),
                    dataset: kept,
                    why: format!("{} is not set on it", super::owned::MANAGED),
                });
            }
            if what == What::Rollback {
                plan::plan_rollback(specs, global, &state, name)?
            } else {
                plan::plan_finish(global, &state, name)?
            }
        }
    };
    super::finish(host, &locks, plan, opts, prior, &state, global)
}
