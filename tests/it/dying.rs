//! Jails the kernel keeps dying after `jail -r`: with the simulator's `dying_commands`
//! setting a stopped jail holds its root busy for a while, as on FreeBSD. `destroy` must
//! wait for it to go rather than fail half-way with "dataset is busy", and when it gives up
//! it must leave the host as it was. `up` and `restart` wait for it too, and when it is
//! still there start the new jail over it, as jail(8) allows.

use crate::support::{examples_config, history, host_with_base, jailctl, line, sim};
use assert_cmd::Command;
use std::path::Path;

const ROOT: &str = "zroot/jailctl/jails/resolver";

fn setup(dying: u64) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let simdir = d.path().join("sim");
    let conf = d.path().join("conf");
    host_with_base(&simdir);
    examples_config(&conf);
    std::fs::write(
        simdir.join("faults.toml"),
        format!("dying_commands = {dying}\n"),
    )
    .unwrap();
    jailctl(&simdir, &conf)
        .args(["up", "resolver"])
        .assert()
        .success();
    (d, simdir, conf)
}

/// The text without whitespace or the frame of the error report, so a check does not depend
/// on where the report wraps its lines.
fn flat(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

fn cmd(simdir: &Path, conf: &Path, wait: &str) -> Command {
    let mut c = jailctl(simdir, conf);
    c.env("JAILCTL_DYING_WAIT", wait);
    c
}

fn dataset_exists(simdir: &Path) -> bool {
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.env_remove("JAILCTL_SIM_FAULTS")
        .args(["-q", "--simulate"])
        .arg(simdir)
        .args(["sim", "zfs", "list", "-H", "-o", "name", ROOT]);
    c.output().unwrap().status.success()
}

#[test]
fn a_dying_jail_keeps_its_root_busy_on_the_simulator() {
    let (_d, simdir, conf) = setup(3);
    cmd(&simdir, &conf, "5")
        .args(["down", "resolver"])
        .assert()
        .success();
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.env_remove("JAILCTL_SIM_FAULTS")
        .args(["-q", "--simulate"])
        .arg(&simdir)
        .args(["sim", "zfs", "destroy", "-r", ROOT]);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot destroy '{ROOT}': dataset is busy")),
        "{err}"
    );
    // Still listed by jls -d, then reaped once its commands are used up.
    sim(&simdir, &["jls", "-d", "-j", "resolver", "jid"]);
    sim(&simdir, &["jls", "-d", "-j", "resolver", "jid"]);
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.args(["-q", "--simulate"])
        .arg(&simdir)
        .args(["sim", "jls", "-d", "-j", "resolver", "jid"]);
    assert!(!c.output().unwrap().status.success(), "jail was not reaped");
    sim(&simdir, &["zfs", "destroy", "-r", ROOT]);
}

#[test]
fn down_then_destroy_waits_for_the_dying_jail() {
    // Long enough that destroy's own observation still sees the jail dying.
    let (_d, simdir, conf) = setup(20);
    cmd(&simdir, &conf, "5")
        .args(["down", "resolver"])
        .assert()
        .success();
    cmd(&simdir, &conf, "5")
        .args(["destroy", "resolver", "--yes"])
        .assert()
        .success();
    assert!(!dataset_exists(&simdir));
    let run: Vec<String> = history(&simdir).iter().map(line).collect();
    let destroy = run
        .iter()
        .position(|l| l == &format!("zfs destroy -r {ROOT}"))
        .expect("root destroyed");
    assert!(
        run[..destroy]
            .iter()
            .filter(|l| *l == "jls -d -j resolver jid")
            .count()
            >= 2,
        "destroy did not poll the dying jail: {run:#?}"
    );
}

#[test]
fn destroy_of_a_running_jail_waits_for_it_to_die() {
    let (_d, simdir, conf) = setup(6);
    cmd(&simdir, &conf, "5")
        .args(["destroy", "resolver", "--yes"])
        .assert()
        .success();
    assert!(!dataset_exists(&simdir));
}

#[test]
fn destroy_gives_up_cleanly_and_a_later_run_succeeds() {
    let (_d, simdir, conf) = setup(40);
    cmd(&simdir, &conf, "5")
        .args(["down", "resolver"])
        .assert()
        .success();
    let conf_file = simdir.join("root/var/run/jailctl/resolver.conf");
    let conf_before = std::fs::read(&conf_file).ok();
    let out = cmd(&simdir, &conf, "0.2")
        .args(["destroy", "resolver", "--yes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    for want in [
        "jail resolver is still dying (the kernel is tearing it down)".to_string(),
        format!("its root {ROOT} is busy"),
        "run `jailctl destroy resolver` again in a few seconds".to_string(),
        "the host is as before".to_string(),
    ] {
        assert!(err.contains(&flat(&want)), "{want} not in {err}");
    }
    // Nothing half-destroyed: the root and the rendered jail.conf are still there.
    assert!(dataset_exists(&simdir));
    assert_eq!(std::fs::read(&conf_file).ok(), conf_before);
    let run: Vec<String> = history(&simdir).iter().map(line).collect();
    assert!(
        !run.iter().any(|l| l.starts_with("zfs destroy")),
        "{run:#?}"
    );
    cmd(&simdir, &conf, "10")
        .args(["destroy", "resolver", "--yes"])
        .assert()
        .success();
    assert!(!dataset_exists(&simdir));
}

#[test]
fn a_destroy_that_stopped_the_jail_and_gave_up_starts_it_again() {
    let (_d, simdir, conf) = setup(200);
    let out = cmd(&simdir, &conf, "0.2")
        .args(["destroy", "resolver", "--yes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    assert!(err.contains(&flat("the host is as before")), "{err}");
    assert!(dataset_exists(&simdir));
    // The journal put the jail back as it was: running, with its rctl rules.
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.args(["-q", "--simulate"])
        .arg(&simdir)
        .args(["sim", "jls", "-j", "resolver", "jid"]);
    assert!(
        c.output().unwrap().status.success(),
        "resolver is not running"
    );
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.args(["-q", "--simulate"])
        .arg(&simdir)
        .args(["sim", "rctl", "jail:resolver"]);
    let rules = String::from_utf8_lossy(&c.output().unwrap().stdout).to_string();
    assert!(rules.contains("jail:resolver:memoryuse"), "{rules}");
}

fn running(simdir: &Path) -> bool {
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.env_remove("JAILCTL_SIM_FAULTS")
        .args(["-q", "--simulate"])
        .arg(simdir)
        .args(["sim", "jls", "-j", "resolver", "jid"]);
    c.output().unwrap().status.success()
}

/// The jids `jls -d` lists for resolver, with whether each is dying.
fn resolver_jails(simdir: &Path) -> Vec<(String, String)> {
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.env_remove("JAILCTL_SIM_FAULTS")
        .args(["-q", "--simulate"])
        .arg(simdir)
        .args(["sim", "jls", "-d", "-n", "name", "jid", "dying"]);
    let out = c.output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("name=resolver"))
        .map(|l| {
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|f| f.strip_prefix(k))
                    .unwrap_or_default()
                    .to_string()
            };
            let dying = l.split_whitespace().any(|f| f == "dying");
            (field("jid="), dying.to_string())
        })
        .collect()
}

/// The commands run since the last `jail ... -r resolver`.
fn since_stop(simdir: &Path) -> Vec<String> {
    let run: Vec<String> = history(simdir).iter().map(line).collect();
    let stop = run
        .iter()
        .rposition(|l| l.starts_with("jail -f") && l.ends_with("-r resolver"))
        .expect("resolver was stopped");
    run[stop + 1..].to_vec()
}

#[test]
fn restart_waits_for_the_old_jail_to_die_then_starts() {
    // Long enough that up's own observation still sees the old jail dying.
    let (_d, simdir, conf) = setup(20);
    cmd(&simdir, &conf, "5")
        .args(["restart", "resolver"])
        .assert()
        .success();
    assert!(running(&simdir), "resolver is not running");
    let run = since_stop(&simdir);
    let create = run
        .iter()
        .position(|l| l.starts_with("jail -f") && l.ends_with("-c resolver"))
        .expect("resolver started again");
    let polls = run[..create]
        .iter()
        .filter(|l| *l == "jls -d -j resolver jid")
        .count();
    assert!(polls >= 2, "up did not wait for the dying jail: {run:#?}");
    // It was gone by then: one jail of that name, alive.
    let jails = resolver_jails(&simdir);
    assert_eq!(jails.len(), 1, "{jails:?}");
    assert_eq!(jails[0].1, "false");
}

#[test]
fn restart_starts_over_a_jail_still_dying_after_the_wait() {
    let (_d, simdir, conf) = setup(200);
    cmd(&simdir, &conf, "0.3")
        .args(["restart", "resolver"])
        .assert()
        .success();
    assert!(running(&simdir), "resolver is not running");
    // jail(8) replaced the dying jail: the kernel still tears the old one down.
    let mut jails = resolver_jails(&simdir);
    jails.sort_by_key(|(_, dying)| dying.clone());
    assert_eq!(jails.len(), 2, "{jails:?}");
    assert_eq!(jails[0].1, "false");
    assert_eq!(jails[1].1, "true");
    assert_ne!(jails[0].0, jails[1].0);
    // jailctl sees the new jail: a second up has nothing to start or stop.
    let before = history(&simdir).len();
    cmd(&simdir, &conf, "0.3")
        .args(["up", "resolver"])
        .assert()
        .success();
    let again: Vec<String> = history(&simdir)[before..].iter().map(line).collect();
    assert!(!again.is_empty(), "up observed nothing");
    assert!(!again.iter().any(|l| l.starts_with("jail ")), "{again:#?}");
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.args(["-q", "--simulate"])
        .arg(&simdir)
        .args(["sim", "rctl", "jail:resolver"]);
    let rules = String::from_utf8_lossy(&c.output().unwrap().stdout).to_string();
    assert!(rules.contains("jail:resolver:memoryuse"), "{rules}");
}

#[test]
fn up_after_down_starts_over_the_dying_jail() {
    let (_d, simdir, conf) = setup(200);
    cmd(&simdir, &conf, "5")
        .args(["down", "resolver"])
        .assert()
        .success();
    assert!(!running(&simdir));
    cmd(&simdir, &conf, "0.3")
        .args(["up", "resolver"])
        .assert()
        .success();
    assert!(running(&simdir), "resolver is not running");
    let run = since_stop(&simdir);
    let create = run
        .iter()
        .position(|l| l.starts_with("jail -f") && l.ends_with("-c resolver"))
        .expect("resolver started again");
    assert!(
        run[..create].iter().any(|l| l == "jls -d -j resolver jid"),
        "up did not wait: {run:#?}"
    );
    // The old jail still holds the root it shared with the new one.
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.env_remove("JAILCTL_SIM_FAULTS")
        .args(["-q", "--simulate"])
        .arg(&simdir)
        .args(["sim", "zfs", "destroy", "-r", ROOT]);
    assert!(!c.output().unwrap().status.success());
}

#[test]
fn a_failed_start_over_a_dying_jail_names_the_state_and_undoes() {
    let (_d, simdir, conf) = setup(200);
    cmd(&simdir, &conf, "5")
        .args(["down", "resolver"])
        .assert()
        .success();
    let conf_file = simdir.join("root/var/run/jailctl/resolver.conf");
    let conf_before = std::fs::read(&conf_file).ok();
    let out = cmd(&simdir, &conf, "0.2")
        .env(
            "JAILCTL_SIM_FAULTS",
            "jail -f * -c resolver|1|1|jail: resolver: failed",
        )
        .args(["up", "resolver"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    for want in [
        "jail: resolver: failed",
        "jail resolver was still dying (the kernel is tearing down the jail it replaces) after the wait",
        "wait until `jls -d -j resolver` no longer lists it, then run `jailctl up resolver` again",
        "JAILCTL_DYING_WAIT=SECONDS waits longer",
        "the host is as before",
    ] {
        assert!(err.contains(&flat(want)), "{want} not in {err}");
    }
    assert!(!running(&simdir));
    assert_eq!(std::fs::read(&conf_file).ok(), conf_before);
}

/// A VNET jail, from a definition like the shipped `vnet` template's: `up`, `down`, then
/// `destroy`, all with the simulator's defaults. On FreeBSD the removed jail stays dying until
/// the kernel has torn down its network stack and freed it (kern_jail.c, `prison_deref`),
/// on its own; `destroy` waits for that by polling `jls -d` and then destroys the root.
fn vnet_host() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let simdir = d.path().join("sim");
    let conf = d.path().join("conf");
    host_with_base(&simdir);
    examples_config(&conf);
    std::fs::write(
        conf.join("jails/v1.toml"),
        "extends = \"vnet\"\n[network]\nmode = \"vnet\"\nbridge = \"bridge0\"\nip4 = [\"10.20.0.11/24\"]\n",
    )
    .unwrap();
    jailctl(&simdir, &conf)
        .args(["up", "v1"])
        .assert()
        .success();
    (d, simdir, conf)
}

/// What is left of jail v1 on the host: its jail (dying or not), its root dataset, and
/// interfaces named after it.
fn vnet_leftovers(simdir: &Path) -> Vec<String> {
    let h = jailctl_sim::SimHost::open_with(simdir, Default::default()).unwrap();
    let s = h.snapshot().unwrap();
    let mut left: Vec<String> = s
        .jail
        .jails
        .values()
        .filter(|j| j.name == "v1")
        .map(|j| format!("jail v1 (dying {})", j.dying))
        .collect();
    left.extend(
        s.zfs
            .datasets
            .keys()
            .filter(|n| n.starts_with("zroot/jailctl/jails/v1"))
            .cloned(),
    );
    let mut c = Command::cargo_bin("jailctl").unwrap();
    c.args(["-q", "--simulate"])
        .arg(simdir)
        .args(["sim", "ifconfig", "-l"]);
    let ifaces = String::from_utf8(c.output().unwrap().stdout).unwrap();
    left.extend(
        ifaces
            .split_whitespace()
            .filter(|i| i.ends_with("_v1"))
            .map(str::to_string),
    );
    left
}

#[test]
fn destroy_of_a_stopped_vnet_jail_succeeds() {
    let (_d, simdir, conf) = vnet_host();
    assert!(!vnet_leftovers(&simdir).is_empty(), "v1 was not started");
    jailctl(&simdir, &conf)
        .args(["down", "v1"])
        .assert()
        .success();
    jailctl(&simdir, &conf)
        .args(["destroy", "v1", "--yes"])
        .assert()
        .success();
    assert_eq!(vnet_leftovers(&simdir), Vec::<String>::new());
    let run: Vec<String> = history(&simdir).iter().map(line).collect();
    assert!(
        run.iter()
            .any(|l| l == "zfs destroy -r zroot/jailctl/jails/v1"),
        "{run:#?}"
    );
}

#[test]
fn destroy_of_a_running_vnet_jail_succeeds() {
    let (_d, simdir, conf) = vnet_host();
    jailctl(&simdir, &conf)
        .args(["destroy", "v1", "--yes"])
        .assert()
        .success();
    assert_eq!(vnet_leftovers(&simdir), Vec::<String>::new());
    // It waited for the jail to die before destroying its root.
    let run: Vec<String> = history(&simdir).iter().map(line).collect();
    let destroy = run
        .iter()
        .position(|l| l == "zfs destroy -r zroot/jailctl/jails/v1")
        .expect("root destroyed");
    assert!(
        run[..destroy].iter().any(|l| l == "jls -d -j v1 jid"),
        "destroy did not wait for the dying jail: {run:#?}"
    );
}
