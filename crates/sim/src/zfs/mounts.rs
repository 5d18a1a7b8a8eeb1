//! Mounting in the simulated zfs: which filesystems are mounted where (and whether `exec` is
//! off there), mounting a filesystem just made (its directory created, refused under a
//! read-only filesystem), and moving mount directories when a rename or a mountpoint change
//! moves a filesystem.
//!
//! Why it exists: mount(8) on the simulated host, jail(8)'s mounts and the zfs commands all
//! need the same view of what is mounted.

use super::files::{child_dirs, local_dir};
use super::props::{inherited_value, mountpoint};
use super::values::prop_value;
use super::{DsKind, Fail, ZfsState, err};
use crate::Ctx;
use std::path::{Path, PathBuf};

/// Mounted ZFS filesystems as `(dataset, mountpoint)`, in mount order (parents first): what
/// the simulated mount(8) lists with fstype `zfs` in `mount -p`.
///
/// Copied out of the mount index ([`super::mount_index`]) once per version of the datasets.
pub fn mounted_filesystems(z: &ZfsState) -> std::sync::Arc<Vec<(String, String)>> {
    z.mounted
        .get_or(z.datasets.version(), || super::mount_index::all(z))
}

/// Whether the host path `path` lies on a mounted ZFS filesystem whose `exec` property
/// (own or inherited) is `off`: the kernel then refuses to execute any file there.
pub fn exec_off_at(z: &ZfsState, path: &Path) -> bool {
    super::mount_index::holding(z, path)
        .iter()
        .max_by_key(|(_, mp)| Path::new(mp).components().count())
        .is_some_and(|(name, _)| inherited_value(z, name, "exec").0 == "off")
}

/// Make sure the directories of mounted filesystems exist (a fresh host's `/zroot`).
pub fn ensure_mount_dirs(ctx: &mut Ctx<'_>) {
    let names: Vec<String> = ctx.state.zfs.datasets.keys().cloned().collect();
    for n in names {
        if let Some(d) = local_dir(ctx, &n) {
            let _ = std::fs::create_dir_all(d);
        }
    }
}

/// Whether a filesystem with these local props mounts when created.
pub(super) fn mounts_on_create(ctx: &Ctx<'_>, name: &str) -> bool {
    let z = &ctx.state.zfs;
    let canmount = z
        .datasets
        .get(name)
        .and_then(|d| d.props.get("canmount"))
        .map_or("on", String::as_str);
    let (mp, _) = mountpoint(z, name);
    canmount == "on" && mp.starts_with('/')
}

/// Mount a filesystem `create` or `clone` just made, as zfs_mount_and_share does: when its
/// mountpoint directory is missing and the directory it would be made in lies on a
/// read-only filesystem, the mount fails (lib/libzfs/libzfs_mount.c, zfs_mount_at: mkdirp
/// fails) and cmd/zfs/zfs_main.c says the dataset was made but not mounted, exit 1.
pub(super) fn mount_new(ctx: &mut Ctx<'_>, name: &str) -> Result<(), Fail> {
    if !mounts_on_create(ctx, name) {
        return Ok(());
    }
    let (mp, _) = mountpoint(&ctx.state.zfs, name);
    let mut existing = Path::new(&mp);
    while !ctx.host_path(existing).exists() {
        match existing.parent() {
            Some(p) => existing = p,
            None => break,
        }
    }
    if existing != Path::new(&mp) {
        let mounted = super::mount_index::holding(&ctx.state.zfs, existing);
        let holder = mounted
            .iter()
            .filter(|(n, _)| n != name)
            .max_by_key(|(_, m)| m.len());
        if let Some((fs, _)) = holder
            && prop_value(ctx, fs, "readonly").raw == "on"
        {
            return Err(err(format!(
                "cannot mount '{mp}': failed to create mountpoint: Read-only file system\nfilesystem successfully created, but not mounted"
            )));
        }
    }
    ctx.state
        .zfs
        .datasets
        .get_mut(name)
        .expect("just made")
        .mounted = true;
    if let Some(dir) = local_dir(ctx, name) {
        let _ = std::fs::create_dir_all(dir);
    }
    Ok(())
}

/// Move a mounted filesystem's directory when its effective mountpoint changes. Returns the
/// old mountpoints of `name` and all filesystems below it, to compare after the change.
pub(super) fn mount_snapshot(ctx: &Ctx<'_>, name: &str) -> Vec<(String, Option<PathBuf>)> {
    let mut v = vec![name.to_string()];
    v.extend(
        ctx.state
            .zfs
            .descendants(name)
            .into_iter()
            .filter(|n| !n.contains('@')),
    );
    v.into_iter()
        .map(|n| {
            let d = local_dir(ctx, &n);
            (n, d)
        })
        .collect()
}

pub(super) fn remount(ctx: &mut Ctx<'_>, before: Vec<(String, Option<PathBuf>)>) {
    // Shallowest first: moving a parent directory carries inheriting children along.
    for (n, old) in before {
        let Some(d) = ctx.state.zfs.datasets.get(&n) else {
            continue;
        };
        if d.kind != DsKind::Filesystem {
            continue;
        }
        let (mp, _) = mountpoint(&ctx.state.zfs, &n);
        let canmount = d.props.get("canmount").map_or("on", String::as_str) == "on";
        let should = mp.starts_with('/') && canmount;
        let new = should.then(|| ctx.host_path(Path::new(&mp)));
        match (&old, &new) {
            (Some(o), Some(nw)) if o != nw => {
                if o.exists() && !nw.exists() {
                    if let Some(p) = nw.parent() {
                        let _ = std::fs::create_dir_all(p);
                    }
                    let _ = std::fs::rename(o, nw);
                } else {
                    let _ = std::fs::create_dir_all(nw);
                }
            }
            (None, Some(nw)) => {
                let kept = super::files::unmounted_dir(ctx, &n);
                if kept.exists() && !nw.exists() {
                    super::files::move_dir(ctx, &kept, nw);
                } else {
                    let _ = std::fs::create_dir_all(nw);
                }
            }
            // Unmounted: its files are kept aside (not when a child filesystem is mounted
            // below it: the simulator then leaves them where they are).
            (Some(o), None) if o.exists() && child_dirs(ctx, &n).is_empty() => {
                let kept = super::files::unmounted_dir(ctx, &n);
                super::files::move_dir(ctx, o, &kept);
            }
            _ => {}
        }
        if let Some(d) = ctx.state.zfs.datasets.get_mut(&n) {
            d.mounted = new.is_some() && (old.is_some() || canmount);
        }
    }
}
