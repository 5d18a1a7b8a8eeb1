//! `jailctl export NAME [-o FILE|-] [--full]`: write a jail's archive (definition, root and
//! volumes as `zfs send` streams) to a file or to stdout. Arguments and output only; the work
//! is in `ops::export`. A file is written beside its final name and renamed into place once
//! complete, so a failed export leaves no partial archive under that name.

use super::{Access, target};
use crate::ops::export::{self, ExportError};
use miette::{IntoDiagnostic, WrapErr};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a jail's archive: its definition, root and volumes (works on a running jail).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_parser = super::target::jail_name)]
    pub name: String,
    /// Where to write the archive (`-`: standard output, the default when it is not a
    /// terminal).
    #[arg(short = 'o', long = "output", value_name = "FILE|-")]
    pub output: Option<PathBuf>,
    /// Send the root whole, not only what differs from its base snapshot (for a host that
    /// does not have that exact base snapshot).
    #[arg(long)]
    pub full: bool,
}

fn err(e: ExportError) -> miette::Report {
    use super::output::{Exit, failure_of};
    let exit = match &e {
        ExportError::Snapshot(s) => match s {
            crate::ops::snapshot::SnapshotError::Process(_) => Exit::HostFailure,
            _ => Exit::Refused,
        },
        _ => Exit::HostFailure,
    };
    failure_of(exit, e)
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let to_stdout = match &a.output {
        Some(p) => p.as_os_str() == "-",
        None => true,
    };
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(super::output::refused(
            "refusing to write an archive to a terminal",
            format!(
                "name a file with `-o {0}.jailctl.tar.xz`, or pipe it: `jailctl export {0} | ssh HOST jailctl import -`",
                a.name
            ),
        ));
    }
    let cfg = target::load_for(global, std::slice::from_ref(&a.name), false)?;
    let spec = cfg.jail(&a.name).expect("load_for checked the name");
    let toml = super::show::pasteable(spec)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write jail `{}` as TOML", spec.name))?;
    let host = super::open_host(global, Access::Change)?;
    let progress = !global.quiet;
    let report = if to_stdout {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        export::export(
            host.as_ref(),
            spec,
            &cfg.global,
            &toml,
            a.full,
            progress,
            &mut lock,
        )
        .map_err(err)?
    } else {
        let path = a.output.clone().expect("a file");
        let partial = PathBuf::from(format!("{}.partial", path.display()));
        let written = (|| {
            let f = std::fs::File::create(&partial).map_err(|cause| ExportError::Io {
                what: format!("create {}", partial.display()),
                cause,
            })?;
            let mut w = std::io::BufWriter::new(f);
            let r = export::export(
                host.as_ref(),
                spec,
                &cfg.global,
                &toml,
                a.full,
                progress,
                &mut w,
            )?;
            w.flush()
                .and_then(|()| w.get_ref().sync_all())
                .map_err(|cause| ExportError::Io {
                    what: format!("write {}", partial.display()),
                    cause,
                })?;
            std::fs::rename(&partial, &path).map_err(|cause| ExportError::Io {
                what: format!("rename {} to {}", partial.display(), path.display()),
                cause,
            })?;
            Ok(r)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written.map_err(err)?
    };
    if !global.quiet {
        // The archive may be on stdout: everything else goes to stderr.
        let dest = match &a.output {
            Some(p) if p.as_os_str() != "-" => p.display().to_string(),
            _ => "standard output".into(),
        };
        eprintln!("exported jail `{}` to {dest}", a.name);
        for l in report.lines() {
            eprintln!("  {l}");
        }
        eprintln!("  consistency: {}", report.manifest.consistency);
    }
    Ok(ExitCode::SUCCESS)
}
