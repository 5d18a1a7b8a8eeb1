//! `jailctl init` and `jailctl doctor` through the real binary on simulated hosts: a fresh
//! host with no configuration goes init → base create → up; `init` never overwrites; each
//! problem a jail host can have, injected into the simulator's sysctl, kernel-module and
//! dataset state, is reported by `doctor` with its fix, and `up`/`boot` refuse with the same
//! line before changing anything.

use crate::support::sets::release_dir;
use crate::support::{history, jailctl, mutating};
use jailctl_sim::SimHost;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn out(c: &mut assert_cmd::Command) -> (Option<i32>, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A fresh simulated host set up with `init`, a base `14.3-RELEASE` made by `base create`
/// and the jail files given (`name`, TOML).
fn initialised(t: &Path, jails: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let (s, c) = (t.join("sim"), t.join("etc"));
    jailctl(&s, &c).arg("init").assert().success();
    let rel = release_dir();
    jailctl(&s, &c)
        .args(["base", "create", "14.3-RELEASE", "--from"])
        .arg(rel.path())
        .assert()
        .success();
    for (n, text) in jails {
        std::fs::write(c.join("jails").join(format!("{n}.toml")), text).unwrap();
    }
    (s, c)
}

const PLAIN: &str =
    "base = \"14.3-RELEASE\"\nhostname = \"web.example.org\"\n[network]\nmode = \"inherit\"\n";
const LIMITED: &str = "base = \"14.3-RELEASE\"\nhostname = \"db.example.org\"\n[network]\nmode = \"inherit\"\n[limits]\nmemory = \"512M\"\n";
const VNET: &str = "base = \"14.3-RELEASE\"\nhostname = \"gw.example.org\"\n[network]\nmode = \"vnet\"\nbridge = \"bridge0\"\nip4 = [\"10.20.0.5/24\"]\n";

fn doctor(s: &Path, c: &Path) -> (Option<i32>, Vec<String>) {
    let (code, stdout, _) = out(jailctl(s, c).arg("doctor"));
    (code, stdout.lines().map(str::to_string).collect())
}

/// The line of one check.
fn check<'a>(lines: &'a [String], id: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l[5..].starts_with(&format!("{id}: ")))
        .unwrap_or_else(|| panic!("no {id} line in {lines:#?}"))
}

#[test]
fn init_then_base_create_then_up_on_a_fresh_host_without_configuration() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = (t.path().join("sim"), t.path().join("etc"));
    // Before init: every command that needs the configuration points at init.
    let (code, _, err) = out(jailctl(&s, &c).args(["base", "list"]));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("jailctl init"), "{err}");
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(4));
    assert!(check(&lines, "config").starts_with("FAIL"), "{lines:#?}");
    assert!(
        check(&lines, "config").contains("fix: jailctl init"),
        "{lines:#?}"
    );
    assert!(
        check(&lines, "zfs_root").contains("fix: jailctl init"),
        "{lines:#?}"
    );

    jailctl(&s, &c).arg("init").assert().success();
    let text = std::fs::read_to_string(c.join("jailctl.toml")).unwrap();
    assert!(text.contains("zfs_root = \"zroot/jailctl\""), "{text}");
    assert!(
        text.lines().filter(|l| l.starts_with('#')).count() > 10,
        "{text}"
    );
    assert!(c.join("jails").is_dir() && c.join("templates").is_dir());
    // The dataset with its properties, and the mount root.
    let st = SimHost::open(&s).unwrap().snapshot().unwrap();
    let made: Vec<String> = st
        .history
        .iter()
        .filter(|h| mutating(h))
        .map(crate::support::line)
        .collect();
    assert_eq!(
        made,
        ["zfs create -o mountpoint=none -o exec=on -o setuid=on -o compression=lz4 zroot/jailctl"],
    );
    assert!(s.join("root/usr/local/jails").is_dir());
    // The written file validates, and doctor is now content (only the missing base aside).
    jailctl(&s, &c).arg("validate").assert().success();
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(lines.iter().all(|l| l.starts_with("OK")), "{lines:#?}");

    let rel = release_dir();
    jailctl(&s, &c)
        .args(["base", "create", "14.3-RELEASE", "--from"])
        .arg(rel.path())
        .assert()
        .success();
    std::fs::write(c.join("jails/web.toml"), PLAIN).unwrap();
    std::fs::write(c.join("jails/db.toml"), LIMITED).unwrap();
    jailctl(&s, &c).args(["up", "--all"]).assert().success();
    let (_, stdout, _) = out(jailctl(&s, &c).args(["list", "--json"]));
    let list: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let states: Vec<(&str, &str)> = list
        .iter()
        .map(|j| (j["name"].as_str().unwrap(), j["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("db", "running"), ("web", "running")]);
}

#[test]
fn init_refuses_to_overwrite_and_refuses_a_missing_pool() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = (t.path().join("sim"), t.path().join("etc"));
    jailctl(&s, &c).arg("init").assert().success();
    std::fs::write(c.join("jailctl.toml"), "zfs_root = \"zroot/mine\"\n").unwrap();
    let before = history(&s).len();
    let (code, _, err) = out(jailctl(&s, &c).arg("init"));
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(
        std::fs::read_to_string(c.join("jailctl.toml")).unwrap(),
        "zfs_root = \"zroot/mine\"\n"
    );
    assert_eq!(
        history(&s).len(),
        before,
        "init ran commands before refusing"
    );

    let c2 = t.path().join("etc2");
    let (code, _, err) = out(jailctl(&s, &c2).args(["init", "--pool", "tank"]));
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("cannot open 'tank': no such pool"), "{err}");
    assert!(err.contains("--pool"), "{err}");
    assert!(!c2.join("jailctl.toml").exists());
    assert!(!history(&s)[before..].iter().any(mutating));
}

#[test]
fn doctor_reports_each_injected_problem_with_its_fix() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = initialised(t.path(), &[("db", LIMITED), ("web", PLAIN)]);
    let host = SimHost::open(&s).unwrap();
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(lines.iter().all(|l| l.starts_with("OK")), "{lines:#?}");

    // RACCT off (the loader tunable at 0) while db has limits.
    host.with_state(|x| {
        x.state
            .sysctl
            .values
            .insert("kern.racct.enable".into(), "0".into())
    })
    .unwrap();
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(4));
    let l = check(&lines, "racct");
    assert!(l.starts_with("FAIL racct:") && l.contains("db"), "{l}");
    assert!(
        l.contains("fix: add kern.racct.enable=1 to /boot/loader.conf and reboot"),
        "{l}"
    );
    // A kernel without RACCT at all.
    host.with_state(|x| x.state.sysctl.values.remove("kern.racct.enable"))
        .unwrap();
    let l = check(&doctor(&s, &c).1, "racct").to_string();
    assert!(l.contains("options RACCT"), "{l}");
    // Without a jail that has limits, the same kernel is only a warning.
    std::fs::remove_file(c.join("jails/db.toml")).unwrap();
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(check(&lines, "racct").starts_with("WARN"), "{lines:#?}");
    host.with_state(|x| {
        x.state
            .sysctl
            .values
            .insert("kern.racct.enable".into(), "1".into())
    })
    .unwrap();

    // No VIMAGE: a warning, a failure once a jail uses VNET; VNET's modules unloaded.
    host.with_state(|x| x.state.sysctl.values.remove("kern.features.vimage"))
        .unwrap();
    crate::support::sim(&s, &["kldunload", "if_bridge"]);
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(check(&lines, "vimage").starts_with("WARN"), "{lines:#?}");
    assert!(check(&lines, "if_bridge").starts_with("OK"), "{lines:#?}");
    let mut g = std::fs::read_to_string(c.join("jailctl.toml")).unwrap();
    g.push_str("\n[bridges.bridge0]\ncreate = true\nip4_pool = \"10.20.0.0/24\"\ngateway4 = \"10.20.0.1\"\n");
    std::fs::write(c.join("jailctl.toml"), g).unwrap();
    std::fs::write(c.join("jails/gw.toml"), VNET).unwrap();
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(4), "{lines:#?}");
    let l = check(&lines, "vimage");
    assert!(
        l.starts_with("FAIL") && l.contains("gw") && l.contains("options VIMAGE"),
        "{l}"
    );
    let l = check(&lines, "if_bridge");
    assert!(
        l.starts_with("WARN") && l.contains("fix: kldload if_bridge"),
        "{l}"
    );
    assert!(check(&lines, "if_epair").starts_with("OK"), "{lines:#?}");
    host.with_state(|x| {
        x.state
            .sysctl
            .values
            .insert("kern.features.vimage".into(), "1".into())
    })
    .unwrap();
    std::fs::remove_file(c.join("jails/gw.toml")).unwrap();

    // exec=off on the jails' parent: named where it is set, with the zfs command.
    crate::support::sim(&s, &["zfs", "set", "exec=off", "zroot/jailctl"]);
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(4));
    let l = check(&lines, "exec");
    assert!(l.starts_with("FAIL exec: exec=off on zroot/jailctl"), "{l}");
    assert!(l.ends_with("fix: zfs set exec=on zroot/jailctl"), "{l}");
    crate::support::sim(&s, &["zfs", "inherit", "exec", "zroot/jailctl"]);
    // init set exec=on locally; inherit made it default again: still OK.
    assert!(check(&doctor(&s, &c).1, "exec").starts_with("OK"));

    // A module sysctl in sysctl.conf without sysctl_lastload.
    std::fs::create_dir_all(s.join("root/etc")).unwrap();
    std::fs::write(
        s.join("root/etc/sysctl.conf"),
        "net.link.bridge.pfil_member=0 # filter on the bridge only\n",
    )
    .unwrap();
    let l = check(&doctor(&s, &c).1, "sysctl_lastload").to_string();
    assert!(
        l.starts_with("WARN") && l.contains("net.link.bridge.pfil_member"),
        "{l}"
    );
    assert!(l.ends_with("fix: sysrc sysctl_lastload=YES"), "{l}");
    std::fs::write(s.join("root/etc/rc.conf"), "sysctl_lastload=\"YES\"\n").unwrap();
    assert!(check(&doctor(&s, &c).1, "sysctl_lastload").starts_with("OK"));

    // A mount_root so long that a jail's mount points pass MNAMELEN.
    let long = format!("/{}", "m".repeat(80));
    let g = std::fs::read_to_string(c.join("jailctl.toml"))
        .unwrap()
        .replace(
            "mount_root = \"/usr/local/jails\"",
            &format!("mount_root = \"{long}\""),
        );
    std::fs::write(c.join("jailctl.toml"), &g).unwrap();
    let (code, lines) = doctor(&s, &c);
    assert_eq!(code, Some(4), "{lines:#?}");
    let l = check(&lines, "mount_root");
    assert!(l.starts_with("FAIL") && l.contains("MNAMELEN"), "{l}");
    assert!(
        l.contains("fix: set a shorter mount_root in jailctl.toml"),
        "{l}"
    );

    // A zfs_root on a pool that does not exist, and one that was never created.
    for (root, id, fix) in [
        ("tank/jailctl", "pool", "zpool import tank"),
        ("zroot/other", "zfs_root", "fix: jailctl init"),
    ] {
        let g2 = g
            .replace(
                &format!("mount_root = \"{long}\""),
                "mount_root = \"/usr/local/jails\"",
            )
            .replace(
                "zfs_root = \"zroot/jailctl\"",
                &format!("zfs_root = \"{root}\""),
            );
        std::fs::write(c.join("jailctl.toml"), &g2).unwrap();
        let (code, lines) = doctor(&s, &c);
        assert_eq!(code, Some(4), "{lines:#?}");
        let l = check(&lines, id);
        assert!(
            l.starts_with("FAIL") && l.contains(root.split('/').next().unwrap()),
            "{l}"
        );
        assert!(l.contains(fix), "{l}");
    }

    // --json: valid JSON with the same verdicts.
    let (code, stdout, _) = out(jailctl(&s, &c).args(["doctor", "--json"]));
    assert_eq!(code, Some(4));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["worst"], "FAIL");
    let zr = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "zfs_root")
        .unwrap();
    assert_eq!(zr["level"], "FAIL");
    assert!(zr["fix"].as_str().unwrap().contains("jailctl init"));
}

#[test]
fn up_and_boot_refuse_with_doctors_words_before_changing_anything() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = initialised(t.path(), &[("db", LIMITED), ("web", PLAIN)]);
    let host = SimHost::open(&s).unwrap();
    host.with_state(|x| {
        x.state
            .sysctl
            .values
            .insert("kern.racct.enable".into(), "0".into())
    })
    .unwrap();
    let (_, lines) = doctor(&s, &c);
    let racct = check(&lines, "racct").to_string();
    assert!(racct.starts_with("FAIL"), "{racct}");
    let before = history(&s).len();
    for args in [&["up", "db"][..], &["up", "--all"], &["boot"]] {
        let (code, _, err) = out(jailctl(&s, &c).args(args));
        assert_eq!(code, Some(4), "{args:?}: {err}");
        assert!(err.contains(&racct), "{args:?}: {err}");
        assert!(err.contains("Nothing was changed"), "{args:?}: {err}");
    }
    let changed: Vec<String> = history(&s)[before..]
        .iter()
        .filter(|h| mutating(h))
        .map(crate::support::line)
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
    // `up web` (no limits) does not need RACCT: it goes ahead.
    jailctl(&s, &c).args(["up", "web"]).assert().success();

    // A zfs_root that does not exist: refused with doctor's line, which names `init`.
    let g = std::fs::read_to_string(c.join("jailctl.toml"))
        .unwrap()
        .replace(
            "zfs_root = \"zroot/jailctl\"",
            "zfs_root = \"zroot/elsewhere\"",
        );
    std::fs::write(c.join("jailctl.toml"), g).unwrap();
    let zr = check(&doctor(&s, &c).1, "zfs_root").to_string();
    assert!(
        zr.starts_with("FAIL") && zr.contains("fix: jailctl init"),
        "{zr}"
    );
    let before = history(&s).len();
    let (code, _, err) = out(jailctl(&s, &c).args(["up", "web"]));
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains(&zr), "{err}");
    assert!(!history(&s)[before..].iter().any(mutating));
}
