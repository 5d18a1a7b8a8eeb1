//! Bases from distribution sets: MANIFEST checking, safe extraction (links, modes, escapes),
//! resumable HTTP downloads from a server started here, and the create/update/destroy
//! orchestration on the simulated host. The sets and the server are shared test support
//! (tests/it/support/sets.rs).

use crate::support::sets::*;
use jailctl::base::extract::{self, ExtractError, ExtractOptions};
use jailctl::base::fetch::{self, FetchError, Source};
use jailctl::base::manifest::Sha256Digest;
use jailctl::base::{self, BaseError, SetsRequest};
use jailctl::config::Global;
use jailctl::host::HostFs;
use jailctl_sim::SimHost;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Extraction

#[test]
fn extraction_keeps_modes_links_and_hard_links() {
    let src = tempfile::tempdir().unwrap();
    let arc = src.path().join("base.txz");
    std::fs::write(&arc, base_set()).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let st = extract::extract_txz(&arc, dst.path(), ExtractOptions::default()).unwrap();
    assert_eq!((st.files, st.symlinks, st.hardlinks), (6, 2, 1));
    let root = dst.path();
    let mode = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("usr/bin/su"), 0o4555, "setuid bit kept");
    assert_eq!(mode("etc/master.passwd"), 0o600);
    assert_eq!(mode("usr/share"), 0o555);
    assert_eq!(mode("dev"), 0o555);
    let mtime = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap().mtime();
    assert_eq!(
        mtime("usr/share"),
        1_700_000_000,
        "directory time kept after filling it"
    );
    assert_eq!(mtime("bin"), 1_700_000_000);
    assert!(root.join("dev").read_dir().unwrap().next().is_none());
    assert_eq!(
        std::fs::read_link(root.join("etc/termcap")).unwrap(),
        PathBuf::from("/usr/share/misc/termcap"),
        "absolute symlink kept as is, not resolved on the host"
    );
    assert_eq!(
        std::fs::read_link(root.join("sys")).unwrap(),
        PathBuf::from("usr/src/sys")
    );
    let a = std::fs::metadata(root.join("bin/test")).unwrap();
    let b = std::fs::metadata(root.join("bin/[")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard link shares the inode");
    assert_eq!(a.nlink(), 2);
    assert_eq!(
        std::fs::read(root.join("usr/share/motd")).unwrap(),
        b"welcome\n"
    );
    assert_eq!(
        std::fs::metadata(root.join("usr/share/motd"))
            .unwrap()
            .mtime(),
        1_700_000_000
    );
}

fn extract_hostile(entries: &[E<'_>]) -> (tempfile::TempDir, tempfile::TempDir, ExtractError) {
    let outside = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let err = extract::extract_tar(
        &tar_bytes(entries)[..],
        Path::new("evil.txz"),
        dst.path(),
        ExtractOptions {
            preserve_owners: false,
        },
    )
    .unwrap_err();
    (outside, dst, err)
}

fn assert_unsafe(err: &ExtractError, entry: &str, reason: &str) {
    match err {
        ExtractError::Unsafe {
            entry: e,
            reason: r,
            ..
        } => {
            assert_eq!(e, entry);
            assert!(r.contains(reason), "{r}");
        }
        other => panic!("expected an unsafe-entry error, got {other}"),
    }
    assert!(err.to_string().contains("evil.txz"), "{err}");
}

#[test]
fn extraction_refuses_parent_dir_entries() {
    let (_o, dst, err) = extract_hostile(&[
        E::Dir("./etc/", 0o755),
        E::File("./etc/../../escaped", 0o644, b"x"),
    ]);
    assert_unsafe(&err, "./etc/../../escaped", "`..`");
    assert!(!dst.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn extraction_refuses_absolute_entries() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("abs");
    let name = target.to_str().unwrap().to_string();
    let (_o, _d, err) = extract_hostile(&[E::File(&name, 0o644, b"x")]);
    assert_unsafe(&err, &name, "absolute");
    assert!(!target.exists());
}

#[test]
fn extraction_refuses_writing_through_a_symlink() {
    let outside = tempfile::tempdir().unwrap();
    let link_target = outside.path().to_str().unwrap().to_string();
    let (_o, dst, err) = extract_hostile(&[
        E::Sym("./lib", &link_target),
        E::File("./lib/libevil.so", 0o644, b"x"),
    ]);
    assert_unsafe(&err, "./lib/libevil.so", "symbolic link");
    assert!(!outside.path().join("libevil.so").exists());
    // The link itself was created (links may point anywhere), never followed.
    assert!(
        std::fs::symlink_metadata(dst.path().join("lib"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // The same through a relative link that climbs out.
    let (_o, _dst, err) = extract_hostile(&[E::Sym("./up", "../.."), E::Dir("./up/x/", 0o755)]);
    assert_unsafe(&err, "./up/x/", "symbolic link");
}

#[test]
fn extraction_refuses_escaping_hard_links_and_devices() {
    let (_o, _d, err) = extract_hostile(&[E::Hard("./passwd", "../../etc/passwd")]);
    assert_unsafe(&err, "./passwd", "hard link target");
    let (_o, _d, err) = extract_hostile(&[E::Hard("./shadow", "/etc/shadow")]);
    assert_unsafe(&err, "./shadow", "absolute");
    let (_o, _d, err) = extract_hostile(&[
        E::Sym("./pw", "/etc/master.passwd"),
        E::Hard("./pw2", "./pw"),
    ]);
    assert_unsafe(&err, "./pw2", "hard link to a symbolic link");
    let mut b = tar::Builder::new(Vec::new());
    b.append(
        &header("./dev/mem", tar::EntryType::Char, 0o640, 0, None),
        &[][..],
    )
    .unwrap();
    let dst = tempfile::tempdir().unwrap();
    let err = extract::extract_tar(
        &b.into_inner().unwrap()[..],
        Path::new("evil.txz"),
        dst.path(),
        ExtractOptions::default(),
    )
    .unwrap_err();
    assert_unsafe(&err, "./dev/mem", "devfs");
}

#[test]
fn corrupt_archive_is_reported_as_such() {
    let d = tempfile::tempdir().unwrap();
    let mut data = base_set();
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 16] {
        *b ^= 0xff;
    }
    let arc = d.path().join("base.txz");
    std::fs::write(&arc, &data).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let err = extract::extract_txz(&arc, dst.path(), ExtractOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("base.txz"), "{msg}");
    assert!(
        matches!(
            err,
            ExtractError::Corrupt { .. } | ExtractError::Write { .. }
        ),
        "{msg}"
    );

    std::fs::write(&arc, b"this is not xz").unwrap();
    let err = extract::extract_txz(&arc, dst.path(), ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, ExtractError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("not a readable xz-compressed tar"),
        "{err}"
    );
}

#[test]
fn interrupted_download_resumes_with_a_range_request() {
    let files = release_files();
    let full = files["base.txz"].clone();
    let srv = serve(ServerOpts {
        files,
        ranges: true,
        cut_first: Some(("base.txz".into(), 20_000)),
    });
    let cache = tempfile::tempdir().unwrap();
    let dest = cache.path().join("base.txz");
    let url = format!("{}base.txz", srv.base);
    let err = fetch::download(&url, &dest, false).unwrap_err();
    assert!(
        err.to_string().contains("run the command again to resume"),
        "{err}"
    );
    let part = cache.path().join("base.txz.part");
    assert!(full.len() > 40_000);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 20_000);
    assert!(!dest.exists());

    fetch::download(&url, &dest, false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), full);
    assert!(!part.exists());
    let log = srv.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].range.as_deref(), Some("bytes=20000-"));
    assert_eq!(log[1].status, 206);
    assert_eq!(
        log[1].body_bytes,
        full.len() - 20_000,
        "only the rest was sent"
    );
}

#[test]
fn server_without_ranges_sends_the_whole_file_again() {
    let files = release_files();
    let full = files["base.txz"].clone();
    let srv = serve(ServerOpts {
        files,
        ranges: false,
        cut_first: None,
    });
    let cache = tempfile::tempdir().unwrap();
    let dest = cache.path().join("base.txz");
    // A stale partial file with wrong bytes: a 200 answer must replace it, not append.
    std::fs::write(cache.path().join("base.txz.part"), vec![0u8; 700]).unwrap();
    fetch::download(&format!("{}base.txz", srv.base), &dest, false).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), full);
    let log = srv.log.lock().unwrap().clone();
    assert_eq!(log[0].range.as_deref(), Some("bytes=700-"));
    assert_eq!(log[0].status, 200);
}

#[test]
fn sets_from_a_url_are_cached_and_verified_against_manifest() {
    let srv = serve(ServerOpts {
        files: release_files(),
        ranges: true,
        cut_first: None,
    });
    let cache = tempfile::tempdir().unwrap();
    let req = request(
        "14.2",
        Source::parse(&srv.base).unwrap(),
        cache.path(),
        &["base", "lib32"],
    );
    let sets = base::prepare_sets(&req).unwrap();
    assert_eq!(sets.len(), 2);
    assert!(
        sets[0].checked_against.ends_with("/rel/MANIFEST"),
        "{}",
        sets[0].checked_against
    );
    assert!(sets[0].path.starts_with(cache.path()));
    // Second run: the MANIFEST is fetched again, the sets come from the cache.
    base::prepare_sets(&req).unwrap();
    let log = srv.log.lock().unwrap().clone();
    let set_requests = log.iter().filter(|s| s.path.ends_with(".txz")).count();
    assert_eq!(set_requests, 2, "{log:?}");
}

#[test]
fn checksum_mismatch_from_a_url_removes_the_download() {
    let mut files = release_files();
    let mut bad = files["base.txz"].clone();
    let n = bad.len();
    bad[n - 40] ^= 1;
    files.insert("base.txz".into(), bad);
    let srv = serve(ServerOpts {
        files,
        ranges: true,
        cut_first: None,
    });
    let cache = tempfile::tempdir().unwrap();
    let req = request(
        "x",
        Source::parse(&srv.base).unwrap(),
        cache.path(),
        &["base"],
    );
    let err = base::prepare_sets(&req).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("checksum mismatch for base.txz"), "{msg}");
    assert!(msg.contains("/rel/MANIFEST"), "{msg}");
    let key = fetch::cache_key(&srv.base);
    assert!(!cache.path().join(key).join("base.txz").exists());
}

#[test]
fn missing_manifest_needs_a_pinned_checksum() {
    let mut files = release_files();
    files.remove("MANIFEST");
    let digest = sha(&files["base.txz"]);
    let srv = serve(ServerOpts {
        files,
        ranges: true,
        cut_first: None,
    });
    let cache = tempfile::tempdir().unwrap();
    let mut req = request(
        "x",
        Source::parse(&srv.base).unwrap(),
        cache.path(),
        &["base"],
    );
    let err = base::prepare_sets(&req).unwrap_err();
    assert!(matches!(err, BaseError::NoChecksum { .. }), "{err}");
    assert!(err.to_string().contains("there is no MANIFEST"), "{err}");
    req.sha256.insert("base".into(), digest);
    let sets = base::prepare_sets(&req).unwrap();
    assert_eq!(sets[0].checked_against, "--sha256");
}

// ---------------------------------------------------------------------------------------------
// Local sources

fn request(name: &str, source: Source, cache: &Path, sets: &[&str]) -> SetsRequest {
    SetsRequest {
        name: name.into(),
        source,
        sets: sets.iter().map(|s| s.to_string()).collect(),
        sha256: BTreeMap::new(),
        cache_dir: cache.to_path_buf(),
        progress: false,
        extract: ExtractOptions::default(),
    }
}

#[test]
fn local_sets_are_checked_against_manifest_and_pins() {
    let rel = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    let mut req = request("x", src, cache.path(), &["base", "lib32"]);
    assert_eq!(base::prepare_sets(&req).unwrap().len(), 2);

    // A pinned digest that does not match wins over MANIFEST and fails; the user's file stays.
    req.sha256.insert("base".into(), Sha256Digest([7; 32]));
    let err = base::prepare_sets(&req).unwrap_err();
    assert!(
        matches!(err, BaseError::Fetch(FetchError::Mismatch { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("(--sha256)"), "{err}");
    assert!(rel.path().join("base.txz").exists());

    // A pin for a set that is not being installed is a typo, not silently ignored.
    req.sha256.clear();
    req.sha256.insert("lib23".into(), Sha256Digest([7; 32]));
    assert!(matches!(
        base::prepare_sets(&req).unwrap_err(),
        BaseError::StrayChecksum { .. }
    ));

    // A set MANIFEST does not list.
    req.sha256.clear();
    req.sets = vec!["src".into()];
    let err = base::prepare_sets(&req).unwrap_err();
    assert!(err.to_string().contains("it lists: base, lib32"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Orchestration on the simulated host

/// A simulated host (jailctl's one fake host) for the orchestration: bases run only zfs(8)
/// and the file operations of the host seam, which the simulator answers as FreeBSD does.
struct ZfsHost {
    host: SimHost,
    _dir: tempfile::TempDir,
}

impl ZfsHost {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let host = SimHost::open(&dir.path().join("sim")).unwrap();
        ZfsHost { host, _dir: dir }
    }
    /// `zfs ARGS...`, which must succeed.
    fn zfs(&self, args: &[&str]) -> String {
        jailctl_sim::testing::zfs(&self.host, args)
    }
    /// Every dataset and snapshot.
    fn names(&self) -> Vec<String> {
        self.zfs(&["list", "-H", "-o", "name", "-t", "all", "-r", "zroot"])
            .lines()
            .map(String::from)
            .collect()
    }
    /// One property's value.
    fn prop(&self, dataset: &str, prop: &str) -> String {
        self.zfs(&["get", "-H", "-o", "value", prop, dataset])
            .trim_end()
            .to_string()
    }
    /// Every command run, as text.
    fn history(&self) -> Vec<String> {
        self.host
            .snapshot()
            .unwrap()
            .history
            .iter()
            .map(|e| e.cmd.to_string())
            .collect()
    }
}

fn global() -> Global {
    Global {
        zfs_root: "zroot/jailctl".into(),
        mount_root: "/usr/local/jails".into(),
        default_base: None,
        parallelism: None,
        shutdown_timeout: std::time::Duration::from_secs(60),
        deadlines: Default::default(),
        dying_wait: std::time::Duration::from_secs(10),
        bridges: BTreeMap::new(),
        networks: BTreeMap::new(),
    }
}

#[test]
fn create_fills_records_and_snapshots_a_base() {
    let zh = ZfsHost::new();
    let host = &zh.host;
    let rel = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    let req = request("14.2", src.clone(), cache.path(), &["base", "lib32"]);
    let made = base::create(host, &global(), &req).unwrap();
    assert_eq!(made.dataset, "zroot/jailctl/bases/14.2");
    assert_eq!(made.release, "14.2-RELEASE-p1");
    assert_eq!(made.files, 7);
    let mp = host.local_path(Path::new("/usr/local/jails/.bases/14.2"));
    assert_eq!(
        std::fs::read(mp.join("usr/lib32/libc.so.7")).unwrap(),
        b"32-bit libc"
    );
    assert_eq!(
        std::fs::metadata(mp.join("usr/bin/su")).unwrap().mode() & 0o7777,
        0o4555
    );
    let prop = |p| zh.prop("zroot/jailctl/bases/14.2", p);
    assert_eq!(prop("jailctl:managed"), "yes");
    assert_eq!(prop("jailctl:release"), "14.2-RELEASE-p1");
    assert_eq!(prop("jailctl:source"), src.display());
    assert!(zh.names().contains(&made.snapshot));

    // A second create is refused and names update.
    let err = base::create(host, &global(), &req).unwrap_err();
    assert!(matches!(err, BaseError::AlreadyExists { .. }), "{err}");

    // Update: a new, distinct snapshot, even within the same second.
    let again = base::update(host, &global(), &req).unwrap();
    assert_ne!(again.snapshot, made.snapshot);
    let list = base::list(host, &global()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].snapshots.len(), 2);
    assert_eq!(
        list[0].snapshots[0].release.as_deref(),
        Some("14.2-RELEASE-p1"),
        "each snapshot records its own release"
    );
}

#[test]
fn failed_create_leaves_nothing_behind() {
    let zh = ZfsHost::new();
    let host = &zh.host;
    let rel = release_dir();
    // lib32.txz is corrupt but its MANIFEST digest matches it: the failure comes from
    // extraction, after the dataset was made and base.txz extracted.
    let garbage = xz(b"definitely not a tar archive, just some bytes that go on and on..........................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................");
    std::fs::write(rel.path().join("lib32.txz"), &garbage).unwrap();
    let base_bytes = std::fs::read(rel.path().join("base.txz")).unwrap();
    std::fs::write(
        rel.path().join("MANIFEST"),
        manifest_line("base", &base_bytes) + &manifest_line("lib32", &garbage),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    let req = request("14.2", src, cache.path(), &["base", "lib32"]);
    let err = base::create(host, &global(), &req).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("lib32.txz"), "{msg}");
    assert!(
        msg.contains("undo: destroyed zroot/jailctl/bases/14.2"),
        "{msg}"
    );
    assert!(
        !zh.names()
            .iter()
            .any(|n| n.starts_with("zroot/jailctl/bases/14.2"))
    );
    assert!(
        !host
            .local_path(Path::new("/usr/local/jails/.bases/14.2"))
            .exists()
    );
}

#[test]
fn checksum_mismatch_touches_no_dataset() {
    let zh = ZfsHost::new();
    let host = &zh.host;
    let rel = release_dir();
    let mut data = std::fs::read(rel.path().join("base.txz")).unwrap();
    let n = data.len();
    data[n / 2] ^= 0x55;
    std::fs::write(rel.path().join("base.txz"), &data).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    let err =
        base::create(host, &global(), &request("b", src, cache.path(), &["base"])).unwrap_err();
    assert!(
        err.to_string().contains("checksum mismatch for base.txz"),
        "{err}"
    );
    let ran = zh.history();
    assert!(!ran.iter().any(|c| c.contains(" create ")), "{ran:?}");
}

#[test]
fn failed_update_rolls_back_to_the_previous_snapshot() {
    let zh = ZfsHost::new();
    let host = &zh.host;
    let rel = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    base::create(host, &global(), &request("b", src, cache.path(), &["base"])).unwrap();

    // The new release holds an escaping entry: refused, and the base is as before.
    let newrel = tempfile::tempdir().unwrap();
    let evil = xz(&tar_bytes(&[E::File("./../../etc/rc.local", 0o755, b"x")]));
    std::fs::write(newrel.path().join("base.txz"), &evil).unwrap();
    std::fs::write(newrel.path().join("MANIFEST"), manifest_line("base", &evil)).unwrap();
    let src2 = Source::parse(newrel.path().to_str().unwrap()).unwrap();
    let err = base::update(
        host,
        &global(),
        &request("b", src2, cache.path(), &["base"]),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("unsafe entry `./../../etc/rc.local`"), "{msg}");
    assert!(
        msg.contains("undo: rolled zroot/jailctl/bases/b back to zroot/jailctl/bases/b@"),
        "{msg}"
    );
    let mp = host.local_path(Path::new("/usr/local/jails/.bases/b"));
    assert_eq!(
        std::fs::read(mp.join("usr/share/motd")).unwrap(),
        b"welcome\n"
    );
    let snaps = zh
        .names()
        .iter()
        .filter(|n| n.starts_with("zroot/jailctl/bases/b@"))
        .count();
    assert_eq!(snaps, 1);
}

#[test]
fn destroy_refuses_while_jails_are_cloned_from_the_base() {
    let zh = ZfsHost::new();
    let host = &zh.host;
    let rel = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    let made = base::create(host, &global(), &request("b", src, cache.path(), &["base"])).unwrap();
    // `base create` made the host layout, zroot/jailctl/jails included.
    zh.zfs(&[
        "clone",
        "-o",
        "mountpoint=/usr/local/jails/web",
        &made.snapshot,
        "zroot/jailctl/jails/web",
    ]);
    let list = base::list(host, &global()).unwrap();
    assert_eq!(list[0].snapshots[0].used_by, vec!["web"]);
    let mut asked = 0;
    let err = base::destroy(host, &global(), "b", &mut |_| {
        asked += 1;
        true
    })
    .unwrap_err();
    assert_eq!(asked, 0, "no question while jails depend on it");
    let msg = err.to_string();
    assert!(msg.contains("web (from @"), "{msg}");
    assert!(zh.names().contains(&made.dataset));

    zh.zfs(&["destroy", "zroot/jailctl/jails/web"]);
    // Declining keeps it.
    assert_eq!(
        base::destroy(host, &global(), "b", &mut |_| false).unwrap(),
        None
    );
    assert!(zh.names().contains(&made.dataset));
    let destroyed = base::destroy(host, &global(), "b", &mut |info| {
        assert_eq!(info.snapshots.len(), 1);
        true
    })
    .unwrap();
    assert_eq!(destroyed.as_deref(), Some("zroot/jailctl/bases/b"));
    assert!(
        !zh.names()
            .iter()
            .any(|n| n.starts_with("zroot/jailctl/bases/b"))
    );

    // A dataset jailctl did not make is left alone.
    zh.zfs(&["create", "zroot/jailctl/bases/hand"]);
    let err = base::destroy(host, &global(), "hand", &mut |_| true).unwrap_err();
    assert!(matches!(err, BaseError::NotManaged { .. }), "{err}");
    assert!(matches!(
        base::destroy(host, &global(), "nope", &mut |_| true).unwrap_err(),
        BaseError::NotFound { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// The command line

fn jailctl(config: &Path) -> assert_cmd::Command {
    let mut c = crate::support::bin();
    c.arg("--config-dir").arg(config);
    assert_cmd::Command::from_std(c)
}

#[test]
fn cli_destroy_off_a_terminal_needs_yes() {
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("jailctl.toml"),
        "zfs_root = \"zroot/jailctl\"\n",
    )
    .unwrap();
    let out = jailctl(cfg.path())
        .args(["base", "destroy", "14.2"])
        .write_stdin("")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without confirmation"), "{err}");
    assert!(err.contains("--yes"), "{err}");
}

#[test]
fn cli_rejects_malformed_checksums_and_missing_config() {
    let cfg = tempfile::tempdir().unwrap();
    let out = jailctl(cfg.path())
        .args([
            "base", "create", "b", "--from", "/tmp", "--sha256", "base=abc",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("64 hexadecimal digits"), "{err}");

    let out = jailctl(cfg.path()).args(["base", "list"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jailctl.toml"), "{err}");
}
