//! The simulated `zfs rollback` that `base update` relies on for its undo: it refuses what
//! the real zfs(8) refuses (exit status and message) and restores the snapshot's files.

use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl_sim::SimHost;
use std::path::{Path, PathBuf};

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
fn ok(h: &SimHost, args: &[&str]) {
    let o = zfs(h, args);
    assert_eq!(o.status, 0, "zfs {args:?}: {}", o.stderr);
}

#[track_caller]
fn fails(o: Output, status: i32, stderr: &str) {
    assert_eq!(o.status, status, "stderr: {}", o.stderr);
    assert_eq!(o.stderr, stderr);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
}

/// `zroot/b` with snapshots @s1 and @s2; the files of each differ.
fn two_snapshots(h: &SimHost) -> PathBuf {
    ok(h, &["create", "-o", "mountpoint=/b", "zroot/b"]);
    let dir = h.local_path(Path::new("/b"));
    std::fs::write(dir.join("f"), "one").unwrap();
    ok(h, &["snapshot", "zroot/b@s1"]);
    std::fs::write(dir.join("f"), "two").unwrap();
    std::fs::write(dir.join("g"), "new in s2").unwrap();
    ok(h, &["snapshot", "zroot/b@s2"]);
    dir
}

#[test]
fn rollback_to_the_latest_snapshot_restores_its_files() {
    let (_d, h) = host();
    let dir = two_snapshots(&h);
    std::fs::write(dir.join("f"), "changed").unwrap();
    std::fs::write(dir.join("h"), "written after s2").unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    ok(&h, &["rollback", "zroot/b@s2"]);
    assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "two");
    assert_eq!(std::fs::read_to_string(dir.join("g")).unwrap(), "new in s2");
    assert!(!dir.join("h").exists());
    assert!(!dir.join("sub").exists());
    // Both snapshots are still there.
    let snaps = h.snapshot().unwrap().zfs.datasets;
    assert!(snaps.contains_key("zroot/b@s1") && snaps.contains_key("zroot/b@s2"));
}

#[test]
fn rollback_past_a_later_snapshot_needs_r() {
    let (_d, h) = host();
    let dir = two_snapshots(&h);
    fails(
        zfs(&h, &["rollback", "zroot/b@s1"]),
        1,
        "cannot rollback to 'zroot/b@s1': more recent snapshots or bookmarks exist\n\
         use '-r' to force deletion of the following snapshots and bookmarks:\n\
         zroot/b@s2\n",
    );
    assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "two");
    ok(&h, &["rollback", "-r", "zroot/b@s1"]);
    assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "one");
    assert!(!dir.join("g").exists());
    let ds = h.snapshot().unwrap().zfs.datasets;
    assert!(ds.contains_key("zroot/b@s1"));
    assert!(!ds.contains_key("zroot/b@s2"));
}

#[test]
fn rollback_past_a_cloned_snapshot_needs_big_r() {
    let (_d, h) = host();
    two_snapshots(&h);
    ok(&h, &["clone", "zroot/b@s2", "zroot/c"]);
    fails(
        zfs(&h, &["rollback", "-r", "zroot/b@s1"]),
        1,
        "cannot rollback to 'zroot/b@s1': clones of previous snapshots exist\n\
         use '-R' to force deletion of the following clones and dependents:\n\
         zroot/c\n",
    );
    assert!(
        h.snapshot()
            .unwrap()
            .zfs
            .datasets
            .contains_key("zroot/b@s2")
    );
    ok(&h, &["rollback", "-R", "zroot/b@s1"]);
    let ds = h.snapshot().unwrap().zfs.datasets;
    assert!(!ds.contains_key("zroot/c"));
    assert!(!ds.contains_key("zroot/b@s2"));
    assert!(!h.local_path(Path::new("/zroot/c")).exists());
}

#[test]
fn rollback_operand_errors() {
    let (_d, h) = host();
    two_snapshots(&h);
    fails(
        zfs(&h, &["rollback", "zroot/b"]),
        1,
        // OpenZFS 2.2 opens the operand as a snapshot (cmd/zfs/zfs_main.c, zfs_do_rollback)
        // and its name check wants an '@' (libzfs_dataset.c, zfs_validate_name).
        "cannot open 'zroot/b': missing '@' delimiter in snapshot name\n",
    );
    fails(
        zfs(&h, &["rollback", "zroot/b@nope"]),
        1,
        "cannot open 'zroot/b@nope': dataset does not exist\n",
    );
    let o = zfs(&h, &["rollback"]);
    assert_eq!(o.status, 2);
    assert!(
        o.stderr
            .starts_with("missing dataset argument\nusage:\n\trollback [-rRf] <snapshot>\n"),
        "{}",
        o.stderr
    );
    let o = zfs(&h, &["rollback", "-x", "zroot/b@s2"]);
    assert_eq!(o.status, 2);
    assert!(o.stderr.starts_with("invalid option 'x'\n"), "{}", o.stderr);
    let o = zfs(&h, &["rollback", "zroot/b@s1", "zroot/b@s2"]);
    assert_eq!(o.status, 2);
    assert!(o.stderr.starts_with("too many arguments\n"), "{}", o.stderr);
}
