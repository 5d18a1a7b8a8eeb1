//! Configuration: what the user wrote, read and validated without looking at the host.
//!
//! Stage one parses the TOML (global `jailctl.toml`, one `jails/<name>.toml` per jail,
//! `extends` templates) into a raw mirror that keeps source spans. Stage two validates it into
//! the spec types of [`spec`], which the rest of jailctl consumes. Every error names the file,
//! line and column, and all errors of a run are reported together.

mod cross;
pub mod error;
mod files;
pub mod layout;
mod load;
pub mod perms;
pub(crate) mod raw;
pub mod rules;
pub mod schema;
pub mod spec;
pub mod templates;
pub mod units;
pub(crate) mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use spec::*;

use files::Loader;
pub use files::MAX_FILE_SIZE;
use load::load_all;
use std::path::{Path, PathBuf};
use units::ValueError;
use validate::V;

/// A loaded, validated configuration directory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    pub global: Global,
    /// Sorted by name.
    pub jails: Vec<JailSpec>,
    pub dir: PathBuf,
}

impl Config {
    pub fn jail(&self, name: &str) -> Option<&JailSpec> {
        self.jails.iter().find(|j| j.name == name)
    }
}

/// Read and validate only `<config_dir>/jailctl.toml`: for commands that need the global
/// settings but no jail (`jailctl base ...`), so a broken jail file does not block them.
pub fn load_global(config_dir: &Path) -> Result<Global, ConfigErrors> {
    let mut loader = Loader::new(config_dir);
    let global_path = config_dir.join("jailctl.toml");
    let global = loader
        .read(&global_path)
        .and_then(|id| loader.parse(id))
        .map(|(id, t)| {
            let mut v = V {
                src: &loader.sources,
                errs: vec![],
            };
            let (g, _) = validate::global(&mut v, id, &t);
            (g, v.errs)
        });
    match global {
        Some((g, mut errs)) => {
            loader.errs.append(&mut errs);
            if loader.errs.is_empty() {
                return Ok(g);
            }
        }
        None if loader.errs.is_empty() => {
            // read/parse always explain a failure; keep a message if they ever do not.
            loader.errs.push(ConfigError::file_level(
                &global_path,
                "cannot read the global settings".to_string(),
                None,
            ));
        }
        None => {}
    }
    Err(ConfigErrors::new(config_dir.to_path_buf(), loader.errs))
}

/// Read and validate `<config_dir>/jailctl.toml`, `<config_dir>/jails/*.toml` and the templates
/// they extend. Returns every error found, not only the first: one broken file fails the whole
/// load (for `validate`, `up --all`). Commands that must act on the valid rest of the fleet use
/// [`load_lenient`].
pub fn load(config_dir: &Path) -> Result<Config, ConfigErrors> {
    let all = load_all(config_dir);
    let mut errs = all.global_errs;
    for (_, e) in all.broken {
        errs.extend(e);
    }
    if errs.is_empty() {
        Ok(Config {
            global: all.global,
            jails: all.jails,
            dir: config_dir.to_path_buf(),
        })
    } else {
        Err(ConfigErrors::new(config_dir.to_path_buf(), errs))
    }
}

/// Default orderly budget of a shutdown (`shutdown_timeout`): 60 s, leaving room under the
/// common 90 s `rcshutdown_timeout`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Default wait for a shutdown's force-stops: 60 + 20 s stays under 90 s.
pub const DEFAULT_FORCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// How long destroy, re-create and an undo wait for a removed jail to finish dying:
/// `JAILCTL_DYING_WAIT` (seconds, fractions allowed, at most a day) or 10 s. A value that is
/// not that is reported (naming the variable and the accepted form) and the default is used.
pub fn dying_wait_from_env() -> std::time::Duration {
    const DEFAULT: std::time::Duration = std::time::Duration::from_secs(10);
    match std::env::var("JAILCTL_DYING_WAIT") {
        Ok(v) => parse_dying_wait(&v).unwrap_or_else(|e| {
            tracing::warn!("{e}; waiting the default 10 s");
            DEFAULT
        }),
        Err(_) => DEFAULT,
    }
}

/// Parse a `JAILCTL_DYING_WAIT` value: seconds, fractions allowed, from 0 to 86400.
pub fn parse_dying_wait(v: &str) -> Result<std::time::Duration, ValueError> {
    let bad = || {
        ValueError(format!(
            "JAILCTL_DYING_WAIT={v}: expected seconds from 0 to 86400, e.g. 30 or 2.5"
        ))
    };
    let s: f64 = v.trim().parse().map_err(|_| bad())?;
    if !(0.0..=86400.0).contains(&s) {
        return Err(bad());
    }
    std::time::Duration::try_from_secs_f64(s).map_err(|_| bad())
}

/// rc.shutdown's usual watchdog (`rcshutdown_timeout`): past it, rc kills every process and
/// jails lose their orderly stop.
pub const RC_SHUTDOWN_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(90);

/// Settings that are valid but probably not what the admin wants; `validate` prints them
/// without failing.
pub fn warnings(global: &Global) -> Vec<String> {
    let mut out = vec![];
    let total = global
        .shutdown_timeout
        .saturating_add(DEFAULT_FORCE_TIMEOUT);
    if total >= RC_SHUTDOWN_WATCHDOG {
        out.push(format!(
            "shutdown_timeout = {}s plus {}s of force-stops is {}s, not under rc.shutdown's usual {}s watchdog (rcshutdown_timeout): jails still up then are killed without their exec.stop; use at most {}s, or raise rcshutdown_timeout in /etc/rc.conf above {}s",
            global.shutdown_timeout.as_secs(),
            DEFAULT_FORCE_TIMEOUT.as_secs(),
            total.as_secs(),
            RC_SHUTDOWN_WATCHDOG.as_secs(),
            (RC_SHUTDOWN_WATCHDOG - DEFAULT_FORCE_TIMEOUT).as_secs() - 1,
            total.as_secs(),
        ));
    }
    out
}

/// Time allowed beyond a jail's own hook timeouts for the rest of `jail -c`/`-r` (mounts,
/// addresses, the kernel's own work) before the `jail` deadline may kill it.
pub const JAIL_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Jails whose hooks may outlast `[deadlines] jail`: jail(8) bounds each hook command by
/// `exec.timeout`, so `jail -c` may take that times its hook commands (exec.prestart,
/// exec.created, exec.start or the default `/bin/sh /etc/rc`, exec.poststart; likewise for
/// `jail -r`). jailctl would kill jail(8) in the middle of a hook that is within its own
/// timeout; `validate` prints these without failing.
pub fn jail_warnings(global: &Global, jails: &[JailSpec]) -> Vec<String> {
    let deadline = global.deadlines.for_tool("jail");
    let mut out = vec![];
    for j in jails {
        let Some(spec::ParamValue::Int(t)) = j.params.get("exec.timeout") else {
            continue;
        };
        let Ok(t) = u64::try_from(*t) else { continue };
        let h = &j.hooks;
        let start = h.prestart.len() + h.created.len() + h.start.len().max(1) + h.poststart.len();
        let stop = h.prestop.len() + h.stop.len().max(1) + h.poststop.len();
        let hooks = start.max(stop) as u64;
        let worst = std::time::Duration::from_secs(t.saturating_mul(hooks));
        if worst.saturating_add(JAIL_DEADLINE_MARGIN) > deadline {
            out.push(format!(
                "jail {}: exec.timeout = {t} over {hooks} hook command(s) lets jail(8) take {}s, and with {}s for the rest that is over the `jail` deadline of {}: jailctl would kill jail(8) in the middle of a hook; raise [deadlines] jail in jailctl.toml to at least {}s, or lower exec.timeout",
                j.name,
                worst.as_secs(),
                JAIL_DEADLINE_MARGIN.as_secs(),
                crate::host::deadline::show(deadline),
                worst.saturating_add(JAIL_DEADLINE_MARGIN).as_secs(),
            ));
        }
    }
    out
}

/// A configuration loaded leniently: the jails whose definitions are valid, and for each
/// broken definition its own errors, so one bad file does not stop the rest of the fleet.
#[derive(Debug, Clone)]
pub struct Lenient {
    /// The global settings and every jail whose definition is valid. A valid jail may still
    /// depend on a broken one: see [`Lenient::broken_deps`].
    pub config: Config,
    /// Jail name (the file stem) → the errors of that definition, sorted by name. Errors in
    /// a template count for every jail extending it; a dependency cycle or an address used
    /// twice counts for every jail involved.
    pub broken: Vec<(String, ConfigErrors)>,
}

impl Lenient {
    /// The errors of jail `name`, if its definition is broken.
    pub fn broken(&self, name: &str) -> Option<&ConfigErrors> {
        self.broken.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// Every name with a definition file: valid and broken, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut all: Vec<String> = self.config.jails.iter().map(|j| j.name.clone()).collect();
        all.extend(self.broken.iter().map(|(n, _)| n.clone()));
        all.sort();
        all
    }

    /// The broken jails `name` needs, directly or through valid dependencies, sorted.
    pub fn broken_deps(&self, name: &str) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(n) = stack.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            if n != name && self.broken(&n).is_some() {
                out.insert(n);
            } else if let Some(j) = self.config.jail(&n) {
                stack.extend(j.depends_on.iter().cloned());
            }
        }
        out.into_iter().collect()
    }
}

/// Like [`load`], but a broken jail definition only puts that jail aside: the valid rest
/// loads. Fails only when the global file `jailctl.toml` (or the `jails` directory listing)
/// has errors, since every jail depends on it; those errors alone are returned.
pub fn load_lenient(config_dir: &Path) -> Result<Lenient, ConfigErrors> {
    let all = load_all(config_dir);
    if !all.global_errs.is_empty() {
        return Err(ConfigErrors::new(config_dir.to_path_buf(), all.global_errs));
    }
    Ok(Lenient {
        config: Config {
            global: all.global,
            jails: all.jails,
            dir: config_dir.to_path_buf(),
        },
        broken: all
            .broken
            .into_iter()
            .map(|(n, e)| (n, ConfigErrors::new(config_dir.to_path_buf(), e)))
            .collect(),
    })
}
