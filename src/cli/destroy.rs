//! `jailctl destroy NAME [--volumes] [--yes]`: stop a jail and destroy the datasets jailctl
//! made for it. Asks for confirmation on a terminal; elsewhere `--yes` is required, so a
//! script never destroys data by accident.

use super::{Access, target};
use crate::ops;
use miette::IntoDiagnostic;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// Destroy a jail's root dataset (and, with --volumes, its volumes).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_parser = super::target::jail_name)]
    pub name: String,
    /// Destroy its volumes too (their data is lost).
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also stop the running jails that depend on it.
    #[arg(long)]
    pub with_dependents: bool,
    /// Print the exact commands, in order, without running them.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let cfg = target::load_valid(global)?;
    let names = vec![a.name.clone()];
    // The preview (and the plan shown before asking) only reads; the host is opened for
    // changes once the destroy is confirmed.
    let preview_host = super::open_host(global, Access::Read)?;
    let mut opts = ops::Opts {
        dry_run: true,
        down: crate::plan::DownOptions {
            with_dependents: a.with_dependents,
            volumes: a.volumes,
        },
        ..ops::Opts::default()
    };
    let preview = ops::destroy(
        preview_host.as_ref(),
        &cfg.jails,
        &cfg.global,
        &names,
        &opts,
    )
    .map_err(target::ops_err)?;
    if a.dry_run {
        target::print(&preview, true, global.quiet);
        return Ok(ExitCode::SUCCESS);
    }
    // Nothing to do only when no interrupted run is pending either: a destroy killed after
    // its first `zfs destroy` leaves nothing to plan, but its journal must still be finished
    // by the real run below, not left behind by a preview.
    if preview.plan.is_empty() && preview.pending.is_empty() {
        // What finishing an interrupted run did, when that left nothing to destroy.
        target::print_recovered(&preview);
        crate::outln!("nothing to destroy for {}", a.name);
        return Ok(ExitCode::SUCCESS);
    }
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(miette::miette!(
                help = "pass --yes to confirm (check first with --dry-run)",
                "refusing to destroy `{}` without confirmation: stdin is not a terminal",
                a.name
            ));
        }
        crate::out!("{}", preview.plan);
        crate::out!("destroy `{}`? this cannot be undone [y/N] ", a.name);
        std::io::stdout().flush().into_diagnostic()?;
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .into_diagnostic()?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            eprintln!("jailctl: nothing destroyed");
            return Ok(ExitCode::FAILURE);
        }
    }
    opts.dry_run = false;
    drop(preview_host);
    let host = super::open_host(global, Access::Change)?;
    let out = ops::destroy(host.as_ref(), &cfg.jails, &cfg.global, &names, &opts)
        .map_err(target::ops_err)?;
    target::print(&out, false, global.quiet);
    Ok(ExitCode::SUCCESS)
}
