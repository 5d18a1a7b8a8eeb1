//! Is this host ready for jails? `jailctl doctor` runs every check here and prints each as
//! OK, WARN or FAIL with the command that fixes it; `up` and `boot` run the checks that matter
//! for the jails they start ([`preflight`]) and refuse with the same words, so a host that is
//! not ready fails before anything is changed instead of half-way through a jail.
//!
//! The checks cover the pitfalls users of other jail managers hit on fresh hosts: no pool or
//! no `zfs_root` dataset, `exec=off` on a dataset the jails live on, RACCT off while jails
//! have limits, a kernel without VIMAGE for VNET jails, VNET's modules not loaded, mount
//! paths longer than the mount table holds (MNAMELEN), and module sysctls in
//! `/etc/sysctl.conf` applied before the module is loaded (`sysctl_lastload`). Everything is
//! read through the [`Runner`](crate::host::Runner)/[`HostFs`](crate::host::HostFs) seam
//! (sysctl, kldstat, zpool, zfs, files under /etc), so the simulated host answers the same
//! questions; nothing is changed.

use crate::config::spec::{Global, JailSpec, Network};
use crate::host::{Cmd, Host, tools, zfs};
use crate::platform::RacctState;
use serde::Serialize;
use std::path::Path;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        })
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name (`pool`, `zfs_root`, `exec`, `racct`, `vimage`, `if_bridge`, `if_epair`,
    /// `mount_root`, `sysctl_lastload`, `pf`, `config`).
    pub id: &'static str,
    pub level: Level,
    /// What was found, naming the object.
    pub message: String,
    /// The command (or edit) that fixes it; `None` for OK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(id: &'static str, message: impl Into<String>) -> Check {
        Check {
            id,
            level: Level::Ok,
            message: message.into(),
            fix: None,
        }
    }

    fn bad(
        id: &'static str,
        level: Level,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            id,
            level,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    /// `FAIL racct: ...; fix: ...` — the line `doctor` prints and `up` refuses with.
    pub fn line(&self) -> String {
        match &self.fix {
            Some(f) => format!("{:<4} {}: {}; fix: {f}", self.level, self.id, self.message),
            None => format!("{:<4} {}: {}", self.level, self.id, self.message),
        }
    }
}

/// The worst level among the checks (OK for none).
pub fn worst(checks: &[Check]) -> Level {
    checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok)
}

/// Every check, for `jailctl doctor`. `jails` are the defined jails: they decide whether a
/// missing feature is a failure (a jail needs it) or a warning (none does yet).
pub fn run(host: &dyn Host, global: &Global, jails: &[JailSpec]) -> Vec<Check> {
    let mut out = storage(host, global, true);
    out.push(racct(host, jails));
    out.push(vimage(host, jails));
    for m in ["if_bridge", "if_epair"] {
        out.push(module(host, m, jails));
    }
    out.push(mount_root(host, global, jails));
    out.push(sysctl_lastload(host));
    out.push(pf(host, global, jails));
    out
}

/// The checks that would make `up`/`boot` of `jails` fail, run before anything changes:
/// the pool and `zfs_root`, RACCT when one of them has limits, VIMAGE when one uses VNET.
/// Only the FAILs are returned; empty means go ahead. `exec=off` is left to the plan, which
/// checks the datasets of exactly the jails it starts (one jail's dataset set `exec=off`
/// must not block the others) and names where the setting comes from.
pub fn preflight(host: &dyn Host, global: &Global, jails: &[JailSpec]) -> Vec<Check> {
    let mut out = storage(host, global, false);
    if jails.iter().any(has_limits) {
        out.push(racct(host, jails));
    }
    if jails.iter().any(is_vnet) {
        out.push(vimage(host, jails));
    }
    out.retain(|c| c.level == Level::Fail);
    out
}

fn has_limits(j: &JailSpec) -> bool {
    !crate::plan::rctl_rules(&j.name, &j.limits).is_empty()
}

fn is_vnet(j: &JailSpec) -> bool {
    matches!(j.network, Network::Vnet { .. })
}

fn names(jails: &[&JailSpec]) -> String {
    let n: Vec<&str> = jails.iter().map(|j| j.name.as_str()).collect();
    n.join(", ")
}

/// The pool, the `zfs_root` dataset and, with `exec`, `exec` on it and below (one `zfs get
/// -r`; without it, only `zfs_root` itself is read, so `up` of one jail does not list every
/// dataset of the fleet).
fn storage(host: &dyn Host, global: &Global, exec: bool) -> Vec<Check> {
    let root = &global.zfs_root;
    let pool = root.split('/').next().unwrap_or(root);
    let mut out = Vec::new();
    let (pool_check, pool_ok) = pool_health(host, pool, root);
    out.push(pool_check);
    if !pool_ok {
        return out;
    }
    let mut get = zfs::Get::new(["exec"], [root.as_str()]);
    if exec {
        // Snapshots have no exec of their own to fix: filesystems and volumes only.
        get = get
            .depth(zfs::Depth::All)
            .only_types(["filesystem", "volume"]);
    }
    let g = host.output(&get.cmd());
    let o = match g {
        Ok(o) if o.success() => o,
        Ok(o) => {
            out.push(Check::bad(
                "zfs_root",
                Level::Fail,
                format!(
                    "dataset {root} (zfs_root) does not exist: {}",
                    o.stderr.trim()
                ),
                "jailctl init (creates it with the properties jailctl expects)",
            ));
            return out;
        }
        Err(e) => {
            out.push(Check::bad(
                "zfs_root",
                Level::Fail,
                format!("cannot run zfs: {e}"),
                "install and load ZFS (`sysrc zfs_enable=YES && service zfs start`)",
            ));
            return out;
        }
    };
    out.push(Check::ok("zfs_root", format!("dataset {root} exists")));
    if exec {
        out.push(match zfs::parse_rows(&o.stdout, true) {
            Ok(rows) => exec_check(root, &rows),
            Err(e) => Check::bad(
                "exec",
                Level::Fail,
                format!("cannot read exec on {root} and below: {e}"),
                "run `zfs get -r exec` by hand; this is a bug in jailctl if zfs answered normally",
            ),
        });
    }
    out
}

/// `zpool list` of the pool `zfs_root` is on: its check, and whether the pool is there at
/// all (the later checks need it).
fn pool_health(host: &dyn Host, pool: &str, root: &str) -> (Check, bool) {
    let p = host.output(&Cmd::new(
        tools::ZPOOL,
        ["list", "-H", "-o", "name,health", pool],
    ));
    match p {
        Ok(o) if o.success() => {
            let health = o.stdout.split('\t').nth(1).unwrap_or("").trim().to_string();
            if health == "ONLINE" {
                (Check::ok("pool", format!("pool {pool} is ONLINE")), true)
            } else {
                let c = Check::bad(
                    "pool",
                    Level::Warn,
                    format!("pool {pool} is {health}"),
                    format!("`zpool status -x {pool}` says what is wrong and how to repair it"),
                );
                (c, true)
            }
        }
        Ok(o) => {
            let c = Check::bad(
                "pool",
                Level::Fail,
                format!(
                    "pool {pool} (from zfs_root = \"{root}\") is not available: {}",
                    o.stderr.trim()
                ),
                format!(
                    "import or create it (`zpool import {pool}`), or set zfs_root in jailctl.toml to a dataset on a pool `zpool list` shows"
                ),
            );
            (c, false)
        }
        Err(e) => {
            let c = Check::bad(
                "pool",
                Level::Fail,
                format!("cannot run zpool: {e}"),
                "install and load ZFS (`sysrc zfs_enable=YES && service zfs start`)",
            );
            (c, false)
        }
    }
}

/// exec=off on `zfs_root` or below, from the rows of `zfs get -r exec`: where it is set
/// (locally, or inherited from above zfs_root) is what to fix.
fn exec_check(root: &str, rows: &[zfs::Row<'_>]) -> Check {
    let mut off: Vec<String> = Vec::new();
    let mut inheriting = 0;
    let mut fixes: Vec<String> = Vec::new();
    for r in rows {
        if r.property != "exec" || r.value != "off" {
            continue;
        }
        let inherited = r.source.strip_prefix("inherited from ");
        let at = inherited.unwrap_or(r.name).to_string();
        // A dataset that inherits exec=off from one already named is counted, not listed.
        if inherited.is_some() && off.contains(&at) {
            inheriting += 1;
            continue;
        }
        off.push(if at == r.name {
            r.name.to_string()
        } else {
            format!("{} (inherited from {at})", r.name)
        });
        let cmd = format!("zfs set exec=on {at}");
        if !fixes.contains(&cmd) {
            fixes.push(cmd);
        }
    }
    if off.is_empty() {
        return Check::ok("exec", format!("exec=on on {root} and below"));
    }
    Check::bad(
        "exec",
        Level::Fail,
        format!(
            "exec=off on {}{}: nothing in a jail there can run (/etc/rc fails with Permission denied)",
            off.join(", "),
            match inheriting {
                0 => String::new(),
                1 => " and 1 dataset below that inherits it".to_string(),
                n => format!(" and {n} datasets below that inherit it"),
            }
        ),
        fixes.join(" && "),
    )
}

fn sysctl(host: &dyn Host, oid: &str) -> Option<String> {
    host.output(&Cmd::new(tools::SYSCTL, ["-n", oid]))
        .ok()
        .filter(|o| o.success())
        .map(|o| o.stdout.trim().to_string())
}

fn racct(host: &dyn Host, jails: &[JailSpec]) -> Check {
    let state = RacctState::from_sysctl(
        sysctl(host, "security.jail.jailed").as_deref(),
        sysctl(host, "kern.racct.enable").as_deref(),
    );
    let Some(fix) = state.fix() else {
        return Check::ok("racct", state.to_string());
    };
    let limited: Vec<&JailSpec> = jails.iter().filter(|j| has_limits(j)).collect();
    if limited.is_empty() {
        Check::bad(
            "racct",
            Level::Warn,
            format!("{state}; no jail has limits yet"),
            fix,
        )
    } else {
        Check::bad(
            "racct",
            Level::Fail,
            format!("{state}, and jails have limits: {}", names(&limited)),
            fix,
        )
    }
}

fn vimage(host: &dyn Host, jails: &[JailSpec]) -> Check {
    if sysctl(host, "kern.features.vimage").as_deref() == Some("1") {
        return Check::ok("vimage", "the kernel has VIMAGE: VNET jails can run");
    }
    let fix = "boot a kernel with `options VIMAGE` (GENERIC has it since FreeBSD 12.0)";
    let vnet: Vec<&JailSpec> = jails.iter().filter(|j| is_vnet(j)).collect();
    if vnet.is_empty() {
        Check::bad(
            "vimage",
            Level::Warn,
            "the kernel has no VIMAGE (kern.features.vimage is not 1): VNET jails cannot run; no jail uses VNET yet",
            fix,
        )
    } else {
        Check::bad(
            "vimage",
            Level::Fail,
            format!(
                "the kernel has no VIMAGE (kern.features.vimage is not 1), and jails use VNET: {}",
                names(&vnet)
            ),
            fix,
        )
    }
}

fn module(host: &dyn Host, m: &'static str, jails: &[JailSpec]) -> Check {
    let loaded = host
        .output(&Cmd::new(tools::KLDSTAT, ["-q", "-m", m]))
        .map(|o| o.success());
    let vnet: Vec<&JailSpec> = jails.iter().filter(|j| is_vnet(j)).collect();
    match loaded {
        Ok(true) => Check::ok(m, format!("kernel module {m} is loaded")),
        Ok(false) if vnet.is_empty() => Check::ok(
            m,
            format!("kernel module {m} is not loaded; only VNET jails need it and none is defined"),
        ),
        Ok(false) => Check::bad(
            m,
            Level::Warn,
            format!(
                "kernel module {m} is not loaded, and jails use VNET: {} (ifconfig loads it on first use unless securelevel forbids it)",
                names(&vnet)
            ),
            format!("kldload {m} && sysrc kld_list+=\" {m}\""),
        ),
        Err(e) => Check::bad(
            m,
            Level::Warn,
            format!("cannot ask kldstat about {m}: {e}"),
            format!("kldstat -m {m}"),
        ),
    }
}

/// The lines pf.conf needs so that pf evaluates jailctl's anchors, as `pfctl -s nat` and
/// `pfctl -s rules` print them back (pfctl adds ` all`).
pub const PF_CONF_LINES: [&str; 3] = [
    "nat-anchor \"jailctl/*\"",
    "rdr-anchor \"jailctl/*\"",
    "anchor \"jailctl/*\"",
];

/// pf for NATed jails: loaded (`/dev/pf` exists), enabled (`pfctl -s info`), and the main
/// ruleset reaching jailctl's anchors (`pfctl -s nat`, `-s rules`). Without the anchor
/// lines jailctl's rules load but pf never evaluates them, so forwards silently do nothing.
fn pf(host: &dyn Host, global: &Global, jails: &[JailSpec]) -> Check {
    let nated: Vec<&JailSpec> = jails
        .iter()
        .filter(|j| global.nat_of(&j.network).is_some())
        .collect();
    // Rules that load but are not evaluated break nothing else on the host: a warning,
    // whether jails are NATed yet or not.
    let level = Level::Warn;
    let who = if nated.is_empty() {
        "no jail is NATed yet".to_string()
    } else {
        format!("NATed jails: {}", names(&nated))
    };
    let pfctl = |args: &[&str]| host.output(&Cmd::new(tools::PFCTL, args.iter().copied()));
    let info = match pfctl(&["-s", "info"]) {
        Ok(o) => o,
        Err(e) => {
            return Check::bad(
                "pf",
                level,
                format!("cannot run pfctl: {e}"),
                "pfctl -s info",
            );
        }
    };
    if !info.success() {
        if nated.is_empty() {
            return Check::ok(
                "pf",
                "pf is not loaded; only NATed jails need it and none is defined",
            );
        }
        return Check::bad(
            "pf",
            Level::Fail,
            format!("pf is not loaded ({}), and {who}", info.stderr.trim()),
            "kldload pf && sysrc pf_enable=YES && service pf start",
        );
    }
    let mut missing = vec![];
    for (what, lines) in [("nat", &PF_CONF_LINES[..2]), ("rules", &PF_CONF_LINES[2..])] {
        let shown = pfctl(&["-s", what]).map(|o| o.stdout).unwrap_or_default();
        for l in lines {
            let found = shown
                .lines()
                .any(|s| s.trim() == *l || s.trim() == format!("{l} all"));
            if !found {
                missing.push(*l);
            }
        }
    }
    if !missing.is_empty() {
        return Check::bad(
            "pf",
            level,
            format!(
                "pf's main ruleset lacks {}: jailctl's anchors load, but pf never evaluates them, so no NAT or port forward takes effect ({who})",
                missing.join(", ")
            ),
            format!(
                "add these lines to /etc/pf.conf (translation anchors before your filter rules) and run `service pf reload`: {}",
                PF_CONF_LINES.join("; ")
            ),
        );
    }
    if !info.stdout.contains("Status: Enabled") {
        return Check::bad(
            "pf",
            level,
            format!("pf is loaded but not enabled: no rule is evaluated ({who})"),
            "sysrc pf_enable=YES && service pf start (or pfctl -e)",
        );
    }
    Check::ok(
        "pf",
        "pf is enabled and its main ruleset reaches jailctl's anchors",
    )
}

/// The longest mount point jail(8) makes for the defined jails (devfs at `<root>/dev`, each
/// `[[mounts]]` target) against MNAMELEN; with no jail, whether a typical one would fit.
fn mount_root(host: &dyn Host, global: &Global, jails: &[JailSpec]) -> Check {
    let max = crate::render::MAX_MOUNT_PATH;
    let mr = global.mount_root.display().to_string();
    let mut longest = (format!("{mr}/NAME/dev"), String::new());
    let mut points: Vec<(String, String)> = Vec::new();
    for j in jails {
        let root = format!("{mr}/{}", j.name);
        points.push((format!("{root}/dev"), j.name.clone()));
        for m in &j.mounts {
            points.push((format!("{root}{}", m.target.display()), j.name.clone()));
        }
    }
    if let Some(p) = points.iter().max_by_key(|(p, _)| p.len()) {
        longest = p.clone();
    }
    let (path, jail) = &longest;
    if path.len() > max {
        return Check::bad(
            "mount_root",
            Level::Fail,
            format!(
                "mount point {path} of jail {jail} is {} characters; FreeBSD's mount table holds at most {max} (MNAMELEN)",
                path.len()
            ),
            "set a shorter mount_root in jailctl.toml (e.g. /jails), or shorten the jail's name or mount target",
        );
    }
    // Room left for a new jail's name (up to 32 characters) and a mount target below it.
    if mr.len() + 1 + 32 + 24 > max {
        return Check::bad(
            "mount_root",
            Level::Warn,
            format!(
                "mount_root {mr} is {} characters: with a long jail name and mount target a mount point would pass the {max} characters MNAMELEN allows",
                mr.len()
            ),
            "set a shorter mount_root in jailctl.toml (e.g. /jails)",
        );
    }
    if !host.exists(Path::new(&mr)) {
        return Check::bad(
            "mount_root",
            Level::Warn,
            format!("mount_root {mr} does not exist"),
            "jailctl init (or mkdir -p the directory)",
        );
    }
    Check::ok(
        "mount_root",
        format!(
            "longest mount point {path} is {} of {max} characters",
            path.len()
        ),
    )
}

/// Sysctls of modules loaded late (if_bridge's `net.link.bridge.*`, if_epair's) set in
/// /etc/sysctl.conf are applied before `kld_list` loads the modules unless rc.conf has
/// `sysctl_lastload="YES"`: the setting silently does not apply after a reboot.
fn sysctl_lastload(host: &dyn Host) -> Check {
    let conf = host
        .read(Path::new("/etc/sysctl.conf"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let late: Vec<&str> = conf
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| l.starts_with("net.link.bridge.") || l.starts_with("net.link.epair."))
        .filter_map(|l| l.split('=').next())
        .map(str::trim)
        .collect();
    if late.is_empty() {
        return Check::ok(
            "sysctl_lastload",
            "/etc/sysctl.conf sets no sysctl of a late-loaded module",
        );
    }
    let rc = host
        .read(Path::new("/etc/rc.conf"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lastload = rc.lines().any(|l| {
        let l = l.split('#').next().unwrap_or("").trim();
        l.strip_prefix("sysctl_lastload=")
            .map(|v| v.trim_matches('"').eq_ignore_ascii_case("yes"))
            .unwrap_or(false)
    });
    if lastload {
        Check::ok(
            "sysctl_lastload",
            format!(
                "{} applied again after modules load (sysctl_lastload=YES)",
                late.join(", ")
            ),
        )
    } else {
        Check::bad(
            "sysctl_lastload",
            Level::Warn,
            format!(
                "/etc/sysctl.conf sets {} but those sysctls exist only once their module is loaded, after sysctl.conf is applied at boot",
                late.join(", ")
            ),
            "sysrc sysctl_lastload=YES",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_level_the_check_the_finding_and_the_fix() {
        let c = Check::bad(
            "exec",
            Level::Fail,
            "exec=off on z/j",
            "zfs set exec=on z/j",
        );
        assert_eq!(
            c.line(),
            "FAIL exec: exec=off on z/j; fix: zfs set exec=on z/j"
        );
        assert_eq!(
            Check::ok("pool", "pool z is ONLINE").line(),
            "OK   pool: pool z is ONLINE"
        );
        assert_eq!(worst(&[c.clone(), Check::ok("a", "b")]), Level::Fail);
        assert_eq!(worst(&[]), Level::Ok);
    }
}
