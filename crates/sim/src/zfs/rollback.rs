//! `zfs rollback`: a filesystem put back to a snapshot, refused when later snapshots exist
//! unless `-r` destroys them (and `-R` their clones too).
//!
//! Why it exists: jailctl's snapshot restore rolls jails back and must meet the refusals a
//! real zfs gives.

use super::destroy::{busy_reason, collect_dependents};
use super::files::{child_dirs, clear_dir, copy_tree, local_dir, remove_files, snap_dir};
use super::getopt::{getopt, usage_fail, usage_text};
use super::{Res, T_SNAP, err, fs_part, open_as, pool_writable, sort_names};
use crate::Ctx;
use std::collections::BTreeSet;

/// `zfs rollback [-rRf] SNAP`: only to the most recent snapshot, unless `-r` destroys the
/// later ones (and `-R` the clones of those); the filesystem's files become the snapshot's.
pub(super) fn rollback(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "rRf", &|| usage_text("rollback"))?;
    let target = match o.rest.as_slice() {
        [] => return Err(usage_fail("rollback", "missing dataset argument")),
        [t] => t.clone(),
        _ => return Err(usage_fail("rollback", "too many arguments")),
    };
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_rollback opens its operand as a snapshot:
    // a filesystem is refused by the name check ("missing '@' delimiter").
    let d = open_as(ctx, &target, T_SNAP)?;
    let txg = d.createtxg;
    let fs = fs_part(&target).to_string();
    let action = format!("cannot rollback to '{target}'");
    // -R implies -r, as in zfs_main.c.
    let recursive = o.has('r') || o.has('R');
    let mut later: Vec<String> = ctx
        .state
        .zfs
        .datasets
        .iter()
        .filter(|(n, s)| n.contains('@') && fs_part(n) == fs && s.createtxg > txg)
        .map(|(n, _)| n.clone())
        .collect();
    sort_names(&ctx.state.zfs, &mut later);
    if !later.is_empty() && !recursive {
        return Err(err(format!(
            "{action}: more recent snapshots or bookmarks exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\n{}",
            later.join("\n")
        )));
    }
    let clones = collect_dependents(ctx, &later);
    if !clones.is_empty() && !o.has('R') {
        return Err(err(format!(
            "{action}: clones of previous snapshots exist\nuse '-R' to force deletion of the following clones and dependents:\n{}",
            clones.join("\n")
        )));
    }
    pool_writable(ctx, &target, &action)?;
    for c in &clones {
        if let Some(why) = busy_reason(ctx, c, o.has('f')) {
            return Err(err(format!("{why}\ncannot destroy '{c}': dataset is busy")));
        }
    }
    let mut gone: Vec<String> = clones.into_iter().chain(later).collect();
    gone.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for v in &gone {
        remove_files(ctx, v);
        ctx.state.zfs.datasets.remove(v);
    }
    if let Some(dir) = local_dir(ctx, &fs) {
        let keep = child_dirs(ctx, &fs);
        clear_dir(&dir, &keep)
            .and_then(|()| copy_tree(&snap_dir(ctx, &target), &dir, &BTreeSet::new()))
            .map_err(|e| err(format!("{action}: {e}")))?;
    }
    Ok(String::new())
}
