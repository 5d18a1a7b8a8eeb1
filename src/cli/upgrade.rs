//! `jailctl upgrade NAME [--base RELEASE] [--dry-run]` (or `--all`), `--rollback`, `--finish`:
//! move jails to the newest snapshot of the base their definition names, keeping the old
//! root until the upgrade is finished or rolled back (see docs/upgrade.md).

use super::target;
use crate::ops::{self, upgrade::What};
use std::process::ExitCode;

/// Move jails to a new base; the old root is kept until `--finish` (or put back by
/// `--rollback`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The jail to upgrade (or roll back, or finish).
    #[arg(value_parser = super::target::jail_name, required_unless_present = "all")]
    pub name: Option<String>,
    /// Upgrade every defined jail that has a root (with --base: every jail defined with it).
    #[arg(long, conflicts_with_all = ["name", "rollback", "finish"])]
    pub all: bool,
    /// The base to move to; the definition must name it (`base = "..."`): jailctl refuses
    /// rather than let `up` see a different base afterwards.
    #[arg(long, value_parser = super::target::base_name, conflicts_with_all = ["rollback", "finish"])]
    pub base: Option<String>,
    /// Put the root the upgrade kept back in place and destroy the upgraded one.
    #[arg(long, conflicts_with = "finish")]
    pub rollback: bool,
    /// Keep the upgrade: destroy the root it kept.
    #[arg(long)]
    pub finish: bool,
    /// Print the exact commands, in order, without running them.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let named: Vec<String> = a.name.iter().cloned().collect();
    let cfg = target::load_for(global, &named, false)?;
    let host = super::open_host(global, super::access_for(a.dry_run))?;
    let what = if a.rollback {
        What::Rollback
    } else if a.finish {
        What::Finish
    } else {
        What::Upgrade(a.base.as_deref())
    };
    let names = if a.all {
        ops::upgrade::all_targets(host.as_ref(), &cfg.jails, &cfg.global, a.base.as_deref())
            .map_err(target::ops_err)?
    } else {
        named
    };
    let opts = ops::Opts {
        dry_run: a.dry_run,
        ..ops::Opts::default()
    };
    let out = ops::upgrade::upgrade(
        host.as_ref(),
        &cfg.jails,
        &cfg.global,
        &names,
        a.all,
        what,
        &opts,
    )
    .map_err(target::ops_err)?;
    target::print_recovered(&out);
    if !global.quiet {
        crate::out!("{}", out.plan);
    }
    if a.dry_run {
        crate::out!("{}", out.dry_run_text());
    } else if !global.quiet && matches!(what, What::Upgrade(_)) {
        for j in out
            .plan
            .jails
            .iter()
            .filter(|j| j.action == crate::plan::Action::Upgrade)
        {
            crate::outln!(
                "{0}: upgraded; its old root is kept as {1}: `jailctl upgrade {0} --finish` destroys it, `jailctl upgrade {0} --rollback` goes back to it",
                j.name,
                crate::plan::kept_root(&crate::render::root_dataset(&cfg.global, &j.name))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
