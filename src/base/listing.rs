//! `base list`: every base with its snapshots, their releases and the jails cloned from
//! each, from two `zfs get -r` (the bases' properties, every dataset's origin).

use super::*;

/// One base as `base list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BaseInfo {
    pub name: String,
    pub dataset: String,
    pub managed: bool,
    pub release: Option<String>,
    pub source: Option<String>,
    pub mountpoint: Option<String>,
    /// Oldest first.
    pub snapshots: Vec<SnapshotInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// Short name (after `@`).
    pub name: String,
    /// Seconds since the epoch.
    pub created: Option<u64>,
    /// The release this snapshot holds (`jailctl:release` set on the snapshot itself).
    pub release: Option<String>,
    /// Jails cloned from this snapshot: the jail name for `<zfs_root>/jails/<name>`, the full
    /// dataset name for any other clone.
    pub used_by: Vec<String>,
}

/// Build the list from `zfs get -H -p -r -o name,property,value` over the bases
/// (`bases_text`) and the `origin` of every dataset under the root (`origins_text`). Pure.
pub fn parse_bases(
    global: &Global,
    bases_text: &str,
    origins_text: &str,
) -> Result<Vec<BaseInfo>, BaseError> {
    let parent = bases_parent(global);
    let jails_prefix = format!("{}/jails/", global.zfs_root);
    let props = parse_get_nvp(bases_text)?;
    let origins = parse_get_nvp(origins_text)?;
    let mut users: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (ds, p) in &origins {
        if let Some(o) = p.get("origin").filter(|o| o.as_str() != "-") {
            let who = ds
                .strip_prefix(&jails_prefix)
                .filter(|n| !n.contains('/'))
                .unwrap_or(ds);
            users.entry(o.as_str()).or_default().push(who.to_string());
        }
    }
    let val =
        |m: &BTreeMap<String, String>, k: &str| m.get(k).filter(|v| v.as_str() != "-").cloned();
    let mut bases: BTreeMap<String, BaseInfo> = BTreeMap::new();
    for (ds, p) in &props {
        let Some(rest) = ds.strip_prefix(&format!("{parent}/")) else {
            continue;
        };
        if rest.contains('/') || rest.contains('@') {
            continue;
        }
        if val(p, "type").is_some_and(|t| t != "filesystem") {
            continue;
        }
        bases.insert(
            ds.clone(),
            BaseInfo {
                name: rest.to_string(),
                dataset: ds.clone(),
                managed: val(p, PROP_MANAGED).as_deref() == Some("yes"),
                release: val(p, PROP_RELEASE),
                source: val(p, PROP_SOURCE),
                mountpoint: val(p, "mountpoint"),
                snapshots: Vec::new(),
            },
        );
    }
    for (ds, p) in &props {
        let Some((fs, snap)) = ds.split_once('@') else {
            continue;
        };
        if let Some(b) = bases.get_mut(fs) {
            let mut used_by = users.get(ds.as_str()).cloned().unwrap_or_default();
            used_by.sort();
            b.snapshots.push(SnapshotInfo {
                name: snap.to_string(),
                created: val(p, "creation").and_then(|c| c.parse().ok()),
                release: val(p, PROP_RELEASE),
                used_by,
            });
        }
    }
    let mut out: Vec<BaseInfo> = bases.into_values().collect();
    for b in &mut out {
        b.snapshots
            .sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    }
    Ok(out)
}

/// `base list`: every base under `<zfs_root>/bases`, its snapshots and the jails on each.
pub fn list(host: &dyn Host, global: &Global) -> Result<Vec<BaseInfo>, BaseError> {
    let parent = bases_parent(global);
    if !dataset_exists(host, &parent)? {
        return Ok(Vec::new());
    }
    use crate::host::zfs::{Depth, Get};
    let props = [
        "type",
        "creation",
        "mountpoint",
        PROP_MANAGED,
        PROP_RELEASE,
        PROP_SOURCE,
    ];
    let bases = Get::new(props, [parent]).depth(Depth::All).without_source();
    let bases = run(host, "cannot list bases", bases.cmd())?;
    let origins = Get::new(["origin"], [global.zfs_root.as_str()])
        .depth(Depth::All)
        .without_source();
    let origins = run(host, "cannot list the clones of bases", origins.cmd())?;
    parse_bases(global, &bases.stdout, &origins.stdout)
}

/// Parse `zfs get -H -p -o name,property,value` output into name → property → value.
pub fn parse_get_nvp(text: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, BaseError> {
    let rows = crate::host::zfs::parse_rows(text, false)
        .map_err(|e| BaseError::ZfsOutput { line: e.text })?;
    let mut m: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in rows {
        m.entry(r.name.to_string())
            .or_default()
            .insert(r.property.to_string(), r.value.to_string());
    }
    Ok(m)
}
