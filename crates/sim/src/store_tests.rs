//! Tests of the log the simulated host keeps its state in: torn lines, compaction seen by
//! other handles, the old single-file format, and reads sharing the lock.

use crate::{SimConfig, SimHost};
use jailctl_host::{Cmd, Runner, tools};
use std::path::Path;

fn open(dir: &Path) -> SimHost {
    SimHost::open_with(dir, SimConfig::default()).unwrap()
}

fn zfs(h: &SimHost, args: &[&str]) {
    let out = h
        .output(&Cmd::new(tools::ZFS, args.iter().copied()))
        .unwrap();
    assert!(out.success(), "zfs {args:?}: {}", out.stderr);
}

fn names(h: &SimHost) -> Vec<String> {
    h.snapshot().unwrap().zfs.datasets.keys().cloned().collect()
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_off_by_the_next_write() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    let a = open(&dir);
    zfs(&a, &["create", "zroot/a"]);
    let log = dir.join("state.jsonl");
    // What a writer killed in the middle of its write leaves: a line without its end.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("[[\"s\",\"zfs.datasets/zroot/torn\",{\"ty");
    std::fs::write(&log, &text).unwrap();
    let b = open(&dir);
    assert!(!names(&b).contains(&"zroot/torn".to_string()));
    assert!(names(&b).contains(&"zroot/a".to_string()));
    zfs(&b, &["create", "zroot/b"]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("torn"), "the torn tail was kept: {text}");
    assert!(text.ends_with('\n'));
    let fresh = open(&dir);
    let all = names(&fresh);
    assert!(all.contains(&"zroot/a".to_string()) && all.contains(&"zroot/b".to_string()));
}

#[test]
fn a_compacted_log_holds_the_same_state_and_other_handles_see_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    let a = open(&dir);
    let b = open(&dir);
    for i in 0..5 {
        zfs(&a, &["create", &format!("zroot/d{i}")]);
    }
    zfs(&a, &["destroy", "zroot/d2"]);
    let before = b.snapshot().unwrap();
    let log = dir.join("state.jsonl");
    let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert!(lines(&log) > 5);
    a.compact_now().unwrap();
    assert_eq!(lines(&log), 1, "a compacted log is one line");
    // `b` cached the old file: it must notice the new one, and what `a` writes after.
    zfs(&a, &["create", "zroot/after"]);
    let after = b.snapshot().unwrap();
    let mut expected: Vec<String> = before.zfs.datasets.keys().cloned().collect();
    expected.push("zroot/after".into());
    expected.sort();
    assert_eq!(
        after.zfs.datasets.keys().cloned().collect::<Vec<_>>(),
        expected
    );
    assert!(!after.zfs.datasets.contains_key("zroot/d2"));
    let mut fresh = open(&dir).snapshot().unwrap();
    fresh.history.clear();
    let mut after = after;
    after.history.clear();
    assert!(fresh == after, "a fresh handle reads another state");
}

#[test]
fn a_host_in_the_single_file_format_is_converted() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    std::fs::create_dir_all(&dir).unwrap();
    let mut old = crate::SimState::fresh();
    let pool = old.zfs.datasets.get("zroot").unwrap().clone();
    old.zfs.datasets.insert("zroot/old".into(), pool);
    std::fs::write(dir.join("state.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    let h = open(&dir);
    assert!(names(&h).contains(&"zroot/old".to_string()));
    assert!(!dir.join("state.json").exists(), "the old file was kept");
    assert!(dir.join("state.jsonl").exists());
}

/// Reads take the lock shared: a read runs while another holds it shared, and waits while
/// a writer holds it.
#[test]
fn reads_run_beside_other_reads_and_wait_for_a_write() {
    use nix::fcntl::{Flock, FlockArg};
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    let h = std::sync::Arc::new(open(&dir));
    let hold = |arg| {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join("lock"))
            .unwrap();
        Flock::lock(f, arg).map_err(|(_, e)| e).unwrap()
    };
    let list = Cmd::new(tools::ZFS, ["list", "-H", "-o", "name"]);
    let reader = hold(FlockArg::LockShared);
    assert!(
        h.output(&list).unwrap().success(),
        "a read waited for a read"
    );
    drop(reader);
    let writer = hold(FlockArg::LockExclusive);
    let (tx, rx) = std::sync::mpsc::channel();
    let h2 = h.clone();
    let t = std::thread::spawn(move || {
        tx.send(h2.output(&list).unwrap().status).unwrap();
    });
    let waited = rx.recv_timeout(std::time::Duration::from_millis(300));
    assert!(waited.is_err(), "a read ran while a write held the lock");
    drop(writer);
    assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(0));
    t.join().unwrap();
}
