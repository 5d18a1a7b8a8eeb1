//! Ownership before action, through the real binary on the simulated host: a name that is not
//! a jail name, a snapshot jailctl did not take, and a jail started by hand (even when a
//! definition of that name exists) are refused with a message naming what was found and how
//! to handle it by hand, and the host is exactly as before.

use super::support::{examples_config, host_state, host_with_base, jailctl, sim};
use std::path::{Path, PathBuf};

/// The text without line breaks, miette's `│` gutter and blanks, so a name broken across
/// lines is found whole.
fn flat(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

/// Every file below the simulated host's root, to see that nothing (a lock file included)
/// was made anywhere.
fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn files(s: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    all_files(s, &mut v);
    // Locking a jail by its (valid) name leaves the lock file, as every command does; so do
    // the fixed locks of the hierarchy (fleet, network, firewall, layout).
    v.retain(|p| {
        let in_locks = p
            .parent()
            .is_some_and(|d| d.ends_with("var/db/jailctl/locks"));
        let fixed = p.file_name().is_some_and(|n| {
            [".fleet.lock", ".net.lock", ".pf.lock", ".layout.lock"]
                .contains(&&*n.to_string_lossy())
        });
        let lock = in_locks
            && (fixed
                || p.file_stem().is_some_and(|n| {
                    n.to_string_lossy()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                }));
        !p.ends_with("history.jsonl") && !lock
    });
    v.sort();
    v
}

/// `jailctl ARGS` fails with every piece of `says` in its message, and changes nothing:
/// same state, same files, no file created anywhere under the simulator's directory.
fn refused(s: &Path, cfg: &Path, args: &[&str], says: &[&str]) -> String {
    let before = host_state(s);
    let before_files = files(s);
    let out = jailctl(s, cfg).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "`jailctl {}` succeeded: {err}",
        args.join(" ")
    );
    for w in says {
        assert!(flat(&err).contains(&flat(w)), "`{w}` not in: {err}");
    }
    let after = host_state(s);
    assert_eq!(before.0, after.0, "`{}` changed the host", args.join(" "));
    assert_eq!(before.1, after.1, "`{}` changed files", args.join(" "));
    assert_eq!(before_files, files(s), "`{}` made files", args.join(" "));
    err
}

fn setup(root: &Path) -> (PathBuf, PathBuf) {
    let (s, cfg) = (root.join("sim"), root.join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    jailctl(&s, &cfg)
        .args(["up", "resolver"])
        .assert()
        .success();
    (s, cfg)
}

#[test]
fn names_that_are_not_jail_names_are_refused_before_any_lock_file() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    sim(
        &s,
        &[
            "zfs",
            "snapshot",
            "zroot/jailctl/jails/resolver@admin-backup",
        ],
    );
    // The snapshot an admin made is not destroyed through a jail name with `@`.
    refused(
        &s,
        &cfg,
        &["destroy", "resolver@admin-backup", "--yes"],
        &[
            "\"resolver@admin-backup\" is not a valid jail name",
            "jailctl snapshot destroy resolver admin-backup",
        ],
    );
    // A path never becomes a lock file outside (or inside) the host.
    refused(
        &s,
        &cfg,
        &["destroy", "../../../tmp/x", "--yes"],
        &["\"../../../tmp/x\" is not a valid jail name", "not a path"],
    );
    assert!(!Path::new("/tmp/x.lock").exists());
    for args in [
        &["down", "a/b"][..],
        &["up", ".."],
        &["restart", "resolver@x"],
        &["shutdown", "../resolver"],
        &["boot", "a.b"],
        &["exec", "..", "--", "/bin/sh"],
        &["snapshot", "create", "resolver/x"],
    ] {
        refused(&s, &cfg, args, &["is not a valid jail name"]);
    }
    // All digits: jail(8) would take it for a jid.
    refused(&s, &cfg, &["down", "123"], &["jail id (jid)"]);
    refused(
        &s,
        &cfg,
        &["snapshot", "create", "resolver", "a/b"],
        &["invalid snapshot label \"a/b\""],
    );
    refused(
        &s,
        &cfg,
        &["base", "destroy", "../14.3-RELEASE", "--yes"],
        &["`../14.3-RELEASE` is not a valid base name"],
    );
}

#[test]
fn snapshots_jailctl_did_not_take_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    let root = "zroot/jailctl/jails/resolver";
    // Named like jailctl's, but made by hand: no jailctl:snapshot=yes.
    sim(&s, &["zfs", "snapshot", &format!("{root}@jailctl-hand")]);
    refused(
        &s,
        &cfg,
        &["snapshot", "destroy", "resolver", "hand"],
        &[
            &format!("refusing to destroy {root}@jailctl-hand: jailctl did not take it"),
            &format!("zfs set jailctl:snapshot=yes {root}@jailctl-hand"),
            "Nothing was changed",
        ],
    );
    // Nor listed as jailctl's.
    let out = jailctl(&s, &cfg)
        .args(["snapshot", "list", "resolver"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("jailctl-hand"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A forced rollback would destroy a newer snapshot made by hand: refused.
    jailctl(&s, &cfg)
        .args(["snapshot", "create", "resolver", "mine"])
        .assert()
        .success();
    sim(&s, &["zfs", "snapshot", &format!("{root}@admin-backup")]);
    jailctl(&s, &cfg)
        .args(["down", "resolver"])
        .assert()
        .success();
    refused(
        &s,
        &cfg,
        &[
            "snapshot", "rollback", "resolver", "mine", "--force", "--yes",
        ],
        &[
            "`zfs rollback -r` would destroy snapshots jailctl did not take",
            &format!("{root}@admin-backup"),
            "Nothing was rolled back",
        ],
    );
    // Nor rolled back to.
    refused(
        &s,
        &cfg,
        &["snapshot", "rollback", "resolver", "hand", "--yes"],
        &[&format!(
            "refusing to roll back to {root}@jailctl-hand: jailctl did not take it"
        )],
    );
    // Adopted, it is jailctl's like any other.
    sim(
        &s,
        &[
            "zfs",
            "set",
            "jailctl:snapshot=yes",
            &format!("{root}@jailctl-hand"),
        ],
    );
    jailctl(&s, &cfg)
        .args(["snapshot", "destroy", "resolver", "hand"])
        .assert()
        .success();
}

/// A definition `hand.toml` exists, but the running `hand` was started by hand with
/// `jail -c`: no command stops it.
#[test]
fn a_jail_started_by_hand_is_never_stopped() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    let def = std::fs::read_to_string(cfg.join("jails/resolver.toml"))
        .unwrap()
        .replace("resolver", "hand")
        .replace("192.168.1.23", "192.168.1.40");
    std::fs::write(cfg.join("jails/hand.toml"), def).unwrap();
    std::fs::create_dir_all(s.join("root/usr/local/jails/hand")).unwrap();
    sim(
        &s,
        &[
            "jail",
            "-c",
            "name=hand",
            "path=/usr/local/jails/hand",
            "persist",
        ],
    );
    let says = [
        "jail `hand` (jid 2, path /usr/local/jails/hand) is running but jailctl did not start it",
        "no dataset zroot/jailctl/jails/hand exists",
        "`jail -r hand`",
        "Nothing was",
    ];
    for args in [
        &["down", "hand"][..],
        &["destroy", "hand", "--yes"],
        &["destroy", "hand", "--dry-run"],
        &["restart", "hand"],
        &["shutdown", "hand"],
    ] {
        refused(&s, &cfg, args, &says);
    }
    // `shutdown` of everything stops jailctl's jails and leaves this one, saying so.
    let out = jailctl(&s, &cfg).args(["shutdown"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(flat(&err).contains(&flat(says[0])), "{err}");
    let after = host_state(&s).0;
    let jails: Vec<&String> = after["jail"].as_object().unwrap().keys().collect();
    assert_eq!(jails.len(), 1, "{jails:?}");
    assert_eq!(after["jail"][jails[0]]["name"], "hand");
}

/// A jail running under a jailctl name but from another path, or on a root dataset someone
/// made below jailctl's (the mark only inherited), is not jailctl's either.
#[test]
fn a_jail_on_another_path_or_an_unmarked_root_is_not_ours() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    jailctl(&s, &cfg)
        .args(["down", "resolver"])
        .assert()
        .success();
    std::fs::create_dir_all(s.join("root/tmp/elsewhere")).unwrap();
    sim(
        &s,
        &[
            "jail",
            "-c",
            "name=resolver",
            "path=/tmp/elsewhere",
            "persist",
        ],
    );
    refused(
        &s,
        &cfg,
        &["down", "resolver"],
        &["its path is not /usr/local/jails/resolver"],
    );
    sim(&s, &["jail", "-r", "resolver"]);
    // A dataset made by hand below jailctl's root inherits nothing from `jails` (which jailctl
    // does not mark), so mark the parent the way a careless admin might.
    sim(
        &s,
        &["zfs", "set", "jailctl:managed=yes", "zroot/jailctl/jails"],
    );
    sim(
        &s,
        &[
            "zfs",
            "create",
            "-o",
            "mountpoint=/usr/local/jails/db",
            "zroot/jailctl/jails/db",
        ],
    );
    sim(
        &s,
        &[
            "jail",
            "-c",
            "name=db",
            "path=/usr/local/jails/db",
            "persist",
        ],
    );
    refused(
        &s,
        &cfg,
        &["down", "db"],
        &["zroot/jailctl/jails/db has jailctl:managed=yes, but not set on it by jailctl"],
    );
    // Stopped, that dataset is not jailctl's to move aside and replace (`up --recreate`
    // renames the old root away before cloning a new one).
    sim(&s, &["jail", "-r", "db"]);
    refused(
        &s,
        &cfg,
        &["up", "db", "--recreate"],
        &[
            "refusing to use or change zroot/jailctl/jails/db for jail `db`: jailctl did not create it (jailctl:managed=yes is not set on it but inherited)",
            "zfs set jailctl:managed=yes zroot/jailctl/jails/db",
            "Nothing was changed",
        ],
    );
}
