//! `jailctl snapshot create|list|rollback|destroy`: snapshots of a jail's root and volumes
//! together. Arguments and output only; the work is in `ops::snapshot`. A rollback asks for
//! confirmation on a terminal; elsewhere `--yes` is required, as for `destroy`.

use super::{Access, target};
use crate::ops::snapshot::{self as snap, SnapInfo};
use miette::IntoDiagnostic;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Snapshot a jail's root and volumes atomically, as `jailctl-LABEL` (default: the time).
    Create {
        #[arg(value_parser = super::target::jail_name)]
        name: String,
        #[arg(value_parser = super::target::snapshot_label)]
        label: Option<String>,
    },
    /// jailctl's snapshots of one jail, or of every defined jail.
    List {
        #[arg(value_parser = super::target::jail_name)]
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Roll a stopped jail's root and volumes back to a snapshot (cannot be undone).
    Rollback {
        #[arg(value_parser = super::target::jail_name)]
        name: String,
        #[arg(value_parser = super::target::snapshot_label)]
        snapshot: String,
        /// Also destroy the snapshots newer than SNAPSHOT (`zfs rollback -r`).
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Destroy a snapshot on a jail's root and volumes.
    Destroy {
        #[arg(value_parser = super::target::jail_name)]
        name: String,
        #[arg(value_parser = super::target::snapshot_label)]
        snapshot: String,
    },
}

fn err(e: snap::SnapshotError) -> miette::Report {
    use super::output::{Exit, failure_of};
    use snap::SnapshotError as E;
    let exit = match &e {
        E::Process(_) => Exit::HostFailure,
        E::Lock(_, io) if io.kind() != std::io::ErrorKind::WouldBlock => Exit::HostFailure,
        E::BadLabel(_) => Exit::Usage,
        _ => Exit::Refused,
    };
    failure_of(exit, e)
}

pub fn run(global: &super::GlobalArgs, cmd: Cmd) -> miette::Result<ExitCode> {
    match cmd {
        Cmd::Create { name, label } => create(global, &name, label.as_deref())?,
        Cmd::List { name, json } => list(global, name, json)?,
        Cmd::Rollback {
            name,
            snapshot,
            force,
            yes,
        } => return rollback(global, &name, &snapshot, force, yes),
        Cmd::Destroy { name, snapshot } => destroy(global, &name, &snapshot)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn create(global: &super::GlobalArgs, name: &str, label: Option<&str>) -> miette::Result<()> {
    let cfg = target::load_for(global, &[name.to_string()], false)?;
    let spec = cfg.jail(name).expect("load_for checked the name");
    let host = super::open_host(global, Access::Change)?;
    let taken = snap::create(host.as_ref(), spec, &cfg.global, label).map_err(err)?;
    if !global.quiet {
        for t in taken {
            crate::outln!("created {t}");
        }
    }
    Ok(())
}

fn list(global: &super::GlobalArgs, name: Option<String>, json: bool) -> miette::Result<()> {
    let names: Vec<String> = name.into_iter().collect();
    // Without a name, an unrelated broken definition does not hide the others.
    let cfg = if names.is_empty() {
        target::load_valid(global)?
    } else {
        target::load_for(global, &names, false)?
    };
    let host = super::open_host(global, Access::Read)?;
    let mut all: Vec<SnapInfo> = Vec::new();
    for spec in cfg
        .jails
        .iter()
        .filter(|j| names.is_empty() || names.contains(&j.name))
    {
        match snap::list(host.as_ref(), spec, &cfg.global) {
            Ok(v) => all.extend(v),
            // A jail never brought up has no snapshots; only a named one is an error.
            Err(snap::SnapshotError::NotCreated { .. }) if names.is_empty() => {}
            Err(e) => return Err(err(e)),
        }
    }
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&all).into_diagnostic()?);
    } else if all.is_empty() {
        if !global.quiet {
            crate::outln!("no jailctl snapshots");
        }
    } else {
        let mut rows = vec![
            ["JAIL", "NAME", "CREATED", "USED"]
                .map(String::from)
                .to_vec(),
        ];
        rows.extend(all.iter().map(|s| {
            vec![
                s.jail.clone(),
                s.name.clone(),
                utc(s.creation),
                size(s.used),
            ]
        }));
        crate::out!("{}", super::output::columns(&rows, &[3]));
    }
    Ok(())
}

fn rollback(
    global: &super::GlobalArgs,
    name: &str,
    snapshot: &str,
    force: bool,
    yes: bool,
) -> miette::Result<ExitCode> {
    let cfg = target::load_for(global, &[name.to_string()], false)?;
    let spec = cfg.jail(name).expect("load_for checked the name");
    let host = super::open_host(global, Access::Change)?;
    // Asked only once every check has passed (the jail is stopped, the snapshot
    // exists, ...), just before the first rollback. Without a terminal there is no
    // one to ask: that refusal, too, comes only after the checks.
    let tty = std::io::stdin().is_terminal();
    let mut confirm = |target: &str| {
        if yes {
            return true;
        }
        if !tty {
            return false;
        }
        crate::out!(
            "roll back `{name}` (root and volumes) to {target}? changes since are lost [y/N] "
        );
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).is_ok()
            && matches!(line.trim(), "y" | "Y" | "yes")
    };
    let done = match snap::rollback(
        host.as_ref(),
        spec,
        &cfg.global,
        snapshot,
        force,
        &mut confirm,
    ) {
        Err(snap::SnapshotError::Declined(_)) if !tty => {
            return Err(super::output::refused(
                format!(
                    "refusing to roll back `{name}` without confirmation: stdin is not a terminal. Nothing was rolled back"
                ),
                "pass --yes to confirm",
            ));
        }
        Err(snap::SnapshotError::Declined(_)) => {
            eprintln!("jailctl: nothing rolled back");
            return Ok(super::output::Exit::Refused.code());
        }
        r => r.map_err(err)?,
    };
    if !global.quiet {
        for d in done {
            crate::outln!("rolled back {d}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn destroy(global: &super::GlobalArgs, name: &str, snapshot: &str) -> miette::Result<()> {
    let cfg = target::load_for(global, &[name.to_string()], false)?;
    let spec = cfg.jail(name).expect("load_for checked the name");
    let host = super::open_host(global, Access::Change)?;
    let done = snap::destroy(host.as_ref(), spec, &cfg.global, snapshot).map_err(err)?;
    if !global.quiet {
        for d in done {
            crate::outln!("destroyed {d}");
        }
    }
    Ok(())
}

/// `YYYYMMDD-HHMMSS` UTC.
fn utc(secs: u64) -> String {
    crate::base::unique_snapshot_name(
        &[],
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    )
}

/// Bytes with a binary unit, one decimal.
fn size(n: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", units[i])
    }
}
