//! `zfs send` on the simulated host, and the stream format `zfs receive` (receive.rs) reads:
//! why it exists is jailctl's export,
//! import and clone of jails, which move datasets as replication streams and must meet the
//! refusals a real ZFS gives (a missing incremental source, an existing target, a truncated
//! or damaged stream, a destination that does not match the stream).
//!
//! The stream is the simulator's own, not the real on-disk format: each snapshot sent is one
//! record (`MAGIC`, a header naming the snapshot, its guid, the guid of the incremental
//! source and the properties sent with `-p`, then the files, then a checksum over all of it),
//! as a real stream is a BEGIN record, the data and an END record carrying a checksum
//! (zfs(8), zfs send; zstream(8) dump shows the records). `-I` sends one record per
//! intermediate snapshot, as the real tool concatenates one stream per snapshot. A full
//! record carries every file; an incremental one the files that differ from the source
//! snapshot and the paths removed since.
//!
//! The messages are those OpenZFS 2.2 and zfs-fuse print (lib/libzfs/libzfs_sendrecv.c,
//! zfs_send and zfs_receive_one); tests/it/sim_zfs_send.rs compares them with zfs-fuse where
//! both implement the case. Not modelled (an error says so): `-R`, `-d`, `-e`, `-n`, `-s`,
//! `-A`, resumable streams, bookmarks, sending a filesystem without a snapshot.

use super::files::snap_dir;
use super::getopt::getopt;
use super::{DsKind, Fail, Res, SimDataset, T_FS, T_SNAP, T_VOL, err, fs_part, open_as};
use crate::Ctx;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The first bytes of every record (a real stream starts with DRR_BEGIN's magic).
const MAGIC: &[u8; 8] = b"JSZSEND1";

/// What a record is: the BEGIN record's fields jailctl's use depends on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Header {
    /// The snapshot sent, by its full name on the sending host.
    pub(super) toname: String,
    pub(super) toguid: u64,
    /// The incremental source's guid: the receiving filesystem's newest snapshot must have it.
    pub(super) fromguid: Option<u64>,
    /// Seconds since the epoch when the snapshot was taken.
    pub(super) creation: u64,
    /// `-p`: the filesystem's locally set properties.
    pub(super) props: Option<BTreeMap<String, String>>,
    /// The incremental source is a snapshot of another filesystem (the origin of the clone
    /// sent): received under a new name, the stream makes a clone of the snapshot that has
    /// the source's guid, found in the pool (libzfs_sendrecv.c, zfs_receive_one: the
    /// DRR_FLAG_CLONE case looks the origin up by guid).
    #[serde(default)]
    pub(super) clone: bool,
}

/// One file, directory or symbolic link of a snapshot, by its path below the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Entry {
    /// `d`, `f` or `l`.
    pub(super) kind: char,
    pub(super) mode: u32,
    /// A file's contents, a link's target.
    pub(super) data: Vec<u8>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Body {
    pub(super) files: BTreeMap<String, Entry>,
    pub(super) removed: Vec<String>,
}

/// FNV-1a over the record: stands for the fletcher-4 checksum of the END record.
fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn encode(header: &Header, body: &Body) -> Vec<u8> {
    let h = serde_json::to_vec(header).expect("serialisable");
    let b = serde_json::to_vec(body).expect("serialisable");
    let mut out = Vec::with_capacity(h.len() + b.len() + 40);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(&b);
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Why a record could not be read: before its header (nothing identifies the stream), or
/// after it (the stream is known to be full or incremental).
pub(super) enum Bad {
    NoHeader,
    Truncated(Header),
    Checksum(Header),
}

/// Read one record from `buf`; returns it and the bytes it took.
pub(super) fn decode(buf: &[u8]) -> Result<(Header, Body, usize), Bad> {
    let u64_at = |at: usize| -> Option<u64> {
        buf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if buf.get(..8) != Some(MAGIC.as_slice()) {
        return Err(Bad::NoHeader);
    }
    let hlen = u64_at(8).ok_or(Bad::NoHeader)? as usize;
    let hbytes = buf.get(16..16 + hlen).ok_or(Bad::NoHeader)?;
    let header: Header = serde_json::from_slice(hbytes).map_err(|_| Bad::NoHeader)?;
    let at = 16 + hlen;
    let truncated = || Bad::Truncated(header.clone());
    let blen = u64_at(at).ok_or_else(truncated)? as usize;
    let end = at + 8 + blen;
    let bbytes = buf.get(at + 8..end).ok_or_else(truncated)?;
    let sum = u64_at(end).ok_or_else(truncated)?;
    if checksum(&buf[..end]) != sum {
        return Err(Bad::Checksum(header));
    }
    let body: Body = serde_json::from_slice(bbytes).map_err(|_| Bad::Checksum(header.clone()))?;
    Ok((header, body, end + 8))
}

/// The files under `dir`, not descending into `skip`.
pub(super) fn read_tree(
    dir: &Path,
    skip: &BTreeSet<std::path::PathBuf>,
) -> BTreeMap<String, Entry> {
    fn walk(
        top: &Path,
        dir: &Path,
        skip: &BTreeSet<std::path::PathBuf>,
        out: &mut BTreeMap<String, Entry>,
    ) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let rel = p
                .strip_prefix(top)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            let mode = md.permissions().mode() & 0o7777;
            if md.is_dir() {
                if skip.contains(&p) {
                    continue;
                }
                out.insert(
                    rel,
                    Entry {
                        kind: 'd',
                        mode,
                        data: Vec::new(),
                    },
                );
                walk(top, &p, skip, out);
            } else if md.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap_or_default();
                out.insert(
                    rel,
                    Entry {
                        kind: 'l',
                        mode,
                        data: t.to_string_lossy().into_owned().into_bytes(),
                    },
                );
            } else {
                out.insert(
                    rel,
                    Entry {
                        kind: 'f',
                        mode,
                        data: std::fs::read(&p).unwrap_or_default(),
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// Write `files` under `dir` (parents before children: the map is in path order).
pub(super) fn write_tree(dir: &Path, files: &BTreeMap<String, Entry>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    for (rel, e) in files {
        let p = dir.join(rel);
        match e.kind {
            'd' => {
                std::fs::create_dir_all(&p)?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(e.mode))?;
            }
            'l' => {
                let _ = std::fs::remove_file(&p);
                std::os::unix::fs::symlink(String::from_utf8_lossy(&e.data).as_ref(), &p)?;
            }
            _ => {
                std::fs::write(&p, &e.data)?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(e.mode))?;
            }
        }
    }
    Ok(())
}

const USAGE_SEND: &[&str] = &[
    "send [-DLPbcehnpsVvw] [-i|-I snapshot]",
    "     [-R [-X dataset[,dataset]...]]     <snapshot>",
    "send [-DnVvPLecw] [-i snapshot|bookmark] <filesystem|volume|snapshot>",
    "send [-DnPpVvLec] [-i bookmark|snapshot] --redact <bookmark> <snapshot>",
    "send [-nVvPe] -t <receive_resume_token>",
    "send [-PnVv] --saved filesystem",
];

pub(super) const USAGE_RECEIVE: &[&str] = &[
    "receive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ...",
    "    <filesystem|volume|snapshot>",
    "receive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ... ",
    "    [-d | -e] <filesystem>",
    "receive -A <filesystem|volume>",
];

/// The usage text of OpenZFS 2.2's cmd/zfs/zfs_main.c (HELP_SEND, HELP_RECEIVE).
pub(super) fn usage(lines: &[&str]) -> String {
    let mut s = String::from("usage:\n");
    for l in lines {
        s.push('\t');
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(super::getopt::USAGE_TAIL);
    s
}

pub(super) fn usage_fail(lines: &[&str], msg: &str) -> Fail {
    Fail(2, format!("{msg}\n{}", usage(lines)))
}

/// The snapshots of filesystem `fs`, oldest first.
pub(super) fn snapshots_of(ctx: &Ctx<'_>, fs: &str) -> Vec<(String, SimDataset)> {
    let mut v: Vec<(String, SimDataset)> = ctx
        .state
        .zfs
        .datasets
        .iter()
        .filter(|(n, d)| d.kind == DsKind::Snapshot && fs_part(n) == fs && n.contains('@'))
        .map(|(n, d)| (n.clone(), d.clone()))
        .collect();
    v.sort_by_key(|(_, d)| d.createtxg);
    v
}

/// `zfs send [-p] [-i|-I FROM] SNAPSHOT`, written to [`Ctx::stdout`].
pub(super) fn send(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "DLPbcehnpsVvwRi:I:X:t:", &|| usage(USAGE_SEND))?;
    for f in ['R', 'n', 't', 'X', 's'] {
        if o.has(f) {
            return Err(err(format!(
                "zfs send -{f}: not modelled by the simulated host (use real-ZFS mode, see docs/simulator.md)"
            )));
        }
    }
    let target = match o.rest.as_slice() {
        [] => return Err(usage_fail(USAGE_SEND, "missing snapshot argument")),
        [t] => t.clone(),
        _ => return Err(usage_fail(USAGE_SEND, "too many arguments")),
    };
    if !target.contains('@') {
        // OpenZFS 2.2 sends a filesystem through a temporary snapshot; jailctl never does.
        open_as(ctx, &target, T_FS | T_VOL)?;
        return Err(err(format!(
            "zfs send {target}: sending a filesystem without a snapshot is not modelled by the simulated host"
        )));
    }
    let (fs, _) = target.split_once('@').expect("checked");
    open_as(ctx, fs, T_FS | T_VOL)?;
    let to = open_as(ctx, &target, T_SNAP)?.clone();
    let (from, all) = match (o.values('i').first(), o.values('I').first()) {
        (Some(_), Some(_)) => {
            return Err(usage_fail(
                USAGE_SEND,
                "invalid option combination: -i and -I are exclusive",
            ));
        }
        (Some(f), None) => (Some(f.to_string()), false),
        (None, Some(f)) => (Some(f.to_string()), true),
        (None, None) => (None, false),
    };
    // `-i @snap` or `-i snap` name a snapshot of the same filesystem (zfs(8)).
    let from = from.map(|f| {
        if f.contains('@') && !f.starts_with('@') {
            f
        } else {
            format!("{fs}@{}", f.trim_start_matches('@'))
        }
    });
    let chain = send_chain(ctx, fs, &target, &to, from, all)?;
    let props = o.has('p').then(|| {
        ctx.state
            .zfs
            .datasets
            .get(fs)
            .map(|d| d.props.clone())
            .unwrap_or_default()
    });
    let mut out = Vec::new();
    for (from, to) in chain {
        out.extend(record(ctx, fs, from.as_deref(), &to, props.clone()));
    }
    ctx.stdout.extend(out);
    Ok(String::new())
}

/// The records `zfs send` writes, each `(incremental source, snapshot)`: one full record of
/// `target`; or one incremental from `from` (an earlier snapshot of `fs`, or the origin `fs`
/// was cloned from); or with `-I` (`all`) one per snapshot after `from` up to `target`.
fn send_chain(
    ctx: &Ctx<'_>,
    fs: &str,
    target: &str,
    to: &SimDataset,
    from: Option<String>,
    all: bool,
) -> Result<Vec<(Option<String>, String)>, Fail> {
    let cant = |why: &str| err(format!("warning: cannot send '{target}': {why}"));
    let mut chain: Vec<(Option<String>, String)> = Vec::new();
    match &from {
        None => chain.push((None, target.to_string())),
        Some(f) => {
            let short = format!("@{}", f.split_once('@').map_or("", |(_, s)| s));
            let Some(fd) = ctx.state.zfs.datasets.get(f).cloned() else {
                return Err(cant(&format!(
                    "incremental source ({short}) does not exist"
                )));
            };
            let (ffs, _) = f.split_once('@').expect("a snapshot");
            // The source must be an earlier snapshot of the same filesystem, or the origin
            // a clone was made from.
            let origin_ok = ctx
                .state
                .zfs
                .datasets
                .get(fs)
                .and_then(|d| d.origin.as_deref())
                == Some(f.as_str());
            let same_fs_earlier = ffs == fs && fd.createtxg < to.createtxg;
            if !(same_fs_earlier || origin_ok) {
                return Err(cant("not an earlier snapshot from the same fs"));
            }
            if all && ffs == fs {
                let mut prev = f.clone();
                for (n, d) in snapshots_of(ctx, fs) {
                    if d.createtxg > fd.createtxg && d.createtxg <= to.createtxg {
                        chain.push((Some(prev.clone()), n.clone()));
                        prev = n;
                    }
                }
            } else {
                chain.push((Some(f.clone()), target.to_string()));
            }
        }
    }
    Ok(chain)
}

/// One record: snapshot `to` whole, or what changed since `from`.
fn record(
    ctx: &Ctx<'_>,
    fs: &str,
    from: Option<&str>,
    to: &str,
    props: Option<BTreeMap<String, String>>,
) -> Vec<u8> {
    let to_d = &ctx.state.zfs.datasets[to];
    let files = read_tree(&snap_dir(ctx, to), &BTreeSet::new());
    let (fromguid, body) = match from {
        None => (
            None,
            Body {
                files,
                removed: Vec::new(),
            },
        ),
        Some(f) => {
            let base = read_tree(&snap_dir(ctx, f), &BTreeSet::new());
            let removed = base
                .keys()
                .filter(|k| !files.contains_key(*k))
                .cloned()
                .collect();
            let changed = files
                .into_iter()
                .filter(|(k, e)| base.get(k) != Some(e))
                .collect();
            (
                Some(ctx.state.zfs.datasets[f].guid),
                Body {
                    files: changed,
                    removed,
                },
            )
        }
    };
    let header = Header {
        toname: to.to_string(),
        toguid: to_d.guid,
        fromguid,
        creation: to_d.creation,
        props,
        clone: from.is_some_and(|f| fs_part(f) != fs),
    };
    encode(&header, &body)
}
