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
    print!("{}", table(list));
    Ok(ExitCode::SUCCESS)
}

/// The text table of `list`/`status`: each column as wide as its widest cell, so long
/// values (a jail with IPv4 and IPv6 addresses, a long name) never push the next column.
pub fn table(list: &[JailStatus]) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "NAME".into(),
        "STATE".into(),
        "JID".into(),
        "ADDRESSES".into(),
        "CURRENT".into(),
        "BASE".into(),
    ]];
    let mut usage = vec![None];
    for j in list {
        let addrs: Vec<&str> = j.ip4.iter().chain(&j.ip6).map(String::as_str).collect();
        let current = match j.up_to_date {
            Some(true) => "yes",
            Some(false) => "changed",
            None if !j.defined => "undefined",
            None => "-",
        };
        rows.push([
            j.name.clone(),
            j.state.to_string(),
            j.jid.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
            if addrs.is_empty() {
                "-".to_string()
            } else {
                addrs.join(",")
            },
            current.to_string(),
            j.base.clone().unwrap_or_else(|| "-".into()),
        ]);
        usage.push(j.usage.as_ref().map(|u| {
            let s: Vec<String> = u.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.join(" ")
        }));
    }
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let w: Vec<usize> = (0..6).map(width).collect();
    let mut out = String::new();
    for (r, u) in rows.iter().zip(usage) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {:<w4$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if let Some(u) = u {
            out.push_str(&format!("    usage: {u}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jail(name: &str, ip4: &[&str], ip6: &[&str]) -> JailStatus {
        JailStatus {
            name: name.into(),
            state: "running",
            jid: Some(12),
            defined: true,
            up_to_date: Some(true),
            hostname: None,
            ip4: ip4.iter().map(|s| s.to_string()).collect(),
            ip6: ip6.iter().map(|s| s.to_string()).collect(),
            base: Some("zroot/jailctl/bases/14.3-RELEASE@20260101-000000".into()),
            limits: vec![],
            usage: None,
        }
    }

    #[test]
    fn columns_are_as_wide_as_their_content() {
        let t = table(&[
            jail("web", &["192.168.1.20"], &["2001:db8::20"]),
            jail("a-rather-long-jail-name", &[], &[]),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        // Every column starts at the same place on every line.
        let col = |l: &str, word: &str| l.find(word).unwrap();
        let current = col(lines[0], "CURRENT");
        assert_eq!(col(lines[1], "yes"), current, "{t}");
        assert_eq!(col(lines[2], "yes"), current, "{t}");
        let base = col(lines[0], "BASE");
        assert_eq!(col(lines[1], "zroot/"), base, "{t}");
        assert_eq!(col(lines[2], "zroot/"), base, "{t}");
        assert!(lines[1].contains("192.168.1.20,2001:db8::20  "), "{t}");
        assert!(
            lines[0].starts_with("NAME                     STATE"),
            "{t}"
        );
    }

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
