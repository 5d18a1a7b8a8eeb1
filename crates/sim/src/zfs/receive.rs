//! `zfs receive` on the simulated host: a stream made by `zfs send` (send.rs, which also
//! describes the format) received as a new filesystem, a clone of the stream's source, or a
//! new snapshot of an existing filesystem, with the refusals OpenZFS 2.2 and zfs-fuse give
//! (lib/libzfs/libzfs_sendrecv.c, zfs_receive_one): an existing target without `-F`, a
//! missing or mismatched incremental source, a target changed since its newest snapshot, a
//! truncated or damaged stream.

use super::files::{child_dirs, clear_dir, copy_tree, local_dir, snap_dir};
use super::getopt::getopt;
use super::mounts::mount_new;
use super::names::check_name;
use super::send::{
    Bad, Body, Entry, Header, USAGE_RECEIVE, decode, read_tree, snapshots_of, usage, usage_fail,
    write_tree,
};
use super::{
    DsKind, Fail, Res, SimDataset, T_SNAP, err, next_txg, open_as, parent_of, pool_writable,
};
use crate::Ctx;
use std::collections::{BTreeMap, BTreeSet};

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
    let set = super::getopt::parse_o_syntax(&o.values('o'), "receive")?;
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
    let local = super::getopt::check_o(&local, DsKind::Filesystem, "cannot receive")?;
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
    // The tree the new snapshot holds, and the snapshot the filesystem is a clone of.
    let (tree, clone_of) = match h.fromguid {
        None => {
            check_full(ctx, &fs, exists, f, action)?;
            (body.files, None)
        }
        Some(fromguid) => {
            let (base, clone_of) = if exists {
                (existing_source(ctx, &fs, fromguid, f, action)?, None)
            } else {
                let o = new_clone_source(ctx, &fs, fromguid, h, f, action)?;
                (o.clone(), Some(o))
            };
            if exists && !f.force {
                unmodified_since(ctx, &fs, &base, action)?;
            }
            let mut t = read_tree(&snap_dir(ctx, &base), &BTreeSet::new());
            for r in &body.removed {
                t.retain(|k, _| k != r && !k.starts_with(&format!("{r}/")));
            }
            t.extend(body.files);
            (t, clone_of)
        }
    };
    if ctx.state.zfs.datasets.contains_key(&full) {
        return Err(err(format!("{action}: destination '{full}' exists")));
    }
    apply_received(ctx, &fs, full, &tree, clone_of, exists, h, f, action)
}

/// A full stream into `fs`: refused over an existing filesystem without `-F` or with
/// snapshots, and when the parent is missing.
fn check_full(
    ctx: &Ctx<'_>,
    fs: &str,
    exists: bool,
    f: &Flags<'_>,
    action: &str,
) -> Result<(), Fail> {
    if exists {
        if !f.force {
            return Err(err(format!(
                "{action}: destination '{fs}' exists\nmust specify -F to overwrite it"
            )));
        }
        if let Some((s, _)) = snapshots_of(ctx, fs).first() {
            return Err(err(format!(
                "{action}: destination has snapshots (eg. {s})\nmust destroy them to overwrite it"
            )));
        }
    } else if parent_of(fs).is_none_or(|p| !ctx.state.zfs.datasets.contains_key(p)) {
        return Err(err(format!(
            "cannot open '{fs}': dataset does not exist\n{action}: dataset does not exist"
        )));
    }
    Ok(())
}

/// An incremental stream into the existing `fs`: its newest snapshot must be the source
/// (with `-F`, an older one is rolled back to, destroying the newer ones).
fn existing_source(
    ctx: &mut Ctx<'_>,
    fs: &str,
    fromguid: u64,
    f: &Flags<'_>,
    action: &str,
) -> Result<String, Fail> {
    let snaps = snapshots_of(ctx, fs);
    let newest = snaps.last().map(|(n, d)| (n.clone(), d.guid));
    match newest {
        Some((n, g)) if g == fromguid => Ok(n),
        _ => {
            let older = snaps.iter().find(|(_, d)| d.guid == fromguid);
            match older {
                // -F rolls back to the source, destroying the newer snapshots.
                Some((n, _)) if f.force => {
                    let n = n.clone();
                    let newer: Vec<String> = snaps
                        .iter()
                        .filter(|(_, d)| d.createtxg > ctx.state.zfs.datasets[&n].createtxg)
                        .map(|(s, _)| s.clone())
                        .collect();
                    for s in newer {
                        let _ = std::fs::remove_dir_all(snap_dir(ctx, &s));
                        ctx.state.zfs.datasets.remove(&s);
                    }
                    Ok(n)
                }
                _ => Err(err(format!(
                    "{action}: most recent snapshot of {fs} does not\nmatch incremental source"
                ))),
            }
        }
    }
}

/// An incremental stream into a new `fs`: a clone of the source, named with `-o origin=` or
/// found by guid for a clone stream.
fn new_clone_source(
    ctx: &Ctx<'_>,
    fs: &str,
    fromguid: u64,
    h: &Header,
    f: &Flags<'_>,
    action: &str,
) -> Result<String, Fail> {
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
                        && super::pool_of(n) == super::pool_of(fs)
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
    if parent_of(fs).is_none_or(|p| !ctx.state.zfs.datasets.contains_key(p)) {
        return Err(err(format!(
            "cannot open '{fs}': dataset does not exist\n{action}: dataset does not exist"
        )));
    }
    Ok(o.to_string())
}

/// Without `-F`, a filesystem changed since its newest snapshot refuses an incremental stream
/// (`-F` rolls it back first).
fn unmodified_since(ctx: &Ctx<'_>, fs: &str, base: &str, action: &str) -> Result<(), Fail> {
    let now = local_dir(ctx, fs).map(|d| read_tree(&d, &child_dirs(ctx, fs)));
    if let Some(now) = now
        && now != read_tree(&snap_dir(ctx, base), &BTreeSet::new())
    {
        return Err(err(format!(
            "{action}: destination {fs} has been modified\nsince most recent snapshot"
        )));
    }
    Ok(())
}

/// Everything is checked: make (or replace, or update) `fs`, write the snapshot `full`.
#[allow(clippy::too_many_arguments)]
fn apply_received(
    ctx: &mut Ctx<'_>,
    fs: &str,
    full: String,
    tree: &BTreeMap<String, Entry>,
    clone_of: Option<String>,
    exists: bool,
    h: &Header,
    f: &Flags<'_>,
    action: &str,
) -> Result<(), Fail> {
    let replace = exists && h.fromguid.is_none();
    if replace {
        if let Some(dir) = local_dir(ctx, fs) {
            let keep = child_dirs(ctx, fs);
            let _ = clear_dir(&dir, &keep);
        }
        ctx.state.zfs.datasets.remove(fs);
    }
    if !ctx.state.zfs.datasets.contains_key(fs) {
        let mut received: BTreeMap<String, String> = h.props.clone().unwrap_or_default();
        received.retain(|k, _| !f.exclude.contains(k));
        super::create::insert_fs(ctx, fs, f.local.clone(), clone_of, false);
        let d = ctx.state.zfs.datasets.get_mut(fs).expect("inserted");
        d.received = received;
        if !f.no_mount {
            mount_new(ctx, fs)?;
        }
    } else {
        let d = ctx.state.zfs.datasets.get_mut(fs).expect("exists");
        if let Some(p) = &h.props {
            let mut p = p.clone();
            p.retain(|k, _| !f.exclude.contains(k));
            d.received = p;
        }
        d.props.extend(f.local.clone());
    }
    let sdir = snap_dir(ctx, &full);
    let _ = std::fs::remove_dir_all(&sdir);
    write_tree(&sdir, tree).map_err(|e| err(format!("{action}: {e}")))?;
    if let Some(dir) = local_dir(ctx, fs) {
        let keep = child_dirs(ctx, fs);
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
