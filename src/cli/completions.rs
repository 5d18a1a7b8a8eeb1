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
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "jailctl", &mut buf);
    super::output::write_stdout_bytes(&buf);
    Ok(ExitCode::SUCCESS)
}
