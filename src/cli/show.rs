//! `jailctl show NAME`: print a jail's definition as jailctl will use it, after templates
//! and `[defaults]` are applied, as TOML or (`--json`) as JSON.

use crate::config;
use miette::IntoDiagnostic;
use std::process::ExitCode;

/// Print the fully resolved definition of a jail.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jail name (its file name under jails/, without .toml).
    pub name: String,
    /// Print JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &super::GlobalArgs, args: Args) -> miette::Result<ExitCode> {
    let l = config::load_lenient(&global.config_dir)?;
    if let Some(errs) = l.broken(&args.name) {
        return Err(errs.clone().into());
    }
    let Some(jail) = l.config.jail(&args.name) else {
        return Err(super::target::undefined(&l, &args.name));
    };
    let text = if args.json {
        serde_json::to_string_pretty(jail).into_diagnostic()?
    } else {
        toml::to_string_pretty(jail).into_diagnostic()?
    };
    crate::outln!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}
