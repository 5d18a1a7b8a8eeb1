//! VNET through the real binary on `--simulate`: three jails from the shipped `vnet`
//! template on the example fleet's `[bridges.bridge0]` pool, brought up, one restarted, then
//! stopped one by one; the simulated host's interfaces and bridge members are checked at each
//! step, and `list` shows each VNET jail's address (jls reports none for a VNET jail).

use super::support::{examples_config, host_with_base, jailctl};
use jailctl_sim::net::IfKind;
use jailctl_sim::{SimConfig, SimHost, SimState};
use serde_json::Value;
use std::path::Path;

fn state(sim: &Path) -> SimState {
    SimHost::open_with(sim, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap()
}

/// bridge0's members (the uplink em0 among them), sorted.
fn members(st: &SimState) -> Vec<String> {
    let Some(b) = st.net.host_iface("bridge0") else {
        return vec![];
    };
    let IfKind::Bridge { members } = &b.kind else {
        panic!("bridge0 is not a bridge: {:?}", b.kind)
    };
    let mut m = members.clone();
    m.sort();
    m
}

/// Interfaces whose name starts with `e0` (epair ends), as (name, in a jail's vnet).
fn epairs(st: &SimState) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = st
        .net
        .ifaces
        .iter()
        .filter(|i| i.name.starts_with("e0"))
        .map(|i| (i.name.clone(), i.vnet.is_some()))
        .collect();
    v.sort();
    v
}

fn ends(jails: &[&str]) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = jails
        .iter()
        .flat_map(|j| [(format!("e0a_{j}"), false), (format!("e0b_{j}"), true)])
        .collect();
    v.sort();
    v
}

fn list(sim: &Path, cfg: &Path) -> Vec<Value> {
    let out = jailctl(sim, cfg).args(["list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn entry<'a>(l: &'a [Value], name: &str) -> &'a Value {
    l.iter().find(|j| j["name"] == name).unwrap()
}

#[test]
fn three_vnet_jails_on_one_bridge_up_restart_down() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    for (name, extra) in [
        ("va", ""),
        ("vb", ""),
        ("vc", "ip4 = [\"10.20.0.50/24\"]\n"),
    ] {
        std::fs::write(
            cfg.join(format!("jails/{name}.toml")),
            format!(
                "extends = \"vnet\"\nhostname = \"{name}.example.org\"\n\n[network]\nmode = \"vnet\"\nbridge = \"bridge0\"\n{extra}"
            ),
        )
        .unwrap();
    }

    jailctl(&s, &cfg)
        .args(["up", "va", "vb", "vc"])
        .assert()
        .success();
    let st = state(&s);
    assert_eq!(members(&st), ["e0a_va", "e0a_vb", "e0a_vc", "em0"]);
    assert_eq!(epairs(&st), ends(&["va", "vb", "vc"]));
    let l = list(&s, &cfg);
    let ip = |l: &[Value], n: &str| entry(l, n)["ip4"].clone();
    assert_eq!(entry(&l, "va")["state"], "running");
    let (a, b) = (ip(&l, "va"), ip(&l, "vb"));
    assert_eq!(ip(&l, "vc"), serde_json::json!(["10.20.0.50"]));
    for addr in [&a, &b] {
        let a = addr.as_array().unwrap();
        assert_eq!(a.len(), 1, "{l:?}");
        assert!(a[0].as_str().unwrap().starts_with("10.20.0."), "{l:?}");
    }
    assert_ne!(a, b, "two jails got the same pool address");
    // The text list shows them too.
    let text = jailctl(&s, &cfg).args(["list"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("vc ") && l.contains("10.20.0.50")),
        "{text}"
    );

    // A restart replaces vb's epair; the bridge keeps every member and vb its address.
    let jid = entry(&l, "vb")["jid"].clone();
    jailctl(&s, &cfg).args(["restart", "vb"]).assert().success();
    let st = state(&s);
    assert_eq!(members(&st), ["e0a_va", "e0a_vb", "e0a_vc", "em0"]);
    assert_eq!(epairs(&st), ends(&["va", "vb", "vc"]));
    let l = list(&s, &cfg);
    assert_ne!(entry(&l, "vb")["jid"], jid);
    assert_eq!(ip(&l, "vb"), b);

    // down takes each jail's epair off the bridge and destroys it.
    jailctl(&s, &cfg).args(["down", "va"]).assert().success();
    let st = state(&s);
    assert_eq!(members(&st), ["e0a_vb", "e0a_vc", "em0"]);
    assert_eq!(epairs(&st), ends(&["vb", "vc"]));
    let l = list(&s, &cfg);
    // A removed VNET jail stays dying a moment (the simulated kernel reaps it at the next
    // jail(8) command); either way it has no address.
    let st_va = entry(&l, "va")["state"].as_str().unwrap().to_string();
    assert!(st_va == "dying" || st_va == "stopped", "{st_va}");
    assert_eq!(ip(&l, "va"), serde_json::json!([]));

    jailctl(&s, &cfg)
        .args(["down", "vb", "vc"])
        .assert()
        .success();
    let st = state(&s);
    // Only the uplink stays on the bridge.
    assert_eq!(members(&st), ["em0"]);
    assert_eq!(epairs(&st), vec![]);
    // Up again: the same addresses come back (recorded in jailctl:ip4).
    jailctl(&s, &cfg)
        .args(["up", "va", "vb", "vc"])
        .assert()
        .success();
    let l = list(&s, &cfg);
    assert_eq!((ip(&l, "va"), ip(&l, "vb")), (a, b));
    assert_eq!(members(&state(&s)), ["e0a_va", "e0a_vb", "e0a_vc", "em0"]);
}
