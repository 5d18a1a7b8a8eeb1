//! `zfs snapshot`: one or more snapshots (recursive under `-r`), taken all at once
//! or none, each capturing its filesystem's files.
//!
//! Why it exists: jailctl snapshots bases and jails and must see the refusals a real zfs
//! gives (an existing snapshot, a bad name, a snapshot of a snapshot).

use super::files::{child_dirs, copy_tree, local_dir, snap_dir};
use super::getopt::{getopt, parse_o, usage_fail, usage_text};
use super::names::check_name;
use super::values::now;
use super::{
    DsKind, Fail, Res, SimDataset, T_FS, T_VOL, err, fs_part, new_guid, next_txg, open_as,
    pool_writable,
};
use crate::Ctx;
use std::collections::BTreeMap;

pub(super) fn snapshot(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "ro:", &|| usage_text("snapshot"))?;
    if o.rest.is_empty() {
        return Err(usage_fail("snapshot", "missing snapshot argument"));
    }
    let props = parse_o(
        &o.values('o'),
        DsKind::Snapshot,
        "cannot create snapshot",
        "snapshot",
    )?;
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_snapshot: an operand without '@', or whose
    // filesystem cannot be opened (its error printed first), ends in the usage text and
    // exit 2. The snapshots are then checked and taken all at once (zfs_snapshot_nvl), and
    // when that fails for -r or several operands a last line says none was taken.
    let several = o.has('r') || o.rest.len() > 1;
    let none_taken = |f: Fail| {
        if several {
            Fail(f.0, format!("{}no snapshots were created\n", f.1))
        } else {
            f
        }
    };
    let mut todo: Vec<String> = Vec::new();
    for spec in &o.rest {
        let Some((fs, snap)) = spec.split_once('@') else {
            return Err(usage_fail("snapshot", ""));
        };
        if let Err(Fail(_, m)) = open_as(ctx, fs, T_FS | T_VOL) {
            return Err(Fail(2, format!("{m}{}", usage_text("snapshot"))));
        }
        let mut targets = vec![fs.to_string()];
        if o.has('r') {
            targets.extend(
                ctx.state
                    .zfs
                    .descendants(fs)
                    .into_iter()
                    .filter(|n| !n.contains('@')),
            );
        }
        for t in targets {
            let full = format!("{t}@{snap}");
            if !todo.contains(&full) {
                todo.push(full);
            }
        }
    }
    for full in &todo {
        let action = format!("cannot create snapshot '{full}'");
        check_name(full, true).map_err(|e| none_taken(err(format!("{action}: {e}"))))?;
        pool_writable(ctx, full, &action).map_err(none_taken)?;
    }
    let exist: String = todo
        .iter()
        .filter(|f| ctx.state.zfs.datasets.contains_key(f.as_str()))
        .map(|f| format!("cannot create snapshot '{f}': dataset already exists\n"))
        .collect();
    if !exist.is_empty() {
        return Err(none_taken(Fail(1, exist)));
    }
    let txg = next_txg(ctx);
    for full in todo {
        let fs = fs_part(&full).to_string();
        if let Some(dir) = local_dir(ctx, &fs) {
            let skip = child_dirs(ctx, &fs);
            let dst = snap_dir(ctx, &full);
            let _ = std::fs::remove_dir_all(&dst);
            copy_tree(&dir, &dst, &skip)
                .map_err(|e| err(format!("cannot create snapshot '{full}': {e}")))?;
        }
        let guid = new_guid(ctx, &full);
        ctx.state.zfs.datasets.insert(
            full,
            SimDataset {
                kind: DsKind::Snapshot,
                props: props.clone(),
                origin: None,
                createtxg: txg,
                creation: now(),
                guid,
                mounted: false,
                received: BTreeMap::new(),
            },
        );
    }
    Ok(String::new())
}
