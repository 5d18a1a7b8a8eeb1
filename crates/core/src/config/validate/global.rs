//! `jailctl.toml`, one helper per key or section: the ZFS and mount roots, the bridges and
//! networks, the tool deadlines, and `[defaults]` (returned as a table to lay under every
//! jail, which is checked there).

use super::ports;
use super::*;

/// `jailctl.toml`, minus `[defaults]` which is returned as a table to lay under every jail.
pub(crate) fn global(v: &mut V, file: usize, t: &Table) -> (Global, Option<Table>) {
    v.keys(t, schema::GLOBAL, "jailctl.toml");
    // [defaults] is laid under every jail and checked there, with the jail.
    v.no_nul(t, "", &["defaults"]);
    let k = schema::GLOBAL;
    let zfs_root = zfs_root(v, file, t);
    let mount_root = mount_root(v, t);
    let default_base = get(t, k, "default_base").and_then(|n| base_name(v, n));
    let parallelism = get(t, k, "parallelism")
        .and_then(|n| v.int(n, "parallelism", 1, 1024))
        .map(|i| i as usize);
    let shutdown_timeout = get(t, k, "shutdown_timeout")
        .and_then(|n| v.duration(n, "shutdown_timeout"))
        .unwrap_or(crate::config::DEFAULT_SHUTDOWN_TIMEOUT);
    let bridges = named_tables(v, t, "bridges", bridge);
    let networks = named_tables(v, t, "networks", ports::network);
    let deadlines = get(t, k, "deadlines")
        .and_then(|n| v.table(n, "[deadlines]"))
        .map(|dt| deadlines(v, dt))
        .unwrap_or_default();
    let defaults = get(t, k, "defaults").and_then(|n| defaults(v, n));
    let g = Global {
        zfs_root,
        mount_root,
        default_base,
        parallelism,
        shutdown_timeout,
        bridges,
        networks,
        deadlines,
        dying_wait: crate::config::dying_wait_from_env(),
    };
    (g, defaults)
}

/// `zfs_root`, required.
fn zfs_root(v: &mut V, file: usize, t: &Table) -> String {
    match get(t, schema::GLOBAL, "zfs_root") {
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
    .unwrap_or_default()
}

/// `mount_root`, `/usr/local/jails` when unset.
fn mount_root(v: &mut V, t: &Table) -> PathBuf {
    get(t, schema::GLOBAL, "mount_root")
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
        .unwrap_or_else(|| PathBuf::from("/usr/local/jails"))
}

/// `[bridges.NAME]` or `[networks.NAME]` (`key`): each NAME an interface name, each entry a
/// table read by `each`.
fn named_tables<T>(
    v: &mut V,
    t: &Table,
    key: &str,
    each: fn(&mut V, &str, &Table) -> T,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    if let Some(nt) = get(t, schema::GLOBAL, key).and_then(|n| v.table(n, key)) {
        for (name, e) in nt {
            if let Err(msg) = check_ifname(name) {
                v.err_key(e, name, msg, None);
            }
            let Some(b) = v.table(&e.node, &format!("[{key}.{name}]")) else {
                continue;
            };
            out.insert(name.clone(), each(v, name, b));
        }
    }
    out
}

/// `[deadlines]`: a duration per tool, never 0.
fn deadlines(v: &mut V, dt: &Table) -> crate::host::deadline::Deadlines {
    let mut deadlines = crate::host::deadline::Deadlines::default();
    v.keys(dt, schema::DEADLINES, "[deadlines]");
    for (tool, e) in dt {
        if !schema::DEADLINES.contains(&tool.as_str()) {
            continue;
        }
        match v.duration(&e.node, &format!("deadlines.{tool}")) {
            Some(d) if d.is_zero() => v.err(
                &e.node,
                format!("deadlines.{tool}: a deadline of 0 would kill every {tool} command"),
                Some("write a duration such as \"10m\", or remove the key for the default".into()),
            ),
            Some(d) => {
                deadlines.set.insert(tool.clone(), d);
            }
            None => {}
        }
    }
    deadlines
}

/// `[defaults]`, which may not extend a template.
fn defaults(v: &mut V, n: &Node) -> Option<Table> {
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
}

/// `[bridges.NAME]`.
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
    let ip4_pool = ip4_pool(v, t, k);
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
