//! The simulated zfs(8)/zpool(8): each strictness test runs one wrong or impossible command
//! and checks the exit status and message the real tool gives; the behaviour tests check
//! the model (inheritance, clones and their files, destroy, rename, promote, listing).

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

// ---- strictness: one wrong or impossible command each -----------------------------------

#[test]
fn create_existing_dataset() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["create", "zroot/a"]),
        1,
        "cannot create 'zroot/a': dataset already exists",
    );
}

#[test]
fn create_without_parent() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["create", "zroot/x/y"]),
        1,
        "cannot create 'zroot/x/y': parent does not exist",
    );
}

#[test]
fn create_in_missing_pool() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["create", "tank/a"]),
        1,
        "cannot create 'tank/a': no such pool 'tank'",
    );
}

#[test]
fn create_pool_name_only() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["create", "zroot"]),
        1,
        "cannot create 'zroot': missing dataset name",
    );
}

#[test]
fn create_with_snapshot_delimiter() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["create", "zroot/a@x"]),
        1,
        // OpenZFS 2.2's zfs_validate_name wording (zfs-fuse: "snapshot delimiter '@' in
        // filesystem name").
        "cannot create 'zroot/a@x': snapshot delimiter '@' is not expected here",
    );
}

#[test]
fn create_with_invalid_character() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["create", "zroot/bad!"]),
        1,
        "cannot create 'zroot/bad!': invalid character '!' in name",
    );
}

#[test]
fn create_with_empty_component() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["create", "zroot//a"]),
        1,
        "cannot create 'zroot//a': empty component or misplaced '@' or '#' delimiter in name",
    );
}

#[test]
fn create_with_unknown_option_is_usage_error() {
    let (_d, h) = host();
    let o = fails(
        zfs(&h, &["create", "-z", "zroot/q"]),
        2,
        "invalid option 'z'",
    );
    assert!(
        o.stderr.contains("usage:\n\tcreate [-Pnpuv]"),
        "{}",
        o.stderr
    );
}

#[test]
fn create_without_name_is_usage_error() {
    let (_d, h) = host();
    let o = fails(zfs(&h, &["create"]), 2, "missing filesystem argument");
    assert!(o.stderr.contains("usage:"));
}

#[test]
fn create_with_bad_index_value() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["create", "-o", "exec=maybe", "zroot/b"]),
        1,
        "cannot create 'zroot/b': 'exec' must be one of 'on | off'",
    );
    assert_eq!(
        zfs(&h, &["list", "zroot/b"]).status,
        1,
        "nothing was created"
    );
}

#[test]
fn set_quota_not_a_number() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["set", "quota=abc", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': bad numeric value 'abc'",
    );
}

#[test]
fn set_quota_bad_suffix() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["set", "quota=12Q", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': invalid numeric suffix 'Q'",
    );
}

#[test]
fn set_unknown_property() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["set", "foo=bar", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': invalid property 'foo'",
    );
}

#[test]
fn set_user_property_with_upper_case() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["set", "Foo:x=1", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': invalid property 'Foo:x'",
    );
}

#[test]
fn set_readonly_property() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["set", "origin=x", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': 'origin' is readonly",
    );
}

#[test]
fn set_native_property_on_snapshot() {
    let (_d, h) = host();
    with_clone(&h);
    fails(
        zfs(&h, &["set", "readonly=on", "zroot/b@s"]),
        1,
        "cannot set property for 'zroot/b@s': this property can not be modified for snapshots",
    );
}

#[test]
fn set_relative_mountpoint() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["set", "mountpoint=relative", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': 'mountpoint' must be an absolute path, 'none', or 'legacy'",
    );
}

#[test]
fn set_bad_compression() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    let o = fails(
        zfs(&h, &["set", "compression=bogus", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': 'compression' must be one of 'on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | zstd-fast-[1-10,20,30,...,100,500,1000]'",
    );
    assert_eq!(o.status, 1);
}

#[test]
fn set_recordsize_not_power_of_two() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["set", "recordsize=1000", "zroot/a"]),
        1,
        "cannot set property for 'zroot/a': 'recordsize' must be power of 2 from 512B to 1024KB",
    );
}

#[test]
fn set_missing_value_is_usage_error() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["set", "jailctl:x=", "zroot/a"]),
        2,
        "missing value in property=value argument",
    );
}

#[test]
fn set_on_missing_dataset() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["set", "quota=1G", "zroot/nope"]),
        1,
        "cannot open 'zroot/nope': dataset does not exist",
    );
}

#[test]
fn get_unknown_property_is_usage_error() {
    let (_d, h) = host();
    let o = fails(
        zfs(&h, &["get", "bogus", "zroot"]),
        2,
        "bad property list: invalid property 'bogus'",
    );
    assert!(o.stderr.contains("The following properties are supported:"));
}

#[test]
fn get_bad_column() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["get", "-o", "name,bogus", "quota", "zroot"]),
        2,
        "invalid column name 'bogus'",
    );
}

#[test]
fn get_depth_not_integer() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["get", "-d", "x", "all", "zroot"]),
        2,
        "x is not an integer",
    );
}

#[test]
fn list_missing_dataset() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["list", "zroot/nope"]),
        1,
        "cannot open 'zroot/nope': dataset does not exist",
    );
}

#[test]
fn list_unknown_column_and_sort_key() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["list", "-o", "name,bogus", "zroot"]),
        2,
        "bad property list: invalid property 'bogus'",
    );
    fails(
        zfs(&h, &["list", "-s", "bogus", "zroot"]),
        2,
        "invalid property 'bogus'",
    );
    fails(
        zfs(&h, &["list", "-t", "bogus", "zroot"]),
        2,
        "invalid type 'bogus'",
    );
}

#[test]
fn snapshot_of_missing_dataset() {
    let (_d, h) = host();
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_snapshot: a filesystem that cannot be opened
    // sends it to the usage text, exit 2 (zfs-fuse exits 1 without the usage).
    let o = fails(
        zfs(&h, &["snapshot", "zroot/nope@x"]),
        2,
        "cannot open 'zroot/nope': dataset does not exist",
    );
    assert!(
        o.stderr.contains("\nusage:\n\tsnapshot [-r]"),
        "{}",
        o.stderr
    );
}

#[test]
fn snapshot_twice() {
    let (_d, h) = host();
    with_clone(&h);
    fails(
        zfs(&h, &["snapshot", "zroot/b@s"]),
        1,
        "cannot create snapshot 'zroot/b@s': dataset already exists",
    );
}

#[test]
fn recursive_snapshot_is_atomic() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/p/q"]);
    ok(&h, &["snapshot", "zroot/p/q@t"]);
    fails(
        zfs(&h, &["snapshot", "-r", "zroot/p@t"]),
        1,
        "cannot create snapshot 'zroot/p/q@t': dataset already exists",
    );
    assert_eq!(
        zfs(&h, &["list", "zroot/p@t"]).status,
        1,
        "no partial snapshot left"
    );
}

#[test]
fn clone_of_missing_snapshot() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["clone", "zroot/a@nope", "zroot/e"]),
        1,
        "cannot open 'zroot/a@nope': dataset does not exist",
    );
}

#[test]
fn clone_of_a_filesystem() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["clone", "zroot/a", "zroot/d"]),
        1,
        // OpenZFS 2.2 opens the source as a snapshot and its name check refuses a name
        // without '@' (lib/libzfs/libzfs_dataset.c, zfs_validate_name); zfs-fuse says
        // "operation not applicable to datasets of this type".
        "cannot open 'zroot/a': missing '@' delimiter in snapshot name",
    );
}

#[test]
fn clone_without_target_parent() {
    let (_d, h) = host();
    with_clone(&h);
    fails(
        zfs(&h, &["clone", "zroot/b@s", "zroot/x/y"]),
        1,
        "cannot create 'zroot/x/y': parent does not exist",
    );
    ok(&h, &["clone", "-p", "zroot/b@s", "zroot/x/y"]);
}

#[test]
fn clone_missing_target_is_usage_error() {
    let (_d, h) = host();
    with_clone(&h);
    fails(
        zfs(&h, &["clone", "zroot/b@s"]),
        2,
        "missing target dataset argument",
    );
}

#[test]
fn destroy_snapshot_with_clones() {
    let (_d, h) = host();
    with_clone(&h);
    let o = fails(
        zfs(&h, &["destroy", "zroot/b@s"]),
        1,
        "cannot destroy 'zroot/b@s': snapshot has dependent clones",
    );
    assert_eq!(
        o.stderr,
        "cannot destroy 'zroot/b@s': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\nzroot/c\n"
    );
}

#[test]
fn destroy_filesystem_with_children() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/a/k"]);
    ok(&h, &["snapshot", "zroot/a@s1"]);
    let o = fails(
        zfs(&h, &["destroy", "zroot/a"]),
        1,
        "cannot destroy 'zroot/a': filesystem has children",
    );
    // zfs_iter_dependents' order: child filesystems before the target's own snapshots.
    assert_eq!(
        o.stderr,
        "cannot destroy 'zroot/a': filesystem has children\nuse '-r' to destroy the following datasets:\nzroot/a/k\nzroot/a@s1\n"
    );
}

#[test]
fn destroy_filesystem_whose_snapshot_is_cloned() {
    let (_d, h) = host();
    with_clone(&h);
    let o = fails(
        zfs(&h, &["destroy", "-r", "zroot/b"]),
        1,
        "cannot destroy 'zroot/b': filesystem has dependent clones",
    );
    assert!(
        o.stderr
            .ends_with("use '-R' to destroy the following datasets:\nzroot/c\n"),
        "{}",
        o.stderr
    );
}

#[test]
fn destroy_missing_dataset_and_snapshot() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["destroy", "zroot/nope"]),
        1,
        "cannot open 'zroot/nope': dataset does not exist",
    );
    fails(
        zfs(&h, &["destroy", "zroot/a@nope"]),
        1,
        "could not find any snapshots to destroy; check snapshot names.",
    );
}

#[test]
fn destroy_unknown_option_is_usage_error() {
    let (_d, h) = host();
    let o = fails(
        zfs(&h, &["destroy", "-x", "zroot/a"]),
        2,
        "invalid option 'x'",
    );
    assert!(o.stderr.contains("destroy [-fnpRrv] <filesystem|volume>"));
}

#[test]
fn destroy_pool_root() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["destroy", "zroot"]),
        1,
        "cannot destroy 'zroot': operation does not apply to pools",
    );
}

#[test]
fn inherit_non_inheritable_and_readonly() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    let o = fails(
        zfs(&h, &["inherit", "quota", "zroot/a"]),
        1,
        "'quota' property cannot be inherited",
    );
    assert!(o.stderr.contains("use 'zfs set quota=none' to clear"));
    fails(
        zfs(&h, &["inherit", "type", "zroot/a"]),
        1,
        "type property is read-only",
    );
}

#[test]
fn promote_not_a_clone() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    fails(
        zfs(&h, &["promote", "zroot/a"]),
        1,
        "cannot promote 'zroot/a': not a cloned filesystem",
    );
}

#[test]
fn rename_errors() {
    let (_d, h) = host();
    with_clone(&h);
    fails(
        zfs(&h, &["rename", "zroot/b", "zroot/c"]),
        1,
        "cannot rename 'zroot/b': dataset already exists",
    );
    fails(
        zfs(&h, &["rename", "zroot/b", "zroot/zz/b"]),
        1,
        "cannot create 'zroot/zz/b': parent does not exist",
    );
    fails(
        zfs(&h, &["rename", "zroot/b@s", "zroot/c@s3"]),
        1,
        "cannot rename to 'zroot/c@s3': snapshots must be part of same dataset",
    );
    fails(
        zfs(&h, &["rename", "zroot/b", "zroot/b/inner"]),
        1,
        "cannot rename to 'zroot/b/inner': New dataset name cannot be a descendant of current dataset name",
    );
}

#[test]
fn unknown_subcommand_and_unmodelled_ones() {
    let (_d, h) = host();
    fails(
        zfs(&h, &["frobnicate"]),
        2,
        "unrecognized command 'frobnicate'",
    );
    let o = zfs(&h, &["bookmark", "zroot@x", "zroot#x"]);
    assert_eq!(o.status, 1);
    assert!(
        o.stderr.contains("not modelled by the simulated host"),
        "{}",
        o.stderr
    );
    fails(zfs(&h, &[]), 2, "usage: zfs command args ...");
}

#[test]
fn zpool_errors() {
    let (_d, h) = host();
    fails(
        zpool(&h, &["list", "-H", "-o", "name,health", "nope"]),
        1,
        "cannot open 'nope': no such pool",
    );
    fails(
        zpool(&h, &["get", "bogus", "zroot"]),
        2,
        "bad property list: invalid property 'bogus'",
    );
    fails(zpool(&h, &["frob"]), 2, "unrecognized command 'frob'");
}

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
