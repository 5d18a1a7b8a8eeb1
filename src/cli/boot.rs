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

use super::{Access, GlobalArgs, open_host};
use crate::apply::lock::{Held, LockKey, Mode, warn_wait};
use crate::boot::{self, BootEvent, BootGraph, BootOptions, OpsDriver};
use crate::config;
use crate::host::Host;
use crate::host::sim::SimHost;
use crate::host::system::SystemHost;
use std::process::ExitCode;
use std::sync::Arc;

/// Start the autostart jails (or the named ones) in dependency order, in parallel.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jails to start (with their dependencies), autostart or not; default: every autostart jail.
    pub names: Vec<String>,
    /// Jails brought up at once (default: `parallelism` in jailctl.toml, else the CPU count).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub parallel: Option<u64>,
}

/// The host as the scheduler needs it: shared between worker threads. Opens it through
/// [`open_host`] first, so refusals and the simulator notice are the same as elsewhere.
pub(super) fn shared_host(
    global: &GlobalArgs,
    access: Access,
) -> miette::Result<Arc<dyn Host + Send + Sync>> {
    let checked = open_host(global, access)?;
    drop(checked);
    Ok(match &global.simulate {
        Some(dir) => Arc::new(SimHost::open(dir).map_err(|e| {
            miette::miette!("cannot open the simulated host at {}: {e}", dir.display())
        })?),
        None => Arc::new(SystemHost),
    })
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
        .map_err(|e| miette::miette!("cannot boot: {e}"))?;
    let mut opts = BootOptions::from_global(&cfg.global);
    if let Some(n) = args.parallel {
        opts.parallelism = n as usize;
    }
    if graph.is_empty() {
        if !global.quiet {
            println!("jailctl boot: no jail to start (none has autostart = true)");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let host = shared_host(global, Access::Change)?;
    let held = Held::acquire(
        host.as_ref(),
        &[(LockKey::Fleet, Mode::Exclusive)],
        warn_wait,
    )
    .map_err(|e| miette::miette!("cannot boot: {e}"))?;
    crate::apply::layout::ensure(host.as_ref(), &held, &cfg.global)
        .map_err(|e| miette::miette!("cannot boot: no jail was started: {e}"))?;
    let driver =
        OpsDriver::new(host, cfg.jails.clone(), cfg.global.clone()).with_held(Arc::new(held));
    let quiet = global.quiet;
    let is_broken = |n: &str| l.broken(n).is_some();
    let report = boot::boot_with(&graph, &driver, &opts, &mut |e| {
        if let Some(line) = progress(e, quiet, &is_broken) {
            println!("{line}");
        }
    });
    if !quiet || !report.ok() {
        print!("{report}");
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
fn progress(e: &BootEvent, quiet: bool, is_broken: &dyn Fn(&str) -> bool) -> Option<String> {
    let line = match e {
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
