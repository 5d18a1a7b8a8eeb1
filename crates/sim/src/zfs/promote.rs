//! `zfs promote`: a clone made independent of its origin, the origin's earlier snapshots
//! moving to it.
//!
//! Why it exists: destroying a base that jails were cloned from needs the clone promoted
//! first; the simulator models the snapshots moving and the refusals a real zfs gives.

use super::getopt::{getopt, usage_fail, usage_text};
use super::rename::move_dataset;
use super::{Res, T_FS, T_VOL, err, fs_part, open_as, sort_names};
use crate::Ctx;

pub(super) fn promote(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "", &|| usage_text("promote"))?;
    let name = match o.rest.as_slice() {
        [] => return Err(usage_fail("promote", "missing clone filesystem argument")),
        [n] => n.clone(),
        _ => return Err(usage_fail("promote", "too many arguments")),
    };
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_promote opens a filesystem or volume: a
    // snapshot's name is refused by the name check ("'@' is not expected here").
    let d = open_as(ctx, &name, T_FS | T_VOL)?;
    let Some(origin) = d.origin.clone() else {
        return Err(err(format!(
            "cannot promote '{name}': not a cloned filesystem"
        )));
    };
    let (ofs, _) = origin.split_once('@').expect("origin is a snapshot");
    let ofs = ofs.to_string();
    let otxg = ctx.state.zfs.datasets[&origin].createtxg;
    let mut moving: Vec<String> = ctx
        .state
        .zfs
        .datasets
        .iter()
        .filter(|(n, d)| fs_part(n) == ofs && n.contains('@') && d.createtxg <= otxg)
        .map(|(n, _)| n.clone())
        .collect();
    sort_names(&ctx.state.zfs, &mut moving);
    for m in &moving {
        let snap = m.split_once('@').map(|(_, s)| s).unwrap_or("");
        let t = format!("{name}@{snap}");
        if ctx.state.zfs.datasets.contains_key(&t) {
            return Err(err(format!(
                "cannot promote '{name}': snapshot name '{snap}' from origin conflicts with '{t}' from target"
            )));
        }
    }
    let origin_of_origin = ctx.state.zfs.datasets[&ofs].origin.clone();
    for m in &moving {
        let snap = m.split_once('@').map(|(_, s)| s).unwrap_or("");
        move_dataset(ctx, m, &format!("{name}@{snap}"));
    }
    let z = &mut ctx.state.zfs;
    let new_origin_snap = format!(
        "{name}@{}",
        origin.split_once('@').map(|(_, s)| s).unwrap_or("")
    );
    // The former origin now depends on the promoted clone.
    if let Some(od) = z.datasets.get_mut(&ofs) {
        od.origin = Some(new_origin_snap.clone());
    }
    if let Some(cd) = z.datasets.get_mut(&name) {
        cd.origin = origin_of_origin;
    }
    Ok(String::new())
}

// ---------------------------------------------------------------------------------------
// zpool
