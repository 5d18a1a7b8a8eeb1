//! Getting a shutdown ready: which jails run, which of them jailctl may stop, in which order,
//! all under the locks that keep a racing `boot` or `up` out. `jailctl shutdown` calls
//! [`prepare_shutdown`], then hands the result to [`super::shutdown_with`].
//!
//! The fleet lock comes first, then the lock of every jail the shutdown may stop (every
//! defined jail, every broken one, every running one), and only then is the host read: a
//! `boot` or `up` racing it either finished before (its jails are stopped) or waits until the
//! shutdown is over. A jail that appears between the read and the locks is locked too, and
//! the host read again.

use super::{BootGraph, GraphError};
use crate::apply::lock::{Held, LockError, LockKey, Mode, warn_wait};
use crate::config::spec::{Global, JailSpec};
use crate::host::{Host, ProcessError};
use crate::observe::owned::{self, ForeignJail};
use crate::observe::{HostState, host::ObserveError};
use std::collections::BTreeSet;

/// Why a shutdown could not be got ready; nothing was stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PrepareError {
    #[error("cannot tell which jails are running: {0}")]
    Observe(
        #[from]
        #[diagnostic_source]
        ObserveError,
    ),
    #[error("cannot shut down: {0}")]
    Lock(
        #[from]
        #[diagnostic_source]
        LockError,
    ),
    #[error("cannot shut down: {0}")]
    Graph(
        #[from]
        #[diagnostic_source]
        GraphError,
    ),
    #[error("refusing to stop it: {0}. Nothing was stopped")]
    Foreign(ForeignJail),
    #[error("cannot tell whether jailctl manages {root}: {source}")]
    Owned {
        root: String,
        source: Box<ProcessError>,
    },
}

/// A shutdown ready to run: its graph, the locks it runs under, the state read under them.
pub struct Prepared {
    pub graph: BootGraph,
    pub held: Held<'static>,
    pub state: HostState,
    /// Running jails jailctl manages without a valid definition, stopped through their last
    /// rendered jail.conf.
    pub orphans: Vec<String>,
    /// Running jails of a defined name that jailctl did not start: left running.
    pub left_running: Vec<ForeignJail>,
}

/// Lock, read and order a shutdown of `targets` (every running jail when empty). `broken`
/// names the jails whose definitions do not load: locked like the others, stopped as orphans
/// when they run.
pub fn prepare_shutdown(
    host: &(dyn Host + Sync),
    specs: &[JailSpec],
    broken: &[String],
    global: &Global,
    targets: &[String],
) -> Result<Prepared, PrepareError> {
    let read = || crate::observe::host::observe_jails_concurrently(host, global);
    let running_in = |state: &HostState| -> Vec<String> {
        state
            .jails
            .values()
            .filter(|j| !j.dying)
            .map(|j| j.name.clone())
            .collect()
    };
    let mut names: BTreeSet<String> = specs
        .iter()
        .map(|j| j.name.clone())
        .chain(broken.iter().cloned())
        .collect();
    names.extend(running_in(&read()?));
    let (held, state) = loop {
        let mut wanted = vec![(LockKey::Fleet, Mode::Exclusive)];
        wanted.extend(
            names
                .iter()
                .map(|n| (LockKey::Jail(n.clone()), Mode::Exclusive)),
        );
        let held = Held::acquire(host, &wanted, warn_wait)?;
        let state = read()?;
        let new: Vec<String> = running_in(&state)
            .into_iter()
            .filter(|n| !names.contains(n))
            .collect();
        if new.is_empty() {
            break (held, state);
        }
        drop(held);
        names.extend(new);
    };
    let mut running = running_in(&state);
    // A running jail jailctl did not start is never stopped, even when a definition of that
    // name exists: refused when named, left running otherwise.
    let foreign: Vec<ForeignJail> = running
        .iter()
        .filter_map(|n| owned::foreign_jail(&state, global, n))
        .collect();
    if let Some(f) = foreign.iter().find(|f| targets.contains(&f.name)) {
        return Err(PrepareError::Foreign(f.clone()));
    }
    running.retain(|n| !foreign.iter().any(|f| &f.name == n));
    let orphans = orphans(host, &state, specs, global, &running)?;
    let graph = BootGraph::for_shutdown_with_orphans(specs, &orphans, &running, targets)?;
    let left_running = foreign
        .into_iter()
        .filter(|f| specs.iter().any(|s| s.name == f.name))
        .collect();
    Ok(Prepared {
        graph,
        held,
        state,
        orphans,
        left_running,
    })
}

/// The running jails jailctl must stop although it has no valid definition of them: their
/// root dataset `<zfs_root>/jails/NAME` carries `jailctl:managed=yes`, set locally (an
/// inherited value marks a dataset someone else made below jailctl's).
fn orphans(
    host: &dyn Host,
    state: &HostState,
    specs: &[JailSpec],
    global: &Global,
    running: &[String],
) -> Result<Vec<String>, PrepareError> {
    let mut out = vec![];
    for name in running {
        if specs.iter().any(|s| &s.name == name) {
            continue;
        }
        let root = crate::render::root_dataset(global, name);
        let marked = state
            .datasets
            .get(&root)
            .and_then(|d| d.prop(owned::MANAGED))
            == Some("yes");
        if !marked {
            continue;
        }
        let foreign = owned::foreign_below(host, &root).map_err(|source| PrepareError::Owned {
            root: root.clone(),
            source: Box::new(source),
        })?;
        if !foreign.iter().any(|f| f.name == root) {
            out.push(name.clone());
        }
    }
    Ok(out)
}
