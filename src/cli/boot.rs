//! `jailctl boot [NAME...]`: what the rc.d script runs at boot. Starts the autostart jails (or
//! the named ones), dependencies first and in parallel, through the boot scheduler and the
//! lifecycle operations; prints progress as it happens and a summary, and exits non-zero if
//! any jail failed, so rc and the admin both see it. A broken jail definition is that jail's
//! failure (its errors are printed in full) and its dependents' reason not to start; the other
//! jails boot regardless.
//!
//! Boot holds the fleet lock for its whole run, so it never interleaves with a `shutdown` (or
//! an `up/down --all`): whichever comes second sees the jails the first one left. It ensures
//! the host layout once, before any jail starts, so parallel first starts do not race for
//! the parent datasets.

use super::{Access, GlobalArgs};
use crate::apply::lock::{Held, LockKey, Mode, warn_wait};
use crate::boot::{self, BootEvent, BootGraph, BootOptions, OpsDriver};
use crate::config;
use crate::host::Host;
use std::process::ExitCode;
use std::sync::Arc;

/// Start the autostart jails (or the named ones) in dependency order, in parallel.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jails to start (with their dependencies), autostart or not; default: every autostart jail.
    #[arg(value_parser = super::target::jail_name)]
    pub names: Vec<String>,
    /// Jails brought up at once (default: `parallelism` in jailctl.toml, else the CPU count).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub parallel: Option<u64>,
}

/// The host as the scheduler needs it, shared between worker threads: opened once, with the
/// same refusals and simulator notice as every other command ([`super::open_host_rw`]).
/// Boot and shutdown change the host, so there is no read-only form.
pub(super) fn shared_host(global: &GlobalArgs) -> miette::Result<Arc<dyn Host + Send + Sync>> {
    Ok(Arc::from(super::open_host_rw(global, Access::Change)?))
}

pub fn run(global: &GlobalArgs, args: Args) -> miette::Result<ExitCode> {
    let l = config::load_lenient(&global.config_dir)?;
    let cfg = &l.config;
    // Each broken definition is that jail's failure, with its full diagnostics; the rest
    // of the fleet still boots.
    let broken: Vec<(String, String)> = l
        .broken
        .iter()
        .map(|(n, e)| (n.clone(), invalid_reason(e)))
        .collect();
    for (_, e) in &l.broken {
        eprint!("{}", e.render());
    }
    let graph = BootGraph::for_boot_with_broken(&cfg.jails, &broken, &args.names)
        .map_err(|e| miette::Report::new(e).wrap_err("cannot boot"))?;
    let mut opts = BootOptions::from_global(&cfg.global);
    if let Some(n) = args.parallel {
        opts.parallelism = n as usize;
    }
    if graph.is_empty() {
        if !global.quiet {
            crate::outln!("jailctl boot: no jail to start (none has autostart = true)");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let host = shared_host(global)?;
    let held = Held::acquire(
        host.as_ref(),
        &[(LockKey::Fleet, Mode::Exclusive)],
        warn_wait,
    )
    .map_err(|e| miette::Report::new(e).wrap_err("cannot boot"))?;
    let starting: Vec<config::spec::JailSpec> = cfg
        .jails
        .iter()
        .filter(|j| graph.index_of(&j.name).is_some())
        .cloned()
        .collect();
    super::doctor::preflight(host.as_ref(), &cfg.global, &starting)?;
    crate::apply::layout::ensure(host.as_ref(), &held, &cfg.global)
        .map_err(|e| miette::Report::new(e).wrap_err("cannot boot: no jail was started"))?;
    let driver = OpsDriver::new(host.clone(), cfg.jails.clone(), cfg.global.clone())
        .with_held(Arc::new(held));
    let quiet = global.quiet;
    let is_broken = |n: &str| l.broken(n).is_some();
    // Jails already running are only checked (and updated if their file changed): say so
    // rather than "starting".
    let running: Vec<String> = crate::ops::status(host.as_ref(), &cfg.jails, &cfg.global)
        .map(|list| {
            list.into_iter()
                .filter(|j| j.state == "running")
                .map(|j| j.name)
                .collect()
        })
        .unwrap_or_default();
    let was_running = |n: &str| running.iter().any(|r| r == n);
    let report = boot::boot_with(&graph, &driver, &opts, &mut |e| {
        if let Some(line) = progress(e, quiet, &is_broken, &was_running) {
            crate::outln!("{line}");
        }
    });
    if !quiet || !report.ok() {
        crate::out!("{report}");
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Why a jail with a broken definition is not started: where, and the first error.
pub(super) fn invalid_reason(e: &config::ConfigErrors) -> String {
    let n = e.errors.len();
    let first = e.errors.first().map(|x| x.to_string()).unwrap_or_default();
    format!(
        "its definition is invalid ({n} error{}, printed above; `jailctl validate` repeats them): {first}",
        if n == 1 { "" } else { "s" }
    )
}

/// One progress line per event (failures even with `--quiet`).
fn progress(
    e: &BootEvent,
    quiet: bool,
    is_broken: &dyn Fn(&str) -> bool,
    was_running: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let line = match e {
        BootEvent::Starting { name } if was_running(name) => return None,
        BootEvent::Started { name } if was_running(name) => {
            format!("{name}: already running")
        }
        BootEvent::Up { name, .. } if was_running(name) => format!("{name}: up"),
        BootEvent::Starting { name } => format!("{name}: starting"),
        BootEvent::Started { name } => format!("{name}: started"),
        BootEvent::Probe {
            name,
            attempt,
            attempts,
            result,
        } => match result {
            Ok(true) => format!("{name}: health check {attempt}/{attempts} passed"),
            Ok(false) => format!("{name}: health check {attempt}/{attempts} failed"),
            Err(e) => format!("{name}: health check {attempt}/{attempts} failed: {e}"),
        },
        BootEvent::Up { name, elapsed } => {
            format!("{name}: up ({:.1} s)", elapsed.as_secs_f64())
        }
        BootEvent::Failed { name, reason } => return Some(format!("{name}: FAILED: {reason}")),
        BootEvent::Skipped {
            name, dependency, ..
        } if is_broken(dependency) => {
            return Some(format!(
                "{name}: not started: dependency {dependency} has an invalid definition"
            ));
        }
        BootEvent::Skipped {
            name, dependency, ..
        } => {
            return Some(format!(
                "{name}: not started: dependency {dependency} failed"
            ));
        }
    };
    (!quiet).then_some(line)
}
