//! `jailctl shutdown [NAME...]`: what the rc.d script runs at shutdown. Stops the running
//! jails jailctl defines (or the named ones and their running dependents), dependents first and
//! in parallel, within a time budget after which the rest are removed by force; prints progress
//! and a summary, and exits non-zero if a jail could not be stopped. A broken jail definition
//! does not stop the shutdown: every running jail jailctl manages is stopped, also one whose
//! file broke (or went) after it started, through its last rendered jail.conf; the exit status
//! is then 1, so the admin hears about the file.
//!
//! The locks, the read of the host and the order come from [`boot::prepare_shutdown`]; the
//! stops run under those locks ([`OpsDriver::with_held`]) and take none themselves, so no
//! stop waits for a lock of its own run.

use super::GlobalArgs;
use super::boot::shared_host;
use crate::boot::{self, OpsDriver, ShutdownEvent, ShutdownOptions};
use crate::config;
use crate::config::units::parse_duration;
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
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

pub fn run(global: &GlobalArgs, args: Args) -> miette::Result<ExitCode> {
    let l = config::load_lenient(&global.config_dir)?;
    let cfg = &l.config;
    for (_, e) in &l.broken {
        eprint!("{}", e.render());
    }
    let host = shared_host(global)?;
    let broken: Vec<String> = l.broken.iter().map(|(n, _)| n.clone()).collect();
    let boot::Prepared {
        graph,
        held,
        state,
        orphans,
        left_running,
    } = boot::prepare_shutdown(host.as_ref(), &cfg.jails, &broken, &cfg.global, &args.names)
        .map_err(miette::Report::new)?;
    for f in &left_running {
        eprintln!("jailctl: not stopping it: {f}");
    }
    for o in &orphans {
        let why = if l.broken(o).is_some() {
            "its definition is invalid"
        } else {
            "it has no definition any more"
        };
        eprintln!("jailctl: {o} is running and managed by jailctl but {why}: stopping it anyway");
    }
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
