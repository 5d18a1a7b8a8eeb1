//! The parameters jail(8) and the simulated kernel know, and the command-line form of a
//! jail's parameters (`name=value`, `name`, `noname`).

use super::ALLOW;
use crate::jailconf::{self, PVal, ResolvedJail};
use jailctl_host::shell_quote;

/// Kernel parameters (other than `allow.*`).
pub(super) const KERNEL: &[&str] = &[
    "jid",
    "name",
    "path",
    "ip4.addr",
    "ip6.addr",
    "ip4",
    "ip6",
    "ip4.saddrsel",
    "ip6.saddrsel",
    "vnet",
    "host.hostname",
    "host.domainname",
    "host.hostuuid",
    "host.hostid",
    "host",
    "securelevel",
    "devfs_ruleset",
    "enforce_statfs",
    "children.max",
    "children.cur",
    "persist",
    "osrelease",
    "osreldate",
    "sysvmsg",
    "sysvsem",
    "sysvshm",
    "cpuset.id",
    "dying",
    "parent",
    "allow",
];

/// Parameters jail(8) handles itself.
pub(super) const PSEUDO: &[&str] = &[
    "exec.prepare",
    "exec.prestart",
    "exec.created",
    "exec.start",
    "command",
    "exec.poststart",
    "exec.prestop",
    "exec.stop",
    "exec.poststop",
    "exec.release",
    "exec.clean",
    "exec.jail_user",
    "exec.system_user",
    "exec.system_jail_user",
    "exec.timeout",
    "exec.consolelog",
    "exec.fib",
    "stop.timeout",
    "interface",
    "ip_hostname",
    "vnet.interface",
    "mount",
    "mount.fstab",
    "mount.devfs",
    "mount.fdescfs",
    "mount.procfs",
    "depend",
];

pub(super) const READ_ONLY: &[&str] = &["children.cur", "cpuset.id", "dying", "parent"];

pub(super) fn known_kernel(p: &str) -> bool {
    KERNEL.contains(&p) || p.strip_prefix("allow.").is_some_and(|a| ALLOW.contains(&a))
}

pub(super) fn known(p: &str) -> bool {
    known_kernel(p) || PSEUDO.contains(&p)
}

/// Parameters from the command line (`name=value`, `name`, `noname`).
pub(super) fn cmdline_params(args: &[String]) -> Result<ResolvedJail, String> {
    let mut params: Vec<(String, PVal)> = vec![];
    let mut k = 0;
    while k < args.len() {
        let a = &args[k];
        let (n, v) = match a.split_once('=') {
            Some(("command", c)) => {
                let mut words = vec![c.to_string()];
                words.extend(args[k + 1..].iter().cloned());
                let cmd = words
                    .iter()
                    .map(|w| shell_quote(w))
                    .collect::<Vec<_>>()
                    .join(" ");
                params.retain(|(p, _)| p != "command");
                params.push(("command".into(), PVal::List(vec![cmd])));
                break;
            }
            Some((n, v)) => {
                let list = matches!(n, "ip4.addr" | "ip6.addr" | "vnet.interface" | "depend");
                let vals = if list {
                    v.split(',').map(str::to_string).collect()
                } else {
                    vec![v.to_string()]
                };
                let val = match v {
                    "true" | "false" if jailconf::is_bool_param(n) => PVal::Bool(v == "true"),
                    _ => PVal::List(vals),
                };
                (n.to_string(), val)
            }
            None => match jailconf::split_no(a) {
                Some(b) => (b, PVal::Bool(false)),
                None => (a.clone(), PVal::Bool(true)),
            },
        };
        params.retain(|(p, _)| *p != n);
        params.push((n, v));
        k += 1;
    }
    let name = params
        .iter()
        .find(|(p, _)| p == "name")
        .and_then(|(_, v)| match v {
            PVal::List(l) => l.first().cloned(),
            _ => None,
        })
        .or_else(|| {
            params
                .iter()
                .find(|(p, _)| p == "jid")
                .and_then(|(_, v)| match v {
                    PVal::List(l) => l.first().cloned(),
                    _ => None,
                })
        })
        .ok_or_else(|| "no name or jid given".to_string())?;
    Ok(ResolvedJail { name, params })
}
