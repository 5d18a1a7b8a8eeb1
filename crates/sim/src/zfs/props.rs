//! The native properties the simulated zfs knows (name, abbreviation, kind, default, whether
//! it is inherited and whether snapshots have it), the checks `zfs create -o`, `zfs set` and
//! `zfs receive -o` apply to a `PROP=VALUE`, and where a property's value comes from (local,
//! received, inherited, default), the effective `mountpoint` included.
//!
//! Why it exists: every command that takes or shows a property goes through one table, so
//! a name zfs(8) refuses or a value of the wrong kind fails the same way everywhere.

use super::{DsKind, ZfsState, parent_of};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PKind {
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

pub(super) struct PropDef {
    pub(super) name: &'static str,
    pub(super) abbrev: &'static str,
    pub(super) kind: PKind,
    pub(super) inherit: bool,
    pub(super) default: &'static str,
    /// Shown for snapshots.
    pub(super) snap: bool,
    pub(super) values: &'static str,
}

pub(super) const ONOFF: &[&str] = &["on", "off"];

pub(super) const PROPS: &[PropDef] = &[
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

pub(super) const fn ro(
    name: &'static str,
    abbrev: &'static str,
    snap: bool,
    values: &'static str,
) -> PropDef {
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

pub(super) const fn def(
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
pub(super) fn applies_to_snapshot(p: &PropDef) -> bool {
    p.snap || matches!(p.name, "exec" | "setuid" | "devices" | "xattr")
}

pub(super) fn prop_def(name: &str) -> Option<&'static PropDef> {
    PROPS
        .iter()
        .find(|p| p.name == name || (!p.abbrev.is_empty() && p.abbrev == name))
}

/// A user property name: `module:name`, lower-case letters, digits, `-_.:`.
/// module/zcommon/zfs_prop.c, zfs_prop_user: lower-case letters, digits and `-_.:` with at
/// least one `:` anywhere (`:x` is a user property too).
pub(super) fn is_user_prop(name: &str) -> bool {
    name.contains(':')
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.:".contains(c))
}

/// A property name `get`/`list` accept: native (full or abbreviated) or user.
pub(super) fn canon_prop(name: &str) -> Option<String> {
    if let Some(p) = prop_def(name) {
        return Some(p.name.to_string());
    }
    is_user_prop(name).then(|| name.to_string())
}

/// Parse a size the way zfs_nicestrtonum does: digits with an optional fraction and a
/// B/K/M/G/T/P/E suffix (optionally followed by `B`).
pub(super) fn parse_size(v: &str) -> Result<u64, String> {
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
pub(super) fn check_value(p: &PropDef, v: &str) -> Result<String, String> {
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
pub(super) fn check_assignment(
    kind: DsKind,
    prop: &str,
    value: &str,
) -> Result<(String, String), String> {
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
pub(super) enum Source {
    Local,
    Received,
    Default,
    Inherited(String),
    None,
}

impl Source {
    pub(super) fn show(&self) -> String {
        match self {
            Source::Local => "local".into(),
            Source::Received => "received".into(),
            Source::Default => "default".into(),
            Source::Inherited(from) => format!("inherited from {from}"),
            Source::None => "-".into(),
        }
    }
    pub(super) fn class(&self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Received => "received",
            Source::Default => "default",
            Source::Inherited(_) => "inherited",
            Source::None => "none",
        }
    }
}

/// The value of an inheritable or defaulted native property: local, inherited, or default.
pub(super) fn inherited_value(z: &ZfsState, name: &str, prop: &str) -> (String, Source) {
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
pub(super) fn mountpoint(z: &ZfsState, name: &str) -> (String, Source) {
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
