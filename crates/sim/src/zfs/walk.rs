//! What `zfs get` and `zfs list` share: the operands walked (recursion, depth, types, a
//! mounted path as operand) and the table they print.
//!
//! Why it exists: both commands walk datasets the same way and print the same kind of table;
//! one walk keeps their order and their errors alike.

use super::getopt::usage_fail;
use super::{Fail, T_FS, T_SNAP, T_VOL, ZfsState, fs_part, open_as, parent_of, sort_names};
use crate::Ctx;
use std::collections::BTreeSet;
use std::path::Path;

/// Dataset types selectable with `-t`, as a `T_*` mask. OpenZFS 2.2 (cmd/zfs/zfs_main.c,
/// zfs_do_list and zfs_do_get) also takes `fs` and `vol` for filesystem and volume.
pub(super) fn parse_types(spec: &str, cmd: &str) -> Result<u8, Fail> {
    let mut mask = 0;
    for t in spec.split(',') {
        mask |= match t {
            "filesystem" | "fs" => T_FS,
            "volume" | "vol" => T_VOL,
            "snapshot" | "snap" => T_SNAP,
            "bookmark" => 0,
            "all" => T_FS | T_VOL | T_SNAP,
            _ => {
                return Err(usage_fail(cmd, &format!("invalid type '{t}'")));
            }
        };
    }
    Ok(mask)
}

pub(super) fn parse_depth(v: &str, cmd: &str) -> Result<u32, Fail> {
    v.parse::<u32>()
        .map_err(|_| usage_fail(cmd, &format!("{v} is not an integer")))
}

/// How a command walks its operands, as OpenZFS 2.2's zfs_for_each does
/// (cmd/zfs/zfs_iter.c).
pub(super) struct Walk {
    /// `-r` or `-d`.
    pub(super) recurse: bool,
    /// `-d N`.
    pub(super) limit: Option<u32>,
    /// The types shown.
    pub(super) types: u8,
    /// Snapshots under a recursion follow the pool's `listsnapshots` (off) rather than
    /// `types`: `zfs list` without `-t` (ZFS_ITER_PROP_LISTSNAPS).
    pub(super) listsnaps: bool,
    /// Operands may be paths (ZFS_ITER_ARGS_CAN_BE_PATHS: `list`, `get`).
    pub(super) paths: bool,
}

impl Walk {
    /// The named datasets only, of any type, no paths: what `set` and `inherit` walk.
    pub(super) fn named() -> Walk {
        Walk {
            recurse: false,
            limit: None,
            types: T_FS | T_VOL | T_SNAP,
            listsnaps: false,
            paths: false,
        }
    }
}

/// Run `walk` over `operands`: every operand is opened in turn (a failure is reported and
/// the others go on, zfs_for_each's `ret = 1`), the datasets found are gathered once each
/// (zfs_callback skips a name already in its tree) and come back in listing order (the
/// tree's order, zfs_compare: by filesystem name, a filesystem before its snapshots,
/// snapshots by creation). Returns the names and the error lines.
pub(super) fn for_each(ctx: &Ctx<'_>, operands: &[String], walk: &Walk) -> (Vec<String>, String) {
    let z = &ctx.state.zfs;
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut errors = String::new();
    // zfs_include_snapshots: listsnapshots is off on a fresh pool.
    let include_snaps = !walk.listsnaps && walk.types & T_SNAP != 0;
    let mut recurse = walk.recurse;
    let mut roots: Vec<String> = Vec::new();
    if operands.is_empty() {
        recurse = true;
        roots.extend(
            z.pools
                .keys()
                .filter(|p| z.datasets.contains_key(*p))
                .cloned(),
        );
    } else {
        // With recursion a filesystem is always a valid operand (and a volume when
        // snapshots are wanted).
        let mut argtype = walk.types;
        if recurse {
            argtype |= T_FS;
            if walk.types & T_SNAP != 0 {
                argtype |= T_VOL;
            }
        }
        for op in operands {
            let name = if walk.paths && op.starts_with('/') {
                match path_to_dataset(ctx, op) {
                    Ok(n) => n,
                    Err(e) => {
                        errors.push_str(&e);
                        continue;
                    }
                }
            } else {
                op.clone()
            };
            match open_as(ctx, &name, argtype) {
                Ok(_) => roots.push(name),
                Err(Fail(_, m)) => errors.push_str(&m),
            }
        }
    }
    fn visit(
        z: &ZfsState,
        n: &str,
        depth: u32,
        walk: &Walk,
        recurse: bool,
        include_snaps: bool,
        found: &mut BTreeSet<String>,
    ) {
        let is_snap = n.contains('@');
        let t = if is_snap { T_SNAP } else { T_FS };
        if walk.types & t != 0 || (is_snap && include_snaps) {
            found.insert(n.to_string());
        }
        let below_limit = walk.limit.is_none_or(|l| depth < l);
        if !recurse || !below_limit || is_snap {
            return;
        }
        let next = depth + 1;
        let fs_too = walk.limit.is_none_or(|l| next < l) || walk.types & (T_FS | T_VOL) != 0;
        // Only the names that start with `n/` or `n@` (a range of the sorted map, not a scan
        // of every dataset for every one visited).
        if fs_too {
            for c in z
                .under(n, '/')
                .filter(|c| !c.contains('@') && parent_of(c) == Some(n))
            {
                visit(z, c, next, walk, recurse, include_snaps, found);
            }
        }
        if include_snaps {
            for c in z.under(n, '@').filter(|c| fs_part(c) == n) {
                visit(z, c, next, walk, recurse, include_snaps, found);
            }
        }
    }
    for r in &roots {
        visit(z, r, 0, walk, recurse, include_snaps, &mut found);
    }
    let mut names: Vec<String> = found.into_iter().collect();
    sort_names(z, &mut names);
    (names, errors)
}

/// The filesystem a path is on, as libzfs's zfs_path_to_zhandle finds it through the mount
/// table: the mounted filesystem whose mountpoint is the longest prefix of the path.
pub(super) fn path_to_dataset(ctx: &Ctx<'_>, path: &str) -> Result<String, String> {
    if !ctx.host_path(Path::new(path)).exists() {
        return Err(format!("{path}: No such file or directory\n"));
    }
    let clean = path.trim_end_matches('/');
    // The filesystems mounted on the path's ancestors; a relative path is looked up from
    // `/`, where only a filesystem mounted on `/` can hold it.
    super::mount_index::holding(&ctx.state.zfs, &Path::new("/").join(path))
        .iter()
        .filter(|(_, mp)| {
            mp == "/"
                || clean == mp
                || clean
                    .strip_prefix(mp.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|(_, mp)| mp.len())
        .map(|(n, _)| n.clone())
        .ok_or_else(|| format!("'{path}': not a ZFS filesystem\n"))
}

/// `-t snapshot NAME` without `-r`/`-d`: OpenZFS 2.2 (cmd/zfs/zfs_main.c, zfs_do_list and
/// zfs_do_get) then lists NAME's snapshots, as `-d 1`.
pub(super) fn snapshots_of_operands(
    types: u8,
    operands: &[String],
    walk_limit: &mut Option<u32>,
    recurse: &mut bool,
) {
    if types == T_SNAP && !operands.is_empty() && !*recurse && walk_limit.is_none() {
        *recurse = true;
        *walk_limit = Some(1);
    }
}

/// Format rows as zfs does: tab-separated with `-H`, else padded columns under a header
/// (`right` lists the right-aligned columns, as numbers are in `zfs list`).
pub(super) fn table(
    header: &[String],
    rows: &[Vec<String>],
    scripted: bool,
    right: &[usize],
) -> String {
    let mut out = String::new();
    if scripted {
        for r in rows {
            out.push_str(&r.join("\t"));
            out.push('\n');
        }
        return out;
    }
    let mut w: Vec<usize> = header.iter().map(String::len).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            if right.contains(&i) {
                s.push_str(&format!("{c:>width$}", width = w[i]));
            } else if last {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}", width = w[i]));
            }
            if !last {
                s.push_str("  ");
            }
        }
        s.push('\n');
        s
    };
    out.push_str(&line(header));
    for r in rows {
        out.push_str(&line(r));
    }
    out
}
