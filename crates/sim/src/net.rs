//! ifconfig(8) on the simulated host: interfaces, epair pairs, bridges, cloned loopbacks,
//! address aliases and vnet moves. jail(8) adds and removes jail addresses through this same
//! code (via `Ctx::exec`), so there is one model of the network.
//!
//! An interface moved into a vnet jail (`ifconfig IF vnet JAIL`) is invisible from the host
//! until it is moved back (`-vnet`) or its jail is torn down (see `jail.rs` for dying jails).

use super::Ctx;
use crate::addr::{is_addr, mask_len, parse_len, v4_width};
use crate::table::Seq;
use jailctl_host::Output;
use serde::{Deserialize, Serialize};

/// Interface names are at most 15 characters (IFNAMSIZ 16 with the NUL).
pub const IFNAMSIZ: usize = 16;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum IfKind {
    Loopback,
    Ether,
    /// One end of an epair; `peer` is the other end's current name.
    Epair {
        unit: u32,
        peer: String,
    },
    Bridge {
        members: Vec<String>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub kind: IfKind,
    pub up: bool,
    /// IPv4 addresses as `addr/len`.
    pub inet: Vec<String>,
    /// IPv6 addresses as `addr/len`.
    pub inet6: Vec<String>,
    /// The jid of the vnet jail holding it, `None` on the host.
    pub vnet: Option<i32>,
}

impl Iface {
    fn new(name: &str, kind: IfKind) -> Self {
        Iface {
            name: name.to_string(),
            kind,
            up: false,
            inet: vec![],
            inet6: vec![],
            vnet: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetState {
    /// All interfaces in creation order (host and vnet jails).
    #[serde(default)]
    pub ifaces: Seq<Iface>,
}

impl NetState {
    /// A host-visible interface.
    pub fn host_iface(&self, name: &str) -> Option<&Iface> {
        self.ifaces
            .iter()
            .find(|i| i.name == name && i.vnet.is_none())
    }
    fn idx(&self, name: &str) -> Option<usize> {
        self.ifaces
            .iter()
            .position(|i| i.name == name && i.vnet.is_none())
    }
    fn any(&self, name: &str) -> bool {
        self.ifaces.iter().any(|i| i.name == name)
    }
    /// Names of interfaces visible on the host, as `ifconfig -l` lists them.
    pub fn host_names(&self) -> Vec<String> {
        self.ifaces
            .iter()
            .filter(|i| i.vnet.is_none())
            .map(|i| i.name.clone())
            .collect()
    }
    /// Return every interface held by jail `jid` to the host (vnet teardown).
    pub fn return_from_jail(&mut self, jid: i32) {
        self.ifaces.update_where(
            |i| i.vnet == Some(jid),
            |i| {
                i.vnet = None;
                i.inet.clear();
                i.inet6.clear();
            },
        );
    }
}

/// A fresh host: `lo0` with 127.0.0.1 and `em0` with 192.0.2.10/24 (documentation range).
pub fn init_fresh(s: &mut super::SimState) {
    let mut lo = Iface::new("lo0", IfKind::Loopback);
    lo.up = true;
    lo.inet.push("127.0.0.1/8".into());
    lo.inet6.push("::1/128".into());
    let mut em = Iface::new("em0", IfKind::Ether);
    em.up = true;
    em.inet.push("192.0.2.10/24".into());
    s.net.ifaces = vec![lo, em].into();
}

fn err(msg: impl AsRef<str>) -> Output {
    Output::fail(1, format!("ifconfig: {}\n", msg.as_ref()))
}

const USAGE: &str = "usage: ifconfig [-l] | interface [create] [parameters]\n";

pub fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let Some(first) = args.first() else {
        let mut s = String::new();
        for i in ctx.state.net.ifaces.iter().filter(|i| i.vnet.is_none()) {
            s += &describe(i);
        }
        return Output::ok(s);
    };
    if first == "-l" {
        if args.len() > 1 {
            return Output::fail(1, USAGE);
        }
        return Output::ok(format!("{}\n", ctx.state.net.host_names().join(" ")));
    }
    if first.starts_with('-') {
        return Output::fail(1, USAGE);
    }
    let mut name = first.clone();
    let mut rest = &args[1..];
    if rest.first().map(String::as_str) == Some("create") {
        match create(ctx, first) {
            Ok(n) => name = n,
            Err(o) => return o,
        }
        rest = &rest[1..];
        if rest.is_empty() {
            // ifconfig prints the kernel's name when it differs from the one asked for: a
            // cloner picking its own unit (`bridge create`), or an epair (`epair5` is made as
            // `epair5a`/`epair5b` and prints `epair5a`), as sbin/ifconfig/ifclone.c does.
            return Output::ok(if name != *first {
                format!("{name}\n")
            } else {
                String::new()
            });
        }
    }
    if rest.first().map(String::as_str) == Some("-vnet") {
        return match rest.get(1) {
            Some(j) if rest.len() == 2 => reclaim(ctx, &name, j),
            _ => err("-vnet: missing argument"),
        };
    }
    if ctx.state.net.idx(&name).is_none() {
        return err(format!("interface {name} does not exist"));
    }
    if rest.is_empty() {
        let i = ctx.state.net.host_iface(&name).unwrap();
        return Output::ok(describe(i));
    }
    let mut k = 0;
    while k < rest.len() {
        let word = rest[k].as_str();
        let arg = rest.get(k + 1).cloned();
        let need = |what: &str| -> Result<String, Output> {
            arg.clone()
                .ok_or_else(|| err(format!("{what}: missing argument")))
        };
        let res: Result<usize, Output> = match word {
            "up" => set_up(ctx, &name, true).map(|_| 1),
            "down" => set_up(ctx, &name, false).map(|_| 1),
            "destroy" => return destroy(ctx, &name),
            "name" => need("name").and_then(|new| {
                rename(ctx, &name, &new).map(|_| {
                    name = new;
                    2
                })
            }),
            "addm" => need("addm").and_then(|m| addm(ctx, &name, &m, true).map(|_| 2)),
            "deletem" => need("deletem").and_then(|m| addm(ctx, &name, &m, false).map(|_| 2)),
            "vnet" => need("vnet").and_then(|j| vnet(ctx, &name, &j).map(|_| 2)),
            "inet" | "inet6" => addr(ctx, &name, word == "inet6", &rest[k + 1..]).map(|n| n + 1),
            other => Err(err(format!("{other}: bad value"))),
        };
        match res {
            Ok(n) => k += n,
            Err(o) => return o,
        }
    }
    Output::ok("")
}

fn describe(i: &Iface) -> String {
    let mut s = format!(
        "{}: flags={}<{}> mtu 1500\n",
        i.name,
        if i.up { 8843 } else { 8802 },
        if i.up {
            "UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST"
        } else {
            "BROADCAST,SIMPLEX,MULTICAST"
        }
    );
    for a in &i.inet {
        let (ip, len) = a.split_once('/').unwrap_or((a, "32"));
        let len: u32 = len.parse().unwrap_or(32);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        s += &format!("\tinet {ip} netmask 0x{mask:08x}\n");
    }
    for a in &i.inet6 {
        let (ip, len) = a.split_once('/').unwrap_or((a, "128"));
        s += &format!("\tinet6 {ip} prefixlen {len}\n");
    }
    if let IfKind::Bridge { members } = &i.kind {
        for m in members {
            s += &format!("\tmember: {m} flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n");
        }
    }
    s
}

fn split_unit(s: &str) -> (&str, Option<u32>) {
    let d = s.trim_end_matches(|c: char| c.is_ascii_digit());
    let u = &s[d.len()..];
    (d, if u.is_empty() { None } else { u.parse().ok() })
}

/// `ifconfig CLONER[N] create`; returns the created (host-side) name.
fn create(ctx: &mut Ctx<'_>, spec: &str) -> Result<String, Output> {
    let (cloner, unit) = split_unit(spec);
    let net = &mut ctx.state.net;
    let free = |net: &NetState, f: &dyn Fn(u32) -> Vec<String>| -> u32 {
        (0..).find(|u| f(*u).iter().all(|n| !net.any(n))).unwrap()
    };
    match cloner {
        "epair" => {
            let names = |u: u32| vec![format!("epair{u}a"), format!("epair{u}b")];
            let u = match unit {
                Some(u) => {
                    if names(u).iter().any(|n| net.any(n))
                        || net
                            .ifaces
                            .iter()
                            .any(|i| matches!(i.kind, IfKind::Epair { unit, .. } if unit == u))
                    {
                        return Err(err("SIOCIFCREATE2: File exists"));
                    }
                    u
                }
                // The kernel allocates units, not names: a renamed pair still holds its unit.
                None => (0..)
                    .find(|u| {
                        names(*u).iter().all(|n| !net.any(n))
                            && !net
                                .ifaces
                                .iter()
                                .any(|i| matches!(i.kind, IfKind::Epair { unit, .. } if unit == *u))
                    })
                    .unwrap(),
            };
            let [a, b] = [format!("epair{u}a"), format!("epair{u}b")];
            net.ifaces.push(Iface::new(
                &a,
                IfKind::Epair {
                    unit: u,
                    peer: b.clone(),
                },
            ));
            net.ifaces.push(Iface::new(
                &b,
                IfKind::Epair {
                    unit: u,
                    peer: a.clone(),
                },
            ));
            Ok(a)
        }
        "bridge" | "lo" => {
            let u = match unit {
                Some(u) => {
                    if net.any(&format!("{cloner}{u}")) {
                        return Err(err("SIOCIFCREATE2: File exists"));
                    }
                    u
                }
                None => free(net, &|u| vec![format!("{cloner}{u}")]),
            };
            let n = format!("{cloner}{u}");
            let kind = if cloner == "lo" {
                IfKind::Loopback
            } else {
                IfKind::Bridge { members: vec![] }
            };
            net.ifaces.push(Iface::new(&n, kind));
            Ok(n)
        }
        _ => Err(err("SIOCIFCREATE2: Invalid argument")),
    }
}

fn set_up(ctx: &mut Ctx<'_>, name: &str, up: bool) -> Result<(), Output> {
    let i = ctx.state.net.idx(name).unwrap();
    ctx.state.net.ifaces[i].up = up;
    Ok(())
}

fn destroy(ctx: &mut Ctx<'_>, name: &str) -> Output {
    let net = &mut ctx.state.net;
    let i = net.idx(name).unwrap();
    let peer = match &net.ifaces[i].kind {
        IfKind::Loopback if name == "lo0" => return err("SIOCIFDESTROY: Invalid argument"),
        IfKind::Ether => return err("SIOCIFDESTROY: Invalid argument"),
        IfKind::Epair { peer, .. } => Some(peer.clone()),
        _ => None,
    };
    net.ifaces
        .retain(|x| !(x.name == name && x.vnet.is_none()) && Some(&x.name) != peer.as_ref());
    let member = |m: &String| m == name || Some(m) == peer.as_ref();
    net.ifaces.update_where(
        |x| matches!(&x.kind, IfKind::Bridge { members } if members.iter().any(member)),
        |x| {
            if let IfKind::Bridge { members } = &mut x.kind {
                members.retain(|m| !member(m));
            }
        },
    );
    Output::ok("")
}

fn rename(ctx: &mut Ctx<'_>, name: &str, new: &str) -> Result<(), Output> {
    let net = &mut ctx.state.net;
    if new.len() >= IFNAMSIZ {
        return Err(err("ioctl SIOCSIFNAME (set name): File name too long"));
    }
    if new.is_empty() {
        return Err(err("ioctl SIOCSIFNAME (set name): Invalid argument"));
    }
    if net.any(new) {
        return Err(err("ioctl SIOCSIFNAME (set name): File exists"));
    }
    let i = net.idx(name).unwrap();
    net.ifaces[i].name = new.to_string();
    net.ifaces.update_where(
        |x| match &x.kind {
            IfKind::Epair { peer, .. } => peer == name,
            IfKind::Bridge { members } => members.iter().any(|m| m == name),
            _ => false,
        },
        |x| match &mut x.kind {
            IfKind::Epair { peer, .. } => *peer = new.to_string(),
            IfKind::Bridge { members } => {
                for m in members.iter_mut().filter(|m| *m == name) {
                    *m = new.to_string();
                }
            }
            _ => {}
        },
    );
    Ok(())
}

fn addm(ctx: &mut Ctx<'_>, bridge: &str, member: &str, add: bool) -> Result<(), Output> {
    let op = if add { "BRDGADD" } else { "BRDGDEL" };
    let net = &mut ctx.state.net;
    let bi = net.idx(bridge).unwrap();
    if !matches!(net.ifaces[bi].kind, IfKind::Bridge { .. }) {
        return Err(err(format!("{op} {member}: Invalid argument")));
    }
    if net.idx(member).is_none() {
        return Err(err(format!("{op} {member}: No such file or directory")));
    }
    let in_other = net.ifaces.iter().any(|x| {
        x.name != bridge
            && matches!(&x.kind, IfKind::Bridge { members } if members.iter().any(|m| m == member))
    });
    let IfKind::Bridge { members } = &mut net.ifaces[bi].kind else {
        unreachable!()
    };
    let here = members.iter().any(|m| m == member);
    if add {
        if here || in_other {
            return Err(err(format!("{op} {member}: File exists")));
        }
        members.push(member.to_string());
    } else {
        if !here {
            return Err(err(format!("{op} {member}: Invalid argument")));
        }
        members.retain(|m| m != member);
    }
    Ok(())
}

fn vnet(ctx: &mut Ctx<'_>, name: &str, jail: &str) -> Result<(), Output> {
    let Some(j) = super::jail::find_live(&ctx.state.jail, jail) else {
        return Err(err(format!("jail \"{jail}\" not found")));
    };
    if !j.is_vnet() {
        return Err(err("SIOCSIFVNET: File exists"));
    }
    let jid = j.jid;
    let i = ctx.state.net.idx(name).unwrap();
    let x = &mut ctx.state.net.ifaces[i];
    x.vnet = Some(jid);
    x.inet.clear();
    x.inet6.clear();
    x.up = false;
    ctx.state.net.ifaces.update_where(
        |b| matches!(&b.kind, IfKind::Bridge { members } if members.iter().any(|m| m == name)),
        |b| {
            if let IfKind::Bridge { members } = &mut b.kind {
                members.retain(|m| m != name);
            }
        },
    );
    Ok(())
}

/// `ifconfig IF -vnet JAIL` where `IF` lives in the jail (checked before the host lookup).
pub fn reclaim(ctx: &mut Ctx<'_>, name: &str, jail: &str) -> Output {
    let Some(j) = super::jail::find_live(&ctx.state.jail, jail) else {
        return err(format!("jail \"{jail}\" not found"));
    };
    let jid = j.jid;
    match ctx
        .state
        .net
        .ifaces
        .find_mut(|i| i.name == name && i.vnet == Some(jid))
    {
        Some(i) => {
            i.vnet = None;
            i.inet.clear();
            i.inet6.clear();
            Output::ok("")
        }
        None => err("SIOCSIFRVNET: Invalid argument"),
    }
}

/// `inet ADDR[/len] [netmask M | prefixlen N] [alias | -alias]`; returns words consumed.
fn addr(ctx: &mut Ctx<'_>, name: &str, v6: bool, words: &[String]) -> Result<usize, Output> {
    let fam = if v6 { "inet6" } else { "inet" };
    let Some(a) = words.first() else {
        return Err(err(format!("{fam}: missing argument")));
    };
    let (ip, mut len) = match a.split_once('/') {
        // ifconfig's inet parser reads the width with strtonum(3) bounded to 0..=32 and
        // names what was wrong with it.
        Some((ip, l)) if !v6 => (
            ip,
            Some(v4_width(l).map_err(|why| err(format!("{a}: bad value (width {why})")))?),
        ),
        Some((ip, l)) => (
            ip,
            Some(parse_len(l, v6).ok_or_else(|| err(format!("{a}: bad value")))?),
        ),
        None => (a.as_str(), None),
    };
    if !is_addr(ip, v6) {
        return Err(err(format!("{ip}: bad value")));
    }
    let mut n = 1;
    let mut mode = None;
    while let Some(w) = words.get(n) {
        match w.as_str() {
            "netmask" if !v6 => {
                let m = words
                    .get(n + 1)
                    .ok_or_else(|| err("netmask: missing argument"))?;
                len = Some(mask_len(m).ok_or_else(|| err(format!("{m}: bad value")))?);
                n += 2;
            }
            "prefixlen" if v6 => {
                let m = words
                    .get(n + 1)
                    .ok_or_else(|| err("prefixlen: missing argument"))?;
                len = Some(parse_len(m, true).ok_or_else(|| err(format!("{m}: bad value")))?);
                n += 2;
            }
            "alias" | "add" => {
                mode = Some(true);
                n += 1;
            }
            "-alias" | "delete" => {
                mode = Some(false);
                n += 1;
            }
            _ => break,
        }
    }
    let len = len.unwrap_or(if v6 { 64 } else { 32 });
    let i = ctx.state.net.idx(name).unwrap();
    let x = &mut ctx.state.net.ifaces[i];
    let list = if v6 { &mut x.inet6 } else { &mut x.inet };
    let has = |l: &Vec<String>| l.iter().position(|e| e.split('/').next() == Some(ip));
    match mode {
        Some(false) => match has(list) {
            Some(p) => {
                list.remove(p);
            }
            None => return Err(err("ioctl (SIOCDIFADDR): Can't assign requested address")),
        },
        Some(true) => {
            if has(list).is_some() {
                return Err(err("ioctl (SIOCAIFADDR): File exists"));
            }
            list.push(format!("{ip}/{len}"));
        }
        None => {
            if list.is_empty() {
                list.push(format!("{ip}/{len}"));
            } else {
                list[0] = format!("{ip}/{len}");
            }
        }
    }
    Ok(n)
}
