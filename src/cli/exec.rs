//! `jailctl exec NAME -- CMD...` and `jailctl console NAME`: run a command (or a root login
//! shell) in a running jail through jexec(8); the command's exit status becomes jailctl's.
//! A name that neither runs nor has a definition is reported as undefined, with a did-you-mean.

use super::{Access, target};
use crate::ops;
use std::process::ExitCode;

/// Run a command inside a running jail.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_parser = super::target::jail_name)]
    pub name: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Open a root login shell inside a running jail.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    #[arg(value_parser = super::target::jail_name)]
    pub name: String,
}

fn code(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let host = super::open_host(global, Access::Change)?;
    let st = ops::exec(host.as_ref(), &a.name, &a.command).map_err(|e| why(global, &a.name, e))?;
    Ok(code(st))
}

pub fn run_console(global: &super::GlobalArgs, a: ConsoleArgs) -> miette::Result<ExitCode> {
    let host = super::open_host(global, Access::Change)?;
    let st = ops::console(host.as_ref(), &a.name).map_err(|e| why(global, &a.name, e))?;
    Ok(code(st))
}

/// A jail that is not running and has no definition file at all is most likely a typo: say
/// so, with a did-you-mean, rather than suggesting `jailctl up` of a jail that does not exist.
/// Any jail that runs can be entered, defined or not; the configuration is read only when the
/// jail is not running, and leniently, so a broken unrelated file changes nothing.
fn why(global: &super::GlobalArgs, name: &str, e: ops::OpsError) -> miette::Report {
    if let ops::OpsError::NotRunning(_) = &e
        && let Ok(l) = crate::config::load_lenient(&global.config_dir)
        && !l.names().iter().any(|n| n == name)
    {
        return target::undefined(&l, name);
    }
    target::ops_err(e)
}
