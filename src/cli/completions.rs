//! `jailctl completions SHELL`: print a shell completion script.

use clap::CommandFactory;
use std::process::ExitCode;

/// Print a completion script for SHELL to standard output.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args) -> miette::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "jailctl", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
