//! `jailctl down [NAME...|--all]`: stop jails, dependents first; refuses to stop a jail that
//! a running jail depends on unless `--with-dependents`.

use super::target;
use crate::ops;
use std::process::ExitCode;

/// Stop jails.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jails to stop.
    #[arg(value_parser = super::target::jail_name)]
    pub names: Vec<String>,
    /// Every defined jail.
    #[arg(long)]
    pub all: bool,
    /// Also stop the running jails that depend on these (they stop first).
    #[arg(long)]
    pub with_dependents: bool,
    /// Print the exact commands, in order, without running them.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let names = target::names(a.names, a.all, "down")?;
    let cfg = target::load_for(global, &names, false)?;
    let host = super::open_host(global, super::access_for(a.dry_run))?;
    let opts = ops::Opts {
        dry_run: a.dry_run,
        down: crate::plan::DownOptions {
            with_dependents: a.with_dependents,
            volumes: false,
        },
        ..ops::Opts::default()
    };
    let out = ops::down(host.as_ref(), &cfg.jails, &cfg.global, &names, &opts)
        .map_err(target::ops_err)?;
    target::print(&out, a.dry_run, global.quiet);
    Ok(ExitCode::SUCCESS)
}
