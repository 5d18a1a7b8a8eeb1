//! Helpers the lifecycle subcommands share: load the configuration, check the jail names
//! given on the command line, turn an operation's error into a report, print an outcome.

use crate::config::{self, Config};
use crate::ops::{OpsError, Outcome};

/// Load the configuration and check every name is a defined jail.
pub fn load(global: &super::GlobalArgs, names: &[String]) -> miette::Result<Config> {
    let cfg = config::load(&global.config_dir)?;
    for n in names {
        if cfg.jail(n).is_none() {
            let all: Vec<&str> = cfg.jails.iter().map(|j| j.name.as_str()).collect();
            let help = match config::schema::suggest(n, all.iter().copied()) {
                Some(s) => format!("did you mean \"{s}\"? (jails: {})", all.join(", ")),
                None => format!("jails: {}", all.join(", ")),
            };
            return Err(miette::miette!(
                help = help,
                "no jail \"{n}\" in {}",
                cfg.dir.join("jails").display()
            ));
        }
    }
    Ok(cfg)
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

/// Print an outcome: recovered runs, then the plan (with `--dry-run`, the exact commands).
pub fn print(out: &Outcome, dry_run: bool, quiet: bool) {
    for r in &out.recovered {
        eprintln!("jailctl: finished the undo of an interrupted run:\n{r}");
    }
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
