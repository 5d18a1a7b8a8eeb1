//! `jailctl render NAME`: print the jail.conf block jailctl writes for a jail.

use super::target;
use std::process::ExitCode;

/// Print the rendered jail.conf of a jail.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_parser = super::target::jail_name)]
    pub name: String,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let cfg = target::load_for(global, std::slice::from_ref(&a.name), false)?;
    let spec = cfg.jail(&a.name).expect("checked by load");
    let r = crate::render::render(spec, &cfg.global).map_err(miette::Report::new)?;
    crate::out!("{}", r.conf);
    Ok(ExitCode::SUCCESS)
}
