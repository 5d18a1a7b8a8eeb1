//! The value of a property on one dataset as `zfs get` and `zfs list` print it: the raw
//! number (`-p`), the human form (`nicebytes`/`nicenum` sizes, `ctime` dates) and its source.
//!
//! Why it exists: `get`, `list`, mounting and `zpool list` all show the same values; they
//! take them from [`prop_value`] rather than each computing its own.

use super::files::{available, referenced, used};
use super::props::{PKind, Source, applies_to_snapshot, inherited_value, mountpoint, prop_def};
use super::{DsKind, parent_of};
use crate::Ctx;

/// A property value, raw (as `-p` prints it) and the source.
pub(super) struct PropVal {
    pub(super) raw: String,
    pub(super) human: String,
    pub(super) source: Source,
}

impl PropVal {
    pub(super) fn plain(v: impl Into<String>, source: Source) -> Self {
        let v = v.into();
        PropVal {
            raw: v.clone(),
            human: v,
            source,
        }
    }
    pub(super) fn none() -> Self {
        PropVal::plain("-", Source::None)
    }
    pub(super) fn size(n: u64, source: Source) -> Self {
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
pub(super) fn ctime(secs: u64) -> String {
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
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
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

pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The value of `prop` on dataset `name` (which exists), or `None` if the property does not
/// apply to that dataset (shown as `-`).
pub(super) fn prop_value(ctx: &Ctx<'_>, name: &str, prop: &str) -> PropVal {
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
            PropVal::size(used(ctx, name) - used_by_children(ctx, name), Source::None)
        }
        "usedbychildren" if !is_snap => PropVal::size(used_by_children(ctx, name), Source::None),
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

/// What the child filesystems of `name` use, together.
fn used_by_children(ctx: &Ctx<'_>, name: &str) -> u64 {
    ctx.state
        .zfs
        .under(name, '/')
        .filter(|n| parent_of(n) == Some(name) && !n.contains('@'))
        .map(|n| used(ctx, n))
        .sum()
}
