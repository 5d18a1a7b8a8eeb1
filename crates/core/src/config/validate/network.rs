//! Network settings: the alias, inherit and VNET forms, addresses, interface names and bridges.

use super::*;
use crate::config::units::ValueError;

pub(super) fn check_ifname(s: &str) -> Result<(), ValueError> {
    let ok = s.len() <= 15
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ValueError(format!(
            "\"{s}\" is not an interface name: letters, digits, '_' and '.', starting with a letter, at most 15 characters"
        )))
    }
}

/// `[network]`: its mode, then the keys and addresses that mode takes.
pub(super) fn network(v: &mut V, at: &Node, t: &Table, g: &Global, refs: &mut JailRefs) -> Network {
    v.keys(t, schema::NETWORK, "[network]");
    let Some((mode, allowed)) = mode(v, at, t) else {
        return Network::None;
    };
    let (ip4, ip6) = addresses(v, t, allowed, refs);
    match mode.as_str() {
        "inherit" => Network::Inherit,
        "none" => Network::None,
        "alias" => alias(v, at, t, ip4, ip6),
        _ => vnet(v, at, t, g, refs, ip4, ip6),
    }
}

/// The mode and the keys it takes; a key of another mode is reported. `None` when the mode
/// is missing or unknown.
fn mode(v: &mut V, at: &Node, t: &Table) -> Option<(String, &'static [&'static str])> {
    let k = schema::NETWORK;
    let Some(mode_node) = get(t, k, "mode") else {
        v.err(
            at,
            "[network] has no mode",
            Some("set mode = \"inherit\", \"alias\", \"vnet\" or \"none\"".into()),
        );
        return None;
    };
    let mode = v.string(mode_node, "mode")?;
    let allowed: &[&str] = match mode.as_str() {
        "inherit" | "none" => &["mode"],
        "alias" => &["mode", "interface", "ip4", "ip6"],
        "vnet" => &["mode", "bridge", "ip4", "ip6", "gateway4", "gateway6"],
        other => {
            let m = match suggest(other, ["inherit", "alias", "vnet", "none"]) {
                Some(s) => format!("unknown network mode \"{other}\"; did you mean \"{s}\"?"),
                None => format!("unknown network mode \"{other}\""),
            };
            v.err(
                mode_node,
                m,
                Some("use inherit, alias, vnet or none".into()),
            );
            return None;
        }
    };
    for (key, e) in t {
        if k.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
            v.err_key(
                e,
                key,
                format!("{key} does not apply to mode = \"{mode}\""),
                Some(format!(
                    "with mode = \"{mode}\" [network] takes: {}",
                    allowed.join(", ")
                )),
            );
        }
    }
    Some((mode, allowed))
}

/// `ip4` and `ip6` when the mode takes them; each address kept in `refs` for the cross-jail
/// checks.
fn addresses(
    v: &mut V,
    t: &Table,
    allowed: &[&str],
    refs: &mut JailRefs,
) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
    let k = schema::NETWORK;
    let mut ip4 = vec![];
    let mut ip6 = vec![];
    if let Some(n) = get(t, k, "ip4").filter(|_| allowed.contains(&"ip4")) {
        for (s, an) in v.strings(n, "ip4") {
            if let Some(net) = parse_net::<Ipv4Net, Ipv4Addr>(v, &s, an, "IPv4", 32, Ipv4Net::new) {
                refs.addrs.push((IpAddr::V4(net.addr()), an.clone()));
                ip4.push(net);
            }
        }
    }
    if let Some(n) = get(t, k, "ip6").filter(|_| allowed.contains(&"ip6")) {
        for (s, an) in v.strings(n, "ip6") {
            if let Some(net) = parse_net::<Ipv6Net, Ipv6Addr>(v, &s, an, "IPv6", 128, Ipv6Net::new)
            {
                refs.addrs.push((IpAddr::V6(net.addr()), an.clone()));
                ip6.push(net);
            }
        }
    }
    (ip4, ip6)
}

/// `mode = "alias"`: a host interface and at least one address.
fn alias(v: &mut V, at: &Node, t: &Table, ip4: Vec<Ipv4Net>, ip6: Vec<Ipv6Net>) -> Network {
    let k = schema::NETWORK;
    let interface = match get(t, k, "interface") {
        Some(n) => v.string(n, "interface").and_then(|s| {
            check_ifname(&s)
                .map_err(|e| v.err(n, e, None))
                .ok()
                .map(|_| s)
        }),
        None => {
            v.err(
                at,
                "mode = \"alias\" needs an interface",
                Some(
                    "add interface = \"em0\" (the host interface to alias the addresses on)".into(),
                ),
            );
            None
        }
    }
    .unwrap_or_default();
    // Count what was written, so an address that failed to parse is not reported twice.
    let written = |key: &str| {
        get(t, k, key).map_or(0, |n| match &n.val {
            Val::Array(a) => a.len(),
            _ => 1,
        })
    };
    if written("ip4") + written("ip6") == 0 {
        v.err(
            at,
            "mode = \"alias\" needs at least one address in ip4 or ip6",
            Some("add ip4 = [\"192.0.2.10/24\"]".into()),
        );
    }
    Network::Alias {
        interface,
        ip4,
        ip6,
    }
}

/// `mode = "vnet"`: a bridge of jailctl.toml and the gateways (the bridge's `gateway4` when
/// unset), which no jail address may take.
fn vnet(
    v: &mut V,
    at: &Node,
    t: &Table,
    g: &Global,
    refs: &JailRefs,
    ip4: Vec<Ipv4Net>,
    ip6: Vec<Ipv6Net>,
) -> Network {
    let k = schema::NETWORK;
    let bridge = vnet_bridge(v, at, t, g, &ip4);
    let gateway4 = get(t, k, "gateway4").and_then(|n| {
        let s = v.string(n, "gateway4")?;
        s.parse::<Ipv4Addr>()
            .map_err(|_| v.err(n, format!("gateway4 \"{s}\" is not an IPv4 address"), None))
            .ok()
    });
    let gateway6 = get(t, k, "gateway6").and_then(|n| {
        let s = v.string(n, "gateway6")?;
        s.parse::<Ipv6Addr>()
            .map_err(|_| v.err(n, format!("gateway6 \"{s}\" is not an IPv6 address"), None))
            .ok()
    });
    let gateway4 = gateway4.or_else(|| g.bridges.get(&bridge).and_then(|b| b.gateway4));
    if let Some(gw) = gateway4
        && let Some((_, n)) = refs.addrs.iter().find(|(a, _)| *a == IpAddr::V4(gw))
    {
        v.err(
            n,
            format!("address {gw} is the gateway of this jail's network"),
            Some("pick another address for the jail".into()),
        );
    }
    Network::Vnet {
        bridge,
        ip4,
        ip6,
        gateway4,
        gateway6,
    }
}

/// The VNET bridge, which must be defined in jailctl.toml and give the jail an address (its
/// own `ip4` or the bridge's pool).
fn vnet_bridge(v: &mut V, at: &Node, t: &Table, g: &Global, ip4: &[Ipv4Net]) -> String {
    match get(t, schema::NETWORK, "bridge") {
        Some(n) => v.string(n, "bridge").inspect(|b| {
            if !g.bridges.contains_key(b) {
                let known: Vec<&str> = g.bridges.keys().map(String::as_str).collect();
                let msg = match suggest(b, known.iter().copied()) {
                    Some(s) => format!("unknown bridge \"{b}\"; did you mean \"{s}\"?"),
                    None => format!("unknown bridge \"{b}\""),
                };
                v.err(
                    n,
                    msg,
                    Some(format!("define [bridges.{b}] in jailctl.toml")),
                );
            } else if ip4.is_empty() && g.bridges[b].ip4_pool.is_none() {
                v.err(
                    n,
                    format!("bridge \"{b}\" has no ip4_pool and the jail sets no ip4"),
                    Some(format!("set ip4 in [network] or ip4_pool in [bridges.{b}]")),
                );
            }
        }),
        None => {
            v.err(
                at,
                "mode = \"vnet\" needs a bridge",
                Some(
                    "add bridge = \"bridge0\" and define it under [bridges] in jailctl.toml".into(),
                ),
            );
            None
        }
    }
    .unwrap_or_default()
}

pub(super) fn parse_net<N: std::str::FromStr, A: std::str::FromStr>(
    v: &mut V,
    s: &str,
    n: &Node,
    family: &str,
    max: u8,
    new: fn(A, u8) -> Result<N, ipnet::PrefixLenError>,
) -> Option<N> {
    if s.contains('|') {
        v.err(
            n,
            format!("\"{s}\" uses jail.conf's interface|address form"),
            Some("write only the address; the interface is `interface` in [network]".into()),
        );
        return None;
    }
    let parsed = if s.contains('/') {
        s.parse::<N>().ok()
    } else {
        s.parse::<A>().ok().and_then(|a| new(a, max).ok())
    };
    if parsed.is_none() {
        v.err(
            n,
            format!("\"{s}\" is not an {family} address"),
            Some(format!(
                "write an {family} address with an optional /prefix (0-{max})"
            )),
        );
    }
    parsed
}
