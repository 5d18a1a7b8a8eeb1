//! The simulated zfs(8) where OpenZFS 2.2 (FreeBSD 14's ZFS) and zfs-fuse, the ZFS the
//! project can run beside it, disagree: each test carries OpenZFS 2.2's behaviour as the
//! expected value, with the source it comes from. Issue 19 lists the cases.

use jailctl::host::sim::SimHost;
use jailctl::host::{Cmd, Output, Runner, tools};

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
