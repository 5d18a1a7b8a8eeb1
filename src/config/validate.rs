//! Stage two: turn the merged, span-carrying tree of one jail (or of `jailctl.toml`) into the
//! validated types of [`super::spec`]. Nothing here stops at the first mistake: every problem
//! is recorded with its location and validation carries on with a placeholder, so one run
//! reports everything.

use super::error::{ConfigError, Sources};
use super::raw::{Entry, Node, Table, Val};
use super::rules;
use super::schema::{self, suggest};
use super::spec::*;
use super::units;
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The longest mount point (and mount source) FreeBSD's mount table holds: MNAMELEN is 88
/// bytes including the NUL. One constant with the renderer, so `validate` rejects exactly
/// what `up` would.
use super::layout::MAX_MOUNT_PATH;

/// The sentence every too-long mount path error shares.
fn too_long(what: &str, path: &str) -> String {
    format!(
        "{what} {path} is {} characters long; FreeBSD mount paths hold at most {MAX_MOUNT_PATH} (MNAMELEN, 88 bytes with the NUL)",
        path.len()
    )
}

/// Error collector over the files of one load.
pub(crate) struct V<'s> {
    pub src: &'s Sources,
    pub errs: Vec<ConfigError>,
}

/// Look up `key`, which must be one of the table's known keys (checked in debug builds, so the
/// key lists in [`schema`] are the single source of truth).
fn get<'t>(t: &'t Table, allowed: &[&str], key: &str) -> Option<&'t Node> {
    debug_assert!(allowed.contains(&key), "{key} missing from its key list");
    t.get(key).map(|e| &e.node)
}

impl<'s> V<'s> {
    pub fn err(&mut self, n: &Node, msg: impl Into<String>, help: Option<String>) {
        self.errs
            .push(self.src.error(n.file, n.span.clone(), msg, help));
    }

    fn err_key(&mut self, e: &Entry, key: &str, msg: impl Into<String>, help: Option<String>) {
        let end = e.key_span.start + key.len().max(1);
        self.errs
            .push(self.src.error(e.key_file, e.key_span.start..end, msg, help));
    }

    /// Report keys of `t` that are not in `allowed`.
    pub fn keys(&mut self, t: &Table, allowed: &[&str], section: &str) {
        for (k, e) in t {
            if !allowed.contains(&k.as_str()) {
                let msg = match suggest(k, allowed.iter().copied()) {
                    Some(s) => format!("unknown key \"{k}\" in {section}; did you mean \"{s}\"?"),
                    None => format!("unknown key \"{k}\" in {section}"),
                };
                let help = format!("known keys in {section}: {}", allowed.join(", "));
                self.err_key(e, k, msg, Some(help));
            }
        }
    }

    fn wrong_type(&mut self, n: &Node, what: &str, want: &str) {
        let msg = format!("{what} must be {want}, not {}", n.val.kind());
        self.err(n, msg, None);
    }

    pub fn table<'t>(&mut self, n: &'t Node, what: &str) -> Option<&'t Table> {
        match &n.val {
            Val::Table(t) => Some(t),
            _ => {
                self.wrong_type(n, what, "a table");
                None
            }
        }
    }

    fn array<'t>(&mut self, n: &'t Node, what: &str) -> Option<&'t [Node]> {
        match &n.val {
            Val::Array(a) => Some(a),
            _ => {
                self.wrong_type(n, what, "an array");
                None
            }
        }
    }

    pub fn string(&mut self, n: &Node, what: &str) -> Option<String> {
        match &n.val {
            Val::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(n, what, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, n: &Node, what: &str) -> Option<bool> {
        match &n.val {
            Val::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(n, what, "true or false");
                None
            }
        }
    }

    fn int(&mut self, n: &Node, what: &str, min: i64, max: i64) -> Option<i64> {
        match &n.val {
            Val::Int(i) if (min..=max).contains(i) => Some(*i),
            Val::Int(i) => {
                self.err(
                    n,
                    format!("{what} is {i}, but must be between {min} and {max}"),
                    None,
                );
                None
            }
            _ => {
                self.wrong_type(n, what, "an integer");
                None
            }
        }
    }

    /// A list of strings; each with its node for later errors.
    fn strings<'t>(&mut self, n: &'t Node, what: &str) -> Vec<(String, &'t Node)> {
        let Some(items) = self.array(n, what) else {
            return vec![];
        };
        items
            .iter()
            .filter_map(|i| {
                self.string(i, &format!("each entry of {what}"))
                    .map(|s| (s, i))
            })
            .collect()
    }

    /// A string or a list of strings (command lines).
    fn lines(&mut self, n: &Node, what: &str) -> Vec<String> {
        match &n.val {
            Val::Str(s) => vec![s.clone()],
            Val::Array(_) => self.strings(n, what).into_iter().map(|(s, _)| s).collect(),
            _ => {
                self.wrong_type(n, what, "a string or an array of strings");
                vec![]
            }
        }
    }

    fn size(&mut self, n: &Node, what: &str) -> Option<u64> {
        match &n.val {
            Val::Int(i) if *i >= 0 => Some(*i as u64),
            Val::Str(s) => match units::parse_size(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.err(n, format!("{what}: {e}"), None);
                    None
                }
            },
            _ => {
                self.wrong_type(n, what, "a size such as \"512M\" or a byte count");
                None
            }
        }
    }

    fn duration(&mut self, n: &Node, what: &str) -> Option<Duration> {
        match &n.val {
            Val::Int(i) if *i >= 0 => {
                match units::check_duration_bound(&i.to_string(), Duration::from_secs(*i as u64)) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        self.err(n, format!("{what}: {e}"), None);
                        None
                    }
                }
            }
            Val::Str(s) => match units::parse_duration(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.err(n, format!("{what}: {e}"), None);
                    None
                }
            },
            _ => {
                self.wrong_type(n, what, "a duration such as \"30s\"");
                None
            }
        }
    }

    fn abs_path(&mut self, n: &Node, what: &str) -> Option<PathBuf> {
        let s = self.string(n, what)?;
        if !s.starts_with('/') {
            self.err(
                n,
                format!("{what} \"{s}\" is not an absolute path"),
                Some(format!(
                    "write it from the root, e.g. \"/{}\"",
                    s.trim_start_matches("./")
                )),
            );
            return None;
        }
        Some(PathBuf::from(s))
    }

    /// An absolute path inside the jail that does not climb out of it with `..`.
    fn jail_path(&mut self, n: &Node, what: &str) -> Option<PathBuf> {
        let p = self.abs_path(n, what)?;
        if p.components().any(|c| c == Component::ParentDir) {
            self.err(
                n,
                format!(
                    "{what} \"{}\" escapes the jail root with \"..\"",
                    p.display()
                ),
                Some("use a path inside the jail without \"..\"".into()),
            );
            return None;
        }
        if p.components()
            .all(|c| matches!(c, Component::RootDir | Component::CurDir))
        {
            self.err(
                n,
                format!(
                    "{what} \"{}\" is the jail root itself: it would cover the jail's whole file system",
                    p.display()
                ),
                Some("name a directory inside the jail, e.g. \"/mnt/data\"".into()),
            );
            return None;
        }
        Some(p)
    }

    /// Report every string in `t` (keys and values, nested tables and arrays included) that
    /// holds a NUL byte. `skip` names top-level keys checked elsewhere. The key path for the
    /// message is only built for an offending string.
    pub fn no_nul(&mut self, t: &Table, path: &str, skip: &[&str]) {
        for (k, e) in t {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let what = || {
                if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                }
            };
            if k.contains('\0')
                && let Err((msg, help)) =
                    rules::check_no_nul(&format!("the key \"{}\"", what().escape_debug()), k)
            {
                self.err_key(e, k, msg, Some(help));
            }
            if has_nul(&e.node) {
                self.no_nul_node(&e.node, &what());
            }
        }
    }

    fn no_nul_node(&mut self, n: &Node, what: &str) {
        match &n.val {
            Val::Str(s) => {
                if let Err((msg, help)) =
                    rules::check_no_nul(&format!("the value of {}", what.escape_debug()), s)
                {
                    self.err(n, msg, Some(help));
                }
            }
            Val::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    if has_nul(x) {
                        self.no_nul_node(x, &format!("{what}[{i}]"));
                    }
                }
            }
            Val::Table(t) => self.no_nul(t, what, &[]),
            _ => {}
        }
    }
}

/// Whether a NUL byte is anywhere in `n` (its strings, or its keys and values below it).
fn has_nul(n: &Node) -> bool {
    match &n.val {
        Val::Str(s) => s.contains('\0'),
        Val::Array(a) => a.iter().any(has_nul),
        Val::Table(t) => t.iter().any(|(k, e)| k.contains('\0') || has_nul(&e.node)),
        _ => false,
    }
}

/// `jailctl.toml`, minus `[defaults]` which is returned as a table to lay under every jail.
pub(crate) fn global(v: &mut V, file: usize, t: &Table) -> (Global, Option<Table>) {
    v.keys(t, schema::GLOBAL, "jailctl.toml");
    // [defaults] is laid under every jail and checked there, with the jail.
    v.no_nul(t, "", &["defaults"]);
    let k = schema::GLOBAL;
    let zfs_root = match get(t, k, "zfs_root") {
        Some(n) => v
            .string(n, "zfs_root")
            .and_then(|s| match rules::check_zfs_root(&s) {
                Ok(()) => Some(s),
                Err(e) => {
                    v.err(
                        n,
                        e,
                        Some("write a dataset such as \"zroot/jailctl\"".into()),
                    );
                    None
                }
            }),
        None => {
            v.errs.push(v.src.error(
                file,
                0..0,
                "jailctl.toml has no zfs_root",
                Some("add a line such as zfs_root = \"zroot/jailctl\"".into()),
            ));
            None
        }
    }
    .unwrap_or_default();
    let mount_root = get(t, k, "mount_root")
        .and_then(|n| {
            let s = v.string(n, "mount_root")?;
            match rules::check_mount_root(&s) {
                Ok(()) => Some(PathBuf::from(s)),
                Err((msg, help)) => {
                    v.err(n, msg, Some(help));
                    None
                }
            }
        })
        .unwrap_or_else(|| PathBuf::from("/usr/local/jails"));
    let default_base = get(t, k, "default_base").and_then(|n| base_name(v, n));
    let parallelism = get(t, k, "parallelism")
        .and_then(|n| v.int(n, "parallelism", 1, 1024))
        .map(|i| i as usize);
    let shutdown_timeout = get(t, k, "shutdown_timeout")
        .and_then(|n| v.duration(n, "shutdown_timeout"))
        .unwrap_or(super::DEFAULT_SHUTDOWN_TIMEOUT);
    let mut bridges = BTreeMap::new();
    if let Some(bt) = get(t, k, "bridges").and_then(|n| v.table(n, "bridges")) {
        for (name, e) in bt {
            if let Err(msg) = check_ifname(name) {
                v.err_key(e, name, msg, None);
            }
            let Some(b) = v.table(&e.node, &format!("[bridges.{name}]")) else {
                continue;
            };
            bridges.insert(name.clone(), bridge(v, name, b));
        }
    }
    let mut deadlines = crate::host::deadline::Deadlines::default();
    if let Some(dt) = get(t, k, "deadlines").and_then(|n| v.table(n, "[deadlines]")) {
        v.keys(dt, schema::DEADLINES, "[deadlines]");
        for (tool, e) in dt {
            if !schema::DEADLINES.contains(&tool.as_str()) {
                continue;
            }
            match v.duration(&e.node, &format!("deadlines.{tool}")) {
                Some(d) if d.is_zero() => v.err(
                    &e.node,
                    format!("deadlines.{tool}: a deadline of 0 would kill every {tool} command"),
                    Some(
                        "write a duration such as \"10m\", or remove the key for the default"
                            .into(),
                    ),
                ),
                Some(d) => {
                    deadlines.set.insert(tool.clone(), d);
                }
                None => {}
            }
        }
    }
    let defaults = get(t, k, "defaults").and_then(|n| {
        let d = v.table(n, "[defaults]")?;
        if let Some(e) = d.get("extends") {
            v.err_key(
                e,
                "extends",
                "extends is not allowed in [defaults]",
                Some("name the template in each jail file".into()),
            );
        }
        Some(d.clone())
    });
    let g = Global {
        zfs_root,
        mount_root,
        default_base,
        parallelism,
        shutdown_timeout,
        bridges,
        deadlines,
        dying_wait: super::dying_wait_from_env(),
    };
    (g, defaults)
}

fn bridge(v: &mut V, name: &str, t: &Table) -> BridgeSpec {
    let sect = format!("[bridges.{name}]");
    v.keys(t, schema::BRIDGE, &sect);
    let k = schema::BRIDGE;
    let create = get(t, k, "create")
        .and_then(|n| v.boolean(n, "create"))
        .unwrap_or(true);
    let uplink = get(t, k, "uplink").and_then(|n| {
        let s = v.string(n, "uplink")?;
        check_ifname(&s).map_err(|e| v.err(n, e, None)).ok()?;
        Some(s)
    });
    let ip4_pool = get(t, k, "ip4_pool").and_then(|n| {
        let s = v.string(n, "ip4_pool")?;
        s.parse::<Ipv4Net>()
            .map_err(|_| {
                v.err(
                    n,
                    format!("ip4_pool \"{s}\" is not an IPv4 network"),
                    Some("write it as address/prefix, e.g. \"10.10.0.0/24\"".into()),
                )
            })
            .ok()
    });
    let gateway4 = get(t, k, "gateway4").and_then(|n| {
        let s = v.string(n, "gateway4")?;
        let a = s
            .parse::<Ipv4Addr>()
            .map_err(|_| v.err(n, format!("gateway4 \"{s}\" is not an IPv4 address"), None))
            .ok()?;
        if let Some(p) = ip4_pool
            && !p.contains(&a)
        {
            v.err(n, format!("gateway4 {a} is outside ip4_pool {p}"), None);
        }
        Some(a)
    });
    BridgeSpec {
        name: name.to_string(),
        create,
        uplink,
        ip4_pool,
        gateway4,
    }
}

/// What cross-jail checks need to point back into the files.
pub(crate) struct JailRefs {
    pub deps: Vec<(String, Node)>,
    pub addrs: Vec<(IpAddr, Node)>,
}

/// Validate one jail's merged table.
pub(crate) fn jail(
    v: &mut V,
    name: &str,
    source: PathBuf,
    extends: Vec<String>,
    t: &Table,
    g: &Global,
) -> (JailSpec, JailRefs) {
    v.keys(t, schema::JAIL, &format!("jail \"{name}\""));
    v.no_nul(t, "", &[]);
    let k = schema::JAIL;
    // `extends` was followed (and its type checked) while the layers were merged.
    let hostname = get(t, k, "hostname")
        .and_then(|n| {
            let s = v.string(n, "hostname")?;
            units::check_hostname(&s)
                .map_err(|e| v.err(n, e, None))
                .ok()?;
            Some(s)
        })
        .unwrap_or_else(|| name.to_string());
    let autostart = get(t, k, "autostart")
        .and_then(|n| v.boolean(n, "autostart"))
        .unwrap_or(true);
    let mut refs = JailRefs {
        deps: vec![],
        addrs: vec![],
    };
    let mut depends_on = vec![];
    if let Some(n) = get(t, k, "depends_on") {
        for (d, dn) in v.strings(n, "depends_on") {
            if let Err(e) = units::check_jail_name(&d) {
                v.err(
                    dn,
                    e,
                    Some(
                        "depends_on names jails by their file name in jails/, without .toml".into(),
                    ),
                );
            } else if depends_on.contains(&d) {
                v.err(dn, format!("\"{d}\" is listed twice in depends_on"), None);
            } else {
                depends_on.push(d.clone());
                refs.deps.push((d, dn.clone()));
            }
        }
    }
    let base = match get(t, k, "base") {
        Some(n) => base_name(v, n),
        None => {
            if g.default_base.is_none() {
                v.errs.push(ConfigError::file_level(
                    &source,
                    format!("jail \"{name}\" has no base"),
                    Some("set base = \"14.3-RELEASE\" in the jail, its template or [defaults], or default_base in jailctl.toml".into()),
                ));
            }
            g.default_base.clone()
        }
    }
    .unwrap_or_default();
    let root = get(t, k, "root")
        .and_then(|n| v.table(n, "[root]"))
        .map(|rt| root_props(v, rt))
        .unwrap_or_default();
    let limits = get(t, k, "limits")
        .and_then(|n| v.table(n, "[limits]"))
        .map(|lt| limits(v, lt))
        .unwrap_or_default();
    let cpuset = get(t, k, "cpuset").and_then(|n| {
        let s = v.string(n, "cpuset")?;
        units::check_cpu_list(&s)
            .map_err(|e| {
                v.err(
                    n,
                    e,
                    Some("a cpu-list is CPU numbers and ranges, e.g. \"0-3\" or \"0,2\"".into()),
                )
            })
            .ok()?;
        Some(s)
    });
    let network = match get(t, k, "network").and_then(|n| v.table(n, "[network]").map(|t| (n, t))) {
        Some((n, nt)) => network(v, n, nt, g, &mut refs),
        None => Network::None,
    };
    let mut targets: BTreeSet<PathBuf> = BTreeSet::new();
    let mut mounts = vec![];
    if let Some(n) = get(t, k, "mounts") {
        for m in v.array(n, "mounts").unwrap_or_default() {
            let Some(mt) = v.table(m, "each entry of [[mounts]]") else {
                continue;
            };
            if let Some(ms) = mount(v, name, mt, m, g, &mut targets) {
                mounts.push(ms);
            }
        }
    }
    let mut volumes = vec![];
    if let Some(n) = get(t, k, "volumes") {
        let mut names = BTreeSet::new();
        for m in v.array(n, "volumes").unwrap_or_default() {
            let Some(vt) = v.table(m, "each entry of [[volumes]]") else {
                continue;
            };
            if let Some(vs) = volume(v, name, vt, m, g, &mut targets, &mut names) {
                volumes.push(vs);
            }
        }
    }
    let mut params = BTreeMap::new();
    if let Some(pt) = get(t, k, "params").and_then(|n| v.table(n, "[params]")) {
        jail_params(v, pt, "", true, &mut params);
    }
    if let Some(pt) = get(t, k, "params_unchecked").and_then(|n| v.table(n, "[params_unchecked]")) {
        jail_params(v, pt, "", false, &mut params);
    }
    let hooks = get(t, k, "hooks")
        .and_then(|n| v.table(n, "[hooks]"))
        .map(|ht| hooks(v, ht))
        .unwrap_or_default();
    let health = get(t, k, "health")
        .and_then(|n| v.table(n, "[health]").map(|t| (n, t)))
        .and_then(|(n, ht)| health(v, n, ht));
    let provision = get(t, k, "provision")
        .and_then(|n| v.table(n, "[provision]"))
        .map(|pt| provision(v, pt))
        .unwrap_or_default();
    // Mount points jail(8) makes inside the root: devfs always, fdescfs and procfs when asked.
    let mut root_mounts = vec![("the jail's devfs mount point", "dev")];
    for (param, what, at) in [
        ("mount.fdescfs", "the jail's fdescfs mount point", "dev/fd"),
        ("mount.procfs", "the jail's procfs mount point", "proc"),
    ] {
        if matches!(params.get(param), Some(ParamValue::Bool(true))) {
            root_mounts.push((what, at));
        }
    }
    for (what, at) in root_mounts {
        let path = format!("{}/{name}/{at}", trim_slash(&g.mount_root));
        if path.len() > MAX_MOUNT_PATH {
            v.errs.push(ConfigError::file_level(
                &source,
                too_long(what, &path),
                Some("use a shorter mount_root or jail name".into()),
            ));
        }
    }
    let spec = JailSpec {
        name: name.to_string(),
        source,
        extends,
        hostname,
        autostart,
        depends_on,
        base,
        root,
        limits,
        cpuset,
        network,
        mounts,
        volumes,
        params,
        hooks,
        health,
        provision,
    };
    (spec, refs)
}

fn trim_slash(p: &Path) -> String {
    p.display().to_string().trim_end_matches('/').to_string()
}

fn base_name(v: &mut V, n: &Node) -> Option<String> {
    let s = v.string(n, "base")?;
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        v.err(
            n,
            format!("\"{s}\" is not a valid base name: use letters, digits, '.', '_' and '-'"),
            Some("bases are named after releases, e.g. \"14.3-RELEASE\"".into()),
        );
        return None;
    }
    if let Err((msg, help)) = rules::check_not_option("base name", &s) {
        v.err(n, msg, Some(help));
        return None;
    }
    Some(s)
}

fn check_ifname(s: &str) -> Result<(), String> {
    let ok = s.len() <= 15
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{s}\" is not an interface name: letters, digits, '_' and '.', starting with a letter, at most 15 characters"
        ))
    }
}

fn root_props(v: &mut V, t: &Table) -> RootProps {
    v.keys(t, schema::ROOT, "[root]");
    let k = schema::ROOT;
    let quota = get(t, k, "quota").and_then(|n| v.size(n, "quota"));
    let reservation = get(t, k, "reservation").and_then(|n| v.size(n, "reservation"));
    if let (Some(q), Some(r), Some(n)) = (quota, reservation, get(t, k, "reservation"))
        && r > q
    {
        v.err(
            n,
            format!(
                "reservation {} is larger than quota {}",
                units::format_size(r),
                units::format_size(q)
            ),
            None,
        );
    }
    let compression = get(t, k, "compression").and_then(|n| {
        let s = v.string(n, "compression")?;
        if !schema::check_compression(&s) {
            v.err(
                n,
                format!("unknown ZFS compression \"{s}\""),
                Some(
                    "use one of on, off, lz4, zstd, zstd-N, zstd-fast-N, gzip, gzip-N, zle, lzjb"
                        .into(),
                ),
            );
            return None;
        }
        Some(s)
    });
    RootProps {
        quota,
        reservation,
        compression,
    }
}

fn limits(v: &mut V, t: &Table) -> Limits {
    v.keys(t, schema::LIMITS, "[limits]");
    let k = schema::LIMITS;
    let count = |v: &mut V, key: &str| {
        get(t, k, key)
            .and_then(|n| v.int(n, key, 1, i64::MAX))
            .map(|i| i as u64)
    };
    let size = |v: &mut V, key: &str| get(t, k, key).and_then(|n| v.size(n, key));
    let mut l = Limits {
        memory: size(v, "memory"),
        swap: size(v, "swap"),
        cpu_percent: get(t, k, "cpu_percent")
            .and_then(|n| v.int(n, "cpu_percent", 1, 102_400))
            .map(|i| i as u32),
        processes: count(v, "processes"),
        open_files: count(v, "open_files"),
        threads: count(v, "threads"),
        read_bps: size(v, "read_bps"),
        write_bps: size(v, "write_bps"),
        read_iops: count(v, "read_iops"),
        write_iops: count(v, "write_iops"),
        raw: vec![],
    };
    let friendly: Vec<(&str, &str, bool)> = vec![
        ("memory", "memoryuse", l.memory.is_some()),
        ("swap", "swapuse", l.swap.is_some()),
        ("cpu_percent", "pcpu", l.cpu_percent.is_some()),
        ("processes", "maxproc", l.processes.is_some()),
        ("open_files", "openfiles", l.open_files.is_some()),
        ("threads", "nthr", l.threads.is_some()),
        ("read_bps", "readbps", l.read_bps.is_some()),
        ("write_bps", "writebps", l.write_bps.is_some()),
        ("read_iops", "readiops", l.read_iops.is_some()),
        ("write_iops", "writeiops", l.write_iops.is_some()),
    ];
    if let Some(n) = get(t, k, "rctl") {
        for (s, rn) in v.strings(n, "rctl") {
            match parse_rctl(&s) {
                Ok(rule) => {
                    let action_friendly = rule.action == "deny" || rule.action == "throttle";
                    if let Some((fname, _, _)) = friendly
                        .iter()
                        .find(|(_, res, set)| *set && *res == rule.resource && action_friendly)
                    {
                        v.err(
                            rn,
                            format!(
                                "rctl rule \"{s}\" limits {} which `{fname}` already limits",
                                rule.resource
                            ),
                            Some(format!(
                                "keep only one of them: remove `{fname}` or this rule"
                            )),
                        );
                    } else {
                        l.raw.push(rule);
                    }
                }
                Err((msg, help)) => v.err(rn, msg, help),
            }
        }
    }
    l
}

/// `resource:action=amount[/per]`, subject implied.
pub fn parse_rctl(s: &str) -> Result<RctlRule, (String, Option<String>)> {
    let form =
        || Some("write resource:action=amount[/per], e.g. \"vmemoryuse:deny=4G\"".to_string());
    let (head, amount_per) = s
        .split_once('=')
        .ok_or_else(|| (format!("rctl rule \"{s}\" has no \"=amount\""), form()))?;
    let parts: Vec<&str> = head.split(':').collect();
    let (resource, action) = match parts.as_slice() {
        [r, a] => (*r, *a),
        [_, _, r, a] => {
            return Err((
                format!("rctl rule \"{s}\" names a subject"),
                Some(format!(
                    "leave the subject out (jailctl adds jail:<name>): \"{r}:{a}={amount_per}\""
                )),
            ));
        }
        _ => return Err((format!("rctl rule \"{s}\" is malformed"), form())),
    };
    if !schema::RCTL_RESOURCES.contains(&resource) {
        let msg = match suggest(resource, schema::RCTL_RESOURCES.iter().copied()) {
            Some(m) => format!("unknown rctl resource \"{resource}\"; did you mean \"{m}\"?"),
            None => format!("unknown rctl resource \"{resource}\""),
        };
        return Err((
            msg,
            Some(format!("resources: {}", schema::RCTL_RESOURCES.join(", "))),
        ));
    }
    let known_action = matches!(action, "deny" | "log" | "devctl" | "throttle")
        || action
            .strip_prefix("sig")
            .is_some_and(|sig| schema::SIGNALS.contains(&sig));
    if !known_action {
        return Err((
            format!("unknown rctl action \"{action}\""),
            Some("actions: deny, log, devctl, throttle, sig<name> (e.g. sigterm)".into()),
        ));
    }
    let rate = schema::RCTL_THROTTLE_ONLY.contains(&resource);
    if action == "deny" && (rate || schema::RCTL_NO_DENY.contains(&resource)) {
        let help = if rate {
            format!("use \"{resource}:throttle=...\"")
        } else {
            format!("use log, devctl or a signal, e.g. \"{resource}:sigterm=...\"")
        };
        return Err((format!("rctl cannot deny {resource}"), Some(help)));
    }
    if action == "throttle" && !rate {
        return Err((
            format!(
                "rctl can only throttle readbps, writebps, readiops and writeiops, not {resource}"
            ),
            Some("use deny, log, devctl or a signal".into()),
        ));
    }
    let (amount, per) = match amount_per.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (amount_per, None),
    };
    let amount =
        units::parse_size(amount).map_err(|e| (format!("rctl rule \"{s}\": {e}"), None))?;
    if let Some(p) = per
        && !schema::RCTL_PER.contains(&p)
    {
        return Err((
            format!("unknown rctl per \"{p}\" in \"{s}\""),
            Some("per is one of process, user, loginclass, jail".into()),
        ));
    }
    Ok(RctlRule {
        resource: resource.to_string(),
        action: action.to_string(),
        amount,
        per: per.map(str::to_string),
    })
}

fn network(v: &mut V, at: &Node, t: &Table, g: &Global, refs: &mut JailRefs) -> Network {
    v.keys(t, schema::NETWORK, "[network]");
    let k = schema::NETWORK;
    let Some(mode_node) = get(t, k, "mode") else {
        v.err(
            at,
            "[network] has no mode",
            Some("set mode = \"inherit\", \"alias\", \"vnet\" or \"none\"".into()),
        );
        return Network::None;
    };
    let Some(mode) = v.string(mode_node, "mode") else {
        return Network::None;
    };
    let allowed: &[&str] = match mode.as_str() {
        "inherit" | "none" => &["mode"],
        "alias" => &["mode", "interface", "ip4", "ip6"],
        "vnet" => &["mode", "bridge", "ip4", "ip6", "gateway4", "gateway6"],
        other => {
            let m = match suggest(other, ["inherit", "alias", "vnet", "none"]) {
                Some(s) => format!("unknown network mode \"{other}\"; did you mean \"{s}\"?"),
                None => format!("unknown network mode \"{other}\""),
            };
            v.err(
                mode_node,
                m,
                Some("use inherit, alias, vnet or none".into()),
            );
            return Network::None;
        }
    };
    for (key, e) in t {
        if k.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
            v.err_key(
                e,
                key,
                format!("{key} does not apply to mode = \"{mode}\""),
                Some(format!(
                    "with mode = \"{mode}\" [network] takes: {}",
                    allowed.join(", ")
                )),
            );
        }
    }
    let mut ip4 = vec![];
    let mut ip6 = vec![];
    if let Some(n) = get(t, k, "ip4").filter(|_| allowed.contains(&"ip4")) {
        for (s, an) in v.strings(n, "ip4") {
            if let Some(net) = parse_net::<Ipv4Net, Ipv4Addr>(v, &s, an, "IPv4", 32, Ipv4Net::new) {
                refs.addrs.push((IpAddr::V4(net.addr()), an.clone()));
                ip4.push(net);
            }
        }
    }
    if let Some(n) = get(t, k, "ip6").filter(|_| allowed.contains(&"ip6")) {
        for (s, an) in v.strings(n, "ip6") {
            if let Some(net) = parse_net::<Ipv6Net, Ipv6Addr>(v, &s, an, "IPv6", 128, Ipv6Net::new)
            {
                refs.addrs.push((IpAddr::V6(net.addr()), an.clone()));
                ip6.push(net);
            }
        }
    }
    match mode.as_str() {
        "inherit" => Network::Inherit,
        "none" => Network::None,
        "alias" => {
            let interface = match get(t, k, "interface") {
                Some(n) => v
                    .string(n, "interface")
                    .and_then(|s| check_ifname(&s).map_err(|e| v.err(n, e, None)).ok().map(|_| s)),
                None => {
                    v.err(
                        at,
                        "mode = \"alias\" needs an interface",
                        Some("add interface = \"em0\" (the host interface to alias the addresses on)".into()),
                    );
                    None
                }
            }
            .unwrap_or_default();
            // Count what was written, so an address that failed to parse is not reported twice.
            let written = |key: &str| {
                get(t, k, key).map_or(0, |n| match &n.val {
                    Val::Array(a) => a.len(),
                    _ => 1,
                })
            };
            if written("ip4") + written("ip6") == 0 {
                v.err(
                    at,
                    "mode = \"alias\" needs at least one address in ip4 or ip6",
                    Some("add ip4 = [\"192.0.2.10/24\"]".into()),
                );
            }
            Network::Alias {
                interface,
                ip4,
                ip6,
            }
        }
        _ => {
            let bridge = match get(t, k, "bridge") {
                Some(n) => v.string(n, "bridge").inspect(|b| {
                    if !g.bridges.contains_key(b) {
                        let known: Vec<&str> = g.bridges.keys().map(String::as_str).collect();
                        let msg = match suggest(b, known.iter().copied()) {
                            Some(s) => format!("unknown bridge \"{b}\"; did you mean \"{s}\"?"),
                            None => format!("unknown bridge \"{b}\""),
                        };
                        v.err(n, msg, Some(format!("define [bridges.{b}] in jailctl.toml")));
                    } else if ip4.is_empty()
                        && g.bridges[b].ip4_pool.is_none()
                    {
                        v.err(
                            n,
                            format!("bridge \"{b}\" has no ip4_pool and the jail sets no ip4"),
                            Some(format!("set ip4 in [network] or ip4_pool in [bridges.{b}]")),
                        );
                    }
                }),
                None => {
                    v.err(
                        at,
                        "mode = \"vnet\" needs a bridge",
                        Some("add bridge = \"bridge0\" and define it under [bridges] in jailctl.toml".into()),
                    );
                    None
                }
            }
            .unwrap_or_default();
            let gateway4 = get(t, k, "gateway4").and_then(|n| {
                let s = v.string(n, "gateway4")?;
                s.parse::<Ipv4Addr>()
                    .map_err(|_| v.err(n, format!("gateway4 \"{s}\" is not an IPv4 address"), None))
                    .ok()
            });
            let gateway6 = get(t, k, "gateway6").and_then(|n| {
                let s = v.string(n, "gateway6")?;
                s.parse::<Ipv6Addr>()
                    .map_err(|_| v.err(n, format!("gateway6 \"{s}\" is not an IPv6 address"), None))
                    .ok()
            });
            let gateway4 = gateway4.or_else(|| g.bridges.get(&bridge).and_then(|b| b.gateway4));
            if let Some(gw) = gateway4
                && let Some((_, n)) = refs.addrs.iter().find(|(a, _)| *a == IpAddr::V4(gw))
            {
                v.err(
                    n,
                    format!("address {gw} is the gateway of this jail's network"),
                    Some("pick another address for the jail".into()),
                );
            }
            Network::Vnet {
                bridge,
                ip4,
                ip6,
                gateway4,
                gateway6,
            }
        }
    }
}

fn parse_net<N: std::str::FromStr, A: std::str::FromStr>(
    v: &mut V,
    s: &str,
    n: &Node,
    family: &str,
    max: u8,
    new: fn(A, u8) -> Result<N, ipnet::PrefixLenError>,
) -> Option<N> {
    if s.contains('|') {
        v.err(
            n,
            format!("\"{s}\" uses jail.conf's interface|address form"),
            Some("write only the address; the interface is `interface` in [network]".into()),
        );
        return None;
    }
    let parsed = if s.contains('/') {
        s.parse::<N>().ok()
    } else {
        s.parse::<A>().ok().and_then(|a| new(a, max).ok())
    };
    if parsed.is_none() {
        v.err(
            n,
            format!("\"{s}\" is not an {family} address"),
            Some(format!(
                "write an {family} address with an optional /prefix (0-{max})"
            )),
        );
    }
    parsed
}

fn check_mnamelen(v: &mut V, n: &Node, g: &Global, name: &str, target: &Path) {
    let full = format!("{}/{name}{}", trim_slash(&g.mount_root), target.display());
    if full.len() > MAX_MOUNT_PATH {
        v.err(
            n,
            too_long("mount point", &full),
            Some("use a shorter target, jail name or mount_root".into()),
        );
    }
}

fn check_target_unique(v: &mut V, n: &Node, target: &Path, targets: &mut BTreeSet<PathBuf>) {
    if !targets.insert(target.to_path_buf()) {
        v.err(
            n,
            format!("{} is mounted twice in this jail", target.display()),
            Some("give each mount and volume its own target".into()),
        );
    }
}

fn mount(
    v: &mut V,
    name: &str,
    t: &Table,
    at: &Node,
    g: &Global,
    targets: &mut BTreeSet<PathBuf>,
) -> Option<MountSpec> {
    v.keys(t, schema::MOUNT, "[[mounts]]");
    let k = schema::MOUNT;
    let source = match get(t, k, "source") {
        Some(n) => v.abs_path(n, "mount source").inspect(|p| {
            let s = p.display().to_string();
            if !s.contains('\0')
                && let Err((msg, help)) = rules::check_mount_path("mount source", &s)
            {
                v.err(n, msg, Some(help));
            }
            // The kernel records the source in the mount table (f_mntfromname, MNAMELEN too);
            // a longer one is cut, and the mount could no longer be recognised.
            let s = p.display().to_string();
            if s.len() > MAX_MOUNT_PATH {
                v.err(
                    n,
                    too_long("mount source", &s),
                    Some(
                        "mount a shorter path (a parent directory, or a symlink-free alias)".into(),
                    ),
                );
            }
        }),
        None => {
            v.err(
                at,
                "mount has no source",
                Some("add source = \"/host/dir\"".into()),
            );
            None
        }
    };
    let target = match get(t, k, "target") {
        Some(n) => v.jail_path(n, "mount target").inspect(|p| {
            let s = p.display().to_string();
            if !s.contains('\0')
                && let Err((msg, help)) = rules::check_mount_path("mount target", &s)
            {
                v.err(n, msg, Some(help));
            }
            check_mnamelen(v, n, g, name, p);
            check_target_unique(v, n, p, targets);
        }),
        None => {
            v.err(
                at,
                "mount has no target",
                Some("add target = \"/path/in/jail\"".into()),
            );
            None
        }
    };
    let read_only = get(t, k, "read_only")
        .and_then(|n| v.boolean(n, "read_only"))
        .unwrap_or(false);
    Some(MountSpec {
        source: source?,
        target: target?,
        read_only,
    })
}

fn volume(
    v: &mut V,
    jail: &str,
    t: &Table,
    at: &Node,
    g: &Global,
    targets: &mut BTreeSet<PathBuf>,
    names: &mut BTreeSet<String>,
) -> Option<VolumeSpec> {
    v.keys(t, schema::VOLUME, "[[volumes]]");
    let k = schema::VOLUME;
    let name = match get(t, k, "name") {
        Some(n) => v.string(n, "volume name").and_then(|s| {
            if let Err(e) = units::check_plain_name(&s, "volume name") {
                v.err(n, e, None);
                None
            } else if !names.insert(s.clone()) {
                v.err(n, format!("volume \"{s}\" is defined twice"), None);
                None
            } else {
                Some(s)
            }
        }),
        None => {
            v.err(at, "volume has no name", Some("add name = \"data\"".into()));
            None
        }
    };
    let target = match get(t, k, "target") {
        Some(n) => v.jail_path(n, "volume target").inspect(|p| {
            let s = p.display().to_string();
            if !s.contains('\0')
                && let Err((msg, help)) = rules::check_mount_path("volume target", &s)
            {
                v.err(n, msg, Some(help));
            }
            check_mnamelen(v, n, g, jail, p);
            check_target_unique(v, n, p, targets);
        }),
        None => {
            v.err(
                at,
                "volume has no target",
                Some("add target = \"/var/db/data\"".into()),
            );
            None
        }
    };
    // The volume's dataset is mounted at <mount_root>/.volumes/JAIL/NAME and that path is
    // the nullfs source: both are mount table entries.
    if let (Some(vn), Some(n)) = (&name, get(t, k, "name")) {
        let src = super::layout::volume_mountpoint(g, jail, vn)
            .display()
            .to_string();
        if src.len() > MAX_MOUNT_PATH {
            v.err(
                n,
                too_long("the volume's mount point", &src),
                Some("use a shorter volume name, jail name or mount_root".into()),
            );
        }
    }
    let quota = get(t, k, "quota").and_then(|n| v.size(n, "quota"));
    let read_only = get(t, k, "read_only")
        .and_then(|n| v.boolean(n, "read_only"))
        .unwrap_or(false);
    Some(VolumeSpec {
        name: name?,
        target: target?,
        quota,
        read_only,
    })
}

fn jail_params(
    v: &mut V,
    t: &Table,
    prefix: &str,
    checked: bool,
    out: &mut BTreeMap<String, ParamValue>,
) {
    for (key, e) in t {
        let full = format!("{prefix}{key}");
        // Unquoted dotted keys (allow.mount = true) arrive as nested tables: flatten them.
        if let Val::Table(sub) = &e.node.val {
            jail_params(v, sub, &format!("{full}."), checked, out);
            continue;
        }
        if let Some((_, help)) = schema::MANAGED_PARAMS.iter().find(|(p, _)| *p == full) {
            v.err_key(
                e,
                key,
                format!("jail parameter \"{full}\" is set by jailctl"),
                Some(help.to_string()),
            );
            continue;
        }
        if schema::READONLY_PARAMS.contains(&full.as_str()) {
            v.err_key(
                e,
                key,
                format!("jail parameter \"{full}\" is read-only"),
                None,
            );
            continue;
        }
        let is_allow = full
            .strip_prefix("allow.")
            .is_some_and(|a| schema::ALLOW_PARAMS.contains(&a));
        if checked && !is_allow && !schema::JAIL_PARAMS.contains(&full.as_str()) {
            let allow: Vec<String> = schema::ALLOW_PARAMS
                .iter()
                .map(|a| format!("allow.{a}"))
                .collect();
            let cands = schema::JAIL_PARAMS
                .iter()
                .copied()
                .chain(allow.iter().map(String::as_str));
            let msg = match suggest(&full, cands) {
                Some(s) => format!("unknown jail parameter \"{full}\"; did you mean \"{s}\"?"),
                None => format!("unknown jail parameter \"{full}\""),
            };
            v.err_key(
                e,
                key,
                msg,
                Some("if your kernel has it (a module's parameter, a newer release), put it in [params_unchecked]".into()),
            );
            continue;
        }
        if !full
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
        {
            v.err_key(
                e,
                key,
                format!("\"{full}\" is not a jail parameter name"),
                None,
            );
            continue;
        }
        let n = &e.node;
        let value = match &n.val {
            Val::Bool(b) => Some(ParamValue::Bool(*b)),
            Val::Str(s) => Some(ParamValue::Str(s.clone())),
            Val::Int(i) => Some(ParamValue::Int(*i)),
            Val::Array(_) => Some(ParamValue::List(
                v.strings(n, &full).into_iter().map(|(s, _)| s).collect(),
            )),
            _ => {
                v.wrong_type(n, &full, "a boolean, integer, string or list of strings");
                None
            }
        };
        if is_allow && !matches!(value, Some(ParamValue::Bool(_)) | None) {
            v.err(n, format!("{full} must be true or false"), None);
            continue;
        }
        if let Some(val) = value {
            out.insert(full, val);
        }
    }
}

fn hooks(v: &mut V, t: &Table) -> Hooks {
    v.keys(t, schema::HOOKS, "[hooks]");
    let k = schema::HOOKS;
    let mut h = |key: &str| get(t, k, key).map(|n| v.lines(n, key)).unwrap_or_default();
    Hooks {
        prestart: h("prestart"),
        created: h("created"),
        start: h("start"),
        poststart: h("poststart"),
        prestop: h("prestop"),
        stop: h("stop"),
        poststop: h("poststop"),
    }
}

fn health(v: &mut V, at: &Node, t: &Table) -> Option<HealthCheck> {
    v.keys(t, schema::HEALTH, "[health]");
    let k = schema::HEALTH;
    let command = match get(t, k, "command") {
        Some(n) => {
            if let Val::Str(s) = &n.val {
                v.err(
                    n,
                    "health command must be an array of arguments",
                    Some(format!(
                        "write [\"/bin/sh\", \"-c\", \"{s}\"] for a shell line"
                    )),
                );
                None
            } else {
                let c: Vec<String> = v
                    .strings(n, "command")
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                if c.is_empty() {
                    v.err(n, "health command is empty", None);
                    None
                } else if let Err((msg, help)) = rules::check_not_option("health command", &c[0]) {
                    v.err(n, msg, Some(help));
                    None
                } else {
                    Some(c)
                }
            }
        }
        None => {
            v.err(
                at,
                "[health] has no command",
                Some("add command = [\"/usr/bin/true\"]".into()),
            );
            None
        }
    };
    let interval = get(t, k, "interval")
        .and_then(|n| v.duration(n, "interval"))
        .unwrap_or(Duration::from_secs(30));
    let timeout = get(t, k, "timeout")
        .and_then(|n| v.duration(n, "timeout"))
        .unwrap_or(Duration::from_secs(5));
    if timeout.is_zero()
        && let Some(n) = get(t, k, "timeout")
    {
        v.err(n, "health timeout must be longer than zero", None);
    }
    let retries = get(t, k, "retries")
        .and_then(|n| v.int(n, "retries", 0, 1000))
        .unwrap_or(3) as u32;
    Some(HealthCheck {
        command: command?,
        interval,
        timeout,
        retries,
    })
}

fn provision(v: &mut V, t: &Table) -> Provision {
    v.keys(t, schema::PROVISION, "[provision]");
    let k = schema::PROVISION;
    let mut p = Provision::default();
    if let Some(n) = get(t, k, "packages") {
        for (s, pn) in v.strings(n, "packages") {
            if s.is_empty() || s.chars().any(char::is_whitespace) {
                v.err(
                    pn,
                    format!("\"{}\" is not a package name", s.escape_debug()),
                    Some("one package per entry".into()),
                );
            } else if let Err((msg, help)) = rules::check_not_option("package name", &s) {
                v.err(pn, msg, Some(help));
            } else {
                p.packages.push(s);
            }
        }
    }
    if let Some(n) = get(t, k, "commands") {
        p.commands = v.lines(n, "commands");
    }
    if let Some(n) = get(t, k, "files") {
        for f in v.array(n, "files").unwrap_or_default() {
            let Some(ft) = v.table(f, "each entry of [[provision.files]]") else {
                continue;
            };
            if let Some(pf) = provision_file(v, f, ft) {
                p.files.push(pf);
            }
        }
    }
    p
}

fn provision_file(v: &mut V, at: &Node, t: &Table) -> Option<ProvisionFile> {
    v.keys(t, schema::PROVISION_FILE, "[[provision.files]]");
    let k = schema::PROVISION_FILE;
    let source = match get(t, k, "source") {
        Some(n) => v.string(n, "file source").map(|s| {
            let p = PathBuf::from(&s);
            if p.is_absolute() {
                p
            } else {
                let def = &v.src.files[n.file].path;
                def.parent().unwrap_or(Path::new("")).join(p)
            }
        }),
        None => {
            v.err(
                at,
                "file has no source",
                Some("add source = \"files/app.conf\"".into()),
            );
            None
        }
    };
    let target = match get(t, k, "target") {
        Some(n) => v.jail_path(n, "file target"),
        None => {
            v.err(
                at,
                "file has no target",
                Some("add target = \"/usr/local/etc/app.conf\"".into()),
            );
            None
        }
    };
    let owner = get(t, k, "owner").and_then(|n| {
        let s = v.string(n, "owner")?;
        let ok = !s.is_empty()
            && s.split(':').count() <= 2
            && s.split(':').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            });
        if !ok {
            v.err(n, format!("owner \"{s}\" is not user or user:group"), None);
            return None;
        }
        if let Err((msg, help)) = rules::check_not_option("owner", &s) {
            v.err(n, msg, Some(help));
            return None;
        }
        Some(s)
    });
    let mode = get(t, k, "mode").and_then(|n| {
        let m = match &n.val {
            Val::Int(i) => u32::try_from(*i).ok(),
            Val::Str(s) => u32::from_str_radix(s, 8).ok(),
            _ => None,
        };
        match m {
            Some(m) if m <= 0o7777 => Some(m),
            _ => {
                v.err(
                    n,
                    "mode must be an octal permission such as \"0644\" or 0o644",
                    None,
                );
                None
            }
        }
    });
    Some(ProvisionFile {
        source: source?,
        target: target?,
        owner,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_rctl;

    #[test]
    fn rctl_rules_parse_with_suffixes_signals_and_per() {
        let r = parse_rctl("vmemoryuse:sigterm=4g/process").unwrap();
        assert_eq!(
            (
                r.resource.as_str(),
                r.action.as_str(),
                r.amount,
                r.per.as_deref()
            ),
            ("vmemoryuse", "sigterm", 4 << 30, Some("process"))
        );
        let r = parse_rctl("writeiops:throttle=500").unwrap();
        assert_eq!((r.amount, r.per), (500, None));
        assert!(parse_rctl("pcpu:deny=50").is_ok());
        assert!(
            parse_rctl("maxproc:sigbogus=5")
                .unwrap_err()
                .0
                .contains("unknown rctl action")
        );
        assert!(
            parse_rctl("maxproc:deny=5/everyone")
                .unwrap_err()
                .0
                .contains("unknown rctl per")
        );
        assert!(
            parse_rctl("maxproc:deny")
                .unwrap_err()
                .0
                .contains("no \"=amount\"")
        );
        assert!(
            parse_rctl("cputime:deny=10")
                .unwrap_err()
                .0
                .contains("cannot deny cputime")
        );
    }
}
