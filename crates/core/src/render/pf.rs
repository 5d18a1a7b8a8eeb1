//! A jail's pf rules: outbound NAT for its network and its `[[ports]]` forwards, loaded into
//! the jail's own anchor (`jailctl/NAME`) with `pfctl -a jailctl/NAME -f -`. jailctl never
//! touches the host's main ruleset: pf.conf reaches the anchors through three lines the
//! administrator adds (`nat-anchor`, `rdr-anchor`, `anchor "jailctl/*"`; see
//! docs/networking.md). Pure, like the rest of `render`.
//!
//! The rules, and why each has its form (grammar from FreeBSD's sbin/pfctl/parse.y):
//!
//! - `nat on IF inet from <jailctl_nat> to any -> (IF)`: parse.y's `natrule` (`nataction
//!   interface af proto fromto ... redirpool`), the translation address a parenthesised
//!   interface (`host: '(' STRING ')'`, a dynamic address that follows the interface's
//!   changes). The source is the table `<jailctl_nat>` (`xhost: '<' STRING '>'`) of the main
//!   ruleset, which jailctl fills with each NATed jail's address: a jail is translated
//!   exactly while its address is in the table.
//! - `rdr on IF inet proto tcp from any to (IF) port 8080 -> 10.0.0.4 port 80`: `natrule`
//!   again with `nataction: RDR natpass`, `natpass` left empty. `rdr pass` would let the
//!   redirected packets skip the filter rules, so the administrator's `block` rules would not
//!   apply to them (the Bastille pitfall, shared/freebsd.md §12); without it the filter
//!   decides. A host range is `port A:B` (parse.y's `portrange` with `:`, an inclusive range)
//!   and the jail's side `port C:*` (`rport`: the range shifted to start at C).
//! - `pass in on IF inet proto tcp from any to 10.0.0.4 port 80 keep state`: `pfrule`
//!   (`action dir logquick interface af proto fromto filter_opts`) with no `quick`, so a later
//!   rule of the administrator's (after the `anchor` line in pf.conf) still has the last word;
//!   it matches the packet after translation, so it names the jail's address and port.
//!
//! parse.y's `check_rulestate` wants translation rules before filter rules in one ruleset,
//! which is the order here. Only IPv4 is translated.

use crate::config::layout::{PF_NAT_TABLE, hash_hex, pf_anchor};
use crate::config::spec::{Global, JailSpec, Network, PortForward, PortRange};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// What a jail puts into pf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PfRules {
    /// `jailctl/NAME`.
    pub anchor: String,
    /// The rules, one per line, as loaded with `pfctl -a ANCHOR -f -`.
    pub text: String,
    /// The address added to the `<jailctl_nat>` table.
    pub nat_addr: Ipv4Addr,
    /// The external interface.
    pub interface: String,
}

impl PfRules {
    /// What `jailctl:pf` records: a hash of the rules and of the table entry.
    pub fn hash(&self) -> String {
        hash_hex(&[self.text.as_bytes(), self.nat_addr.to_string().as_bytes()])
    }
}

/// The jail's first IPv4 address (a VNET jail's as resolved from its pool).
pub fn first_ip4(spec: &JailSpec) -> Option<Ipv4Addr> {
    match &spec.network {
        Network::Alias { ip4, .. } | Network::Vnet { ip4, .. } => ip4.first().map(|n| n.addr()),
        _ => None,
    }
}

/// pf's port syntax: `80` or `8000:8010`.
fn ports(r: &PortRange) -> String {
    if r.first == r.last {
        r.first.to_string()
    } else {
        format!("{}:{}", r.first, r.last)
    }
}

/// The redirection's port: one port, or the start of a range (`C:*`).
fn rport(f: &PortForward) -> String {
    if f.jail.first == f.jail.last {
        f.jail.first.to_string()
    } else {
        format!("{}:*", f.jail.first)
    }
}

/// The rules of one jail; `None` when its network is not NATed or it has no IPv4 address
/// yet (a VNET jail is resolved from its pool first, see [`crate::vnet::resolve`]).
pub fn jail_rules(spec: &JailSpec, global: &Global) -> Option<PfRules> {
    let nat = global.nat_of(&spec.network)?;
    let addr = first_ip4(spec)?;
    let ext = &nat.interface;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "nat on {ext} inet from <{PF_NAT_TABLE}> to any -> ({ext})"
    );
    for f in &spec.ports {
        let proto = f.proto.as_str();
        let to = f
            .address
            .map_or_else(|| format!("({ext})"), |a| a.to_string());
        let _ = writeln!(
            text,
            "rdr on {ext} inet proto {proto} from any to {to} port {} -> {addr} port {}",
            ports(&f.host),
            rport(f)
        );
    }
    for f in &spec.ports {
        let proto = f.proto.as_str();
        // The jail's side of the forward: a single jail port takes a whole host range.
        let jail = if f.jail.first == f.jail.last {
            f.jail
        } else {
            PortRange {
                first: f.jail.first,
                last: f.jail.first + (f.host.last - f.host.first),
            }
        };
        let _ = writeln!(
            text,
            "pass in on {ext} inet proto {proto} from any to {addr} port {} keep state",
            ports(&jail)
        );
    }
    Some(PfRules {
        anchor: pf_anchor(&spec.name),
        text,
        nat_addr: addr,
        interface: ext.clone(),
    })
}

/// The forwards of a jail as `list --json` and `status` show them:
/// `tcp 8080 -> 80` or `udp 192.0.2.10:5000-5010 -> 5000-5010`.
pub fn describe_forward(f: &PortForward) -> String {
    let host = match f.address {
        Some(a) => format!("{a}:{}", f.host),
        None => f.host.to_string(),
    };
    format!("{} {host} -> {}", f.proto.as_str(), f.jail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::{BridgeSpec, NatSpec, Proto};
    use crate::fixtures::{global, spec};

    fn nated() -> (Global, JailSpec) {
        let mut g = global();
        g.bridges.insert(
            "bridge0".into(),
            BridgeSpec {
                name: "bridge0".into(),
                create: true,
                uplink: Some("em0".into()),
                ip4_pool: Some("10.20.0.0/24".parse().unwrap()),
                gateway4: Some("10.20.0.1".parse().unwrap()),
                nat: Some(NatSpec {
                    interface: "em0".into(),
                }),
            },
        );
        let mut s = spec("web");
        s.network = Network::Vnet {
            bridge: "bridge0".into(),
            ip4: vec!["10.20.0.4/24".parse().unwrap()],
            ip6: vec![],
            gateway4: None,
            gateway6: None,
        };
        let r = |a, b| PortRange { first: a, last: b };
        s.ports = vec![
            PortForward {
                proto: Proto::Tcp,
                host: r(8080, 8080),
                jail: r(80, 80),
                address: None,
            },
            PortForward {
                proto: Proto::Udp,
                host: r(5000, 5010),
                jail: r(6000, 6010),
                address: Some("192.0.2.10".parse().unwrap()),
            },
            PortForward {
                proto: Proto::Tcp,
                host: r(9000, 9002),
                jail: r(22, 22),
                address: None,
            },
        ];
        (g, s)
    }

    #[test]
    fn nat_rdr_and_pass_rules_in_pf_conf_grammar() {
        let (g, s) = nated();
        let r = jail_rules(&s, &g).unwrap();
        assert_eq!(r.anchor, "jailctl/web");
        assert_eq!(r.nat_addr.to_string(), "10.20.0.4");
        assert_eq!(
            r.text,
            "nat on em0 inet from <jailctl_nat> to any -> (em0)\n\
             rdr on em0 inet proto tcp from any to (em0) port 8080 -> 10.20.0.4 port 80\n\
             rdr on em0 inet proto udp from any to 192.0.2.10 port 5000:5010 -> 10.20.0.4 port 6000:*\n\
             rdr on em0 inet proto tcp from any to (em0) port 9000:9002 -> 10.20.0.4 port 22\n\
             pass in on em0 inet proto tcp from any to 10.20.0.4 port 80 keep state\n\
             pass in on em0 inet proto udp from any to 10.20.0.4 port 6000:6010 keep state\n\
             pass in on em0 inet proto tcp from any to 10.20.0.4 port 22 keep state\n"
        );
        // Never `rdr pass` (it would bypass the administrator's filter), never `quick`.
        assert!(!r.text.contains("rdr pass") && !r.text.contains("quick"));
        assert_eq!(
            describe_forward(&s.ports[1]),
            "udp 192.0.2.10:5000-5010 -> 6000-6010"
        );
    }

    #[test]
    fn the_hash_follows_the_rules_and_only_nated_jails_have_any() {
        let (g, s) = nated();
        let a = jail_rules(&s, &g).unwrap().hash();
        let mut s2 = s.clone();
        s2.ports.pop();
        assert_ne!(a, jail_rules(&s2, &g).unwrap().hash());
        assert_eq!(a, jail_rules(&s, &g).unwrap().hash());
        let mut g2 = g.clone();
        g2.bridges.get_mut("bridge0").unwrap().nat = None;
        assert_eq!(jail_rules(&s, &g2), None);
        assert_eq!(jail_rules(&spec("plain"), &g), None);
    }
}
