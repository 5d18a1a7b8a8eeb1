//! `jailctl exec NAME -- CMD...` and `jailctl console NAME`: run a command (or a root login
//! shell) in a running jail through jexec(8); the command's exit status becomes jailctl's.

use super::{Access, target};
use crate::ops;
use std::process::ExitCode;

/// Run a command inside a running jail.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Open a root login shell inside a running jail.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    pub name: String,
}

fn code(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let host = super::open_host(global, Access::Change)?;
    let st = ops::exec(host.as_ref(), &a.name, &a.command).map_err(target::ops_err)?;
    Ok(code(st))
}

pub fn run_console(global: &super::GlobalArgs, a: ConsoleArgs) -> miette::Result<ExitCode> {
    let host = super::open_host(global, Access::Change)?;
    let st = ops::console(host.as_ref(), &a.name).map_err(target::ops_err)?;
    Ok(code(st))
}
