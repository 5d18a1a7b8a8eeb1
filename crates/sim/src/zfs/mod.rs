//! zfs(8) and zpool(8) on the simulated host: pools, filesystems, snapshots, clones and their
//! properties, with the files behind them.
//!
//! Why it exists: jailctl's storage layer (base snapshots, jail clones, volumes, the
//! `jailctl:*` ownership marks) must be exercised against something that refuses what a real
//! ZFS refuses. The interpreter below follows OpenZFS 2.2 as shipped in FreeBSD 14: the same
//! options, the same `cannot ...: reason` messages, exit status 1 for a failed operation and 2
//! (with usage text) for a malformed command.
//!
//! Files: a mounted filesystem is a directory under the simulator's root (its `mountpoint`
//! mapped through [`Ctx::host_path`]). `zfs snapshot` copies that directory (without the
//! directories of child filesystems) to `DIR/snapshots/<dataset>@<snap>`; `zfs clone` fills the
//! clone's mountpoint from it; `zfs rollback` puts that copy back; `zfs destroy` removes both.
//! A filesystem that stops being mounted (`mountpoint=none`) keeps its files in
//! `DIR/unmounted/<dataset>` (they follow a `zfs rename`) and gets them back when it is
//! mounted again, as a real dataset keeps its data while unmounted.
//! `zfs send`/`receive` are in [`send`]. Volumes, bookmarks, holds and `zfs jail` are not
//! modelled and say so.
//!
//! The files follow the seams of zfs(8): one per subcommand (`create` with clone, `snapshot`,
//! `rollback`, `destroy`, `set` with inherit, `get`, `list`, `rename`, `promote`, `send`,
//! `receive`), with what they share below them: `names` (dataset name checks), `props` (the
//! property table, value checks and inheritance), `values` (a property's value as printed),
//! `files` (the directories behind datasets and the space counted from them), `mounts`,
//! `getopt` (options and usage text) and `walk` (the operand walk and table of get and
//! list). `zpool` is zpool(8). This file keeps the dataset types, the name helpers, opening
//! a dataset and the dispatch.

mod create;
mod destroy;
mod files;
mod get;
mod getopt;
mod list;
mod mount_index;
mod mounts;
mod names;
mod promote;
mod props;
pub mod receive;
mod rename;
mod rollback;
pub mod send;
mod set;
mod snapshot;
mod values;
mod walk;
mod zpool;

use super::Ctx;
use crate::table::Table;
use create::{clone, create};
use destroy::destroy;
use get::get;
use getopt::main_usage;
use jailctl_host::Output;
use list::list;
pub use mounts::{ensure_mount_dirs, exec_off_at, mounted_filesystems};
use names::check_name;
use promote::promote;
use rename::rename;
use rollback::rollback;
use serde::{Deserialize, Serialize};
use set::{inherit, set};
use snapshot::snapshot;
use std::collections::BTreeMap;
pub use values::{nicebytes, nicenum};
pub use zpool::{init_fresh, run_zpool};

/// Size the simulated pools report (1 TiB).
pub const POOL_SIZE: u64 = 1 << 40;
/// Space a freshly created, empty filesystem references (as OpenZFS reports it).
const EMPTY_FS: u64 = 96 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ZfsState {
    /// Pools by name.
    pub pools: BTreeMap<String, SimPool>,
    /// Filesystems and snapshots by full name (`zroot/a/b`, `zroot/a@snap`).
    pub datasets: Table<String, SimDataset>,
    /// The mounted filesystems as [`mounted_filesystems`] lists them, for the datasets'
    /// version it was computed at.
    #[serde(skip)]
    pub mounted: crate::table::Memo<Vec<(String, String)>>,
    /// Which filesystem is mounted where, kept up to date change by change
    /// ([`mount_index`]): the lookups of one path cost what that path touches.
    #[serde(skip)]
    mount_index: mount_index::MountIndex,
    /// Transaction group counter: orders snapshots and gives `createtxg`.
    pub txg: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimPool {
    pub size: u64,
    /// `ONLINE`, `DEGRADED`, `FAULTED`... (tests may change it).
    pub health: String,
    pub readonly: bool,
    pub guid: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DsKind {
    Filesystem,
    Snapshot,
}

/// One filesystem or snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimDataset {
    pub kind: DsKind,
    /// Locally set properties, native (canonical form: sizes in bytes) and user (`a:b`).
    pub props: BTreeMap<String, String>,
    /// For a clone: the snapshot it was cloned from.
    pub origin: Option<String>,
    pub createtxg: u64,
    /// Seconds since the epoch.
    pub creation: u64,
    pub guid: u64,
    pub mounted: bool,
    /// Properties received with a `zfs send -p` stream (source `received`): a local value
    /// overrides them, and they override inherited ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub received: BTreeMap<String, String>,
}

impl ZfsState {
    /// Full names of the clones of snapshot `snap`.
    pub fn clones_of(&self, snap: &str) -> Vec<String> {
        self.datasets
            .iter()
            .filter(|(_, d)| d.origin.as_deref() == Some(snap))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The dataset names that start with `n` followed by `sep` (`/` for descendants, `@`
    /// for snapshots), in order: the range from `n` + `sep` to `n` + the next character, not
    /// a scan of every dataset.
    pub fn under<'a>(&'a self, n: &str, sep: char) -> impl Iterator<Item = &'a String> + 'a {
        keys_under(&self.datasets, n, sep)
    }

    /// Descendants of `name` (child filesystems at any depth and all their snapshots, and
    /// `name`'s own snapshots), in listing order.
    pub fn descendants(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .under(name, '@')
            .chain(self.under(name, '/'))
            .filter(|n| is_below(n, name))
            .cloned()
            .collect();
        sort_names(self, &mut v);
        v
    }
}

/// The keys of `m` that start with `n` followed by `sep`, as a range of the sorted keys
/// ([`ZfsState::under`]).
fn keys_under<'a, V>(
    m: &'a BTreeMap<String, V>,
    n: &str,
    sep: char,
) -> impl Iterator<Item = &'a String> + 'a {
    use std::ops::Bound;
    let lo = format!("{n}{sep}");
    let hi = format!("{n}{}", char::from(sep as u8 + 1));
    m.range::<str, _>((Bound::Included(lo.as_str()), Bound::Excluded(hi.as_str())))
        .map(|(k, _)| k)
}

/// `n` is a strict descendant of `name` (child filesystem or snapshot at any depth).
fn is_below(n: &str, name: &str) -> bool {
    n.len() > name.len() && n.starts_with(name) && matches!(n.as_bytes()[name.len()], b'/' | b'@')
}

fn fs_part(n: &str) -> &str {
    n.split('@').next().unwrap_or(n)
}

fn parent_of(n: &str) -> Option<&str> {
    if let Some((fs, _)) = n.split_once('@') {
        return Some(fs);
    }
    n.rsplit_once('/').map(|(p, _)| p)
}

fn pool_of(n: &str) -> &str {
    n.split(['/', '@']).next().unwrap_or(n)
}

/// Listing order: by filesystem name, a filesystem before its snapshots, snapshots by age.
fn sort_names(z: &ZfsState, v: &mut [String]) {
    v.sort_by(|a, b| {
        let ka = (
            fs_part(a),
            a.contains('@'),
            z.datasets.get(a).map_or(0, |d| d.createtxg),
        );
        let kb = (
            fs_part(b),
            b.contains('@'),
            z.datasets.get(b).map_or(0, |d| d.createtxg),
        );
        ka.cmp(&kb)
    });
}

// ---------------------------------------------------------------------------------------
// Properties

/// A failed command: exit status and stderr.
struct Fail(i32, String);

type Res = Result<String, Fail>;

fn err(msg: impl Into<String>) -> Fail {
    let mut m = msg.into();
    if !m.ends_with('\n') {
        m.push('\n');
    }
    Fail(1, m)
}

pub fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let Some(sub) = args.first() else {
        return Output::fail(2, main_usage());
    };
    let rest = &args[1..];
    let r = match sub.as_str() {
        "create" => create(ctx, rest),
        "snapshot" | "snap" => snapshot(ctx, rest),
        "clone" => clone(ctx, rest),
        "destroy" => destroy(ctx, rest),
        "set" => set(ctx, rest),
        "get" => return listing(get(ctx, rest)),
        "inherit" => inherit(ctx, rest),
        "list" | "ls" => return listing(list(ctx, rest)),
        "rename" => rename(ctx, rest),
        "promote" => promote(ctx, rest),
        "rollback" => rollback(ctx, rest),
        "send" => send::send(ctx, rest),
        "receive" | "recv" => receive::receive(ctx, rest),
        "bookmark" | "hold" | "release" | "jail" | "unjail" | "mount" | "unmount" | "umount"
        | "program" | "diff" | "allow" | "unallow" | "upgrade" | "userspace" | "groupspace"
        | "share" | "unshare" => Err(err(format!(
            "zfs {sub}: not modelled by the simulated host (use real-ZFS mode, see docs/simulator.md)"
        ))),
        _ => Err(Fail(
            2,
            format!("unrecognized command '{sub}'\n{}", main_usage()),
        )),
    };
    match r {
        Ok(stdout) => Output::ok(stdout),
        Err(Fail(code, msg)) => Output::fail(code, msg),
    }
}

/// The exit of `get`/`list`: 1 when an operand failed, the rest printed anyway.
fn listing(r: Listing) -> Output {
    match r {
        Ok((stdout, stderr)) => Output {
            status: i32::from(!stderr.is_empty() && stderr != "no datasets available\n"),
            stdout,
            stderr,
        },
        Err(Fail(code, msg)) => Output::fail(code, msg),
    }
}

/// Look up an existing dataset, failing as `cannot open 'N': ...`.
fn open<'a>(ctx: &'a Ctx<'_>, name: &str) -> Result<&'a SimDataset, Fail> {
    if let Err(e) = check_name(name, true) {
        return Err(err(format!("cannot open '{name}': {e}")));
    }
    ctx.state
        .zfs
        .datasets
        .get(name)
        .ok_or_else(|| err(format!("cannot open '{name}': dataset does not exist")))
}

/// Dataset types, as the `types` mask libzfs's zfs_open takes.
const T_FS: u8 = 1;
const T_VOL: u8 = 2;
const T_SNAP: u8 = 4;

/// Open a dataset of one of `types` as OpenZFS 2.2's zfs_open does
/// (lib/libzfs/libzfs_dataset.c): the name is checked (zfs_validate_name: the name itself,
/// then an `@` where no snapshot is wanted, or none where only a snapshot is), then the
/// dataset must exist, then be of a wanted type.
fn open_as<'a>(ctx: &'a Ctx<'_>, name: &str, types: u8) -> Result<&'a SimDataset, Fail> {
    let fail = |why: &str| err(format!("cannot open '{name}': {why}"));
    check_name(name, true).map_err(|e| fail(&e))?;
    if types & T_SNAP == 0 && name.contains('@') {
        return Err(fail("snapshot delimiter '@' is not expected here"));
    }
    if types == T_SNAP && !name.contains('@') {
        return Err(fail("missing '@' delimiter in snapshot name"));
    }
    let d = ctx
        .state
        .zfs
        .datasets
        .get(name)
        .ok_or_else(|| fail("dataset does not exist"))?;
    let t = match d.kind {
        DsKind::Filesystem => T_FS,
        DsKind::Snapshot => T_SNAP,
    };
    if types & t == 0 {
        return Err(fail("operation not applicable to datasets of this type"));
    }
    Ok(d)
}

fn pool_writable(ctx: &Ctx<'_>, name: &str, action: &str) -> Result<(), Fail> {
    match ctx.state.zfs.pools.get(pool_of(name)) {
        None => Err(err(format!("{action}: no such pool '{}'", pool_of(name)))),
        Some(p) if p.readonly => Err(err(format!("{action}: pool is read-only"))),
        Some(p) if p.health == "FAULTED" || p.health == "SUSPENDED" => {
            Err(err(format!("{action}: pool I/O is currently suspended")))
        }
        Some(_) => Ok(()),
    }
}

fn next_txg(ctx: &mut Ctx<'_>) -> u64 {
    ctx.state.zfs.txg += 1;
    ctx.state.zfs.txg
}

fn new_guid(ctx: &Ctx<'_>, name: &str) -> u64 {
    // Deterministic per name and txg, distinct enough for a simulated pool.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ ctx.state.zfs.txg;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What `get` and `list` print: stdout, and the errors of operands that could not be
/// opened (exit status 1 when there are any, the others still printed).
type Listing = Result<(String, String), Fail>;

#[cfg(test)]
mod tests;
