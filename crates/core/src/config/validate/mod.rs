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

mod behaviour;
mod mounts;
mod network;
pub(crate) mod ports;
mod resources;
use behaviour::{health, hooks, jail_params, provision};
use mounts::{mount, volume};
use network::{check_ifname, network};
pub(crate) use ports::conflicts as port_conflicts;
#[cfg(test)]
use resources::parse_rctl;
use resources::{limits, root_props};

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
    let mut networks = BTreeMap::new();
    if let Some(nt) = get(t, k, "networks").and_then(|n| v.table(n, "networks")) {
        for (name, e) in nt {
            if let Err(msg) = check_ifname(name) {
                v.err_key(e, name, msg, None);
            }
            let Some(b) = v.table(&e.node, &format!("[networks.{name}]")) else {
                continue;
            };
            networks.insert(name.clone(), ports::network(v, name, b));
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
        networks,
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
    let nat = get(t, k, "nat").and_then(|n| ports::nat(v, n, &sect));
    BridgeSpec {
        name: name.to_string(),
        create,
        uplink,
        ip4_pool,
        gateway4,
        nat,
    }
}

/// What cross-jail checks need to point back into the files.
pub(crate) struct JailRefs {
    pub deps: Vec<(String, Node)>,
    pub addrs: Vec<(IpAddr, Node)>,
    /// Each forward with the `[[ports]]` entry it came from.
    pub ports: Vec<(PortForward, Node)>,
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
        ports: vec![],
    };
    let mut depends_on = vec![];
    if let Some(n) = get(t, k, "depends_on") {
        for (d, dn) in v.strings(n, "depends_on") {
            if let Err(e) = super::rules::check_jail_name(&d) {
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
    let ports = get(t, k, "ports")
        .map(|n| ports::ports(v, n, &network, g, &mut refs))
        .unwrap_or_default();
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
        ports,
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
