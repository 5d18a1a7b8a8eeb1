//! `zfs destroy`: filesystems and snapshots (recursive under `-r`, with dependent clones under
//! `-R`, `%` ranges of snapshots, dry runs under `-n`/`-v`), refused when a dataset has
//! children or clones, or is busy.
//!
//! Why it exists: jailctl destroys jails, volumes and snapshots it owns; the simulator must
//! refuse what a real zfs refuses (a busy mountpoint, a dependent clone) in the same order
//! and words.

use super::files::{remove_files, used};
use super::getopt::{Opts, getopt, usage_fail, usage_text};
use super::names::check_name;
use super::props::mountpoint;
use super::values::nicebytes;
use super::{
    DsKind, Fail, Res, T_FS, T_VOL, ZfsState, err, fs_part, is_below, open, open_as, parent_of,
    pool_of, sort_names,
};
use crate::Ctx;
use std::collections::BTreeSet;
use std::path::Path;

/// Why a filesystem cannot be unmounted right now: a running jail rooted at or below its
/// mountpoint, or another mount (nullfs, devfs) below it in the mount table.
pub(super) fn busy_reason(ctx: &mut Ctx<'_>, name: &str, force: bool) -> Option<String> {
    let d = ctx.state.zfs.datasets.get(name)?;
    if d.kind != DsKind::Filesystem || !d.mounted {
        return None;
    }
    let (mp, _) = mountpoint(&ctx.state.zfs, name);
    if !mp.starts_with('/') {
        return None;
    }
    let under = |p: &str| Path::new(p).starts_with(Path::new(&mp));
    if !force
        && let Some(j) = ctx
            .state
            .jail
            .jails
            .values()
            .find(|j| under(&j.path) && !j.dying)
    {
        return Some(format!(
            "cannot unmount '{mp}': Device busy (jail '{}' runs there)",
            j.name
        ));
    }
    // A jail the kernel is still tearing down holds its root vnode: even -f cannot
    // unmount it until the jail is gone.
    if let Some(j) = ctx
        .state
        .jail
        .jails
        .values()
        .find(|j| under(&j.path) && j.dying_left.is_some())
    {
        return Some(format!(
            "cannot unmount '{mp}': Device busy (jail '{}' is dying)",
            j.name
        ));
    }
    // The mount table: anything that is not a ZFS filesystem mounted at or below our
    // mountpoint pins it, even with -f.
    if let Some(m) = ctx
        .state
        .mount
        .mounts
        .iter()
        .find(|m| m.fstype != "zfs" && under(&m.target))
    {
        return Some(format!(
            "cannot unmount '{mp}': Device busy ({} mounted at {})",
            m.source, m.target
        ));
    }
    None
}

pub(super) fn destroy(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "dfnpRrv", &|| usage_text("destroy"))?;
    let target = match o.rest.as_slice() {
        [] => return Err(usage_fail("destroy", "missing dataset argument")),
        [t] => t.clone(),
        _ => return Err(usage_fail("destroy", "too many arguments")),
    };
    let mut victims = match target.split_once('@') {
        Some((fs, snaps)) => snapshot_victims(ctx, &o, &target, fs, snaps)?,
        None => filesystem_victims(ctx, &o, &target)?,
    };
    let mut seen = BTreeSet::new();
    victims.retain(|v| seen.insert(v.clone()));
    check_destroyable(ctx, &victims, o.has('f'))?;
    let out = destroy_report(ctx, &o, &victims);
    if o.has('n') {
        return Ok(out);
    }
    // Children first, so each directory is emptied before its parent.
    let mut order = victims.clone();
    order.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for v in &order {
        remove_files(ctx, v);
        ctx.state.zfs.datasets.remove(v);
    }
    Ok(out)
}

/// What `zfs destroy FS@SNAPS` destroys: the snapshots named (`a,b` and ranges `a%b`, in
/// every filesystem below FS under `-r`) and, under `-R`, their clones.
fn snapshot_victims(
    ctx: &Ctx<'_>,
    o: &Opts,
    target: &str,
    fs: &str,
    snaps: &str,
) -> Result<Vec<String>, Fail> {
    let base = open(ctx, fs)?;
    if base.kind != DsKind::Filesystem {
        return Err(err(format!(
            "cannot destroy '{target}': operation not applicable to datasets of this type"
        )));
    }
    let mut fss = vec![fs.to_string()];
    if o.has('r') {
        fss.extend(
            ctx.state
                .zfs
                .descendants(fs)
                .into_iter()
                .filter(|n| !n.contains('@')),
        );
    }
    let mut victims = snapshots_named(ctx, &fss, snaps, o.has('r'))?;
    if victims.is_empty() {
        return Err(err(
            "could not find any snapshots to destroy; check snapshot names.",
        ));
    }
    // cmd/zfs/zfs_main.c, snapshot_to_nvl_cb: each snapshot with clones is reported on
    // its own, its dependents in zfs_iter_dependents' order (post-order).
    if !o.has('R') && !o.has('d') {
        let mut report = String::new();
        for v in &victims {
            if ctx.state.zfs.clones_of(v).is_empty() {
                continue;
            }
            let deps = dependents(&ctx.state.zfs, v, true).unwrap_or_default();
            report.push_str(&format!(
                "cannot destroy '{v}': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n"
            ));
            for d in deps {
                report.push_str(&format!("{d}\n"));
            }
        }
        if !report.is_empty() {
            return Err(Fail(1, report));
        }
    }
    victims.extend(collect_dependents(ctx, &victims));
    Ok(victims)
}

/// The snapshots `snaps` (`a,b` and ranges `a%b`, by creation order) names in each of `fss`.
/// A plain name not found fails at once unless `recursive`.
fn snapshots_named(
    ctx: &Ctx<'_>,
    fss: &[String],
    snaps: &str,
    recursive: bool,
) -> Result<Vec<String>, Fail> {
    let mut victims = Vec::new();
    for part in snaps.split(',') {
        for f in fss {
            let own: Vec<String> = {
                let mut v: Vec<String> = ctx
                    .state
                    .zfs
                    .under(f, '@')
                    .filter(|n| fs_part(n) == f)
                    .cloned()
                    .collect();
                sort_names(&ctx.state.zfs, &mut v);
                v
            };
            if let Some((a, b)) = part.split_once('%') {
                let ia = if a.is_empty() {
                    Some(0)
                } else {
                    own.iter().position(|n| *n == format!("{f}@{a}"))
                };
                let ib = if b.is_empty() {
                    own.len().checked_sub(1)
                } else {
                    own.iter().position(|n| *n == format!("{f}@{b}"))
                };
                if let (Some(ia), Some(ib)) = (ia, ib)
                    && ia <= ib
                {
                    victims.extend(own[ia..=ib].iter().cloned());
                }
            } else {
                let full = format!("{f}@{part}");
                // cmd/zfs/zfs_main.c, zfs_do_destroy looks each name up
                // (zfs_iter_snapspec): one that cannot exist is just not found.
                if check_name(&full, true).is_ok() && ctx.state.zfs.datasets.contains_key(&full) {
                    victims.push(full);
                } else if !recursive {
                    return Err(err(
                        "could not find any snapshots to destroy; check snapshot names.",
                    ));
                }
            }
        }
    }
    Ok(victims)
}

/// What `zfs destroy FS` destroys: FS (not a pool's root filesystem) and its dependents,
/// refused without `-r`/`-R` when there are children or clones.
fn filesystem_victims(ctx: &Ctx<'_>, o: &Opts, target: &str) -> Result<Vec<String>, Fail> {
    let recursive = o.has('r') || o.has('R');
    open_as(ctx, target, T_FS | T_VOL)?;
    let pool = !target.contains('/');
    if pool && !recursive {
        return Err(err(format!(
            "cannot destroy '{target}': operation does not apply to pools\nuse 'zfs destroy -r {target}' to destroy all datasets in the pool\nuse 'zpool destroy {target}' to destroy the pool itself"
        )));
    }
    // cmd/zfs/zfs_main.c, zfs_do_destroy: without -R, a first walk of the dependents
    // (destroy_check_dependent, cycles skipped) reports the target's own descendants
    // when there is no -r, and other datasets (clones) when there is.
    let z = &ctx.state.zfs;
    if !o.has('R') {
        let deps = dependents(z, target, true).unwrap_or_default();
        let mut report = String::new();
        for d in &deps {
            let own = is_below(d, target);
            if own == recursive {
                continue;
            }
            if report.is_empty() {
                let why = if own {
                    "filesystem has children"
                } else {
                    "filesystem has dependent clones"
                };
                let flag = if own { "-r" } else { "-R" };
                report.push_str(&format!(
                    "cannot destroy '{target}': {why}\nuse '{flag}' to destroy the following datasets:\n"
                ));
            }
            report.push_str(&format!("{d}\n"));
        }
        if !report.is_empty() {
            return Err(Fail(1, report));
        }
    }
    // The second walk destroys, and refuses a cycle (a filesystem that is a clone of a
    // snapshot of its own descendant, after a promote): lib/libzfs/libzfs_iter.c,
    // iter_dependents_cb.
    let deps = dependents(z, target, false).map_err(|n| {
        err(format!(
            "cannot determine dependent datasets: recursive dependency at '{n}'"
        ))
    })?;
    let mut victims = Vec::new();
    // A pool's root filesystem is never destroyed itself (destroy_callback skips it).
    if !pool {
        victims.push(target.to_string());
    }
    victims.extend(deps);
    Ok(victims)
}

/// Refuse the destroy when a victim's pool is read-only or a victim is busy.
fn check_destroyable(ctx: &mut Ctx<'_>, victims: &[String], force: bool) -> Result<(), Fail> {
    if let Some(v) = victims.iter().find(|v| {
        ctx.state
            .zfs
            .pools
            .get(pool_of(v))
            .is_some_and(|p| p.readonly)
    }) {
        return Err(err(format!("cannot destroy '{v}': pool is read-only")));
    }
    for v in victims {
        if let Some(why) = busy_reason(ctx, v, force) {
            return Err(err(format!("{why}\ncannot destroy '{v}': dataset is busy")));
        }
    }
    Ok(())
}

/// The lines of `-v` (`will`/`would destroy`, `reclaim`) or `-p` (tab-separated).
fn destroy_report(ctx: &Ctx<'_>, o: &Opts, victims: &[String]) -> String {
    let mut out = String::new();
    if o.has('v') || o.has('p') {
        for v in victims {
            if o.has('p') {
                out.push_str(&format!("destroy\t{v}\n"));
            } else if o.has('n') {
                out.push_str(&format!("would destroy {v}\n"));
            } else {
                out.push_str(&format!("will destroy {v}\n"));
            }
        }
        let reclaim: u64 = victims.iter().map(|v| used(ctx, v)).sum();
        if o.has('p') {
            out.push_str(&format!("reclaim\t{reclaim}\n"));
        } else if o.has('n') {
            out.push_str(&format!("would reclaim {}\n", nicebytes(reclaim)));
        } else {
            out.push_str(&format!("will reclaim {}\n", nicebytes(reclaim)));
        }
    }
    out
}

/// Clones (and their descendants) of any snapshot in or below `victims`, transitively.
/// The datasets that depend on `name`, in the order OpenZFS 2.2's zfs_iter_dependents
/// gives them (lib/libzfs/libzfs_iter.c, iter_dependents_cb): a filesystem's children,
/// then its snapshots, a snapshot's clones, each dataset after its own dependents. A
/// filesystem met again on the way down is skipped when `allow_cycles`, else its name is
/// the error.
pub(super) fn dependents(
    z: &ZfsState,
    name: &str,
    allow_cycles: bool,
) -> Result<Vec<String>, String> {
    fn walk(
        z: &ZfsState,
        n: &str,
        first: bool,
        allow_cycles: bool,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        if n.contains('@') {
            let mut clones = z.clones_of(n);
            clones.sort();
            for c in clones {
                walk(z, &c, false, allow_cycles, stack, out)?;
            }
        } else {
            if stack.iter().any(|s| s == n) {
                return if allow_cycles {
                    Ok(())
                } else {
                    Err(n.to_string())
                };
            }
            stack.push(n.to_string());
            let children: Vec<String> = z
                .under(n, '/')
                .filter(|c| !c.contains('@') && parent_of(c) == Some(n))
                .cloned()
                .collect();
            for c in children {
                walk(z, &c, false, allow_cycles, stack, out)?;
            }
            let mut snaps: Vec<String> = z
                .under(n, '@')
                .filter(|c| fs_part(c) == n)
                .cloned()
                .collect();
            sort_names(z, &mut snaps);
            for c in snaps {
                walk(z, &c, false, allow_cycles, stack, out)?;
            }
            stack.pop();
        }
        if !first {
            out.push(n.to_string());
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(z, name, true, allow_cycles, &mut Vec::new(), &mut out)?;
    Ok(out)
}

pub(super) fn collect_dependents(ctx: &Ctx<'_>, victims: &[String]) -> Vec<String> {
    let z = &ctx.state.zfs;
    let mut set: BTreeSet<String> = victims.iter().cloned().collect();
    let mut out = Vec::new();
    loop {
        let mut added = false;
        let snaps: Vec<String> = set.iter().filter(|n| n.contains('@')).cloned().collect();
        for s in snaps {
            for c in z.clones_of(&s) {
                let mut group = vec![c.clone()];
                group.extend(z.descendants(&c));
                for g in group {
                    if set.insert(g.clone()) {
                        out.push(g);
                        added = true;
                    }
                }
            }
        }
        if !added {
            break;
        }
    }
    out
}
