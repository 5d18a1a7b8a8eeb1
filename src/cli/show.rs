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
    let cfg = config::load(&global.config_dir)?;
    let Some(jail) = cfg.jail(&args.name) else {
        let names: Vec<&str> = cfg.jails.iter().map(|j| j.name.as_str()).collect();
        let help = match config::schema::suggest(&args.name, names.iter().copied()) {
            Some(s) => format!("did you mean \"{s}\"? (jails: {})", names.join(", ")),
            None => format!("jails: {}", names.join(", ")),
        };
        return Err(miette::miette!(
            help = help,
            "no jail \"{}\" in {}",
            args.name,
            cfg.dir.join("jails").display()
        ));
    };
    let text = if args.json {
        serde_json::to_string_pretty(jail).into_diagnostic()?
    } else {
        toml::to_string_pretty(jail).into_diagnostic()?
    };
    println!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}
