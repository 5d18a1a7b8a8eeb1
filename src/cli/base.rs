//! `jailctl base`: make, list, update and destroy the bases jails are cloned from. Thin
//! argument handling over [`crate::base`].

use super::{Access, GlobalArgs, open_host};
use crate::base::manifest::Sha256Digest;
use crate::base::{self, BaseInfo, SetsRequest, extract::ExtractOptions, fetch::Source};
use crate::config::Global;
use miette::IntoDiagnostic;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Manage bases: the ZFS datasets, filled from FreeBSD distribution sets, that jails are cloned from.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: BaseCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BaseCommand {
    /// Create a base from distribution sets (a local directory or an http(s) release directory).
    Create(SetsArgs),
    /// Refill a base from new sets and snapshot it; existing jails keep their snapshot.
    Update(SetsArgs),
    /// List bases, their snapshots and the jails cloned from each.
    List(ListArgs),
    /// Destroy a base and its snapshots (refused while jails are cloned from it).
    Destroy(DestroyArgs),
}

#[derive(Debug, clap::Args)]
pub struct SetsArgs {
    /// Base name (e.g. 14.2-RELEASE).
    #[arg(value_parser = super::target::base_name)]
    pub name: String,
    /// Directory holding MANIFEST and the .txz sets, or an http(s) URL of a release directory
    /// (e.g. https://download.freebsd.org/releases/amd64/amd64/14.2-RELEASE/).
    #[arg(long = "from", value_name = "SOURCE")]
    pub from: String,
    /// Expected SHA-256 of a set, overriding MANIFEST (repeatable).
    #[arg(long = "sha256", value_name = "SET=HEX", value_parser = parse_sha_arg)]
    pub sha256: Vec<(String, Sha256Digest)>,
    /// Sets to install, in order.
    #[arg(long, value_delimiter = ',', default_value = "base")]
    pub sets: Vec<String>,
    /// Where downloads are kept and resumed from (a host path).
    #[arg(long, value_name = "DIR", default_value = base::DEFAULT_CACHE_DIR)]
    pub cache_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    #[arg(value_parser = super::target::base_name)]
    pub name: String,
    /// Do not ask; required when standard input is not a terminal.
    #[arg(long)]
    pub yes: bool,
}

/// Why a `--sha256` argument was refused (clap prints it as the reason).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum ShaArgError {
    #[error("`{0}` is not SET=HEX (e.g. base=<64 hex digits>)")]
    NotSetHex(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Digest(#[from] crate::base::manifest::DigestError),
}

fn parse_sha_arg(s: &str) -> Result<(String, Sha256Digest), ShaArgError> {
    let (set, hex) = s
        .split_once('=')
        .ok_or_else(|| ShaArgError::NotSetHex(s.to_string()))?;
    Ok((set.to_string(), Sha256Digest::parse_hex(hex)?))
}

/// The global settings bases need (`zfs_root`, `mount_root`), validated by the config layer.
/// Only `jailctl.toml` is read: a broken jail file must not block making a base.
fn global_settings(g: &GlobalArgs) -> miette::Result<Global> {
    Ok(crate::config::load_global(&g.config_dir)?)
}

pub fn run(args: Args, g: &GlobalArgs) -> miette::Result<ExitCode> {
    let global = global_settings(g)?;
    match args.command {
        BaseCommand::Create(a) => sets(a, g, &global, false),
        BaseCommand::Update(a) => sets(a, g, &global, true),
        BaseCommand::List(a) => list(a, g, &global),
        BaseCommand::Destroy(a) => destroy(a, g, &global),
    }
}

fn sets(a: SetsArgs, g: &GlobalArgs, global: &Global, update: bool) -> miette::Result<ExitCode> {
    let source = Source::parse(&a.from).map_err(base::BaseError::from)?;
    let host = open_host(g, Access::Change)?;
    let req = SetsRequest {
        name: a.name,
        source,
        sets: a.sets,
        sha256: a.sha256.into_iter().collect(),
        cache_dir: host.local_path(Path::new(&a.cache_dir)),
        progress: !g.quiet,
        extract: ExtractOptions::default(),
    };
    let made = if update {
        base::update(host.as_ref(), global, &req)?
    } else {
        base::create(host.as_ref(), global, &req)?
    };
    if !g.quiet {
        crate::outln!(
            "{} base {} ({}) from {}: snapshot {}, {} files, {} bytes, mounted at {}",
            if update { "updated" } else { "created" },
            made.name,
            made.release,
            req.source.display(),
            made.snapshot,
            made.files,
            made.bytes,
            made.mountpoint.display()
        );
        if update {
            crate::outln!(
                "jails keep the snapshot they were cloned from; `jailctl plan` shows which would move to the new one when re-created"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs, g: &GlobalArgs, global: &Global) -> miette::Result<ExitCode> {
    let host = open_host(g, Access::Read)?;
    let bases = base::list(host.as_ref(), global)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&bases).into_diagnostic()?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if bases.is_empty() {
        crate::outln!(
            "no bases under {}; make one with `jailctl base create NAME --from SOURCE`",
            base::bases_parent(global)
        );
        return Ok(ExitCode::SUCCESS);
    }
    crate::out!("{}", render_table(&bases));
    Ok(ExitCode::SUCCESS)
}

/// The human-readable `base list` table.
pub fn render_table(bases: &[BaseInfo]) -> String {
    let mut rows = vec![[
        "BASE".to_string(),
        "RELEASE".to_string(),
        "SNAPSHOT".to_string(),
        "JAILS".to_string(),
    ]];
    for b in bases {
        let release = if b.managed {
            b.release.clone().unwrap_or_else(|| "-".into())
        } else {
            "(not managed by jailctl)".into()
        };
        if b.snapshots.is_empty() {
            rows.push([b.name.clone(), release, "-".into(), "-".into()]);
            continue;
        }
        for (i, s) in b.snapshots.iter().enumerate() {
            let n = if i == 0 {
                b.name.clone()
            } else {
                String::new()
            };
            let r = match (&s.release, b.managed) {
                (Some(r), true) => r.clone(),
                _ if i == 0 => release.clone(),
                _ => String::new(),
            };
            let jails = if s.used_by.is_empty() {
                "-".to_string()
            } else {
                s.used_by.join(", ")
            };
            rows.push([n, r, s.name.clone(), jails]);
        }
    }
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    super::output::columns(&rows, &[])
}

fn destroy(a: DestroyArgs, g: &GlobalArgs, global: &Global) -> miette::Result<ExitCode> {
    if !a.yes && !std::io::stdin().is_terminal() {
        return Err(miette::miette!(
            help = format!("run `jailctl base destroy {} --yes`", a.name),
            "refusing to destroy base `{}` without confirmation: standard input is not a terminal",
            a.name
        ));
    }
    let host = open_host(g, Access::Change)?;
    let mut ask = |info: &BaseInfo| {
        if a.yes {
            return true;
        }
        eprint!(
            "destroy base `{}` ({}) and its {} snapshot(s)? [y/N] ",
            info.name,
            info.dataset,
            info.snapshots.len()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).is_ok()
            && matches!(answer.trim(), "y" | "Y" | "yes")
    };
    match base::destroy(host.as_ref(), global, &a.name, &mut ask)? {
        Some(ds) => {
            if !g.quiet {
                crate::outln!("destroyed base {} ({ds})", a.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("not destroyed");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::SnapshotInfo;

    #[test]
    fn table_shows_each_snapshot_with_its_release_and_jails() {
        let snap = |name: &str, release: &str, used_by: &[&str]| SnapshotInfo {
            name: name.into(),
            created: None,
            release: Some(release.into()),
            used_by: used_by.iter().map(|s| s.to_string()).collect(),
        };
        let bases = vec![
            BaseInfo {
                name: "14.2".into(),
                dataset: "zroot/jailctl/bases/14.2".into(),
                managed: true,
                release: Some("14.2-RELEASE-p2".into()),
                source: None,
                mountpoint: None,
                snapshots: vec![
                    snap("20250101-000000", "14.2-RELEASE-p1", &["api", "web"]),
                    snap("20250301-000000", "14.2-RELEASE-p2", &[]),
                ],
            },
            BaseInfo {
                name: "hand".into(),
                dataset: "zroot/jailctl/bases/hand".into(),
                managed: false,
                release: None,
                source: None,
                mountpoint: None,
                snapshots: vec![],
            },
        ];
        let t = render_table(&bases);
        let lines: Vec<&str> = t.lines().map(str::trim_end).collect();
        assert_eq!(
            lines,
            vec![
                "BASE  RELEASE                   SNAPSHOT         JAILS",
                "14.2  14.2-RELEASE-p1           20250101-000000  api, web",
                "      14.2-RELEASE-p2           20250301-000000  -",
                "hand  (not managed by jailctl)  -                -",
            ]
        );
    }
}
