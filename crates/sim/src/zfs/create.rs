//! `zfs create` and `zfs clone`: a new filesystem (with its parents under `-p`, its
//! properties under `-o`, a dry run under `-n`), or a filesystem made from a snapshot.
//!
//! Why it exists: jailctl creates its base, jail and volume datasets and clones jails from
//! base snapshots; both must meet the refusals a real zfs gives (an existing dataset, a
//! missing parent, a bad property, a read-only pool).

use super::files::{copy_tree, local_dir, snap_dir};
use super::getopt::{Opts, check_o, getopt, parse_o_syntax, usage_fail, usage_text};
use super::mounts::{mount_new, mounts_on_create};
use super::names::{check_name, fs_name_valid};
use super::values::now;
use super::{
    DsKind, Fail, Res, SimDataset, T_SNAP, err, new_guid, next_txg, open_as, parent_of, pool_of,
    pool_writable,
};
use crate::Ctx;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn insert_fs(
    ctx: &mut Ctx<'_>,
    name: &str,
    props: BTreeMap<String, String>,
    origin: Option<String>,
    mount: bool,
) {
    let txg = next_txg(ctx);
    let guid = new_guid(ctx, name);
    ctx.state.zfs.datasets.insert(
        name.to_string(),
        SimDataset {
            kind: DsKind::Filesystem,
            props,
            origin,
            createtxg: txg,
            creation: now(),
            guid,
            mounted: false,
            received: BTreeMap::new(),
        },
    );
    if mount && mounts_on_create(ctx, name) {
        ctx.state
            .zfs
            .datasets
            .get_mut(name)
            .expect("inserted")
            .mounted = true;
        if let Some(dir) = local_dir(ctx, name) {
            let _ = std::fs::create_dir_all(dir);
        }
    }
}

/// Create missing ancestors of `name` (for `-p`), returning an error naming `action`.
pub(super) fn create_parents(ctx: &mut Ctx<'_>, name: &str, mount: bool) {
    let mut missing = Vec::new();
    let mut cur = parent_of(name);
    while let Some(p) = cur {
        if ctx.state.zfs.datasets.contains_key(p) {
            break;
        }
        missing.push(p.to_string());
        cur = parent_of(p);
    }
    for p in missing.into_iter().rev() {
        insert_fs(ctx, &p, BTreeMap::new(), None, mount);
    }
}

/// zfs_create/zfs_clone's checks of the new name, in libzfs's order (lib/libzfs/
/// libzfs_dataset.c, zfs_create: zfs_validate_name, then check_parents, then
/// zfs_dataset_exists): the name, then the pool and the parent, then an existing dataset.
/// Property values are checked after these (zfs_valid_proplist), and the pool's state at
/// the ioctl, last.
pub(super) fn check_new_fs(ctx: &Ctx<'_>, name: &str, action: &str) -> Result<(), Fail> {
    check_name(name, false).map_err(|e| err(format!("{action}: {e}")))?;
    if !name.contains('/') {
        return Err(err(format!("{action}: missing dataset name")));
    }
    if !ctx.state.zfs.pools.contains_key(pool_of(name)) {
        return Err(err(format!("{action}: no such pool '{}'", pool_of(name))));
    }
    if !ctx
        .state
        .zfs
        .datasets
        .contains_key(parent_of(name).unwrap_or(""))
    {
        return Err(err(format!("{action}: parent does not exist")));
    }
    Ok(())
}

/// `-p`'s ancestors, as zfs_create_ancestors makes them (libzfs_dataset.c,
/// create_parents): each missing one is created and mounted before the target itself is
/// checked, so they stay when the target then fails (OpenZFS 2.2, cmd/zfs/zfs_main.c,
/// zfs_do_create and zfs_do_clone call it before zfs_create/zfs_clone).
pub(super) fn create_ancestors(ctx: &mut Ctx<'_>, name: &str, action: &str) -> Result<(), Fail> {
    check_name(name, false).map_err(|e| err(format!("{action}: {e}")))?;
    if !name.contains('/') {
        return Err(err(format!("{action}: missing dataset name")));
    }
    let missing = parent_of(name).is_some_and(|p| !ctx.state.zfs.datasets.contains_key(p));
    if missing {
        pool_writable(ctx, name, action)?;
        create_parents(ctx, name, true);
    }
    Ok(())
}

pub(super) fn create(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "Pnpuvso:b:V:", &|| usage_text("create"))?;
    if o.has('V') || o.has('b') || o.has('s') {
        return Err(err(
            "cannot create volume: volumes are not modelled by the simulated host",
        ));
    }
    let name = match o.rest.as_slice() {
        [] => return Err(usage_fail("create", "missing filesystem argument")),
        [n] => n.clone(),
        _ => return Err(usage_fail("create", "too many arguments")),
    };
    let action = format!("cannot create '{name}'");
    // zfs_main.c parseprop: only the form of `-o p=v` and duplicates are checked here.
    let raw = parse_o_syntax(&o.values('o'), "create")?;
    if o.has('n') {
        return create_dry_run(ctx, &o, &name, &raw);
    }
    if o.has('p') && fs_name_valid(&name) {
        // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_create: with -p an existing target ends
        // the command with status 0 before any -o value is looked at.
        if ctx.state.zfs.datasets.contains_key(&name) {
            return Ok(String::new());
        }
        create_ancestors(ctx, &name, &action)?;
    }
    check_new_fs(ctx, &name, &action)?;
    if ctx.state.zfs.datasets.contains_key(&name) {
        return Err(err(format!("{action}: dataset already exists")));
    }
    let props = check_o(&raw, DsKind::Filesystem, &action)?;
    pool_writable(ctx, &name, &action)?;
    insert_fs(ctx, &name, props, None, false);
    if !o.has('u') {
        mount_new(ctx, &name)?;
    }
    Ok(String::new())
}

/// `create -n`: OpenZFS 2.2's dry run (cmd/zfs/zfs_main.c, zfs_do_create) opens the pool,
/// checks the -o values as "cannot verify", prints what it would do with -v/-P, and never
/// looks at the parent or at an existing dataset (except -p's "already exists: done").
pub(super) fn create_dry_run(ctx: &Ctx<'_>, o: &Opts, name: &str, raw: &[(String, String)]) -> Res {
    let pool = pool_of(name);
    if !ctx.state.zfs.pools.contains_key(pool) {
        return Err(err(format!("cannot open '{pool}': no such pool")));
    }
    check_o(raw, DsKind::Filesystem, &format!("cannot verify '{name}'"))?;
    let parents = o.has('p') && fs_name_valid(name);
    if parents && ctx.state.zfs.datasets.contains_key(name) {
        return Ok(String::new());
    }
    let mut out = String::new();
    let parsable = o.has('P');
    if o.has('v') || parsable {
        if parents {
            out.push_str(&if parsable {
                format!("create_ancestors\t{name}\n")
            } else {
                format!("would create ancestors of {name}\n")
            });
        }
        out.push_str(&if parsable {
            format!("create\t{name}\n")
        } else {
            format!("would create {name}\n")
        });
        for (k, v) in raw {
            out.push_str(&if parsable {
                format!("property\t{k}\t{v}\n")
            } else {
                format!("\t{k}={v}\n")
            });
        }
    }
    Ok(out)
}

pub(super) fn clone(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "po:", &|| usage_text("clone"))?;
    let (src, dst) = match o.rest.as_slice() {
        [] => return Err(usage_fail("clone", "missing source dataset argument")),
        [_] => return Err(usage_fail("clone", "missing target dataset argument")),
        [s, d] => (s.clone(), d.clone()),
        _ => return Err(usage_fail("clone", "too many arguments")),
    };
    let action = format!("cannot create '{dst}'");
    let raw = parse_o_syntax(&o.values('o'), "clone")?;
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_clone: the source is opened as a snapshot
    // first; with -p an existing target then ends the command with success, and the
    // missing ancestors are created before zfs_clone checks anything else.
    open_as(ctx, &src, T_SNAP)?;
    if o.has('p') && fs_name_valid(&dst) {
        if ctx.state.zfs.datasets.contains_key(&dst) {
            return Ok(String::new());
        }
        create_ancestors(ctx, &dst, &action)?;
    }
    // lib/libzfs/libzfs_dataset.c, zfs_clone: target name, its parents, the -o values;
    // an existing target (EEXIST) and another pool (EXDEV) come back from the ioctl.
    check_new_fs(ctx, &dst, &action)?;
    let props = check_o(&raw, DsKind::Filesystem, &action)?;
    if pool_of(&src) != pool_of(&dst) {
        return Err(err(format!("{action}: source and target pools differ")));
    }
    if ctx.state.zfs.datasets.contains_key(&dst) {
        return Err(err(format!("{action}: dataset already exists")));
    }
    pool_writable(ctx, &dst, &action)?;
    insert_fs(ctx, &dst, props, Some(src.clone()), false);
    mount_new(ctx, &dst)?;
    if let Some(dir) = local_dir(ctx, &dst) {
        copy_tree(&snap_dir(ctx, &src), &dir, &BTreeSet::new())
            .map_err(|e| err(format!("{action}: {e}")))?;
    }
    Ok(String::new())
}
