//! `jailctl list` and `jailctl status [NAME]`: every defined or jailctl-managed jail with its
//! state, from one `jls` and one `zfs get` for the whole host. A jail whose definition file is
//! broken is listed with the state `invalid` (its errors in the JSON), and the command still
//! succeeds: it is a report, and one bad file must not hide the rest of the fleet. `status` adds live usage
//! of running jails when RACCT is on (`rctl -u`'s figures, read for all jails at once through
//! [`crate::host::Host::racct_usage`]); on a real FreeBSD host it says on stderr
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
    #[arg(value_parser = super::target::jail_name)]
    pub name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &super::GlobalArgs, a: Args) -> miette::Result<ExitCode> {
    let l = crate::config::load_lenient(&global.config_dir)?;
    let cfg = &l.config;
    let host = super::open_host(global, Access::Read)?;
    let list = ops::status(host.as_ref(), &cfg.jails, &cfg.global).map_err(target::ops_err)?;
    show(&with_broken(list, &l, &[]), a.json, global.quiet)
}

pub fn run_status(global: &super::GlobalArgs, a: StatusArgs) -> miette::Result<ExitCode> {
    let names: Vec<String> = a.name.into_iter().collect();
    let l = crate::config::load_lenient(&global.config_dir)?;
    for n in &names {
        if !l.names().contains(n) {
            return Err(target::undefined(&l, n));
        }
    }
    let cfg = &l.config;
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
    let mut rows = with_broken(list, &l, &names);
    for r in &mut rows {
        r.resources = Some(resources(&r.status, !names.is_empty()));
    }
    if !a.json {
        let text = match rows.first() {
            Some(r) if !names.is_empty() => detail(r),
            _ => status_table(&rows),
        };
        crate::out!("{text}");
        note_broken(&rows, global.quiet);
        return Ok(ExitCode::SUCCESS);
    }
    show(&rows, true, global.quiet)
}

/// One jail as `list --json` prints it: its status and, when its definition is broken, the
/// errors (`file:line:column: message (help: ...)`, one per entry).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub status: JailStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    /// `status`: each resource's usage beside its limits, exact numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<Resource>>,
}

/// One rctl resource of a jail: live usage (when RACCT reports it) and the deployed rules.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resource {
    pub resource: String,
    pub usage: Option<u64>,
    pub limits: Vec<Limit>,
}

/// A deployed rule on one resource: `action=amount[/per]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Limit {
    pub action: String,
    pub amount: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per: Option<String>,
}

/// Resources `status` shows even without a limit: what an administrator looks at first.
const ALWAYS: &[&str] = &["memoryuse", "pcpu", "maxproc"];

/// The resources of a jail: those with a deployed rule, then [`ALWAYS`]; with `all`, every
/// resource RACCT reports a non-zero usage for as well.
pub fn resources(j: &JailStatus, all: bool) -> Vec<Resource> {
    let mut out: Vec<Resource> = Vec::new();
    for rule in &j.limits {
        // jail:NAME:resource:action=amount[/per]
        let mut parts = rule.splitn(4, ':');
        let (Some(_), Some(_), Some(res), Some(rest)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some((action, amount)) = rest.split_once('=') else {
            continue;
        };
        let (amount, per) = match amount.split_once('/') {
            Some((a, p)) => (a, Some(p.to_string())),
            None => (amount, None),
        };
        let Ok(amount) = amount.parse::<u64>() else {
            continue;
        };
        let limit = Limit {
            action: action.to_string(),
            amount,
            per,
        };
        match out.iter_mut().find(|r| r.resource == res) {
            Some(r) => r.limits.push(limit),
            None => out.push(Resource {
                resource: res.to_string(),
                usage: None,
                limits: vec![limit],
            }),
        }
    }
    let extra: Vec<String> = match &j.usage {
        Some(u) if all => u
            .iter()
            .filter(|(k, v)| **v != 0 || ALWAYS.contains(&k.as_str()))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => ALWAYS.iter().map(|s| s.to_string()).collect(),
    };
    for res in extra {
        if !out.iter().any(|r| r.resource == res) {
            out.push(Resource {
                resource: res,
                usage: None,
                limits: vec![],
            });
        }
    }
    for r in &mut out {
        r.usage = j.usage.as_ref().and_then(|u| u.get(&r.resource).copied());
    }
    out
}

/// rctl resources counted in bytes (rates in bytes per second).
const BYTES: &[&str] = &[
    "datasize",
    "stacksize",
    "coredumpsize",
    "memoryuse",
    "memorylocked",
    "vmemoryuse",
    "swapuse",
    "shmsize",
    "msgqsize",
];
const RATES: &[&str] = &["readbps", "writebps"];
const IOPS: &[&str] = &["readiops", "writeiops"];
const SECONDS: &[&str] = &["cputime", "wallclock"];

/// A byte count as `rctl -h` prints it: binary units, one decimal below 10 (`512M`, `4.0G`,
/// `27M`, `0`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64;
    let mut u = 0;
    v /= 1024.0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if v < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}{}", UNITS[u])
    } else {
        format!("{}{}", v.round() as u64, UNITS[u])
    }
}

/// An amount of `resource` in the unit people read it in.
pub fn human(resource: &str, n: u64) -> String {
    if BYTES.contains(&resource) {
        human_bytes(n)
    } else if RATES.contains(&resource) {
        format!("{}/s", human_bytes(n))
    } else if IOPS.contains(&resource) {
        format!("{n}/s")
    } else if resource == "pcpu" {
        format!("{n}%")
    } else if SECONDS.contains(&resource) {
        let (h, m, s) = (n / 3600, n / 60 % 60, n % 60);
        match (h, m) {
            (0, 0) => format!("{s}s"),
            (0, _) => format!("{m}m{s:02}s"),
            _ => format!("{h}h{m:02}m"),
        }
    } else {
        n.to_string()
    }
}

fn limit_text(r: &Resource) -> String {
    if r.limits.is_empty() {
        return "-".into();
    }
    let l: Vec<String> = r
        .limits
        .iter()
        .map(|l| {
            let per = l.per.as_ref().map(|p| format!("/{p}")).unwrap_or_default();
            format!("{} ({}{per})", human(&r.resource, l.amount), l.action)
        })
        .collect();
    l.join(", ")
}

fn usage_text(j: &JailStatus, r: &Resource) -> String {
    match r.usage {
        Some(u) => human(&r.resource, u),
        None if j.state == "running" => "?".into(),
        None => "-".into(),
    }
}

/// `status`: one row per resource of each jail, usage beside limit, in human units.
pub fn status_table(rows: &[Row]) -> String {
    let mut t: Vec<Vec<String>> = vec![
        ["NAME", "STATE", "JID", "RESOURCE", "USAGE", "LIMIT"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    ];
    for row in rows {
        let j = &row.status;
        let res = row.resources.clone().unwrap_or_default();
        let head = [
            j.name.clone(),
            j.state.to_string(),
            j.jid.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
        ];
        if j.state != "running" || res.is_empty() {
            let mut r = head.to_vec();
            r.extend(["-".into(), "-".into(), "-".into()]);
            t.push(r);
            continue;
        }
        for (i, r) in res.iter().enumerate() {
            let mut line: Vec<String> = if i == 0 {
                head.to_vec()
            } else {
                vec![String::new(), String::new(), String::new()]
            };
            line.extend([r.resource.clone(), usage_text(j, r), limit_text(r)]);
            t.push(line);
        }
    }
    super::output::columns(&t, &[2, 4])
}

/// `status NAME`: the jail's row of the table, with every resource that is limited or in
/// use, then its facts.
pub fn detail(row: &Row) -> String {
    let j = &row.status;
    let addrs: Vec<&str> = j.ip4.iter().chain(&j.ip6).map(String::as_str).collect();
    let current = match j.up_to_date {
        Some(true) => "yes",
        Some(false) => "no: the definition changed (`jailctl plan` says what `up` would do)",
        None if !j.defined => "no definition file",
        None => "-",
    };
    let mut facts: Vec<Vec<String>> = vec![
        vec![
            "hostname:".into(),
            j.hostname.clone().unwrap_or_else(|| "-".into()),
        ],
        vec![
            "addresses:".into(),
            if addrs.is_empty() {
                "-".into()
            } else {
                addrs.join(", ")
            },
        ],
        vec!["base:".into(), j.base.clone().unwrap_or_else(|| "-".into())],
        vec!["current:".into(), current.to_string()],
    ];
    if !j.forwards.is_empty() {
        facts.push(vec!["forwards:".into(), j.forwards.join(", ")]);
    }
    if let Some(k) = &j.kept_root {
        facts.push(vec!["upgrade:".into(), kept_text(&j.name, k)]);
    }
    if let Some(e) = &row.errors {
        facts.push(vec!["errors:".into(), e.join("; ")]);
    }
    let mut out = status_table(std::slice::from_ref(row));
    out.push('\n');
    out.push_str(&super::output::columns(&facts, &[]));
    out
}

/// The state `list` and `status` give a jail whose definition file is broken.
pub const INVALID: &str = "invalid";

/// Mark the jails with broken definitions `invalid` (adding the ones the host has never
/// seen), keeping what the host says of them (JID, addresses, base). `names` limits the
/// rows, as `status NAME` does; empty means all.
pub fn with_broken(
    mut list: Vec<JailStatus>,
    l: &crate::config::Lenient,
    names: &[String],
) -> Vec<Row> {
    for (n, _) in &l.broken {
        if !names.is_empty() && !names.contains(n) {
            continue;
        }
        match list.iter_mut().find(|j| &j.name == n) {
            Some(j) => {
                j.state = INVALID;
                j.defined = true;
                j.up_to_date = None;
            }
            None => list.push(JailStatus {
                name: n.clone(),
                state: INVALID,
                jid: None,
                defined: true,
                up_to_date: None,
                hostname: None,
                ip4: vec![],
                ip6: vec![],
                base: None,
                limits: vec![],
                forwards: vec![],
                usage: None,
                kept_root: None,
            }),
        }
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list.into_iter()
        .map(|status| {
            let errors = l.broken(&status.name).map(|e| {
                e.plain()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<String>>()
            });
            Row {
                status,
                errors,
                resources: None,
            }
        })
        .collect()
}

/// Why `status` shows no live usage, with the fix; `None` when RACCT is on.
fn usage_note(state: &crate::platform::RacctState) -> Option<String> {
    let fix = state.fix()?;
    Some(format!(
        "jailctl: no live usage (rctl -u): {state}; to enable: {fix}"
    ))
}

/// Print the rows. The exit status is 0 even when some definitions are broken: `list` is a
/// report and the `invalid` rows say it; a note on stderr points at `jailctl validate`.
fn show(rows: &[Row], json: bool, quiet: bool) -> miette::Result<ExitCode> {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(rows).into_diagnostic()?);
    } else {
        let list: Vec<JailStatus> = rows.iter().map(|r| r.status.clone()).collect();
        crate::out!("{}", table(&list));
    }
    note_broken(rows, quiet);
    Ok(ExitCode::SUCCESS)
}

/// The note on stderr naming the jails whose definitions are broken.
fn note_broken(rows: &[Row], quiet: bool) {
    let broken: Vec<&str> = rows
        .iter()
        .filter(|r| r.errors.is_some())
        .map(|r| r.status.name.as_str())
        .collect();
    if !broken.is_empty() && !quiet {
        eprintln!(
            "jailctl: invalid definition{}: {}; `jailctl validate` shows the errors",
            if broken.len() == 1 { "" } else { "s" },
            broken.join(", ")
        );
    }
}

/// The line `list` and `status` add for a jail whose upgrade kept its old root.
fn kept_text(name: &str, k: &crate::ops::upgrade::KeptRoot) -> String {
    format!(
        "upgraded; old root kept: {} (from {}): `jailctl upgrade {name} --finish` destroys it, `--rollback` goes back to it",
        k.dataset,
        k.base.as_deref().unwrap_or("-")
    )
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
    let mut kept = vec![None];
    for j in list {
        kept.push(j.kept_root.as_ref().map(|k| kept_text(&j.name, k)));
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
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    let table = super::output::columns(&rows, &[2]);
    let mut out = String::new();
    for ((line, u), kept) in table.lines().zip(usage).zip(kept) {
        out.push_str(line);
        out.push('\n');
        if let Some(u) = u {
            out.push_str(&format!("    usage: {u}\n"));
        }
        if let Some(k) = kept {
            out.push_str(&format!("    {k}\n"));
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
            forwards: vec![],
            usage: None,
            kept_root: None,
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
