//! `jailctl validate`: load the configuration directory and say, jail by jail, whether it is
//! valid; on errors print all of them and exit non-zero; print warnings (a shutdown budget rc
//! would cut short) without failing. Touches no host.

use crate::config;
use std::process::ExitCode;

/// Check jailctl.toml, every jail definition and the templates they extend.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(global: &super::GlobalArgs, _args: Args) -> miette::Result<ExitCode> {
    match config::load(&global.config_dir) {
        Ok(cfg) => {
            for w in config::warnings(&cfg.global) {
                eprintln!("warning: {}: {w}", cfg.dir.join("jailctl.toml").display());
            }
            if !global.quiet {
                for j in &cfg.jails {
                    let via = if j.extends.is_empty() {
                        String::new()
                    } else {
                        format!(" (extends {})", j.extends.join(" -> "))
                    };
                    println!("{}: OK{via}", j.name);
                }
                println!(
                    "{} jail{} valid in {}",
                    cfg.jails.len(),
                    if cfg.jails.len() == 1 { "" } else { "s" },
                    cfg.dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => Err(errs.into()),
    }
}
