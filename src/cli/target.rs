//! Helpers the lifecycle subcommands share: load the configuration (leniently when jails are
//! named, so an unrelated broken file does not block them), check the jail names given on
//! the command line, turn an operation's error into a report, print an outcome.

use crate::config::{self, Config};
use crate::ops::{OpsError, Outcome};

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
            return Err(miette::miette!(
                help = format!(
                    "fix {} (errors above), then run the command again",
                    errs.dir.join("jails").join(format!("{b}.toml")).display()
                ),
                "jail \"{n}\" depends on \"{b}\", whose definition is invalid"
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
    miette::miette!(
        help = help,
        "no jail \"{name}\" in {}",
        l.config.dir.join("jails").display()
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

pub fn ops_err(e: OpsError) -> miette::Report {
    miette::miette!("{e}")
}

/// Print what finishing interrupted earlier runs did.
pub fn print_recovered(out: &Outcome) {
    for r in &out.recovered {
        eprintln!("jailctl: finished the undo of an interrupted run:\n{r}");
    }
}

/// Print an outcome: recovered runs, then the plan (with `--dry-run`, the exact commands).
pub fn print(out: &Outcome, dry_run: bool, quiet: bool) {
    print_recovered(out);
    if dry_run {
        print!("{}", out.dry_run_text());
    } else if out.plan.is_empty() {
        if !quiet {
            println!("nothing to do: every jail is up to date");
        }
    } else if !quiet {
        print!("{}", out.plan);
    }
}
