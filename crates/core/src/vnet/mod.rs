//! VNET networking planned: a jail with its own network stack, joined to a host bridge
//! through an epair(4). This module decides and runs nothing on the host:
//!
//! - naming: [`epair_names`] (defined in [`crate::config::layout`] with the other names)
//!   derives the two interface names from the jail name alone, short (≤ 15 characters,
//!   IFNAMSIZ) and unique by construction;
//! - addressing: [`resolve`] fills in a jail's IPv4 address from its bridge's pool
//!   (deterministically, see below) and runs the pre-flight checks;
//! - steps: [`NetStep`] (bridge, epair, teardown) and the commands they are made of; running
//!   them, with their undo, is [`crate::apply::net`];
//! - rendering: the jail.conf lines ([`conf_lines`]) and the in-jail rc.conf lines
//!   ([`rc_conf_lines`]) are written by [`crate::render`].
//!
//! **Why allocation is deterministic rather than locked.** `up` runs under per-jail locks, and
//! the boot scheduler starts jails in parallel, so two processes may allocate at the same
//! time. A host-wide lock would serialize every start. Instead the address of a jail is a pure
//! function of the definitions and of what is recorded on the host: a jail that has an
//! address recorded on its dataset (`jailctl:ip4`) keeps it; the others, taken in name order
//! over *all* definitions on that bridge, each get the next free address of the pool. Two
//! processes that see the same definitions therefore compute the same answer for every jail,
//! and no two jails can be handed the same address.

use crate::config::spec::{Global, JailSpec, Network};
use crate::host::{Cmd, tools};
use crate::observe::HostState;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

pub use crate::config::layout::{EpairNames, IP4_PROP, MAX_IFNAME, epair_names};

/// Why a VNET jail cannot be planned. Each message names the jail and the value; the help
/// says the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum VnetError {
    #[error(
        "jail `{jail}` uses VNET but this kernel has no VIMAGE (kern.features.vimage is not 1)"
    )]
    #[diagnostic(help(
        "boot a kernel with `options VIMAGE` (GENERIC has it since FreeBSD 12.0) or use mode = \"alias\""
    ))]
    NoVimage { jail: String },
    #[error("jail `{jail}`: bridge {bridge} does not exist on the host")]
    #[diagnostic(help(
        "create it (`ifconfig bridge create name {bridge}` and cloned_interfaces in /etc/rc.conf) or set create = true in [bridges.{bridge}] of jailctl.toml"
    ))]
    BridgeMissing { jail: String, bridge: String },
    #[error("jail `{jail}`: bridge {bridge} is not defined in jailctl.toml")]
    #[diagnostic(help("add a [bridges.{bridge}] section"))]
    BridgeUndefined { jail: String, bridge: String },
    #[error("jail `{jail}`: uplink {uplink} of bridge {bridge} does not exist on the host")]
    #[diagnostic(help("fix uplink in [bridges.{bridge}] (see `ifconfig -l`)"))]
    UplinkMissing {
        jail: String,
        bridge: String,
        uplink: String,
    },
    #[error("jail `{jail}`: address {addr} is outside the pool {pool} of bridge {bridge}")]
    #[diagnostic(help("use an address inside {pool} or change ip4_pool"))]
    OutsidePool {
        jail: String,
        addr: String,
        pool: Ipv4Net,
        bridge: String,
    },
    #[error("jail `{jail}`: address {addr} is the {what} of {pool}")]
    #[diagnostic(help("pick another address in the pool"))]
    Reserved {
        jail: String,
        addr: String,
        what: &'static str,
        pool: Ipv4Net,
    },
    #[error("jail `{jail}`: address {addr} is already used by jail `{other}` ({how})")]
    #[diagnostic(help("give one of them another address"))]
    Taken {
        jail: String,
        addr: Ipv4Addr,
        other: String,
        how: &'static str,
    },
    #[error("jail `{jail}`: the pool {pool} of bridge {bridge} has no free address left")]
    #[diagnostic(help("enlarge ip4_pool or give the jail a fixed ip4"))]
    PoolFull {
        jail: String,
        pool: Ipv4Net,
        bridge: String,
    },
    #[error("jail `{jail}` has no IPv4 address")]
    #[diagnostic(help("set ip4 in its [network] or ip4_pool in [bridges.{bridge}]"))]
    NoAddress { jail: String, bridge: String },
    #[error(
        "jails `{jail}` and `{other}` would both use interface {iface} (names are cut to 15 characters)"
    )]
    #[diagnostic(help("rename one of them"))]
    NameClash {
        jail: String,
        other: String,
        iface: String,
    },
}

mod addr;
pub use addr::{Resolved, resolve, with_recorded};

pub use crate::render::{conf_lines, rc_conf_lines};

/// One VNET change to the host, planned by [`start_steps`] / [`stop_steps`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "net", rename_all = "snake_case")]
pub enum NetStep {
    /// `ifconfig <bridge> create [addm <uplink>] up`; undone by destroying it.
    CreateBridge {
        bridge: String,
        uplink: Option<String>,
    },
    /// Create an epair, name its ends and add the host end to the bridge; undone by
    /// destroying it (one end destroys both).
    CreateEpair(EpairOp),
    /// `ifconfig <iface> destroy` (one end destroys both). With `restore`, the undo
    /// re-creates the pair as it was (a restart that fails puts the old jail back).
    DestroyEpair {
        iface: String,
        restore: Option<EpairOp>,
    },
}

/// Everything needed to create one jail's epair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpairOp {
    pub jail: String,
    pub names: EpairNames,
    pub bridge: String,
}

impl fmt::Display for NetStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetStep::CreateBridge { bridge, .. } => write!(f, "create bridge {bridge}"),
            NetStep::CreateEpair(e) => write!(
                f,
                "create epair {}/{} on {}",
                e.names.host, e.names.jail, e.bridge
            ),
            NetStep::DestroyEpair { iface, .. } => write!(f, "destroy epair {iface}"),
        }
    }
}

impl fmt::Display for EpairOp {
    /// The commands, as `--dry-run` shows them (`N` is a free unit, journaled before the
    /// pair is created).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = &self.names;
        write!(
            f,
            "{} epairN create  # N: a free unit, recorded in the journal first\n{} epairNa up name {}\n{} epairNb name {}\n{} {} addm {}",
            tools::IFCONFIG,
            tools::IFCONFIG,
            n.host,
            tools::IFCONFIG,
            n.jail,
            tools::IFCONFIG,
            self.bridge,
            n.host
        )
    }
}

pub fn ifconfig<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Cmd {
    Cmd::new(tools::IFCONFIG, args)
}

/// `ifconfig IF destroy`.
pub fn destroy_cmd(iface: &str) -> Cmd {
    ifconfig([iface, "destroy"])
}

/// The command creating a bridge: `bridgeN` by unit, any other name through a rename.
pub fn create_bridge_cmd(bridge: &str, uplink: Option<&str>) -> Cmd {
    let by_unit = bridge
        .strip_prefix("bridge")
        .is_some_and(|u| !u.is_empty() && u.chars().all(|c| c.is_ascii_digit()));
    let mut a: Vec<String> = if by_unit {
        vec![bridge.into(), "create".into()]
    } else {
        vec![
            "bridge".into(),
            "create".into(),
            "name".into(),
            bridge.into(),
        ]
    };
    if let Some(u) = uplink {
        a.extend(["addm".into(), u.to_string()]);
    }
    a.push("up".into());
    ifconfig(a)
}

/// The VNET steps that go right before `jail -c`: remove a stale pair left by an earlier run
/// (a jail stopped without jailctl, whose ends came back to the host), create the bridge when
/// the configuration asks for it and it is missing, create the epair. When the jail runs, the
/// plan stops it first (a restart): then the old pair is destroyed with an undo that puts it
/// back. A dying jail counts as stopped: destroying its host end takes the jail end still
/// inside it, and the kernel lets a new jail take a dying one's name. Empty for non-VNET
/// specs.
pub fn start_steps(spec: &JailSpec, global: &Global, host: &HostState) -> Vec<NetStep> {
    let Network::Vnet { bridge, .. } = &spec.network else {
        return vec![];
    };
    let names = epair_names(&spec.name);
    let op = EpairOp {
        jail: spec.name.clone(),
        names: names.clone(),
        bridge: bridge.clone(),
    };
    let running = host.jails.get(&spec.name).is_some_and(|j| !j.dying);
    let mut steps = stale(&spec.name, host, running.then(|| op.clone()));
    if !host.interfaces.contains(bridge)
        && let Some(b) = global.bridges.get(bridge)
        && b.create
    {
        steps.push(NetStep::CreateBridge {
            bridge: bridge.clone(),
            uplink: b.uplink.clone(),
        });
    }
    steps.push(NetStep::CreateEpair(op));
    steps
}

/// Destroy whichever end of the jail's pair is visible on the host (destroying one end
/// destroys both, even if the other is still in a dying jail).
fn stale(jail: &str, host: &HostState, restore: Option<EpairOp>) -> Vec<NetStep> {
    let n = epair_names(jail);
    [n.host, n.jail]
        .into_iter()
        .find(|i| host.interfaces.contains(i))
        .map(|iface| NetStep::DestroyEpair { iface, restore })
        .into_iter()
        .collect()
}

/// The VNET steps that go after `jail -r` in `down`/`destroy`: destroy the pair, whether the
/// jail was running, is dying (its jail end is still inside) or was stopped behind jailctl's
/// back. Needs only the name, so it also cleans up after a jail whose definition is gone.
/// `restore`: the pair to re-create if the stop is undone (the jail was running).
pub fn stop_steps(jail: &str, host: &HostState, bridge: Option<&str>) -> Vec<NetStep> {
    let restore = bridge
        .filter(|_| host.jails.get(jail).is_some_and(|j| !j.dying))
        .map(|b| EpairOp {
            jail: jail.to_string(),
            names: epair_names(jail),
            bridge: b.to_string(),
        });
    stale(jail, host, restore)
}

/// The bridge a jail's host end is a member of, if it is a VNET definition.
pub fn bridge_of(spec: Option<&JailSpec>) -> Option<&str> {
    spec.and_then(JailSpec::vnet_bridge)
}

/// Member interfaces from `ifconfig BRIDGE` output (`member: NAME flags=...` lines).
pub fn bridge_members(ifconfig_output: &str) -> Vec<String> {
    ifconfig_output
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("member: "))
        .filter_map(|r| r.split_whitespace().next())
        .map(str::to_string)
        .collect()
}
