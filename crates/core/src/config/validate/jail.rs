//! One jail's merged table, one helper per key or section: the identity keys (hostname,
//! depends_on, base, cpuset) here, the sections in their own files (resources, network,
//! mounts and volumes, params and hooks and health and provisioning, ports), and the
//! mount points jail(8) makes inside the root checked against FreeBSD's mount path limit.

use super::behaviour::{health, hooks, jail_params, provision};
use super::mounts::{mount, volume};
use super::network::network;
use super::ports;
use super::resources::{limits, root_props};
use super::*;

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
    let hostname = hostname(v, t, name);
    let autostart = get(t, k, "autostart")
        .and_then(|n| v.boolean(n, "autostart"))
        .unwrap_or(true);
    let mut refs = JailRefs {
        deps: vec![],
        addrs: vec![],
        ports: vec![],
    };
    let depends_on = depends_on(v, t, &mut refs);
    let base = base(v, t, name, &source, g);
    let root = get(t, k, "root")
        .and_then(|n| v.table(n, "[root]"))
        .map(|rt| root_props(v, rt))
        .unwrap_or_default();
    let limits = get(t, k, "limits")
        .and_then(|n| v.table(n, "[limits]"))
        .map(|lt| limits(v, lt))
        .unwrap_or_default();
    let cpuset = get(t, k, "cpuset").and_then(|n| cpuset(v, n));
    let network = match get(t, k, "network").and_then(|n| v.table(n, "[network]").map(|t| (n, t))) {
        Some((n, nt)) => network(v, n, nt, g, &mut refs),
        None => Network::None,
    };
    let (mounts, volumes) = mounts_and_volumes(v, name, t, g);
    let params = params(v, t);
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
    root_mount_lengths(v, name, &source, &params, g);
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

/// `hostname`, the jail's name when unset.
fn hostname(v: &mut V, t: &Table, name: &str) -> String {
    get(t, schema::JAIL, "hostname")
        .and_then(|n| {
            let s = v.string(n, "hostname")?;
            units::check_hostname(&s)
                .map_err(|e| v.err(n, e, None))
                .ok()?;
            Some(s)
        })
        .unwrap_or_else(|| name.to_string())
}

/// `depends_on`: jail names, each once; each kept in `refs` for the cross-jail checks.
fn depends_on(v: &mut V, t: &Table, refs: &mut JailRefs) -> Vec<String> {
    let mut depends_on = vec![];
    if let Some(n) = get(t, schema::JAIL, "depends_on") {
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
    depends_on
}

/// `base`, or jailctl.toml's `default_base`; one of them is required.
fn base(v: &mut V, t: &Table, name: &str, source: &Path, g: &Global) -> String {
    match get(t, schema::JAIL, "base") {
        Some(n) => base_name(v, n),
        None => {
            if g.default_base.is_none() {
                v.errs.push(ConfigError::file_level(
                    source,
                    format!("jail \"{name}\" has no base"),
                    Some("set base = \"14.3-RELEASE\" in the jail, its template or [defaults], or default_base in jailctl.toml".into()),
                ));
            }
            g.default_base.clone()
        }
    }
    .unwrap_or_default()
}

/// `cpuset`: a cpuset(1) cpu-list.
fn cpuset(v: &mut V, n: &Node) -> Option<String> {
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
}

/// `[[mounts]]` and `[[volumes]]`, which may not share a target.
fn mounts_and_volumes(
    v: &mut V,
    name: &str,
    t: &Table,
    g: &Global,
) -> (Vec<MountSpec>, Vec<VolumeSpec>) {
    let k = schema::JAIL;
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
    (mounts, volumes)
}

/// `[params]` (checked against jail(8)'s parameters) and `[params_unchecked]`.
fn params(v: &mut V, t: &Table) -> BTreeMap<String, ParamValue> {
    let k = schema::JAIL;
    let mut params = BTreeMap::new();
    if let Some(pt) = get(t, k, "params").and_then(|n| v.table(n, "[params]")) {
        jail_params(v, pt, "", true, &mut params);
    }
    if let Some(pt) = get(t, k, "params_unchecked").and_then(|n| v.table(n, "[params_unchecked]")) {
        jail_params(v, pt, "", false, &mut params);
    }
    params
}

/// The mount points jail(8) makes inside the root must fit FreeBSD's mount table.
fn root_mount_lengths(
    v: &mut V,
    name: &str,
    source: &Path,
    params: &BTreeMap<String, ParamValue>,
    g: &Global,
) {
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
                source,
                too_long(what, &path),
                Some("use a shorter mount_root or jail name".into()),
            ));
        }
    }
}
