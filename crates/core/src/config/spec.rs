//! The validated model of a jail definition and the global settings. Everything here has been
//! checked: names are legal for jail(8), sizes are bytes, addresses are parsed, paths are
//! absolute. Plain data; `plan` and `render` consume it.

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

/// Global settings (`jailctl.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Global {
    /// ZFS dataset under which jailctl keeps bases, jails and volumes (`zroot/jailctl`).
    pub zfs_root: String,
    /// Where jail roots are mounted (`/usr/local/jails`): a jail's root is `<mount_root>/<name>`.
    pub mount_root: PathBuf,
    /// Base used by jails that do not name one.
    pub default_base: Option<String>,
    /// How many jails `boot`/`shutdown` handle at once.
    pub parallelism: Option<usize>,
    /// Total time `shutdown` may take before it forces jails down.
    pub shutdown_timeout: Duration,
    /// Address pools for VNET bridges: bridge name → network.
    pub bridges: BTreeMap<String, BridgeSpec>,
    /// Loopback clones alias-mode jails live on (`[networks.lo1]`): network name (the
    /// interface) → its pool and NAT.
    pub networks: BTreeMap<String, NetworkSpec>,
    /// How long each host tool may run (`[deadlines]`).
    pub deadlines: crate::host::deadline::Deadlines,
    /// How long destroy and re-create wait for a removed jail to finish dying
    /// (`JAILCTL_DYING_WAIT`, read when the configuration is loaded; 10 s).
    pub dying_wait: std::time::Duration,
}

impl Global {
    /// The NAT of the bridge (VNET) or network (alias) a jail's network is on.
    pub fn nat_of(&self, network: &Network) -> Option<&NatSpec> {
        match network {
            Network::Vnet { bridge, .. } => self.bridges.get(bridge).and_then(|b| b.nat.as_ref()),
            Network::Alias { interface, .. } => {
                self.networks.get(interface).and_then(|n| n.nat.as_ref())
            }
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BridgeSpec {
    pub name: String,
    /// Create the bridge if it does not exist.
    pub create: bool,
    /// Interface added to the bridge as uplink when created.
    pub uplink: Option<String>,
    /// Pool for automatic IPv4 addressing; the gateway is excluded.
    pub ip4_pool: Option<Ipv4Net>,
    pub gateway4: Option<Ipv4Addr>,
    /// Outbound NAT of the bridge's jails to an interface's address.
    pub nat: Option<NatSpec>,
}

/// `[networks.NAME]`: a cloned interface (a loopback clone such as `lo1`) that alias-mode
/// jails put their addresses on, private to the host unless NATed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkSpec {
    pub name: String,
    pub ip4_pool: Option<Ipv4Net>,
    pub nat: Option<NatSpec>,
}

/// `nat = { interface = "em0" }`: jails' IPv4 addresses leave through `interface`
/// translated to its address, and `[[ports]]` forward from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NatSpec {
    pub interface: String,
}

/// A transport protocol a port forward applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// An inclusive port range; one port is `first == last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn overlaps(&self, o: &PortRange) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// One `[[ports]]` entry: connections to `host` port(s) on the NAT interface (or on
/// `address`) are redirected to the jail's `jail` port(s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortForward {
    pub proto: Proto,
    pub host: PortRange,
    pub jail: PortRange,
    /// The host address to forward from when the interface has several; `None`: the NAT
    /// interface's address.
    pub address: Option<Ipv4Addr>,
}

/// One jail, fully resolved (templates and defaults applied).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JailSpec {
    pub name: String,
    /// The file it came from.
    pub source: PathBuf,
    /// Templates it was built from, outermost first.
    pub extends: Vec<String>,
    pub hostname: String,
    pub autostart: bool,
    pub depends_on: Vec<String>,
    /// Base name: the jail's root is a clone of `<zfs_root>/bases/<base>@<snapshot>`.
    pub base: String,
    pub root: RootProps,
    pub limits: Limits,
    /// cpuset(1) cpu-list (`0-3`, `0,2`).
    pub cpuset: Option<String>,
    pub network: Network,
    pub mounts: Vec<MountSpec>,
    pub volumes: Vec<VolumeSpec>,
    /// Extra jail(8) parameters, already checked against the known names.
    pub params: BTreeMap<String, ParamValue>,
    pub hooks: Hooks,
    pub health: Option<HealthCheck>,
    pub provision: Provision,
    /// Port forwards from the host into the jail (`[[ports]]`).
    pub ports: Vec<PortForward>,
}

impl JailSpec {
    /// The bridge its epair's host end joins, for a VNET definition; `None` otherwise.
    pub fn vnet_bridge(&self) -> Option<&str> {
        match &self.network {
            Network::Vnet { bridge, .. } => Some(bridge),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RootProps {
    pub quota: Option<u64>,
    pub reservation: Option<u64>,
    pub compression: Option<String>,
}

/// Resource limits. Friendly names map to rctl(8) resources with action `deny`
/// (`throttle` for the I/O rates, which cannot be denied).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// memoryuse, bytes.
    pub memory: Option<u64>,
    /// swapuse, bytes.
    pub swap: Option<u64>,
    /// pcpu, percent of one core.
    pub cpu_percent: Option<u32>,
    /// maxproc.
    pub processes: Option<u64>,
    /// openfiles.
    pub open_files: Option<u64>,
    /// nthr.
    pub threads: Option<u64>,
    pub read_bps: Option<u64>,
    pub write_bps: Option<u64>,
    pub read_iops: Option<u64>,
    pub write_iops: Option<u64>,
    /// Raw rules: `resource:action=amount[/per]`, subject `jail:<name>` implied.
    pub raw: Vec<RctlRule>,
}

/// One rctl rule for this jail, subject implied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RctlRule {
    pub resource: String,
    pub action: String,
    pub amount: u64,
    pub per: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Network {
    /// Share the host's whole network stack (`ip4=inherit`).
    Inherit,
    /// No network at all (`ip4=disable`, `ip6=disable`).
    None,
    /// Addresses aliased on a host interface; jail(8) adds and removes them.
    Alias {
        interface: String,
        ip4: Vec<Ipv4Net>,
        ip6: Vec<Ipv6Net>,
    },
    /// Own network stack on an epair whose host end joins `bridge`.
    Vnet {
        bridge: String,
        /// Fixed addresses; empty = take the next free one from the bridge's pool.
        ip4: Vec<Ipv4Net>,
        ip6: Vec<Ipv6Net>,
        gateway4: Option<Ipv4Addr>,
        gateway6: Option<Ipv6Addr>,
    },
}

/// A nullfs mount of a host directory into the jail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountSpec {
    /// Host directory (absolute).
    pub source: PathBuf,
    /// Path inside the jail (absolute, relative to the jail root, never escaping it).
    pub target: PathBuf,
    pub read_only: bool,
}

/// A persistent ZFS dataset `<zfs_root>/volumes/<jail>/<name>` mounted into the jail. Created
/// once, never cloned over; survives re-creating the jail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeSpec {
    pub name: String,
    /// Path inside the jail.
    pub target: PathBuf,
    pub quota: Option<u64>,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<String>),
}

/// exec.* hooks of jail(8); each a list of command lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Hooks {
    pub prestart: Vec<String>,
    pub created: Vec<String>,
    pub start: Vec<String>,
    pub poststart: Vec<String>,
    pub prestop: Vec<String>,
    pub stop: Vec<String>,
    pub poststop: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// argv run inside the jail with jexec; healthy when it exits 0.
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
}

/// Run once when the jail is first created; recorded on its dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Provision {
    pub packages: Vec<String>,
    pub files: Vec<ProvisionFile>,
    /// Command lines run inside the jail with `/bin/sh -c`.
    pub commands: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProvisionFile {
    /// Host file (absolute, or relative to the jail's definition file).
    pub source: PathBuf,
    /// Path inside the jail.
    pub target: PathBuf,
    pub owner: Option<String>,
    pub mode: Option<u32>,
}
