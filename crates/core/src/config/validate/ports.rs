//! NAT and port forwarding: `nat = { interface = ... }` of a bridge or network,
//! `[networks.NAME]`, and a jail's `[[ports]]`, with the conflicts refused before anything is
//! touched (a host port forwarded twice, a port outside 1–65535, a forward to a jail that has
//! no IPv4 address in a NATed network).

use super::*;

/// `nat = { interface = "em0" }`.
pub(super) fn nat(v: &mut V, n: &Node, sect: &str) -> Option<NatSpec> {
    let t = v.table(n, &format!("nat in {sect}"))?;
    v.keys(t, schema::NAT, &format!("nat in {sect}"));
    let Some(i) = get(t, schema::NAT, "interface") else {
        v.err(
            n,
            format!("nat in {sect} has no interface"),
            Some("write nat = { interface = \"em0\" } (the host's external interface)".into()),
        );
        return None;
    };
    let iface = v.string(i, "nat.interface")?;
    if let Err(e) = check_ifname(&iface) {
        v.err(i, e, None);
        return None;
    }
    Some(NatSpec { interface: iface })
}

/// `[networks.NAME]`.
pub(super) fn network(v: &mut V, name: &str, t: &Table) -> NetworkSpec {
    let sect = format!("[networks.{name}]");
    v.keys(t, schema::NETWORKS, &sect);
    let k = schema::NETWORKS;
    let ip4_pool = ip4_pool(v, t, k);
    let nat = get(t, k, "nat").and_then(|n| nat(v, n, &sect));
    NetworkSpec {
        name: name.to_string(),
        ip4_pool,
        nat,
    }
}

/// A port or range: an integer, or a string `"8000-8010"` (also `"8000:8010"`).
fn port_range(v: &mut V, n: &Node, what: &str) -> Option<PortRange> {
    let one = |v: &mut V, x: i64| -> Option<u16> {
        if (1..=65535).contains(&x) {
            Some(x as u16)
        } else {
            v.err(
                n,
                format!("{what} port {x} is outside 1-65535"),
                Some("ports are 1 to 65535".into()),
            );
            None
        }
    };
    match &n.val {
        Val::Int(i) => one(v, *i).map(|p| PortRange { first: p, last: p }),
        Val::Str(s) => {
            let parts: Vec<&str> = s.splitn(2, ['-', ':']).collect();
            let nums: Vec<Option<i64>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
            match nums.as_slice() {
                [Some(a)] => one(v, *a).map(|p| PortRange { first: p, last: p }),
                [Some(a), Some(b)] => {
                    let (a, b) = (one(v, *a)?, one(v, *b)?);
                    if a > b {
                        v.err(
                            n,
                            format!("{what} port range \"{s}\" runs backwards"),
                            Some(format!("write \"{b}-{a}\"")),
                        );
                        return None;
                    }
                    Some(PortRange { first: a, last: b })
                }
                _ => {
                    v.err(
                        n,
                        format!("{what} port \"{s}\" is not a port or a range"),
                        Some("write a number such as 8080 or a range such as \"8000-8010\"".into()),
                    );
                    None
                }
            }
        }
        _ => {
            v.err(
                n,
                format!("{what} port must be an integer or a range string"),
                Some("write a number such as 8080 or a range such as \"8000-8010\"".into()),
            );
            None
        }
    }
}

/// A jail's `[[ports]]`.
pub(super) fn ports(
    v: &mut V,
    n: &Node,
    network: &Network,
    g: &Global,
    refs: &mut JailRefs,
) -> Vec<PortForward> {
    pool_addresses(v, network, g, refs);
    let mut out = vec![];
    let Some(entries) = v.array(n, "ports") else {
        return out;
    };
    let has_v4 = match network {
        Network::Alias { ip4, .. } => !ip4.is_empty(),
        Network::Vnet { .. } => true,
        _ => false,
    };
    let natted = g.nat_of(network).is_some();
    for e in entries {
        let Some(t) = v.table(e, "each entry of [[ports]]") else {
            continue;
        };
        if let Some(f) = forward(v, e, t, network, natted, has_v4) {
            refs.ports.push((f.clone(), e.clone()));
            out.push(f);
        }
    }
    out
}

/// An alias jail on a `[networks.NAME]` with a pool: its addresses lie in the pool.
fn pool_addresses(v: &mut V, network: &Network, g: &Global, refs: &JailRefs) {
    if let Network::Alias { interface, .. } = network
        && let Some(pool) = g.networks.get(interface).and_then(|n| n.ip4_pool)
    {
        for (a, an) in &refs.addrs {
            if let IpAddr::V4(a4) = a
                && !pool.contains(a4)
            {
                v.err(
                    an,
                    format!("address {a4} is outside ip4_pool {pool} of network {interface}"),
                    Some(format!("pick an address in {pool}")),
                );
            }
        }
    }
}

/// One `[[ports]]` entry `e` (table `t`); `None` when it is refused.
fn forward(
    v: &mut V,
    e: &Node,
    t: &Table,
    network: &Network,
    natted: bool,
    has_v4: bool,
) -> Option<PortForward> {
    v.keys(t, schema::PORT, "[[ports]]");
    let k = schema::PORT;
    let proto = get(t, k, "proto").map_or(Some(Proto::Tcp), |pn| proto(v, pn));
    let host = match get(t, k, "host") {
        Some(hn) => port_range(v, hn, "host"),
        None => {
            v.err(
                e,
                "[[ports]] has no host port",
                Some("add host = 8080 (the port on the host)".into()),
            );
            None
        }
    };
    let jail = match get(t, k, "jail") {
        Some(jn) => port_range(v, jn, "jail"),
        None => host,
    };
    let address = get(t, k, "address").and_then(|an| address(v, an));
    let (Some(proto), Some(host), Some(jail)) = (proto, host, jail) else {
        return None;
    };
    let (hl, jl) = (host.last - host.first, jail.last - jail.first);
    if jl != 0 && jl != hl {
        v.err(
            get(t, k, "jail").unwrap_or(e),
            format!("jail ports {jail} and host ports {host} are ranges of different lengths"),
            Some("give the jail one port, or a range as long as the host's".into()),
        );
        return None;
    }
    if !forwardable(v, e, network, natted, has_v4) {
        return None;
    }
    Some(PortForward {
        proto,
        host,
        jail,
        address,
    })
}

/// `proto`: tcp or udp.
fn proto(v: &mut V, pn: &Node) -> Option<Proto> {
    match v.string(pn, "proto").as_deref() {
        Some("tcp") => Some(Proto::Tcp),
        Some("udp") => Some(Proto::Udp),
        Some(other) => {
            v.err(
                pn,
                format!("proto \"{other}\" cannot be forwarded"),
                Some("use \"tcp\" or \"udp\" (one [[ports]] entry each)".into()),
            );
            None
        }
        None => None,
    }
}

/// `address`: the host's IPv4 address to forward from.
fn address(v: &mut V, an: &Node) -> Option<Ipv4Addr> {
    let s = v.string(an, "address")?;
    s.parse::<Ipv4Addr>()
        .map_err(|_| {
            v.err(
                an,
                format!("address \"{s}\" is not an IPv4 address"),
                Some("write the host's address to forward from, e.g. \"192.0.2.10\"".into()),
            )
        })
        .ok()
}

/// A forward needs the jail on a NATed network and an IPv4 address to forward to; reported
/// on `e` when it has not.
fn forwardable(v: &mut V, e: &Node, network: &Network, natted: bool, has_v4: bool) -> bool {
    if !natted {
        let fix = match network {
            Network::Vnet { bridge, .. } => {
                format!("add nat = {{ interface = \"em0\" }} to [bridges.{bridge}] in jailctl.toml")
            }
            Network::Alias { interface, .. } => format!(
                "define [networks.{interface}] with nat = {{ interface = \"em0\" }} in jailctl.toml"
            ),
            _ => "put the jail on a NATed bridge (mode = \"vnet\") or network (mode = \"alias\" on a [networks.NAME])".into(),
        };
        v.err(
            e,
            "a port is forwarded to this jail, but it has no address in a NATed network",
            Some(fix),
        );
        return false;
    }
    if !has_v4 {
        v.err(
            e,
            "a port is forwarded to this jail, but it has no IPv4 address to forward to",
            Some("add an address to ip4 in [network]".into()),
        );
        return false;
    }
    true
}

/// The same host port (protocol, address, overlapping range) forwarded twice, in one jail or
/// two: every entry involved is refused, each naming the other jail.
pub(crate) fn conflicts(
    v: &mut V,
    jails: &[JailSpec],
    refs: &[JailRefs],
) -> Vec<(usize, ConfigError)> {
    let mut out = vec![];
    let all: Vec<(usize, &PortForward, &Node)> = refs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.ports.iter().map(move |(f, n)| (i, f, n)))
        .collect();
    for (x, (i, f, n)) in all.iter().enumerate() {
        for (y, (j, g, _)) in all.iter().enumerate() {
            if x == y || f.proto != g.proto || !f.host.overlaps(&g.host) {
                continue;
            }
            // No address means every address of the NAT interface: it meets any other.
            let same_addr = f.address.is_none() || g.address.is_none() || f.address == g.address;
            if !same_addr {
                continue;
            }
            let other = if i == j {
                "another [[ports]] entry of this jail".to_string()
            } else {
                format!("jail \"{}\"", jails[*j].name)
            };
            v.err(
                n,
                format!(
                    "host port {} {} is also forwarded to {other}",
                    f.proto.as_str(),
                    f.host
                ),
                Some("forward each host port to one jail only".into()),
            );
            out.extend(v.errs.drain(..).map(|e| (*i, e)));
            break;
        }
    }
    out
}
