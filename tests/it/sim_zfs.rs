//! The simulated zfs(8)/zpool(8): the model's behaviour (inheritance, clones and their files,
//! destroy, rename, promote, listing), and the strictness cases that need the simulator's
//! state set by hand (a jail running on a dataset, a read-only pool). The other strictness
//! cases are rows of one table, run against zfs-fuse too: zfs_strictness.rs.

use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl_sim::SimHost;
use std::path::Path;

fn host() -> (tempfile::TempDir, SimHost) {
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open(&d.path().join("sim")).unwrap();
    (d, h)
}

fn zfs(h: &SimHost, args: &[&str]) -> Output {
    h.output(&Cmd::new(tools::ZFS, args.iter().copied()))
        .unwrap()
}

fn zpool(h: &SimHost, args: &[&str]) -> Output {
    h.output(&Cmd::new(tools::ZPOOL, args.iter().copied()))
        .unwrap()
}

fn ok(h: &SimHost, args: &[&str]) -> String {
    let o = zfs(h, args);
    assert_eq!(o.status, 0, "zfs {args:?}: {}", o.stderr);
    o.stdout
}

/// Assert exit status and the exact first line of stderr.
#[track_caller]
fn fails(o: Output, status: i32, first_line: &str) -> Output {
    assert_eq!(o.status, status, "stderr: {}", o.stderr);
    assert_eq!(
        o.stderr.lines().next().unwrap_or(""),
        first_line,
        "{}",
        o.stderr
    );
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    o
}

/// A base with a snapshot and a clone of it: zroot/b@s → zroot/c.
fn with_clone(h: &SimHost) {
    ok(h, &["create", "zroot/b"]);
    ok(h, &["snapshot", "zroot/b@s"]);
    ok(h, &["clone", "zroot/b@s", "zroot/c"]);
}

// ---- strictness that needs the simulator's state set by hand (the other strictness cases
// are rows of the table in zfs_strictness.rs) ----------------------------------------------

#[test]
fn destroy_refuses_while_a_jail_runs_on_the_dataset() {
    use jailctl_sim::jail::SimJail;
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/jails/web"]);
    h.with_state(|ctx| {
        ctx.state.jail.jails.insert(
            "web".into(),
            SimJail {
                jid: 1,
                name: "web".into(),
                path: "/zroot/jails/web".into(),
                params: Default::default(),
                dying: false,
                packages: Vec::new(),
                started: true,
                dying_left: None,
            },
        );
    })
    .unwrap();
    let o = fails(
        zfs(&h, &["destroy", "zroot/jails/web"]),
        1,
        "cannot unmount '/zroot/jails/web': Device busy (jail 'web' runs there)",
    );
    assert!(
        o.stderr
            .contains("cannot destroy 'zroot/jails/web': dataset is busy")
    );
    ok(&h, &["destroy", "-f", "zroot/jails/web"]);
}

// ---- behaviour ---------------------------------------------------------------------------

#[test]
fn fresh_host_has_zroot_mounted_at_zroot() {
    let (_d, h) = host();
    assert_eq!(
        ok(
            &h,
            &[
                "get",
                "-H",
                "-o",
                "name,property,value,source",
                "mountpoint,mounted",
                "zroot"
            ]
        ),
        "zroot\tmountpoint\t/zroot\tlocal\nzroot\tmounted\tyes\t-\n"
    );
    assert!(h.exists(Path::new("/zroot")));
    assert_eq!(
        zpool(
            &h,
            &["get", "-H", "-o", "value", "health,readonly", "zroot"]
        )
        .stdout,
        "ONLINE\noff\n"
    );
    assert_eq!(
        zpool(&h, &["list", "-H", "-o", "name,health"]).stdout,
        "zroot\tONLINE\n"
    );
}

#[test]
fn properties_inherit_with_sources() {
    let (_d, h) = host();
    ok(
        &h,
        &[
            "create",
            "-o",
            "jailctl:managed=yes",
            "-o",
            "mountpoint=/jails",
            "-o",
            "exec=off",
            "zroot/j",
        ],
    );
    ok(&h, &["create", "zroot/j/web"]);
    assert_eq!(
        ok(
            &h,
            &[
                "get",
                "-H",
                "-p",
                "-r",
                "-o",
                "name,property,value,source",
                "mountpoint,jailctl:managed,exec,quota,jailctl:spec",
                "zroot/j"
            ]
        ),
        "zroot/j\tmountpoint\t/jails\tlocal\n\
         zroot/j\tjailctl:managed\tyes\tlocal\n\
         zroot/j\texec\toff\tlocal\n\
         zroot/j\tquota\t0\tdefault\n\
         zroot/j\tjailctl:spec\t-\t-\n\
         zroot/j/web\tmountpoint\t/jails/web\tinherited from zroot/j\n\
         zroot/j/web\tjailctl:managed\tyes\tinherited from zroot/j\n\
         zroot/j/web\texec\toff\tinherited from zroot/j\n\
         zroot/j/web\tquota\t0\tdefault\n\
         zroot/j/web\tjailctl:spec\t-\t-\n"
    );
    assert!(h.exists(Path::new("/jails/web")));
    ok(&h, &["inherit", "-r", "exec", "zroot/j"]);
    assert_eq!(
        ok(
            &h,
            &["get", "-H", "-o", "value,source", "exec", "zroot/j/web"]
        ),
        "on\tdefault\n"
    );
    assert_eq!(
        ok(
            &h,
            &[
                "get", "-H", "-s", "local", "-o", "property", "all", "zroot/j"
            ]
        ),
        "mountpoint\njailctl:managed\n"
    );
}

#[test]
fn clone_carries_snapshot_files_and_destroy_removes_them() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/bases/14.2"]);
    h.write(Path::new("/zroot/bases/14.2/etc.txt"), b"base v1", 0o644)
        .unwrap();
    ok(&h, &["snapshot", "zroot/bases/14.2@p1"]);
    h.write(Path::new("/zroot/bases/14.2/etc.txt"), b"base v2", 0o644)
        .unwrap();
    ok(
        &h,
        &[
            "clone",
            "-p",
            "-o",
            "quota=1G",
            "zroot/bases/14.2@p1",
            "zroot/jails/web",
        ],
    );
    assert_eq!(
        h.read(Path::new("/zroot/jails/web/etc.txt")).unwrap(),
        b"base v1"
    );
    assert_eq!(
        ok(
            &h,
            &[
                "get",
                "-H",
                "-o",
                "value",
                "origin,quota",
                "zroot/jails/web"
            ]
        ),
        "zroot/bases/14.2@p1\n1G\n"
    );
    assert_eq!(
        ok(
            &h,
            &["get", "-H", "-o", "value", "clones", "zroot/bases/14.2@p1"]
        ),
        "zroot/jails/web\n"
    );
    ok(&h, &["destroy", "-R", "zroot/bases/14.2@p1"]);
    assert!(!h.exists(Path::new("/zroot/jails/web")));
    assert_eq!(zfs(&h, &["list", "zroot/jails/web"]).status, 1);
    assert_eq!(
        h.read(Path::new("/zroot/bases/14.2/etc.txt")).unwrap(),
        b"base v2"
    );
}

#[test]
fn destroy_dry_run_changes_nothing() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/a/b"]);
    let out = ok(&h, &["destroy", "-rnv", "zroot/a"]);
    assert!(
        out.contains("would destroy zroot/a\n") && out.contains("would destroy zroot/a/b\n"),
        "{out}"
    );
    ok(&h, &["list", "zroot/a/b"]);
    ok(&h, &["destroy", "-r", "zroot/a"]);
    assert!(!h.exists(Path::new("/zroot/a")));
}

#[test]
fn list_depth_types_and_sorting() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/j/b/deep"]);
    ok(&h, &["create", "zroot/j/a"]);
    ok(&h, &["snapshot", "zroot/j/a@s1"]);
    ok(&h, &["snapshot", "zroot/j/a@s0"]);
    assert_eq!(
        ok(&h, &["list", "-H", "-o", "name", "-d", "1", "zroot/j"]),
        "zroot/j\nzroot/j/a\nzroot/j/b\n"
    );
    assert_eq!(
        ok(
            &h,
            &["list", "-H", "-o", "name", "-t", "all", "-r", "zroot/j"]
        ),
        "zroot/j\nzroot/j/a\nzroot/j/a@s1\nzroot/j/a@s0\nzroot/j/b\nzroot/j/b/deep\n"
    );
    assert_eq!(
        ok(
            &h,
            &[
                "list", "-H", "-o", "name", "-t", "snapshot", "-s", "name", "-r", "zroot/j"
            ]
        ),
        "zroot/j/a@s0\nzroot/j/a@s1\n"
    );
    assert_eq!(
        ok(
            &h,
            &[
                "list", "-H", "-o", "name", "-S", "name", "-d", "1", "zroot/j"
            ]
        ),
        "zroot/j/b\nzroot/j/a\nzroot/j\n"
    );
    let human = ok(&h, &["list", "-o", "name,used,mountpoint", "zroot/j/a"]);
    assert!(
        human.starts_with("NAME       USED  MOUNTPOINT\nzroot/j/a   96K  /zroot/j/a\n"),
        "{human}"
    );
}

#[test]
fn rename_moves_children_snapshots_and_files() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/old/child"]);
    h.write(Path::new("/zroot/old/child/f"), b"x", 0o644)
        .unwrap();
    ok(&h, &["snapshot", "-r", "zroot/old@s"]);
    ok(&h, &["rename", "zroot/old", "zroot/new"]);
    assert_eq!(
        ok(
            &h,
            &["list", "-H", "-o", "name", "-t", "all", "-r", "zroot/new"]
        ),
        "zroot/new\nzroot/new@s\nzroot/new/child\nzroot/new/child@s\n"
    );
    assert_eq!(h.read(Path::new("/zroot/new/child/f")).unwrap(), b"x");
    ok(&h, &["rename", "-r", "zroot/new@s", "zroot/new@t"]);
    ok(&h, &["list", "zroot/new/child@t"]);
}

#[test]
fn promote_swaps_the_dependency() {
    let (_d, h) = host();
    with_clone(&h);
    ok(&h, &["promote", "zroot/c"]);
    assert_eq!(
        ok(
            &h,
            &[
                "list",
                "-H",
                "-o",
                "name,origin",
                "-t",
                "all",
                "-r",
                "zroot"
            ]
        ),
        "zroot\t-\nzroot/b\tzroot/c@s\nzroot/c\t-\nzroot/c@s\t-\n"
    );
    ok(&h, &["destroy", "zroot/b"]);
}

#[test]
fn history_records_every_command_with_status() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    zfs(&h, &["create", "zroot/a"]);
    let s = h.snapshot().unwrap();
    let st: Vec<i32> = s.history.iter().map(|e| e.status).collect();
    assert_eq!(st, [0, 1]);
}

#[test]
fn observe_parser_reads_the_simulated_output() {
    let (_d, h) = host();
    ok(
        &h,
        &[
            "create",
            "-p",
            "-o",
            "jailctl:managed=yes",
            "zroot/jailctl/bases",
        ],
    );
    ok(&h, &["snapshot", "zroot/jailctl/bases@p1"]);
    let out = ok(
        &h,
        &[
            "get",
            "-H",
            "-p",
            "-r",
            "-o",
            "name,property,value",
            "jailctl:managed,origin,quota",
            "zroot/jailctl",
        ],
    );
    let m = jailctl::observe::zfs::parse_zfs_get(&out).unwrap();
    assert_eq!(
        m["zroot/jailctl/bases"].prop("jailctl:managed"),
        Some("yes")
    );
    // Snapshots inherit user properties from their filesystem, as on a real ZFS.
    assert_eq!(
        m["zroot/jailctl/bases@p1"].prop("jailctl:managed"),
        Some("yes")
    );
    assert_eq!(m["zroot/jailctl"].prop("jailctl:managed"), None);
    let cols = ["name", "used", "avail", "refer", "mountpoint", "origin"];
    let out = ok(
        &h,
        &[
            "list",
            "-H",
            "-o",
            "name,used,avail,refer,mountpoint,origin",
            "-t",
            "all",
            "-r",
            "zroot/jailctl",
        ],
    );
    let v = jailctl::observe::zfs::parse_zfs_list(&out, &cols).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[2].prop("mountpoint"), None);
}

#[test]
fn read_only_pool_refuses_changes_but_answers_queries() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    h.with_state(|ctx| ctx.state.zfs.pools.get_mut("zroot").unwrap().readonly = true)
        .unwrap();
    fails(
        zfs(&h, &["create", "zroot/b"]),
        1,
        "cannot create 'zroot/b': pool is read-only",
    );
    fails(
        zfs(&h, &["set", "quota=1G", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': pool is read-only",
    );
    fails(
        zfs(&h, &["destroy", "zroot/a"]),
        1,
        "cannot destroy 'zroot/a': pool is read-only",
    );
    assert_eq!(
        zpool(&h, &["get", "-H", "-o", "value", "readonly", "zroot"]).stdout,
        "on\n"
    );
    ok(&h, &["list", "zroot/a"]);
}

mod random_commands {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "create",
        "snapshot",
        "clone",
        "destroy",
        "set",
        "get",
        "inherit",
        "list",
        "rename",
        "promote",
        "-r",
        "-R",
        "-p",
        "-H",
        "-o",
        "-d",
        "1",
        "-t",
        "all",
        "zroot",
        "zroot/a",
        "zroot/a/b",
        "zroot/a@s",
        "zroot/c",
        "zroot/a@t",
        "quota=1G",
        "mountpoint=/m",
        "jailctl:managed=yes",
        "exec=off",
        "name,origin",
        "bad!",
        "-x",
        "@",
        "",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever is thrown at it, the simulated zfs answers: no panic, status 0, 1 or 2,
        /// and a failure always says why on stderr.
        #[test]
        fn every_failure_explains_itself(
            cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(WORDS), 1..6), 1..8)
        ) {
            let (_d, h) = host();
            for argv in cmds {
                let o = zfs(&h, &argv);
                prop_assert!(matches!(o.status, 0..=2), "{argv:?}: {o:?}");
                if o.status != 0 {
                    prop_assert!(!o.stderr.trim().is_empty(), "{argv:?}: {o:?}");
                }
            }
        }
    }
}
