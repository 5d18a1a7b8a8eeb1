//! VNET addressing: a jail's IPv4 address filled in from its bridge's pool (recorded on its
//! dataset, or the next free one in the deterministic order the module documentation
//! explains), with the pre-flight checks of the bridge, the interface names and the
//! addresses. Pure: decided from the definitions and the observed host.

use super::{IP4_PROP, VnetError, epair_names};
use crate::config::spec::{BridgeSpec, Global, JailSpec, Network};
use crate::observe::HostState;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

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
    // By name, so each recorded dataset finds its definition without a scan of all of them.
    let by_name: BTreeMap<&str, &JailSpec> = specs.iter().map(|s| (s.name.as_str(), s)).collect();
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
        let has_fixed = by_name
            .get(j)
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
    let b = check_bridge(&jail, bridge, global, host)?;
    check_names(&jail, specs)?;

    let gw_spec = match &spec.network {
        Network::Vnet { gateway4, .. } => *gateway4,
        _ => None,
    };
    let gateways: Vec<Ipv4Addr> = [b.gateway4, gw_spec].into_iter().flatten().collect();
    let taken = taken(specs, global, host);
    if !fixed.is_empty() {
        check_fixed(&jail, bridge, b, fixed, &gateways, &taken)?;
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

/// The kernel has VIMAGE, and the jail's bridge is defined and present on the host (or is to
/// be created, with an uplink that is present).
fn check_bridge<'g>(
    jail: &str,
    bridge: &str,
    global: &'g Global,
    host: &HostState,
) -> Result<&'g BridgeSpec, VnetError> {
    let jail = jail.to_string();
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
    Ok(b)
}

/// No other VNET definition's epair names (cut to IFNAMSIZ) are the jail's.
fn check_names(jail: &str, specs: &[JailSpec]) -> Result<(), VnetError> {
    let mine = epair_names(jail);
    for other in specs
        .iter()
        .filter(|s| s.name != jail && vnet_parts(s).is_some())
    {
        let theirs = epair_names(&other.name);
        if theirs.host == mine.host || theirs.jail == mine.jail {
            return Err(VnetError::NameClash {
                jail: jail.to_string(),
                other: other.name.clone(),
                iface: mine.host,
            });
        }
    }
    Ok(())
}

/// Fixed addresses: inside the bridge's pool (when it has one) and not reserved in it, and
/// held by no other jail.
fn check_fixed(
    jail: &str,
    bridge: &str,
    b: &BridgeSpec,
    fixed: &[Ipv4Net],
    gateways: &[Ipv4Addr],
    taken: &Taken,
) -> Result<(), VnetError> {
    let jail = jail.to_string();
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
            if let Some(what) = reserved(pool, gateways, a.addr()) {
                return Err(VnetError::Reserved {
                    jail,
                    addr: a.to_string(),
                    what,
                    pool,
                });
            }
        }
        if let Some((other, how)) = held_by_other(taken, a.addr(), &jail) {
            return Err(VnetError::Taken {
                jail,
                addr: a.addr(),
                other: other.clone(),
                how,
            });
        }
    }
    Ok(())
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
