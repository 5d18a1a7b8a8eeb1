//! Bases from distribution sets: MANIFEST checking, safe extraction (links, modes, escapes),
//! resumable HTTP downloads from a server started here, and the create/update/destroy
//! orchestration against a small model of zfs(8) that answers with the real tool's messages.

use jailctl::base::extract::{self, ExtractError, ExtractOptions};
use jailctl::base::fetch::{self, FetchError, Source};
use jailctl::base::manifest::Sha256Digest;
use jailctl::base::{self, BaseError, SetsRequest};
use jailctl::config::Global;
use jailctl::host::{Cmd, Host, HostFs, Output, ProcessError, Runner, tools};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// Building distribution sets

/// One archive entry: (path, kind, mode, contents-or-link-target).
enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, &'a [u8]),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

/// A header whose name (and link name) bytes are written raw, so hostile names can be made.
fn header(
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    size: u64,
    link: Option<&str>,
) -> tar::Header {
    let mut h = tar::Header::new_old();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        old.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    h
}

fn tar_bytes(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::Dir(p, m) => b
                .append(&header(p, tar::EntryType::Directory, *m, 0, None), &[][..])
                .unwrap(),
            E::File(p, m, data) => b
                .append(
                    &header(p, tar::EntryType::Regular, *m, data.len() as u64, None),
                    *data,
                )
                .unwrap(),
            E::Sym(p, t) => b
                .append(
                    &header(p, tar::EntryType::Symlink, 0o755, 0, Some(t)),
                    &[][..],
                )
                .unwrap(),
            E::Hard(p, t) => b
                .append(&header(p, tar::EntryType::Link, 0o644, 0, Some(t)), &[][..])
                .unwrap(),
        }
    }
    b.into_inner().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

const FREEBSD_VERSION: &[u8] = b"#!/bin/sh\nUSERLAND_VERSION=\"14.2-RELEASE-p1\"\n";

/// A small but realistic base set: directories, a setuid binary, absolute and relative
/// symbolic links, a hard link and the release script.
pub(crate) fn base_set() -> Vec<u8> {
    let blob = noise(64 * 1024);
    xz(&tar_bytes(&[
        E::Dir("./", 0o755),
        E::Dir("./bin/", 0o755),
        E::File("./bin/freebsd-version", 0o555, FREEBSD_VERSION),
        E::File("./bin/test", 0o555, b"test binary"),
        E::Hard("./bin/[", "./bin/test"),
        E::Dir("./etc/", 0o755),
        E::File(
            "./etc/master.passwd",
            0o600,
            b"root:*:0:0::0:0:Charlie &:/root:/bin/sh\n",
        ),
        E::Sym("./etc/termcap", "/usr/share/misc/termcap"),
        E::Dir("./usr/", 0o755),
        E::Dir("./usr/bin/", 0o755),
        E::File("./usr/bin/su", 0o4555, b"su binary"),
        E::Dir("./usr/share/", 0o555),
        E::File("./usr/share/motd", 0o444, b"welcome\n"),
        E::File("./usr/share/blob", 0o444, &blob),
        E::Sym("./sys", "usr/src/sys"),
        E::Dir("./dev/", 0o555),
    ]))
}

/// Bytes that do not compress, so sets are big enough to be cut mid-download.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn lib32_set() -> Vec<u8> {
    xz(&tar_bytes(&[
        E::Dir("./usr/", 0o755),
        E::Dir("./usr/lib32/", 0o755),
        E::File("./usr/lib32/libc.so.7", 0o444, b"32-bit libc"),
    ]))
}

fn sha(data: &[u8]) -> Sha256Digest {
    let d = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(d.path(), data).unwrap();
    fetch::sha256_file(d.path()).unwrap()
}

fn manifest_line(set: &str, data: &[u8]) -> String {
    format!("{set}.txz\t{}\t10\t{set}\t\"{set} set\"\ton\n", sha(data))
}

/// A release directory on disk: base.txz, lib32.txz and a MANIFEST for both.
/// A release directory whose only set, `base`, holds `etc/marker` with `mark`: tells apart
/// what different releases put into a base.
pub(crate) fn marked_release_dir(mark: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let b = xz(&tar_bytes(&[
        E::Dir("./", 0o755),
        E::Dir("./etc/", 0o755),
        E::File("./etc/marker", 0o644, mark.as_bytes()),
    ]));
    std::fs::write(d.path().join("base.txz"), &b).unwrap();
    std::fs::write(d.path().join("MANIFEST"), manifest_line("base", &b)).unwrap();
    d
}

pub(crate) fn release_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let (b, l) = (base_set(), lib32_set());
    std::fs::write(d.path().join("base.txz"), &b).unwrap();
    std::fs::write(d.path().join("lib32.txz"), &l).unwrap();
    std::fs::write(
        d.path().join("MANIFEST"),
        manifest_line("base", &b) + &manifest_line("lib32", &l),
    )
    .unwrap();
    d
}

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

// ---------------------------------------------------------------------------------------------
// A small HTTP server on 127.0.0.1

#[derive(Clone, Debug)]
pub(crate) struct Served {
    pub(crate) path: String,
    range: Option<String>,
    status: u16,
    body_bytes: usize,
}

pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) log: Arc<Mutex<Vec<Served>>>,
}

pub(crate) struct ServerOpts {
    pub(crate) files: HashMap<String, Vec<u8>>,
    /// Honour `Range: bytes=N-`.
    pub(crate) ranges: bool,
    /// Cut the first response for this path after so many body bytes.
    pub(crate) cut_first: Option<(String, usize)>,
}

pub(crate) fn serve(opts: ServerOpts) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        let mut cut = opts.cut_first.clone();
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut req = Vec::new();
            let mut byte = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte) {
                    Ok(1) => req.push(byte[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&req).into_owned();
            let path = text
                .lines()
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or("/")
                .trim_start_matches("/rel/")
                .to_string();
            let range = text
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                .map(|l| l[6..].trim().to_string());
            let (status, headers, body): (u16, String, Vec<u8>) = match opts.files.get(&path) {
                None => (404, String::new(), Vec::new()),
                Some(data) => {
                    let start = range
                        .as_deref()
                        .filter(|_| opts.ranges)
                        .and_then(|r| r.strip_prefix("bytes="))
                        .and_then(|r| r.strip_suffix('-'))
                        .and_then(|n| n.parse::<usize>().ok());
                    match start {
                        Some(n) if n >= data.len() => (
                            416,
                            format!("Content-Range: bytes */{}\r\n", data.len()),
                            Vec::new(),
                        ),
                        Some(n) => (
                            206,
                            format!(
                                "Content-Range: bytes {n}-{}/{}\r\n",
                                data.len() - 1,
                                data.len()
                            ),
                            data[n..].to_vec(),
                        ),
                        None => (200, String::new(), data.clone()),
                    }
                }
            };
            let reason = match status {
                200 => "OK",
                206 => "Partial Content",
                404 => "Not Found",
                _ => "Range Not Satisfiable",
            };
            let head = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
                body.len()
            );
            let mut send = body.len();
            if let Some((p, n)) = &cut
                && *p == path
            {
                send = (*n).min(body.len());
                cut = None;
            }
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body[..send]);
            let _ = s.flush();
            log2.lock().unwrap().push(Served {
                path,
                range,
                status,
                body_bytes: send,
            });
        }
    });
    Server {
        base: format!("http://{addr}/rel/"),
        log,
    }
}

pub(crate) fn release_files() -> HashMap<String, Vec<u8>> {
    let (b, l) = (base_set(), lib32_set());
    let manifest = manifest_line("base", &b) + &manifest_line("lib32", &l);
    HashMap::from([
        ("base.txz".to_string(), b),
        ("lib32.txz".to_string(), l),
        ("MANIFEST".to_string(), manifest.into_bytes()),
    ])
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
// Orchestration against a model of zfs(8)

/// Just the zfs(8) subcommands bases use, with the real tool's messages and exit codes;
/// datasets mount under a temporary directory standing for the host's `/`.
struct ZfsModel {
    root: tempfile::TempDir,
    /// name → properties (type, mountpoint, user properties, origin, creation).
    ds: RefCell<BTreeMap<String, BTreeMap<String, String>>>,
    history: RefCell<Vec<String>>,
    clock: RefCell<u64>,
}

impl ZfsModel {
    fn new() -> Self {
        let m = ZfsModel {
            root: tempfile::tempdir().unwrap(),
            ds: RefCell::new(BTreeMap::new()),
            history: RefCell::new(Vec::new()),
            clock: RefCell::new(1_700_000_000),
        };
        m.add("zroot", &[("type", "filesystem"), ("mountpoint", "/zroot")]);
        m
    }
    fn add(&self, name: &str, props: &[(&str, &str)]) {
        let mut p: BTreeMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        *self.clock.borrow_mut() += 1;
        p.insert("creation".into(), self.clock.borrow().to_string());
        self.ds.borrow_mut().insert(name.to_string(), p);
    }
    fn names(&self) -> Vec<String> {
        self.ds.borrow().keys().cloned().collect()
    }
    fn zfs(&self, a: &[String]) -> Output {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let no = |n: &str| Output::fail(1, format!("cannot open '{n}': dataset does not exist\n"));
        match a.as_slice() {
            // The host layout's look: a dataset and its children.
            ["list", "-H", "-o", "name", "-d", "1", n] => {
                if !self.ds.borrow().contains_key(*n) {
                    return no(n);
                }
                let below = format!("{n}/");
                Output::ok(
                    self.ds
                        .borrow()
                        .keys()
                        .filter(|k| {
                            k.as_str() == *n
                                || k.strip_prefix(&below)
                                    .is_some_and(|r| !r.contains(['/', '@']))
                        })
                        .map(|k| format!("{k}\n"))
                        .collect::<String>(),
                )
            }
            // A layout parent below an existing one.
            ["create", "-o", "mountpoint=none", n] => {
                if self.ds.borrow().contains_key(*n) {
                    return Output::fail(
                        1,
                        format!("cannot create '{n}': dataset already exists\n"),
                    );
                }
                let parent = n.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                if !self.ds.borrow().contains_key(parent) {
                    return Output::fail(
                        1,
                        format!("cannot create '{n}': parent does not exist\n"),
                    );
                }
                self.add(n, &[("type", "filesystem"), ("mountpoint", "none")]);
                Output::ok("")
            }
            ["list", "-H", "-o", "name", n] => {
                if self.ds.borrow().contains_key(*n) {
                    Output::ok(format!("{n}\n"))
                } else {
                    no(n)
                }
            }
            [
                "list",
                "-H",
                "-o",
                "name",
                "-t",
                "snapshot",
                "-s",
                "creation",
                "-d",
                "1",
                n,
            ] => {
                let ds = self.ds.borrow();
                let mut snaps: Vec<(&String, &String)> = ds
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("{n}@")))
                    .map(|(k, p)| (&p["creation"], k))
                    .collect();
                snaps.sort();
                Output::ok(
                    snaps
                        .iter()
                        .map(|(_, k)| format!("{k}\n"))
                        .collect::<String>(),
                )
            }
            // The ownership check before a destroy: user properties set on a dataset are
            // `local` there and `inherited from` it below.
            [
                "get",
                "-H",
                "-p",
                "-r",
                "-o",
                "name,property,value,source",
                prop,
                n,
            ] => {
                let ds = self.ds.borrow();
                if !ds.contains_key(*n) {
                    return no(n);
                }
                let mut out = String::new();
                for name in ds.keys().filter(|k| {
                    *k == n || k.starts_with(&format!("{n}/")) || k.starts_with(&format!("{n}@"))
                }) {
                    let from = std::iter::successors(Some(name.as_str()), |a| {
                        a.rsplit_once(['/', '@']).map(|(p, _)| p)
                    })
                    .find(|a| ds.get(*a).is_some_and(|p| p.contains_key(*prop)));
                    let (value, source) = match from {
                        Some(a) if a == name => (ds[a][*prop].clone(), "local".to_string()),
                        Some(a) => (ds[a][*prop].clone(), format!("inherited from {a}")),
                        None => ("-".into(), "-".into()),
                    };
                    out.push_str(&format!("{name}\t{prop}\t{value}\t{source}\n"));
                }
                Output::ok(out)
            }
            [
                "get",
                "-H",
                "-p",
                "-o",
                "name,property,value,source",
                props,
                n,
            ] => {
                let ds = self.ds.borrow();
                let Some(p) = ds.get(*n) else { return no(n) };
                Output::ok(
                    props
                        .split(',')
                        .map(|k| {
                            let src = if p.contains_key(k) { "local" } else { "-" };
                            format!("{n}\t{k}\t{}\t{src}\n", self.prop(n, p, k))
                        })
                        .collect::<String>(),
                )
            }
            ["inherit", k, n] => {
                let mut ds = self.ds.borrow_mut();
                let Some(p) = ds.get_mut(*n) else {
                    return no(n);
                };
                p.remove(*k);
                Output::ok("")
            }
            ["destroy", s] if s.contains('@') => {
                if self.ds.borrow_mut().remove(*s).is_none() {
                    return Output::fail(
                        1,
                        "could not find any snapshots to destroy; check snapshot names.\n",
                    );
                }
                let _ = std::fs::remove_dir_all(self.snapdir(s));
                Output::ok("")
            }
            [
                "get",
                "-H",
                "-p",
                "-r",
                "-o",
                "name,property,value",
                props,
                n,
            ] => {
                let ds = self.ds.borrow();
                if !ds.contains_key(*n) {
                    return no(n);
                }
                let mut out = String::new();
                for (name, p) in ds.iter().filter(|(k, _)| {
                    *k == n || k.starts_with(&format!("{n}/")) || k.starts_with(&format!("{n}@"))
                }) {
                    for k in props.split(',') {
                        out.push_str(&format!("{name}\t{k}\t{}\n", self.prop(name, p, k)));
                    }
                }
                Output::ok(out)
            }
            ["create", rest @ ..] => {
                let parents = rest.first() == Some(&"-p");
                let rest = if parents { &rest[1..] } else { rest };
                let (n, opts) = rest.split_last().unwrap();
                if self.ds.borrow().contains_key(*n) {
                    return Output::fail(
                        1,
                        format!("cannot create '{n}': dataset already exists\n"),
                    );
                }
                let parent = n.rsplit_once('/').map(|(p, _)| p.to_string());
                if !parents && parent.is_some_and(|p| !self.ds.borrow().contains_key(&p)) {
                    return Output::fail(
                        1,
                        format!("cannot create '{n}': parent does not exist\n"),
                    );
                }
                let mut parts: Vec<&str> = Vec::new();
                for c in n.split('/') {
                    parts.push(c);
                    let name = parts.join("/");
                    if !self.ds.borrow().contains_key(&name) {
                        self.add(&name, &[("type", "filesystem")]);
                    }
                }
                let mut ds = self.ds.borrow_mut();
                let p = ds.get_mut(*n).unwrap();
                for o in opts.chunks(2) {
                    assert_eq!(o[0], "-o");
                    let (k, v) = o[1].split_once('=').unwrap();
                    p.insert(k.into(), v.into());
                }
                if let Some(mp) = p.get("mountpoint").filter(|m| m.starts_with('/')) {
                    std::fs::create_dir_all(self.local(Path::new(mp))).unwrap();
                }
                Output::ok("")
            }
            ["set", rest @ ..] => {
                let (n, assigns) = rest.split_last().unwrap();
                let mut ds = self.ds.borrow_mut();
                let Some(p) = ds.get_mut(*n) else {
                    return no(n);
                };
                for a in assigns {
                    let (k, v) = a.split_once('=').unwrap();
                    p.insert(k.into(), v.into());
                }
                Output::ok("")
            }
            ["snapshot", "-o", p1, "-o", p2, s] => {
                let (fs, _) = s.split_once('@').unwrap();
                if !self.ds.borrow().contains_key(fs) {
                    return no(fs);
                }
                if self.ds.borrow().contains_key(*s) {
                    return Output::fail(
                        1,
                        format!("cannot create snapshot '{s}': dataset already exists\n"),
                    );
                }
                self.add(s, &[("type", "snapshot")]);
                for p in [p1, p2] {
                    let (k, v) = p.split_once('=').unwrap();
                    self.ds
                        .borrow_mut()
                        .get_mut(*s)
                        .unwrap()
                        .insert(k.into(), v.into());
                }
                let mp = self.ds.borrow()[fs]["mountpoint"].clone();
                // Keep a copy of the contents, for rollback.
                copy_tree(&self.local(Path::new(&mp)), &self.snapdir(s));
                Output::ok("")
            }
            ["rollback", s] => {
                let (fs, _) = s.split_once('@').unwrap();
                let mp = self.ds.borrow()[fs]["mountpoint"].clone();
                let local = self.local(Path::new(&mp));
                std::fs::remove_dir_all(&local).unwrap();
                copy_tree(&self.snapdir(s), &local);
                Output::ok("")
            }
            ["destroy", "-r", n] => {
                let mut ds = self.ds.borrow_mut();
                if !ds.contains_key(*n) {
                    return no(n);
                }
                let mine = |k: &str| {
                    k == *n || k.starts_with(&format!("{n}@")) || k.starts_with(&format!("{n}/"))
                };
                let clones: Vec<String> = ds
                    .iter()
                    .filter(|(k, p)| !mine(k) && p.get("origin").is_some_and(|o| mine(o)))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !clones.is_empty() {
                    return Output::fail(
                        1,
                        format!(
                            "cannot destroy '{n}': filesystem has dependent clones\nuse '-R' to destroy the following datasets:\n{}\n",
                            clones.join("\n")
                        ),
                    );
                }
                if let Some(mp) = ds[*n].get("mountpoint") {
                    let _ = std::fs::remove_dir_all(self.local(Path::new(mp)));
                }
                ds.retain(|k, _| !mine(k));
                Output::ok("")
            }
            _ => Output::fail(
                2,
                format!("unrecognized command or options: zfs {}\n", a.join(" ")),
            ),
        }
    }
    fn prop(&self, _name: &str, p: &BTreeMap<String, String>, k: &str) -> String {
        match k {
            "mounted" => if p.contains_key("mountpoint") {
                "yes"
            } else {
                "no"
            }
            .into(),
            _ => p.get(k).cloned().unwrap_or_else(|| "-".into()),
        }
    }
    fn local(&self, p: &Path) -> PathBuf {
        self.root.path().join(p.strip_prefix("/").unwrap_or(p))
    }
    fn snapdir(&self, s: &str) -> PathBuf {
        self.root
            .path()
            .join(".snapshots")
            .join(s.replace('/', "_"))
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

impl Runner for ZfsModel {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        assert_eq!(cmd.program, tools::ZFS, "bases only run zfs: {cmd}");
        let out = self.zfs(&cmd.args);
        self.history
            .borrow_mut()
            .push(format!("{} -> {}", cmd, out.status));
        Ok(out)
    }
    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        Ok(self.output(cmd)?.status)
    }
}

impl HostFs for ZfsModel {
    fn read(&self, p: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.local(p))
    }
    fn write(&self, p: &Path, c: &[u8], mode: u32) -> std::io::Result<()> {
        std::fs::write(self.local(p), c)?;
        std::fs::set_permissions(self.local(p), std::fs::Permissions::from_mode(mode))
    }
    fn mkdir_p(&self, p: &Path, _mode: u32) -> std::io::Result<()> {
        std::fs::create_dir_all(self.local(p))
    }
    fn exists(&self, p: &Path) -> bool {
        self.local(p).exists()
    }
    fn remove_file(&self, p: &Path) -> std::io::Result<()> {
        std::fs::remove_file(self.local(p))
    }
    fn read_dir(&self, p: &Path) -> std::io::Result<Vec<String>> {
        let mut v: Vec<String> = std::fs::read_dir(self.local(p))?
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        Ok(v)
    }
    fn local_path(&self, p: &Path) -> PathBuf {
        self.local(p)
    }
}

impl Host for ZfsModel {
    fn simulated(&self) -> Option<String> {
        Some("zfs model".into())
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
    let host = ZfsModel::new();
    let rel = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    let req = request("14.2", src.clone(), cache.path(), &["base", "lib32"]);
    let made = base::create(&host, &global(), &req).unwrap();
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
    let props = host.ds.borrow()["zroot/jailctl/bases/14.2"].clone();
    assert_eq!(props["jailctl:managed"], "yes");
    assert_eq!(props["jailctl:release"], "14.2-RELEASE-p1");
    assert_eq!(props["jailctl:source"], src.display());
    assert!(host.names().contains(&made.snapshot));

    // A second create is refused and names update.
    let err = base::create(&host, &global(), &req).unwrap_err();
    assert!(matches!(err, BaseError::AlreadyExists { .. }), "{err}");

    // Update: a new, distinct snapshot, even within the same second.
    let again = base::update(&host, &global(), &req).unwrap();
    assert_ne!(again.snapshot, made.snapshot);
    let list = base::list(&host, &global()).unwrap();
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
    let host = ZfsModel::new();
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
    let err = base::create(&host, &global(), &req).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("lib32.txz"), "{msg}");
    assert!(
        msg.contains("undo: destroyed zroot/jailctl/bases/14.2"),
        "{msg}"
    );
    assert!(
        !host
            .names()
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
    let host = ZfsModel::new();
    let rel = release_dir();
    let mut data = std::fs::read(rel.path().join("base.txz")).unwrap();
    let n = data.len();
    data[n / 2] ^= 0x55;
    std::fs::write(rel.path().join("base.txz"), &data).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    let err = base::create(
        &host,
        &global(),
        &request("b", src, cache.path(), &["base"]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("checksum mismatch for base.txz"),
        "{err}"
    );
    assert!(
        !host.history.borrow().iter().any(|c| c.contains(" create ")),
        "{:?}",
        host.history.borrow()
    );
}

#[test]
fn failed_update_rolls_back_to_the_previous_snapshot() {
    let host = ZfsModel::new();
    let rel = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    base::create(
        &host,
        &global(),
        &request("b", src, cache.path(), &["base"]),
    )
    .unwrap();

    // The new release holds an escaping entry: refused, and the base is as before.
    let newrel = tempfile::tempdir().unwrap();
    let evil = xz(&tar_bytes(&[E::File("./../../etc/rc.local", 0o755, b"x")]));
    std::fs::write(newrel.path().join("base.txz"), &evil).unwrap();
    std::fs::write(newrel.path().join("MANIFEST"), manifest_line("base", &evil)).unwrap();
    let src2 = Source::parse(newrel.path().to_str().unwrap()).unwrap();
    let err = base::update(
        &host,
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
    let snaps = host
        .names()
        .iter()
        .filter(|n| n.starts_with("zroot/jailctl/bases/b@"))
        .count();
    assert_eq!(snaps, 1);
}

#[test]
fn destroy_refuses_while_jails_are_cloned_from_the_base() {
    let host = ZfsModel::new();
    let rel = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let src = Source::parse(rel.path().to_str().unwrap()).unwrap();
    let made = base::create(
        &host,
        &global(),
        &request("b", src, cache.path(), &["base"]),
    )
    .unwrap();
    host.add("zroot/jailctl/jails", &[("type", "filesystem")]);
    host.add(
        "zroot/jailctl/jails/web",
        &[("type", "filesystem"), ("origin", made.snapshot.as_str())],
    );
    let list = base::list(&host, &global()).unwrap();
    assert_eq!(list[0].snapshots[0].used_by, vec!["web"]);
    let mut asked = 0;
    let err = base::destroy(&host, &global(), "b", &mut |_| {
        asked += 1;
        true
    })
    .unwrap_err();
    assert_eq!(asked, 0, "no question while jails depend on it");
    let msg = err.to_string();
    assert!(msg.contains("web (from @"), "{msg}");
    assert!(host.names().contains(&made.dataset));

    host.ds.borrow_mut().remove("zroot/jailctl/jails/web");
    // Declining keeps it.
    assert_eq!(
        base::destroy(&host, &global(), "b", &mut |_| false).unwrap(),
        None
    );
    assert!(host.names().contains(&made.dataset));
    let destroyed = base::destroy(&host, &global(), "b", &mut |info| {
        assert_eq!(info.snapshots.len(), 1);
        true
    })
    .unwrap();
    assert_eq!(destroyed.as_deref(), Some("zroot/jailctl/bases/b"));
    assert!(
        !host
            .names()
            .iter()
            .any(|n| n.starts_with("zroot/jailctl/bases/b"))
    );

    // A dataset jailctl did not make is left alone.
    host.add("zroot/jailctl/bases/hand", &[("type", "filesystem")]);
    let err = base::destroy(&host, &global(), "hand", &mut |_| true).unwrap_err();
    assert!(matches!(err, BaseError::NotManaged { .. }), "{err}");
    assert!(matches!(
        base::destroy(&host, &global(), "nope", &mut |_| true).unwrap_err(),
        BaseError::NotFound { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// The command line

fn jailctl(config: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("jailctl").unwrap();
    c.arg("--config-dir")
        .arg(config)
        .env_remove("JAILCTL_SIMULATE");
    c
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
