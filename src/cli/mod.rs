//! The command line. `main.rs` calls [`main`]; each subcommand lives in its own file with its
//! arguments and a thin `run` that calls the library.

mod completions;
mod man;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Declarative FreeBSD jail manager.
#[derive(Debug, Parser)]
#[command(name = "jailctl", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Configuration directory (holds jailctl.toml, jails/ and templates/).
    #[arg(
        long,
        global = true,
        env = "JAILCTL_CONFIG_DIR",
        default_value = "/usr/local/etc/jailctl"
    )]
    pub config_dir: PathBuf,
    /// More output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Completions(completions::Args),
    Man(man::Args),
}

/// Parse the command line, run it, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.global);
    match run(cli) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(g: &GlobalArgs) {
    let level = if g.quiet {
        "error"
    } else {
        match g.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("JAILCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

pub fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
    }
}
