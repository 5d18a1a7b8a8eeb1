//! The files behind the simulated datasets: where a mounted filesystem's directory and a
//! snapshot's copy are on this machine, copying and clearing them, and the space
//! (`referenced`, `used`, `available`) counted from them.
//!
//! Why it exists: snapshot, clone, rollback, destroy, send and receive move real files, and
//! the space figures jailctl reads must follow what is on disk.

use super::props::mountpoint;
use super::{DsKind, EMPTY_FS, is_below, parent_of, pool_of};
use crate::Ctx;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where filesystem `name`'s files are on this machine, if it is mounted.
pub(super) fn local_dir(ctx: &Ctx<'_>, name: &str) -> Option<PathBuf> {
    let d = ctx.state.zfs.datasets.get(name)?;
    if d.kind != DsKind::Filesystem || !d.mounted {
        return None;
    }
    let (mp, _) = mountpoint(&ctx.state.zfs, name);
    mp.starts_with('/').then(|| ctx.host_path(Path::new(&mp)))
}

/// Where snapshot `snap`'s captured files are kept.
pub(super) fn snap_dir(ctx: &Ctx<'_>, snap: &str) -> PathBuf {
    let base = ctx.root.parent().unwrap_or(ctx.root).join("snapshots");
    crate::map_path(&base, Path::new(&format!("/{snap}")))
}

/// Where an unmounted filesystem `name`'s files are kept.
pub(super) fn unmounted_dir(ctx: &Ctx<'_>, name: &str) -> PathBuf {
    let base = ctx.root.parent().unwrap_or(ctx.root).join("unmounted");
    crate::map_path(&base, Path::new(&format!("/{name}")))
}

/// Move a directory to `to` (its parents made, anything already there replaced); the
/// directories left empty above `from` inside `DIR/unmounted` go.
pub(super) fn move_dir(ctx: &Ctx<'_>, from: &Path, to: &Path) {
    if let Some(p) = to.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    let _ = std::fs::remove_dir_all(to);
    let _ = std::fs::rename(from, to);
    prune_store(ctx, from);
}

/// Remove the directories left empty above `gone` inside `DIR/unmounted`.
fn prune_store(ctx: &Ctx<'_>, gone: &Path) {
    let store = ctx.root.parent().unwrap_or(ctx.root).join("unmounted");
    let mut d = gone.parent();
    while let Some(p) = d.filter(|p| p.starts_with(&store)) {
        if std::fs::remove_dir(p).is_err() {
            break;
        }
        d = p.parent();
    }
}

/// Bytes in regular files under `dir`, not descending into `skip`.
pub(super) fn dir_bytes(dir: &Path, skip: &BTreeSet<PathBuf>) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            if !skip.contains(&p) {
                total += dir_bytes(&p, skip);
            }
        } else {
            total += md.len();
        }
    }
    total
}

/// Mount directories of the filesystems below `name` (they are separate filesystems).
pub(super) fn child_dirs(ctx: &Ctx<'_>, name: &str) -> BTreeSet<PathBuf> {
    ctx.state
        .zfs
        .under(name, '/')
        .filter(|n| is_below(n, name) && !n.contains('@'))
        .filter_map(|n| local_dir(ctx, n))
        .collect()
}

/// Copy `from` into `to` recursively, not descending into `skip`.
pub(super) fn copy_tree(from: &Path, to: &Path, skip: &BTreeSet<PathBuf>) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let Ok(rd) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for e in rd {
        let e = e?;
        let p = e.path();
        let md = std::fs::symlink_metadata(&p)?;
        let dst = to.join(e.file_name());
        if md.is_dir() {
            if !skip.contains(&p) {
                copy_tree(&p, &dst, skip)?;
            }
        } else if md.file_type().is_symlink() {
            let target = std::fs::read_link(&p)?;
            let _ = std::fs::remove_file(&dst);
            std::os::unix::fs::symlink(target, &dst)?;
        } else {
            std::fs::copy(&p, &dst)?;
        }
    }
    Ok(())
}

/// Remove what is in `dir` except the directories in `keep` (and their parents).
pub(super) fn clear_dir(dir: &Path, keep: &BTreeSet<PathBuf>) -> std::io::Result<()> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd {
        let p = e?.path();
        let md = std::fs::symlink_metadata(&p)?;
        if md.is_dir() {
            if keep.iter().any(|k| k.starts_with(&p)) {
                if !keep.contains(&p) {
                    clear_dir(&p, keep)?;
                }
            } else {
                std::fs::remove_dir_all(&p)?;
            }
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Space referenced by one dataset.
pub(super) fn referenced(ctx: &Ctx<'_>, name: &str) -> u64 {
    let Some(d) = ctx.state.zfs.datasets.get(name) else {
        return 0;
    };
    match d.kind {
        DsKind::Snapshot => EMPTY_FS + dir_bytes(&snap_dir(ctx, name), &BTreeSet::new()),
        DsKind::Filesystem => {
            EMPTY_FS + local_dir(ctx, name).map_or(0, |dir| dir_bytes(&dir, &child_dirs(ctx, name)))
        }
    }
}

/// Space used by a dataset and everything below it. A clone shares its origin's blocks, so
/// only what it adds counts; snapshots count nothing beyond what their filesystem holds.
pub(super) fn used(ctx: &Ctx<'_>, name: &str) -> u64 {
    let z = &ctx.state.zfs;
    let Some(d) = z.datasets.get(name) else {
        return 0;
    };
    if d.kind == DsKind::Snapshot {
        return 0;
    }
    let own = match &d.origin {
        Some(o) => referenced(ctx, name).saturating_sub(referenced(ctx, o)),
        None => referenced(ctx, name),
    };
    let children: u64 = z
        .under(name, '/')
        .filter(|n| parent_of(n) == Some(name) && !n.contains('@'))
        .map(|n| used(ctx, n))
        .sum();
    own + children
}

pub(super) fn available(ctx: &Ctx<'_>, name: &str) -> u64 {
    let z = &ctx.state.zfs;
    let pool = pool_of(name);
    let size = z.pools.get(pool).map_or(0, |p| p.size);
    let mut avail = size.saturating_sub(used(ctx, pool));
    let mut cur = Some(name);
    while let Some(n) = cur {
        if let Some(q) = z
            .datasets
            .get(n)
            .and_then(|d| d.props.get("quota"))
            .and_then(|q| q.parse::<u64>().ok())
            .filter(|q| *q > 0)
        {
            avail = avail.min(q.saturating_sub(used(ctx, n)));
        }
        cur = parent_of(n);
    }
    avail
}

/// Remove the files behind a dataset that is about to be destroyed.
pub(super) fn remove_files(ctx: &Ctx<'_>, name: &str) {
    if name.contains('@') {
        let dir = snap_dir(ctx, name);
        let _ = std::fs::remove_dir_all(&dir);
        // The store's directories named after the dataset's parents go with their last
        // snapshot: the store holds snapshots, not a tree of its own.
        let store = ctx.root.parent().unwrap_or(ctx.root).join("snapshots");
        let mut up = dir.parent();
        // A directory already gone (a command killed half-way through this walk) is passed
        // over; one still holding other snapshots ends it.
        while let Some(d) = up.filter(|d| d.starts_with(&store) && *d != store) {
            match std::fs::remove_dir(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => break,
            }
            up = d.parent();
        }
        return;
    }
    let kept = unmounted_dir(ctx, name);
    if kept.exists() {
        let _ = std::fs::remove_dir_all(&kept);
        prune_store(ctx, &kept);
    }
    if let Some(dir) = local_dir(ctx, name) {
        // Keep directories of other filesystems mounted below (not being destroyed here
        // because they are destroyed first, longest name first).
        let keep = child_dirs(ctx, name);
        let _ = clear_dir(&dir, &keep);
        if keep.is_empty() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}
