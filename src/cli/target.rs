//! Helpers the lifecycle subcommands share: check every name given on the command line where
//! it enters (the clap value parsers below, before any lock file, path or dataset name is
//! made from it), load the configuration (leniently when jails are named, so an unrelated
//! broken file does not block them), turn an operation's error into a report, print an
//! outcome.

use crate::config::{self, Config};
use crate::ops::{OpsError, Outcome};

/// A name on the command line that is refused. clap prints only an error's message as its
/// reason, so the message carries the fix as well ([`crate::host::explain`]).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ArgError {
    #[error("{source}; {fix}")]
    JailName {
        #[source]
        source: config::units::ValueError,
        fix: String,
    },
    #[error("{}", crate::host::explain(.0))]
    Snapshot(#[source] crate::ops::snapshot::SnapshotError),
    #[error("{}", crate::host::explain(.0))]
    BaseName(#[source] crate::base::BaseError),
}

/// Value parser of a jail name argument: `[A-Za-z0-9][A-Za-z0-9_-]*`, at most 64 characters,
/// not all digits (see [`config::rules::check_jail_name`]). A name is used in lock and
/// journal file names and in dataset names, so a `/`, `..` or `@` must never get that far.
pub fn jail_name(s: &str) -> Result<String, ArgError> {
    config::rules::check_jail_name(s).map_err(|source| {
        let fix = if let Some((jail, snap)) = s.split_once('@') {
            format!(
                "a jail name has no `@`; for a snapshot of jail `{jail}` use `jailctl snapshot destroy {jail} {snap}` (or `snapshot rollback`)"
            )
        } else if s.contains('/') || s.contains("..") {
            "a jail name is not a path: give the name of its definition file (jails/NAME.toml) without the directory or `.toml`".to_string()
        } else {
            "check the spelling; `jailctl list` shows the jails".to_string()
        };
        ArgError::JailName { source, fix }
    })?;
    Ok(s.to_string())
}

/// Value parser of a snapshot argument: `LABEL` or `jailctl-LABEL`, with a label of letters,
/// digits and `-_.:` (the grammar `jailctl snapshot create` accepts).
pub fn snapshot_label(s: &str) -> Result<String, ArgError> {
    crate::ops::snapshot::check_label(s).map_err(ArgError::Snapshot)?;
    Ok(s.to_string())
}

/// Value parser of a base name argument (see [`crate::base::validate_base_name`]).
pub fn base_name(s: &str) -> Result<String, ArgError> {
    crate::base::validate_base_name(s).map_err(ArgError::BaseName)?;
    Ok(s.to_string())
}

/// Load the configuration and check every name is a defined jail whose definition, and
/// those of the jails it depends on, are valid. Without names (`--all`) every definition
/// must be valid: one broken file fails the command with all its errors. With names, a
/// broken file of an unrelated jail does not matter.
pub fn load(global: &super::GlobalArgs, names: &[String]) -> miette::Result<Config> {
    load_for(global, names, true)
}

/// [`load`]; `deps` says whether the named jails' dependencies must be valid too (`up`,
/// `restart`, `plan` need them; `down` and `render` do not).
pub fn load_for(
    global: &super::GlobalArgs,
    names: &[String],
    deps: bool,
) -> miette::Result<Config> {
    if names.is_empty() {
        return Ok(config::load(&global.config_dir)?);
    }
    let l = config::load_lenient(&global.config_dir)?;
    for n in names {
        if let Some(errs) = l.broken(n) {
            return Err(errs.clone().into());
        }
        if l.config.jail(n).is_none() {
            return Err(undefined(&l, n));
        }
        if deps && let Some(b) = l.broken_deps(n).first() {
            let errs = l
                .broken(b)
                .cloned()
                .expect("broken_deps names broken jails");
            eprint!("{}", errs.render());
            return Err(super::output::failure(
                super::output::Exit::InvalidConfig,
                format!("jail \"{n}\" depends on \"{b}\", whose definition is invalid"),
                Some(format!(
                    "fix {} (errors above), then run the command again",
                    errs.dir.join("jails").join(format!("{b}.toml")).display()
                )),
            ));
        }
    }
    let mut cfg = l.config;
    if !deps {
        // Stopping or rendering a jail does not need what it depends on; a dependency whose
        // definition is broken would only make the stop plan refuse an unknown jail.
        let valid: Vec<String> = cfg.jails.iter().map(|j| j.name.clone()).collect();
        for j in &mut cfg.jails {
            j.depends_on.retain(|d| valid.contains(d));
        }
    }
    Ok(cfg)
}

/// The valid jails, leniently loaded, with `depends_on` entries naming broken jails dropped:
/// for commands that act on one jail, defined or not (`destroy`), so an unrelated broken
/// file does not block them.
pub fn load_valid(global: &super::GlobalArgs) -> miette::Result<Config> {
    let mut cfg = config::load_lenient(&global.config_dir)?.config;
    let valid: Vec<String> = cfg.jails.iter().map(|j| j.name.clone()).collect();
    for j in &mut cfg.jails {
        j.depends_on.retain(|d| valid.contains(d));
    }
    Ok(cfg)
}

/// "No jail NAME in DIR/jails", with a did-you-mean among every defined jail.
pub fn undefined(l: &config::Lenient, name: &str) -> miette::Report {
    let all = l.names();
    let help = match config::schema::suggest(name, all.iter().map(String::as_str)) {
        Some(s) => format!("did you mean \"{s}\"? (jails: {})", all.join(", ")),
        None if all.is_empty() => "no jail is defined yet: add jails/NAME.toml".to_string(),
        None => format!("jails: {}", all.join(", ")),
    };
    super::output::failure(
        super::output::Exit::InvalidConfig,
        format!(
            "no jail \"{name}\" in {}",
            l.config.dir.join("jails").display()
        ),
        Some(help),
    )
}

/// The names to act on: the given ones, or every jail with `--all`; refuses neither.
pub fn names(names: Vec<String>, all: bool, cmd: &str) -> miette::Result<Vec<String>> {
    match (names.is_empty(), all) {
        (true, false) => Err(miette::miette!(
            help = format!("name the jails (`jailctl {cmd} web db`) or pass --all"),
            "`jailctl {cmd}` needs jail names or --all"
        )),
        (false, true) => Err(miette::miette!(
            help = "drop either the names or --all",
            "`jailctl {cmd}` takes jail names or --all, not both"
        )),
        _ => Ok(names),
    }
}

/// An operation's error as a report with its exit status: a definition the plan cannot use
/// is an invalid configuration; a plan refusal, a jail in the wrong state or a held lock is
/// a refusal; a failed host command or unreadable state is a host failure.
pub fn ops_err(e: OpsError) -> miette::Report {
    use super::output::{Exit, failure_of};
    use crate::plan::PlanError;
    let exit = match &e {
        OpsError::Plan(
            PlanError::UnknownJail(_)
            | PlanError::UnknownDependency { .. }
            | PlanError::Cycle(_)
            | PlanError::Render(_),
        ) => Exit::InvalidConfig,
        OpsError::Plan(_)
        | OpsError::NotRunning(_)
        | OpsError::NotOwned { .. }
        | OpsError::NeedsRestart { .. } => Exit::Refused,
        _ => Exit::HostFailure,
    };
    failure_of(exit, e)
}

/// Print what finishing interrupted earlier runs did.
pub fn print_recovered(out: &Outcome) {
    for r in &out.recovered {
        eprintln!("jailctl: finished the undo of an interrupted run:\n{r}");
    }
    for p in &out.pending {
        eprintln!("jailctl: {p}");
    }
}

/// Print an outcome: recovered runs, then the plan (with `--dry-run`, the exact commands).
pub fn print(out: &Outcome, dry_run: bool, quiet: bool) {
    print_recovered(out);
    if dry_run {
        crate::out!("{}", out.dry_run_text());
    } else if out.plan.is_empty() {
        if !quiet {
            crate::outln!("nothing to do: every jail is up to date");
        }
    } else if !quiet {
        crate::out!("{}", out.plan);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jail_names_are_checked_with_a_fix() {
        assert_eq!(jail_name("web-1_a").unwrap(), "web-1_a");
        assert_eq!(jail_name("1a").unwrap(), "1a");
        let e = jail_name("web@admin-backup").unwrap_err().to_string();
        assert!(
            e.contains("not a valid jail name")
                && e.contains("jailctl snapshot destroy web admin-backup"),
            "{e}"
        );
        let e = jail_name("../../tmp/x").unwrap_err().to_string();
        assert!(
            e.contains("\"../../tmp/x\"") && e.contains("not a path"),
            "{e}"
        );
        for bad in ["", "..", "a/b", "a.b", "-a", "_a", "123", "a b", "a@b"] {
            assert!(jail_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(jail_name("123").unwrap_err().to_string().contains("jid"));
    }

    #[test]
    fn labels_and_base_names_are_checked() {
        assert!(snapshot_label("before-upgrade").is_ok());
        assert!(snapshot_label("jailctl-20260101-000000").is_ok());
        for bad in ["", "a/b", "a@b", "a b", "jailctl-"] {
            let e = snapshot_label(bad).expect_err(bad).to_string();
            assert!(e.contains("use letters, digits and `-_.:`"), "{bad:?}: {e}");
        }
        assert!(base_name("14.3-RELEASE").is_ok());
        for bad in ["", "../x", "a/b", "a..b", ".x", "a@b"] {
            let e = base_name(bad).unwrap_err().to_string();
            assert!(e.contains("not a valid base name"), "{bad:?}: {e}");
            // clap shows only the message: the fix must be in it.
            assert!(e.contains("use letters, digits"), "{bad:?}: {e}");
        }
    }
}

/// `--ip4`, `--ip6`, `--hostname` of `clone` and `import`: what replaces the copied
/// definition's addresses and hostname.
#[derive(Debug, clap::Args)]
pub struct Readdress {
    /// The new jail's IPv4 address (ADDR/LEN), replacing the one in the copied definition.
    #[arg(long, value_name = "ADDR/LEN")]
    pub ip4: Option<String>,
    /// The new jail's IPv6 address (ADDR/LEN), replacing the one in the copied definition.
    #[arg(long, value_name = "ADDR/LEN")]
    pub ip6: Option<String>,
    /// The new jail's hostname.
    #[arg(long)]
    pub hostname: Option<String>,
}

impl Readdress {
    pub fn changes(&self) -> crate::ops::clone::Changes {
        crate::ops::clone::Changes {
            ip4: self.ip4.clone(),
            ip6: self.ip6.clone(),
            hostname: self.hostname.clone(),
        }
    }
}
