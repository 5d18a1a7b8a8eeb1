//! Destroy touches only what jailctl created. `jailctl:managed` is a ZFS user property and is
//! inherited, so a dataset an administrator made below a jail's root, a volume or a base reads
//! `jailctl:managed=yes` as well; `destroy` and `base destroy` must see that it is inherited,
//! refuse naming it, and change nothing.

use super::support::{examples_config, host_state, host_with_base, jailctl, sim};
use std::path::Path;

/// The error text without miette's wrapping (line breaks, the `│` gutter and blanks), so a
/// dataset name broken across lines is found whole.
fn flat(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

const ADMIN_ROOT: &str = "zroot/jailctl/jails/resolver/admin";

fn up_resolver(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (s, cfg) = (root.join("sim"), root.join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    jailctl(&s, &cfg)
        .args(["up", "resolver"])
        .assert()
        .success();
    (s, cfg)
}

/// `jailctl ARGS` fails, names every dataset in `named`, and the host is unchanged.
fn refused(s: &Path, cfg: &Path, args: &[&str], named: &[&str]) {
    let before = host_state(s);
    let out = jailctl(s, cfg).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "`{}` succeeded: {err}",
        args.join(" ")
    );
    for n in named {
        assert!(flat(&err).contains(n), "{n} not named in: {err}");
    }
    assert!(flat(&err).contains("inheritedfrom"), "{err}");
    assert!(flat(&err).contains("Nothingwasdestroyed"), "{err}");
    let after = host_state(s);
    assert_eq!(before.0, after.0, "the host changed");
    assert_eq!(before.1, after.1, "files changed");
}

#[test]
fn an_admin_dataset_under_a_jail_root_blocks_destroy() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = up_resolver(t.path());
    sim(&s, &["zfs", "create", ADMIN_ROOT]);
    refused(&s, &cfg, &["destroy", "resolver", "--yes"], &[ADMIN_ROOT]);
    // The dry run says the same and runs nothing.
    let out = jailctl(&s, &cfg)
        .args(["destroy", "resolver", "--dry-run"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Once the admin moves it away, destroy goes ahead.
    sim(&s, &["zfs", "rename", ADMIN_ROOT, "zroot/admin-kept"]);
    jailctl(&s, &cfg)
        .args(["destroy", "resolver", "--yes"])
        .assert()
        .success();
    let list = jailctl(&s, &cfg).args(["list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("resolver ") && l.contains("absent")),
        "{text}"
    );
}

#[test]
fn an_admin_dataset_under_a_volume_blocks_destroy_with_volumes() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    std::fs::write(
        cfg.join("jails/vol.toml"),
        "hostname = \"vol.example.org\"\n[network]\nmode = \"inherit\"\n\n[[volumes]]\nname = \"data\"\ntarget = \"/var/data\"\n",
    )
    .unwrap();
    jailctl(&s, &cfg).args(["up", "vol"]).assert().success();
    let admin = "zroot/jailctl/volumes/vol/data/mine";
    sim(&s, &["zfs", "create", admin]);
    refused(
        &s,
        &cfg,
        &["destroy", "vol", "--volumes", "--yes"],
        &[admin],
    );
    // Without --volumes the volume (and what is below it) is kept anyway.
    jailctl(&s, &cfg)
        .args(["destroy", "vol", "--yes"])
        .assert()
        .success();
    let left = jailctl_sim::SimHost::open_with(&s, Default::default())
        .unwrap()
        .snapshot()
        .unwrap()
        .zfs
        .datasets;
    for kept in ["zroot/jailctl/volumes/vol/data", admin] {
        assert!(left.contains_key(kept), "{kept} is gone: {:?}", left.keys());
    }
    assert!(
        !left.contains_key("zroot/jailctl/jails/vol"),
        "the root is still there: {:?}",
        left.keys()
    );
}

#[test]
fn an_admin_dataset_under_a_base_blocks_base_destroy() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    // host_with_base makes the base with plain zfs commands; mark it as `base create` does.
    sim(
        &s,
        &[
            "zfs",
            "set",
            "jailctl:managed=yes",
            "zroot/jailctl/bases/14.3-RELEASE",
        ],
    );
    let admin = "zroot/jailctl/bases/14.3-RELEASE/ports";
    sim(&s, &["zfs", "create", admin]);
    let before = host_state(&s);
    let out = jailctl(&s, &cfg)
        .args(["base", "destroy", "14.3-RELEASE", "--yes"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        flat(&err).contains(admin) && flat(&err).contains("inheritedfrom"),
        "{err}"
    );
    assert_eq!(before.0, host_state(&s).0, "the host changed");
    sim(&s, &["zfs", "destroy", admin]);
    jailctl(&s, &cfg)
        .args(["base", "destroy", "14.3-RELEASE", "--yes"])
        .assert()
        .success();
}
