//! VNET networking: a jail with its own network stack, joined to a host bridge through an
//! epair(4). This module holds everything VNET-specific so the lifecycle code only calls in:
//!
//! - naming: [`epair_names`] derives the two interface names from the jail name alone, short
//!   (≤ 15 characters, IFNAMSIZ) and unique by construction;
//! - addressing: [`resolve`] fills in a jail's IPv4 address from its bridge's pool
//!   (deterministically, see below) and runs the pre-flight checks;
//! - steps: [`NetStep`] (bridge, epair, teardown) with the commands they run and their undo;
//! - rendering: the jail.conf lines ([`conf_lines`]) and the in-jail rc.conf lines
//!   ([`rc_conf_lines`]).
//!
//! **Why allocation is deterministic rather than locked.** `up` runs under per-jail locks, and
//! the boot scheduler starts jails in parallel, so two processes may allocate at the same
//! time. A host-wide lock would serialize every start. Instead the address of a jail is a pure
//! function of the definitions and of what is recorded on the host: a jail that has an
//! address recorded on its dataset (`jailctl:ip4`) keeps it; the others, taken in name order
//! over *all* definitions on that bridge, each get the next free address of the pool. Two
//! processes that see the same definitions therefore compute the same answer for every jail,
//! and no two jails can be handed the same address.

use crate::apply::{Op, Undo};
use crate::config::spec::{Global, JailSpec, Network};
use crate::host::{Cmd, Host, tools};
use crate::observe::HostState;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

/// Interface names are at most 15 characters (IFNAMSIZ 16 with the NUL).
pub const MAX_IFNAME: usize = 15;

/// The dataset property recording an automatically allocated IPv4 address (`ADDR/LEN`).
pub const IP4_PROP: &str = "jailctl:ip4";

/// The two ends of a jail's epair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpairNames {
    /// Stays on the host, member of the bridge.
    pub host: String,
    /// Moved into the jail by jail(8) (`vnet.interface`).
    pub jail: String,
}

/// The interface names of a jail's epair, from its name alone (never its jid, which changes
/// at every start).
///
/// Names of up to 11 characters give `e0a_<name>` / `e0b_<name>`. Longer names give
/// `e1a_<first 5 characters><6 hex digits of a hash of the whole name>`: the `e1` prefix
/// keeps them apart from every short form, and two long names clash only when they share
/// their first 5 characters *and* the 24-bit hash (about one chance in 16 million per pair),
/// which [`resolve`] still detects across all definitions before anything is touched.
pub fn epair_names(jail: &str) -> EpairNames {
    let short = MAX_IFNAME - 4;
    if jail.len() <= short {
        return EpairNames {
            host: format!("e0a_{jail}"),
            jail: format!("e0b_{jail}"),
        };
    }
    let h = crate::render::hash_hex(&[jail.as_bytes()]);
    // Jail names are ASCII (validated), so byte slicing is safe.
    let stem = &jail[..5];
    let tag = &h[..6];
    EpairNames {
        host: format!("e1a_{stem}{tag}"),
        jail: format!("e1b_{stem}{tag}"),
    }
}

/// Why a VNET jail cannot be planned. Each message names the jail, the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VnetError {
    #[error(
        "jail `{jail}` uses VNET but this kernel has no VIMAGE (kern.features.vimage is not 1); boot a kernel with `options VIMAGE` (GENERIC has it since FreeBSD 12.0) or use mode = \"alias\""
    )]
    NoVimage { jail: String },
    #[error(
        "jail `{jail}`: bridge {bridge} does not exist on the host; create it (`ifconfig bridge create name {bridge}` and cloned_interfaces in /etc/rc.conf) or set create = true in [bridges.{bridge}] of jailctl.toml"
    )]
    BridgeMissing { jail: String, bridge: String },
    #[error(
        "jail `{jail}`: bridge {bridge} is not defined in jailctl.toml; add a [bridges.{bridge}] section"
    )]
    BridgeUndefined { jail: String, bridge: String },
    #[error(
        "jail `{jail}`: uplink {uplink} of bridge {bridge} does not exist on the host; fix uplink in [bridges.{bridge}] (see `ifconfig -l`)"
    )]
    UplinkMissing {
        jail: String,
        bridge: String,
        uplink: String,
    },
    #[error(
        "jail `{jail}`: address {addr} is outside the pool {pool} of bridge {bridge}; use an address inside {pool} or change ip4_pool"
    )]
    OutsidePool {
        jail: String,
        addr: String,
        pool: Ipv4Net,
        bridge: String,
    },
    #[error(
        "jail `{jail}`: address {addr} is the {what} of {pool}; pick another address in the pool"
    )]
    Reserved {
        jail: String,
        addr: String,
        what: &'static str,
        pool: Ipv4Net,
    },
    #[error(
        "jail `{jail}`: address {addr} is already used by jail `{other}` ({how}); give one of them another address"
    )]
    Taken {
        jail: String,
        addr: Ipv4Addr,
        other: String,
        how: &'static str,
    },
    #[error(
        "jail `{jail}`: the pool {pool} of bridge {bridge} has no free address left; enlarge ip4_pool or give the jail a fixed ip4"
    )]
    PoolFull {
        jail: String,
        pool: Ipv4Net,
        bridge: String,
    },
    #[error(
        "jail `{jail}` has no IPv4 address: set ip4 in its [network] or ip4_pool in [bridges.{bridge}]"
    )]
    NoAddress { jail: String, bridge: String },
    #[error(
        "jails `{jail}` and `{other}` would both use interface {iface} (names are cut to 15 characters); rename one of them"
    )]
    NameClash {
        jail: String,
        other: String,
        iface: String,
    },
}

/// A VNET jail after address resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The definition with its IPv4 address filled in from the pool when it had none.
    pub spec: JailSpec,
    /// Properties to record on the jail's dataset (the allocated address).
    pub props: BTreeMap<String, String>,
}

fn vnet_parts(spec: &JailSpec) -> Option<(&str, &[Ipv4Net])> {
    match &spec.network {
        Network::Vnet { bridge, ip4, .. } => Some((bridge.as_str(), ip4.as_slice())),
        _ => None,
    }
}

fn jail_of_dataset<'a>(global: &Global, ds: &'a str) -> Option<&'a str> {
    let rest = ds.strip_prefix(&global.zfs_root)?.strip_prefix("/jails/")?;
    (!rest.contains(['/', '@', '.'])).then_some(rest)
}

fn recorded(host: &HostState, global: &Global, jail: &str) -> Option<Ipv4Net> {
    host.datasets
        .get(&crate::render::root_dataset(global, jail))
        .and_then(|d| d.prop(IP4_PROP))
        .and_then(|v| v.parse().ok())
}

/// Fill in the automatically allocated address from what is recorded on the jail's own
/// dataset only (for `status`, which has no pool view). Non-VNET specs come back unchanged.
pub fn with_recorded(spec: &JailSpec, recorded_ip4: Option<&str>) -> JailSpec {
    let mut s = spec.clone();
    if let Network::Vnet { ip4, .. } = &mut s.network
        && ip4.is_empty()
        && let Some(a) = recorded_ip4.and_then(|v| v.parse().ok())
    {
        ip4.push(a);
    }
    s
}

/// Address → the jails holding it and how.
type Taken = BTreeMap<Ipv4Addr, Vec<(String, &'static str)>>;

/// The first jail other than `jail` that holds `a`.
fn held_by_other<'a>(t: &'a Taken, a: Ipv4Addr, jail: &str) -> Option<&'a (String, &'static str)> {
    t.get(&a)?.iter().find(|(o, _)| o != jail)
}

/// Every IPv4 address bound to a jail by the definitions (fixed ones) and by the host
/// (recorded ones of jails that have no fixed address), with its owner.
fn taken(specs: &[JailSpec], global: &Global, host: &HostState) -> Taken {
    let mut t = Taken::new();
    for s in specs {
        let fixed: Vec<Ipv4Net> = match &s.network {
            Network::Alias { ip4, .. } | Network::Vnet { ip4, .. } => ip4.clone(),
            _ => vec![],
        };
        for a in fixed {
            t.entry(a.addr())
                .or_default()
                .push((s.name.clone(), "fixed in its definition"));
        }
    }
    for ds in host.datasets.values() {
        let Some(j) = jail_of_dataset(global, &ds.name) else {
            continue;
        };
        let has_fixed = specs
            .iter()
            .find(|s| s.name == j)
            .is_some_and(|s| vnet_parts(s).is_none_or(|(_, ip4)| !ip4.is_empty()));
        if has_fixed {
            continue;
        }
        if let Some(a) = ds.prop(IP4_PROP).and_then(|v| v.parse::<Ipv4Net>().ok()) {
            t.entry(a.addr())
                .or_default()
                .push((j.to_string(), "recorded on its dataset"));
        }
    }
    t
}

/// Network, broadcast and gateway: never handed out.
fn reserved(pool: Ipv4Net, gateways: &[Ipv4Addr], a: Ipv4Addr) -> Option<&'static str> {
    if pool.prefix_len() < 31 && a == pool.network() {
        Some("network address")
    } else if pool.prefix_len() < 31 && a == pool.broadcast() {
        Some("broadcast address")
    } else if gateways.contains(&a) {
        Some("gateway")
    } else {
        None
    }
}

/// Resolve and check the network of one jail before anything is touched: VIMAGE, the bridge
/// (present, or to be created with an existing uplink), unique interface names across all
/// definitions, and the IPv4 address (fixed: inside the pool, not reserved, not taken;
/// automatic: recorded, or the next free one in the deterministic order). Non-VNET specs come
/// back unchanged.
pub fn resolve(
    spec: &JailSpec,
    global: &Global,
    host: &HostState,
    specs: &[JailSpec],
) -> Result<Resolved, VnetError> {
    let mut out = Resolved {
        spec: spec.clone(),
        props: BTreeMap::new(),
    };
    let Some((bridge, fixed)) = vnet_parts(spec) else {
        return Ok(out);
    };
    let jail = spec.name.clone();
    if !host.vimage {
        return Err(VnetError::NoVimage { jail });
    }
    let Some(b) = global.bridges.get(bridge) else {
        return Err(VnetError::BridgeUndefined {
            jail,
            bridge: bridge.to_string(),
        });
    };
    let present = host.interfaces.iter().any(|i| i == bridge);
    if !present && !b.create {
        return Err(VnetError::BridgeMissing {
            jail,
            bridge: bridge.to_string(),
        });
    }
    if !present
        && let Some(u) = &b.uplink
        && !host.interfaces.contains(u)
    {
        return Err(VnetError::UplinkMissing {
            jail,
            bridge: bridge.to_string(),
            uplink: u.clone(),
        });
    }
    let mine = epair_names(&jail);
    for other in specs
        .iter()
        .filter(|s| s.name != jail && vnet_parts(s).is_some())
    {
        let theirs = epair_names(&other.name);
        if theirs.host == mine.host || theirs.jail == mine.jail {
            return Err(VnetError::NameClash {
                jail,
                other: other.name.clone(),
                iface: mine.host,
            });
        }
    }

    let gw_spec = match &spec.network {
        Network::Vnet { gateway4, .. } => *gateway4,
        _ => None,
    };
    let gateways: Vec<Ipv4Addr> = [b.gateway4, gw_spec].into_iter().flatten().collect();
    let taken = taken(specs, global, host);
    if !fixed.is_empty() {
        for a in fixed {
            if let Some(pool) = b.ip4_pool {
                if !pool.contains(&a.addr()) {
                    return Err(VnetError::OutsidePool {
                        jail,
                        addr: a.to_string(),
                        pool,
                        bridge: bridge.to_string(),
                    });
                }
                if let Some(what) = reserved(pool, &gateways, a.addr()) {
                    return Err(VnetError::Reserved {
                        jail,
                        addr: a.to_string(),
                        what,
                        pool,
                    });
                }
            }
            if let Some((other, how)) = held_by_other(&taken, a.addr(), &jail) {
                return Err(VnetError::Taken {
                    jail,
                    addr: a.addr(),
                    other: other.clone(),
                    how,
                });
            }
        }
        // An address written without a prefix (read as /32) takes the pool's prefix length:
        // on a bridged epair a /32 would leave the gateway unreachable.
        if let (Some(pool), Network::Vnet { ip4, .. }) = (b.ip4_pool, &mut out.spec.network) {
            for a in ip4.iter_mut().filter(|a| a.prefix_len() == 32) {
                *a = Ipv4Net::new(a.addr(), pool.prefix_len()).expect("prefix of the pool");
            }
        }
        return Ok(out);
    }
    let Some(pool) = b.ip4_pool else {
        if matches!(&spec.network, Network::Vnet { ip6, .. } if !ip6.is_empty()) {
            return Ok(out); // IPv6 only.
        }
        return Err(VnetError::NoAddress {
            jail,
            bridge: bridge.to_string(),
        });
    };
    let addr = match recorded(host, global, &jail).filter(|a| pool.contains(&a.addr())) {
        Some(a) => {
            if let Some((other, how)) = held_by_other(&taken, a.addr(), &jail) {
                return Err(VnetError::Taken {
                    jail,
                    addr: a.addr(),
                    other: other.clone(),
                    how,
                });
            }
            a
        }
        None => allocate(specs, global, host, bridge, pool, &gateways, &taken, &jail)?,
    };
    out.props.insert(IP4_PROP.into(), addr.to_string());
    if let Network::Vnet { ip4, .. } = &mut out.spec.network {
        ip4.push(addr);
    }
    Ok(out)
}

/// The deterministic allocation: jails on `bridge` without a fixed or recorded address, in
/// name order, each take the next free address of the pool.
#[allow(clippy::too_many_arguments)]
fn allocate(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    bridge: &str,
    pool: Ipv4Net,
    gateways: &[Ipv4Addr],
    taken: &Taken,
    jail: &str,
) -> Result<Ipv4Net, VnetError> {
    let mut waiting: Vec<&str> = specs
        .iter()
        .filter(|s| {
            vnet_parts(s).is_some_and(|(b, ip4)| b == bridge && ip4.is_empty())
                && recorded(host, global, &s.name).is_none_or(|a| !pool.contains(&a.addr()))
        })
        .map(|s| s.name.as_str())
        .collect();
    waiting.sort_unstable();
    let used: BTreeSet<Ipv4Addr> = taken.keys().copied().collect();
    let mut free = pool
        .hosts()
        .filter(|a| reserved(pool, gateways, *a).is_none() && !used.contains(a));
    for w in waiting {
        let Some(a) = free.next() else { break };
        if w == jail {
            return Ok(Ipv4Net::new(a, pool.prefix_len()).expect("prefix of the pool"));
        }
    }
    Err(VnetError::PoolFull {
        jail: jail.to_string(),
        pool,
        bridge: bridge.to_string(),
    })
}

/// The jail.conf lines of a VNET jail: its own stack, and the jail end of its epair moved in
/// by jail(8) right after `exec.created`.
pub fn conf_lines(jail: &str) -> String {
    format!(
        "\tvnet;\n\tvnet.interface = {};\n",
        crate::render::quote(&epair_names(jail).jail)
    )
}

/// rc.conf(5) reads `ifconfig_<if>` with `.`, `-`, `/` and `+` in the interface name read as
/// `_` (network.subr), so that is the variable name to write.
fn rc_ifvar(iface: &str) -> String {
    iface.replace(['.', '-', '/', '+'], "_")
}

/// The network lines of the jail's `/etc/rc.conf`: addresses on the jail end, default routes.
/// Empty for non-VNET jails.
pub fn rc_conf_lines(spec: &JailSpec) -> String {
    let Network::Vnet {
        ip4,
        ip6,
        gateway4,
        gateway6,
        bridge: _,
    } = &spec.network
    else {
        return String::new();
    };
    let v = rc_ifvar(&epair_names(&spec.name).jail);
    let q = crate::render::sh_double_quote;
    let mut s = String::new();
    let mut alias = 0;
    for (i, a) in ip4.iter().enumerate() {
        if i == 0 {
            s += &format!("ifconfig_{v}={}\n", q(&format!("inet {a}")));
        } else {
            s += &format!("ifconfig_{v}_alias{alias}={}\n", q(&format!("inet {a}")));
            alias += 1;
        }
    }
    if ip4.is_empty() {
        s += &format!("ifconfig_{v}=\"up\"\n");
    }
    for (i, a) in ip6.iter().enumerate() {
        if i == 0 {
            s += &format!("ifconfig_{v}_ipv6={}\n", q(&format!("inet6 {a}")));
        } else {
            s += &format!("ifconfig_{v}_alias{alias}={}\n", q(&format!("inet6 {a}")));
            alias += 1;
        }
    }
    if let Some(g) = gateway4 {
        s += &format!("defaultrouter={}\n", q(&g.to_string()));
    }
    if let Some(g) = gateway6 {
        s += &format!("ipv6_defaultrouter={}\n", q(&g.to_string()));
    }
    s
}

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

fn ifconfig<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Cmd {
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

/// Units the epair cloner accepts (the kernel's IF_MAXUNIT is 0x7fff).
const EPAIR_UNITS: u32 = 0x8000;

/// How many units [`create_epair`] tries before giving up: the first is almost always free.
const EPAIR_TRIES: u32 = 32;

/// The first unit [`create_epair`] tries for a jail: spread by name so that jails created at
/// the same time rarely want the same one (a renamed pair keeps its unit, invisible to
/// `ifconfig -l`, so "the lowest free unit" cannot be read off the host cheaply).
fn first_unit(jail: &str) -> u32 {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let h = jail.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h % EPAIR_UNITS
}

/// Create the epair of `op` under a unit chosen here, so the exact interface is known before
/// it exists: `note(N)` is called first (the executor records "destroy epairNa if a killed
/// run left it unnamed" in the journal and saves it), then `ifconfig epairN create`, then the
/// ends are renamed and the host end joins the bridge. A SIGKILL at any point therefore
/// leaves either nothing or an interface the journal names. A unit another pair holds is
/// refused by the kernel (`SIOCIFCREATE2: File exists`): the next one is noted and tried.
/// A failure part-way destroys what this call created, so nothing is left behind; the error
/// says which command failed.
pub fn create_epair(
    host: &dyn Host,
    op: &EpairOp,
    note: &mut dyn FnMut(u32) -> Result<(), String>,
) -> Result<(), String> {
    let fail = |e: crate::host::ProcessError| e.to_string();
    let mut unit = first_unit(&op.jail);
    let mut tries = 0;
    loop {
        note(unit)?;
        let want = format!("epair{unit}");
        let out = host
            .output(&ifconfig([want.as_str(), "create"]))
            .map_err(fail)?;
        if out.success() {
            // ifconfig prints the kernel's name when it differs from the one asked for.
            let printed = out.stdout.trim();
            if printed != format!("{want}a") {
                let _ = host.run(&destroy_cmd(&format!("{want}a")));
                return Err(format!(
                    "`ifconfig {want} create` printed {printed:?}, not {want}a; check `ifconfig -l` for a stray epair"
                ));
            }
            break;
        }
        tries += 1;
        if !out.stderr.contains("File exists") || tries >= EPAIR_TRIES {
            let cmd = ifconfig([want.as_str(), "create"]);
            return Err(fail(crate::host::ProcessError::Failed {
                cmd,
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
            }));
        }
        unit = (unit + 1) % EPAIR_UNITS;
    }
    let a = format!("epair{unit}a");
    let b = format!("epair{unit}b");
    let cleanup = |iface: &str| {
        let _ = host.run(&destroy_cmd(iface));
    };
    if let Err(e) = host.run(&ifconfig([a.as_str(), "up", "name", &op.names.host])) {
        cleanup(&a);
        return Err(fail(e));
    }
    if let Err(e) = host.run(&ifconfig([b.as_str(), "name", &op.names.jail])) {
        cleanup(&op.names.host);
        return Err(fail(e));
    }
    if let Err(e) = host.run(&ifconfig([op.bridge.as_str(), "addm", &op.names.host])) {
        cleanup(&op.names.host);
        return Err(fail(e));
    }
    Ok(())
}

/// Undo of a [`create_epair`] that may have been killed before renaming the ends: destroy
/// `epairNa`, or `epairNb` when only the first end was renamed. Neither there is an error,
/// which the journal ignores for a pending entry (the kill came before the create, or after
/// both renames, when the jail-named undo applies), so an undo report lists this only when
/// it destroyed something. Runs under the network lock, so no live run is between its create
/// and its rename.
fn destroy_unnamed(host: &dyn Host, unit: u32) -> Result<(), String> {
    for end in ['a', 'b'] {
        let iface = format!("epair{unit}{end}");
        let exists = host
            .output(&ifconfig([iface.as_str()]))
            .map_err(|e| e.to_string())?
            .success();
        if exists {
            return host
                .run(&destroy_cmd(&iface))
                .map(|_| ())
                .map_err(|e| e.to_string());
        }
    }
    Err(format!(
        "neither epair{unit}a nor epair{unit}b exists: nothing was left unnamed"
    ))
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
    match spec.map(|s| &s.network) {
        Some(Network::Vnet { bridge, .. }) => Some(bridge),
        _ => None,
    }
}

/// The ops of a [`NetStep`] with their undo, for [`crate::apply::ops`].
pub fn ops(step: &NetStep) -> Vec<(Op, Vec<Undo>)> {
    match step {
        NetStep::CreateBridge { bridge, uplink } => vec![(
            Op::Net(NetOp::EnsureBridge {
                bridge: bridge.clone(),
                uplink: uplink.clone(),
            }),
            vec![Undo::Net(NetOp::DropUnusedBridge {
                bridge: bridge.clone(),
                uplink: uplink.clone(),
            })],
        )],
        NetStep::CreateEpair(e) => vec![(
            Op::Net(NetOp::Epair(e.clone())),
            vec![Undo::Run {
                cmd: destroy_cmd(&e.names.host),
            }],
        )],
        NetStep::DestroyEpair { iface, restore } => vec![(
            Op::Run(destroy_cmd(iface)),
            restore
                .iter()
                .cloned()
                .map(|e| Undo::Net(NetOp::Epair(e)))
                .collect(),
        )],
    }
}

/// A VNET operation of several commands that depend on each other's output or on the host's
/// current state, run by [`run`] under the host-wide network lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NetOp {
    /// Create a jail's epair (under a unit noted in the journal first; see [`create_epair`]).
    Epair(EpairOp),
    /// Undo of an [`NetOp::Epair`] still pending: destroy `epair<unit>a`/`b` if a killed run
    /// left them unnamed (see [`destroy_unnamed`]).
    DestroyUnnamedEpair { unit: u32 },
    /// Create a bridge unless it exists: jails started in parallel (at boot) may each have
    /// planned it.
    EnsureBridge {
        bridge: String,
        uplink: Option<String>,
    },
    /// Undo of `EnsureBridge`: destroy the bridge unless a member other than its uplink is
    /// still on it (another jail's epair).
    DropUnusedBridge {
        bridge: String,
        uplink: Option<String>,
    },
}

impl fmt::Display for NetOp {
    /// The commands, as `--dry-run` shows them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetOp::Epair(e) => write!(f, "{e}"),
            NetOp::EnsureBridge { bridge, uplink } => write!(
                f,
                "{}  # unless {bridge} exists",
                create_bridge_cmd(bridge, uplink.as_deref())
            ),
            NetOp::DropUnusedBridge { bridge, .. } => {
                write!(f, "{}  # unless a jail uses it", destroy_cmd(bridge))
            }
            NetOp::DestroyUnnamedEpair { unit } => write!(
                f,
                "{}  # if a killed run left it unnamed (or epair{unit}b)",
                destroy_cmd(&format!("epair{unit}a"))
            ),
        }
    }
}

impl NetOp {
    /// How this op reads as an undo action.
    pub fn undo_text(&self) -> String {
        match self {
            NetOp::Epair(e) => format!(
                "re-create epair {}/{} on {}",
                e.names.host, e.names.jail, e.bridge
            ),
            other => other.to_string(),
        }
    }
}

/// Run one [`NetOp`]. A failure leaves nothing behind that the op created. An epair's unit
/// is not recorded anywhere (an undo re-creating a pair runs outside any journal entry).
pub fn run(host: &dyn Host, op: &NetOp) -> Result<(), String> {
    run_noting(host, op, &mut |_| Ok(()))
}

/// [`run`], calling `note(N)` under the network lock before `ifconfig epairN create` (see
/// [`create_epair`]): the executor journals the unit there. Holds the network lock of
/// [`crate::apply::lock`] for the length of the op: bridge creation, membership and removal
/// by concurrent jailctl processes (and boot threads) take turns. It is taken with nothing
/// below it in the hierarchy held by the op (the jail and base locks of the run come before it
/// in the one order), and nothing is taken while it is held.
pub fn run_noting(
    host: &dyn Host,
    op: &NetOp,
    note: &mut dyn FnMut(u32) -> Result<(), String>,
) -> Result<(), String> {
    use crate::apply::lock::{Held, LockKey, Mode};
    let _lock = Held::acquire(host, &[(LockKey::Network, Mode::Exclusive)], |_| {})
        .map_err(|e| format!("cannot take the network lock: {e}"))?;
    match op {
        NetOp::Epair(e) => create_epair(host, e, note),
        NetOp::DestroyUnnamedEpair { unit } => destroy_unnamed(host, *unit),
        NetOp::EnsureBridge { bridge, uplink } => {
            let exists = host
                .output(&ifconfig([bridge.as_str()]))
                .is_ok_and(|o| o.success());
            if exists {
                return Ok(());
            }
            host.run(&create_bridge_cmd(bridge, uplink.as_deref()))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        NetOp::DropUnusedBridge { bridge, uplink } => {
            let out = host
                .output(&ifconfig([bridge.as_str()]))
                .map_err(|e| e.to_string())?;
            if !out.success() {
                return Ok(()); // already gone
            }
            let in_use = bridge_members(&out.stdout)
                .iter()
                .any(|m| Some(m) != uplink.as_ref());
            if in_use {
                return Ok(());
            }
            host.run(&destroy_cmd(bridge))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
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

#[cfg(test)]
mod tests;
