//! Convergence property on the strict simulator: for generated valid definitions, after
//! `up` the plan is empty (the host matches, nothing would run again).

use jailctl::host::Cmd;
use jailctl::ops;
use jailctl_sim::{SimConfig, SimHost};
use proptest::prelude::*;
use std::path::Path;

fn base(dir: &Path) -> SimHost {
    let h = SimHost::open_with(dir, SimConfig::default()).unwrap();
    let mp = "/usr/local/jails/.bases/14.3-RELEASE";
    let run = |args: &[&str]| {
        h.with_state(|ctx| {
            let out = ctx
                .exec(&Cmd::new("/sbin/zfs", args.iter().copied()))
                .unwrap();
            assert!(out.success(), "{}", out.stderr);
        })
        .unwrap();
    };
    run(&[
        "create",
        "-p",
        "-o",
        &format!("mountpoint={mp}"),
        "zroot/jailctl/bases/14.3-RELEASE",
    ]);
    for d in ["dev", "etc"] {
        std::fs::create_dir_all(dir.join("root").join(&mp[1..]).join(d)).unwrap();
    }
    run(&[
        "snapshot",
        "zroot/jailctl/bases/14.3-RELEASE@20260101-000000",
    ]);
    for d in ["srv/a", "srv/b"] {
        std::fs::create_dir_all(dir.join("root").join(d)).unwrap();
    }
    h
}

fn jail_toml() -> impl Strategy<Value = String> {
    let net = prop_oneof![
        Just("[network]\nmode = \"inherit\"\n".to_string()),
        Just("[network]\nmode = \"none\"\n".to_string()),
        // From .11: 192.0.2.10 is the simulated host's own em0 address.
        (11u8..250, proptest::bool::ANY).prop_map(|(o, v6)| {
            let ip6 = if v6 {
                format!("ip6 = [\"2001:db8::{o:x}/64\"]\n")
            } else {
                String::new()
            };
            format!(
                "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"192.0.2.{o}/24\"]\n{ip6}"
            )
        }),
    ];
    (
        "[a-z][a-z0-9]{0,10}",
        net,
        proptest::option::of(16u64..4096),
        proptest::option::of(10u64..1000),
        proptest::option::of(prop_oneof![Just("0"), Just("0-1"), Just("1,3")]),
        proptest::collection::vec((0usize..2, proptest::bool::ANY), 0..3),
        proptest::option::of(proptest::bool::ANY),
        proptest::bool::ANY,
    )
        .prop_map(|(host, net, mem, procs, cpus, mounts, vol, minimal)| {
            let mut t = String::new();
            if minimal {
                t.push_str("extends = \"minimal\"\n");
            }
            t.push_str(&format!("hostname = \"{host}.example.org\"\n"));
            if let Some(c) = cpus {
                t.push_str(&format!("cpuset = \"{c}\"\n"));
            }
            t.push_str(&net);
            let mut seen = std::collections::BTreeSet::new();
            for (i, ro) in mounts {
                if seen.insert(i) {
                    let src = ["a", "b"][i];
                    t.push_str(&format!(
                        "[[mounts]]\nsource = \"/srv/{src}\"\ntarget = \"/mnt/{src}\"\nread_only = {ro}\n"
                    ));
                }
            }
            if let Some(ro) = vol {
                t.push_str(&format!(
                    "[[volumes]]\nname = \"data\"\ntarget = \"/var/data\"\nread_only = {ro}\n"
                ));
            }
            if mem.is_some() || procs.is_some() {
                t.push_str("[limits]\n");
                if let Some(m) = mem {
                    t.push_str(&format!("memory = \"{m}M\"\n"));
                }
                if let Some(p) = procs {
                    t.push_str(&format!("processes = {p}\n"));
                }
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn after_up_the_plan_is_empty(def in jail_toml()) {
        let t = tempfile::tempdir().unwrap();
        let h = base(&t.path().join("sim"));
        let cfg = t.path().join("etc");
        std::fs::create_dir_all(cfg.join("jails")).unwrap();
        std::fs::write(
            cfg.join("jailctl.toml"),
            "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/jails\"\ndefault_base = \"14.3-RELEASE\"\n",
        ).unwrap();
        std::fs::write(cfg.join("jails/gen.toml"), &def).unwrap();
        let c = jailctl::config::load(&cfg).unwrap_or_else(|e| panic!("{def}\n{e:?}"));
        ops::up(&h, &c.jails, &c.global, &[], &ops::Opts::default())
            .unwrap_or_else(|e| panic!("{def}\n{e}"));
        let plan = ops::plan_only(&h, &c.jails, &c.global, &[], &Default::default()).unwrap();
        prop_assert!(plan.is_empty(), "{}\nplan after up:\n{}", def, plan);
        let st = ops::status(&h, &c.jails, &c.global).unwrap();
        prop_assert_eq!(st[0].state, "running");
        prop_assert_eq!(st[0].up_to_date, Some(true));
    }
}
