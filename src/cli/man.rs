//! `jailctl man`: print the jailctl(8) man page (roff) to standard output.

use clap::CommandFactory;
use miette::IntoDiagnostic;
use std::process::ExitCode;

/// Print the man page in roff; install it as jailctl.8.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> miette::Result<ExitCode> {
    let cmd = super::Cli::command();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut buf)
        .into_diagnostic()?;
    super::output::write_stdout_bytes(&buf);
    Ok(ExitCode::SUCCESS)
}
