//! `jailctl snapshot` end to end on the strict simulator, through the real binary, with the
//! example `db` jail (a root and the volume `pgdata`): one atomic `zfs snapshot` for both,
//! `list --json`, rollback restoring files in root and volume, the refusals (running jail,
//! newer snapshots, no confirmation, clones, unknown names), and destroy.

use super::support::{examples_config, history, host_with_base, jailctl, line};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ROOT: &str = "zroot/jailctl/jails/db";
const VOL: &str = "zroot/jailctl/volumes/db/pgdata";

/// A host with the `db` jail up; returns (sim dir, config dir).
fn db_up(t: &Path) -> (PathBuf, PathBuf) {
    let (s, cfg) = (t.join("sim"), t.join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    jailctl(&s, &cfg).args(["up", "db"]).assert().success();
    (s, cfg)
}

fn stderr_of(c: &mut assert_cmd::Command) -> String {
    let out = c.output().unwrap();
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

fn list(s: &Path, cfg: &Path) -> Vec<Value> {
    let out = jailctl(s, cfg)
        .args(["snapshot", "list", "db", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn create_is_one_atomic_command_over_root_and_volume_and_list_shows_it() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    let before = history(&s).len();
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "db", "before"])
        .assert()
        .success();
    let snaps: Vec<String> = history(&s)[before..]
        .iter()
        .map(line)
        .filter(|l| l.starts_with("zfs snapshot"))
        .collect();
    assert_eq!(
        snaps,
        [format!(
            "zfs snapshot -o jailctl:snapshot=yes {ROOT}@jailctl-before {VOL}@jailctl-before"
        )]
    );
    // Without a label: a timestamp, made unique within the same second.
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "db"])
        .assert()
        .success();
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "db"])
        .assert()
        .success();
    // The same label twice is refused in jailctl's words, before any zfs command.
    let e = stderr_of(jailctl(&s, &cfg).args(["snapshot", "create", "db", "before"]));
    assert!(e.contains("already has a snapshot \"before\""), "{e}");
    assert!(!e.contains("dataset already exists"), "{e}");

    let l = list(&s, &cfg);
    assert_eq!(l.len(), 3, "{l:?}");
    assert_eq!(l[0]["name"], "jailctl-before");
    assert_eq!(l[0]["jail"], "db");
    assert!(l[0]["creation"].as_u64().unwrap() > 1_700_000_000);
    assert!(l[0]["used"].is_u64());
    assert_eq!(
        l[0]["datasets"],
        serde_json::json!([
            format!("{ROOT}@jailctl-before"),
            format!("{VOL}@jailctl-before")
        ])
    );
    let (a, b) = (
        l[1]["name"].as_str().unwrap(),
        l[2]["name"].as_str().unwrap(),
    );
    assert!(
        a.starts_with("jailctl-2") && a.len() == "jailctl-YYYYMMDD-HHMMSS".len(),
        "{a}"
    );
    assert_ne!(a, b);
    // The property marks them; the base snapshot is not listed as the jail's.
    let out = jailctl(&s, &cfg)
        .args(["sim", "zfs", "get", "-H", "-o", "value", "jailctl:snapshot"])
        .arg(format!("{VOL}@jailctl-before"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");
    // Unknown jail: did-you-mean.
    let e = stderr_of(jailctl(&s, &cfg).args(["snapshot", "create", "dbb"]));
    assert!(
        e.contains("no jail \"dbb\"") && e.contains("did you mean \"db\""),
        "{e}"
    );
}

#[test]
fn rollback_restores_root_and_volume_only_while_stopped() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    let motd = s.join("root/usr/local/jails/db/etc/motd");
    let data = s.join("root/usr/local/jails/.volumes/db/pgdata/PG_VERSION");
    std::fs::write(&motd, "old\n").unwrap();
    std::fs::write(&data, "16\n").unwrap();
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "db", "good"])
        .assert()
        .success();
    std::fs::write(&motd, "broken\n").unwrap();
    std::fs::write(&data, "17\n").unwrap();

    let e = stderr_of(jailctl(&s, &cfg).args(["snapshot", "rollback", "db", "good", "--yes"]));
    assert!(
        e.contains("while it is running") && e.contains("jailctl down db"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "broken\n");

    jailctl(&s, &cfg).args(["down", "db"]).assert().success();
    // Off a terminal, --yes is required.
    let e = stderr_of(jailctl(&s, &cfg).args(["snapshot", "rollback", "db", "good"]));
    assert!(
        e.contains("without confirmation") && e.contains("--yes"),
        "{e}"
    );
    let e = stderr_of(jailctl(&s, &cfg).args(["snapshot", "rollback", "db", "nope", "--yes"]));
    assert!(
        e.contains("no snapshot \"nope\"") && e.contains("jailctl-good"),
        "{e}"
    );

    jailctl(&s, &cfg)
        .args(["snapshot", "rollback", "db", "good", "--yes"])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "old\n");
    assert_eq!(std::fs::read_to_string(&data).unwrap(), "16\n");

    // A newer snapshot blocks a rollback past it unless --force, which destroys it.
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "db", "later"])
        .assert()
        .success();
    std::fs::write(&motd, "later\n").unwrap();
    let before = history(&s).len();
    let e = stderr_of(jailctl(&s, &cfg).args(["snapshot", "rollback", "db", "good", "--yes"]));
    assert!(
        e.contains("newer snapshots")
            && e.contains(&format!("{VOL}@jailctl-later"))
            && e.contains("--force"),
        "{e}"
    );
    assert!(
        !history(&s)[before..]
            .iter()
            .any(|h| line(h).starts_with("zfs rollback")),
        "nothing is rolled back when one dataset would refuse"
    );
    jailctl(&s, &cfg)
        .args([
            "snapshot",
            "rollback",
            "db",
            "jailctl-good",
            "--yes",
            "--force",
        ])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "old\n");
    let names: Vec<Value> = list(&s, &cfg).iter().map(|v| v["name"].clone()).collect();
    assert_eq!(names, [Value::from("jailctl-good")]);
    jailctl(&s, &cfg).args(["up", "db"]).assert().success();
}

#[test]
fn destroy_removes_it_everywhere_and_refuses_while_cloned() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    for l in ["a", "b"] {
        jailctl(&s, &cfg)
            .args(["snapshot", "create", "db", l])
            .assert()
            .success();
    }
    jailctl(&s, &cfg)
        .args(["sim", "zfs", "clone"])
        .arg(format!("{VOL}@jailctl-a"))
        .arg("zroot/restore")
        .assert()
        .success();
    let e = stderr_of(jailctl(&s, &cfg).args(["snapshot", "destroy", "db", "a"]));
    assert!(
        e.contains(
            "refusing to destroy snapshot jailctl-a of jail `db`: a dataset is cloned from it"
        ) && e.contains("zroot/restore")
            && e.contains("Nothing was changed"),
        "{e}"
    );
    assert_eq!(list(&s, &cfg).len(), 2);

    jailctl(&s, &cfg)
        .args(["sim", "zfs", "destroy", "zroot/restore"])
        .assert()
        .success();
    jailctl(&s, &cfg)
        .args(["snapshot", "destroy", "db", "a"])
        .assert()
        .success();
    let l = list(&s, &cfg);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["name"], "jailctl-b");
    let out = jailctl(&s, &cfg)
        .args([
            "sim",
            "zfs",
            "list",
            "-H",
            "-o",
            "name",
            "-t",
            "snapshot",
            "-r",
            "zroot/jailctl",
        ])
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&out.stdout);
    assert!(!all.contains("@jailctl-a"), "{all}");
    assert!(all.contains(&format!("{VOL}@jailctl-b")), "{all}");

    // A clone of a newer snapshot blocks a rollback past it, even with --force.
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "db", "c"])
        .assert()
        .success();
    jailctl(&s, &cfg)
        .args(["sim", "zfs", "clone"])
        .arg(format!("{ROOT}@jailctl-c"))
        .arg("zroot/copy")
        .assert()
        .success();
    jailctl(&s, &cfg).args(["down", "db"]).assert().success();
    let e =
        stderr_of(jailctl(&s, &cfg).args(["snapshot", "rollback", "db", "b", "--force", "--yes"]));
    assert!(
        e.contains("a dataset is cloned from the newer snapshots")
            && e.contains(&format!("{ROOT}@jailctl-c"))
            && e.contains("zroot/copy"),
        "{e}"
    );
    assert_eq!(list(&s, &cfg).len(), 2);
}

#[test]
fn a_rollback_failing_on_the_volume_names_what_was_rolled_back() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "db", "good"])
        .assert()
        .success();
    jailctl(&s, &cfg).args(["down", "db"]).assert().success();
    let e = stderr_of(
        jailctl(&s, &cfg)
            .env(
                "JAILCTL_SIM_FAULTS",
                format!(
                    "zfs rollback {VOL}@*|1|1|cannot rollback: pool I/O is currently suspended"
                ),
            )
            .args(["snapshot", "rollback", "db", "good", "--yes"]),
    );
    assert!(
        e.contains(&format!(
            "rollback of {VOL} failed after this one succeeded ({ROOT})"
        )) && e.contains("pool I/O is currently suspended")
            && e.contains("run the same command again"),
        "{e}"
    );
    // Running it again finishes the rest (rolling the root back again is harmless).
    let before = history(&s).len();
    jailctl(&s, &cfg)
        .args(["snapshot", "rollback", "db", "good", "--yes"])
        .assert()
        .success();
    let rb: Vec<String> = history(&s)[before..]
        .iter()
        .map(line)
        .filter(|l| l.starts_with("zfs rollback"))
        .collect();
    assert_eq!(
        rb,
        [
            format!("zfs rollback {ROOT}@jailctl-good"),
            format!("zfs rollback {VOL}@jailctl-good")
        ]
    );
}

#[test]
fn rollback_asks_only_after_its_checks_and_a_no_rolls_back_nothing() {
    use jailctl::ops::snapshot as snap;
    use jailctl_sim::SimHost;
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = db_up(t.path());
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "db", "before"])
        .assert()
        .success();
    let c = jailctl::config::load(&cfg).unwrap();
    let spec = c.jail("db").unwrap();
    let h = SimHost::open(&s).unwrap();
    // Running: refused before anything is asked.
    let mut asked = Vec::new();
    let e = snap::rollback(&h, spec, &c.global, "before", false, &mut |t: &str| {
        asked.push(t.to_string());
        true
    })
    .unwrap_err();
    assert!(matches!(e, snap::SnapshotError::Running(_)), "{e}");
    assert!(asked.is_empty(), "asked before the checks: {asked:?}");
    // Stopped, declined: asked once with the snapshot, and no zfs rollback runs.
    jailctl(&s, &cfg).args(["down", "db"]).assert().success();
    let before = history(&s).len();
    let e = snap::rollback(&h, spec, &c.global, "before", false, &mut |t: &str| {
        asked.push(t.to_string());
        false
    })
    .unwrap_err();
    assert!(matches!(e, snap::SnapshotError::Declined(_)), "{e}");
    assert_eq!(asked, vec![format!("{ROOT}@jailctl-before")]);
    assert!(
        !history(&s)[before..]
            .iter()
            .map(line)
            .any(|l| l.contains("zfs rollback")),
        "a declined rollback ran zfs rollback"
    );
}
