//! Absolute paths of the FreeBSD base-system tools jailctl runs. Commands are always built
//! from these, never looked up through `PATH`.

pub const ZFS: &str = "/sbin/zfs";
pub const ZPOOL: &str = "/sbin/zpool";
pub const JAIL: &str = "/usr/sbin/jail";
pub const JLS: &str = "/usr/sbin/jls";
pub const JEXEC: &str = "/usr/sbin/jexec";
pub const RCTL: &str = "/usr/bin/rctl";
pub const CPUSET: &str = "/usr/bin/cpuset";
pub const IFCONFIG: &str = "/sbin/ifconfig";
pub const MOUNT: &str = "/sbin/mount";
pub const UMOUNT: &str = "/sbin/umount";
pub const SYSCTL: &str = "/sbin/sysctl";
pub const KLDSTAT: &str = "/sbin/kldstat";
pub const KLDLOAD: &str = "/sbin/kldload";
pub const KLDUNLOAD: &str = "/sbin/kldunload";
pub const PKG: &str = "/usr/sbin/pkg";
pub const CHOWN: &str = "/usr/sbin/chown";
pub const PFCTL: &str = "/sbin/pfctl";
