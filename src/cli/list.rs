//! `jailctl list` and `jailctl status [NAME]`: every defined or jailctl-managed jail with its
//! state, from one `jls` and one `zfs get` for the whole host. `status` adds live usage
//! (`rctl -u`) of running jails when RACCT is on; on a real FreeBSD host it says on stderr
//! why there is no usage when RACCT is off, asking the kernel directly through
//! [`crate::platform`] (sysctl(3), no process).

use super::{Access, target};
use crate::ops::{self, JailStatus};
use miette::IntoDiagnostic;
use std::process::ExitCode;

/// List jails and their state.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One jail's (or every jail's) state, with live usage.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    pub name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let cfg = crate::config::load(&global.config_dir)?;
    let host = super::open_host(global, Access::Read)?;
    let list = ops::status(host.as_ref(), &cfg.jails, &cfg.global).map_err(target::ops_err)?;
    show(&list, a.json)
}

pub fn run_status(global: &super::GlobalArgs, a: StatusArgs) -> miette::Result<ExitCode> {
    let names: Vec<String> = a.name.into_iter().collect();
    let cfg = target::load(global, &names)?;
    let host = super::open_host(global, Access::Read)?;
    let list = ops::status_with_usage(host.as_ref(), &cfg.jails, &cfg.global, &names)
        .map_err(target::ops_err)?;
    // The simulated host has its own sysctl answers; this machine's kernel says nothing
    // about it.
    if global.simulate.is_none()
        && !global.quiet
        && let Some(note) = usage_note(&crate::platform::racct_state())
    {
        eprintln!("{note}");
    }
    show(&list, a.json)
}

/// Why `status` shows no live usage, with the fix; `None` when RACCT is on.
fn usage_note(state: &crate::platform::RacctState) -> Option<String> {
    let fix = state.fix()?;
    Some(format!(
        "jailctl: no live usage (rctl -u): {state}; to enable: {fix}"
    ))
}

fn show(list: &[JailStatus], json: bool) -> miette::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(list).into_diagnostic()?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<16} {:<8} {:>5} {:<24} {:<10} BASE",
        "NAME", "STATE", "JID", "ADDRESSES", "CURRENT"
    );
    for j in list {
        let addrs: Vec<&str> = j.ip4.iter().chain(&j.ip6).map(String::as_str).collect();
        let current = match j.up_to_date {
            Some(true) => "yes",
            Some(false) => "changed",
            None if !j.defined => "undefined",
            None => "-",
        };
        println!(
            "{:<16} {:<8} {:>5} {:<24} {:<10} {}",
            j.name,
            j.state,
            j.jid.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
            if addrs.is_empty() {
                "-".to_string()
            } else {
                addrs.join(",")
            },
            current,
            j.base.as_deref().unwrap_or("-")
        );
        if let Some(u) = &j.usage {
            let s: Vec<String> = u.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("    usage: {}", s.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::usage_note;
    use crate::platform::RacctState;

    #[test]
    fn usage_note_names_the_state_and_the_fix_only_when_racct_is_off() {
        assert_eq!(usage_note(&RacctState::Enabled), None);
        let note = usage_note(&RacctState::Disabled).unwrap();
        assert!(note.contains("kern.racct.enable=0"), "{note}");
        assert!(
            note.contains("kern.racct.enable=1 to /boot/loader.conf"),
            "{note}"
        );
        let note = usage_note(&RacctState::NotPresent).unwrap();
        assert!(note.contains("RACCT not in this kernel"), "{note}");
        assert!(note.contains("options RCTL"), "{note}");
    }
}
