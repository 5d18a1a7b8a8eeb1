//! The names of jail(8)'s `allow.*` parameters on FreeBSD 13 and 14 (jail(8), freebsd.md §1).
//! One list, read both by the configuration checks (a definition may only name these) and by
//! the simulated kernel (which refuses any other, as the real one does).

/// The `allow.*` booleans, without the `allow.` prefix.
pub const ALLOW: &[&str] = &[
    "set_hostname",
    "sysvipc",
    "raw_sockets",
    "chflags",
    "mount",
    "quotas",
    "read_msgbuf",
    "socket_af",
    "mlock",
    "nfsd",
    "reserved_ports",
    "unprivileged_proc_debug",
    "suser",
    "extattr",
    "adjtime",
    "settime",
    "routing",
    "setaudit",
    "vmm",
    "mount.devfs",
    "mount.fdescfs",
    "mount.fusefs",
    "mount.nullfs",
    "mount.procfs",
    "mount.linprocfs",
    "mount.linsysfs",
    "mount.tmpfs",
    "mount.zfs",
];
