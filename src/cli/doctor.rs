//! `jailctl doctor [--json]`: is this host ready for jails? Runs every check of
//! [`crate::doctor`] plus one on the configuration itself, prints each as OK, WARN or FAIL
//! with its fix, and exits non-zero ([`Exit::Refused`]) when one FAILs. A missing
//! `jailctl.toml` is itself a FAIL (fix: `jailctl init`); the host checks then run with
//! jailctl's defaults (`zfs_root = "zroot/jailctl"`, `mount_root = "/usr/local/jails"`).

use super::output::Exit;
use super::{Access, GlobalArgs, open_host};
use crate::config::{self, spec::Global};
use crate::doctor::{self, Check, Level};
use miette::IntoDiagnostic;
use std::process::ExitCode;

/// Check that this host is ready for jails: each check OK, WARN or FAIL, with its fix.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON: {"worst": "OK|WARN|FAIL", "checks": [{id, level, message, fix}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    worst: Level,
    checks: &'a [Check],
}

/// The settings `jailctl init` writes when none are given.
pub fn default_global() -> Global {
    Global {
        zfs_root: "zroot/jailctl".into(),
        mount_root: "/usr/local/jails".into(),
        default_base: None,
        parallelism: None,
        shutdown_timeout: crate::boot::DEFAULT_SHUTDOWN_TIMEOUT,
        bridges: Default::default(),
        networks: Default::default(),
        deadlines: Default::default(),
        dying_wait: std::time::Duration::from_secs(10),
    }
}

/// The configuration check, and the settings and jails the host checks use.
fn configuration(dir: &std::path::Path) -> (Check, Global, Vec<config::spec::JailSpec>) {
    let file = dir.join("jailctl.toml");
    if !file.exists() {
        return (
            Check {
                id: "config",
                level: Level::Fail,
                message: format!("no {}: this host is not set up for jailctl", file.display()),
                fix: Some(format!(
                    "jailctl init{} (add --pool POOL to use a pool other than zroot)",
                    if dir == std::path::Path::new("/usr/local/etc/jailctl") {
                        String::new()
                    } else {
                        format!(" --config-dir {}", dir.display())
                    }
                )),
            },
            default_global(),
            vec![],
        );
    }
    match config::load_lenient(dir) {
        Err(e) => (
            Check {
                id: "config",
                level: Level::Fail,
                message: format!(
                    "{} is invalid: {}",
                    file.display(),
                    e.errors.first().map(|x| x.to_string()).unwrap_or_default()
                ),
                fix: Some("`jailctl validate` shows every error with its fix".into()),
            },
            default_global(),
            vec![],
        ),
        Ok(l) => {
            let names: Vec<&str> = l.broken.iter().map(|(n, _)| n.as_str()).collect();
            let check = if names.is_empty() {
                Check {
                    id: "config",
                    level: Level::Ok,
                    message: format!(
                        "{} valid, {} jail{} defined",
                        file.display(),
                        l.config.jails.len(),
                        if l.config.jails.len() == 1 { "" } else { "s" }
                    ),
                    fix: None,
                }
            } else {
                Check {
                    id: "config",
                    level: Level::Warn,
                    message: format!("invalid jail definitions: {}", names.join(", ")),
                    fix: Some("`jailctl validate` shows the errors with their fixes".into()),
                }
            };
            (check, l.config.global, l.config.jails)
        }
    }
}

pub fn run(global: &GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let (cfg_check, g, jails) = configuration(&global.config_dir);
    let host = open_host(global, Access::Read)?;
    let mut checks = vec![cfg_check];
    checks.extend(doctor::run(host.as_ref(), &g, &jails));
    let worst = doctor::worst(&checks);
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&Report {
                worst,
                checks: &checks
            })
            .into_diagnostic()?
        );
    } else {
        for c in &checks {
            crate::outln!("{}", c.line());
        }
    }
    Ok(if worst == Level::Fail {
        Exit::Refused.code()
    } else {
        Exit::Ok.code()
    })
}

/// Before `up`/`boot` change anything: the checks that would make starting `jails` fail.
/// Refuses with the lines `doctor` prints.
pub fn preflight(
    host: &dyn crate::host::Host,
    global: &Global,
    jails: &[config::spec::JailSpec],
) -> miette::Result<()> {
    let fails = doctor::preflight(host, global, jails);
    if fails.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = fails.iter().map(Check::line).collect();
    Err(super::output::refused(
        format!(
            "refusing to start jails: this host is not ready. Nothing was changed\n{}",
            lines.join("\n")
        ),
        "fix what each FAIL line says, then run again; `jailctl doctor` runs every check",
    ))
}

/// The jails `names` need: themselves and what they depend on, transitively (every jail
/// when `names` is empty).
pub fn with_dependencies(
    jails: &[config::spec::JailSpec],
    names: &[String],
) -> Vec<config::spec::JailSpec> {
    if names.is_empty() {
        return jails.to_vec();
    }
    let mut want: Vec<String> = names.to_vec();
    let mut i = 0;
    while i < want.len() {
        if let Some(j) = jails.iter().find(|j| j.name == want[i]) {
            for d in &j.depends_on {
                if !want.contains(d) {
                    want.push(d.clone());
                }
            }
        }
        i += 1;
    }
    jails
        .iter()
        .filter(|j| want.contains(&j.name))
        .cloned()
        .collect()
}
