//! `jailctl clone SRC NEW [--volumes] [--ip4 A] [--ip6 A] [--hostname H]`: a new jail from a
//! snapshot of another's root, with its own definition file. Arguments and output only; the
//! work is in `ops::clone`.

use super::{Access, target};
use crate::ops::clone::{self, CloneError};
use miette::{IntoDiagnostic, WrapErr};
use std::process::ExitCode;

/// Make a new jail from a snapshot of another jail's root (and volumes with --volumes).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The jail to copy.
    #[arg(value_parser = super::target::jail_name)]
    pub src: String,
    /// The new jail's name.
    #[arg(value_parser = super::target::jail_name)]
    pub new: String,
    /// Clone the volumes too (without: the new jail gets empty volumes at its first `up`).
    #[arg(long)]
    pub volumes: bool,
    #[command(flatten)]
    pub readdress: target::Readdress,
}

fn err(e: CloneError) -> miette::Report {
    use super::output::{Exit, failure_of};
    let exit = match &e {
        CloneError::Failed { .. } => Exit::HostFailure,
        CloneError::Snapshot(crate::ops::snapshot::SnapshotError::Process(_)) => Exit::HostFailure,
        CloneError::Refused(crate::ops::adopt::AdoptRefusal::Invalid { .. }) => Exit::InvalidConfig,
        _ => Exit::Refused,
    };
    failure_of(exit, e)
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let cfg = target::load_for(global, std::slice::from_ref(&a.src), false)?;
    let spec = cfg.jail(&a.src).expect("load_for checked the name");
    let toml = super::show::pasteable(spec)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write jail `{}` as TOML", spec.name))?;
    let changes = a.readdress.changes();
    let def = clone::edit_definition(&toml, &changes).map_err(|source| {
        err(CloneError::Definition {
            name: a.new.clone(),
            source,
        })
    })?;
    let host = super::open_host(global, Access::Change)?;
    let r = clone::clone(
        host.as_ref(),
        &global.config_dir,
        &cfg.global,
        spec,
        &a.new,
        &def,
        a.volumes,
    )
    .map_err(err)?;
    if !global.quiet {
        crate::outln!(
            "cloned jail `{}` as `{}` from {}: {}",
            a.src,
            a.new,
            r.snapshot,
            r.datasets.join(", ")
        );
        crate::outln!(
            "wrote {}; the jail is stopped: start it with `jailctl up {}`",
            r.definition.display(),
            a.new
        );
    }
    Ok(ExitCode::SUCCESS)
}
