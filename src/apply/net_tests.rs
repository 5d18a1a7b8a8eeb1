//! Tests of VNET naming, addressing, pre-flight checks and rendering (`vnet`) together with
//! the steps that run them (`apply::net`), on the simulated host.

use crate::config::spec::{Global, JailSpec, Network};
use crate::host::{Cmd, tools};
use crate::observe::HostState;
use crate::vnet::*;

use crate::apply::net::*;
use crate::apply::{Op, Undo};
use crate::config::spec::BridgeSpec;
use crate::host::{Host, Runner};
use crate::observe::{Dataset, JailInfo};
use ipnet::Ipv4Net;
use jailctl_core::fixtures::{global as base_global, spec};
use jailctl_sim::SimHost;
use jailctl_sim::faults::{FaultRule, SimConfig};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

fn global() -> Global {
    let mut g = base_global();
    g.bridges.insert(
        "bridge0".into(),
        BridgeSpec {
            name: "bridge0".into(),
            create: true,
            uplink: Some("em0".into()),
            ip4_pool: Some("10.0.0.0/24".parse().unwrap()),
            gateway4: Some("10.0.0.1".parse().unwrap()),
            nat: None,
        },
    );
    g
}

fn vnet(name: &str, ip4: &[&str]) -> JailSpec {
    let mut s = spec(name);
    s.network = Network::Vnet {
        bridge: "bridge0".into(),
        // A bare address reads as /32, as the configuration loader does.
        ip4: ip4
            .iter()
            .map(|a| {
                a.parse()
                    .unwrap_or_else(|_| Ipv4Net::from(a.parse::<Ipv4Addr>().unwrap()))
            })
            .collect(),
        ip6: vec![],
        gateway4: Some("10.0.0.1".parse().unwrap()),
        gateway6: None,
    };
    s
}

fn host() -> HostState {
    HostState {
        vimage: true,
        interfaces: vec!["lo0".into(), "em0".into()],
        ..HostState::default()
    }
}

fn record(h: &mut HostState, jail: &str, ip4: &str) {
    let name = format!("zroot/jailctl/jails/{jail}");
    let mut props = BTreeMap::new();
    props.insert("jailctl:managed".to_string(), "yes".to_string());
    props.insert(IP4_PROP.to_string(), ip4.to_string());
    h.datasets.insert(name.clone(), Dataset { name, props });
}

fn addr_of(r: &Resolved) -> String {
    match &r.spec.network {
        Network::Vnet { ip4, .. } => ip4
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(","),
        _ => panic!("not vnet"),
    }
}

#[test]
fn short_names_are_readable() {
    let n = epair_names("web");
    assert_eq!((n.host.as_str(), n.jail.as_str()), ("e0a_web", "e0b_web"));
    let n = epair_names("abcdefghijk"); // 11 characters: the longest short form
    assert_eq!(n.host, "e0a_abcdefghijk");
    assert_eq!(n.host.len(), MAX_IFNAME);
}

#[test]
fn long_names_are_cut_with_a_hash_and_stay_distinct() {
    let long = "a".repeat(63);
    let n = epair_names(&long);
    assert!(
        n.host.len() <= MAX_IFNAME && n.jail.len() <= MAX_IFNAME,
        "{n:?}"
    );
    assert!(n.host.starts_with("e1a_aaaaa") && n.jail.starts_with("e1b_aaaaa"));
    // Stable: the same name always gives the same interfaces.
    assert_eq!(epair_names(&long), n);
    // Names that only differ after the cut do not clash.
    let a = epair_names("webserver-production-01");
    let b = epair_names("webserver-production-02");
    assert_ne!(a.host, b.host);
    assert_ne!(a.jail, b.jail);
    // A short name that looks like a cut one cannot clash with it: different prefix.
    let cut = epair_names("abcdefghijkl");
    let stem_and_tag = cut.host.strip_prefix("e1a_").unwrap();
    assert_eq!(stem_and_tag.len(), 11);
    assert_ne!(epair_names(stem_and_tag).host, cut.host);
    // Many long names sharing a prefix: all distinct and all within the limit.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..500 {
        let n = epair_names(&format!("customer-site-{i:04}"));
        assert!(n.host.len() <= MAX_IFNAME);
        assert!(seen.insert(n.host), "clash at {i}");
    }
}

#[test]
fn a_hash_clash_between_definitions_is_refused() {
    // Find two long names with the same 5-character stem and the same 24-bit hash (a few
    // thousand names suffice, by the birthday bound), then check resolve refuses the pair.
    let mut by_iface = BTreeMap::new();
    let mut pair = None;
    for i in 0..200_000u32 {
        let name = format!("clash{i:x}-jail");
        if let Some(other) = by_iface.insert(epair_names(&name).host, name.clone()) {
            pair = Some((other, name));
            break;
        }
    }
    let (a, b) = pair.expect("a hash clash among 200 000 names");
    let specs = vec![vnet(&a, &["10.0.0.5/24"]), vnet(&b, &["10.0.0.6/24"])];
    let e = resolve(&specs[0], &global(), &host(), &specs).unwrap_err();
    assert!(matches!(e, VnetError::NameClash { .. }), "{e}");
    assert!(
        crate::host::explain(&e).contains("rename one of them"),
        "{e}"
    );
}

#[test]
fn automatic_addresses_are_deterministic_and_skip_reserved_and_taken() {
    let g = global();
    let h = host();
    // "c" has a fixed .2, so the pool order (a, b, d) starts at .3.
    let specs = vec![
        vnet("d", &[]),
        vnet("b", &[]),
        vnet("c", &["10.0.0.2/24"]),
        vnet("a", &[]),
    ];
    let got: Vec<String> = ["a", "b", "d"]
        .iter()
        .map(|n| {
            let s = specs.iter().find(|s| s.name == *n).unwrap();
            addr_of(&resolve(s, &g, &h, &specs).unwrap())
        })
        .collect();
    assert_eq!(got, ["10.0.0.3/24", "10.0.0.4/24", "10.0.0.5/24"]);
    // The allocation is recorded for the dataset.
    let r = resolve(&specs[0], &g, &h, &specs).unwrap();
    assert_eq!(
        r.props.get(IP4_PROP).map(String::as_str),
        Some("10.0.0.5/24")
    );
    // A fixed address is not recorded.
    assert!(resolve(&specs[2], &g, &h, &specs).unwrap().props.is_empty());
    // A fixed address without a prefix takes the pool's.
    let bare = vec![vnet("e", &["10.0.0.9"])];
    assert_eq!(
        addr_of(&resolve(&bare[0], &g, &h, &bare).unwrap()),
        "10.0.0.9/24"
    );
}

#[test]
fn recorded_addresses_are_kept_and_block_others() {
    let g = global();
    let mut h = host();
    // "z" was up first and got .2; a new jail "a" sorts before it but must not take .2.
    record(&mut h, "z", "10.0.0.2/24");
    let specs = vec![vnet("a", &[]), vnet("z", &[])];
    assert_eq!(
        addr_of(&resolve(&specs[1], &g, &h, &specs).unwrap()),
        "10.0.0.2/24"
    );
    assert_eq!(
        addr_of(&resolve(&specs[0], &g, &h, &specs).unwrap()),
        "10.0.0.3/24"
    );
    // A jail whose definition is gone still holds its recorded address.
    record(&mut h, "gone", "10.0.0.3/24");
    assert_eq!(
        addr_of(&resolve(&specs[0], &g, &h, &specs).unwrap()),
        "10.0.0.4/24"
    );
    // A fixed address equal to a recorded one of another jail is refused.
    let fixed = vec![vnet("a", &["10.0.0.2/24"]), vnet("z", &[])];
    let e = resolve(&fixed[0], &g, &h, &fixed).unwrap_err();
    assert_eq!(
        crate::host::explain(&e),
        "jail `a`: address 10.0.0.2 is already used by jail `z` (recorded on its dataset); give one of them another address"
    );
}

#[test]
fn fixed_addresses_are_checked_against_the_pool() {
    let g = global();
    let h = host();
    let check = |a: &str| {
        let specs = vec![vnet("web", &[a]), vnet("db", &["10.0.0.7/24"])];
        let e = resolve(&specs[0], &g, &h, &specs).map(|_| ()).unwrap_err();
        crate::host::explain(&e)
    };
    assert_eq!(
        check("192.168.1.5/24"),
        "jail `web`: address 192.168.1.5/24 is outside the pool 10.0.0.0/24 of bridge bridge0; use an address inside 10.0.0.0/24 or change ip4_pool"
    );
    assert!(check("10.0.0.0/24").contains("network address"));
    assert!(check("10.0.0.255/24").contains("broadcast address"));
    assert!(check("10.0.0.1/24").contains("is the gateway of 10.0.0.0/24"));
    assert!(check("10.0.0.7/24").contains("already used by jail `db` (fixed in its definition)"));
}

#[test]
fn a_full_pool_is_refused() {
    let mut g = global();
    let b = g.bridges.get_mut("bridge0").unwrap();
    b.ip4_pool = Some("10.0.0.0/30".parse().unwrap()); // hosts .1 (gateway) and .2
    let specs = vec![vnet("a", &[]), vnet("b", &[])];
    assert_eq!(
        addr_of(&resolve(&specs[0], &g, &host(), &specs).unwrap()),
        "10.0.0.2/30"
    );
    let e = resolve(&specs[1], &g, &host(), &specs).unwrap_err();
    assert_eq!(
        crate::host::explain(&e),
        "jail `b`: the pool 10.0.0.0/30 of bridge bridge0 has no free address left; enlarge ip4_pool or give the jail a fixed ip4"
    );
}

#[test]
fn host_checks_name_the_fix() {
    let specs = vec![vnet("web", &[])];
    let mut h = host();
    h.vimage = false;
    let e = resolve(&specs[0], &global(), &h, &specs).unwrap_err();
    assert!(crate::host::explain(&e).contains("options VIMAGE"), "{e}");

    let mut g = global();
    g.bridges.get_mut("bridge0").unwrap().create = false;
    let e = resolve(&specs[0], &g, &host(), &specs).unwrap_err();
    assert!(matches!(e, VnetError::BridgeMissing { .. }), "{e}");
    assert!(
        crate::host::explain(&e).contains("set create = true in [bridges.bridge0]"),
        "{e}"
    );
    // Present on the host: fine without create.
    let mut h = host();
    h.interfaces.push("bridge0".into());
    assert!(resolve(&specs[0], &g, &h, &specs).is_ok());

    let mut g = global();
    g.bridges.get_mut("bridge0").unwrap().uplink = Some("igb0".into());
    let e = resolve(&specs[0], &g, &host(), &specs).unwrap_err();
    assert!(
        crate::host::explain(&e).contains("uplink igb0 of bridge bridge0 does not exist"),
        "{e}"
    );
}

#[test]
fn rc_conf_has_addresses_routes_and_rc_safe_names() {
    let mut s = vnet("my-web", &["10.0.0.5/24", "10.0.0.6/24"]);
    if let Network::Vnet { ip6, gateway6, .. } = &mut s.network {
        ip6.push("2001:db8::5/64".parse().unwrap());
        *gateway6 = Some("2001:db8::1".parse().unwrap());
    }
    assert_eq!(
        rc_conf_lines(&s),
        "ifconfig_e0b_my_web=\"inet 10.0.0.5/24\"\n\
         ifconfig_e0b_my_web_alias0=\"inet 10.0.0.6/24\"\n\
         ifconfig_e0b_my_web_ipv6=\"inet6 2001:db8::5/64\"\n\
         defaultrouter=\"10.0.0.1\"\n\
         ipv6_defaultrouter=\"2001:db8::1\"\n"
    );
    assert_eq!(rc_conf_lines(&spec("web")), "");
}

#[test]
fn rendered_vnet_conf_is_accepted_by_jail_conf_parser() {
    let s = vnet("web", &["10.0.0.5/24"]);
    let r = crate::render::render(&s, &global()).unwrap();
    insta::assert_snapshot!(r.conf);
    insta::assert_snapshot!(r.rc_conf);
    let conf = jailctl_sim::jailconf::parse_str(&r.conf, "/var/run/jailctl/web.conf")
        .unwrap_or_else(|e| panic!("{e}\n{}", r.conf));
    let j = conf.resolve("web").unwrap();
    assert_eq!(j.string("vnet").as_deref(), Some("true"));
    assert_eq!(j.list("vnet.interface"), ["e0b_web"]);
    assert_eq!(j.string("devfs_ruleset").as_deref(), Some("5"));
    // An address change is a network change (restart), not a live file rewrite.
    let moved = crate::render::render(&vnet("web", &["10.0.0.9/24"]), &global()).unwrap();
    assert_eq!(moved.parts.changed(&r.parts), ["net", "files"]);
}

#[test]
fn a_devfs_ruleset_parameter_wins() {
    let mut s = vnet("web", &["10.0.0.5/24"]);
    s.params.insert(
        "devfs_ruleset".into(),
        crate::config::spec::ParamValue::Int(13),
    );
    let r = crate::render::render(&s, &global()).unwrap();
    assert_eq!(r.conf.matches("devfs_ruleset").count(), 1, "{}", r.conf);
    assert!(r.conf.contains("devfs_ruleset = \"13\";"), "{}", r.conf);
}

fn sim(faults: Vec<FaultRule>) -> (tempfile::TempDir, SimHost) {
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open_with(
        &d.path().join("sim"),
        SimConfig {
            faults,
            ..SimConfig::default()
        },
    )
    .unwrap();
    h.run(&create_bridge_cmd("bridge0", Some("em0"))).unwrap();
    (d, h)
}

fn op() -> EpairOp {
    EpairOp {
        jail: "web".into(),
        names: epair_names("web"),
        bridge: "bridge0".into(),
    }
}

fn ifaces(h: &SimHost) -> Vec<String> {
    h.snapshot().unwrap().net.host_names()
}

fn members(h: &SimHost, bridge: &str) -> Vec<String> {
    let st = h.snapshot().unwrap();
    match &st.net.host_iface(bridge).unwrap().kind {
        jailctl_sim::net::IfKind::Bridge { members } => members.clone(),
        k => panic!("{k:?}"),
    }
}

#[test]
fn create_epair_names_both_ends_and_joins_the_bridge() {
    let (_d, h) = sim(vec![]);
    create_epair(&h, &op(), &mut |_| Ok(())).unwrap();
    assert_eq!(ifaces(&h), ["lo0", "em0", "bridge0", "e0a_web", "e0b_web"]);
    assert_eq!(members(&h, "bridge0"), ["em0", "e0a_web"]);
    // The renamed pair still holds its unit: asking for it again is refused as FreeBSD
    // refuses it (sbin/ifconfig err(1, "SIOCIFCREATE2") on EEXIST), a free one is made and
    // printed as its `a` end.
    let u = first_unit("web");
    let out = h
        .output(&Cmd::new(
            tools::IFCONFIG,
            [format!("epair{u}"), "create".into()],
        ))
        .unwrap();
    assert_eq!(
        (out.status, out.stderr.as_str()),
        (1, "ifconfig: SIOCIFCREATE2: File exists\n")
    );
    let other = (u + 1) % EPAIR_UNITS;
    let out = h
        .run(&Cmd::new(
            tools::IFCONFIG,
            [format!("epair{other}"), "create".into()],
        ))
        .unwrap();
    assert_eq!(out.stdout, format!("epair{other}a\n"));
    h.run(&destroy_cmd(&format!("epair{other}a"))).unwrap();
    // A second pair for the same jail is refused by the kernel, and leaves nothing behind.
    let e = create_epair(&h, &op(), &mut |_| Ok(())).unwrap_err();
    assert!(e.to_string().contains("File exists"), "{e}");
    assert_eq!(ifaces(&h), ["lo0", "em0", "bridge0", "e0a_web", "e0b_web"]);
    h.run(&destroy_cmd("e0a_web")).unwrap();
    assert_eq!(ifaces(&h), ["lo0", "em0", "bridge0"]);
    assert_eq!(members(&h, "bridge0"), ["em0"]);
}

#[test]
fn a_failure_inside_create_epair_leaves_no_interface() {
    for pattern in [
        "ifconfig epair* create",
        "ifconfig epair* up name e0a_web",
        "ifconfig epair* name e0b_web",
        "ifconfig bridge0 addm e0a_web",
    ] {
        let (_d, h) = sim(vec![FaultRule {
            pattern: pattern.into(),
            nth: 1,
            count: 1,
            status: 1,
            stderr: "ifconfig: injected\n".into(),
        }]);
        let e = create_epair(&h, &op(), &mut |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("injected"), "{pattern}: {e}");
        assert_eq!(ifaces(&h), ["lo0", "em0", "bridge0"], "{pattern}");
        assert_eq!(members(&h, "bridge0"), ["em0"], "{pattern}");
    }
}

#[test]
fn stop_steps_clean_up_running_dying_and_stale_pairs() {
    let mut h = host();
    // Nothing on the host: nothing to do.
    assert!(stop_steps("web", &h, Some("bridge0")).is_empty());
    // Running: destroy the host end, and the undo re-creates the pair.
    h.interfaces.push("e0a_web".into());
    h.jails.insert(
        "web".into(),
        JailInfo {
            jid: 3,
            name: "web".into(),
            ..JailInfo::default()
        },
    );
    let s = stop_steps("web", &h, Some("bridge0"));
    assert!(
        matches!(&s[..], [NetStep::DestroyEpair { iface, restore: Some(_) }] if iface == "e0a_web"),
        "{s:?}"
    );
    // Dying: destroy it, nothing to restore.
    h.jails.get_mut("web").unwrap().dying = true;
    let s = stop_steps("web", &h, Some("bridge0"));
    assert!(
        matches!(&s[..], [NetStep::DestroyEpair { restore: None, .. }]),
        "{s:?}"
    );
    // Only the jail end came back (stopped behind jailctl's back): destroy that one.
    h.jails.clear();
    h.interfaces = vec!["em0".into(), "e0b_web".into()];
    let s = stop_steps("web", &h, None);
    assert!(
        matches!(&s[..], [NetStep::DestroyEpair { iface, .. }] if iface == "e0b_web"),
        "{s:?}"
    );
}

#[test]
fn bridge_commands() {
    assert_eq!(
        create_bridge_cmd("bridge3", Some("em0")).to_string(),
        "/sbin/ifconfig bridge3 create addm em0 up"
    );
    assert_eq!(
        create_bridge_cmd("jailnet", None).to_string(),
        "/sbin/ifconfig bridge create name jailnet up"
    );
    let (_d, h) = sim(vec![]);
    h.run(&create_bridge_cmd("jailnet", None)).unwrap();
    assert!(ifaces(&h).contains(&"jailnet".to_string()));
}

#[test]
fn ensure_bridge_is_idempotent_and_its_undo_spares_a_used_bridge() {
    let (_d, h) = sim(vec![]); // bridge0 with em0 exists
    let ensure = NetOp::EnsureBridge {
        bridge: "bridge0".into(),
        uplink: Some("em0".into()),
    };
    run(&h, &ensure).unwrap();
    assert_eq!(ifaces(&h), ["lo0", "em0", "bridge0"]);
    create_epair(&h, &op(), &mut |_| Ok(())).unwrap();
    let drop = NetOp::DropUnusedBridge {
        bridge: "bridge0".into(),
        uplink: Some("em0".into()),
    };
    // A jail's epair is a member: the bridge stays.
    run(&h, &drop).unwrap();
    assert_eq!(members(&h, "bridge0"), ["em0", "e0a_web"]);
    // Only the uplink left: it goes; a second drop finds nothing to do.
    h.run(&destroy_cmd("e0a_web")).unwrap();
    run(&h, &drop).unwrap();
    assert_eq!(ifaces(&h), ["lo0", "em0"]);
    run(&h, &drop).unwrap();
    // Created when missing.
    run(&h, &ensure).unwrap();
    assert_eq!(members(&h, "bridge0"), ["em0"]);
}

#[test]
fn net_undo_survives_the_journal() {
    let u = Undo::Net(NetOp::Epair(op()));
    let json = serde_json::to_string(&u).unwrap();
    assert_eq!(serde_json::from_str::<Undo>(&json).unwrap(), u);
    let u = Undo::Net(NetOp::DropUnusedBridge {
        bridge: "bridge0".into(),
        uplink: None,
    });
    let json = serde_json::to_string(&u).unwrap();
    assert_eq!(serde_json::from_str::<Undo>(&json).unwrap(), u);
    assert_eq!(
        Undo::Net(NetOp::Epair(op())).to_string(),
        "re-create epair e0a_web/e0b_web on bridge0"
    );
}

#[test]
fn plans_create_the_bridge_once_and_restart_replaces_the_pair() {
    use crate::plan::{Step, plan};
    let g = global();
    let mut h = host();
    let snap = "zroot/jailctl/bases/14.2-RELEASE@jailctl".to_string();
    h.datasets.insert(
        snap.clone(),
        Dataset {
            name: snap,
            props: BTreeMap::new(),
        },
    );
    let specs = vec![vnet("a", &[]), vnet("b", &[])];
    let p = plan(&specs, &g, &h, &[]).unwrap();
    let net: Vec<String> = p
        .steps()
        .filter(|(_, s)| matches!(s, Step::Net(_) | Step::CreateJail { .. }))
        .map(|(j, s)| format!("{j}: {s}"))
        .collect();
    assert_eq!(
        net,
        [
            "a: create bridge bridge0",
            "a: create epair e0a_a/e0b_a on bridge0",
            "a: start jail a",
            "b: create epair e0a_b/e0b_b on bridge0",
            "b: start jail b",
        ]
    );
    // The dry run shows the real commands.
    let text = crate::apply::dry_run(&p);
    assert!(
        text.contains("/sbin/ifconfig bridge0 create addm em0 up  # unless bridge0 exists"),
        "{text}"
    );
    assert!(
        text.contains("/sbin/ifconfig epairNa up name e0a_b"),
        "{text}"
    );
}

/// A simulated host with a base snapshot and /etc/resolv.conf, ready for `ops::up`.
fn sim_with_base() -> (tempfile::TempDir, SimHost) {
    use crate::host::HostFs;
    use std::path::Path;
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open_with(&d.path().join("sim"), SimConfig::default()).unwrap();
    let zfs = |a: &[&str]| {
        h.run(&Cmd::new(tools::ZFS, a.iter().copied())).unwrap();
    };
    zfs(&["create", "-p", "zroot/jailctl/bases/14.2-RELEASE"]);
    for sub in ["dev", "etc"] {
        h.mkdir_p(
            &Path::new("/zroot/jailctl/bases/14.2-RELEASE").join(sub),
            0o755,
        )
        .unwrap();
    }
    zfs(&["snapshot", "zroot/jailctl/bases/14.2-RELEASE@jailctl"]);
    zfs(&["create", "-p", "zroot/jailctl/jails"]);
    h.mkdir_p(Path::new("/etc"), 0o755).unwrap();
    h.write(
        Path::new("/etc/resolv.conf"),
        b"nameserver 192.0.2.53\n",
        0o644,
    )
    .unwrap();
    (d, h)
}

#[test]
fn a_run_killed_after_the_epair_is_undone_by_the_next_up() {
    let (_d, h) = sim_with_base();
    let g = global();
    let specs = vec![vnet("web", &[])];
    let state = crate::observe::observe(&h, &g).unwrap();
    let plan = crate::plan::plan(&specs, &g, &state, &[]).unwrap();
    let ops = crate::apply::plan_ops(&plan);
    let after_epair = ops
        .iter()
        .position(|(_, o)| matches!(o, Op::Net(NetOp::Epair(_))))
        .unwrap()
        + 1;
    crate::apply::exec::apply_inner(&h, &plan, Some(after_epair), None).unwrap();
    // Killed: bridge and pair exist, the journal says how to undo them.
    assert_eq!(ifaces(&h), ["lo0", "em0", "bridge0", "e0a_web", "e0b_web"]);
    let out = crate::ops::up(&h, &specs, &g, &[], &crate::ops::Opts::default()).unwrap();
    assert_eq!(out.recovered.len(), 1);
    assert!(out.recovered[0].failed.is_empty(), "{}", out.recovered[0]);
    // One pair, its jail end inside the new jail.
    assert_eq!(ifaces(&h), ["lo0", "em0", "bridge0", "e0a_web"]);
    let st = h.snapshot().unwrap();
    let jid = st.jail.jails["web"].jid;
    assert!(
        st.net
            .ifaces
            .iter()
            .any(|i| i.name == "e0b_web" && i.vnet == Some(jid))
    );
}

#[test]
fn create_epair_notes_each_unit_before_trying_it_and_skips_taken_ones() {
    let (_d, h) = sim(vec![]);
    let u = first_unit("web");
    // Another pair holds the unit web would try first (renamed, so invisible by unit).
    h.run(&Cmd::new(
        tools::IFCONFIG,
        [format!("epair{u}"), "create".into()],
    ))
    .unwrap();
    h.run(&ifconfig([
        format!("epair{u}a"),
        "name".into(),
        "mine0".into(),
    ]))
    .unwrap();
    let mut noted = vec![];
    let mut seen_before = vec![];
    create_epair(&h, &op(), &mut |n| {
        noted.push(n);
        seen_before.push(ifaces(&h));
        Ok(())
    })
    .unwrap();
    let next = (u + 1) % EPAIR_UNITS;
    assert_eq!(noted, [u, next]);
    // Each unit was noted before anything of the pair existed.
    for seen in &seen_before {
        assert!(!seen.iter().any(|i| i.contains("_web")), "{seen:?}");
    }
    let st = h.snapshot().unwrap();
    let kinds: Vec<_> = st
        .net
        .ifaces
        .iter()
        .filter(|i| i.name.ends_with("_web"))
        .map(|i| (i.name.clone(), i.kind.clone()))
        .collect();
    assert!(
        kinds.iter().all(
            |(_, k)| matches!(k, jailctl_sim::net::IfKind::Epair { unit, .. } if *unit == next)
        ),
        "{kinds:?}"
    );
    // A note that cannot be recorded stops before the pair is created.
    h.run(&destroy_cmd("e0a_web")).unwrap();
    let before = ifaces(&h);
    let e = create_epair(&h, &op(), &mut |_| {
        Err(crate::apply::net::NetError::Journal {
            path: "/var/db/jailctl/journal/web.json".into(),
            source: std::io::ErrorKind::ReadOnlyFilesystem.into(),
        })
    })
    .unwrap_err();
    assert!(
        matches!(&e, crate::apply::net::NetError::Journal { path, .. } if path.ends_with("web.json")),
        "{e}"
    );
    assert_eq!(ifaces(&h), before);
}

/// A host that dies (every later command and file access fails, as after SIGKILL: nothing
/// more happens, nothing is cleaned up) right after the first command containing `after`.
struct KilledAfter<'a> {
    inner: &'a SimHost,
    after: String,
    dead: std::cell::Cell<bool>,
}

impl KilledAfter<'_> {
    fn gone(&self) -> std::io::Error {
        std::io::Error::other("killed")
    }
    fn check(&self) -> std::io::Result<()> {
        if self.dead.get() {
            Err(self.gone())
        } else {
            Ok(())
        }
    }
}

impl Runner for KilledAfter<'_> {
    fn output(&self, cmd: &Cmd) -> Result<crate::host::Output, crate::host::ProcessError> {
        self.check()
            .map_err(|source| crate::host::ProcessError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        let out = self.inner.output(cmd);
        if cmd.to_string().contains(&self.after) {
            self.dead.set(true);
        }
        out
    }
    fn interactive(&self, cmd: &Cmd) -> Result<i32, crate::host::ProcessError> {
        Err(crate::host::ProcessError::Spawn {
            cmd: cmd.clone(),
            source: self.gone(),
        })
    }
}

impl crate::host::HostFs for KilledAfter<'_> {
    fn read(&self, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
        self.check()?;
        self.inner.read(path)
    }
    fn write(&self, path: &std::path::Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        self.check()?;
        self.inner.write(path, contents, mode)
    }
    fn append(&self, path: &std::path::Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        self.check()?;
        self.inner.append(path, contents, mode)
    }
    fn mkdir_p(&self, path: &std::path::Path, mode: u32) -> std::io::Result<()> {
        self.check()?;
        self.inner.mkdir_p(path, mode)
    }
    fn exists(&self, path: &std::path::Path) -> bool {
        !self.dead.get() && self.inner.exists(path)
    }
    fn remove_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.check()?;
        self.inner.remove_file(path)
    }
    fn remove_dir(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.check()?;
        self.inner.remove_dir(path)
    }
    fn read_dir(&self, path: &std::path::Path) -> std::io::Result<Vec<String>> {
        self.check()?;
        self.inner.read_dir(path)
    }
    fn local_path(&self, path: &std::path::Path) -> std::path::PathBuf {
        self.inner.local_path(path)
    }
    fn write_in_root(
        &self,
        root: &std::path::Path,
        rel: &std::path::Path,
        contents: &[u8],
        mode: u32,
    ) -> std::io::Result<()> {
        self.check()?;
        self.inner.write_in_root(root, rel, contents, mode)
    }
    fn read_in_root(
        &self,
        root: &std::path::Path,
        rel: &std::path::Path,
    ) -> std::io::Result<Vec<u8>> {
        self.check()?;
        self.inner.read_in_root(root, rel)
    }
    fn mkdir_in_root(&self, root: &std::path::Path, rel: &std::path::Path) -> std::io::Result<()> {
        self.check()?;
        self.inner.mkdir_in_root(root, rel)
    }
    fn remove_in_root(&self, root: &std::path::Path, rel: &std::path::Path) -> std::io::Result<()> {
        self.check()?;
        self.inner.remove_in_root(root, rel)
    }
}

impl Host for KilledAfter<'_> {
    fn simulated(&self) -> Option<String> {
        self.inner.simulated()
    }
}

#[test]
fn a_run_killed_inside_the_epair_op_leaves_no_interface_after_the_next_up() {
    let u = first_unit("web");
    // Whether the pair is still unnamed (epairNa, or epairNb once the first end is renamed).
    for (after, unnamed) in [
        (format!("epair{u} create"), true),
        (format!("epair{u}a up name e0a_web"), true),
        (format!("epair{u}b name e0b_web"), false),
        ("bridge0 addm e0a_web".to_string(), false),
    ] {
        let (_d, h) = sim_with_base();
        let g = global();
        let specs = vec![vnet("web", &[])];
        let state = crate::observe::observe(&h, &g).unwrap();
        let plan = crate::plan::plan(&specs, &g, &state, &[]).unwrap();
        let killed = KilledAfter {
            inner: &h,
            after: after.clone(),
            dead: std::cell::Cell::new(false),
        };
        assert!(crate::apply::exec::apply_inner(&killed, &plan, None, None).is_err());
        assert!(killed.dead.get(), "{after}: never ran");
        // Killed: something of the pair is on the host, under a kernel or a jail name.
        let left = ifaces(&h);
        assert!(
            left.iter()
                .any(|i| i.starts_with("epair") || i.ends_with("_web")),
            "{after}: {left:?}"
        );
        let out = crate::ops::up(&h, &specs, &g, &[], &crate::ops::Opts::default()).unwrap();
        assert_eq!(out.recovered.len(), 1, "{after}");
        let r = &out.recovered[0];
        assert!(r.failed.is_empty(), "{after}: {r}");
        // The journaled unit destroyed the pair while it was unnamed, and only then.
        let by_unit: Vec<&String> = r.undone.iter().filter(|x| x.contains("epair")).collect();
        assert_eq!(by_unit.len(), usize::from(unnamed), "{after}: {r:?}");
        // Exactly one pair: the jail's, its jail end inside the new jail; no epairN left.
        assert_eq!(ifaces(&h), ["lo0", "em0", "bridge0", "e0a_web"], "{after}");
    }
}
