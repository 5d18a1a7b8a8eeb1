//! The simulated zfs(8) where OpenZFS 2.2 (FreeBSD 14's ZFS) and zfs-fuse, the ZFS the
//! project can run beside it, disagree: each test carries OpenZFS 2.2's behaviour as the
//! expected value, with the source it comes from. Issue 19 lists the cases.

use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl_sim::SimHost;

fn host() -> (tempfile::TempDir, SimHost) {
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open(&d.path().join("sim")).unwrap();
    (d, h)
}

fn zfs(h: &SimHost, args: &[&str]) -> Output {
    h.output(&Cmd::new(tools::ZFS, args.iter().copied()))
        .unwrap()
}

#[track_caller]
fn ok(h: &SimHost, args: &[&str]) -> String {
    let o = zfs(h, args);
    assert_eq!(o.status, 0, "zfs {args:?}: {}", o.stderr);
    assert_eq!(o.stderr, "", "zfs {args:?}");
    o.stdout
}

/// Exit status, stdout and stderr, exactly.
#[track_caller]
fn exact(o: Output, status: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (o.status, o.stdout.as_str(), o.stderr.as_str()),
        (status, stdout, stderr)
    );
}

fn names(h: &SimHost) -> String {
    ok(h, &["list", "-H", "-o", "name", "-t", "all", "-r", "zroot"])
}

// ---- 1. `create -p` / `clone -p` of an existing dataset ----------------------------------

/// cmd/zfs/zfs_main.c, zfs_do_create: with -p, an existing target returns 0 before the -o
/// values are validated (they are checked by zfs_create, which is not reached).
#[test]
fn create_p_of_an_existing_dataset_succeeds_whatever_the_values() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    exact(zfs(&h, &["create", "-p", "zroot/a"]), 0, "", "");
    exact(
        zfs(&h, &["create", "-p", "-o", "quota=abc", "zroot/a"]),
        0,
        "",
        "",
    );
    assert_eq!(
        ok(&h, &["get", "-H", "-o", "value", "quota", "zroot/a"]),
        "none\n"
    );
    // Without -p it is still an error.
    exact(
        zfs(&h, &["create", "zroot/a"]),
        1,
        "",
        "cannot create 'zroot/a': dataset already exists\n",
    );
}

/// cmd/zfs/zfs_main.c, zfs_do_clone: the same rule after the source snapshot is opened.
#[test]
fn clone_p_onto_an_existing_dataset_succeeds() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    ok(&h, &["snapshot", "zroot/a@s"]);
    ok(&h, &["create", "zroot/b"]);
    exact(zfs(&h, &["clone", "-p", "zroot/a@s", "zroot/b"]), 0, "", "");
    assert_eq!(
        ok(&h, &["get", "-H", "-o", "value", "origin", "zroot/b"]),
        "-\n"
    );
    // The source is still opened first: a missing one fails.
    exact(
        zfs(&h, &["clone", "-p", "zroot/a@nope", "zroot/b"]),
        1,
        "",
        "cannot open 'zroot/a@nope': dataset does not exist\n",
    );
    exact(
        zfs(&h, &["clone", "zroot/a@s", "zroot/b"]),
        1,
        "",
        "cannot create 'zroot/b': dataset already exists\n",
    );
}

// ---- 2. a failed `create -p` keeps the ancestors it made ----------------------------------

/// zfs_do_create calls zfs_create_ancestors (lib/libzfs/libzfs_dataset.c) before zfs_create
/// validates the -o values, and nothing removes the ancestors afterwards.
#[test]
fn failed_create_p_keeps_the_ancestors() {
    let (_d, h) = host();
    exact(
        zfs(&h, &["create", "-p", "-o", "quota=abc", "zroot/a/b/c"]),
        1,
        "",
        "cannot create 'zroot/a/b/c': bad numeric value 'abc'\n",
    );
    assert_eq!(names(&h), "zroot\nzroot/a\nzroot/a/b\n");
    // The ancestors are mounted filesystems like any other.
    assert_eq!(
        ok(&h, &["get", "-H", "-o", "value", "mounted", "zroot/a/b"]),
        "yes\n"
    );
    let o = zfs(
        &h,
        &["clone", "-p", "-o", "quota=abc", "zroot/a@x", "zroot/q/r"],
    );
    assert_eq!(o.status, 1);
    assert_eq!(
        o.stderr,
        "cannot open 'zroot/a@x': dataset does not exist\n"
    );
    ok(&h, &["snapshot", "zroot/a@x"]);
    exact(
        zfs(
            &h,
            &["clone", "-p", "-o", "quota=abc", "zroot/a@x", "zroot/q/r"],
        ),
        1,
        "",
        "cannot create 'zroot/q/r': bad numeric value 'abc'\n",
    );
    assert_eq!(names(&h), "zroot\nzroot/a\nzroot/a@x\nzroot/a/b\nzroot/q\n");
}

// ---- 3. quota=0 ---------------------------------------------------------------------------

/// lib/libzfs/libzfs_util.c, zprop_parse_value: a numeric 0 for quota or refquota is
/// refused; "none" is the way to turn it off.
#[test]
fn quota_of_zero_is_refused() {
    let (_d, h) = host();
    exact(
        zfs(&h, &["create", "-o", "quota=0", "zroot/c"]),
        1,
        "",
        "cannot create 'zroot/c': use 'none' to disable quota/refquota\n",
    );
    assert_eq!(names(&h), "zroot\n");
    ok(&h, &["create", "zroot/c"]);
    for v in ["quota=0", "refquota=0", "quota=0K", "refquota=0.0M"] {
        exact(
            zfs(&h, &["set", v, "zroot/c"]),
            1,
            "",
            "cannot set property for 'zroot/c': use 'none' to disable quota/refquota\n",
        );
    }
    ok(&h, &["set", "quota=none", "zroot/c"]);
    ok(&h, &["set", "reservation=0", "zroot/c"]);
    ok(&h, &["set", "quota=1M", "zroot/c"]);
    assert_eq!(
        ok(&h, &["get", "-H", "-p", "-o", "value", "quota", "zroot/c"]),
        "1048576\n"
    );
}

// ---- 4. several datasets in one command ---------------------------------------------------

/// cmd/zfs/zfs_iter.c, zfs_for_each: an operand that cannot be opened is reported and the
/// command goes on with the others, then exits 1.
#[test]
fn list_reports_a_missing_operand_and_lists_the_others() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    exact(
        zfs(&h, &["list", "-H", "-o", "name", "zroot/nope", "zroot/a"]),
        1,
        "zroot/a\n",
        "cannot open 'zroot/nope': dataset does not exist\n",
    );
    // Nothing found and nothing failed: the "no datasets" note, status 0.
    exact(
        zfs(&h, &["list", "-t", "snapshot"]),
        0,
        "",
        "no datasets available\n",
    );
    // Only failures: no note.
    exact(
        zfs(&h, &["list", "zroot/nope"]),
        1,
        "",
        "cannot open 'zroot/nope': dataset does not exist\n",
    );
}

/// zfs_for_each gathers the datasets in a tree ordered by name (zfs_compare) and skips
/// one already there, so `get` prints them sorted and once each.
#[test]
fn get_sorts_and_deduplicates_its_operands() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    ok(&h, &["create", "zroot/b"]);
    ok(&h, &["snapshot", "zroot/a@s1"]);
    exact(
        zfs(
            &h,
            &[
                "get",
                "-H",
                "-o",
                "name,value",
                "quota",
                "zroot/b",
                "zroot/a@s1",
                "zroot/a",
                "zroot/a",
            ],
        ),
        0,
        "zroot/a\tnone\nzroot/a@s1\t-\nzroot/b\tnone\n",
        "",
    );
    exact(
        zfs(
            &h,
            &[
                "get",
                "-H",
                "-o",
                "name",
                "type",
                "zroot/b",
                "zroot/nope",
                "zroot/a",
            ],
        ),
        1,
        "zroot/a\nzroot/b\n",
        "cannot open 'zroot/nope': dataset does not exist\n",
    );
}

/// zfs_do_set: the operands are all opened first (zfs_for_each), then set_callback runs
/// once per dataset in name order, so the open errors come first.
#[test]
fn set_reports_open_errors_first_then_in_name_order() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    ok(&h, &["create", "zroot/b"]);
    ok(&h, &["snapshot", "zroot/a@s"]);
    exact(
        zfs(
            &h,
            &[
                "set",
                "atime=off",
                "zroot/b",
                "zroot/nope",
                "zroot/a@s",
                "zroot/a",
                "zroot/zz",
            ],
        ),
        1,
        "",
        "cannot open 'zroot/nope': dataset does not exist\n\
         cannot open 'zroot/zz': dataset does not exist\n\
         cannot set property for 'zroot/a@s': this property can not be modified for snapshots\n",
    );
    assert_eq!(
        ok(
            &h,
            &[
                "get",
                "-H",
                "-o",
                "name,value",
                "atime",
                "zroot/a",
                "zroot/b"
            ]
        ),
        "zroot/a\toff\nzroot/b\toff\n"
    );
}

// ---- 5. list and snapshots, -t and the operand's type --------------------------------------

/// zfs_do_list's default types include snapshots; only snapshots reached by recursion
/// follow the pool's listsnapshots (off): a snapshot named as an operand is listed.
#[test]
fn list_of_a_snapshot_by_name() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    ok(&h, &["snapshot", "zroot/a@s1"]);
    exact(
        zfs(&h, &["list", "-H", "-o", "name", "zroot/a@s1"]),
        0,
        "zroot/a@s1\n",
        "",
    );
    exact(
        zfs(&h, &["list", "-H", "-o", "name", "-r", "zroot/a@s1"]),
        0,
        "zroot/a@s1\n",
        "",
    );
    exact(
        zfs(&h, &["list", "-H", "-o", "name", "-r", "zroot/a"]),
        0,
        "zroot/a\n",
        "",
    );
}

/// zfs_for_each opens each operand with the -t types (lib/libzfs/libzfs_dataset.c,
/// zfs_open): a filesystem under `-t volume` is of the wrong type, a snapshot's name
/// under `-t filesystem` fails the name check.
#[test]
fn list_of_an_operand_of_another_type_fails() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    ok(&h, &["snapshot", "zroot/a@s1"]);
    exact(
        zfs(&h, &["list", "-t", "volume", "zroot/a"]),
        1,
        "",
        "cannot open 'zroot/a': operation not applicable to datasets of this type\n",
    );
    exact(
        zfs(&h, &["list", "-t", "filesystem", "zroot/a@s1"]),
        1,
        "",
        "cannot open 'zroot/a@s1': snapshot delimiter '@' is not expected here\n",
    );
    // With -r a filesystem operand is always accepted (zfs_iter.c adds it to the types).
    exact(
        zfs(
            &h,
            &["list", "-H", "-o", "name", "-r", "-t", "volume", "zroot/a"],
        ),
        0,
        "",
        "",
    );
    // `fs` is OpenZFS 2.2's short name for filesystem.
    exact(
        zfs(&h, &["list", "-H", "-o", "name", "-t", "fs", "zroot/a"]),
        0,
        "zroot/a\n",
        "",
    );
}

/// zfs_do_list: `-t snapshot NAME` without -r or -d lists NAME's snapshots (depth 1).
#[test]
fn list_t_snapshot_of_a_filesystem_lists_its_snapshots() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/a/b"]);
    ok(&h, &["snapshot", "-r", "zroot/a@s1"]);
    ok(&h, &["snapshot", "zroot/a@s2"]);
    exact(
        zfs(
            &h,
            &["list", "-H", "-o", "name", "-t", "snapshot", "zroot/a"],
        ),
        0,
        "zroot/a@s1\nzroot/a@s2\n",
        "",
    );
    exact(
        zfs(
            &h,
            &[
                "list", "-H", "-o", "name", "-t", "snapshot", "-r", "zroot/a",
            ],
        ),
        0,
        "zroot/a@s1\nzroot/a@s2\nzroot/a/b@s1\n",
        "",
    );
    exact(
        zfs(
            &h,
            &[
                "get", "-H", "-o", "name", "-t", "snapshot", "type", "zroot/a",
            ],
        ),
        0,
        "zroot/a@s1\nzroot/a@s2\n",
        "",
    );
}

// ---- 9. order of checks ----------------------------------------------------------------------

/// lib/libzfs/libzfs_dataset.c, zfs_create: the parent (check_parents) and an existing
/// dataset are checked before the property values (zfs_valid_proplist).
#[test]
fn create_checks_parent_and_existence_before_the_values() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    exact(
        zfs(&h, &["create", "-o", "quota=abc", "zroot/nope/x"]),
        1,
        "",
        "cannot create 'zroot/nope/x': parent does not exist\n",
    );
    exact(
        zfs(&h, &["create", "-o", "quota=abc", "zroot/a"]),
        1,
        "",
        "cannot create 'zroot/a': dataset already exists\n",
    );
    exact(
        zfs(&h, &["create", "-o", "quota=abc", "zroot/b"]),
        1,
        "",
        "cannot create 'zroot/b': bad numeric value 'abc'\n",
    );
}

// ---- where zfs-fuse differs from OpenZFS 2.2 -------------------------------------------------

/// zfs_validate_name (libzfs_dataset.c) with the types zfs_open is given: rollback and
/// clone want a snapshot, promote a filesystem or volume.
#[test]
fn operands_of_the_wrong_kind_fail_the_name_check() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    ok(&h, &["snapshot", "zroot/a@s"]);
    exact(
        zfs(&h, &["rollback", "zroot/a"]),
        1,
        "",
        "cannot open 'zroot/a': missing '@' delimiter in snapshot name\n",
    );
    exact(
        zfs(&h, &["clone", "zroot/a", "zroot/x"]),
        1,
        "",
        "cannot open 'zroot/a': missing '@' delimiter in snapshot name\n",
    );
    exact(
        zfs(&h, &["promote", "zroot/a@s"]),
        1,
        "",
        "cannot open 'zroot/a@s': snapshot delimiter '@' is not expected here\n",
    );
    // module/zcommon/zfs_namecheck.c: NAME_ERR_MULTIPLE_DELIMITERS.
    exact(
        zfs(&h, &["create", "zroot/a@b@c"]),
        1,
        "",
        "cannot create 'zroot/a@b@c': multiple '@' and/or '#' delimiters in name\n",
    );
}

// ---- 6. a filesystem under a read-only one --------------------------------------------------

/// lib/libzfs/libzfs_mount.c, zfs_mount_at: the missing mountpoint directory cannot be
/// made on a read-only filesystem; cmd/zfs/zfs_main.c (zfs_mount_and_share) then says the
/// dataset exists but is not mounted, exit 1.
#[test]
fn create_under_a_read_only_filesystem_is_made_but_not_mounted() {
    let (_d, h) = host();
    ok(&h, &["create", "-o", "readonly=on", "zroot/ro"]);
    exact(
        zfs(&h, &["create", "zroot/ro/c"]),
        1,
        "",
        "cannot mount '/zroot/ro/c': failed to create mountpoint: Read-only file system\n\
         filesystem successfully created, but not mounted\n",
    );
    assert_eq!(
        ok(&h, &["list", "-H", "-o", "name,mounted", "-r", "zroot/ro"]),
        "zroot/ro\tyes\nzroot/ro/c\tno\n"
    );
    // A mountpoint elsewhere mounts.
    ok(&h, &["create", "-o", "mountpoint=/srv/c2", "zroot/ro/c2"]);
    assert_eq!(
        ok(&h, &["get", "-H", "-o", "value", "mounted", "zroot/ro/c2"]),
        "yes\n"
    );
}

// ---- 7. paths as operands -----------------------------------------------------------------

/// cmd/zfs/zfs_iter.c: list and get take paths (ZFS_ITER_ARGS_CAN_BE_PATHS), turned into
/// the filesystem mounted there by lib/libzfs/libzfs_dataset.c, zfs_path_to_zhandle.
#[test]
fn list_and_get_take_paths() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/a/b"]);
    exact(
        zfs(&h, &["list", "-H", "-o", "name", "/zroot/a"]),
        0,
        "zroot/a\n",
        "",
    );
    // A directory inside a mounted filesystem is on that filesystem.
    h.mkdir_p(std::path::Path::new("/zroot/a/b/sub/dir"), 0o755)
        .unwrap();
    exact(
        zfs(
            &h,
            &[
                "get",
                "-H",
                "-o",
                "name,value",
                "type",
                "/zroot/a/b/sub/dir",
            ],
        ),
        0,
        "zroot/a/b\tfilesystem\n",
        "",
    );
    exact(
        zfs(&h, &["list", "-H", "-o", "name", "/zroot/a/nope"]),
        1,
        "",
        "/zroot/a/nope: No such file or directory\n",
    );
    h.mkdir_p(std::path::Path::new("/etc"), 0o755).unwrap();
    exact(
        zfs(&h, &["list", "-H", "-o", "name", "/etc"]),
        1,
        "",
        "'/etc': not a ZFS filesystem\n",
    );
}

// ---- 8. destroy, rename, inherit, set -----------------------------------------------------

/// cmd/zfs/zfs_main.c, zfs_do_destroy: -r on a pool destroys everything in it and skips
/// the pool's own filesystem (destroy_callback); without -r it is refused.
#[test]
fn destroy_r_of_the_pool_empties_it() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/a/b"]);
    ok(&h, &["snapshot", "-r", "zroot@s"]);
    let o = zfs(&h, &["destroy", "zroot"]);
    assert_eq!(o.status, 1);
    assert_eq!(
        o.stderr.lines().next(),
        Some("cannot destroy 'zroot': operation does not apply to pools")
    );
    exact(zfs(&h, &["destroy", "-r", "zroot"]), 0, "", "");
    assert_eq!(names(&h), "zroot\n");
}

/// lib/libzfs/libzfs_iter.c, iter_dependents_cb: after `promote`, zroot/x is a clone of a
/// snapshot of its own child, and destroying it finds the cycle.
#[test]
fn destroy_of_a_promoted_clones_parent_finds_the_cycle() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/x"]);
    ok(&h, &["snapshot", "zroot/x@s1"]);
    ok(&h, &["snapshot", "zroot/x@s2"]);
    ok(&h, &["clone", "zroot/x@s2", "zroot/x/z"]);
    ok(&h, &["promote", "zroot/x/z"]);
    for flag in ["-r", "-R"] {
        exact(
            zfs(&h, &["destroy", flag, "zroot/x"]),
            1,
            "",
            "cannot determine dependent datasets: recursive dependency at 'zroot/x'\n",
        );
    }
    assert_eq!(
        names(&h),
        "zroot\nzroot/x\nzroot/x/z\nzroot/x/z@s1\nzroot/x/z@s2\n"
    );
}

/// Destroy's list of dependents is zfs_iter_dependents' post-order: a child's snapshots,
/// the child, then the target's own snapshots; a clone's children before the clone.
#[test]
fn destroy_lists_dependents_in_post_order() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/a/b"]);
    ok(&h, &["snapshot", "zroot/a/b@s1"]);
    ok(&h, &["snapshot", "-r", "zroot/a@s2"]);
    exact(
        zfs(&h, &["destroy", "zroot/a"]),
        1,
        "",
        "cannot destroy 'zroot/a': filesystem has children\n\
         use '-r' to destroy the following datasets:\n\
         zroot/a/b@s1\nzroot/a/b@s2\nzroot/a/b\nzroot/a@s2\n",
    );
    ok(&h, &["clone", "zroot/a@s2", "zroot/c"]);
    ok(&h, &["create", "zroot/c/d"]);
    exact(
        zfs(&h, &["destroy", "zroot/a@s2"]),
        1,
        "",
        "cannot destroy 'zroot/a@s2': snapshot has dependent clones\n\
         use '-R' to destroy the following datasets:\n\
         zroot/c/d\nzroot/c\n",
    );
    exact(
        zfs(&h, &["destroy", "-r", "zroot/a"]),
        1,
        "",
        "cannot destroy 'zroot/a': filesystem has dependent clones\n\
         use '-R' to destroy the following datasets:\n\
         zroot/c/d\nzroot/c\n",
    );
}

/// lib/libzfs/libzfs_dataset.c, zfs_rename: renaming to the same name succeeds.
/// cmd/zfs/zfs_main.c, inherit_recurse_cb: with -r, a snapshot is skipped for a native
/// property. module/zcommon/zfs_prop.c, zfs_prop_user: `:x` is a user property.
#[test]
fn rename_to_itself_inherit_r_of_a_snapshot_and_colon_first_user_property() {
    let (_d, h) = host();
    ok(&h, &["create", "zroot/a"]);
    ok(&h, &["snapshot", "zroot/a@s1"]);
    exact(zfs(&h, &["rename", "zroot/a", "zroot/a"]), 0, "", "");
    exact(
        zfs(&h, &["inherit", "-r", "compression", "zroot/a@s1"]),
        0,
        "",
        "",
    );
    exact(
        zfs(&h, &["inherit", "compression", "zroot/a@s1"]),
        1,
        "",
        "cannot inherit compression for 'zroot/a@s1': property doesn't apply to datasets of this type\n",
    );
    exact(zfs(&h, &["set", ":x=1", "zroot/a"]), 0, "", "");
    assert_eq!(
        ok(&h, &["get", "-H", "-o", "value,source", ":x", "zroot/a"]),
        "1\tlocal\n"
    );
}

// ---- 9. wording -------------------------------------------------------------------------

/// cmd/zfs/zfs_main.c, zfs_do_snapshot: a failed -r (or several operands) adds "no snapshots
/// were created"; an operand without '@' or on a missing filesystem gives the usage, exit 2.
#[test]
fn snapshot_failures() {
    let (_d, h) = host();
    ok(&h, &["create", "-p", "zroot/a/b"]);
    ok(&h, &["snapshot", "zroot/a/b@s1"]);
    exact(
        zfs(&h, &["snapshot", "-r", "zroot/a@s1"]),
        1,
        "",
        "cannot create snapshot 'zroot/a/b@s1': dataset already exists\nno snapshots were created\n",
    );
    assert_eq!(names(&h), "zroot\nzroot/a\nzroot/a/b\nzroot/a/b@s1\n");
    exact(
        zfs(&h, &["snapshot", "zroot/a/b@s1"]),
        1,
        "",
        "cannot create snapshot 'zroot/a/b@s1': dataset already exists\n",
    );
    let o = zfs(&h, &["snapshot", "zroot/a"]);
    assert_eq!(o.status, 2);
    assert!(
        o.stderr.starts_with("usage:\n\tsnapshot [-r]"),
        "{}",
        o.stderr
    );
    let o = zfs(&h, &["snapshot", "zroot/nope@x"]);
    assert_eq!(o.status, 2);
    assert!(
        o.stderr
            .starts_with("cannot open 'zroot/nope': dataset does not exist\nusage:\n"),
        "{}",
        o.stderr
    );
}

/// cmd/zfs/zfs_main.c, print_header: user-property columns are upper-cased.
#[test]
fn user_property_headers_are_upper_case() {
    let (_d, h) = host();
    ok(&h, &["create", "-o", "jc:tag=1", "zroot/a"]);
    exact(
        zfs(&h, &["list", "-o", "name,jc:tag", "zroot/a"]),
        0,
        "NAME     JC:TAG\nzroot/a  1\n",
        "",
    );
}
