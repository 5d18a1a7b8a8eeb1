//! The command line. `main.rs` calls [`main`]; each subcommand lives in its own file with its
//! arguments and a thin `run` that calls the library.

mod base;
mod boot;
mod clone;
mod completions;
mod destroy;
mod doctor;
mod down;
mod exec;
mod export;
mod import;
mod init;
mod list;
mod man;
pub mod output;
mod plan;
mod render;
mod restart;
mod show;
mod shutdown;
pub mod sim;
mod snapshot;
mod target;
mod up;
mod upgrade;
mod validate;

use crate::host::Host;
use crate::host::deadline::Deadlines;
use crate::host::readonly::ReadOnlyHost;
use crate::host::system::SystemHost;
#[cfg(feature = "sim")]
use crate::sim::SimHost;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Declarative FreeBSD jail manager.
#[derive(Debug, Parser)]
#[command(name = "jailctl", version, about, long_about = None, after_long_help = output::EXIT_STATUS_HELP)]
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
    /// Use the simulated FreeBSD host kept in DIR (created if missing) instead of this machine.
    #[arg(long, global = true, env = "JAILCTL_SIMULATE", value_name = "DIR")]
    pub simulate: Option<PathBuf>,
    /// More output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Base(base::Args),
    Completions(completions::Args),
    Man(man::Args),
    /// Set this host up for jailctl: a commented jailctl.toml, the zfs_root dataset, the directories.
    Init(init::Args),
    /// Is this host ready for jails? Every check OK, WARN or FAIL, with its fix.
    Doctor(doctor::Args),
    /// Check the configuration: every jail OK, or every error with file, line and column.
    Validate(validate::Args),
    /// Show a jail's definition after templates and defaults are applied.
    Show(show::Args),
    Sim(sim::Args),
    /// Create, start or update jails to match their definitions.
    Up(up::Args),
    /// Stop jails.
    Down(down::Args),
    /// Stop and start a jail.
    Restart(restart::Args),
    /// Stop a jail and destroy its datasets.
    Destroy(destroy::Args),
    /// Show what `up` would change, and why.
    Plan(plan::Args),
    /// Print the jail.conf block of a jail.
    Render(render::Args),
    /// List jails and their state.
    List(list::Args),
    /// State of one or every jail, with live resource usage.
    Status(list::StatusArgs),
    /// Run a command in a running jail; its exit status becomes jailctl's.
    Exec(exec::Args),
    /// Root login shell in a running jail.
    Console(exec::ConsoleArgs),
    /// Start the autostart jails (or the named ones) in dependency order, in parallel.
    Boot(boot::Args),
    /// Stop the running jails (or the named ones), dependents first, within a time budget.
    Shutdown(shutdown::Args),
    /// Write a jail's archive (definition, root and volumes) for a backup or a move.
    Export(export::Args),
    /// Make a new jail from a snapshot of another jail's root (and volumes with --volumes).
    Clone(clone::Args),
    /// Add a jail from an archive written by `export` (verified first; left stopped).
    Import(import::Args),
    /// Snapshots of a jail's root and volumes: create, list, rollback, destroy.
    #[command(subcommand)]
    Snapshot(snapshot::Cmd),
    /// Move jails to a new base, keeping the old root until --finish or --rollback.
    Upgrade(upgrade::Args),
}

/// Parse the command line, run it, map the outcome to an exit code ([`output::Exit`]).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.global);
    output::init_reports();
    match run(cli) {
        Ok(code) => code,
        Err(report) => {
            let exit = output::exit_for(&report);
            if exit == output::Exit::BrokenPipe {
                output::die_of_broken_pipe();
            }
            match report.downcast_ref::<crate::config::ConfigErrors>() {
                Some(errs) => eprint!("{}", errs.render()),
                None => eprintln!("{:?}", output::printable(report)),
            }
            exit.code()
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
    output::init_tracing(level);
}

/// What a subcommand is going to do to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only read-only commands (jls, zfs get, ...): the handle refuses anything else (see
    /// [`crate::host::readonly`]). Read commands and every preview use it.
    Read,
    /// Commands that change the host.
    Change,
}

/// The host a subcommand works on: the simulated one with `--simulate DIR`, this machine on
/// FreeBSD. Off FreeBSD without `--simulate` there is no jail subsystem to talk to, so this
/// refuses and says what to use instead. A simulated host announces itself once on stderr.
/// With [`Access::Read`] the host comes wrapped in a [`ReadOnlyHost`].
pub fn open_host(global: &GlobalArgs, access: Access) -> miette::Result<Box<dyn Host>> {
    let host = open_host_rw(global, access)?;
    Ok(match access {
        Access::Read => Box::new(ReadOnlyHost::owning(host)),
        Access::Change => host as Box<dyn Host>,
    })
}

/// The access a command that may be a preview needs.
pub fn access_for(dry_run: bool) -> Access {
    if dry_run {
        Access::Read
    } else {
        Access::Change
    }
}

/// The `[deadlines]` of jailctl.toml, or the defaults when it cannot be read (the command
/// itself then reports why when it loads the configuration).
pub fn deadlines(global: &GlobalArgs) -> Deadlines {
    crate::config::load_global(&global.config_dir)
        .map(|g| g.deadlines)
        .unwrap_or_default()
}

pub(crate) fn open_host_rw(
    global: &GlobalArgs,
    access: Access,
) -> miette::Result<Box<dyn Host + Send + Sync>> {
    let deadlines = deadlines(global);
    if let Some(dir) = &global.simulate {
        let host = open_simulated(dir, deadlines)?;
        if !global.quiet {
            eprintln!(
                "jailctl: using the {}",
                host.simulated().unwrap_or_default()
            );
        }
        return Ok(host);
    }
    if cfg!(target_os = "freebsd") {
        return Ok(Box::new(SystemHost::new(deadlines)));
    }
    let what = match access {
        Access::Read => "read jails from",
        Access::Change => "change",
    };
    Err(output::refused(
        format!(
            "refusing to {what} this host: it runs {}, not FreeBSD, so it has no jails, rctl or FreeBSD's zfs/jail tools",
            std::env::consts::OS
        ),
        "try it on a simulated FreeBSD host: add `--simulate DIR` (or set JAILCTL_SIMULATE=DIR); `--dry-run` prints the commands without running them",
    ))
}

/// The simulated FreeBSD host kept in `dir` (created if missing).
#[cfg(feature = "sim")]
fn open_simulated(
    dir: &std::path::Path,
    deadlines: Deadlines,
) -> miette::Result<Box<dyn Host + Send + Sync>> {
    let host = SimHost::open(dir)
        .map(|h| h.with_deadlines(deadlines))
        .map_err(|e| {
            let help = if e.kind() == std::io::ErrorKind::InvalidInput {
                "fix the simulator setting named above (docs/simulator.md lists the formats)"
            } else {
                "pass a writable directory to --simulate (or JAILCTL_SIMULATE)"
            };
            miette::miette!(
                help = help,
                "cannot open the simulated host at {}: {e}",
                dir.display()
            )
        })?;
    Ok(Box::new(host))
}

/// Built without the `sim` feature (a FreeBSD package): there is no simulated host to open.
#[cfg(not(feature = "sim"))]
fn open_simulated(
    dir: &std::path::Path,
    _deadlines: Deadlines,
) -> miette::Result<Box<dyn Host + Send + Sync>> {
    Err(output::refused(
        format!(
            "cannot use the simulated host at {}: this jailctl was built without the simulator (cargo feature `sim`)",
            dir.display()
        ),
        "drop --simulate (and JAILCTL_SIMULATE) to manage this host, or use a jailctl built with default features",
    ))
}

pub fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Base(a) => base::run(a, &cli.global),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
        Command::Init(a) => init::run(&cli.global, a),
        Command::Doctor(a) => doctor::run(&cli.global, a),
        Command::Validate(a) => validate::run(&cli.global, a),
        Command::Show(a) => show::run(&cli.global, a),
        Command::Sim(a) => sim::run(&cli.global, a),
        Command::Up(a) => up::run(&cli.global, a),
        Command::Down(a) => down::run(&cli.global, a),
        Command::Restart(a) => restart::run(&cli.global, a),
        Command::Destroy(a) => destroy::run(&cli.global, a),
        Command::Plan(a) => plan::run(&cli.global, a),
        Command::Render(a) => render::run(&cli.global, a),
        Command::List(a) => list::run(&cli.global, a),
        Command::Status(a) => list::run_status(&cli.global, a),
        Command::Exec(a) => exec::run(&cli.global, a),
        Command::Console(a) => exec::run_console(&cli.global, a),
        Command::Boot(a) => boot::run(&cli.global, a),
        Command::Shutdown(a) => shutdown::run(&cli.global, a),
        Command::Snapshot(c) => snapshot::run(&cli.global, c),
        Command::Export(a) => export::run(&cli.global, a),
        Command::Clone(a) => clone::run(&cli.global, a),
        Command::Import(a) => import::run(&cli.global, a),
        Command::Upgrade(a) => upgrade::run(&cli.global, a),
    }
}
