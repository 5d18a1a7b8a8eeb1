//! The per-jail observer (`observe::host::observe_jail`) checked against the full observer
//! on a simulated host brought into each state by the operations themselves (`ops::up`,
//! `ops::down`), which is why these tests live here and not beside the observer.

use crate::config::spec::Global;
use crate::host::{Cmd, Runner, tools};
use crate::observe::host::{host_facts, observe, observe_jail};

use crate::config::spec::{BridgeSpec, JailSpec, Network, VolumeSpec};
use crate::plan::{self, UpOptions};
use jailctl_sim::{SimConfig, SimHost};

/// A fresh simulated host with the base `14.2-RELEASE` (a snapshot with the directories a
/// root needs) and `bridge0` on `em0`; jailctl's other datasets do not exist yet.
fn sim() -> (tempfile::TempDir, SimHost) {
    let d = tempfile::tempdir().unwrap();
    let h = sim_at(&d.path().join("sim"));
    (d, h)
}

fn sim_at(dir: &std::path::Path) -> SimHost {
    let h = SimHost::open_with(dir, SimConfig::default()).unwrap();
    jailctl_sim::testing::seed_base(
        &h,
        "zroot/jailctl/bases/14.2-RELEASE",
        "/usr/local/jails/.bases/14.2-RELEASE",
        "jailctl",
    );
    h.run(&crate::vnet::create_bridge_cmd("bridge0", Some("em0")))
        .unwrap();
    h
}

fn global() -> Global {
    let mut g = jailctl_core::fixtures::global();
    g.bridges.insert(
        "bridge0".into(),
        BridgeSpec {
            name: "bridge0".into(),
            create: false,
            uplink: None,
            ip4_pool: Some("10.0.0.0/24".parse().unwrap()),
            gateway4: Some("10.0.0.1".parse().unwrap()),
            nat: None,
        },
    );
    g
}

fn vnet(name: &str) -> JailSpec {
    let mut s = jailctl_core::fixtures::spec(name);
    s.network = Network::Vnet {
        bridge: "bridge0".into(),
        ip4: vec![],
        ip6: vec![],
        gateway4: Some("10.0.0.1".parse().unwrap()),
        gateway6: None,
    };
    s
}

fn specs() -> Vec<JailSpec> {
    let spec = jailctl_core::fixtures::spec;
    let mut db = spec("db");
    db.limits.memory = Some(256 << 20);
    let mut files = spec("files");
    files.volumes.push(VolumeSpec {
        name: "data".into(),
        target: "/var/data".into(),
        quota: Some(1 << 30),
        read_only: false,
    });
    vec![db, spec("web"), files, vnet("v1"), vnet("v2")]
}

/// For every jail: the up plan from [`observe_jail`] is the one from [`observe`].
fn same_plans(h: &SimHost, specs: &[JailSpec], g: &Global, opts: &UpOptions, when: &str) {
    let facts = host_facts(h).unwrap();
    let full = observe(h, g).unwrap();
    for s in specs {
        let names = [s.name.clone()];
        let narrow = observe_jail(h, g, s, &facts).unwrap();
        let want = plan::plan_up_only(specs, g, &full, &names, opts);
        let got = plan::plan_up_only(specs, g, &narrow, &names, opts);
        match (want, got) {
            (Ok(w), Ok(g)) => assert_eq!(g, w, "{when}: plan of {}", s.name),
            (Err(w), Err(g)) => {
                assert_eq!(g.to_string(), w.to_string(), "{when}: {}", s.name)
            }
            (w, g) => panic!("{when}: {}: full {w:?}, per-jail {g:?}", s.name),
        }
    }
}

fn up(h: &SimHost, specs: &[JailSpec], g: &Global, names: &[&str]) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    crate::ops::up(h, specs, g, &names, &crate::ops::Opts::default()).unwrap();
}

#[test]
fn per_jail_observe_plans_what_the_full_observe_plans() {
    let (_d, h) = sim();
    let g = global();
    let mut specs = specs();
    let opts = UpOptions::default();
    // Nothing deployed: no <root>/jails yet (the fallback to the whole tree).
    same_plans(&h, &specs, &g, &opts, "fresh host");
    up(&h, &specs, &g, &["db", "v1"]);
    // Some running (one with rctl rules, one VNET with its address recorded), the rest
    // new; the second VNET jail must get the next free address.
    same_plans(&h, &specs, &g, &opts, "db and v1 up");
    up(&h, &specs, &g, &["web", "files", "v2"]);
    same_plans(&h, &specs, &g, &opts, "all up");
    // Changed definitions: new limits on a running jail, a second volume (missing).
    specs[1].limits.memory = Some(128 << 20);
    specs[2].volumes.push(VolumeSpec {
        name: "logs".into(),
        target: "/var/log/app".into(),
        quota: None,
        read_only: false,
    });
    same_plans(&h, &specs, &g, &opts, "changed definitions");
    // Stopped jails, and a newer base snapshot, with and without re-creation.
    crate::ops::down(
        &h,
        &specs,
        &g,
        &["web".into(), "v2".into()],
        &crate::ops::Opts::default(),
    )
    .unwrap();
    h.run(&Cmd::new(
        tools::ZFS,
        [
            "snapshot",
            "zroot/jailctl/bases/14.2-RELEASE@20261124-120000",
        ],
    ))
    .unwrap();
    same_plans(&h, &specs, &g, &opts, "stopped, newer base");
    let recreate = UpOptions {
        recreate: true,
        ..UpOptions::default()
    };
    same_plans(&h, &specs, &g, &recreate, "re-create");
}

#[test]
fn per_jail_observe_reads_only_that_jail() {
    let (_d, h) = sim();
    let g = global();
    let specs = specs();
    up(&h, &specs, &g, &["db", "v1"]);
    let before = h.snapshot().unwrap().history.len();
    let facts = host_facts(&h).unwrap();
    let st = observe_jail(&h, &g, &specs[0], &facts).unwrap();
    let st_v = observe_jail(&h, &g, &specs[4], &facts).unwrap();
    let run: Vec<String> = h.snapshot().unwrap().history[before..]
        .iter()
        .map(|e| e.cmd.to_string())
        .collect();
    let get = format!("{} get -H -p -d 2 -o name,property,value", tools::ZFS);
    let jls = format!("{} --libxo json -d -j", tools::JLS);
    assert_eq!(run.len(), 2 + 3 + 6, "{run:#?}");
    assert_eq!(run[0], format!("{} -n kern.racct.enable", tools::SYSCTL));
    // Only db's own datasets are named, not every jail root: the cost of one start does not
    // grow with the fleet.
    assert!(
        run[2].starts_with(&get)
            && run[2].ends_with(
                " zroot/jailctl/jails/db zroot/jailctl/jails/db.retired zroot/jailctl/jails/db.pre-upgrade zroot/jailctl/bases/14.2-RELEASE"
            ),
        "{}",
        run[2]
    );
    let others: Vec<&String> = st
        .datasets
        .keys()
        .filter(|d| {
            d.starts_with("zroot/jailctl/jails/") && !d.starts_with("zroot/jailctl/jails/db")
        })
        .collect();
    assert!(others.is_empty(), "{others:?}");
    assert!(run[3].starts_with(&format!("{jls} db ")), "{}", run[3]);
    assert_eq!(run[4], format!("{} jail:db", tools::RCTL));
    // v2 is VNET and new: its own datasets, the parent its root will inherit from, then
    // of every other jail root only the address recorded on it, one row each.
    assert!(
        run[5].starts_with(&get) && run[5].ends_with(" zroot/jailctl/jails/v2 zroot/jailctl/jails/v2.retired zroot/jailctl/jails/v2.pre-upgrade zroot/jailctl/bases/14.2-RELEASE"),
        "{}",
        run[5]
    );
    assert_eq!(
        run[7],
        format!(
            "{} get -H -p -d 1 -o name,property,value,source -t filesystem jailctl:ip4 zroot/jailctl/jails",
            tools::ZFS
        )
    );
    assert!(run[8].starts_with(&format!("{jls} v2 ")), "{}", run[8]);
    assert_eq!(run[10], format!("{} -l", tools::IFCONFIG));
    let v1 = &st_v.datasets["zroot/jailctl/jails/v1"];
    assert_eq!(v1.prop("jailctl:ip4"), Some("10.0.0.2/24"));
    assert_eq!(v1.prop("jailctl:managed"), None, "only the address is read");
    assert_eq!(st.jails.keys().collect::<Vec<_>>(), ["db"]);
    assert_eq!(st.rctl_rules.keys().collect::<Vec<_>>(), ["db"]);
    assert!(st.interfaces.is_empty() && st.mounts.is_empty());
    assert!(st_v.jails.is_empty(), "v2 is not running");
    assert!(st_v.interfaces.contains(&"bridge0".to_string()));
}

#[test]
fn per_jail_observe_fails_on_what_is_not_a_missing_dataset_or_jail() {
    let g = global();
    let specs = specs();
    for (pattern, stderr) in [
        (
            "zfs get *",
            "cannot open 'zroot/jailctl/jails': permission denied",
        ),
        ("jls *", "jls: jail_get: Operation not permitted"),
    ] {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("sim");
        drop(sim_at(&dir));
        let h = SimHost::open_with(
            &dir,
            SimConfig {
                faults: vec![jailctl_sim::faults::FaultRule {
                    pattern: pattern.into(),
                    nth: 1,
                    count: 1,
                    status: 1,
                    stderr: format!("{stderr}\n"),
                }],
                ..SimConfig::default()
            },
        )
        .unwrap();
        let facts = host_facts(&h).unwrap();
        let e = observe_jail(&h, &g, &specs[0], &facts).unwrap_err();
        assert!(e.to_string().contains(stderr), "{pattern}: {e}");
    }
}

/// A jail that is not VNET and has no root yet: its own datasets (none of which exist but
/// the base), then `<root>/jails` alone, whose `exec` the new root will inherit; other jails'
/// roots are not read, and a plan refuses the new jail when that parent has exec=off, as
/// the full observe's plan does.
#[test]
fn per_jail_observe_of_a_new_jail_reads_its_parent_alone() {
    let (_d, h) = sim();
    let g = global();
    let specs = specs();
    up(&h, &specs, &g, &["db"]);
    h.run(&Cmd::new(
        tools::ZFS,
        ["set", "exec=off", "zroot/jailctl/jails"],
    ))
    .unwrap();
    let facts = host_facts(&h).unwrap();
    let before = h.snapshot().unwrap().history.len();
    let st = observe_jail(&h, &g, &specs[1], &facts).unwrap();
    let run: Vec<String> = h.snapshot().unwrap().history[before..]
        .iter()
        .map(|e| e.cmd.to_string())
        .collect();
    assert!(run[0].ends_with(" zroot/jailctl/jails/web zroot/jailctl/jails/web.retired zroot/jailctl/jails/web.pre-upgrade zroot/jailctl/bases/14.2-RELEASE"), "{run:#?}");
    assert_eq!(
        run[1],
        format!(
            "{} get -H -p -d 0 -o name,property,value,source {} zroot/jailctl/jails",
            tools::ZFS,
            crate::config::layout::props::ALL.join(",")
        ),
        "{run:#?}"
    );
    assert!(
        !st.datasets.contains_key("zroot/jailctl/jails/db"),
        "{:?}",
        st.datasets.keys()
    );
    assert!(st.datasets.contains_key("zroot/jailctl/jails"));
    same_plans(
        &h,
        &specs,
        &g,
        &UpOptions::default(),
        "exec=off on the parent",
    );
    let e = plan::plan_up_only(&specs, &g, &st, &["web".to_string()], &UpOptions::default())
        .unwrap_err();
    assert!(matches!(e, plan::PlanError::ExecOff { .. }), "{e}");
}
