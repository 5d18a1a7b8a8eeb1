//! VNET end to end on the simulated host, in process through `ops::up/down/restart` (the
//! lifecycle CLI was not on main when this was written): definitions loaded from TOML, three
//! jails on one bridge, a restart, down, and a fault injected at every VNET command.

use jailctl::config::{self, Config};
use jailctl::host::{Cmd, HostFs, Runner, tools};
use jailctl::ops::{self, Opts};
use jailctl_sim::SimHost;
use jailctl_sim::faults::{FaultRule, SimConfig};
use jailctl_sim::net::IfKind;
use std::path::Path;

const GLOBAL: &str = r#"zfs_root = "zroot/jailctl"
mount_root = "/usr/local/jails"
default_base = "14.2-RELEASE"
[bridges.bridge0]
create = true
uplink = "em0"
ip4_pool = "10.0.0.0/24"
gateway4 = "10.0.0.1"
"#;

fn jail_toml(ip4: Option<&str>) -> String {
    let mut s = String::from("[network]\nmode = \"vnet\"\nbridge = \"bridge0\"\n");
    if let Some(a) = ip4 {
        s += &format!("ip4 = [\"{a}\"]\n");
    }
    s
}

struct Env {
    _dir: tempfile::TempDir,
    host: SimHost,
    cfg: Config,
}

/// A simulated host with a base snapshot, and a config dir with `jails` (name, fixed ip4).
fn env(jails: &[(&str, Option<&str>)], faults: Vec<FaultRule>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cdir = dir.path().join("etc");
    std::fs::create_dir_all(cdir.join("jails")).unwrap();
    std::fs::write(cdir.join("jailctl.toml"), GLOBAL).unwrap();
    for (name, ip4) in jails {
        std::fs::write(cdir.join(format!("jails/{name}.toml")), jail_toml(*ip4)).unwrap();
    }
    let cfg = config::load(&cdir).unwrap_or_else(|e| panic!("{e}"));
    let host = SimHost::open_with(
        &dir.path().join("sim"),
        SimConfig {
            faults,
            ..SimConfig::default()
        },
    )
    .unwrap();
    let zfs = |args: &[&str]| {
        host.run(&Cmd::new(tools::ZFS, args.iter().copied()))
            .unwrap();
    };
    zfs(&["create", "-p", "zroot/jailctl/bases/14.2-RELEASE"]);
    // A base has /dev and /etc (jail(8) mounts devfs on /dev).
    for d in ["dev", "etc"] {
        host.mkdir_p(
            &Path::new("/zroot/jailctl/bases/14.2-RELEASE").join(d),
            0o755,
        )
        .unwrap();
    }
    zfs(&["snapshot", "zroot/jailctl/bases/14.2-RELEASE@jailctl"]);
    // The parent of jail roots (made by base setup, not by `up`).
    zfs(&["create", "-p", "zroot/jailctl/jails"]);
    host.mkdir_p(Path::new("/etc"), 0o755).unwrap();
    host.write(
        Path::new("/etc/resolv.conf"),
        b"nameserver 192.0.2.53\n",
        0o644,
    )
    .unwrap();
    Env {
        _dir: dir,
        host,
        cfg,
    }
}

impl Env {
    fn up(&self, targets: &[&str]) -> Result<ops::Outcome, ops::OpsError> {
        let t: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
        ops::up(
            &self.host,
            &self.cfg.jails,
            &self.cfg.global,
            &t,
            &Opts::default(),
        )
    }
    fn down(&self, targets: &[&str]) -> ops::Outcome {
        let t: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
        ops::down(
            &self.host,
            &self.cfg.jails,
            &self.cfg.global,
            &t,
            &Opts::default(),
        )
        .unwrap()
    }
    /// Interfaces visible on the host, sorted.
    fn host_ifaces(&self) -> Vec<String> {
        let mut v = self.host.snapshot().unwrap().net.host_names();
        v.sort();
        v
    }
    fn members(&self) -> Vec<String> {
        let st = self.host.snapshot().unwrap();
        let mut m = match st.net.host_iface("bridge0").map(|i| &i.kind) {
            Some(IfKind::Bridge { members }) => members.clone(),
            other => panic!("bridge0: {other:?}"),
        };
        m.sort();
        m
    }
    /// Every interface the simulated kernel knows (host and jails), with where it is.
    fn all_ifaces(&self) -> Vec<(String, Option<i32>)> {
        let st = self.host.snapshot().unwrap();
        let mut v: Vec<_> = st
            .net
            .ifaces
            .iter()
            .map(|i| (i.name.clone(), i.vnet))
            .collect();
        v.sort();
        v
    }
    /// (interface name, jid holding it, addresses) of the jail ends.
    fn jail_end(&self, jail: &str) -> (Option<i32>, i32) {
        let st = self.host.snapshot().unwrap();
        let iface = st
            .net
            .ifaces
            .iter()
            .find(|i| i.name == format!("e0b_{jail}"))
            .unwrap_or_else(|| panic!("no e0b_{jail}"));
        (iface.vnet, st.jail.jails[jail].jid)
    }
    fn rc_conf(&self, jail: &str) -> String {
        String::from_utf8(
            self.host
                .read(Path::new(&format!("/usr/local/jails/{jail}/etc/rc.conf")))
                .unwrap(),
        )
        .unwrap()
    }
    fn recorded_ip4(&self, jail: &str) -> String {
        let out = self
            .host
            .run(&Cmd::new(
                tools::ZFS,
                [
                    "get",
                    "-H",
                    "-o",
                    "value",
                    "jailctl:ip4",
                    &format!("zroot/jailctl/jails/{jail}"),
                ],
            ))
            .unwrap();
        out.stdout.trim().to_string()
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const BASE_IFACES: &[&str] = &["em0", "lo0"];

#[test]
fn three_vnet_jails_up_restart_down() {
    let e = env(
        &[("web", None), ("db", Some("10.0.0.2/24")), ("cache", None)],
        vec![],
    );
    let out = e.up(&[]).unwrap();
    assert!(out.report.is_some());

    // Bridge created with its uplink; one host end per jail on it, jail ends inside.
    assert_eq!(
        e.host_ifaces(),
        strs(&["bridge0", "e0a_cache", "e0a_db", "e0a_web", "em0", "lo0"])
    );
    assert_eq!(
        e.members(),
        strs(&["e0a_cache", "e0a_db", "e0a_web", "em0"])
    );
    for j in ["web", "db", "cache"] {
        let (held_by, jid) = e.jail_end(j);
        assert_eq!(held_by, Some(jid), "e0b_{j} must be inside jail {j}");
    }
    // Addresses: db fixed .2; cache and web from the pool in name order, .3 and .4.
    assert!(
        e.rc_conf("db")
            .contains("ifconfig_e0b_db=\"inet 10.0.0.2/24\"\n")
    );
    assert!(
        e.rc_conf("cache")
            .contains("ifconfig_e0b_cache=\"inet 10.0.0.3/24\"\n")
    );
    assert!(
        e.rc_conf("web")
            .contains("ifconfig_e0b_web=\"inet 10.0.0.4/24\"\n")
    );
    assert!(e.rc_conf("web").contains("defaultrouter=\"10.0.0.1\"\n"));
    assert_eq!(e.recorded_ip4("web"), "10.0.0.4/24");
    assert_eq!(e.recorded_ip4("cache"), "10.0.0.3/24");
    assert_eq!(e.recorded_ip4("db"), "-"); // fixed addresses are not recorded
    let st = e.host.snapshot().unwrap();
    assert_eq!(st.jail.jails["web"].params.get("vnet").unwrap(), "new");
    assert_eq!(
        st.jail.jails["web"].params.get("devfs_ruleset").unwrap(),
        "5"
    );

    // Up again: nothing to do, and the status says up to date.
    let again = e.up(&[]).unwrap();
    assert!(again.plan.is_empty(), "{}", again.plan);
    let status = ops::status(&e.host, &e.cfg.jails, &e.cfg.global).unwrap();
    assert!(
        status.iter().all(|s| s.up_to_date == Some(true)),
        "{status:?}"
    );

    // Restart web: a new pair, the same names and address, no stray interface.
    let web_jid = e.jail_end("web").1;
    let (stopped, started) = ops::restart(
        &e.host,
        &e.cfg.jails,
        &e.cfg.global,
        &strs(&["web"]),
        &Opts::default(),
    )
    .unwrap();
    assert!(stopped.report.is_some() && started.report.is_some());
    let (held_by, jid) = e.jail_end("web");
    assert_ne!(jid, web_jid);
    assert_eq!(held_by, Some(jid));
    assert_eq!(
        e.host_ifaces(),
        strs(&["bridge0", "e0a_cache", "e0a_db", "e0a_web", "em0", "lo0"])
    );
    assert_eq!(
        e.members(),
        strs(&["e0a_cache", "e0a_db", "e0a_web", "em0"])
    );
    assert!(e.rc_conf("web").contains("inet 10.0.0.4/24"));
    // Exactly three pairs exist in the whole kernel (host and jails).
    let epairs = e
        .all_ifaces()
        .into_iter()
        .filter(|(n, _)| n.starts_with("e0"))
        .count();
    assert_eq!(epairs, 6);

    // Down all: every pair is gone (also from the dying jails), bridge and uplink stay.
    e.down(&[]);
    // Already while the jails are dying, no pair is left anywhere in the kernel.
    assert!(
        e.host
            .snapshot()
            .unwrap()
            .jail
            .jails
            .values()
            .all(|j| j.dying)
    );
    assert!(
        e.all_ifaces().iter().all(|(n, _)| !n.starts_with("e0")),
        "{:?}",
        e.all_ifaces()
    );
    // And after the kernel finished tearing them down, nothing came back.
    e.host
        .with_state(|c| jailctl_sim::jail::reap_dying(c.state))
        .unwrap();
    assert_eq!(e.host_ifaces(), strs(&["bridge0", "em0", "lo0"]));
    assert_eq!(e.members(), strs(&["em0"]));
    assert!(
        e.all_ifaces().iter().all(|(n, _)| !n.starts_with("e0")),
        "{:?}",
        e.all_ifaces()
    );
    // A second down has nothing to do.
    let again = e.down(&[]);
    assert!(again.plan.is_empty(), "{}", again.plan);

    // Up again: the recorded addresses come back.
    e.up(&[]).unwrap();
    assert!(e.rc_conf("web").contains("inet 10.0.0.4/24"));
    assert!(e.rc_conf("cache").contains("inet 10.0.0.3/24"));
}

#[test]
fn a_jail_stopped_behind_jailctls_back_leaves_nothing_after_the_next_up() {
    let e = env(&[("web", None)], vec![]);
    e.up(&[]).unwrap();
    // Someone runs `jail -r web` by hand: the jail dies, its end returns to the host later.
    e.host.run(&Cmd::new(tools::JAIL, ["-r", "web"])).unwrap();
    // The kernel finishes tearing it down: e0b_web is back on the host next to e0a_web.
    e.host
        .with_state(|c| jailctl_sim::jail::reap_dying(c.state))
        .unwrap();
    assert!(e.host_ifaces().contains(&"e0b_web".to_string()));
    // up destroys the stale pair before making a new one.
    let out = e.up(&[]).unwrap();
    assert!(
        out.plan.to_string().contains("destroy epair e0a_web"),
        "{}",
        out.plan
    );
    assert_eq!(e.host_ifaces(), strs(&["bridge0", "e0a_web", "em0", "lo0"]));
    let (held_by, jid) = e.jail_end("web");
    assert_eq!(held_by, Some(jid));
}

#[test]
fn up_of_a_dying_jail_replaces_its_pair() {
    let e = env(&[("web", None)], vec![]);
    e.up(&[]).unwrap();
    let old = e.jail_end("web").1;
    e.host.run(&Cmd::new(tools::JAIL, ["-r", "web"])).unwrap();
    // Still dying, its end inside: up destroys the pair and starts a new jail of that name.
    let out = e.up(&[]).unwrap();
    assert!(
        out.plan.to_string().contains("destroy epair e0a_web"),
        "{}",
        out.plan
    );
    let (held_by, jid) = e.jail_end("web");
    assert_ne!(jid, old);
    assert_eq!(held_by, Some(jid));
    assert_eq!(e.host_ifaces(), strs(&["bridge0", "e0a_web", "em0", "lo0"]));
}

#[test]
fn down_of_a_dying_jail_destroys_its_pair() {
    let e = env(&[("web", None)], vec![]);
    e.up(&[]).unwrap();
    e.host.run(&Cmd::new(tools::JAIL, ["-r", "web"])).unwrap();
    // Dying: the jail end is still inside; destroying the host end takes both.
    let out = e.down(&["web"]);
    assert!(
        out.plan.to_string().contains("destroy epair e0a_web"),
        "{}",
        out.plan
    );
    e.host
        .with_state(|c| jailctl_sim::jail::reap_dying(c.state))
        .unwrap();
    assert_eq!(e.host_ifaces(), strs(&["bridge0", "em0", "lo0"]));
    assert!(e.all_ifaces().iter().all(|(n, _)| !n.starts_with("e0")));
}

fn fault(pattern: &str) -> FaultRule {
    FaultRule {
        pattern: pattern.into(),
        nth: 1,
        count: 1,
        status: 1,
        stderr: "ifconfig: injected failure\n".into(),
    }
}

#[test]
fn a_fault_at_each_vnet_step_of_up_leaves_no_interface() {
    // Every VNET command of a first `up`, including jail(8)'s move of the jail end.
    for pattern in [
        "ifconfig bridge0 create addm em0 up",
        "ifconfig epair* create",
        "ifconfig epair* up name e0a_web",
        "ifconfig epair* name e0b_web",
        "ifconfig bridge0 addm e0a_web",
        "ifconfig e0b_web vnet *",
        // Later steps of the second jail: the first one's pair must go too.
        "ifconfig epair* up name e0a_zz",
        "jail -f * -c zz",
    ] {
        let e = env(&[("web", None), ("zz", None)], vec![fault(pattern)]);
        let before = e.host_ifaces();
        assert_eq!(before, strs(BASE_IFACES));
        let err = e.up(&[]).unwrap_err().to_string();
        assert!(
            err.contains("injected") && err.contains("all") && err.contains("undone"),
            "{pattern}: {err}"
        );
        assert_eq!(e.host_ifaces(), before, "{pattern}: {err}");
        assert!(
            e.all_ifaces()
                .iter()
                .all(|(n, _)| !n.starts_with("e") || n == "em0"),
            "{pattern}: {:?}",
            e.all_ifaces()
        );
        // The host is clean enough for the next up to succeed.
        e.up(&[])
            .unwrap_or_else(|x| panic!("{pattern}: retry: {x}"));
        assert_eq!(e.members(), strs(&["e0a_web", "e0a_zz", "em0"]));
    }
}

#[test]
fn a_fault_during_restart_puts_the_old_jail_back() {
    let e = env(&[("web", None)], vec![]);
    e.up(&[]).unwrap();
    // Changing the address needs a restart; make the new pair's bridge join fail.
    let cdir = e.cfg.dir.clone();
    std::fs::write(cdir.join("jails/web.toml"), jail_toml(Some("10.0.0.9/24"))).unwrap();
    let cfg = config::load(&cdir).unwrap();
    // Faults are settings of an opened host: open the same host again with one.
    let host = SimHost::open_with(
        e.host.dir(),
        SimConfig {
            faults: vec![fault("ifconfig bridge0 addm e0a_web")],
            ..SimConfig::default()
        },
    )
    .unwrap();
    let err = ops::up(&host, &cfg.jails, &cfg.global, &[], &Opts::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("injected"), "{err}");
    assert!(err.contains("all") && err.contains("undone"), "{err}");
    // The old jail runs again with a pair on the bridge and its old address.
    let st = host.snapshot().unwrap();
    let web = st.jail.jails.get("web").expect("web runs again");
    assert!(!web.dying);
    let (held_by, jid) = e.jail_end("web");
    assert_eq!(held_by, Some(jid));
    assert_eq!(e.members(), strs(&["e0a_web", "em0"]));
    assert!(e.rc_conf("web").contains("inet 10.0.0.2/24"));
}

#[test]
fn jails_started_in_parallel_share_the_bridge_they_all_planned() {
    // As at boot: each jail's `up` runs on its own thread, each plans to create the missing
    // bridge; all must come up on the one bridge.
    let e = env(
        &[("a", None), ("b", None), ("c", None), ("d", None)],
        vec![],
    );
    std::thread::scope(|s| {
        let hs: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|j| {
                let e = &e;
                s.spawn(move || e.up(&[j]).map(|_| ()).map_err(|x| x.to_string()))
            })
            .collect();
        for h in hs {
            h.join().unwrap().unwrap();
        }
    });
    assert_eq!(
        e.members(),
        strs(&["e0a_a", "e0a_b", "e0a_c", "e0a_d", "em0"])
    );
    // Four different addresses, the same ones a sequential start gives.
    for (j, a) in [("a", 2), ("b", 3), ("c", 4), ("d", 5)] {
        assert!(
            e.rc_conf(j).contains(&format!("inet 10.0.0.{a}/24")),
            "{j}: {}",
            e.rc_conf(j)
        );
    }
}
