//! `zfs send` and `zfs receive` on the simulated host: why it exists is jailctl's export,
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

use super::{
    DsKind, Fail, Res, SimDataset, T_FS, T_SNAP, T_VOL, check_name, child_dirs, clear_dir,
    copy_tree, err, fs_part, getopt, local_dir, mount_new, next_txg, open_as, parent_of,
    pool_writable, snap_dir,
};
use crate::Ctx;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The first bytes of every record (a real stream starts with DRR_BEGIN's magic).
const MAGIC: &[u8; 8] = b"JSZSEND1";

/// What a record is: the BEGIN record's fields jailctl's use depends on.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    /// The snapshot sent, by its full name on the sending host.
    toname: String,
    toguid: u64,
    /// The incremental source's guid: the receiving filesystem's newest snapshot must have it.
    fromguid: Option<u64>,
    /// Seconds since the epoch when the snapshot was taken.
    creation: u64,
    /// `-p`: the filesystem's locally set properties.
    props: Option<BTreeMap<String, String>>,
    /// The incremental source is a snapshot of another filesystem (the origin of the clone
    /// sent): received under a new name, the stream makes a clone of the snapshot that has
    /// the source's guid, found in the pool (libzfs_sendrecv.c, zfs_receive_one: the
    /// DRR_FLAG_CLONE case looks the origin up by guid).
    #[serde(default)]
    clone: bool,
}

/// One file, directory or symbolic link of a snapshot, by its path below the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// `d`, `f` or `l`.
    kind: char,
    mode: u32,
    /// A file's contents, a link's target.
    data: Vec<u8>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Body {
    files: BTreeMap<String, Entry>,
    removed: Vec<String>,
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
enum Bad {
    NoHeader,
    Truncated(Header),
    Checksum(Header),
}

/// Read one record from `buf`; returns it and the bytes it took.
fn decode(buf: &[u8]) -> Result<(Header, Body, usize), Bad> {
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
fn read_tree(dir: &Path, skip: &BTreeSet<std::path::PathBuf>) -> BTreeMap<String, Entry> {
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
fn write_tree(dir: &Path, files: &BTreeMap<String, Entry>) -> std::io::Result<()> {
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

const USAGE_RECEIVE: &[&str] = &[
    "receive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ...",
    "    <filesystem|volume|snapshot>",
    "receive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ... ",
    "    [-d | -e] <filesystem>",
    "receive -A <filesystem|volume>",
];

/// The usage text of OpenZFS 2.2's cmd/zfs/zfs_main.c (HELP_SEND, HELP_RECEIVE).
fn usage(lines: &[&str]) -> String {
    let mut s = String::from("usage:\n");
    for l in lines {
        s.push('\t');
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(super::USAGE_TAIL);
    s
}

fn usage_fail(lines: &[&str], msg: &str) -> Fail {
    Fail(2, format!("{msg}\n{}", usage(lines)))
}

/// The snapshots of filesystem `fs`, oldest first.
fn snapshots_of(ctx: &Ctx<'_>, fs: &str) -> Vec<(String, SimDataset)> {
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
    let cant = |why: &str| err(format!("warning: cannot send '{target}': {why}"));
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
    let mut chain: Vec<(Option<String>, String)> = Vec::new();
    match &from {
        None => chain.push((None, target.clone())),
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
                chain.push((Some(f.clone()), target.clone()));
            }
        }
    }
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
        let to_d = &ctx.state.zfs.datasets[&to];
        let files = read_tree(&snap_dir(ctx, &to), &BTreeSet::new());
        let (fromguid, body) = match &from {
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
            toname: to.clone(),
            toguid: to_d.guid,
            fromguid,
            creation: to_d.creation,
            props: props.clone(),
            clone: from.as_deref().is_some_and(|f| fs_part(f) != fs),
        };
        out.extend(encode(&header, &body));
    }
    ctx.stdout.extend(out);
    Ok(String::new())
}

/// `zfs receive [-Fu] [-o PROP=VALUE]... [-x PROP]... TARGET`, from [`Ctx::stdin`].
pub(super) fn receive(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "vMnsFhuo:x:deA:", &|| usage(USAGE_RECEIVE))?;
    for f in ['n', 's', 'd', 'e', 'A', 'M', 'h'] {
        if o.has(f) {
            return Err(err(format!(
                "zfs receive -{f}: not modelled by the simulated host (use real-ZFS mode, see docs/simulator.md)"
            )));
        }
    }
    let target = match o.rest.as_slice() {
        [] => return Err(usage_fail(USAGE_RECEIVE, "missing snapshot argument")),
        [t] => t.clone(),
        _ => return Err(usage_fail(USAGE_RECEIVE, "too many arguments")),
    };
    let set = super::parse_o_syntax(&o.values('o'), "receive")?;
    let exclude: Vec<String> = o.values('x').iter().map(|s| s.to_string()).collect();
    let mut origin = None;
    let mut local: Vec<(String, String)> = Vec::new();
    for (k, v) in set {
        if k == "origin" {
            origin = Some(v);
        } else {
            local.push((k, v));
        }
    }
    let local = super::check_o(&local, DsKind::Filesystem, "cannot receive")?;
    let input = ctx.stdin.take().unwrap_or_default();
    let mut at = 0;
    let mut first = true;
    loop {
        if !first && at >= input.len() {
            break;
        }
        let (header, body, used) = match decode(&input[at..]) {
            Ok(r) => r,
            Err(Bad::NoHeader) => return Err(err("cannot receive: failed to read from stream")),
            Err(Bad::Truncated(h)) => {
                return Err(err(format!("{}: invalid backup stream", what(&h))));
            }
            Err(Bad::Checksum(h)) => {
                return Err(err(format!(
                    "{}: invalid stream (checksum mismatch)",
                    what(&h)
                )));
            }
        };
        at += used;
        receive_one(
            ctx,
            &target,
            &header,
            body,
            &Flags {
                force: o.has('F'),
                no_mount: o.has('u'),
                local: &local,
                exclude: &exclude,
                origin: origin.as_deref(),
            },
        )?;
        first = false;
    }
    Ok(String::new())
}

fn what(h: &Header) -> &'static str {
    if h.fromguid.is_some() {
        "cannot receive incremental stream"
    } else {
        "cannot receive new filesystem stream"
    }
}

struct Flags<'a> {
    force: bool,
    no_mount: bool,
    local: &'a BTreeMap<String, String>,
    exclude: &'a [String],
    origin: Option<&'a str>,
}

/// Receive one whole, checked record into `target`.
fn receive_one(
    ctx: &mut Ctx<'_>,
    target: &str,
    h: &Header,
    body: Body,
    f: &Flags<'_>,
) -> Result<(), Fail> {
    let (fs, snap) = match target.split_once('@') {
        Some((fs, s)) => (fs.to_string(), s.to_string()),
        None => (
            target.to_string(),
            h.toname.split_once('@').map_or("", |(_, s)| s).to_string(),
        ),
    };
    let action = what(h);
    check_name(&fs, false).map_err(|e| err(format!("{action}: {e}")))?;
    pool_writable(ctx, &fs, action)?;
    let full = format!("{fs}@{snap}");
    let exists = ctx.state.zfs.datasets.contains_key(&fs);
    // The tree the new snapshot holds, and the filesystem it goes into.
    let tree: BTreeMap<String, Entry>;
    let mut clone_of: Option<String> = None;
    match h.fromguid {
        None => {
            if exists {
                if !f.force {
                    return Err(err(format!(
                        "{action}: destination '{fs}' exists\nmust specify -F to overwrite it"
                    )));
                }
                if let Some((s, _)) = snapshots_of(ctx, &fs).first() {
                    return Err(err(format!(
                        "{action}: destination has snapshots (eg. {s})\nmust destroy them to overwrite it"
                    )));
                }
            } else if parent_of(&fs).is_none_or(|p| !ctx.state.zfs.datasets.contains_key(p)) {
                return Err(err(format!(
                    "cannot open '{fs}': dataset does not exist\n{action}: dataset does not exist"
                )));
            }
            tree = body.files;
        }
        Some(fromguid) => {
            let base: String = if exists {
                let snaps = snapshots_of(ctx, &fs);
                let newest = snaps.last().map(|(n, d)| (n.clone(), d.guid));
                match newest {
                    Some((n, g)) if g == fromguid => n,
                    _ => {
                        let older = snaps.iter().find(|(_, d)| d.guid == fromguid);
                        match older {
                            // -F rolls back to the source, destroying the newer snapshots.
                            Some((n, _)) if f.force => {
                                let n = n.clone();
                                let newer: Vec<String> = snaps
                                    .iter()
                                    .filter(|(_, d)| {
                                        d.createtxg > ctx.state.zfs.datasets[&n].createtxg
                                    })
                                    .map(|(s, _)| s.clone())
                                    .collect();
                                for s in newer {
                                    let _ = std::fs::remove_dir_all(snap_dir(ctx, &s));
                                    ctx.state.zfs.datasets.remove(&s);
                                }
                                n
                            }
                            _ => {
                                return Err(err(format!(
                                    "{action}: most recent snapshot of {fs} does not\nmatch incremental source"
                                )));
                            }
                        }
                    }
                }
            } else {
                let found;
                let o = match f.origin {
                    Some(o) => o,
                    None if h.clone => {
                        found = ctx
                            .state
                            .zfs
                            .datasets
                            .iter()
                            .find(|(n, d)| {
                                d.kind == DsKind::Snapshot
                                    && d.guid == fromguid
                                    && super::pool_of(n) == super::pool_of(&fs)
                            })
                            .map(|(n, _)| n.clone());
                        match &found {
                            Some(o) => o.as_str(),
                            None => {
                                return Err(err(format!(
                                    "{action}: local origin for clone {fs} does not exist"
                                )));
                            }
                        }
                    }
                    None => {
                        return Err(err(format!("{action}: destination '{fs}' does not exist")));
                    }
                };
                let od = open_as(ctx, o, T_SNAP)?;
                if od.guid != fromguid {
                    return Err(err(format!(
                        "{action}: local origin for clone {fs} does not exist"
                    )));
                }
                if parent_of(&fs).is_none_or(|p| !ctx.state.zfs.datasets.contains_key(p)) {
                    return Err(err(format!(
                        "cannot open '{fs}': dataset does not exist\n{action}: dataset does not exist"
                    )));
                }
                clone_of = Some(o.to_string());
                o.to_string()
            };
            if exists && !f.force {
                // A filesystem changed since its newest snapshot refuses an incremental
                // stream without -F (which rolls it back first).
                let now = local_dir(ctx, &fs).map(|d| read_tree(&d, &child_dirs(ctx, &fs)));
                if let Some(now) = now
                    && now != read_tree(&snap_dir(ctx, &base), &BTreeSet::new())
                {
                    return Err(err(format!(
                        "{action}: destination {fs} has been modified\nsince most recent snapshot"
                    )));
                }
            }
            let mut t = read_tree(&snap_dir(ctx, &base), &BTreeSet::new());
            for r in &body.removed {
                t.retain(|k, _| k != r && !k.starts_with(&format!("{r}/")));
            }
            t.extend(body.files);
            tree = t;
        }
    }
    if ctx.state.zfs.datasets.contains_key(&full) {
        return Err(err(format!("{action}: destination '{full}' exists")));
    }
    // Everything is checked: apply.
    let replace = exists && h.fromguid.is_none();
    if replace {
        if let Some(dir) = local_dir(ctx, &fs) {
            let keep = child_dirs(ctx, &fs);
            let _ = clear_dir(&dir, &keep);
        }
        ctx.state.zfs.datasets.remove(&fs);
    }
    if !ctx.state.zfs.datasets.contains_key(&fs) {
        let mut received: BTreeMap<String, String> = h.props.clone().unwrap_or_default();
        received.retain(|k, _| !f.exclude.contains(k));
        super::insert_fs(ctx, &fs, f.local.clone(), clone_of, false);
        let d = ctx.state.zfs.datasets.get_mut(&fs).expect("inserted");
        d.received = received;
        if !f.no_mount {
            mount_new(ctx, &fs)?;
        }
    } else {
        let d = ctx.state.zfs.datasets.get_mut(&fs).expect("exists");
        if let Some(p) = &h.props {
            let mut p = p.clone();
            p.retain(|k, _| !f.exclude.contains(k));
            d.received = p;
        }
        d.props.extend(f.local.clone());
    }
    let sdir = snap_dir(ctx, &full);
    let _ = std::fs::remove_dir_all(&sdir);
    write_tree(&sdir, &tree).map_err(|e| err(format!("{action}: {e}")))?;
    if let Some(dir) = local_dir(ctx, &fs) {
        let keep = child_dirs(ctx, &fs);
        clear_dir(&dir, &keep).map_err(|e| err(format!("{action}: {e}")))?;
        copy_tree(&sdir, &dir, &BTreeSet::new()).map_err(|e| err(format!("{action}: {e}")))?;
    }
    let txg = next_txg(ctx);
    ctx.state.zfs.datasets.insert(
        full,
        SimDataset {
            kind: DsKind::Snapshot,
            props: BTreeMap::new(),
            origin: None,
            createtxg: txg,
            creation: h.creation,
            // A received snapshot keeps the guid it had on the sending side: that is how an
            // incremental stream finds its source on the receiving side.
            guid: h.toguid,
            mounted: false,
            received: BTreeMap::new(),
        },
    );
    Ok(())
}
