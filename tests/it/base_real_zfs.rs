//! Bases on a real ZFS (zfs-fuse, through the simulator's real-ZFS mode): every zfs command
//! form `src/base/` emits (create -p -o, get -H -p, set, snapshot -o, list -t snapshot -s
//! creation -d 1, get -r, rollback, destroy -r) is accepted by the real tool and does what
//! jailctl expects. `.ci/zfs-fuse.sh` runs these (its default test filter `real_zfs` matches
//! them; CI runs the whole suite inside it).

use super::real_zfs::{Real, real_pool};
use super::support::sets::release_dir;
use jailctl::base::extract::ExtractOptions;
use jailctl::base::fetch::Source;
use jailctl::base::{self, BaseError, SetsRequest};
use jailctl::config::Global;
use jailctl::host::{Cmd, HostFs, Runner, tools};
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn base_create_update_rollback_and_destroy_on_real_zfs() {
    let Some(pool) = real_pool("base_create_update_rollback_and_destroy_on_real_zfs") else {
        return;
    };
    let r = Real::new(&pool);
    let global = Global {
        zfs_root: r.base.clone(),
        mount_root: "/jt".into(),
        default_base: None,
        parallelism: None,
        shutdown_timeout: std::time::Duration::from_secs(60),
        deadlines: Default::default(),
        dying_wait: std::time::Duration::from_secs(10),
        bridges: BTreeMap::new(),
        networks: BTreeMap::new(),
    };
    let rel = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let req = |sets: &[&str], from: &Path| SetsRequest {
        name: "14.2".into(),
        source: Source::Dir(from.to_path_buf()),
        sets: sets.iter().map(|s| s.to_string()).collect(),
        sha256: BTreeMap::new(),
        cache_dir: cache.path().to_path_buf(),
        progress: false,
        extract: ExtractOptions::default(),
    };
    let made = base::create(&r.host, &global, &req(&["base"], rel.path())).unwrap();
    assert_eq!(made.release, "14.2-RELEASE-p1");
    assert_eq!(made.mountpoint, Path::new("/jt/.bases/14.2"));
    let motd = r
        .host
        .local_path(Path::new("/jt/.bases/14.2/usr/share/motd"));
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "welcome\n");

    // A new snapshot on update; a failed update rolls the files back on the real pool.
    let second = base::update(&r.host, &global, &req(&["base", "lib32"], rel.path())).unwrap();
    assert_ne!(second.snapshot, made.snapshot);
    let lib32 = r
        .host
        .local_path(Path::new("/jt/.bases/14.2/usr/lib32/libc.so.7"));
    assert!(lib32.is_file());
    let bad = tempfile::tempdir().unwrap();
    let good = std::fs::read(rel.path().join("base.txz")).unwrap();
    let cut = &good[..good.len() / 2];
    std::fs::write(bad.path().join("base.txz"), cut).unwrap();
    let digest = jailctl::base::fetch::sha256_file(&bad.path().join("base.txz")).unwrap();
    std::fs::write(
        bad.path().join("MANIFEST"),
        format!("base.txz\t{digest}\t10\tbase\t\"Base system\"\ton\n"),
    )
    .unwrap();
    let err = base::update(&r.host, &global, &req(&["base"], bad.path())).unwrap_err();
    assert!(
        matches!(&err, BaseError::Undone { undo, .. } if undo.starts_with("rolled")),
        "{err}"
    );
    assert!(
        lib32.is_file(),
        "rollback restored the files of the last snapshot"
    );

    let list = base::list(&r.host, &global).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].snapshots.len(), 2);
    assert_eq!(list[0].release.as_deref(), Some("14.2-RELEASE-p1"));

    // A clone pins it; without the clone it goes.
    r.ok(&["clone", &made.snapshot, &format!("{}/web", r.base)]);
    let err = base::destroy(&r.host, &global, "14.2", &mut |_| true).unwrap_err();
    assert!(matches!(err, BaseError::InUse { .. }), "{err}");
    // zfs-fuse reports a just-mounted dataset busy for a moment: retry, as Real's drop does.
    let web = format!("{}/web", r.base);
    let mut last = String::new();
    for _ in 0..25 {
        let o = r
            .host
            .output(&Cmd::new(tools::ZFS, ["destroy", web.as_str()]))
            .unwrap();
        if o.status == 0 {
            last.clear();
            break;
        }
        last = o.stderr;
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(last.is_empty(), "cannot destroy {web}: {last}");
    // Same zfs-fuse quirk for the base's own datasets: retry while it says busy.
    let mut result = base::destroy(&r.host, &global, "14.2", &mut |_| true);
    for _ in 0..25 {
        match &result {
            Err(e) if e.to_string().contains("dataset is busy") => {
                std::thread::sleep(std::time::Duration::from_millis(200));
                result = base::destroy(&r.host, &global, "14.2", &mut |_| true);
            }
            _ => break,
        }
    }
    result.unwrap();
    assert!(base::list(&r.host, &global).unwrap().is_empty());
}
