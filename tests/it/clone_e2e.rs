//! `jailctl clone` end to end through the real binary on the simulated host: the example
//! `db` jail (running, with files in its root and its volume `pgdata`) cloned as `db2` with a
//! new address and hostname, with and without its volumes; the new jail starts beside the
//! original and the two are independent; the refusals (an address clash, a taken name, a
//! source never brought up) and a clone failing half-way leave the host and the
//! configuration exactly as they were.

use super::support::{assert_same, fingerprint};
use super::support::{examples_config, host_with_base, jailctl};
use jailctl::host::{Cmd, Runner, tools};
use jailctl_sim::{SimConfig, SimHost};
use std::path::{Path, PathBuf};

fn local(sim: &Path, p: &str) -> PathBuf {
    sim.join("root").join(p.trim_start_matches('/'))
}

fn zfs_value(sim: &Path, prop: &str, ds: &str) -> String {
    let o = SimHost::open_with(sim, SimConfig::default())
        .unwrap()
        .output(&Cmd::new(
            tools::ZFS,
            ["get", "-H", "-o", "value", prop, ds],
        ))
        .unwrap();
    assert!(o.success(), "{}", o.stderr);
    o.stdout.trim().to_string()
}

/// A host with `db` up (running) and files in its root and volume; returns (sim, config).
fn db_up(t: &Path) -> (PathBuf, PathBuf) {
    let (s, cfg) = (t.join("sim"), t.join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    jailctl(&s, &cfg).args(["up", "db"]).assert().success();
    std::fs::write(local(&s, "/usr/local/jails/db/etc/motd"), "original\n").unwrap();
    std::fs::write(
        local(&s, "/usr/local/jails/.volumes/db/pgdata/table"),
        "rows\n",
    )
    .unwrap();
    // A host where jailctl has run has its lock directory.
    std::fs::create_dir_all(local(&s, "/var/db/jailctl/locks")).unwrap();
    (s, cfg)
}

fn fails(c: &mut assert_cmd::Command) -> String {
    let out = c.output().unwrap();
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_clone_with_volumes_starts_beside_its_source_and_is_independent() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    jailctl(&s, &cfg)
        .args([
            "clone",
            "db",
            "db2",
            "--volumes",
            "--ip4",
            "192.168.1.29/24",
            "--hostname",
            "db2.example.internal",
        ])
        .assert()
        .success();
    let def = std::fs::read_to_string(cfg.join("jails/db2.toml")).unwrap();
    assert!(
        def.contains("192.168.1.29/24") && def.contains("db2.example.internal"),
        "{def}"
    );
    let origin = zfs_value(&s, "origin", "zroot/jailctl/jails/db2");
    assert!(
        origin.starts_with("zroot/jailctl/jails/db@jailctl-clone-db2-"),
        "{origin}"
    );
    assert!(
        zfs_value(&s, "origin", "zroot/jailctl/volumes/db2/pgdata")
            .starts_with("zroot/jailctl/volumes/db/pgdata@jailctl-clone-db2-")
    );
    assert_eq!(
        zfs_value(&s, "jailctl:managed", "zroot/jailctl/jails/db2"),
        "yes"
    );
    jailctl(&s, &cfg).args(["up", "db2"]).assert().success();
    let state = SimHost::open_with(&s, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap();
    assert!(state.jail.jails.contains_key("db") && state.jail.jails.contains_key("db2"));
    assert_eq!(
        std::fs::read_to_string(local(&s, "/usr/local/jails/db2/etc/motd")).unwrap(),
        "original\n"
    );
    assert_eq!(
        std::fs::read_to_string(local(&s, "/usr/local/jails/.volumes/db2/pgdata/table")).unwrap(),
        "rows\n"
    );
    // A change in the clone leaves the source alone.
    std::fs::write(local(&s, "/usr/local/jails/db2/etc/motd"), "changed\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(local(&s, "/usr/local/jails/db/etc/motd")).unwrap(),
        "original\n"
    );
    // The snapshot the clone depends on is listed with the source's snapshots.
    let out = jailctl(&s, &cfg)
        .args(["snapshot", "list", "db", "--json"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("jailctl-clone-db2-"));
}

#[test]
fn without_volumes_the_clone_gets_empty_ones_at_up() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    jailctl(&s, &cfg)
        .args(["clone", "db", "db2", "--ip4", "192.168.1.29/24"])
        .assert()
        .success();
    jailctl(&s, &cfg).args(["up", "db2"]).assert().success();
    assert!(!local(&s, "/usr/local/jails/.volumes/db2/pgdata/table").exists());
    assert!(local(&s, "/usr/local/jails/.volumes/db2/pgdata").is_dir());
    assert_eq!(
        std::fs::read_to_string(local(&s, "/usr/local/jails/db2/etc/motd")).unwrap(),
        "original\n"
    );
}

#[test]
fn refusals_change_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    let before = fingerprint(&s);
    // The source's fixed address, twice.
    let e = fails(jailctl(&s, &cfg).args(["clone", "db", "db2"]));
    assert!(
        e.contains("does not validate") && e.contains("--ip4"),
        "{e}"
    );
    // A name another definition has.
    let e = fails(jailctl(&s, &cfg).args(["clone", "db", "web", "--ip4", "192.168.1.29/24"]));
    assert!(e.contains("already defines it"), "{e}");
    // A source never brought up.
    let e = fails(jailctl(&s, &cfg).args(["clone", "cache", "cache2"]));
    assert!(
        e.contains("has no dataset") && e.contains("jailctl up cache"),
        "{e}"
    );
    assert_same(&before, &fingerprint(&s));
    assert!(!cfg.join("jails/db2.toml").exists() && !cfg.join("jails/cache2.toml").exists());
}

#[test]
fn a_clone_failing_half_way_is_undone() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    let before = fingerprint(&s);
    std::fs::write(
        s.join("faults.toml"),
        "[[fault]]\ncommand = \"zfs clone * zroot/jailctl/volumes/db2/pgdata\"\nstatus = 1\nstderr = \"cannot create 'zroot/jailctl/volumes/db2/pgdata': out of space\\n\"\n",
    )
    .unwrap();
    let e = fails(jailctl(&s, &cfg).args([
        "clone",
        "db",
        "db2",
        "--volumes",
        "--ip4",
        "192.168.1.29/24",
    ]));
    std::fs::remove_file(s.join("faults.toml")).unwrap();
    assert!(e.contains("out of space") && e.contains("undone"), "{e}");
    assert_same(&before, &fingerprint(&s));
    assert!(!cfg.join("jails/db2.toml").exists());
}

/// A clone killed (SIGKILL) right after each of its changes but the last, then run again: the
/// second run undoes what the first left and clones; the host ends as a clean clone leaves it.
/// (Killed after its last host command, a clone may have finished; a second run is then
/// refused, the name being taken.)
#[test]
fn a_clone_killed_half_way_is_undone_by_the_next() {
    use super::support::TestHost;
    use super::support::kill::{Series, check};
    let template = TestHost::examples();
    template.ok(&["up", "db"]);
    let s = Series {
        what: "clone db db2 --volumes",
        args: &[
            "clone",
            "db",
            "db2",
            "--volumes",
            "--ip4",
            "192.168.1.29/24",
        ],
        reference: None,
        template,
    };
    for after in [
        "zfs snapshot",
        "zfs clone",
        "zfs create -o mountpoint=none zroot/jailctl/volumes/db2",
    ] {
        check(s.run_after(after, 2));
    }
}

/// A clone and its source are destroyed with `destroy --volumes --yes`, clone first (it
/// depends on snapshots of the source's root and volumes): both go, with their volumes and
/// those snapshots, and the source cannot go while its clone is there.
#[test]
fn a_clone_then_its_source_are_destroyed() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    jailctl(&s, &cfg)
        .args([
            "clone",
            "db",
            "db2",
            "--volumes",
            "--ip4",
            "192.168.1.29/24",
        ])
        .assert()
        .success();
    jailctl(&s, &cfg).args(["up", "db2"]).assert().success();
    jailctl(&s, &cfg)
        .args(["down", "db", "db2"])
        .assert()
        .success();
    let err = fails(jailctl(&s, &cfg).args(["destroy", "db", "--volumes", "--yes"]));
    assert!(err.contains("db2"), "{err}");
    jailctl(&s, &cfg)
        .args(["destroy", "db2", "--volumes", "--yes"])
        .assert()
        .success();
    jailctl(&s, &cfg)
        .args(["destroy", "db", "--volumes", "--yes"])
        .assert()
        .success();
    let state = SimHost::open_with(&s, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap();
    let left: Vec<&String> = state
        .zfs
        .datasets
        .keys()
        // The per-jail parent `volumes/NAME` is kept by `destroy` as for any jail; the
        // roots, the volumes and every snapshot of them must be gone.
        .filter(|n| {
            n.contains("/jails/db") || n.contains("/volumes/db") && n.matches('/').count() > 3
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
