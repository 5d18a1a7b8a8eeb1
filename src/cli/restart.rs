//! `jailctl restart NAME`: stop the jail, then start it from its current definition.

use super::target;
use crate::ops;
use std::process::ExitCode;

/// Stop and start a jail.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_parser = super::target::jail_name)]
    pub name: String,
    /// Also restart the running jails that depend on it.
    #[arg(long)]
    pub with_dependents: bool,
    /// Print the exact commands, in order, without running them (the start commands are
    /// those for the state before the stop).
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let names = vec![a.name];
    let cfg = target::load(global, &names)?;
    let host = super::open_host(global, super::access_for(a.dry_run))?;
    let opts = ops::Opts {
        dry_run: a.dry_run,
        down: crate::plan::DownOptions {
            with_dependents: a.with_dependents,
            volumes: false,
        },
        ..ops::Opts::default()
    };
    let (stopped, started) = ops::restart(host.as_ref(), &cfg.jails, &cfg.global, &names, &opts)
        .map_err(target::ops_err)?;
    target::print(&stopped, a.dry_run, global.quiet);
    target::print(&started, a.dry_run, global.quiet);
    Ok(ExitCode::SUCCESS)
}
