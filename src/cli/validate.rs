//! `jailctl validate [--json]`: load the configuration directory and say, jail by jail, whether
//! it is valid; on errors print all of them and exit non-zero; print warnings (a shutdown
//! budget rc would cut short) without failing. `--json` gives editors and CI the same as data:
//! every error with file, line, column, message and help. Touches no host.

use crate::config::{self, ConfigError};
use miette::IntoDiagnostic;
use serde::Serialize;
use std::process::ExitCode;

/// Check jailctl.toml, every jail definition and the templates they extend.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the result as JSON on stdout (exit status as without it).
    #[arg(long)]
    pub json: bool,
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub struct Report {
    /// No error anywhere.
    pub ok: bool,
    pub config_dir: String,
    /// Every jail definition file, valid or not, by name.
    pub jails: Vec<JailResult>,
    pub errors: Vec<ErrorEntry>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct JailResult {
    pub name: String,
    pub valid: bool,
    /// Templates it extends, outermost first (valid jails only).
    pub extends: Vec<String>,
}

/// One error. `line` and `column` are 1-based, 0 when the error concerns a whole file.
#[derive(Debug, Serialize)]
pub struct ErrorEntry {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
}

impl From<&ConfigError> for ErrorEntry {
    fn from(e: &ConfigError) -> Self {
        ErrorEntry {
            file: e.file.display().to_string(),
            line: e.line,
            column: e.column,
            message: e.message.clone(),
            help: e.help.clone(),
        }
    }
}

/// Build the report: errors from the strict load (all of them, deduplicated), the per-jail
/// verdict from the lenient one.
pub fn report(dir: &std::path::Path) -> Report {
    let strict = config::load(dir);
    let mut jails = vec![];
    let mut warnings = vec![];
    if let Ok(l) = config::load_lenient(dir) {
        warnings = config::warnings(&l.config.global);
        warnings.extend(config::jail_warnings(&l.config.global, &l.config.jails));
        for n in l.names() {
            let j = l.config.jail(&n);
            jails.push(JailResult {
                valid: j.is_some(),
                extends: j.map(|j| j.extends.clone()).unwrap_or_default(),
                name: n,
            });
        }
    }
    let errors = match &strict {
        Ok(_) => vec![],
        Err(e) => e.errors.iter().map(ErrorEntry::from).collect(),
    };
    Report {
        ok: errors.is_empty(),
        config_dir: dir.display().to_string(),
        jails,
        errors,
        warnings,
    }
}

pub fn run(global: &super::GlobalArgs, args: Args) -> miette::Result<ExitCode> {
    if args.json {
        let r = report(&global.config_dir);
        crate::outln!("{}", serde_json::to_string_pretty(&r).into_diagnostic()?);
        return Ok(if r.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    match config::load(&global.config_dir) {
        Ok(cfg) => {
            for w in config::warnings(&cfg.global) {
                eprintln!("warning: {}: {w}", cfg.dir.join("jailctl.toml").display());
            }
            for w in config::jail_warnings(&cfg.global, &cfg.jails) {
                eprintln!("warning: {w}");
            }
            if !global.quiet {
                for j in &cfg.jails {
                    let via = if j.extends.is_empty() {
                        String::new()
                    } else {
                        format!(" (extends {})", j.extends.join(" -> "))
                    };
                    crate::outln!("{}: OK{via}", j.name);
                }
                crate::outln!(
                    "{} jail{} valid in {}",
                    cfg.jails.len(),
                    if cfg.jails.len() == 1 { "" } else { "s" },
                    cfg.dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => Err(errs.into()),
    }
}
