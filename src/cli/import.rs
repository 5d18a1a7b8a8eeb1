//! `jailctl import FILE|- [--name NEW]`: add a jail from an archive written by `jailctl
//! export`, left stopped. Arguments and output only; the work is in `ops::import`.

use super::Access;
use crate::ops::import::{self, ImportError};
use std::path::PathBuf;
use std::process::ExitCode;

/// Add a jail from an archive written by `jailctl export` (verified first; left stopped).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive (`-`: read it from standard input).
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    /// Import under this name instead of the archive's.
    #[arg(long, value_parser = super::target::jail_name)]
    pub name: Option<String>,
    #[command(flatten)]
    pub readdress: super::target::Readdress,
}

fn err(e: ImportError) -> miette::Report {
    use super::output::{Exit, failure_of};
    let exit = match &e {
        ImportError::Failed { .. } | ImportError::Host { .. } | ImportError::Interrupted(..) => {
            Exit::HostFailure
        }
        ImportError::Refused(crate::ops::adopt::AdoptRefusal::Invalid { .. }) => {
            Exit::InvalidConfig
        }
        _ => Exit::Refused,
    };
    failure_of(exit, e)
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let g = crate::config::load_global(&global.config_dir)?;
    let host = super::open_host(global, Access::Change)?;
    let changes = a.readdress.changes();
    if a.file.as_os_str() == "-" && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(super::output::refused(
            "refusing to read an archive from a terminal",
            "pipe one in (`jailctl export NAME | ssh HOST jailctl import -`) or give its file",
        ));
    }
    let report = if a.file.as_os_str() == "-" {
        let mut stdin = std::io::stdin().lock();
        import::import(host.as_ref(), &global.config_dir, &g, &mut stdin, a.name.as_deref(), &changes, !global.quiet)
    } else {
        let mut f = std::fs::File::open(&a.file).map_err(|e| {
            super::output::failure(
                super::output::Exit::HostFailure,
                format!("cannot open the archive {}: {e}", a.file.display()),
                Some("give the path of a file written by `jailctl export`, or `-` for standard input".into()),
            )
        })?;
        import::import(host.as_ref(), &global.config_dir, &g, &mut f, a.name.as_deref(), &changes, !global.quiet)
    }
    .map_err(err)?;
    if !global.quiet {
        let m = &report.manifest;
        let root = if m.datasets[0].incremental {
            match &m.base {
                Some(b) => format!("incremental against {}@{}", b.name, b.snapshot),
                None => "incremental".into(),
            }
        } else {
            "full".into()
        };
        crate::outln!(
            "imported jail `{}` (exported as `{}` by jailctl {}; root {root}): {}",
            report.name,
            m.name,
            m.jailctl_version,
            report.datasets.join(", ")
        );
        crate::outln!(
            "wrote {}; the jail is stopped: start it with `jailctl up {}`",
            report.definition.display(),
            report.name
        );
    }
    Ok(ExitCode::SUCCESS)
}
