//! `jailctl plan [NAME...] [--json]`: what `up` would do and why, changing nothing.

use super::{Access, target};
use crate::ops;
use miette::IntoDiagnostic;
use std::process::ExitCode;

/// Show what `up` would change, and why.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jails to plan (all when none).
    #[arg(value_parser = super::target::jail_name)]
    pub names: Vec<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Plan a re-clone of roots whose base changed.
    #[arg(long)]
    pub recreate: bool,
    /// Plan `jailctl upgrade` instead: each root not on its base's newest snapshot is
    /// re-cloned, the old root kept, the health check run.
    #[arg(long, conflicts_with = "recreate")]
    pub upgrade: bool,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let cfg = target::load(global, &a.names)?;
    let host = super::open_host(global, Access::Read)?;
    let opts = crate::plan::UpOptions {
        recreate: a.recreate,
        upgrade: a.upgrade,
    };
    let plan = ops::plan_only(host.as_ref(), &cfg.jails, &cfg.global, &a.names, &opts)
        .map_err(target::ops_err)?;
    // Like `up --dry-run`: say what `up` would undo first (on stderr, so `--json` stays
    // clean).
    let names = crate::plan::order(&cfg.jails, &a.names)
        .map_err(|e| target::ops_err(ops::OpsError::Plan(e)))?;
    let pending = crate::apply::pending(host.as_ref(), &names)
        .map_err(|e| target::ops_err(ops::OpsError::Recover(e)))?;
    for p in pending {
        eprintln!("jailctl: {p}");
    }
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&plan).into_diagnostic()?);
    } else {
        crate::out!("{plan}");
    }
    Ok(ExitCode::SUCCESS)
}
