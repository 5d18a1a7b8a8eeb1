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
//! `zfs send`/`receive` are in [`send`] and [`receive`]. Volumes, bookmarks, holds and
//! `zfs jail` are not modelled and say so.

pub mod receive;
pub mod send;

use super::{Ctx, SimState};
use jailctl_host::Output;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Size the simulated pools report (1 TiB).
pub const POOL_SIZE: u64 = 1 << 40;
/// Space a freshly created, empty filesystem references (as OpenZFS reports it).
const EMPTY_FS: u64 = 96 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ZfsState {
    /// Pools by name.
    pub pools: BTreeMap<String, SimPool>,
    /// Filesystems and snapshots by full name (`zroot/a/b`, `zroot/a@snap`).
    pub datasets: BTreeMap<String, SimDataset>,
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

    /// Descendants of `name` (child filesystems at any depth and all their snapshots, and
    /// `name`'s own snapshots), in listing order.
    pub fn descendants(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .datasets
            .keys()
            .filter(|n| is_below(n, name))
            .cloned()
            .collect();
        sort_names(self, &mut v);
        v
    }
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PKind {
    /// Computed, read-only.
    Ro,
    /// A size; `none` (0) allowed.
    SizeNone,
    /// One of a fixed list.
    Index(&'static [&'static str]),
    Mountpoint,
    Compression,
    RecordSize,
}

struct PropDef {
    name: &'static str,
    abbrev: &'static str,
    kind: PKind,
    inherit: bool,
    default: &'static str,
    /// Shown for snapshots.
    snap: bool,
    values: &'static str,
}

const ONOFF: &[&str] = &["on", "off"];

const PROPS: &[PropDef] = &[
    ro(
        "type",
        "",
        true,
        "filesystem | volume | snapshot | bookmark",
    ),
    ro("creation", "", true, "<date>"),
    ro("used", "", true, "<size>"),
    ro("available", "avail", false, "<size>"),
    ro("referenced", "refer", true, "<size>"),
    ro(
        "compressratio",
        "ratio",
        true,
        "<1.00x or higher if compressed>",
    ),
    ro("mounted", "", false, "yes | no"),
    ro("origin", "", false, "<snapshot>"),
    ro("clones", "", true, "<dataset>[,...]"),
    ro("createtxg", "", true, "<uint64>"),
    ro("guid", "", true, "<uint64>"),
    ro("usedbychildren", "usedchild", false, "<size>"),
    ro("usedbydataset", "usedds", false, "<size>"),
    ro("usedbysnapshots", "usedsnap", false, "<size>"),
    ro("name", "", true, "<name>"),
    def("atime", "", PKind::Index(ONOFF), true, "on", "on | off"),
    def(
        "canmount",
        "",
        PKind::Index(&["on", "off", "noauto"]),
        false,
        "on",
        "on | off | noauto",
    ),
    def(
        "checksum",
        "",
        PKind::Index(&[
            "on",
            "off",
            "fletcher2",
            "fletcher4",
            "sha256",
            "sha512",
            "skein",
            "blake3",
        ]),
        true,
        "on",
        "on | off | fletcher2 | fletcher4 | sha256 | sha512 | skein | blake3",
    ),
    def(
        "compression",
        "compress",
        PKind::Compression,
        true,
        "off",
        "on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | zstd-fast-[1-10,20,30,...,100,500,1000]",
    ),
    def(
        "copies",
        "",
        PKind::Index(&["1", "2", "3"]),
        true,
        "1",
        "1 | 2 | 3",
    ),
    def(
        "dedup",
        "",
        PKind::Index(&["on", "off", "verify", "sha256", "sha512", "skein"]),
        true,
        "off",
        "on | off | verify | sha256[,verify] | sha512[,verify] | skein[,verify]",
    ),
    def("devices", "", PKind::Index(ONOFF), true, "on", "on | off"),
    def("exec", "", PKind::Index(ONOFF), true, "on", "on | off"),
    def("jailed", "", PKind::Index(ONOFF), true, "off", "on | off"),
    def(
        "mountpoint",
        "",
        PKind::Mountpoint,
        true,
        "",
        "<path> | legacy | none",
    ),
    def("quota", "", PKind::SizeNone, false, "0", "<size> | none"),
    def(
        "readonly",
        "rdonly",
        PKind::Index(ONOFF),
        true,
        "off",
        "on | off",
    ),
    def(
        "recordsize",
        "recsize",
        PKind::RecordSize,
        true,
        "131072",
        "512 to 1M, power of 2",
    ),
    def("refquota", "", PKind::SizeNone, false, "0", "<size> | none"),
    def(
        "refreservation",
        "refreserv",
        PKind::SizeNone,
        false,
        "0",
        "<size> | none",
    ),
    def(
        "reservation",
        "reserv",
        PKind::SizeNone,
        false,
        "0",
        "<size> | none",
    ),
    def("setuid", "", PKind::Index(ONOFF), true, "on", "on | off"),
    def(
        "snapdir",
        "",
        PKind::Index(&["hidden", "visible"]),
        true,
        "hidden",
        "hidden | visible",
    ),
    def(
        "sync",
        "",
        PKind::Index(&["standard", "always", "disabled"]),
        true,
        "standard",
        "standard | always | disabled",
    ),
    def(
        "xattr",
        "",
        PKind::Index(&["on", "off", "sa", "dir"]),
        true,
        "on",
        "on | off | dir | sa",
    ),
];

const fn ro(name: &'static str, abbrev: &'static str, snap: bool, values: &'static str) -> PropDef {
    PropDef {
        name,
        abbrev,
        kind: PKind::Ro,
        inherit: false,
        default: "",
        snap,
        values,
    }
}

const fn def(
    name: &'static str,
    abbrev: &'static str,
    kind: PKind,
    inherit: bool,
    default: &'static str,
    values: &'static str,
) -> PropDef {
    PropDef {
        name,
        abbrev,
        kind,
        inherit,
        default,
        snap: false,
        values,
    }
}

/// Native properties a snapshot shows: the read-only ones marked `snap` and the mount
/// options that also govern a snapshot's `.zfs/snapshot` mount.
fn applies_to_snapshot(p: &PropDef) -> bool {
    p.snap || matches!(p.name, "exec" | "setuid" | "devices" | "xattr")
}

fn prop_def(name: &str) -> Option<&'static PropDef> {
    PROPS
        .iter()
        .find(|p| p.name == name || (!p.abbrev.is_empty() && p.abbrev == name))
}

/// A user property name: `module:name`, lower-case letters, digits, `-_.:`.
/// module/zcommon/zfs_prop.c, zfs_prop_user: lower-case letters, digits and `-_.:` with at
/// least one `:` anywhere (`:x` is a user property too).
fn is_user_prop(name: &str) -> bool {
    name.contains(':')
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.:".contains(c))
}

/// A property name `get`/`list` accept: native (full or abbreviated) or user.
fn canon_prop(name: &str) -> Option<String> {
    if let Some(p) = prop_def(name) {
        return Some(p.name.to_string());
    }
    is_user_prop(name).then(|| name.to_string())
}

/// Parse a size the way zfs_nicestrtonum does: digits with an optional fraction and a
/// B/K/M/G/T/P/E suffix (optionally followed by `B`).
fn parse_size(v: &str) -> Result<u64, String> {
    let num_end = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, suffix) = v.split_at(num_end);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 {
        return Err(format!("bad numeric value '{v}'"));
    }
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        "P" | "PB" | "PIB" => 50,
        "E" | "EB" | "EIB" => 60,
        _ => return Err(format!("invalid numeric suffix '{suffix}'")),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad numeric value '{v}'"))?;
    let bytes = n * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("numeric value is too large '{v}'"));
    }
    Ok(bytes as u64)
}

/// Check and canonicalize a value for a settable native property. Errors are the reason
/// part of `cannot set property for 'P': REASON`.
fn check_value(p: &PropDef, v: &str) -> Result<String, String> {
    match p.kind {
        PKind::Ro => Err(format!("'{}' is readonly", p.name)),
        PKind::SizeNone => {
            if v == "none" {
                return Ok("0".into());
            }
            let n = parse_size(v)?;
            // lib/libzfs/libzfs_util.c, zprop_parse_value: a quota or refquota of 0 spelt
            // as a number is refused; only "none" turns it off.
            if n == 0 && matches!(p.name, "quota" | "refquota") {
                return Err("use 'none' to disable quota/refquota".into());
            }
            Ok(n.to_string())
        }
        PKind::Index(vals) => {
            if vals.contains(&v) {
                Ok(v.to_string())
            } else {
                Err(format!(
                    "'{}' must be one of '{}'",
                    p.name,
                    vals.join(" | ")
                ))
            }
        }
        PKind::Mountpoint => {
            if v == "none" || v == "legacy" {
                Ok(v.to_string())
            } else if v.starts_with('/') {
                let t = v.trim_end_matches('/');
                Ok(if t.is_empty() { "/".into() } else { t.into() })
            } else {
                Err(format!(
                    "'{}' must be an absolute path, 'none', or 'legacy'",
                    p.name
                ))
            }
        }
        PKind::Compression => {
            let ok = matches!(
                v,
                "on" | "off" | "lzjb" | "gzip" | "zle" | "lz4" | "zstd" | "zstd-fast"
            ) || v
                .strip_prefix("gzip-")
                .is_some_and(|n| matches!(n.parse::<u8>(), Ok(1..=9)))
                || v.strip_prefix("zstd-fast-").is_some_and(|n| {
                    matches!(
                        n.parse::<u16>(),
                        Ok(1..=10 | 20 | 30 | 40 | 50 | 60 | 70 | 80 | 90 | 100 | 500 | 1000)
                    )
                })
                || v.strip_prefix("zstd-")
                    .is_some_and(|n| matches!(n.parse::<u8>(), Ok(1..=19)));
            if ok {
                Ok(v.to_string())
            } else {
                Err(format!("'{}' must be one of '{}'", p.name, p.values))
            }
        }
        PKind::RecordSize => {
            let n = parse_size(v)?;
            if n.is_power_of_two() && (512..=1 << 20).contains(&n) {
                Ok(n.to_string())
            } else {
                Err(format!(
                    "'{}' must be power of 2 from 512B to 1024KB",
                    p.name
                ))
            }
        }
    }
}

/// Validate `prop=value` for `name` (a filesystem or snapshot); returns the canonical pair.
/// The order is lib/libzfs/libzfs_dataset.c, zfs_valid_proplist's: a user property is
/// taken; on a snapshot nothing else is; then an unknown name, a read-only property, the
/// value.
fn check_assignment(kind: DsKind, prop: &str, value: &str) -> Result<(String, String), String> {
    if prop_def(prop).is_none() && is_user_prop(prop) {
        if value.len() > 8192 {
            return Err(format!("property value '{prop}' is too long"));
        }
        return Ok((prop.to_string(), value.to_string()));
    }
    if kind == DsKind::Snapshot {
        return Err("this property can not be modified for snapshots".into());
    }
    let Some(p) = prop_def(prop) else {
        return Err(format!("invalid property '{prop}'"));
    };
    if p.kind == PKind::Ro {
        return Err(format!("'{}' is readonly", p.name));
    }
    Ok((p.name.to_string(), check_value(p, value)?))
}

/// Where a property value comes from, as the SOURCE column shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Local,
    Received,
    Default,
    Inherited(String),
    None,
}

impl Source {
    fn show(&self) -> String {
        match self {
            Source::Local => "local".into(),
            Source::Received => "received".into(),
            Source::Default => "default".into(),
            Source::Inherited(from) => format!("inherited from {from}"),
            Source::None => "-".into(),
        }
    }
    fn class(&self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Received => "received",
            Source::Default => "default",
            Source::Inherited(_) => "inherited",
            Source::None => "none",
        }
    }
}

/// A property value, raw (as `-p` prints it) and the source.
struct PropVal {
    raw: String,
    human: String,
    source: Source,
}

impl PropVal {
    fn plain(v: impl Into<String>, source: Source) -> Self {
        let v = v.into();
        PropVal {
            raw: v.clone(),
            human: v,
            source,
        }
    }
    fn none() -> Self {
        PropVal::plain("-", Source::None)
    }
    fn size(n: u64, source: Source) -> Self {
        PropVal {
            raw: n.to_string(),
            human: nicebytes(n),
            source,
        }
    }
}

/// A size in bytes as OpenZFS 2.2 prints it: [`nicenum`] with `B` for less than 1 KiB
/// (`0B`, `376B`, `96K`): lib/libzutil/zutil_nicenum.c, `zfs_nicenum_format` with
/// `ZFS_NICENUM_BYTES`, whose first unit is "B", used by `zfs_nicebytes` for every size
/// property. zfs-fuse prints the bare number (`0`), one of the known differences.
pub fn nicebytes(n: u64) -> String {
    if n < 1024 {
        format!("{n}B")
    } else {
        nicenum(n)
    }
}

/// Human-readable size as zfs prints it (`0`, `512`, `96K`, `1.21M`, `90.3G`).
pub fn nicenum(n: u64) -> String {
    const UNITS: &[char] = &['K', 'M', 'G', 'T', 'P', 'E'];
    if n < 1024 {
        return n.to_string();
    }
    let mut idx = 0;
    let mut div = 1024u64;
    while idx + 1 < UNITS.len() && n / div >= 1024 {
        div *= 1024;
        idx += 1;
    }
    let u = UNITS[idx];
    if n.is_multiple_of(div) {
        return format!("{}{u}", n / div);
    }
    let f = n as f64 / div as f64;
    for prec in [2usize, 1, 0] {
        let s = format!("{f:.prec$}{u}");
        if s.len() <= 5 {
            return s;
        }
    }
    format!("{f:.0}{u}")
}

/// `Tue Nov 24 22:36 2026`, the way zfs prints `creation` (UTC on the simulated host).
fn ctime(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02} {}",
        WD[(days.rem_euclid(7)) as usize],
        MO[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        y
    )
}

/// Days since 1970-01-01 to a (year, month, day) civil date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The value of an inheritable or defaulted native property: local, inherited, or default.
fn inherited_value(z: &ZfsState, name: &str, prop: &str) -> (String, Source) {
    if let Some(v) = z.datasets.get(name).and_then(|d| d.props.get(prop)) {
        return (v.clone(), Source::Local);
    }
    if let Some(v) = z.datasets.get(name).and_then(|d| d.received.get(prop)) {
        return (v.clone(), Source::Received);
    }
    let inherit = prop_def(prop).is_none_or(|p| p.inherit);
    if inherit {
        let mut cur = parent_of(name);
        while let Some(p) = cur {
            if let Some(v) = z.datasets.get(p).and_then(|d| d.props.get(prop)) {
                return (v.clone(), Source::Inherited(p.to_string()));
            }
            cur = parent_of(p);
        }
    }
    match prop_def(prop) {
        Some(p) => (p.default.to_string(), Source::Default),
        None => ("-".into(), Source::None),
    }
}

/// The effective mountpoint of filesystem `name`: set locally, or the nearest ancestor's
/// with the path below it appended, or `/<pool>` by default.
fn mountpoint(z: &ZfsState, name: &str) -> (String, Source) {
    let mut suffix: Vec<&str> = Vec::new();
    let mut cur = Some(name);
    while let Some(n) = cur {
        if let Some(v) = z
            .datasets
            .get(n)
            .and_then(|d| d.props.get("mountpoint").or(d.received.get("mountpoint")))
        {
            let src = if n == name {
                Source::Local
            } else {
                Source::Inherited(n.to_string())
            };
            if v == "none" || v == "legacy" {
                return (v.clone(), src);
            }
            let mut path = v.clone();
            for s in suffix.iter().rev() {
                if !path.ends_with('/') {
                    path.push('/');
                }
                path.push_str(s);
            }
            return (path, src);
        }
        if let Some((p, last)) = n.rsplit_once('/') {
            suffix.push(last);
            cur = Some(p);
        } else {
            suffix.push(n);
            cur = None;
        }
    }
    let path = format!(
        "/{}",
        suffix.iter().rev().cloned().collect::<Vec<_>>().join("/")
    );
    (path, Source::Default)
}

/// Where filesystem `name`'s files are on this machine, if it is mounted.
fn local_dir(ctx: &Ctx<'_>, name: &str) -> Option<PathBuf> {
    let d = ctx.state.zfs.datasets.get(name)?;
    if d.kind != DsKind::Filesystem || !d.mounted {
        return None;
    }
    let (mp, _) = mountpoint(&ctx.state.zfs, name);
    mp.starts_with('/').then(|| ctx.host_path(Path::new(&mp)))
}

/// Where snapshot `snap`'s captured files are kept.
fn snap_dir(ctx: &Ctx<'_>, snap: &str) -> PathBuf {
    let base = ctx.root.parent().unwrap_or(ctx.root).join("snapshots");
    super::map_path(&base, Path::new(&format!("/{snap}")))
}

/// Where an unmounted filesystem `name`'s files are kept.
fn unmounted_dir(ctx: &Ctx<'_>, name: &str) -> PathBuf {
    let base = ctx.root.parent().unwrap_or(ctx.root).join("unmounted");
    super::map_path(&base, Path::new(&format!("/{name}")))
}

/// Move a directory to `to` (its parents made, anything already there replaced); the
/// directories left empty above `from` inside `DIR/unmounted` go.
fn move_dir(ctx: &Ctx<'_>, from: &Path, to: &Path) {
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
fn dir_bytes(dir: &Path, skip: &BTreeSet<PathBuf>) -> u64 {
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
fn child_dirs(ctx: &Ctx<'_>, name: &str) -> BTreeSet<PathBuf> {
    ctx.state
        .zfs
        .datasets
        .keys()
        .filter(|n| is_below(n, name) && !n.contains('@'))
        .filter_map(|n| local_dir(ctx, n))
        .collect()
}

/// Copy `from` into `to` recursively, not descending into `skip`.
fn copy_tree(from: &Path, to: &Path, skip: &BTreeSet<PathBuf>) -> std::io::Result<()> {
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
fn clear_dir(dir: &Path, keep: &BTreeSet<PathBuf>) -> std::io::Result<()> {
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
fn referenced(ctx: &Ctx<'_>, name: &str) -> u64 {
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
fn used(ctx: &Ctx<'_>, name: &str) -> u64 {
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
        .datasets
        .keys()
        .filter(|n| parent_of(n) == Some(name) && !n.contains('@'))
        .map(|n| used(ctx, n))
        .sum();
    own + children
}

fn available(ctx: &Ctx<'_>, name: &str) -> u64 {
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

/// The value of `prop` on dataset `name` (which exists), or `None` if the property does not
/// apply to that dataset (shown as `-`).
fn prop_value(ctx: &Ctx<'_>, name: &str, prop: &str) -> PropVal {
    let z = &ctx.state.zfs;
    let d = &z.datasets[name];
    let is_snap = d.kind == DsKind::Snapshot;
    if prop.contains(':') {
        // User properties: snapshots inherit them from their filesystem too.
        let (v, src) = inherited_value(z, name, prop);
        return PropVal::plain(v, src);
    }
    let Some(p) = prop_def(prop) else {
        return PropVal::none();
    };
    if is_snap && !applies_to_snapshot(p) && p.kind != PKind::Ro {
        return PropVal::none();
    }
    match p.name {
        "name" => PropVal::plain(name, Source::None),
        "type" => PropVal::plain(
            if is_snap { "snapshot" } else { "filesystem" },
            Source::None,
        ),
        "creation" => PropVal {
            raw: d.creation.to_string(),
            human: ctime(d.creation),
            source: Source::None,
        },
        "createtxg" => PropVal::plain(d.createtxg.to_string(), Source::None),
        "guid" => PropVal::plain(d.guid.to_string(), Source::None),
        "used" => PropVal::size(used(ctx, name), Source::None),
        "usedbysnapshots" if !is_snap => PropVal::size(0, Source::None),
        "usedbydataset" if !is_snap => {
            let ch: u64 = z
                .datasets
                .keys()
                .filter(|n| parent_of(n) == Some(name) && !n.contains('@'))
                .map(|n| used(ctx, n))
                .sum();
            PropVal::size(used(ctx, name) - ch, Source::None)
        }
        "usedbychildren" if !is_snap => {
            let ch: u64 = z
                .datasets
                .keys()
                .filter(|n| parent_of(n) == Some(name) && !n.contains('@'))
                .map(|n| used(ctx, n))
                .sum();
            PropVal::size(ch, Source::None)
        }
        "available" if !is_snap => PropVal::size(available(ctx, name), Source::None),
        "referenced" => PropVal::size(referenced(ctx, name), Source::None),
        "compressratio" => PropVal {
            raw: "1.00".into(),
            human: "1.00x".into(),
            source: Source::None,
        },
        "mounted" if !is_snap => PropVal::plain(if d.mounted { "yes" } else { "no" }, Source::None),
        "origin" if !is_snap => match &d.origin {
            Some(o) => PropVal::plain(o.clone(), Source::None),
            None => PropVal::none(),
        },
        "clones" if is_snap => {
            let c = z.clones_of(name);
            if c.is_empty() {
                PropVal::plain("", Source::None)
            } else {
                PropVal::plain(c.join(","), Source::None)
            }
        }
        "mountpoint" => {
            let (v, src) = mountpoint(z, name);
            PropVal::plain(v, src)
        }
        _ if p.kind == PKind::Ro => PropVal::none(),
        _ => {
            let (v, src) = inherited_value(z, name, p.name);
            match p.kind {
                PKind::SizeNone => {
                    let n: u64 = v.parse().unwrap_or(0);
                    PropVal {
                        raw: n.to_string(),
                        human: if n == 0 { "none".into() } else { nicebytes(n) },
                        source: src,
                    }
                }
                PKind::RecordSize => {
                    let n: u64 = v.parse().unwrap_or(131072);
                    PropVal {
                        raw: n.to_string(),
                        human: nicebytes(n),
                        source: src,
                    }
                }
                _ => PropVal::plain(v, src),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Names

/// Check a dataset name; `Err(reason)` in zfs's words.
fn check_name(name: &str, allow_snap: bool) -> Result<(), String> {
    if name.len() >= 256 {
        return Err("name is too long".into());
    }
    if name.starts_with('/') {
        return Err("leading slash in name".into());
    }
    if name.ends_with('/') {
        return Err("trailing slash in name".into());
    }
    if name.matches('@').count() > 1 {
        // module/zcommon/zfs_namecheck.c, entity_namecheck: NAME_ERR_MULTIPLE_DELIMITERS,
        // worded by libzfs_dataset.c, zfs_validate_name.
        return Err("multiple '@' and/or '#' delimiters in name".into());
    }
    if name.contains('#') {
        return Err("bookmarks are not modelled by the simulated host".into());
    }
    let (fs, snap) = match name.split_once('@') {
        Some((f, s)) => (f, Some(s)),
        None => (name, None),
    };
    for comp in fs.split('/') {
        if comp.is_empty() {
            return Err("empty component or misplaced '@' or '#' delimiter in name".into());
        }
        check_chars(comp)?;
    }
    if let Some(s) = snap {
        if s.is_empty() {
            return Err("empty component or misplaced '@' or '#' delimiter in name".into());
        }
        check_chars(s)?;
    }
    let pool = pool_of(name);
    if !pool.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("pool name must begin with a letter".into());
    }
    // OpenZFS 2.2, lib/libzfs/libzfs_dataset.c, zfs_validate_name: the name itself first
    // (entity_namecheck), then an '@' where a filesystem is wanted.
    if name.contains('@') && !allow_snap {
        return Err("snapshot delimiter '@' is not expected here".into());
    }
    Ok(())
}

fn check_chars(comp: &str) -> Result<(), String> {
    if let Some(c) = comp
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.: ".contains(*c)))
    {
        return Err(format!("invalid character '{c}' in name"));
    }
    if comp == "." || comp == ".." {
        return Err("self reference, '.' is found in name".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Command-line plumbing

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

/// Options parsed by [`getopt`]: flag → values (empty string for flags without argument).
struct Opts {
    flags: Vec<(char, String)>,
    rest: Vec<String>,
}

impl Opts {
    fn has(&self, c: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == c)
    }
    fn values(&self, c: char) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(f, _)| *f == c)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// POSIX getopt as the BSD libc does it: stops at the first operand or `--`. `spec` lists the
/// option letters, a letter followed by `:` takes an argument.
fn getopt(args: &[String], spec: &str, usage: &dyn Fn() -> String) -> Result<Opts, Fail> {
    let mut flags = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            let pos = spec.find(c).filter(|_| c != ':');
            let Some(pos) = pos else {
                return Err(Fail(2, format!("invalid option '{c}'\n{}", usage())));
            };
            if spec[pos + 1..].starts_with(':') {
                let val: String = if j + 1 < chars.len() {
                    chars[j + 1..].iter().collect()
                } else {
                    i += 1;
                    match args.get(i) {
                        Some(v) => v.clone(),
                        None => {
                            return Err(Fail(
                                2,
                                format!("missing argument for '{c}' option\n{}", usage()),
                            ));
                        }
                    }
                };
                flags.push((c, val));
                break;
            }
            flags.push((c, String::new()));
            j += 1;
        }
        i += 1;
    }
    Ok(Opts {
        flags,
        rest: args[i..].to_vec(),
    })
}

const USAGE_TAIL: &str = "\nFor the property list, run: zfs set|get\n\nFor the delegated permission list, run: zfs allow|unallow\n";

fn usage_text(cmd: &str) -> String {
    let lines: &[&str] = match cmd {
        "create" => &[
            "create [-Pnpuv] [-o property=value] ... <filesystem>",
            "create [-Pnpsv] [-b blocksize] [-o property=value] ... -V <size> <volume>",
        ],
        "snapshot" => &["snapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ..."],
        "clone" => &["clone [-p] [-o property=value] ... <snapshot> <filesystem|volume>"],
        "destroy" => &[
            "destroy [-fnpRrv] <filesystem|volume>",
            "destroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]",
            "destroy <filesystem|volume>#<bookmark>",
        ],
        "set" => &["set <property=value> ... <filesystem|volume|snapshot> ..."],
        "get" => &[
            "get [-rHp] [-d max] [-o \"all\" | field[,...]]",
            "    [-t type[,...]] [-s source[,...]]",
            "    <\"all\" | property[,...]> [filesystem|volume|snapshot|bookmark] ...",
        ],
        "inherit" => &["inherit [-rS] <property> <filesystem|volume|snapshot> ..."],
        "list" => &[
            "list [-Hp] [-r|-d max] [-o property[,...]] [-s property]...",
            "    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...",
        ],
        "rename" => &[
            "rename [-f] <filesystem|volume|snapshot> <filesystem|volume|snapshot>",
            "rename -p [-f] <filesystem|volume> <filesystem|volume>",
            "rename -u [-f] <filesystem> <filesystem>",
            "rename -r <snapshot> <snapshot>",
        ],
        "promote" => &["promote <clone-filesystem>"],
        "rollback" => &["rollback [-rRf] <snapshot>"],
        _ => &[],
    };
    let mut s = String::from("usage:\n");
    for l in lines {
        s.push('\t');
        s.push_str(l);
        s.push('\n');
    }
    if matches!(cmd, "set" | "get" | "inherit" | "list") {
        s.push_str("\nThe following properties are supported:\n\n\tPROPERTY       EDIT  INHERIT   VALUES\n\n");
        for p in PROPS {
            s.push_str(&format!(
                "\t{:<15} {:>4}  {:>7}   {}\n",
                p.name,
                if p.kind == PKind::Ro { "NO" } else { "YES" },
                if p.inherit { "YES" } else { "NO" },
                p.values
            ));
        }
        s.push_str("\nSizes are specified in bytes with standard units such as K, M, G, etc.\n\nUser-defined properties can be specified by using a name containing a colon (:).\n");
    } else {
        s.push_str(USAGE_TAIL);
    }
    s
}

fn usage_fail(cmd: &str, msg: &str) -> Fail {
    let mut m = String::new();
    if !msg.is_empty() {
        m.push_str(msg);
        m.push('\n');
    }
    m.push_str(&usage_text(cmd));
    Fail(2, m)
}

fn main_usage() -> String {
    let mut s =
        String::from("usage: zfs command args ...\nwhere 'command' is one of the following:\n\n");
    for c in [
        "create", "destroy", "snapshot", "rename", "clone", "promote", "list", "set", "get",
        "inherit",
    ] {
        for l in usage_text(c).lines().skip(1) {
            if l.starts_with('\t') {
                s.push_str(l);
                s.push('\n');
            }
        }
    }
    s
}

/// `-o prop=value` options as zfs_main.c's parseprop takes them: the `=` and a value must
/// be there and no property may come twice; the values are checked later (zfs_valid_proplist).
fn parse_o_syntax(vals: &[&str], cmd: &str) -> Result<Vec<(String, String)>, Fail> {
    let mut out: Vec<(String, String)> = Vec::new();
    for v in vals {
        let Some((p, val)) = v.split_once('=') else {
            return Err(usage_fail(cmd, "missing '=' for property=value argument"));
        };
        if val.is_empty() {
            return Err(usage_fail(cmd, "missing value in property=value argument"));
        }
        if out.iter().any(|(q, _)| q == p) {
            return Err(err(format!("property '{p}' specified multiple times")));
        }
        out.push((p.to_string(), val.to_string()));
    }
    Ok(out)
}

/// Check parsed `-o` values for a new dataset, failing with `cannot ACTION: REASON`.
fn check_o(
    raw: &[(String, String)],
    kind: DsKind,
    action: &str,
) -> Result<BTreeMap<String, String>, Fail> {
    let mut out = BTreeMap::new();
    for (p, val) in raw {
        let (p, val) = check_assignment(kind, p, val).map_err(|e| err(format!("{action}: {e}")))?;
        if out.insert(p.clone(), val).is_some() {
            return Err(err(format!("property '{p}' specified multiple times")));
        }
    }
    Ok(out)
}

/// Parse and check `-o prop=value` options into canonical pairs.
fn parse_o(
    vals: &[&str],
    kind: DsKind,
    action: &str,
    cmd: &str,
) -> Result<BTreeMap<String, String>, Fail> {
    check_o(&parse_o_syntax(vals, cmd)?, kind, action)
}

// ---------------------------------------------------------------------------------------
// Entry points

/// A fresh host: pool `zroot` mounted at `/zroot`.
pub fn init_fresh(s: &mut SimState) {
    let z = &mut s.zfs;
    z.pools.insert(
        "zroot".into(),
        SimPool {
            size: POOL_SIZE,
            health: "ONLINE".into(),
            readonly: false,
            guid: 0x5a00_0000_0000_0001,
        },
    );
    z.txg = 1;
    let mut props = BTreeMap::new();
    props.insert("mountpoint".into(), "/zroot".into());
    z.datasets.insert(
        "zroot".into(),
        SimDataset {
            kind: DsKind::Filesystem,
            props,
            origin: None,
            createtxg: 1,
            creation: now(),
            guid: 0x5a00_0000_0000_0002,
            mounted: true,
            received: BTreeMap::new(),
        },
    );
}

/// Mounted ZFS filesystems as `(dataset, mountpoint)`, in mount order (parents first): what
/// the simulated mount(8) lists with fstype `zfs` in `mount -p`.
pub fn mounted_filesystems(z: &ZfsState) -> Vec<(String, String)> {
    mounted_where(z, |_| true)
}

/// [`mounted_filesystems`] whose mountpoint passes `keep`, in the same order; only those
/// are sorted.
fn mounted_where(z: &ZfsState, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = z
        .datasets
        .iter()
        .filter(|(_, d)| d.kind == DsKind::Filesystem && d.mounted)
        .filter_map(|(n, _)| {
            let (mp, _) = mountpoint(z, n);
            (mp.starts_with('/') && keep(&mp)).then(|| (n.clone(), mp))
        })
        .collect();
    let mut names: Vec<String> = v.iter().map(|(n, _)| n.clone()).collect();
    sort_names(z, &mut names);
    let mut mps: BTreeMap<String, String> = v.drain(..).collect();
    names
        .into_iter()
        .map(|n| {
            let mp = mps.remove(&n).expect("collected above");
            (n, mp)
        })
        .collect()
}

/// Whether the host path `path` lies on a mounted ZFS filesystem whose `exec` property
/// (own or inherited) is `off`: the kernel then refuses to execute any file there.
pub fn exec_off_at(z: &ZfsState, path: &Path) -> bool {
    mounted_where(z, |mp| path.starts_with(Path::new(mp)))
        .into_iter()
        .filter(|(_, mp)| path.starts_with(Path::new(mp)))
        .max_by_key(|(_, mp)| Path::new(mp).components().count())
        .is_some_and(|(name, _)| inherited_value(z, &name, "exec").0 == "off")
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

/// Whether a filesystem with these local props mounts when created.
fn mounts_on_create(ctx: &Ctx<'_>, name: &str) -> bool {
    let z = &ctx.state.zfs;
    let canmount = z
        .datasets
        .get(name)
        .and_then(|d| d.props.get("canmount"))
        .map_or("on", String::as_str);
    let (mp, _) = mountpoint(z, name);
    canmount == "on" && mp.starts_with('/')
}

fn insert_fs(
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

/// Mount a filesystem `create` or `clone` just made, as zfs_mount_and_share does: when its
/// mountpoint directory is missing and the directory it would be made in lies on a
/// read-only filesystem, the mount fails (lib/libzfs/libzfs_mount.c, zfs_mount_at: mkdirp
/// fails) and cmd/zfs/zfs_main.c says the dataset was made but not mounted, exit 1.
fn mount_new(ctx: &mut Ctx<'_>, name: &str) -> Result<(), Fail> {
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
        let holder = mounted_filesystems(&ctx.state.zfs)
            .into_iter()
            .filter(|(n, m)| n != name && existing.starts_with(m))
            .max_by_key(|(_, m)| m.len());
        if let Some((fs, _)) = holder
            && prop_value(ctx, &fs, "readonly").raw == "on"
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

/// Create missing ancestors of `name` (for `-p`), returning an error naming `action`.
fn create_parents(ctx: &mut Ctx<'_>, name: &str, mount: bool) {
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
fn check_new_fs(ctx: &Ctx<'_>, name: &str, action: &str) -> Result<(), Fail> {
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
fn create_ancestors(ctx: &mut Ctx<'_>, name: &str, action: &str) -> Result<(), Fail> {
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

/// A name zfs_name_valid accepts as a filesystem: with `-p`, an existing dataset of that
/// name makes `create`/`clone` succeed without doing anything.
fn fs_name_valid(name: &str) -> bool {
    check_name(name, false).is_ok() && name.contains('/')
}

fn create(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
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
fn create_dry_run(ctx: &Ctx<'_>, o: &Opts, name: &str, raw: &[(String, String)]) -> Res {
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

fn snapshot(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
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

fn clone(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
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

/// Why a filesystem cannot be unmounted right now: a running jail rooted at or below its
/// mountpoint, or another mount (nullfs, devfs) below it in the mount table.
fn busy_reason(ctx: &mut Ctx<'_>, name: &str, force: bool) -> Option<String> {
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

fn destroy(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "dfnpRrv", &|| usage_text("destroy"))?;
    let target = match o.rest.as_slice() {
        [] => return Err(usage_fail("destroy", "missing dataset argument")),
        [t] => t.clone(),
        _ => return Err(usage_fail("destroy", "too many arguments")),
    };
    let recursive = o.has('r') || o.has('R');
    let mut victims: Vec<String> = Vec::new();
    if let Some((fs, snaps)) = target.split_once('@') {
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
        // Snapshot names: a,b and ranges a%b (by creation order).
        let mut found_any = false;
        for part in snaps.split(',') {
            for f in &fss {
                let own: Vec<String> = {
                    let mut v: Vec<String> = ctx
                        .state
                        .zfs
                        .datasets
                        .keys()
                        .filter(|n| fs_part(n) == f && n.contains('@'))
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
                        found_any = true;
                    }
                } else {
                    let full = format!("{f}@{part}");
                    // cmd/zfs/zfs_main.c, zfs_do_destroy looks each name up
                    // (zfs_iter_snapspec): one that cannot exist is just not found.
                    if check_name(&full, true).is_ok() && ctx.state.zfs.datasets.contains_key(&full)
                    {
                        victims.push(full);
                        found_any = true;
                    } else if !o.has('r') {
                        return Err(err(
                            "could not find any snapshots to destroy; check snapshot names.",
                        ));
                    }
                }
            }
        }
        if !found_any {
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
    } else {
        open_as(ctx, &target, T_FS | T_VOL)?;
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
            let deps = dependents(z, &target, true).unwrap_or_default();
            let mut report = String::new();
            for d in &deps {
                let own = is_below(d, &target);
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
        let deps = dependents(z, &target, false).map_err(|n| {
            err(format!(
                "cannot determine dependent datasets: recursive dependency at '{n}'"
            ))
        })?;
        // A pool's root filesystem is never destroyed itself (destroy_callback skips it).
        if !pool {
            victims.push(target.clone());
        }
        victims.extend(deps);
    }
    let mut seen = BTreeSet::new();
    victims.retain(|v| seen.insert(v.clone()));
    if let Some(v) = victims.iter().find(|v| {
        ctx.state
            .zfs
            .pools
            .get(pool_of(v))
            .is_some_and(|p| p.readonly)
    }) {
        return Err(err(format!("cannot destroy '{v}': pool is read-only")));
    }
    for v in victims.clone() {
        if let Some(why) = busy_reason(ctx, &v, o.has('f')) {
            return Err(err(format!("{why}\ncannot destroy '{v}': dataset is busy")));
        }
    }
    let mut out = String::new();
    if o.has('v') || o.has('p') {
        for v in &victims {
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

/// `zfs rollback [-rRf] SNAP`: only to the most recent snapshot, unless `-r` destroys the
/// later ones (and `-R` the clones of those); the filesystem's files become the snapshot's.
fn rollback(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
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

/// Clones (and their descendants) of any snapshot in or below `victims`, transitively.
/// The datasets that depend on `name`, in the order OpenZFS 2.2's zfs_iter_dependents
/// gives them (lib/libzfs/libzfs_iter.c, iter_dependents_cb): a filesystem's children,
/// then its snapshots, a snapshot's clones, each dataset after its own dependents. A
/// filesystem met again on the way down is skipped when `allow_cycles`, else its name is
/// the error.
fn dependents(z: &ZfsState, name: &str, allow_cycles: bool) -> Result<Vec<String>, String> {
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
                .datasets
                .keys()
                .filter(|c| !c.contains('@') && parent_of(c) == Some(n))
                .cloned()
                .collect();
            for c in children {
                walk(z, &c, false, allow_cycles, stack, out)?;
            }
            let mut snaps: Vec<String> = z
                .datasets
                .keys()
                .filter(|c| c.contains('@') && fs_part(c) == n)
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

fn collect_dependents(ctx: &Ctx<'_>, victims: &[String]) -> Vec<String> {
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

/// Remove the files behind a dataset that is about to be destroyed.
fn remove_files(ctx: &Ctx<'_>, name: &str) {
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

/// Move a mounted filesystem's directory when its effective mountpoint changes. Returns the
/// old mountpoints of `name` and all filesystems below it, to compare after the change.
fn mount_snapshot(ctx: &Ctx<'_>, name: &str) -> Vec<(String, Option<PathBuf>)> {
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

fn remount(ctx: &mut Ctx<'_>, before: Vec<(String, Option<PathBuf>)>) {
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
                let kept = unmounted_dir(ctx, &n);
                if kept.exists() && !nw.exists() {
                    move_dir(ctx, &kept, nw);
                } else {
                    let _ = std::fs::create_dir_all(nw);
                }
            }
            // Unmounted: its files are kept aside (not when a child filesystem is mounted
            // below it: the simulator then leaves them where they are).
            (Some(o), None) if o.exists() && child_dirs(ctx, &n).is_empty() => {
                let kept = unmounted_dir(ctx, &n);
                move_dir(ctx, o, &kept);
            }
            _ => {}
        }
        if let Some(d) = ctx.state.zfs.datasets.get_mut(&n) {
            d.mounted = new.is_some() && (old.is_some() || canmount);
        }
    }
}

fn set(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "u", &|| usage_text("set"))?;
    if o.rest.is_empty() {
        return Err(usage_fail("set", "missing arguments"));
    }
    let assigns: Vec<&String> = o.rest.iter().take_while(|a| a.contains('=')).collect();
    let targets = &o.rest[assigns.len()..];
    if assigns.is_empty() {
        return Err(usage_fail("set", "missing property=value argument(s)"));
    }
    if targets.is_empty() {
        return Err(usage_fail("set", "missing dataset name(s)"));
    }
    for a in &assigns {
        let (p, v) = a.split_once('=').expect("contains =");
        if p.is_empty() {
            return Err(usage_fail(
                "set",
                "missing property in property=value argument",
            ));
        }
        if v.is_empty() {
            return Err(usage_fail(
                "set",
                "missing value in property=value argument",
            ));
        }
    }
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_set runs set_callback through zfs_for_each:
    // every operand is opened first (their errors in argument order), then the datasets
    // found are set once each, in name order.
    let walk = Walk {
        recurse: false,
        limit: None,
        types: T_FS | T_VOL | T_SNAP,
        listsnaps: false,
        paths: false,
    };
    let (found, mut failure) = for_each(ctx, targets, &walk);
    for t in &found {
        let kind = ctx.state.zfs.datasets[t].kind;
        let action = format!("cannot set property for '{t}'");
        let mut changes = Vec::new();
        let mut bad = None;
        for a in &assigns {
            let (p, v) = a.split_once('=').expect("contains =");
            match check_assignment(kind, p, v) {
                Ok(c) => changes.push(c),
                Err(e) => {
                    bad = Some(format!("{action}: {e}\n"));
                    break;
                }
            }
        }
        if let Some(b) = bad {
            failure.push_str(&b);
            continue;
        }
        if let Err(Fail(_, m)) = pool_writable(ctx, t, &action) {
            failure.push_str(&m);
            continue;
        }
        let before = mount_snapshot(ctx, t);
        let d = ctx.state.zfs.datasets.get_mut(t.as_str()).expect("opened");
        for (p, v) in changes {
            d.props.insert(p, v);
        }
        remount(ctx, before);
    }
    if failure.is_empty() {
        Ok(String::new())
    } else {
        Err(Fail(1, failure))
    }
}

fn inherit(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "rS", &|| usage_text("inherit"))?;
    let (prop, targets) = match o.rest.as_slice() {
        [] => return Err(usage_fail("inherit", "missing property argument")),
        [_] => return Err(usage_fail("inherit", "missing dataset argument")),
        [p, t @ ..] => (p.clone(), t.to_vec()),
    };
    let canon = if let Some(p) = prop_def(&prop) {
        if p.kind == PKind::Ro {
            return Err(err(format!("{} property is read-only", p.name)));
        }
        if !p.inherit {
            if p.kind == PKind::SizeNone {
                return Err(err(format!(
                    "'{0}' property cannot be inherited\nuse 'zfs set {0}=none' to clear",
                    p.name
                )));
            }
            return Err(err(format!("'{}' property cannot be inherited", p.name)));
        }
        p.name.to_string()
    } else if is_user_prop(&prop) {
        prop.clone()
    } else {
        return Err(usage_fail("inherit", &format!("invalid property '{prop}'")));
    };
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_inherit: zfs_for_each over the operands
    // (opened first, then each dataset once in name order); with -r, inherit_recurse_cb
    // skips the datasets the property does not apply to (a snapshot's native properties).
    let walk = Walk {
        recurse: false,
        limit: None,
        types: T_FS | T_VOL | T_SNAP,
        listsnaps: false,
        paths: false,
    };
    let (found, mut failure) = for_each(ctx, &targets, &walk);
    for t in &found {
        let kind = ctx.state.zfs.datasets[t].kind;
        if kind == DsKind::Snapshot && !canon.contains(':') {
            if o.has('r') {
                continue;
            }
            // lib/libzfs/libzfs_dataset.c, zfs_prop_inherit: a property not valid for the
            // dataset's type is EZFS_PROPTYPE; one that is (exec, setuid, ...) is refused
            // for a snapshot by the kernel.
            let why = if prop_def(&canon).is_some_and(applies_to_snapshot) {
                "this property can not be modified for snapshots"
            } else {
                "property doesn't apply to datasets of this type"
            };
            failure.push_str(&format!("cannot inherit {canon} for '{t}': {why}\n"));
            continue;
        }
        let before = mount_snapshot(ctx, t);
        let mut names = vec![t.clone()];
        if o.has('r') {
            names.extend(ctx.state.zfs.descendants(t));
        }
        for n in names {
            if let Some(d) = ctx.state.zfs.datasets.get_mut(&n) {
                d.props.remove(&canon);
            }
        }
        remount(ctx, before);
    }
    if failure.is_empty() {
        Ok(String::new())
    } else {
        Err(Fail(1, failure))
    }
}

/// Dataset types selectable with `-t`, as a `T_*` mask. OpenZFS 2.2 (cmd/zfs/zfs_main.c,
/// zfs_do_list and zfs_do_get) also takes `fs` and `vol` for filesystem and volume.
fn parse_types(spec: &str, cmd: &str) -> Result<u8, Fail> {
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

fn parse_depth(v: &str, cmd: &str) -> Result<u32, Fail> {
    v.parse::<u32>()
        .map_err(|_| usage_fail(cmd, &format!("{v} is not an integer")))
}

/// How a command walks its operands, as OpenZFS 2.2's zfs_for_each does
/// (cmd/zfs/zfs_iter.c).
struct Walk {
    /// `-r` or `-d`.
    recurse: bool,
    /// `-d N`.
    limit: Option<u32>,
    /// The types shown.
    types: u8,
    /// Snapshots under a recursion follow the pool's `listsnapshots` (off) rather than
    /// `types`: `zfs list` without `-t` (ZFS_ITER_PROP_LISTSNAPS).
    listsnaps: bool,
    /// Operands may be paths (ZFS_ITER_ARGS_CAN_BE_PATHS: `list`, `get`).
    paths: bool,
}

/// Run `walk` over `operands`: every operand is opened in turn (a failure is reported and
/// the others go on, zfs_for_each's `ret = 1`), the datasets found are gathered once each
/// (zfs_callback skips a name already in its tree) and come back in listing order (the
/// tree's order, zfs_compare: by filesystem name, a filesystem before its snapshots,
/// snapshots by creation). Returns the names and the error lines.
fn for_each(ctx: &Ctx<'_>, operands: &[String], walk: &Walk) -> (Vec<String>, String) {
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
        if fs_too {
            for c in z
                .datasets
                .keys()
                .filter(|c| !c.contains('@') && parent_of(c) == Some(n))
            {
                visit(z, c, next, walk, recurse, include_snaps, found);
            }
        }
        if include_snaps {
            for c in z
                .datasets
                .keys()
                .filter(|c| fs_part(c) == n && c.contains('@'))
            {
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
fn path_to_dataset(ctx: &Ctx<'_>, path: &str) -> Result<String, String> {
    if !ctx.host_path(Path::new(path)).exists() {
        return Err(format!("{path}: No such file or directory\n"));
    }
    let clean = path.trim_end_matches('/');
    mounted_filesystems(&ctx.state.zfs)
        .into_iter()
        .filter(|(_, mp)| {
            mp == "/"
                || clean == mp
                || clean
                    .strip_prefix(mp.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|(_, mp)| mp.len())
        .map(|(n, _)| n)
        .ok_or_else(|| format!("'{path}': not a ZFS filesystem\n"))
}

/// `-t snapshot NAME` without `-r`/`-d`: OpenZFS 2.2 (cmd/zfs/zfs_main.c, zfs_do_list and
/// zfs_do_get) then lists NAME's snapshots, as `-d 1`.
fn snapshots_of_operands(
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

/// What `get` and `list` print: stdout, and the errors of operands that could not be
/// opened (exit status 1 when there are any, the others still printed).
type Listing = Result<(String, String), Fail>;

fn get(ctx: &mut Ctx<'_>, args: &[String]) -> Listing {
    let o = getopt(args, "rHpd:o:s:t:", &|| usage_text("get"))?;
    let fields: Vec<String> = match o.values('o').last() {
        None => ["name", "property", "value", "source"]
            .map(String::from)
            .to_vec(),
        Some(&"all") => ["name", "property", "value", "received", "source"]
            .map(String::from)
            .to_vec(),
        Some(spec) => {
            let v: Vec<String> = spec.split(',').map(String::from).collect();
            for f in &v {
                if !matches!(
                    f.as_str(),
                    "name" | "property" | "value" | "received" | "source"
                ) {
                    return Err(usage_fail("get", &format!("invalid column name '{f}'")));
                }
            }
            v
        }
    };
    let sources: Option<Vec<String>> = match o.values('s').last() {
        None => None,
        Some(spec) => {
            let v: Vec<String> = spec.split(',').map(String::from).collect();
            for s in &v {
                if !matches!(
                    s.as_str(),
                    "local" | "default" | "inherited" | "temporary" | "received" | "none"
                ) {
                    return Err(usage_fail("get", &format!("invalid source '{s}'")));
                }
            }
            Some(v)
        }
    };
    let types = match o.values('t').last() {
        Some(t) => parse_types(t, "get")?,
        None => T_FS | T_VOL | T_SNAP,
    };
    let mut limit = match o.values('d').last() {
        Some(d) => Some(parse_depth(d, "get")?),
        None => None,
    };
    let mut recurse = o.has('r') || limit.is_some();
    let (propspec, operands) = match o.rest.as_slice() {
        [] => return Err(usage_fail("get", "missing property argument")),
        [p, rest @ ..] => (p.clone(), rest.to_vec()),
    };
    let all = propspec == "all";
    let mut props = Vec::new();
    if !all {
        for p in propspec.split(',') {
            match canon_prop(p) {
                Some(c) => props.push(c),
                None => {
                    return Err(usage_fail(
                        "get",
                        &format!("bad property list: invalid property '{p}'"),
                    ));
                }
            }
        }
    }
    snapshots_of_operands(types, &operands, &mut limit, &mut recurse);
    let walk = Walk {
        recurse,
        limit,
        types,
        listsnaps: false,
        paths: true,
    };
    let (names, errors) = for_each(ctx, &operands, &walk);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for n in &names {
        let d = &ctx.state.zfs.datasets[n];
        let plist: Vec<String> = if all {
            let mut v: Vec<String> = PROPS
                .iter()
                .filter(|p| p.name != "name")
                .filter(|p| match d.kind {
                    DsKind::Snapshot => applies_to_snapshot(p),
                    DsKind::Filesystem => p.name != "clones",
                })
                .map(|p| p.name.to_string())
                .collect();
            // User properties set here or inherited.
            let mut user: BTreeSet<String> = d
                .props
                .keys()
                .filter(|k| k.contains(':'))
                .cloned()
                .collect();
            if d.kind == DsKind::Filesystem {
                let mut cur = parent_of(n);
                while let Some(p) = cur {
                    if let Some(pd) = ctx.state.zfs.datasets.get(p) {
                        user.extend(pd.props.keys().filter(|k| k.contains(':')).cloned());
                    }
                    cur = parent_of(p);
                }
            }
            v.extend(user);
            v
        } else {
            props.clone()
        };
        for p in plist {
            let pv = prop_value(ctx, n, &p);
            if let Some(s) = &sources
                && !s.iter().any(|s| s == pv.source.class())
            {
                continue;
            }
            let value = if o.has('p') {
                pv.raw.clone()
            } else {
                pv.human.clone()
            };
            let row = fields
                .iter()
                .map(|f| match f.as_str() {
                    "name" => n.clone(),
                    "property" => p.clone(),
                    "value" => value.clone(),
                    "received" => "-".to_string(),
                    _ => pv.source.show(),
                })
                .collect();
            rows.push(row);
        }
    }
    let header: Vec<String> = fields.iter().map(|f| f.to_uppercase()).collect();
    let out = if rows.is_empty() {
        String::new()
    } else {
        table(&header, &rows, o.has('H'), &[])
    };
    Ok((out, errors))
}

/// Format rows as zfs does: tab-separated with `-H`, else padded columns under a header
/// (`right` lists the right-aligned columns, as numbers are in `zfs list`).
fn table(header: &[String], rows: &[Vec<String>], scripted: bool, right: &[usize]) -> String {
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

/// A sort key: numeric value when the raw value is a number, else the text.
type SortKey = (Option<f64>, String);

fn list(ctx: &mut Ctx<'_>, args: &[String]) -> Listing {
    let o = getopt(args, "rHpd:o:s:S:t:", &|| usage_text("list"))?;
    let cols: Vec<String> = match o.values('o').last() {
        None => ["name", "used", "available", "referenced", "mountpoint"]
            .map(String::from)
            .to_vec(),
        Some(spec) => {
            let mut v = Vec::new();
            for p in spec.split(',') {
                match canon_prop(p) {
                    Some(c) => v.push(c),
                    None => {
                        return Err(usage_fail(
                            "list",
                            &format!("bad property list: invalid property '{p}'"),
                        ));
                    }
                }
            }
            v
        }
    };
    let mut sort_keys = Vec::new();
    for (flag, asc) in [('s', true), ('S', false)] {
        for p in o.values(flag) {
            match canon_prop(p) {
                Some(c) => sort_keys.push((c, asc)),
                None => return Err(usage_fail("list", &format!("invalid property '{p}'"))),
            }
        }
    }
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_list: all types by default, and snapshots
    // under a recursion only as the pool's listsnapshots says (off) unless -t is given; a
    // snapshot named as an operand is listed.
    let types = match o.values('t').last() {
        Some(t) => parse_types(t, "list")?,
        None => T_FS | T_VOL | T_SNAP,
    };
    let mut limit = match o.values('d').last() {
        Some(d) => Some(parse_depth(d, "list")?),
        None => None,
    };
    let mut recurse = o.has('r') || limit.is_some();
    snapshots_of_operands(types, &o.rest, &mut limit, &mut recurse);
    let walk = Walk {
        recurse,
        limit,
        types,
        listsnaps: o.values('t').is_empty(),
        paths: true,
    };
    let (mut names, errors) = for_each(ctx, &o.rest, &walk);
    if !sort_keys.is_empty() {
        let key = |n: &String, p: &str| -> (Option<f64>, String) {
            let v = prop_value(ctx, n, p);
            (v.raw.parse::<f64>().ok(), v.raw)
        };
        let keyed: Vec<(String, Vec<SortKey>)> = names
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    sort_keys.iter().map(|(p, _)| key(n, p)).collect(),
                )
            })
            .collect();
        let mut keyed = keyed;
        keyed.sort_by(|a, b| {
            for (i, (_, asc)) in sort_keys.iter().enumerate() {
                let (x, y) = (&a.1[i], &b.1[i]);
                let ord = match (x.0, y.0) {
                    (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
                    _ => x.1.cmp(&y.1),
                };
                let ord = if *asc { ord } else { ord.reverse() };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        names = keyed.into_iter().map(|(n, _)| n).collect();
    }
    if names.is_empty() {
        // zfs_do_list says so only when nothing failed, and not with -H.
        let none = if errors.is_empty() && !o.has('H') {
            "no datasets available\n"
        } else {
            ""
        };
        return Ok((String::new(), format!("{errors}{none}")));
    }
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            cols.iter()
                .map(|c| {
                    let v = prop_value(ctx, n, c);
                    if o.has('p') { v.raw } else { v.human }
                })
                .collect()
        })
        .collect();
    let header: Vec<String> = cols
        .iter()
        .map(|c| {
            let short = prop_def(c).map_or(c.as_str(), |p| {
                if p.abbrev.is_empty() {
                    p.name
                } else {
                    p.abbrev
                }
            });
            // zfs_main.c, print_header: a user property's header is its name upper-cased.
            if c.contains(':') {
                c.to_uppercase()
            } else {
                short.to_uppercase()
            }
        })
        .collect();
    let right: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(
                c.as_str(),
                "used"
                    | "available"
                    | "referenced"
                    | "quota"
                    | "refquota"
                    | "reservation"
                    | "refreservation"
                    | "recordsize"
                    | "usedbychildren"
                    | "usedbydataset"
                    | "usedbysnapshots"
            )
        })
        .map(|(i, _)| i)
        .collect();
    Ok((table(&header, &rows, o.has('H'), &right), errors))
}

fn rename(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
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
        if fs_part(&to) != fs_part(&from) {
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
        let mut pairs = vec![(from.clone(), to.clone())];
        if o.has('r') {
            for n in ctx.state.zfs.descendants(fs_part(&from)) {
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
        return Ok(String::new());
    }
    if to.contains('@') {
        return Err(err(format!(
            "{action}: snapshot delimiter '@' is not expected here"
        )));
    }
    if pool_of(&from) != pool_of(&to) {
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
    let parent = parent_of(&to).unwrap_or("").to_string();
    if !ctx.state.zfs.datasets.contains_key(&parent) {
        if !o.has('p') {
            return Err(err(format!("cannot create '{to}': parent does not exist")));
        }
        create_parents(ctx, &to, true);
    }
    if is_below(&to, &from) {
        return Err(err(format!(
            "cannot rename to '{to}': New dataset name cannot be a descendant of current dataset name"
        )));
    }
    if ctx.state.zfs.datasets.contains_key(&to) {
        return Err(err(format!(
            "cannot rename '{from}': dataset already exists"
        )));
    }
    if let Some(why) = busy_reason(ctx, &from, o.has('f')) {
        return Err(err(format!(
            "{why}\ncannot rename '{from}': dataset is busy"
        )));
    }
    let before: Vec<(String, Option<PathBuf>)> = mount_snapshot(ctx, &from)
        .into_iter()
        .map(|(n, p)| (format!("{to}{}", &n[from.len()..]), p))
        .collect();
    let mut names = vec![from.clone()];
    names.extend(ctx.state.zfs.descendants(&from));
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
fn move_dataset(ctx: &mut Ctx<'_>, from: &str, to: &str) {
    let (a, b) = (unmounted_dir(ctx, from), unmounted_dir(ctx, to));
    if !from.contains('@') && a.exists() {
        move_dir(ctx, &a, &b);
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
    for d in z.datasets.values_mut() {
        if d.origin.as_deref() == Some(from) {
            d.origin = Some(to.to_string());
        }
    }
}

fn promote(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
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

const ZPOOL_PROPS: &[&str] = &[
    "name",
    "size",
    "allocated",
    "free",
    "capacity",
    "health",
    "guid",
    "readonly",
    "altroot",
    "dedupratio",
    "fragmentation",
    "expandsize",
    "checkpoint",
];

fn zpool_usage(cmd: &str) -> String {
    match cmd {
        "list" => "usage:\n\tlist [-gHLpPv] [-o property[,...]] [-T d|u] [pool] ... [interval [count]]\n".into(),
        "get" => {
            let mut s = String::from("usage:\n\tget [-Hp] [-o \"all\" | field[,...]] <\"all\" | property[,...]> <pool> ...\n\nthe following properties are supported:\n\n\tPROPERTY         EDIT   VALUES\n\n");
            for p in ZPOOL_PROPS {
                s.push_str(&format!("\t{p:<16}   NO   <{p}>\n"));
            }
            s
        }
        _ => "usage: zpool command args ...\nwhere 'command' is one of the following:\n\n\tlist [-gHLpPv] [-o property[,...]] [-T d|u] [pool] ... [interval [count]]\n\tget [-Hp] [-o \"all\" | field[,...]] <\"all\" | property[,...]> <pool> ...\n".into(),
    }
}

fn pool_prop(ctx: &Ctx<'_>, pool: &str, prop: &str, parsable: bool) -> String {
    let p = &ctx.state.zfs.pools[pool];
    let alloc = used(ctx, pool);
    let size = |n: u64| {
        if parsable {
            n.to_string()
        } else {
            nicebytes(n)
        }
    };
    match prop {
        "name" => pool.to_string(),
        "size" => size(p.size),
        "allocated" => size(alloc),
        "free" => size(p.size.saturating_sub(alloc)),
        "capacity" => {
            let c = alloc * 100 / p.size.max(1);
            if parsable {
                c.to_string()
            } else {
                format!("{c}%")
            }
        }
        "health" => p.health.clone(),
        "guid" => p.guid.to_string(),
        "readonly" => if p.readonly { "on" } else { "off" }.into(),
        "dedupratio" => if parsable { "1.00" } else { "1.00x" }.into(),
        "fragmentation" => if parsable { "0" } else { "0%" }.into(),
        _ => "-".into(),
    }
}

pub fn run_zpool(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let Some(sub) = args.first() else {
        return Output::fail(2, zpool_usage(""));
    };
    let r = match sub.as_str() {
        "list" => zpool_list(ctx, &args[1..]),
        "get" => zpool_get(ctx, &args[1..]),
        "status" | "create" | "destroy" | "import" | "export" | "scrub" | "set" | "add"
        | "attach" | "detach" | "replace" | "online" | "offline" | "clear" | "history"
        | "iostat" | "upgrade" => Err(err(format!(
            "zpool {sub}: not modelled by the simulated host"
        ))),
        _ => Err(Fail(
            2,
            format!("unrecognized command '{sub}'\n{}", zpool_usage("")),
        )),
    };
    match r {
        Ok(s) => Output::ok(s),
        Err(Fail(c, m)) => Output::fail(c, m),
    }
}

fn pools_named(ctx: &Ctx<'_>, names: &[String]) -> Result<Vec<String>, Fail> {
    if names.is_empty() {
        return Ok(ctx.state.zfs.pools.keys().cloned().collect());
    }
    for n in names {
        if !ctx.state.zfs.pools.contains_key(n) {
            return Err(err(format!("cannot open '{n}': no such pool")));
        }
    }
    Ok(names.to_vec())
}

fn zpool_list(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "gHLpPvo:T:", &|| zpool_usage("list"))?;
    let cols: Vec<String> = match o.values('o').last() {
        None => [
            "name",
            "size",
            "allocated",
            "free",
            "checkpoint",
            "expandsize",
            "fragmentation",
            "capacity",
            "dedupratio",
            "health",
            "altroot",
        ]
        .map(String::from)
        .to_vec(),
        Some(spec) => {
            let mut v = Vec::new();
            for p in spec.split(',') {
                if !ZPOOL_PROPS.contains(&p) {
                    return Err(Fail(
                        2,
                        format!(
                            "property '{p}' is not a valid pool or vdev property\n{}",
                            zpool_usage("list")
                        ),
                    ));
                }
                v.push(p.to_string());
            }
            v
        }
    };
    let pools = pools_named(ctx, &o.rest)?;
    let rows: Vec<Vec<String>> = pools
        .iter()
        .map(|p| {
            cols.iter()
                .map(|c| pool_prop(ctx, p, c, o.has('p')))
                .collect()
        })
        .collect();
    let header: Vec<String> = cols
        .iter()
        .map(|c| {
            match c.as_str() {
                "allocated" => "ALLOC",
                "capacity" => "CAP",
                "dedupratio" => "DEDUP",
                "fragmentation" => "FRAG",
                "checkpoint" => "CKPOINT",
                "expandsize" => "EXPANDSZ",
                other => other,
            }
            .to_uppercase()
        })
        .collect();
    Ok(table(&header, &rows, o.has('H'), &[]))
}

fn zpool_get(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "Hpo:", &|| zpool_usage("get"))?;
    let fields: Vec<String> = match o.values('o').last() {
        None | Some(&"all") => ["name", "property", "value", "source"]
            .map(String::from)
            .to_vec(),
        Some(spec) => {
            let v: Vec<String> = spec.split(',').map(String::from).collect();
            for f in &v {
                if !matches!(f.as_str(), "name" | "property" | "value" | "source") {
                    return Err(Fail(
                        2,
                        format!("invalid field '{f}'\n{}", zpool_usage("get")),
                    ));
                }
            }
            v
        }
    };
    let (spec, pools) = match o.rest.as_slice() {
        [] => {
            return Err(Fail(
                2,
                format!("missing property argument\n{}", zpool_usage("get")),
            ));
        }
        [s, rest @ ..] => (s.clone(), rest.to_vec()),
    };
    let props: Vec<String> = if spec == "all" {
        ZPOOL_PROPS.iter().map(|s| s.to_string()).collect()
    } else {
        let v: Vec<String> = spec.split(',').map(String::from).collect();
        for p in &v {
            if !ZPOOL_PROPS.contains(&p.as_str()) {
                return Err(Fail(
                    2,
                    format!(
                        "bad property list: invalid property '{p}'\n{}",
                        zpool_usage("get")
                    ),
                ));
            }
        }
        v
    };
    let pools = pools_named(ctx, &pools)?;
    let mut rows = Vec::new();
    for pool in &pools {
        for p in &props {
            let value = pool_prop(ctx, pool, p, o.has('p'));
            let source = if matches!(p.as_str(), "readonly" | "altroot") {
                "default"
            } else {
                "-"
            };
            rows.push(
                fields
                    .iter()
                    .map(|f| match f.as_str() {
                        "name" => pool.clone(),
                        "property" => p.clone(),
                        "value" => value.clone(),
                        _ => source.to_string(),
                    })
                    .collect(),
            );
        }
    }
    let header: Vec<String> = fields.iter().map(|f| f.to_uppercase()).collect();
    Ok(table(&header, &rows, o.has('H'), &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_zfs() {
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("abc"), Err("bad numeric value 'abc'".into()));
        assert_eq!(parse_size("12Q"), Err("invalid numeric suffix 'Q'".into()));
    }

    #[test]
    fn sizes_below_one_kib_carry_a_b_as_on_openzfs() {
        assert_eq!(nicebytes(0), "0B");
        assert_eq!(nicebytes(376), "376B");
        assert_eq!(nicebytes(1023), "1023B");
        assert_eq!(nicebytes(1024), "1K");
        assert_eq!(nicebytes(1_268_777), "1.21M");
    }

    #[test]
    fn nicenum_matches_zfs_output() {
        assert_eq!(nicenum(0), "0");
        assert_eq!(nicenum(112 * 1024), "112K");
        assert_eq!(nicenum(1_268_777), "1.21M");
        assert_eq!(nicenum(94_687_478), "90.3M");
        assert_eq!(nicenum(1 << 40), "1T");
    }

    #[test]
    fn ctime_is_zfs_creation_format() {
        // 2026-11-24 22:36 UTC was a Tuesday.
        assert_eq!(ctime(1_795_559_760), "Tue Nov 24 22:36 2026");
    }

    #[test]
    fn mounted_filesystems_for_the_mount_table() {
        let mut s = SimState::default();
        init_fresh(&mut s);
        let mut child = s.zfs.datasets["zroot"].clone();
        child.props.clear();
        s.zfs.datasets.insert("zroot/a".into(), child.clone());
        child.props.insert("canmount".into(), "noauto".into());
        child.mounted = false;
        s.zfs.datasets.insert("zroot/b".into(), child);
        assert_eq!(
            mounted_filesystems(&s.zfs),
            [
                ("zroot".to_string(), "/zroot".to_string()),
                ("zroot/a".to_string(), "/zroot/a".to_string())
            ]
        );
    }

    #[test]
    fn user_property_names() {
        assert!(is_user_prop("jailctl:managed"));
        assert!(!is_user_prop("Foo:x"));
        assert!(!is_user_prop("nocolon"));
    }
}
