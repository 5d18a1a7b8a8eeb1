//! Distribution sets for the base tests: tar archives built entry by entry (hostile names
//! included), xz-compressed, with their MANIFEST lines; release directories on disk; and a
//! small HTTP server on 127.0.0.1 that serves a release (ranges, cuts, failures).

use jailctl::base::fetch;
use jailctl::base::manifest::Sha256Digest;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// Building distribution sets

/// One archive entry: (path, kind, mode, contents-or-link-target).
pub enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, &'a [u8]),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

/// A header whose name (and link name) bytes are written raw, so hostile names can be made.
pub fn header(
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

pub fn tar_bytes(entries: &[E<'_>]) -> Vec<u8> {
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

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

const FREEBSD_VERSION: &[u8] = b"#!/bin/sh\nUSERLAND_VERSION=\"14.2-RELEASE-p1\"\n";

/// A small but realistic base set: directories, a setuid binary, absolute and relative
/// symbolic links, a hard link and the release script.
pub fn base_set() -> Vec<u8> {
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
pub fn noise(n: usize) -> Vec<u8> {
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

pub fn lib32_set() -> Vec<u8> {
    xz(&tar_bytes(&[
        E::Dir("./usr/", 0o755),
        E::Dir("./usr/lib32/", 0o755),
        E::File("./usr/lib32/libc.so.7", 0o444, b"32-bit libc"),
    ]))
}

pub fn sha(data: &[u8]) -> Sha256Digest {
    let d = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(d.path(), data).unwrap();
    fetch::sha256_file(d.path()).unwrap()
}

pub fn manifest_line(set: &str, data: &[u8]) -> String {
    format!("{set}.txz\t{}\t10\t{set}\t\"{set} set\"\ton\n", sha(data))
}

/// A release directory on disk: base.txz, lib32.txz and a MANIFEST for both.
/// A release directory whose only set, `base`, holds `etc/marker` with `mark`: tells apart
/// what different releases put into a base.
pub fn marked_release_dir(mark: &str) -> tempfile::TempDir {
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

pub fn release_dir() -> tempfile::TempDir {
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
// A small HTTP server on 127.0.0.1

#[derive(Clone, Debug)]
pub struct Served {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
    pub body_bytes: usize,
}

pub struct Server {
    pub base: String,
    pub log: Arc<Mutex<Vec<Served>>>,
}

pub struct ServerOpts {
    pub files: HashMap<String, Vec<u8>>,
    /// Honour `Range: bytes=N-`.
    pub ranges: bool,
    /// Cut the first response for this path after so many body bytes.
    pub cut_first: Option<(String, usize)>,
}

pub fn serve(opts: ServerOpts) -> Server {
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

pub fn release_files() -> HashMap<String, Vec<u8>> {
    let (b, l) = (base_set(), lib32_set());
    let manifest = manifest_line("base", &b) + &manifest_line("lib32", &l);
    HashMap::from([
        ("base.txz".to_string(), b),
        ("lib32.txz".to_string(), l),
        ("MANIFEST".to_string(), manifest.into_bytes()),
    ])
}
