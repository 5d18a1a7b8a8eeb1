//! `zfs rename`: a filesystem moved (with its snapshots and children) or a snapshot renamed
//! (recursively under `-r`), its parents made under `-p`.
//!
//! Why it exists: jailctl renames jails and their datasets; a real zfs refuses a busy
//! dataset, a rename across pools or into itself, and the simulator must too.

use super::create::create_parents;
use super::destroy::busy_reason;
use super::files::snap_dir;
use super::getopt::{Opts, getopt, usage_fail, usage_text};
use super::mounts::{mount_snapshot, remount};
use super::names::check_name;
use super::{DsKind, Res, err, fs_part, is_below, open, parent_of, pool_of};
use crate::Ctx;
use std::path::PathBuf;

pub(super) fn rename(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "fpru", &|| usage_text("rename"))?;
    let (from, to) = match o.rest.as_slice() {
        [] => return Err(usage_fail("rename", "missing source dataset argument")),
        [_] => return Err(usage_fail("rename", "missing target dataset argument")),
        [a, b] => (a.clone(), b.clone()),
        _ => return Err(usage_fail("rename", "too many arguments")),
    };
    if o.has('r') && !from.contains('@') {
        return Err(usage_fail(
            "rename",
            "-r can only be used when renaming snapshots",
        ));
    }
    if o.has('p') && from.contains('@') {
        return Err(usage_fail("rename", "-p cannot be used with snapshots"));
    }
    let d = open(ctx, &from)?;
    let is_snap = d.kind == DsKind::Snapshot;
    let action = format!("cannot rename to '{to}'");
    // `zfs rename fs@a b` means fs@b.
    let to = if is_snap && !to.contains('@') {
        format!("{}@{to}", fs_part(&from))
    } else {
        to
    };
    check_name(&to, is_snap).map_err(|e| err(format!("{action}: {e}")))?;
    // lib/libzfs/libzfs_dataset.c, zfs_rename: the same name is a success that does nothing.
    if to == from {
        return Ok(String::new());
    }
    if is_snap {
        rename_snapshot(ctx, &from, &to, &action, o.has('r'))
    } else {
        rename_filesystem(ctx, &o, &from, &to, &action)
    }
}

/// `zfs rename FS@A FS@B`: the snapshot renamed, and under `-r` the snapshots of the same
/// name below FS too; none is renamed when a new name exists.
fn rename_snapshot(ctx: &mut Ctx<'_>, from: &str, to: &str, action: &str, recursive: bool) -> Res {
    if fs_part(to) != fs_part(from) {
        return Err(err(format!(
            "{action}: snapshots must be part of same dataset"
        )));
    }
    let new_snap = to.split_once('@').map(|(_, s)| s).unwrap_or("").to_string();
    let old_snap = from
        .split_once('@')
        .map(|(_, s)| s)
        .unwrap_or("")
        .to_string();
    let mut pairs = vec![(from.to_string(), to.to_string())];
    if recursive {
        for n in ctx.state.zfs.descendants(fs_part(from)) {
            if let Some((f, s)) = n.split_once('@')
                && s == old_snap
                && n != from
            {
                pairs.push((n.clone(), format!("{f}@{new_snap}")));
            }
        }
    }
    // The ioctl's EEXIST, reported by zfs_rename as "cannot rename 'SOURCE'".
    if pairs
        .iter()
        .any(|(_, t)| ctx.state.zfs.datasets.contains_key(t))
    {
        return Err(err(format!(
            "cannot rename '{from}': dataset already exists"
        )));
    }
    for (f, t) in pairs {
        move_dataset(ctx, &f, &t);
    }
    Ok(String::new())
}

/// `zfs rename FS NEW`: the filesystem moved with everything below it and remounted (not
/// under `-u`), its new parents made under `-p`.
fn rename_filesystem(ctx: &mut Ctx<'_>, o: &Opts, from: &str, to: &str, action: &str) -> Res {
    if to.contains('@') {
        return Err(err(format!(
            "{action}: snapshot delimiter '@' is not expected here"
        )));
    }
    if pool_of(from) != pool_of(to) {
        return Err(err(format!(
            "cannot rename to '{to}': datasets must be within same pool"
        )));
    }
    if !from.contains('/') {
        return Err(err(format!(
            "cannot rename '{from}': operation does not apply to pools"
        )));
    }
    // OpenZFS 2.2: with -p, zfs_do_rename makes the missing ancestors first; then
    // lib/libzfs/libzfs_dataset.c, zfs_rename checks the parent (check_parents) before a
    // target below the source, and an existing target comes back from the ioctl.
    let parent = parent_of(to).unwrap_or("").to_string();
    if !ctx.state.zfs.datasets.contains_key(&parent) {
        if !o.has('p') {
            return Err(err(format!("cannot create '{to}': parent does not exist")));
        }
        create_parents(ctx, to, true);
    }
    if is_below(to, from) {
        return Err(err(format!(
            "cannot rename to '{to}': New dataset name cannot be a descendant of current dataset name"
        )));
    }
    if ctx.state.zfs.datasets.contains_key(to) {
        return Err(err(format!(
            "cannot rename '{from}': dataset already exists"
        )));
    }
    if let Some(why) = busy_reason(ctx, from, o.has('f')) {
        return Err(err(format!(
            "{why}\ncannot rename '{from}': dataset is busy"
        )));
    }
    let before: Vec<(String, Option<PathBuf>)> = mount_snapshot(ctx, from)
        .into_iter()
        .map(|(n, p)| (format!("{to}{}", &n[from.len()..]), p))
        .collect();
    let mut names = vec![from.to_string()];
    names.extend(ctx.state.zfs.descendants(from));
    for n in names {
        let t = format!("{to}{}", &n[from.len()..]);
        move_dataset(ctx, &n, &t);
    }
    if !o.has('u') {
        remount(ctx, before);
    }
    Ok(String::new())
}

/// Rename one dataset record (and its snapshot files), fixing clones' origins.
pub(super) fn move_dataset(ctx: &mut Ctx<'_>, from: &str, to: &str) {
    let (a, b) = (
        super::files::unmounted_dir(ctx, from),
        super::files::unmounted_dir(ctx, to),
    );
    if !from.contains('@') && a.exists() {
        super::files::move_dir(ctx, &a, &b);
    }
    if from.contains('@') {
        let (a, b) = (snap_dir(ctx, from), snap_dir(ctx, to));
        if a.exists() {
            if let Some(p) = b.parent() {
                let _ = std::fs::create_dir_all(p);
            }
            let _ = std::fs::rename(a, b);
        }
    }
    let z = &mut ctx.state.zfs;
    if let Some(d) = z.datasets.remove(from) {
        z.datasets.insert(to.to_string(), d);
    }
    z.datasets.update_where(
        |d| d.origin.as_deref() == Some(from),
        |d| d.origin = Some(to.to_string()),
    );
}
