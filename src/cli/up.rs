//! `jailctl up [NAME...|--all]`: make the named jails (and what they depend on) match their
//! definitions: create, start, update live or restart, dependencies first.

use super::target;
use crate::ops;
use std::process::ExitCode;

/// Create, start or update jails to match their definitions.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jails to bring up (their dependencies come too).
    #[arg(value_parser = super::target::jail_name)]
    pub names: Vec<String>,
    /// Every defined jail.
    #[arg(long)]
    pub all: bool,
    /// Print the exact commands, in order, without running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse a change that needs a running jail to stop.
    #[arg(long)]
    pub no_restart: bool,
    /// Allow re-cloning a root whose base changed (volumes are kept).
    #[arg(long)]
    pub recreate: bool,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let names = target::names(a.names, a.all, "up")?;
    let cfg = target::load(global, &names)?;
    let host = super::open_host(global, super::access_for(a.dry_run))?;
    let opts = ops::Opts {
        dry_run: a.dry_run,
        no_restart: a.no_restart,
        up: crate::plan::UpOptions {
            recreate: a.recreate,
            ..Default::default()
        },
        ..ops::Opts::default()
    };
    if !a.dry_run {
        let needed = super::doctor::with_dependencies(&cfg.jails, &names);
        super::doctor::preflight(host.as_ref(), &cfg.global, &needed)?;
    }
    let out =
        ops::up(host.as_ref(), &cfg.jails, &cfg.global, &names, &opts).map_err(target::ops_err)?;
    target::print(&out, a.dry_run, global.quiet);
    Ok(ExitCode::SUCCESS)
}
