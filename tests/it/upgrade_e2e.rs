//! `jailctl upgrade` end to end through the real binary on the strict simulated host: a jail
//! with a volume and a provisioned file moves from base 14.3-RELEASE to 14.4-RELEASE; a
//! failing health check puts the old root back by itself; `--rollback` after a success and
//! `--finish`; the refusals (a base that does not exist, a definition naming another base);
//! and a fault injected at each command of the upgrade leaves the host as before.

use super::support::{TestHost, history, host_with_base, line, mutating, sim};
use jailctl_sim::testing::seed_base;
use std::path::{Path, PathBuf};

const ROOT: &str = "zroot/jailctl/jails/app";
const KEPT: &str = "zroot/jailctl/jails/app.pre-upgrade";
const NEW_BASE: &str = "zroot/jailctl/bases/14.4-RELEASE";
const NEW_SNAP: &str = "zroot/jailctl/bases/14.4-RELEASE@20260302-000000";
const OLD_SNAP: &str = super::support::BASE_SNAPSHOT;

/// The definition of `app` on base `base`: a volume, one provisioned file, a health check
/// that runs `/usr/bin/fetch` (the simulator runs a program that exists in the jail's root).
fn app(base: &str) -> String {
    format!(
        r#"base = "{base}"
hostname = "app.example.org"

[network]
mode = "inherit"

[[volumes]]
name = "data"
target = "/var/db/app"

[[provision.files]]
source = "motd"
target = "/etc/motd"
mode = "0644"

[health]
command = ["/usr/bin/fetch", "-q", "-o", "/dev/null", "http://127.0.0.1/"]
interval = "50ms"
timeout = "2s"
retries = 2
"#
    )
}

/// A host with base 14.3-RELEASE, a second base 14.4-RELEASE (its newest snapshot holds
/// `/etc/release` = "14.4"; with `broken`, it lacks `/usr/bin/fetch`, so the health check
/// fails on it), and the jail `app` up on 14.3-RELEASE with a file on its volume and one in
/// its root. Its definition then names 14.4-RELEASE, as the upgrade asks.
fn host(broken: bool) -> TestHost {
    let dir = tempfile::tempdir().unwrap();
    let t = TestHost { dir };
    host_with_base(&t.sim());
    std::fs::create_dir_all(t.cfg().join("jails")).unwrap();
    std::fs::write(
        t.cfg().join("jailctl.toml"),
        "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/jails\"\n",
    )
    .unwrap();
    std::fs::write(t.cfg().join("jails/motd"), "provisioned\n").unwrap();
    t.jail("app", &app("14.3-RELEASE"));
    t.ok(&["up", "app"]);
    std::fs::write(
        t.file("usr/local/jails/.volumes/app/data/db"),
        "volume data\n",
    )
    .unwrap();
    std::fs::write(
        t.file("usr/local/jails/app/etc/old-only"),
        "from the old root\n",
    )
    .unwrap();
    {
        let h = jailctl_sim::SimHost::open(&t.sim()).unwrap();
        let mp = "/usr/local/jails/.bases/14.4-RELEASE";
        seed_base(&h, NEW_BASE, mp, "20260302-000000");
        let base = t.file(mp.trim_start_matches('/'));
        std::fs::write(base.join("etc/release"), "14.4\n").unwrap();
        if broken {
            std::fs::remove_file(base.join("usr/bin/fetch")).unwrap();
        }
    }
    // Taken again over the changed files (one snapshot: the fingerprint names a base's
    // snapshots by their pattern, not their time).
    sim(&t.sim(), &["zfs", "destroy", NEW_SNAP]);
    sim(&t.sim(), &["zfs", "snapshot", NEW_SNAP]);
    t.jail("app", &app("14.4-RELEASE"));
    t
}

trait Files {
    fn file(&self, rel: &str) -> PathBuf;
    fn read(&self, rel: &str) -> Option<String>;
    fn prop(&self, ds: &str, p: &str) -> String;
    fn exists(&self, ds: &str) -> bool;
    fn running(&self) -> bool;
}

impl Files for TestHost {
    fn file(&self, rel: &str) -> PathBuf {
        self.sim().join("root").join(rel)
    }
    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.file(rel)).ok()
    }
    fn prop(&self, ds: &str, p: &str) -> String {
        sim(&self.sim(), &["zfs", "get", "-H", "-o", "value", p, ds])
            .trim()
            .to_string()
    }
    fn exists(&self, ds: &str) -> bool {
        self.jailctl()
            .args(["sim", "zfs", "list", "-H", "-o", "name", ds])
            .output()
            .unwrap()
            .status
            .success()
    }
    fn running(&self) -> bool {
        self.jailctl()
            .args(["sim", "jls", "-j", "app", "jid"])
            .output()
            .unwrap()
            .status
            .success()
    }
}

/// `jailctl ARGS...` without `-q`, which must succeed; its stdout.
fn loud(t: &TestHost, args: &[&str]) -> String {
    let o = super::support::jailctl_loud(Path::new("sim"), Path::new("etc"))
        .current_dir(t.dir.path())
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "jailctl {args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

/// The state of the old root as `host` leaves it: running, cloned from 14.3, its own file
/// and the volume's file there, no kept root.
fn assert_on_old_root(t: &TestHost) {
    assert_eq!(t.prop(ROOT, "origin"), OLD_SNAP);
    assert_eq!(t.prop(ROOT, "jailctl:base"), OLD_SNAP);
    assert_eq!(
        t.read("usr/local/jails/app/etc/old-only").as_deref(),
        Some("from the old root\n")
    );
    assert_eq!(t.read("usr/local/jails/app/etc/release"), None);
    assert_eq!(
        t.read("usr/local/jails/.volumes/app/data/db").as_deref(),
        Some("volume data\n")
    );
    assert!(!t.exists(KEPT), "{KEPT} is left");
    assert!(t.running(), "app is not running");
}

#[test]
fn upgrade_clones_the_new_base_keeps_the_old_root_and_the_volume_and_provisions_again() {
    let t = host(false);
    let out = loud(&t, &["upgrade", "app", "--base", "14.4-RELEASE"]);
    assert!(out.contains("app: upgrade"), "{out}");
    assert!(out.contains("--finish"), "{out}");
    assert_eq!(t.prop(ROOT, "origin"), NEW_SNAP);
    assert_eq!(t.prop(ROOT, "jailctl:base"), NEW_SNAP);
    assert_eq!(t.prop(ROOT, "jailctl:upgrade-from"), OLD_SNAP);
    assert_eq!(
        t.read("usr/local/jails/app/etc/release").as_deref(),
        Some("14.4\n")
    );
    assert_eq!(t.read("usr/local/jails/app/etc/old-only"), None);
    // Provisioning ran again on the new root; the volume is the same dataset, untouched.
    assert_eq!(
        t.read("usr/local/jails/app/etc/motd").as_deref(),
        Some("provisioned\n")
    );
    assert_eq!(
        t.read("usr/local/jails/.volumes/app/data/db").as_deref(),
        Some("volume data\n")
    );
    // The old root is kept, unmounted, with what jailctl recorded on it.
    assert!(t.exists(KEPT));
    assert_eq!(t.prop(KEPT, "jailctl:base"), OLD_SNAP);
    assert_eq!(t.prop(KEPT, "mountpoint"), "none");
    assert!(t.running());
    // `list` and `status` show the kept root and the way out of it.
    let list = loud(&t, &["list"]);
    assert!(
        list.contains(&format!(
            "upgraded; old root kept: {KEPT} (from {OLD_SNAP})"
        )) && list.contains("jailctl upgrade app --finish"),
        "{list}"
    );
    let status = loud(&t, &["status", "app"]);
    assert!(
        status.contains("upgrade:") && status.contains(KEPT),
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&loud(&t, &["list", "--json"])).unwrap();
    let row = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "app")
        .unwrap()
        .clone();
    assert_eq!(row["kept_root"]["dataset"], KEPT, "{row}");
    assert_eq!(row["kept_root"]["base"], OLD_SNAP, "{row}");
    // The health check ran in the new jail.
    let h = history(&t.sim());
    assert!(
        h.iter()
            .any(|e| line(e).starts_with("jexec app /usr/bin/fetch") && e.status == 0),
        "no successful health probe"
    );
    // `up` sees nothing to change afterwards.
    let out = loud(&t, &["plan", "app"]);
    assert!(out.contains("up to date"), "{out}");
    // A second upgrade has nothing to do.
    let out = loud(&t, &["upgrade", "app"]);
    assert!(out.contains("nothing to upgrade"), "{out}");
}

#[test]
fn a_failing_health_check_puts_the_old_root_back_and_the_jail_runs_as_before() {
    let t = host(true);
    let before = t.fingerprint();
    let o = t.run(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("jail app is not healthy: 2 probe(s) failed"),
        "{e}"
    );
    assert!(e.contains("the host is as before (checked)"), "{e}");
    assert_on_old_root(&t);
    super::support::assert_same(&before, &t.fingerprint());
}

#[test]
fn rollback_after_a_success_brings_the_old_root_back_and_finish_destroys_the_kept_one() {
    let t = host(false);
    t.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    // The volume is written to while on the new base: a rollback keeps that.
    std::fs::write(
        t.file("usr/local/jails/.volumes/app/data/db"),
        "volume data\n",
    )
    .unwrap();
    let dry = t.ok(&["upgrade", "app", "--rollback", "--dry-run"]);
    for cmd in [
        "zfs rename zroot/jailctl/jails/app zroot/jailctl/jails/app.upgraded",
        "zfs rename zroot/jailctl/jails/app.pre-upgrade zroot/jailctl/jails/app",
        "zfs destroy -r zroot/jailctl/jails/app.upgraded",
    ] {
        assert!(dry.contains(cmd), "{cmd} not in:\n{dry}");
    }
    assert!(t.exists(KEPT), "--dry-run changed the host");
    t.ok(&["upgrade", "app", "--rollback"]);
    assert_on_old_root(&t);
    assert!(!t.exists("zroot/jailctl/jails/app.upgraded"));
    let o = t.run(&["upgrade", "app", "--rollback"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("nothing to roll back"),
        "{}",
        stderr(&o)
    );

    // Upgrade again and keep it; until then, `destroy` refuses to leave the kept root behind.
    t.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    let o = t.run(&["destroy", "app", "--yes"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "the old root its upgrade kept, {KEPT}, would be left behind"
        )),
        "{}",
        stderr(&o)
    );
    let out = loud(&t, &["upgrade", "app", "--finish"]);
    assert!(out.contains("finish the upgrade"), "{out}");
    assert!(!t.exists(KEPT));
    assert_eq!(t.prop(ROOT, "origin"), NEW_SNAP);
    assert!(t.running());
    assert!(!loud(&t, &["list"]).contains("old root kept"));
    t.ok(&["destroy", "app", "--yes"]);
    assert!(!t.exists(ROOT));
    let o = t.run(&["upgrade", "app", "--finish"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nothing to finish"), "{}", stderr(&o));
}

#[test]
fn a_stopped_jail_rolled_back_stays_stopped() {
    let t = host(false);
    t.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    t.ok(&["down", "app"]);
    t.ok(&["upgrade", "app", "--rollback"]);
    assert_eq!(t.prop(ROOT, "origin"), OLD_SNAP);
    assert!(!t.running());
}

#[test]
fn refusals_name_the_fix_and_change_nothing() {
    let t = host(false);
    let before = t.fingerprint();
    let o = t.run(&["upgrade", "app", "--base", "15.0-RELEASE"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("base `15.0-RELEASE` does not exist")
            && e.contains("jailctl base create 15.0-RELEASE"),
        "{e}"
    );
    t.jail("app", &app("14.3-RELEASE"));
    let o = t.run(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("is defined with base `14.3-RELEASE`") && e.contains("base = \"14.4-RELEASE\""),
        "{e}"
    );
    super::support::assert_same(&before, &t.fingerprint());
    // A kept root blocks a second upgrade until it is finished or rolled back.
    t.jail("app", &app("14.4-RELEASE"));
    t.ok(&["upgrade", "app"]);
    sim(
        &t.sim(),
        &[
            "zfs",
            "snapshot",
            "zroot/jailctl/bases/14.4-RELEASE@20260303-000000",
        ],
    );
    let o = t.run(&["upgrade", "app"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--finish"), "{}", stderr(&o));
}

#[test]
fn a_fault_at_each_command_of_the_upgrade_leaves_the_host_as_before() {
    let t = host(false);
    // The commands of a successful upgrade, on a copy: each mutating one with which match of
    // its line it is, and the health probe. Left out: jail(8)'s own unmounts inside `jail -r`
    // (the stop), which happen after the kernel removed the jail and cannot be rolled back on
    // a real host either (tests/it/lifecycle_faults.rs covers that report).
    let probe = t.copy();
    let start = history(&probe.sim()).len();
    probe.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    let run = history(&probe.sim())[start..].to_vec();
    let mut cmds: Vec<(String, usize)> = Vec::new();
    for (i, e) in run.iter().enumerate() {
        let l = line(e);
        let health = l.starts_with("jexec app /usr/bin/fetch");
        if (mutating(e) && !l.starts_with("umount ")) || health {
            let nth = run[..=i].iter().filter(|x| line(x) == l).count();
            if !(health && nth > 1) {
                cmds.push((l, nth));
            }
        }
    }
    let names: Vec<&str> = cmds.iter().map(|c| c.0.as_str()).collect();
    for want in [
        "jail -f /var/run/jailctl/app.conf -r app",
        "zfs rename zroot/jailctl/jails/app zroot/jailctl/jails/app.pre-upgrade",
        "zfs set mountpoint=none zroot/jailctl/jails/app.pre-upgrade",
        "jail -f /var/run/jailctl/app.conf -c app",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    assert!(
        names.iter().any(|c| c.starts_with("zfs clone")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|c| c.starts_with("jexec app /usr/bin/fetch")),
        "{names:?}"
    );
    let before = t.fingerprint();
    for (cmd, nth) in &cmds {
        let h = t.copy();
        // Every probe of the health check fails; any other command once.
        let count = if cmd.starts_with("jexec") { 2 } else { 1 };
        let glob = glob::Pattern::escape(cmd);
        let o = h
            .jailctl()
            .env(
                "JAILCTL_SIM_FAULTS",
                format!("{glob}|{nth}x{count}|1|injected failure"),
            )
            .args(["upgrade", "app", "--base", "14.4-RELEASE"])
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "fault at `{cmd}` did not fail the upgrade"
        );
        let e = stderr(&o);
        assert!(e.contains("injected failure"), "fault at `{cmd}`: {e}");
        assert!(
            e.contains("the host is as before (checked)"),
            "fault at `{cmd}`: {e}"
        );
        super::support::assert_same(&before, &h.fingerprint());
        assert_on_old_root(&h);
    }
    // The same upgrade without a fault then succeeds.
    t.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    assert_eq!(t.prop(ROOT, "origin"), NEW_SNAP);
}

/// SIGKILL at several points of an upgrade (after the stop, the rename, the clone, the
/// start, during the health check); the same command run again finishes the undo of the
/// killed run first and then upgrades: the host ends as a clean upgrade leaves it.
#[test]
fn a_killed_upgrade_is_finished_by_running_it_again() {
    use super::support::kill::{When, kill};
    let t = host(false);
    let clean = t.copy();
    clean.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    let want = clean.fingerprint();
    for at in [
        "jail -f /var/run/jailctl/app.conf -r app",
        "zfs rename zroot/jailctl/jails/app zroot/jailctl/jails/app.pre-upgrade",
        "zfs clone",
        "jail -f /var/run/jailctl/app.conf -c app",
        "jexec app /usr/bin/fetch",
    ] {
        let h = t.copy();
        let k = kill(
            &h,
            &["upgrade", "app", "--base", "14.4-RELEASE"],
            When::After(at),
        );
        assert!(k.commands > 0, "killed at `{at}` before any command");
        // After the last probe only the journal's removal is left: that kill may come late.
        assert!(
            k.running || at.starts_with("jexec"),
            "the upgrade had finished before the kill after `{at}`"
        );
        h.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
        assert_eq!(h.prop(ROOT, "origin"), NEW_SNAP, "killed after `{at}`");
        assert_eq!(
            h.read("usr/local/jails/.volumes/app/data/db").as_deref(),
            Some("volume data\n")
        );
        assert_eq!(
            std::fs::read_to_string(
                h.sim()
                    .join("unmounted/zroot/jailctl/jails/app.pre-upgrade/etc/old-only")
            )
            .ok()
            .as_deref(),
            Some("from the old root\n"),
            "the kept root lost its files after a kill at `{at}`"
        );
        super::support::assert_same(&want, &h.fingerprint());
    }
}

/// What the upgrade relies on in the simulator: a filesystem unmounted with
/// `mountpoint=none` keeps its files (not at the old mountpoint), they follow a rename and
/// come back when it is mounted again, and a destroy removes them.
#[test]
fn the_simulator_keeps_an_unmounted_filesystems_files() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("sim");
    host_with_base(&s);
    let ds = "zroot/jailctl/jails/x";
    sim(
        &s,
        &["zfs", "create", "-o", "mountpoint=/usr/local/jails/x", ds],
    );
    let at = s.join("root/usr/local/jails/x");
    std::fs::write(at.join("f"), "kept\n").unwrap();
    sim(&s, &["zfs", "set", "mountpoint=none", ds]);
    assert!(
        !at.join("f").exists(),
        "an unmounted filesystem's file is still visible"
    );
    sim(
        &s,
        &["zfs", "rename", ds, "zroot/jailctl/jails/x.pre-upgrade"],
    );
    sim(
        &s,
        &["zfs", "rename", "zroot/jailctl/jails/x.pre-upgrade", ds],
    );
    sim(&s, &["zfs", "set", "mountpoint=/usr/local/jails/x", ds]);
    assert_eq!(std::fs::read_to_string(at.join("f")).unwrap(), "kept\n");
    assert!(
        !s.join("unmounted").exists(),
        "the store is left after the remount"
    );
    sim(&s, &["zfs", "set", "mountpoint=none", ds]);
    sim(&s, &["zfs", "destroy", ds]);
    assert!(
        !s.join("unmounted").exists(),
        "destroy left the files behind"
    );
}

/// `--all --base R` upgrades every jail defined with R that has a root, and leaves a jail
/// defined with another base alone; `--dry-run` changes nothing.
#[test]
fn all_upgrades_the_jails_defined_with_the_base() {
    let t = host(false);
    t.jail(
        "other",
        "base = \"14.3-RELEASE\"\nhostname = \"other.example.org\"\n[network]\nmode = \"inherit\"\n",
    );
    t.ok(&["up", "other"]);
    let before = t.fingerprint();
    // `plan --upgrade` says every step, the health check included, and why.
    let plan = loud(&t, &["plan", "app", "--upgrade"]);
    for want in [
        "app: upgrade",
        "the old root is kept as zroot/jailctl/jails/app.pre-upgrade",
        "move old root zroot/jailctl/jails/app aside to zroot/jailctl/jails/app.pre-upgrade",
        "provision app",
        "health check of app: `/usr/bin/fetch",
    ] {
        assert!(plan.contains(want), "{want} not in:\n{plan}");
    }
    let dry = loud(
        &t,
        &["upgrade", "--all", "--base", "14.4-RELEASE", "--dry-run"],
    );
    assert!(
        dry.contains("app: upgrade") && !dry.contains("other"),
        "{dry}"
    );
    assert!(dry.contains(&format!("zfs rename {ROOT} {KEPT}")), "{dry}");
    super::support::assert_same(&before, &t.fingerprint());
    t.ok(&["upgrade", "--all", "--base", "14.4-RELEASE"]);
    assert_eq!(t.prop(ROOT, "origin"), NEW_SNAP);
    assert_eq!(t.prop("zroot/jailctl/jails/other", "origin"), OLD_SNAP);
    assert!(!t.exists("zroot/jailctl/jails/other.pre-upgrade"));
}

/// A fault at each command of `--rollback` leaves the host as the upgrade left it: the
/// `zfs destroy -r` of the upgraded root comes last, and when it fails nothing was destroyed,
/// so that is undone like the rest.
#[test]
fn a_fault_at_each_command_of_a_rollback_leaves_the_upgrade_in_place() {
    let t = host(false);
    t.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    let probe = t.copy();
    let start = history(&probe.sim()).len();
    probe.ok(&["upgrade", "app", "--rollback"]);
    let run = history(&probe.sim())[start..].to_vec();
    let mut cmds: Vec<(String, usize)> = Vec::new();
    for (i, e) in run.iter().enumerate() {
        let l = line(e);
        if mutating(e) && !l.starts_with("umount ") {
            let nth = run[..=i].iter().filter(|x| line(x) == l).count();
            cmds.push((l, nth));
        }
    }
    assert_eq!(
        cmds.last().unwrap().0,
        "zfs destroy -r zroot/jailctl/jails/app.upgraded"
    );
    assert!(cmds.len() >= 6, "{cmds:?}");
    let before = t.fingerprint();
    for (cmd, nth) in &cmds {
        let h = t.copy();
        let o = h
            .jailctl()
            .env(
                "JAILCTL_SIM_FAULTS",
                format!("{}|{nth}|1|injected failure", glob::Pattern::escape(cmd)),
            )
            .args(["upgrade", "app", "--rollback"])
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "fault at `{cmd}` did not fail the rollback"
        );
        let e = stderr(&o);
        assert!(
            e.contains("the host is as before (checked)"),
            "fault at `{cmd}`: {e}"
        );
        super::support::assert_same(&before, &h.fingerprint());
        assert_eq!(h.prop(ROOT, "origin"), NEW_SNAP, "fault at `{cmd}`");
        assert!(h.exists(KEPT), "fault at `{cmd}`");
    }
}

/// `--rollback` and `--finish` use or destroy the kept root only if jailctl marked it as its
/// own (`jailctl:managed=yes` set on it).
#[test]
fn a_kept_root_jailctl_did_not_mark_is_refused() {
    let t = host(false);
    t.ok(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    sim(&t.sim(), &["zfs", "inherit", "jailctl:managed", KEPT]);
    let before = t.fingerprint();
    for flag in ["--rollback", "--finish"] {
        let o = t.run(&["upgrade", "app", flag]);
        assert!(!o.status.success(), "{flag} accepted a foreign kept root");
        let e = stderr(&o);
        assert!(
            e.contains(&format!("refusing to use or change {KEPT}")),
            "{flag}: {e}"
        );
    }
    super::support::assert_same(&before, &t.fingerprint());
}

/// A stopped jail is started by its upgrade (provisioning and the health check need it
/// running); when the health check fails it is stopped again, on its old root.
#[test]
fn a_stopped_jail_whose_upgrade_fails_stays_stopped_on_its_old_root() {
    let t = host(true);
    t.ok(&["down", "app"]);
    let before = t.fingerprint();
    let o = t.run(&["upgrade", "app", "--base", "14.4-RELEASE"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is not healthy"), "{}", stderr(&o));
    assert!(!t.running());
    assert_eq!(t.prop(ROOT, "origin"), OLD_SNAP);
    assert!(!t.exists(KEPT));
    super::support::assert_same(&before, &t.fingerprint());
    let good = host(false);
    good.ok(&["down", "app"]);
    good.ok(&["upgrade", "app"]);
    assert!(good.running());
    assert_eq!(good.prop(ROOT, "origin"), NEW_SNAP);
}
