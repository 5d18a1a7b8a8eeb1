//! `jailctl shutdown [NAME...]`: what the rc.d script runs at shutdown. Stops the running
//! jails jailctl defines (or the named ones and their running dependents), dependents first and
//! in parallel, within a time budget after which the rest are removed by force; prints progress
//! and a summary, and exits non-zero if a jail could not be stopped. A broken jail definition
//! does not stop the shutdown: every running jail jailctl manages is stopped, also one whose
//! file broke (or went) after it started, through its last rendered jail.conf; the exit status
//! is then 1, so the admin hears about the file.
//!
//! Shutdown takes the fleet lock, then the lock of every jail it may stop (every defined jail,
//! every broken one, every running one), and only then reads which jails run: a `boot` or
//! `up` racing it either finished before (its jails are stopped) or waits until the shutdown
//! is over. The stops run under these locks ([`OpsDriver::with_held`]) and take none
//! themselves, so no stop waits for a lock of its own run.

use super::boot::shared_host;
use super::{Access, GlobalArgs};
use crate::apply::lock::{Held, LockKey, Mode, warn_wait};
use crate::boot::{self, BootGraph, OpsDriver, ShutdownEvent, ShutdownOptions};
use crate::config;
use crate::config::units::parse_duration;
use crate::observe;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Stop the running jails (or the named ones and what depends on them), dependents first.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jails to stop (and, first, the running jails that depend on them); default: all running.
    #[arg(value_parser = super::target::jail_name)]
    pub names: Vec<String>,
    /// Jails stopped at once (default: `parallelism` in jailctl.toml, else the CPU count).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub parallel: Option<u64>,
    /// Budget for orderly stops, e.g. `30s`, `2m` (default: `shutdown_timeout`, 60 s); then
    /// the jails still up are removed with `jail -R`.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

pub fn run(global: &GlobalArgs, args: Args) -> miette::Result<ExitCode> {
    let l = config::load_lenient(&global.config_dir)?;
    let cfg = &l.config;
    for (_, e) in &l.broken {
        eprint!("{}", e.render());
    }
    let host = shared_host(global, Access::Change)?;
    let read = || {
        observe::host::observe_jails_concurrently(host.as_ref(), &cfg.global)
            .map_err(|e| miette::miette!("cannot tell which jails are running: {e}"))
    };
    let running_in = |state: &observe::HostState| -> Vec<String> {
        state
            .jails
            .values()
            .filter(|j| !j.dying)
            .map(|j| j.name.clone())
            .collect()
    };
    // Every jail jailctl could start is defined (or broken); a running one outside that set
    // was started by something else, and is locked too once seen. Read again under the
    // locks; retake them all (in order) if a jail appeared that is not locked yet.
    let mut names: std::collections::BTreeSet<String> = cfg
        .jails
        .iter()
        .map(|j| j.name.clone())
        .chain(l.broken.iter().map(|(n, _)| n.clone()))
        .collect();
    names.extend(running_in(&read()?));
    let (held, state) = loop {
        let mut wanted = vec![(LockKey::Fleet, Mode::Exclusive)];
        wanted.extend(
            names
                .iter()
                .map(|n| (LockKey::Jail(n.clone()), Mode::Exclusive)),
        );
        let held = Held::acquire(host.as_ref(), &wanted, warn_wait)
            .map_err(|e| miette::miette!("cannot shut down: {e}"))?;
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
    // name exists: refused when named, left running (and said so) otherwise.
    let foreign: Vec<crate::ops::owned::ForeignJail> = running
        .iter()
        .filter_map(|n| crate::ops::owned::foreign_jail(&state, &cfg.global, n))
        .collect();
    if let Some(f) = foreign.iter().find(|f| args.names.contains(&f.name)) {
        return Err(miette::miette!(
            "refusing to stop it: {f}. Nothing was stopped"
        ));
    }
    for f in foreign.iter().filter(|f| cfg.jail(&f.name).is_some()) {
        eprintln!("jailctl: not stopping it: {f}");
    }
    running.retain(|n| !foreign.iter().any(|f| &f.name == n));
    let orphans = orphans(host.as_ref(), &state, cfg, &running)?;
    for o in &orphans {
        let why = if l.broken(o).is_some() {
            "its definition is invalid"
        } else {
            "it has no definition any more"
        };
        eprintln!("jailctl: {o} is running and managed by jailctl but {why}: stopping it anyway");
    }
    let graph = BootGraph::for_shutdown_with_orphans(&cfg.jails, &orphans, &running, &args.names)
        .map_err(|e| miette::miette!("cannot shut down: {e}"))?;
    let failed_config = if l.broken.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if graph.is_empty() {
        if !global.quiet {
            crate::outln!("jailctl shutdown: no running jail to stop");
        }
        return Ok(failed_config);
    }
    let mut opts = ShutdownOptions::from_global(&cfg.global);
    if let Some(n) = args.parallel {
        opts.parallelism = n as usize;
    }
    if let Some(t) = args.timeout {
        opts.timeout = t;
    }
    let driver = Arc::new(
        OpsDriver::new(host, cfg.jails.clone(), cfg.global.clone())
            .with_orphans(orphans)
            .with_held(Arc::new(held))
            .with_known(state),
    );
    let quiet = global.quiet;
    let report = boot::shutdown_with(&graph, driver, &opts, &mut |e| {
        let line = match e {
            ShutdownEvent::Stopping { name } => (!quiet).then(|| format!("{name}: stopping")),
            ShutdownEvent::Stopped { name, elapsed } => {
                (!quiet).then(|| format!("{name}: stopped ({:.1} s)", elapsed.as_secs_f64()))
            }
            ShutdownEvent::Forcing { name, reason } => {
                Some(format!("{name}: forcing removal: {reason}"))
            }
            ShutdownEvent::Forced { name } => Some(format!("{name}: removed by force")),
            ShutdownEvent::ForceFailed { name, reason } => {
                Some(format!("{name}: FAILED to remove: {reason}"))
            }
        };
        if let Some(l) = line {
            crate::outln!("{l}");
        }
    });
    if !quiet || !report.ok() {
        crate::out!("{report}");
    }
    if !l.broken.is_empty() {
        let names: Vec<&str> = l.broken.iter().map(|(n, _)| n.as_str()).collect();
        eprintln!(
            "jailctl: invalid definition{}: {} (errors above); fix before the next boot",
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
    }
    Ok(if report.ok() {
        failed_config
    } else {
        ExitCode::FAILURE
    })
}

/// The running jails jailctl must stop although it has no valid definition of them: their
/// root dataset `<zfs_root>/jails/NAME` carries `jailctl:managed=yes`, set locally (an
/// inherited value marks a dataset someone else made below jailctl's).
fn orphans(
    host: &dyn crate::host::Host,
    state: &crate::observe::HostState,
    cfg: &config::Config,
    running: &[String],
) -> miette::Result<Vec<String>> {
    let mut out = vec![];
    for name in running {
        if cfg.jail(name).is_some() {
            continue;
        }
        let root = crate::render::root_dataset(&cfg.global, name);
        let marked = state
            .datasets
            .get(&root)
            .and_then(|d| d.prop(crate::ops::owned::MANAGED))
            == Some("yes");
        if !marked {
            continue;
        }
        let foreign = crate::ops::owned::foreign_below(host, &root)
            .map_err(|e| miette::miette!("cannot tell whether jailctl manages {root}: {e}"))?;
        if !foreign.iter().any(|f| f.name == root) {
            out.push(name.clone());
        }
    }
    Ok(out)
}
