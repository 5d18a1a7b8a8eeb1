//! `zfs send`/`zfs receive` on the simulated host: full, incremental (`-i`, `-I`),
//! properties (`-p`, `-o`, `-x`, `-u`), clones received with `-o origin=`, and the refusals
//! (missing incremental source, existing target, truncated, damaged and foreign streams,
//! a destination that does not match). One table of cases runs on the simulator and, under
//! `.ci/zfs-fuse.sh`, on zfs-fuse through real-ZFS mode: exit statuses always agree, and the
//! messages wherever zfs-fuse implements the case as OpenZFS 2.2 does.

use super::real_zfs::{Real, real_pool};
use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl_sim::{SimConfig, SimHost};
use std::path::Path;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

/// A host with a dataset `base` mounted at `/jt` to work under.
struct Bed {
    sim: Option<(SimHost, tempfile::TempDir)>,
    real: Option<Real>,
    base: String,
}

impl Bed {
    fn sim() -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let host = SimHost::open_with(&dir.path().join("sim"), SimConfig::default()).unwrap();
        let b = Bed {
            sim: Some((host, dir)),
            real: None,
            base: "zroot/jt".into(),
        };
        b.ok(&["create", "-o", "mountpoint=/jt", "zroot/jt"]);
        b
    }

    fn real(pool: &str) -> Bed {
        let r = Real::new(pool);
        Bed {
            base: r.base.clone(),
            real: Some(r),
            sim: None,
        }
    }

    fn host(&self) -> &SimHost {
        match (&self.sim, &self.real) {
            (Some((h, _)), _) => h,
            (None, Some(r)) => &r.host,
            (None, None) => unreachable!("a bed has a host"),
        }
    }

    fn zfs(&self, args: &[&str]) -> Output {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("B/", &format!("{}/", self.base)))
            .collect();
        self.host().output(&Cmd::new(tools::ZFS, args)).unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.zfs(args);
        assert_eq!(o.status, 0, "zfs {args:?}: {}", o.stderr);
        o.stdout
    }

    fn send(&self, args: &[&str]) -> (Output, Vec<u8>) {
        let mut a = vec!["send".to_string()];
        a.extend(
            args.iter()
                .map(|x| x.replace("B/", &format!("{}/", self.base))),
        );
        let mut out = Vec::new();
        let o = self
            .host()
            .pipe(&Cmd::new(tools::ZFS, a), None, Some(&mut out), MIN)
            .unwrap();
        (o, out)
    }

    fn receive(&self, stream: &[u8], args: &[&str]) -> Output {
        let mut a = vec!["receive".to_string()];
        a.extend(
            args.iter()
                .map(|x| x.replace("B/", &format!("{}/", self.base))),
        );
        let mut input: &[u8] = stream;
        self.host()
            .pipe(&Cmd::new(tools::ZFS, a), Some(&mut input), None, MIN)
            .unwrap()
    }

    fn names(&self) -> Vec<String> {
        self.ok(&["list", "-H", "-o", "name", "-t", "all", "-r", &self.base])
            .lines()
            .map(|l| l.replacen(&self.base, "B", 1))
            .collect()
    }

    fn file(&self, p: &str) -> Option<Vec<u8>> {
        self.host().read(Path::new(p)).ok()
    }

    /// `B/a` with snapshots s1 (f1), s2 (f1, f2) and s3 (f2 changed, f1 removed).
    fn source(&self) {
        self.ok(&["create", "B/a"]);
        self.ok(&["set", "jailctl:x=1", "B/a"]);
        // Large enough that cutting 100 bytes off the end cuts into the data.
        let big = vec![b'z'; 4096];
        self.host()
            .write(Path::new("/jt/a/f1"), &big, 0o644)
            .unwrap();
        self.ok(&["snapshot", "B/a@s1"]);
        self.host()
            .write(Path::new("/jt/a/f2"), b"two", 0o644)
            .unwrap();
        self.ok(&["snapshot", "B/a@s2"]);
        self.host()
            .write(Path::new("/jt/a/f2"), b"TWO", 0o644)
            .unwrap();
        self.host().remove_file(Path::new("/jt/a/f1")).unwrap();
        self.ok(&["snapshot", "B/a@s3"]);
    }
}

/// One case: a command, the exit status it must end with, and the message (with `B/`
/// standing for the test's dataset) when both ZFS implementations print the same one.
struct Case {
    what: &'static str,
    run: fn(&Bed, &Streams) -> Output,
    status: i32,
    stderr: Option<&'static str>,
    /// Datasets (under B) that must not exist afterwards: a refusal leaves nothing.
    absent: &'static [&'static str],
}

struct Streams {
    full1: Vec<u8>,
    inc12: Vec<u8>,
}

fn cut(s: &[u8], n: usize) -> Vec<u8> {
    s[..s.len() - n].to_vec()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "send of a snapshot of a missing dataset",
            run: |b, _| b.send(&["B/nope@x"]).0,
            status: 1,
            stderr: Some("cannot open 'B/nope': dataset does not exist\n"),
            absent: &[],
        },
        Case {
            // zfs-fuse: "WARNING: could not send B/a@nope: does not exist"; OpenZFS 2.2
            // opens the snapshot first (zfs_main.c, zfs_do_send: zfs_open).
            what: "send of a missing snapshot",
            run: |b, _| b.send(&["B/a@nope"]).0,
            status: 1,
            stderr: None,
            absent: &[],
        },
        Case {
            what: "send with a missing incremental source",
            run: |b, _| b.send(&["-i", "B/a@nope", "B/a@s2"]).0,
            status: 1,
            stderr: Some(
                "warning: cannot send 'B/a@s2': incremental source (@nope) does not exist\n",
            ),
            absent: &[],
        },
        Case {
            what: "send with a later snapshot as incremental source",
            run: |b, _| b.send(&["-i", "B/a@s2", "B/a@s1"]).0,
            status: 1,
            stderr: Some(
                "warning: cannot send 'B/a@s1': not an earlier snapshot from the same fs\n",
            ),
            absent: &[],
        },
        Case {
            what: "receive of a full stream",
            run: |b, s| b.receive(&s.full1, &["B/b"]),
            status: 0,
            stderr: Some(""),
            absent: &[],
        },
        Case {
            what: "receive of a full stream onto an existing filesystem",
            run: |b, s| b.receive(&s.full1, &["B/b"]),
            status: 1,
            stderr: Some(
                "cannot receive new filesystem stream: destination 'B/b' exists\nmust specify -F to overwrite it\n",
            ),
            absent: &[],
        },
        Case {
            what: "receive of an incremental stream onto its source",
            run: |b, s| b.receive(&s.inc12, &["B/b"]),
            status: 0,
            stderr: Some(""),
            absent: &[],
        },
        Case {
            what: "the same incremental stream again",
            run: |b, s| b.receive(&s.inc12, &["B/b"]),
            status: 1,
            stderr: Some(
                "cannot receive incremental stream: most recent snapshot of B/b does not\nmatch incremental source\n",
            ),
            absent: &[],
        },
        Case {
            what: "receive -F of a full stream onto a filesystem with snapshots",
            run: |b, s| b.receive(&s.full1, &["-F", "B/b"]),
            status: 1,
            // The example is whichever snapshot zfs finds first: zfs-fuse has named either.
            stderr: Some(
                "cannot receive new filesystem stream: destination has snapshots (eg. B/b@*)\nmust destroy them to overwrite it\n",
            ),
            absent: &[],
        },
        Case {
            what: "receive under a missing parent",
            run: |b, s| b.receive(&s.full1, &["B/nosuch/x"]),
            status: 1,
            stderr: Some(
                "cannot open 'B/nosuch/x': dataset does not exist\ncannot receive new filesystem stream: dataset does not exist\n",
            ),
            absent: &["B/nosuch"],
        },
        Case {
            what: "a stream cut inside its first record's header",
            run: |b, s| b.receive(&s.full1[..10], &["B/t1"]),
            status: 1,
            stderr: Some("cannot receive: failed to read from stream\n"),
            absent: &["B/t1"],
        },
        Case {
            what: "a stream cut in its data",
            run: |b, s| b.receive(&cut(&s.full1, 100), &["B/t2"]),
            status: 1,
            stderr: Some("cannot receive new filesystem stream: invalid backup stream\n"),
            absent: &["B/t2"],
        },
        Case {
            what: "a stream damaged in its data",
            run: |b, s| {
                let mut d = s.full1.clone();
                let mid = d.len() / 2;
                d[mid..mid + 4].copy_from_slice(b"XXXX");
                b.receive(&d, &["B/t3"])
            },
            status: 1,
            stderr: Some(
                "cannot receive new filesystem stream: invalid stream (checksum mismatch)\n",
            ),
            absent: &["B/t3"],
        },
        Case {
            what: "something that is not a stream",
            run: |b, _| b.receive(b"garbage garbage garbage", &["B/t4"]),
            status: 1,
            stderr: Some("cannot receive: failed to read from stream\n"),
            absent: &["B/t4"],
        },
        Case {
            what: "an empty stream",
            run: |b, _| b.receive(b"", &["B/t5"]),
            status: 1,
            stderr: Some("cannot receive: failed to read from stream\n"),
            absent: &["B/t5"],
        },
    ]
}

fn run_table(b: &Bed, label: &str) {
    b.source();
    let (o, full1) = b.send(&["B/a@s1"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    let (o, inc12) = b.send(&["-i", "B/a@s1", "B/a@s2"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(!full1.is_empty() && !inc12.is_empty());
    let streams = Streams { full1, inc12 };
    let base = format!("{}/", b.base);
    for c in cases() {
        let o = (c.run)(b, &streams);
        let stderr = o.stderr.replace(&base, "B/");
        assert_eq!(o.status, c.status, "{label}: {}: {stderr}", c.what);
        if let Some(want) = c.stderr {
            // `*` in an expected message stands for one snapshot's short name.
            match want.split_once('*') {
                Some((head, tail)) => {
                    let ok = stderr.starts_with(head)
                        && stderr.ends_with(tail)
                        && !stderr[head.len()..stderr.len() - tail.len()]
                            .contains(char::is_whitespace);
                    assert!(ok, "{label}: {}: {stderr:?} is not {want:?}", c.what);
                }
                None => assert_eq!(stderr, want, "{label}: {}", c.what),
            }
        }
        let names = b.names();
        for a in c.absent {
            assert!(
                !names.iter().any(|n| n == a),
                "{label}: {}: {a} was left: {names:?}",
                c.what
            );
        }
    }
    // What the successful cases received: s1 then s2, with their files.
    let names = b.names();
    assert!(
        names.contains(&"B/b@s1".to_string()) && names.contains(&"B/b@s2".to_string()),
        "{label}: {names:?}"
    );
    assert_eq!(b.file("/jt/b/f1").unwrap(), vec![b'z'; 4096], "{label}");
    assert_eq!(b.file("/jt/b/f2").unwrap(), b"two", "{label}");
}

#[test]
fn the_send_receive_table_on_the_simulator() {
    run_table(&Bed::sim(), "simulator");
}

#[test]
fn the_send_receive_table_on_real_zfs() {
    let Some(pool) = real_pool("the_send_receive_table_on_real_zfs") else {
        return;
    };
    run_table(&Bed::real(&pool), "zfs-fuse");
}

#[test]
fn an_incremental_stream_carries_changes_and_removals_only() {
    let b = Bed::sim();
    b.source();
    let (_, full) = b.send(&["B/a@s3"]);
    let (_, inc) = b.send(&["-i", "@s2", "B/a@s3"]);
    assert!(
        inc.len() * 4 < full.len() + 4096,
        "{} vs {}",
        inc.len(),
        full.len()
    );
    b.receive(&b.send(&["B/a@s2"]).1, &["B/c"]);
    assert_eq!(b.receive(&inc, &["B/c"]).status, 0);
    assert_eq!(b.file("/jt/c/f1"), None, "f1 was removed in s3");
    assert_eq!(b.file("/jt/c/f2").unwrap(), b"TWO");
}

#[test]
fn capital_i_sends_every_intermediate_snapshot() {
    let b = Bed::sim();
    b.source();
    b.receive(&b.send(&["B/a@s1"]).1, &["B/c"]);
    let (o, all) = b.send(&["-I", "B/a@s1", "B/a@s3"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    let r = b.receive(&all, &["B/c"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let snaps: Vec<String> = b
        .names()
        .into_iter()
        .filter(|n| n.starts_with("B/c@"))
        .collect();
    assert_eq!(snaps, ["B/c@s1", "B/c@s2", "B/c@s3"]);
    // Received snapshots keep their guids: the source's and the copy's agree.
    let guid = |n: &str| b.ok(&["get", "-H", "-o", "value", "guid", n]);
    assert_eq!(guid("B/a@s2"), guid("B/c@s2"));
}

#[test]
fn properties_p_o_x_and_u() {
    let b = Bed::sim();
    b.source();
    let (_, p) = b.send(&["-p", "B/a@s1"]);
    assert_eq!(b.receive(&p, &["B/p1"]).status, 0);
    let get = |ds: &str, prop: &str| b.ok(&["get", "-H", "-o", "value,source", prop, ds]);
    assert_eq!(get("B/p1", "jailctl:x"), "1\treceived\n");
    let o = b.receive(&p, &["-u", "-x", "jailctl:x", "-o", "jailctl:y=2", "B/p2"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(get("B/p2", "jailctl:x"), "-\t-\n");
    assert_eq!(get("B/p2", "jailctl:y"), "2\tlocal\n");
    assert_eq!(get("B/p2", "mounted"), "no\t-\n");
    assert_eq!(
        b.file("/jt/p2/f1"),
        None,
        "-u: not mounted, no files at the mountpoint"
    );
    // Without -p nothing is received.
    let (_, plain) = b.send(&["B/a@s1"]);
    b.receive(&plain, &["B/p3"]);
    assert_eq!(get("B/p3", "jailctl:x"), "-\t-\n");
}

#[test]
fn an_incremental_stream_received_as_a_clone_of_its_origin() {
    let b = Bed::sim();
    b.source();
    let (_, inc) = b.send(&["-i", "B/a@s1", "B/a@s2"]);
    // Without the origin the destination must exist.
    let o = b.receive(&inc, &["B/k"]);
    assert_eq!(
        (o.status, o.stderr.replace("zroot/jt/", "B/").as_str()),
        (
            1,
            "cannot receive incremental stream: destination 'B/k' does not exist\n"
        )
    );
    let o = b.receive(&inc, &["-o", "origin=zroot/jt/a@s1", "B/k"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        b.ok(&["get", "-H", "-o", "value", "origin", "B/k"]),
        "zroot/jt/a@s1\n"
    );
    assert_eq!(b.file("/jt/k/f2").unwrap(), b"two");
    // An origin that is not the stream's source is refused.
    let o = b.receive(&inc, &["-o", "origin=zroot/jt/a@s2", "B/k2"]);
    assert_eq!(o.status, 1, "{}", o.stderr);
    assert!(!b.names().contains(&"B/k2".to_string()));
}

#[test]
fn a_changed_destination_needs_f_which_rolls_it_back() {
    let b = Bed::sim();
    b.source();
    b.receive(&b.send(&["B/a@s1"]).1, &["B/c"]);
    b.host()
        .write(Path::new("/jt/c/local"), b"x", 0o644)
        .unwrap();
    let (_, inc) = b.send(&["-i", "B/a@s1", "B/a@s2"]);
    let o = b.receive(&inc, &["B/c"]);
    assert_eq!(o.status, 1);
    assert!(
        o.stderr
            .contains("has been modified\nsince most recent snapshot"),
        "{}",
        o.stderr
    );
    let o = b.receive(&inc, &["-F", "B/c"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(b.file("/jt/c/local"), None);
    assert_eq!(b.file("/jt/c/f2").unwrap(), b"two");
}

#[test]
fn usage_errors_and_what_is_not_modelled() {
    let b = Bed::sim();
    let (o, _) = b.send(&[]);
    assert_eq!(o.status, 2);
    assert!(
        o.stderr
            .starts_with("missing snapshot argument\nusage:\n\tsend "),
        "{}",
        o.stderr
    );
    let o = b.receive(b"", &[]);
    assert_eq!(o.status, 2);
    assert!(
        o.stderr
            .starts_with("missing snapshot argument\nusage:\n\treceive "),
        "{}",
        o.stderr
    );
    let (o, _) = b.send(&["-R", "zroot/jt@x"]);
    assert!(
        o.status == 1 && o.stderr.contains("not modelled"),
        "{}",
        o.stderr
    );
}

#[test]
fn send_is_read_only_and_passes_a_read_only_handle() {
    let b = Bed::sim();
    b.source();
    let ro = jailctl::host::readonly::ReadOnlyHost::new(b.host());
    let mut out = Vec::new();
    let o = ro
        .pipe(
            &Cmd::new(tools::ZFS, ["send", "zroot/jt/a@s1"]),
            None,
            Some(&mut out),
            MIN,
        )
        .unwrap();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(!out.is_empty());
    let mut input: &[u8] = &out;
    let e = ro
        .pipe(
            &Cmd::new(tools::ZFS, ["receive", "zroot/jt/x"]),
            Some(&mut input),
            None,
            MIN,
        )
        .unwrap_err();
    assert!(e.to_string().contains("read-only preview"), "{e}");
}

#[test]
fn a_clone_stream_finds_its_origin_by_guid() {
    let b = Bed::sim();
    b.source();
    b.ok(&["clone", "zroot/jt/a@s1", "B/k"]);
    b.host()
        .write(Path::new("/jt/k/mine"), b"k", 0o644)
        .unwrap();
    b.ok(&["snapshot", "B/k@x"]);
    let (o, stream) = b.send(&["-i", "B/a@s1", "B/k@x"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    // Under a new name, without -o origin: a clone of the snapshot with the source's guid.
    let o = b.receive(&stream, &["B/n"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        b.ok(&["get", "-H", "-o", "value", "origin", "B/n"]),
        "zroot/jt/a@s1\n"
    );
    assert_eq!(b.file("/jt/n/mine").unwrap(), b"k");
    // A pool without that snapshot cannot take it.
    let other = Bed::sim();
    let o = other.receive(&stream, &["B/n"]);
    assert_eq!(
        (o.status, o.stderr.as_str()),
        (
            1,
            "cannot receive incremental stream: local origin for clone zroot/jt/n does not exist\n"
        )
    );
    assert!(!other.names().contains(&"B/n".to_string()));
}
