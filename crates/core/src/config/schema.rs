//! The keys jailctl accepts, per table, and the FreeBSD vocabularies it checks against (jail(8)
//! parameter names, rctl resources and actions). The validator looks keys up only through these
//! lists, and the reference test in docs checks every one is documented, so code, checks and
//! docs cannot drift apart.

/// Top level of `jailctl.toml`.
pub const GLOBAL: &[&str] = &[
    "zfs_root",
    "mount_root",
    "default_base",
    "parallelism",
    "shutdown_timeout",
    "bridges",
    "networks",
    "defaults",
    "deadlines",
];
/// `[deadlines]` in `jailctl.toml`: one key per tool (see [`crate::host::deadline`]).
pub const DEADLINES: &[&str] = &[
    "zfs", "zpool", "jail", "jexec", "pkg", "mount", "umount", "chown", "ifconfig", "jls",
    "sysctl", "rctl", "cpuset", "pfctl",
];
/// `[bridges.<name>]` in `jailctl.toml`.
pub const BRIDGE: &[&str] = &["create", "uplink", "ip4_pool", "gateway4", "nat"];
/// `[networks.<name>]` in `jailctl.toml`: a loopback clone (`lo1`) alias-mode jails use.
pub const NETWORKS: &[&str] = &["ip4_pool", "nat"];
/// `nat = { ... }` of a bridge or network.
pub const NAT: &[&str] = &["interface"];
/// Each `[[ports]]` of a jail.
pub const PORT: &[&str] = &["host", "jail", "proto", "address"];
/// Top level of a jail file, a template or `[defaults]`.
pub const JAIL: &[&str] = &[
    "extends",
    "hostname",
    "autostart",
    "depends_on",
    "base",
    "cpuset",
    "root",
    "limits",
    "network",
    "mounts",
    "volumes",
    "params",
    "params_unchecked",
    "hooks",
    "health",
    "provision",
    "ports",
];
pub const ROOT: &[&str] = &["quota", "reservation", "compression"];
pub const LIMITS: &[&str] = &[
    "memory",
    "swap",
    "cpu_percent",
    "processes",
    "open_files",
    "threads",
    "read_bps",
    "write_bps",
    "read_iops",
    "write_iops",
    "rctl",
];
pub const NETWORK: &[&str] = &[
    "mode",
    "interface",
    "ip4",
    "ip6",
    "bridge",
    "gateway4",
    "gateway6",
];
pub const MOUNT: &[&str] = &["source", "target", "read_only"];
pub const VOLUME: &[&str] = &["name", "target", "quota", "read_only"];
pub const HOOKS: &[&str] = &[
    "prestart",
    "created",
    "start",
    "poststart",
    "prestop",
    "stop",
    "poststop",
];
pub const HEALTH: &[&str] = &["command", "interval", "timeout", "retries"];
pub const PROVISION: &[&str] = &["packages", "files", "commands"];
pub const PROVISION_FILE: &[&str] = &["source", "target", "owner", "mode"];

/// Every table and its keys, as the reference documents them.
pub fn all_tables() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("jailctl.toml", GLOBAL),
        ("[bridges.NAME]", BRIDGE),
        ("[networks.NAME]", NETWORKS),
        ("nat", NAT),
        ("[[ports]]", PORT),
        ("[deadlines]", DEADLINES),
        ("jail", JAIL),
        ("[root]", ROOT),
        ("[limits]", LIMITS),
        ("[network]", NETWORK),
        ("[[mounts]]", MOUNT),
        ("[[volumes]]", VOLUME),
        ("[hooks]", HOOKS),
        ("[health]", HEALTH),
        ("[provision]", PROVISION),
        ("[[provision.files]]", PROVISION_FILE),
    ]
}

/// jail(8) parameters a user may set in `[params]` (freebsd.md §1).
pub const JAIL_PARAMS: &[&str] = &[
    "ip4",
    "ip6",
    "ip4.saddrsel",
    "ip6.saddrsel",
    "host.domainname",
    "host.hostuuid",
    "host.hostid",
    "host",
    "securelevel",
    "devfs_ruleset",
    "enforce_statfs",
    "children.max",
    "persist",
    "osrelease",
    "osreldate",
    "sysvmsg",
    "sysvsem",
    "sysvshm",
    "meta",
    "env",
    "exec.prepare",
    "exec.release",
    "exec.clean",
    "exec.jail_user",
    "exec.system_user",
    "exec.system_jail_user",
    "exec.timeout",
    "exec.consolelog",
    "exec.fib",
    "stop.timeout",
    "command",
    "ip_hostname",
    "zfs.dataset",
    "mount",
    "mount.fstab",
    "mount.devfs",
    "mount.fdescfs",
    "mount.procfs",
];

/// The `allow.*` booleans (without the prefix).
pub use crate::jail_params::ALLOW as ALLOW_PARAMS;

/// Parameters jailctl sets itself, and where the user says what they want instead.
pub const MANAGED_PARAMS: &[(&str, &str)] = &[
    ("name", "the jail's name is its file name"),
    ("path", "the root is <mount_root>/<name>"),
    ("host.hostname", "set `hostname` at the top level"),
    ("ip4.addr", "set `ip4` in [network]"),
    ("ip6.addr", "set `ip6` in [network]"),
    ("interface", "set `interface` in [network]"),
    ("vnet", "set `mode = \"vnet\"` in [network]"),
    (
        "vnet.interface",
        "jailctl creates the epair for mode = \"vnet\"",
    ),
    ("depend", "set `depends_on` at the top level"),
    ("exec.prestart", "use [hooks] prestart"),
    ("exec.created", "use [hooks] created"),
    ("exec.start", "use [hooks] start"),
    ("exec.poststart", "use [hooks] poststart"),
    ("exec.prestop", "use [hooks] prestop"),
    ("exec.stop", "use [hooks] stop"),
    ("exec.poststop", "use [hooks] poststop"),
];

/// Read-only kernel parameters: visible in jls, never settable.
pub const READONLY_PARAMS: &[&str] = &["jid", "cpuset.id", "dying", "parent", "children.cur"];

/// rctl(8) resources (freebsd.md §5).
pub const RCTL_RESOURCES: &[&str] = &[
    "cputime",
    "datasize",
    "stacksize",
    "coredumpsize",
    "memoryuse",
    "memorylocked",
    "maxproc",
    "openfiles",
    "vmemoryuse",
    "pseudoterminals",
    "swapuse",
    "nthr",
    "msgqqueued",
    "msgqsize",
    "nmsgq",
    "nsem",
    "nsemop",
    "nshm",
    "shmsize",
    "wallclock",
    "pcpu",
    "readbps",
    "writebps",
    "readiops",
    "writeiops",
];

/// Resources that only take rates and can be throttled, never denied.
pub const RCTL_THROTTLE_ONLY: &[&str] = &["readbps", "writebps", "readiops", "writeiops"];
/// Resources deny does not support besides the rates.
pub const RCTL_NO_DENY: &[&str] = &["cputime", "wallclock"];

/// Signal names rctl accepts after `sig`.
pub const SIGNALS: &[&str] = &[
    "hup", "int", "quit", "ill", "trap", "abrt", "emt", "fpe", "kill", "bus", "segv", "sys",
    "pipe", "alrm", "term", "urg", "stop", "tstp", "cont", "chld", "ttin", "ttou", "io", "xcpu",
    "xfsz", "vtalrm", "prof", "winch", "info", "usr1", "usr2",
];

/// `per` values of an rctl rule.
pub const RCTL_PER: &[&str] = &["process", "user", "loginclass", "jail"];

/// ZFS `compression` values.
pub fn check_compression(v: &str) -> bool {
    let level =
        |rest: &str, lo: u32, hi: u32| rest.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n));
    match v {
        "on" | "off" | "lz4" | "gzip" | "zle" | "lzjb" | "zstd" | "zstd-fast" => true,
        _ => {
            if let Some(r) = v.strip_prefix("zstd-fast-") {
                level(r, 1, 1000)
            } else if let Some(r) = v.strip_prefix("zstd-") {
                level(r, 1, 19)
            } else if let Some(r) = v.strip_prefix("gzip-") {
                level(r, 1, 9)
            } else {
                false
            }
        }
    }
}

/// The closest candidate within a small edit distance, for "did you mean".
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("memroy", LIMITS.iter().copied()), Some("memory"));
        assert_eq!(suggest("zzzzzz", LIMITS.iter().copied()), None);
    }

    #[test]
    fn compression_values() {
        assert!(check_compression("zstd-3"));
        assert!(check_compression("gzip-9"));
        assert!(!check_compression("gzip-10"));
        assert!(!check_compression("brotli"));
    }
}
